#!/bin/sh
# tests/integration/generate_cli.sh -- `gemma-run generate` end to end on a
# synthetic model (gemma-run synth --preset tiny): greedy output is
# deterministic, --seed repeats sampled text, -n bounds the tokens, --chat
# renders the prompt as a chat turn, --stop cuts the text before the stop
# string, and a bad model path fails with a clear message.
. "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/tap.sh"

[ -x "$GEMMA_RUN" ] || { echo "1..1"; echo "not ok 1 - $GEMMA_RUN is not built"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gencli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
TAP_TMP=$tmp # used by check() in tap.sh
model=$tmp/tiny.gguf

check "gemma-run synth writes a tiny model" "$GEMMA_RUN" synth --preset tiny -o "$model"

# gen NAME ARGS... -- run generate; stdout to $tmp/NAME.out, stderr to .err
gen() {
    name=$1
    shift
    "$GEMMA_RUN" generate -m "$model" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
}
# the "generated N tokens" figure from the statistics line
n_generated() { sed -n 's/.*generated \([0-9]*\) tokens.*/\1/p' "$tmp/$1.err"; }
n_prompt() { sed -n 's/.*prompt \([0-9]*\) tokens.*/\1/p' "$tmp/$1.err"; }

gen greedy1 -p "Hello world" -n 16 --temp 0
rc1=$?
gen greedy2 -p "Hello world" -n 16 --temp 0 --seed 99
rc2=$?
ok "$rc1" "greedy generate runs"
[ "$rc2" -eq 0 ] && [ -s "$tmp/greedy1.out" ] && cmp -s "$tmp/greedy1.out" "$tmp/greedy2.out"
ok $? "greedy generate gives the same non-empty text twice (any seed)"
[ "$(n_generated greedy1)" = 16 ]
ok $? "-n 16 generates 16 tokens (got $(n_generated greedy1))"

gen short -p "Hello world" -n 3 --temp 0
[ "$(n_generated short)" = 3 ]
ok $? "-n 3 generates 3 tokens (got $(n_generated short))"
short=$(cat "$tmp/short.out")
long=$(cat "$tmp/greedy1.out")
case $long in "$short"*) r=0 ;; *) r=1 ;; esac
[ -n "$short" ] && [ "$short" != "$long" ]
ok $((r + $?)) "greedy -n 3 text is a proper prefix of the -n 16 text"
grep -q 'finish: length' "$tmp/short.err"
ok $? "-n reached reports finish: length"

hot="--temp 3 --top-k 0 --top-p 1 --min-p 0 -n 12"
# shellcheck disable=SC2086
gen seed_a -p "Hello world" $hot --seed 7 && gen seed_b -p "Hello world" $hot --seed 7
r=$?
cmp -s "$tmp/seed_a.out" "$tmp/seed_b.out"
ok $((r + $?)) "--seed 7 gives the same sampled text twice"
# shellcheck disable=SC2086
gen seed_c -p "Hello world" $hot --seed 8 && gen seed_d -p "Hello world" $hot --seed 9
if cmp -s "$tmp/seed_a.out" "$tmp/seed_c.out" && cmp -s "$tmp/seed_a.out" "$tmp/seed_d.out"; then
    ok 1 "other seeds give other text"
else
    ok 0 "other seeds give other text"
fi

gen chat -p "  Why is the sky blue?  " --chat -n 4 --temp 0
ok $? "--chat generates"
rendered=$(printf '<bos><|turn>user\nWhy is the sky blue?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>')
want=$("$GEMMA_RUN" tokenize -m "$model" --no-bos -p "$rendered" | wc -w)
[ "$(n_prompt chat)" = "$want" ] && [ "$want" -gt 5 ]
ok $? "--chat prompt is the rendered user turn ($(n_prompt chat) tokens, want $want)"

# a stop string taken from sampled text (two letters, the third such pair):
# the output ends right before its first occurrence, wherever the token
# boundaries fall
sampled=$(cat "$tmp/seed_a.out")
stop=$(printf '%s' "$sampled" | LC_ALL=C grep -o '[A-Za-z][A-Za-z]' | sed -n 3p)
# shellcheck disable=SC2086
gen stop -p "Hello world" $hot --seed 7 --stop "$stop"
r=$?
want_text=${sampled%%"$stop"*}
[ "$r" -eq 0 ] && [ -n "$stop" ] && [ "$(cat "$tmp/stop.out")" = "$want_text" ] &&
    [ "$want_text" != "$sampled" ] && grep -q 'finish: stop' "$tmp/stop.err"
ok $? "--stop '$stop' ends the text before the stop string"

gen badpath -p "x" -m "$tmp/no-such-model.gguf"
rc=$?
[ "$rc" -eq 1 ] && grep -q "no-such-model.gguf" "$tmp/badpath.err" && [ ! -s "$tmp/badpath.out" ]
ok $? "a bad model path fails with exit status 1 and names the file"
sed 's/^/# /' "$tmp/badpath.err"
"$GEMMA_RUN" generate -p x >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a missing -m is a usage error (exit status 2)"
tap_done
