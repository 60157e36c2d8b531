# tests/lib/policy_cases.sh -- the policy case table
# (tests/data/policy/cases.txt) as the tests read it: the cases without
# comments, and every case run through 'gemmactl policy test'. Used by
# tests/integration/policy_cases.sh and daemon_policy_table.sh.
#
# Source after tests/lib/tap.sh; needs $GEMMACTL and $top_srcdir.
#
# A case is one line:
#   CERT ACTION MODEL UID GID PROMPT_TOKENS MAX_TOKENS EXPECT REASON ROLE RULE
# read with: while read -r cert action model uid gid pt mt expect reason role rule

POLICY_CASES_FILE="$top_srcdir/tests/data/policy/cases.txt"

# policy_cases_list OUT -- the cases, without comments and blank lines.
policy_cases_list() {
    grep -v '^#' "$POLICY_CASES_FILE" | grep -v '^[[:space:]]*$' >"$1"
}

# policy_cases_gemmactl CASES POLICY CERT_DIR CERT_EXT WORK [LABEL] -- each
# case of the file CASES through 'gemmactl policy test POLICY', with the
# certificate CERT_DIR/CERT.CERT_EXT; one TAP line per case, prefixed with
# LABEL. WORK is a scratch file.
policy_cases_gemmactl() {
    pcg_cases=$1 pcg_policy=$2 pcg_dir=$3 pcg_ext=$4 pcg_out=$5 pcg_label=${6:-}
    while read -r cert action model uid gid pt mt expect reason role rule; do
        set -- policy test "$pcg_policy" --action "$action"
        [ "$cert" = - ] || set -- "$@" --cert "$pcg_dir/$cert.$pcg_ext"
        [ "$model" = - ] || set -- "$@" --model "$model"
        [ "$uid" = - ] || set -- "$@" --uid "$uid"
        [ "$gid" = - ] || set -- "$@" --gid "$gid"
        [ "$pt" = - ] || set -- "$@" --prompt-tokens "$pt"
        [ "$mt" = - ] || set -- "$@" --max-tokens "$mt"
        "$GEMMACTL" "$@" >"$pcg_out" 2>&1
        rc=$?
        got_d=$(sed -n 's/^decision: *//p' "$pcg_out")
        got_r=$(sed -n 's/^reason: *\([a-z_]*\).*/\1/p' "$pcg_out")
        got_role=$(sed -n 's/^role: *//p' "$pcg_out")
        got_rule=$(sed -n 's/^rule: *\([0-9][0-9]*\) .*/\1/p' "$pcg_out")
        [ -n "$got_role" ] || got_role=-
        [ -n "$got_rule" ] || got_rule=-
        want_rc=3
        [ "$expect" = allow ] && want_rc=0
        desc="$pcg_label$cert $action ${model#-} uid=$uid gid=$gid -> $expect $reason role=$role rule=$rule"
        if [ "$rc" -eq "$want_rc" ] && [ "$got_d" = "$expect" ] && [ "$got_r" = "$reason" ] &&
            [ "$got_role" = "$role" ] && [ "$got_rule" = "$rule" ]; then
            ok 0 "$desc"
        else
            ok 1 "$desc"
            echo "# exit $rc; got: $got_d $got_r role=$got_role rule=$got_rule"
            sed 's/^/#   /' "$pcg_out"
        fi
    done <"$pcg_cases"
}
