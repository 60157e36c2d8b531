# tests/integration/parity_lib.sh -- shared by parity_f32.sh and
# parity_quant.sh: build our reference harness (tests/ref/ref_logits.c)
# against llama.cpp v0.5.0 in $GEMMA_REF_DIR, and compare `gemma-run logits`
# with it on synthetic models from `gemma-run synth`.
#
# Sourced after tests/lib/tap.sh. Skips the whole script, visibly, when
# the reference is not there.

ref=${GEMMA_REF_DIR:-}
if [ -z "$ref" ] || [ ! -f "$ref/bins/libllama.v0.5.0.so" ] || [ ! -f "$ref/llsrc/include/llama.h" ]; then
    tap_skip_all "reference implementation not found (GEMMA_REF_DIR='$ref'; run scripts/fetch-reference.sh)"
fi
CMP="$top_builddir/tests/tools/cmp_logits"
[ -x "$CMP" ] || tap_skip_all "tests/tools/cmp_logits is not built"
[ -x "$GEMMA_RUN" ] || tap_skip_all "gemma-run is not built"

work=$(mktemp -d "${TMPDIR:-/tmp}/parity.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work
REF_LOGITS="$work/ref_logits"

# The harness is ours; it links the prebuilt libraries (never sanitized:
# they are not our code).
if ! ${REF_CC:-cc} -O1 -std=c11 -o "$REF_LOGITS" "$top_srcdir/tests/ref/ref_logits.c" \
        -I"$ref/llsrc/include" -I"$ref/llsrc/ggml/include" -L"$ref/bins" \
        -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so \
        -Wl,-rpath,"$ref/bins" >"$work/cc.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - compile tests/ref/ref_logits.c against $ref"
    sed 's/^/# /' "$work/cc.log" | head -20
    exit 1
fi

# ids N SEED [VOCAB] -- N pseudo-random token ids, comma-separated.
ids() {
    awk -v n="$1" -v seed="$2" -v v="${3:-1024}" \
        'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%s%d", (i ? "," : ""), int(rand() * v) }'
}

# parity DESC IDS N_GEN CMP_OPTS -- SYNTH_ARGS...
# Writes the model; the reference evaluates IDS as one batch and then
# generates N_GEN tokens greedily, one at a time; we evaluate all the ids
# it fed (prompt and continuation) as one batch. Compares every row and
# reports one TAP line with the error distribution.
parity() {
    desc=$1 tok=$2 n_gen=$3 opts=$4
    shift 5
    model="$work/m.gguf"
    if ! "$GEMMA_RUN" synth "$@" -o "$model" >"$work/synth.log" 2>&1; then
        ok 1 "$desc: gemma-run synth $*"; sed 's/^/# /' "$work/synth.log"; return
    fi
    if ! "$REF_LOGITS" "$ref/bins" "$model" "$tok" "$work/ref.f32" "$n_gen" >"$work/ref.ids" 2>"$work/ref.log"; then
        ok 1 "$desc: reference run"; sed 's/^/# /' "$work/ref.log" | head -20; return
    fi
    all=$(cat "$work/ref.ids")
    if ! "$GEMMA_RUN" logits -m "$model" --tokens "$all" -o "$work/ours.f32" -t 2 >"$work/ours.log" 2>&1; then
        ok 1 "$desc: gemma-run logits"; sed 's/^/# /' "$work/ours.log" | head -20; return
    fi
    # After an MoE routing near-tie in the reference (tests/ref/ref_logits.c)
    # the rows from there on are held to 1e-1 instead of a --max-err bound.
    tie=$(awk '/^first_tie_row/ { print $2 }' "$work/ref.f32.ties" 2>/dev/null)
    loose= note=
    if [ -n "$tie" ] && [ "$tie" -ge 0 ]; then
        note="; routing near-tie at row $tie"
        case $opts in
        *--max-err*)
            loose="--loose-from $tie --loose-err 1e-1"
            note="$note: later rows within 1e-1" ;;
        esac
    fi
    # shellcheck disable=SC2086
    res=$("$CMP" "$work/ref.f32" "$work/ours.f32" 1024 $opts $loose 2>&1)
    ok $? "$desc: $res$note"
}
