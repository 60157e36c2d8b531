# ctl/local.mk -- gemmactl, the operator CLI. Each command group is one
# file ctl/cmd_GROUP.c; shared client code (mTLS connection to gemmad,
# config, output formats) lives in ctl/client*.c.

bin_PROGRAMS += gemmactl
gemmactl_SOURCES = ctl/gemmactl.c ctl/ctl.h \
	ctl/cmd_status.c ctl/cmd_models.c ctl/cmd_chat.c ctl/cmd_audit.c \
	ctl/cmd_policy.c ctl/cmd_bundle.c ctl/cmd_pki.c
gemmactl_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS) $(SQLITE_CFLAGS)
gemmactl_LDADD = $(CTL_LIBS) common/libcommon.a $(SSL_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) $(SQLITE_LIBS)
# Further sources are appended by the parts that own them, one line each:
# gemmactl_SOURCES += ctl/client.c ...
include ctl/bundle_pki.mk
include ctl/policy_audit.mk
include ctl/client.mk
gemmactl_SOURCES += ctl/models_import.c
gemmactl_SOURCES += ctl/subcmd.c
