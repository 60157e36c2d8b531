# ctl/policy_audit.mk -- gemmactl sources of the policy and audit commands
# (ctl/cmd_policy.c and ctl/cmd_audit.c are in ctl/local.mk).
gemmactl_SOURCES += ctl/audit_fmt.c ctl/audit_fmt.h
# 'gemmactl audit' through gemmad (the default; --db reads the file).
gemmactl_SOURCES += ctl/audit_remote.c ctl/audit_remote.h
TESTS += tests/integration/ctl_audit_remote.sh
EXTRA_DIST += tests/integration/ctl_audit_remote.sh
