#!/bin/sh
# tests/integration/grammar_real_vocab.sh -- the token masks on the real
# 262144-token Gemma 4 vocabulary ($GEMMA_REF_DIR's ggml-vocab-gemma-4.gguf):
# random generations through the mask (tests/tools/grammar_bench, each
# token drawn among those allowed) for every schema in tests/data/json_schema
# finish as JSON that validates against its schema (python3-jsonschema with
# strict format checks), and the mask never allows a token the matcher then
# refuses (grammar_bench fails if it does).
. "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

vocab="${GEMMA_REF_DIR:-$HOME/.cache/gemmad/reference}/llsrc/models/ggml-vocab-gemma-4.gguf"
[ -f "$vocab" ] || tap_skip_all "no reference vocabulary (scripts/fetch-reference.sh)"
python3 -c 'import jsonschema' 2>/dev/null || tap_skip_all "python3-jsonschema is not installed"
BENCH="$top_builddir/tests/tools/grammar_bench"
[ -x "$BENCH" ] || { echo "1..1"; echo "not ok 1 - $BENCH is not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grammarvocab.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

walks=6
grep -q '^#define GM_SANITIZERS 1' "$top_builddir/config.h" 2>/dev/null && walks=2
"$BENCH" "$vocab" -w "$walks" -n 300 -o "$tmp/out.tsv" "$top_srcdir"/tests/data/json_schema/*.json \
    > "$tmp/bench.txt" 2>&1
ok $? "random generations through the mask on the real vocabulary ($walks per schema)"
sed 's/^/# /' "$tmp/bench.txt"

r=$(python3 - "$top_srcdir/tests/integration" "$tmp/out.tsv" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from json_schema_check import validate
n, bad, per = 0, [], {}
for line in open(sys.argv[2], encoding="utf-8"):
    path, text = line.rstrip("\n").split("\t", 1)
    per[path] = per.get(path, 0) + 1
    n += 1
    try:
        value = json.loads(text)
    except ValueError as e:
        bad.append("%s: not JSON (%s): %r" % (path, e, text[:200]))
        continue
    err = validate(json.load(open(path)), value)
    if err:
        bad.append("%s: %s: %r" % (path, err, text[:200]))
print("%d outputs from %d schemas%s" % (n, len(per), "".join("; " + b for b in bad[:3])))
sys.exit(1 if bad or len(per) < 6 else 0)
PY
)
ok $? "every finished output validates against its schema ($r)"
tap_done
