#!/bin/sh
# daemon/bench_batch.sh -- gemmad at volume: continuous batching, prompt
# chunking and the prefix cache, measured through the HTTP API on a
# synthetic E2B-shape model. Not a test; run by hand:
#
#   daemon/bench_batch.sh BUILD_DIR [options]
#
#   --type T       weight type of the synthetic model (default q4_k: the
#                  Q4_K_M files' main type; synth writes no mixed q4_k/q6_k)
#   --vocab V      vocabulary (default 65536, as bench/engine_vs_ref.sh)
#   --layers L     layers (default: the preset's 35)
#   --threads N    engine threads (default 2)
#   --tokens N     tokens per stream (default 128)
#   --streams S    concurrent streams (default 8)
#   --prompt N     tokens of the TTFT prompt (default 256)
#   --prefix N     tokens of the repeated prefix (default 1000)
#   --requests N   requests for the RSS check (default 1000)
#   --model FILE   use this GGUF instead of writing one
#
# Prints one table: aggregate decode tokens/s for 1 and S concurrent
# streams; p95 time to first token (a request with max_tokens 1) of a
# prompt idle and while S streams run; time to first token of a repeated
# long prefix, cold and from the prefix cache; gemmad's RSS over many
# requests. Prompts are built from words (the words per token measured
# first); the token counts gemmad reported are printed.
set -eu
build=$(cd "${1:?usage: daemon/bench_batch.sh BUILD_DIR [options]}" && pwd)
shift
type=q4_k vocab=65536 layers="" threads=2 tokens=128 streams=8 prompt_words=256
prefix_words=1000 requests=1000 model=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "bench_batch.sh: $1 needs a value" >&2; exit 2; }
    case $1 in
        --type) type=$2 ;; --vocab) vocab=$2 ;; --layers) layers=$2 ;;
        --threads) threads=$2 ;; --tokens) tokens=$2 ;; --streams) streams=$2 ;;
        --prompt) prompt_words=$2 ;; --prefix) prefix_words=$2 ;;
        --requests) requests=$2 ;; --model) model=$2 ;;
        *) echo "bench_batch.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/pki.sh"
. "$top/daemon/bench_lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/gemmad-bench-batch.XXXXXX")
G=""
trap '[ -n "$G" ] && kill "$G" 2>/dev/null; rm -rf "$T"' EXIT INT TERM
pki_make "$T/pki" >/dev/null
P="$T/pki"
if [ -z "$model" ]; then
    model="$T/e2b.gguf"
    # shellcheck disable=SC2086
    "$build/gemma-run" synth --preset e2b --type "$type" --vocab "$vocab" \
        ${layers:+--layers $layers} -o "$model" >/dev/null
fi
bench_tls_yaml > "$T/g.yaml"
cat >> "$T/g.yaml" <<Y
limits:
  queue_depth: 64
  request_timeout_ms: 3600000
engine:
  threads: $threads
models:
  - name: m
    path: $model
    context: 4096
    max_tokens: 4096
    max_batch_sequences: $((streams + 8))
    max_batch_tokens: 512
    kv_budget_mb: 4096
    prefix_cache_mb: 1024
Y
bench_start 120
URL="https://localhost:$port/v1/completions"

# words N SEED -- N words, different for each seed from the first one on
words() {
    awk -v n="$1" -v s="$2" 'BEGIN { srand(s); split("alpha river stone cloud seven paper " \
        "green north table light quiet metal orange window silver garden", w, " ");
        printf "w%d", s; for (i = 1; i < n; i++) printf " %s", w[int(rand() * 16) + 1] }'
}
# ask PROMPT MAX_TOKENS OUT -- a completion; OUT gets "seconds body"
ask() {
    printf '{"model":"m","prompt":"%s","max_tokens":%s,"temperature":0}' "$1" "$2" > "$3.json"
    curl -sS --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
        -w ' %{time_total}\n' -d @"$3.json" "$URL" > "$3.raw"
    sed -n 's/.* \([0-9.]*\)$/\1/p' "$3.raw" | tail -1 > "$3"
}
tok() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1.raw" | head -1; }
now() { date +%s.%N; }
rss() { awk '/^VmRSS/ {print $2 / 1024}' "/proc/$G/status"; }
p95() { sort -n | awk '{v[NR] = $1} END {i = int(NR * 0.95 + 0.999); if (i < 1) i = 1; print v[i]}'; }

