#!/bin/sh
# tests/integration/tool_template_ref.sh -- gemmad's rendering of a chat
# with tools (engine/grammar/tool_format.c, printed by tests/tools/
# tool_render) is byte for byte what Gemma 4's own chat template gives when
# jinja2 renders it (llama.cpp's copy of the template in $GEMMA_REF_DIR),
# for each conversation in tests/data/tools.
. "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

tmpl="${GEMMA_REF_DIR:-$HOME/.cache/gemmad/reference}/llsrc/models/templates/google-gemma-4-31B-it.jinja"
[ -f "$tmpl" ] || tap_skip_all "no reference chat template (scripts/fetch-reference.sh)"
python3 -c 'import jinja2' 2>/dev/null || tap_skip_all "python3-jinja2 is not installed"
RENDER="$top_builddir/tests/tools/tool_render"
[ -x "$RENDER" ] || { echo "1..1"; echo "not ok 1 - $RENDER is not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tooltmpl.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

for f in "$top_srcdir"/tests/data/tools/*.json; do
    name=$(basename "$f" .json)
    "$RENDER" "$f" > "$tmp/$name.ours" 2> "$tmp/$name.err"
    python3 - "$tmpl" "$f" > "$tmp/$name.ref" <<'PY'
import json, sys, jinja2
tmpl, conv = sys.argv[1], json.load(open(sys.argv[2]))
env = jinja2.Environment(loader=jinja2.FileSystemLoader("/"), trim_blocks=False)
t = env.from_string(open(tmpl).read())
for m in conv["messages"]:  # the template reads arguments as a mapping, as llama.cpp passes them
    for c in m.get("tool_calls") or []:
        c["function"]["arguments"] = json.loads(c["function"]["arguments"])
sys.stdout.write(t.render(messages=conv["messages"], tools=conv.get("tools"), bos_token="<bos>",
                          add_generation_prompt=True))
PY
    if cmp -s "$tmp/$name.ours" "$tmp/$name.ref"; then
        ok 0 "$name: the rendering equals the chat template's"
    else
        ok 1 "$name: the rendering equals the chat template's"
        echo "# ours: $(head -c 1500 "$tmp/$name.ours" "$tmp/$name.err")"
        echo "# ref:  $(head -c 1500 "$tmp/$name.ref")"
    fi
done
tap_done
