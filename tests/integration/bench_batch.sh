#!/bin/sh
# tests/integration/bench_batch.sh -- `gemma-run bench --batch N`: N_GEN
# decode steps of N sequences x 1 token, reported as the aggregate rate
# under the JSON key decode_batch_tok_s (with _min and _max) beside every
# key bench prints without it; a batch below 2 or above 256 is a usage
# error. Checks keys and that the rates are positive numbers; never timings.

. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null 2>&1 || tap_skip_all "python3 is not installed (scripts/install-deps.sh)"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench_batch.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
TAP_TMP=$work

model="$work/tiny.gguf"
check "synthesize a tiny q4_0 model" "$GEMMA_RUN" synth --preset tiny --type q4_0 -o "$model"

"$GEMMA_RUN" bench --help >"$work/help" 2>&1
grep -q -- "--batch N" "$work/help" && grep -q decode_batch_tok_s "$work/help"
ok $? "bench --help lists --batch and decode_batch_tok_s"

"$GEMMA_RUN" bench -m "$model" -p 8 -n 4 -t 2 -r 3 --batch 4 --json >"$work/out" 2>"$work/err"
ok $? "bench --batch 4 --json runs"
[ -s "$work/err" ] && sed 's/^/# err: /' "$work/err"
tail -n 1 "$work/out" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
keys = ["model", "threads", "n_prompt", "n_gen", "reps", "cpu_path", "cpu_model", "batch"]
for k in ("prefill_tok_s", "decode_tok_s", "peak_rss_mb", "decode_batch_tok_s"):
    keys += [k, k + "_min", k + "_max"]
missing = [k for k in keys if k not in o]
assert not missing, "missing keys %s" % missing
assert (o["threads"], o["n_prompt"], o["n_gen"], o["reps"], o["batch"]) == (2, 8, 4, 3, 4), o
for k in ("decode_tok_s", "decode_batch_tok_s"):
    lo, med, hi = o[k + "_min"], o[k], o[k + "_max"]
    for v in (lo, med, hi):
        assert isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, (k, v)
    assert lo <= med <= hi, (k, lo, med, hi)
' >"$work/py.out" 2>&1
rc=$?
ok "$rc" "the JSON object has batch, decode_batch_tok_s (+ _min, _max) and every other key"
[ "$rc" -eq 0 ] || { sed 's/^/# /' "$work/py.out"; sed 's/^/# out: /' "$work/out"; }

grep -Eq '^tg4 x 4 sequences: [0-9.]+ tokens/s \(aggregate\)$' "$work/out" && \
    grep -Eq '^tg4: [0-9.]+ tokens/s$' "$work/out"
ok $? "the text lines give the single-stream and the aggregate batched rate"

"$GEMMA_RUN" bench -m "$model" -p 8 -n 4 -t 2 --json >"$work/out" 2>"$work/err"
tail -n 1 "$work/out" | grep -q decode_batch_tok_s
ok $(( $? == 0 )) "without --batch there is no decode_batch_tok_s"

"$GEMMA_RUN" bench -m "$model" -p 0 -n 3 -t 1 --batch 3 --json >"$work/out" 2>"$work/err"
rc=$?
tail -n 1 "$work/out" | grep -q '"batch": 3'
ok $(( rc != 0 || $? != 0 )) "--batch with -p 0 (every sequence starts empty) runs and reports batch 3"

for bad in 0 1 257 x; do
    "$GEMMA_RUN" bench -m "$model" -p 8 -n 4 --batch "$bad" >"$work/out" 2>"$work/err"
    rc=$?
    grep -q "bad value '$bad' for --batch" "$work/err"
    ok $(( rc != 2 || $? != 0 )) "--batch $bad is a usage error"
done

tap_done
