#!/bin/sh
# tests/integration/ctl_completion.sh -- the bash completion of gemmactl
# (etc/bash-completion/gemmactl): commands, subcommands and flags it
# offers, and that every flag it offers for a command is one that
# command's --help documents (so completion and CLI cannot drift apart).
. "$top_srcdir/tests/lib/tap.sh"

COMP="$top_srcdir/etc/bash-completion/gemmactl"
GEMMACTL="$top_builddir/gemmactl"
command -v bash >/dev/null 2>&1 || tap_skip_all "bash is not installed"
[ -x "$GEMMACTL" ] || tap_skip_all "gemmactl is not built"

# comp WORD... -- the completions bash offers when the last WORD is being typed.
comp() {
    PATH="$top_builddir:$PATH" bash -c '
        . "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _gemmactl 2>/dev/null
        printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" gemmactl "$@" | sort | tr '\n' ' '
}
same() { [ "$1" = "$2" ] && return 0; echo "# got:  '$1'"; echo "# want: '$2'"; return 1; }

check "bash parses the completion file" bash -n "$COMP"
check "first word: every command" same "$(comp '')" "--help --version audit bundle chat generate models pki policy status "
check "first word prefix 'g'" same "$(comp g)" "generate "
check "models: its subcommands" same "$(comp models '')" "--help list load unload "
check "audit: its subcommands" same "$(comp audit '')" "--help export query rotate tail verify "
check "bundle: its subcommands" same "$(comp bundle '')" "--help inspect keygen sign verify "
check "pki: its subcommands" same "$(comp pki '')" "--help init issue list revoke "
check "policy: its subcommands" same "$(comp policy '')" "--help check reload test "
check "audit --format values" same "$(comp audit tail --format '')" "csv jsonl table "
check "policy test --action values include models.load" same "$(comp policy test x --action models.l)" "models.list models.load "
check "status flags" same "$(comp status --)" "--ca --cert --help --json --key --socket --url "

# Every flag offered for a command must be documented by its --help
# (--help itself aside).
for cmdline in "status" "models list" "models load" "models unload" "chat" "generate" \
    "audit tail" "audit query" "audit verify" "audit export" "audit rotate" \
    "policy test" "policy reload" "bundle keygen" "bundle sign" "bundle verify" "bundle inspect" \
    "pki init" "pki issue" "pki revoke" "pki list"; do
    # shellcheck disable=SC2086
    help=$("$GEMMACTL" $cmdline --help 2>&1)
    # shellcheck disable=SC2086
    flags=$(comp $cmdline -)
    missing=""
    for f in $flags; do
        [ "$f" = --help ] && continue
        case "$help" in *"$f"*) ;; *) missing="$missing $f" ;; esac
    done
    [ -n "$flags" ] && [ -z "$missing" ]
    ok $? "gemmactl $cmdline: every completed flag is in its --help${missing:+ (missing:$missing)}"
done
tap_done
