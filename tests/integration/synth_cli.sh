#!/bin/sh
# tests/integration/synth_cli.sh -- the `gemma-run synth` command line:
# help, usage errors (exit 2 with a clear message), seeded determinism of
# the written file, and the shrinking rules as the user sees them.

. "$top_srcdir/tests/lib/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/synth_cli.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

# expect_usage DESCRIPTION MESSAGE-REGEX ARGS... -- exit 2 and the message on stderr.
expect_usage() {
    desc=$1 pattern=$2
    shift 2
    "$GEMMA_RUN" synth "$@" >"$work/out" 2>"$work/err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -Eq -- "$pattern" "$work/err" && [ ! -e "$work/bad.gguf" ]; then
        ok 0 "$desc"
    else
        ok 1 "$desc (exit $rc)"
        sed 's/^/# /' "$work/err"
    fi
}

"$GEMMA_RUN" synth --help >"$work/help" 2>&1
rc=$?
grep -q -- "--preset" "$work/help" && grep -q -- "--separate-gate-up" "$work/help"
ok $(( rc != 0 || $? != 0 )) "synth --help exits 0 and lists the options"

expect_usage "no preset" "--preset is required" -o "$work/bad.gguf"
expect_usage "no output" "-o FILE is required" --preset tiny
expect_usage "unknown preset" "unknown preset 'huge'.*tiny-moe" --preset huge -o "$work/bad.gguf"
expect_usage "unknown type" "unknown --type 'q5_1'" --preset tiny --type q5_1 -o "$work/bad.gguf"
expect_usage "unknown option" "unknown option '--fast'" --preset tiny --fast -o "$work/bad.gguf"
expect_usage "option without value" "--layers needs a value" --preset tiny -o "$work/bad.gguf" --layers
expect_usage "non-numeric layers" "--layers needs a non-negative integer" --preset tiny --layers x -o "$work/bad.gguf"
expect_usage "vocabulary too small for the special ids" "at least 494" --preset tiny --vocab 300 -o "$work/bad.gguf"
expect_usage "one layer cannot have a sliding layer" "out of range 2" --preset tiny --layers 1 -o "$work/bad.gguf"
expect_usage "e2b shrunk below its shared-KV pattern" "at least 6 layers" --preset e2b --layers 4 -o "$work/bad.gguf"
expect_usage "shared-KV count that breaks the mapping" "layer 3 must be full attention" --preset tiny --shared-kv 2 -o "$work/bad.gguf"
expect_usage "separate gate/up on a dense preset" "needs a MoE preset" --preset tiny --separate-gate-up -o "$work/bad.gguf"
expect_usage "zero window" "--swa must be at least 1" --preset tiny --swa 0 -o "$work/bad.gguf"

check "tiny q8_0 seed 5" "$GEMMA_RUN" synth --preset tiny --type q8_0 --seed 5 -o "$work/a.gguf"
check "tiny q8_0 seed 5 again, one thread" "$GEMMA_RUN" synth --preset tiny --type q8_0 --seed 5 --threads 1 -o "$work/b.gguf"
check "tiny q8_0 seed 6" "$GEMMA_RUN" synth --preset tiny --type q8_0 --seed 6 -o "$work/c.gguf"
check "same seed gives the same bytes" cmp -s "$work/a.gguf" "$work/b.gguf"
cmp -s "$work/a.gguf" "$work/c.gguf"
ok $(( $? == 0 )) "another seed gives other weights"
size_a=$(wc -c <"$work/a.gguf")
size_c=$(wc -c <"$work/c.gguf")
ok $(( size_a != size_c )) "another seed keeps the structure (same size)"

"$GEMMA_RUN" synth --preset e2b --layers 7 --vocab 512 --type q4_0 -o "$work/e2b.gguf" >"$work/out" 2>&1
rc=$?
grep -q "7 layers SSSSFSF, 2 KV-shared, vocab 512, embd 1536" "$work/out"
ok $(( rc != 0 || $? != 0 )) "e2b shrunk to 7 layers keeps sliding/full and shared-KV layers"
sed 's/^/# /' "$work/out"

tap_done
