#!/usr/bin/env python3
# tests/integration/logprobs_check.py -- the logprobs gemmad reported for a
# greedy text completion against the engine's own logits: for each token,
# `gemma-run logits` over the prompt and the tokens so far gives the raw
# logits, whose log-softmax (computed here, in float64) must equal the
# reported logprob, its best tokens the reported top_logprobs, and its
# argmax the reported token (bytes compared through the vocabulary dump).
#
# usage: logprobs_check.py GEMMA_RUN MODEL PROMPT ANSWER.json TMPDIR
import json
import math
import struct
import subprocess
import sys


def main():
    gemma_run, model, prompt, answer_path, tmp = sys.argv[1:6]
    ans = json.load(open(answer_path, encoding="utf-8"))
    lp = ans["choices"][0]["logprobs"]
    toks, token_lps, tops, offsets = lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], lp["text_offset"]
    if not (len(toks) == len(token_lps) == len(tops) == len(offsets)) or not toks:
        print("shape: tokens %d, token_logprobs %d, top_logprobs %d, text_offset %d"
              % (len(toks), len(token_lps), len(tops), len(offsets)))
        return 1
    vocab = {}
    out = subprocess.run([gemma_run, "tokenize", "-m", model, "--dump-vocab"],
                         capture_output=True, check=True, text=True).stdout.splitlines()
    n_vocab = int(out[0].split()[0])
    for line in out[1:]:
        f = line.split()
        vocab[int(f[0])] = bytes.fromhex(f[3]) if f[3] != "-" else b""
    ids = [int(x) for x in subprocess.run(
        [gemma_run, "tokenize", "-m", model, "-p", prompt, "--plain"],
        capture_output=True, check=True, text=True).stdout.split()]
    text = ans["choices"][0]["text"]
    worst = 0.0
    offset = 0
    for i, (tok, tlp, top) in enumerate(zip(toks, token_lps, tops)):
        path = "%s/logits.f32" % tmp
        subprocess.run([gemma_run, "logits", "-m", model, "--tokens", ",".join(map(str, ids)),
                        "-o", path, "-t", "1"], capture_output=True, check=True)
        data = open(path, "rb").read()
        row = struct.unpack("<%df" % n_vocab, data[-4 * n_vocab:])
        mx = max(row)
        lse = mx + math.log(sum(math.exp(x - mx) for x in row))
        lsm = [x - lse for x in row]
        best = max(range(n_vocab), key=lambda k: (lsm[k], -k))
        err = abs(lsm[best] - tlp)
        worst = max(worst, err)
        if err > 2e-3:
            print("token %d: logprob %.6f, the engine's log-softmax says %.6f" % (i, tlp, lsm[best]))
            return 1
        want = vocab[best].decode("utf-8", "replace")
        if tok != want:
            print("token %d: %r, the engine's argmax is %r (id %d)" % (i, tok, want, best))
            return 1
        order = sorted(range(n_vocab), key=lambda k: (-lsm[k], k))[:len(top)]
        expect = {}
        for k in order:
            expect.setdefault(vocab[k].decode("utf-8", "replace"), lsm[k])
        if set(expect) != set(top) or any(abs(expect[k] - top[k]) > 2e-3 for k in top):
            print("token %d: top_logprobs %r, the engine's %r" % (i, top, expect))
            return 1
        if offsets[i] != offset:
            print("token %d: text_offset %d, the bytes before it %d" % (i, offsets[i], offset))
            return 1
        offset += len(vocab[best])
        ids.append(best)
    if not text.startswith("".join(toks)[:len(text)]):
        print("the text %r is not the tokens %r" % (text, toks))
        return 1
    print("ok: %d tokens, largest difference %.2e" % (len(toks), worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