# decode: S streams of `tokens` each, started together
decode() {
    s=$1; t0=$(now); pids=""
    i=0; while [ $i -lt "$s" ]; do
        ask "$(words 8 $((100 + i)))" "$tokens" "$T/d$i" & pids="$pids $!"; i=$((i + 1)); done
    # shellcheck disable=SC2086
    wait $pids
    t1=$(now); sum=0
    i=0; while [ $i -lt "$s" ]; do sum=$((sum + $(tok "$T/d$i" completion_tokens))); i=$((i + 1)); done
    awk -v a="$t0" -v b="$t1" -v n="$sum" 'BEGIN { printf "%.1f", n / (b - a) }'
}
ask "$(words 8 1)" 4 "$T/warm"
# words per token of this tokenizer, to size the prompts in tokens
ask "$(words 400 2)" 1 "$T/calib"
per100=$(tok "$T/calib" prompt_tokens)
prompt_words=$((prompt_words * 400 / per100))
prefix_words=$((prefix_words * 400 / per100))
one=$(decode 1)
many=$(decode "$streams")

# TTFT of a prompt: idle, then while S streams run
ttft() { # LABEL-PREFIX -- 5 prompts of prompt_words, distinct from the first token
    i=0; : > "$T/$1.all"
    while [ $i -lt 5 ]; do
        ask "$(words "$prompt_words" $((300 + i + $2)))" 1 "$T/$1$i"
        cat "$T/$1$i" >> "$T/$1.all"; i=$((i + 1)); done
    p95 < "$T/$1.all"
}
idle=$(ttft idle 0)
n_prompt=$(tok "$T/idle0" prompt_tokens)
pids=""
i=0; while [ $i -lt "$streams" ]; do
    printf '{"model":"m","prompt":"%s","max_tokens":3000,"temperature":0}' \
        "$(words 8 $((200 + i)))" > "$T/bg$i.json"
    # curl itself in the background (so that kill stops it)
    curl -sS --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
        -d @"$T/bg$i.json" "$URL" > /dev/null 2>&1 &
    pids="$pids $!"; i=$((i + 1)); done
sleep 2
busy=$(ttft busy 50)
# shellcheck disable=SC2086
kill $pids 2>/dev/null || true
for p in $pids; do wait "$p" 2>/dev/null || true; done
n=0; while curl -sS --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
    "https://localhost:$port/metrics" 2>/dev/null | grep -q '^gemmad_active_sequences [1-9]'; do
    n=$((n + 1)); [ $n -lt 600 ] || break; sleep 0.2; done

# a repeated long prefix: cold, then from the cache
prefix=$(words "$prefix_words" 7)
ask "$prefix tail one" 1 "$T/cold"
ask "$prefix tail two" 1 "$T/hot"
n_prefix=$(tok "$T/cold" prompt_tokens)

# RSS over many requests sharing a prefix (with different tails)
rss0=$(rss)
i=0; half=$((requests / 2))
short=$(words 64 9)
while [ $i -lt "$requests" ]; do
    ask "$short $(words 8 $((1000 + i)))" 4 "$T/r" ; i=$((i + 1))
    [ $i -eq "$half" ] && rss_half=$(rss)
done
rss1=$(rss)

echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$model" ]; then
    what="$model"
else
    what="synthetic e2b ${layers:+$layers layers, }$type, vocab $vocab"
fi
echo "model: $what; $threads engine threads; batches of up to $((streams + 8)) sequences"
printf '%-58s %s\n' "measure" "value"
printf '%-58s %s\n' "decode tok/s, 1 stream of $tokens" "$one"
printf '%-58s %s\n' "decode tok/s, $streams concurrent streams of $tokens (aggregate)" "$many"
awk -v a="$one" -v b="$many" 'BEGIN { printf "%-58s %.2fx\n", "  speed-up", b / a }'
printf '%-58s %s s\n' "p95 TTFT, $n_prompt-token prompt, idle" "$idle"
printf '%-58s %s s\n' "p95 TTFT, $n_prompt-token prompt, while $streams streams run" "$busy"
awk -v a="$idle" -v b="$busy" 'BEGIN { printf "%-58s %.2fx\n", "  ratio", b / a }'
printf '%-58s %s s\n' "TTFT, $n_prefix-token prompt, prefix cold" "$(cat "$T/cold")"
printf '%-58s %s s\n' "TTFT, same prefix + another tail, from the prefix cache" "$(cat "$T/hot")"
awk -v a="$(cat "$T/cold")" -v b="$(cat "$T/hot")" 'BEGIN { printf "%-58s %.1fx\n", "  speed-up", a / b }'
printf '%-58s %s / %s / %s MiB\n' "gemmad RSS before / after $half / after $requests requests" \
    "$rss0" "${rss_half:-?}" "$rss1"
kill -TERM "$G"; wait "$G" || true; G=""
