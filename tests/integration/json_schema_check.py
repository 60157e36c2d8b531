#!/usr/bin/env python3
# tests/integration/json_schema_check.py -- check a gemmad answer to a
# json_schema (or json_object) request with a real validator.
#
# usage: json_schema_check.py SCHEMA.json|- ANSWER.json MAX_TOKENS
# ANSWER.json is a chat.completion or text_completion object, or an SSE
# stream of chunks ("data: {...}" lines) whose texts are joined.
# Prints "valid", "length" (cut by max_tokens: the JSON may be incomplete)
# or an error; exits 0 only for those two outcomes, 1 otherwise. With a
# schema "-" the content must be a JSON object (json_object).
import datetime
import json
import re
import sys
import uuid

import jsonschema


def checked_formats():
    fc = jsonschema.FormatChecker()

    @fc.checks("date", raises=ValueError)
    def _date(s):
        if not isinstance(s, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            raise ValueError("not YYYY-MM-DD")
        datetime.date.fromisoformat(s)
        return True

    @fc.checks("date-time", raises=ValueError)
    def _date_time(s):
        if not isinstance(s, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", s):
            raise ValueError("not RFC 3339")
        datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True

    @fc.checks("uuid", raises=ValueError)
    def _uuid(s):
        if isinstance(s, str):
            if len(s) != 36:
                raise ValueError("not 36 characters")
            uuid.UUID(s)
        return True

    @fc.checks("email", raises=ValueError)
    def _email(s):
        if isinstance(s, str) and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s):
            raise ValueError("not an e-mail address")
        return True

    return fc


def validate(schema, value):
    """The first error of value against schema (with the format checks), or None."""
    v = jsonschema.Draft202012Validator(schema, format_checker=checked_formats())
    errors = list(v.iter_errors(value))
    return errors[0].message if errors else None


def answer(path):
    raw = open(path, encoding="utf-8").read()
    if raw.lstrip().startswith("data:"):
        text, finish, usage = "", None, None
        for line in raw.splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise SystemExit("stream error: %s" % chunk["error"])
            for ch in chunk.get("choices", []):
                delta = ch.get("delta")
                text += (delta.get("content") or "") if delta else ch.get("text", "")
                finish = ch.get("finish_reason") or finish
            usage = chunk.get("usage") or usage
        return text, finish, usage
    o = json.loads(raw)
    if "error" in o:
        raise SystemExit("error answer: %s" % o["error"])
    ch = o["choices"][0]
    text = ch["message"]["content"] if "message" in ch else ch["text"]
    return text, ch["finish_reason"], o.get("usage")


def main():
    schema_path, answer_path, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text, finish, usage = answer(answer_path)
    if finish == "length":
        if usage is not None and usage["completion_tokens"] != max_tokens:
            print("finish length after %d tokens, not %d" % (usage["completion_tokens"], max_tokens))
            return 1
        print("length")
        return 0
    if finish != "stop":
        print("finish_reason %r" % finish)
        return 1
    try:
        value = json.loads(text)
    except ValueError as e:
        print("not JSON (%s): %r" % (e, text[:300]))
        return 1
    if schema_path == "-":
        if not isinstance(value, dict):
            print("not a JSON object: %r" % text[:300])
            return 1
    else:
        schema = json.load(open(schema_path, encoding="utf-8"))
        error = validate(schema, value)
        if error:
            print("invalid: %s: %r" % (error, text[:300]))
            return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
