#!/bin/sh
# tests/integration/bench_cli.sh -- `gemma-run bench` as scripts use it:
# --json prints one JSON object as the last line with the keys outside
# checks read (medians, min, max, the CPU path and model), --reps is -r,
# GEMMA_CPU picks each path this CPU has and refuses an unknown one.
# Checks keys and that the rates are positive numbers; never timings.

. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed (scripts/install-deps.sh)"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench_cli.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

"$GEMMA_RUN" bench --help >"$work/help" 2>&1
rc=$?
grep -q -- "--json" "$work/help" && grep -q -- "--reps" "$work/help" && grep -q GEMMA_CPU "$work/help"
ok $(( rc != 0 || $? != 0 )) "bench --help exits 0 and lists --json, --reps and GEMMA_CPU"

# A model file name with a quote and a backslash: the JSON must escape them.
model="$work/tiny \"q4\\0\".gguf"
check "synthesize a tiny q4_0 model" "$GEMMA_RUN" synth --preset tiny --type q4_0 -o "$model"

# check_json DESC FILE PATH_PREFIX -- the last line of FILE is the object.
check_json() {
    tail -n 1 "$2" | MODEL="$model" WANT_PATH="$3" python3 -c '
import json, os, sys
o = json.loads(sys.stdin.read())
keys = ["model", "threads", "n_prompt", "n_gen", "reps", "cpu_path", "cpu_model"]
for k in ("prefill_tok_s", "decode_tok_s", "peak_rss_mb"):
    keys += [k, k + "_min", k + "_max"]
missing = [k for k in keys if k not in o]
assert not missing, "missing keys %s" % missing
assert o["model"] == os.environ["MODEL"], o["model"]
assert (o["threads"], o["n_prompt"], o["n_gen"], o["reps"]) == (2, 8, 4, 3), o
for k in ("prefill_tok_s", "decode_tok_s", "peak_rss_mb"):
    lo, med, hi = o[k + "_min"], o[k], o[k + "_max"]
    for v in (lo, med, hi):
        assert isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, (k, v)
    assert lo <= med <= hi, (k, lo, med, hi)
assert o["cpu_path"].startswith(os.environ["WANT_PATH"]), o["cpu_path"]
assert isinstance(o["cpu_model"], str) and o["cpu_model"], o["cpu_model"]
' >"$work/py.out" 2>&1
    rc=$?
    ok "$rc" "$1"
    [ "$rc" -eq 0 ] || { sed 's/^/# /' "$work/py.out"; sed 's/^/# out: /' "$2"; }
}

"$GEMMA_RUN" bench -m "$model" -p 8 -n 4 -t 2 --reps 3 --json >"$work/out" 2>"$work/err"
ok $? "bench --json runs"
check_json "the last line is the JSON object with every key, positive rates" "$work/out" ""
grep -Eq '^pp8: [0-9.]+ tokens/s$' "$work/out" && grep -Eq '^tg4: [0-9.]+ tokens/s$' "$work/out"
ok $? "the text lines (pp8, tg4) are still printed before it"

"$GEMMA_RUN" bench -m "$model" -p 8 -n 4 -t 2 -r 3 --json >"$work/out" 2>"$work/err"
check_json "-r is the same as --reps" "$work/out" ""

# Every CPU path: forced with GEMMA_CPU, reported in cpu_path; a path this
# CPU lacks is refused with a clear message.
for path in scalar avx2 avx512; do
    GEMMA_CPU=$path "$GEMMA_RUN" bench -m "$model" -p 8 -n 4 -t 2 --reps 3 --json \
        >"$work/out" 2>"$work/err"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        check_json "GEMMA_CPU=$path runs the $path path" "$work/out" "$path"
    elif grep -q "GEMMA_CPU=$path: this CPU does not support it" "$work/err"; then
        ok 0 "GEMMA_CPU=$path is refused on this CPU with a clear message"
    else
        ok 1 "GEMMA_CPU=$path (exit $rc)"
        sed 's/^/# /' "$work/err"
    fi
done

GEMMA_CPU=sse9 "$GEMMA_RUN" bench -m "$model" -p 8 -n 4 >"$work/out" 2>"$work/err"
rc=$?
grep -q "GEMMA_CPU='sse9' is not a CPU path: use avx512, avx2 or scalar" "$work/err"
ok $(( rc == 0 || $? != 0 )) "an unknown GEMMA_CPU is refused with a clear message"

"$GEMMA_RUN" bench -m "$model" --reps 0 >"$work/out" 2>"$work/err"
ok $(( $? != 2 )) "--reps 0 is a usage error"

tap_done
