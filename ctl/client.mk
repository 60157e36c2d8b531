# ctl/client.mk -- gemmactl's daemon-facing part: the mutual-TLS HTTP
# client to gemmad (ctl/client*.c), gemmactl's own settings
# (ctl/settings.c), output helpers, the status/models/chat/generate
# commands (listed in ctl/local.mk), the man page, bash completion, and
# their tests. Included at the end of ctl/local.mk.

gemmactl_SOURCES += ctl/client.c ctl/client.h ctl/client_parse.c ctl/client_parse.h \
	ctl/settings.c ctl/settings.h ctl/output.c ctl/output.h
# Where the installed gemmad.yaml is: its listen.unix.path is the default socket.
gemmactl_CPPFLAGS = $(AM_CPPFLAGS) -DCTL_SYSCONFDIR='"$(sysconfdir)"'

# The manual of all of gemmactl, and bash completion for it.
dist_man_MANS += docs/gemmactl.1
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = etc/bash-completion/gemmactl

# Unit tests: URL, response head, chunked and SSE parsing; settings layers;
# output helpers.
check_PROGRAMS += tests/unit/test_ctl_parse tests/unit/test_ctl_config tests/unit/test_ctl_output
TESTS += tests/unit/test_ctl_parse tests/unit/test_ctl_config tests/unit/test_ctl_output
tests_unit_test_ctl_parse_SOURCES = tests/unit/test_ctl_parse.c \
	ctl/client_parse.c ctl/client_parse.h
tests_unit_test_ctl_parse_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ctl_parse_LDADD = common/libcommon.a $(TEST_LIBS)
tests_unit_test_ctl_config_SOURCES = tests/unit/test_ctl_config.c ctl/settings.c ctl/settings.h
tests_unit_test_ctl_config_CFLAGS = $(TEST_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_ctl_config_LDADD = common/libcommon.a $(YAML_LIBS) $(TEST_LIBS)
tests_unit_test_ctl_output_SOURCES = tests/unit/test_ctl_output.c ctl/output.c ctl/output.h
tests_unit_test_ctl_output_CFLAGS = $(TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_ctl_output_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)

# Integration tests: every daemon command against the real gemmad; the
# bash completion (its flags must match each command's --help).
TESTS += tests/integration/ctl_daemon.sh tests/integration/ctl_completion.sh
EXTRA_DIST += tests/integration/ctl_daemon.sh tests/integration/ctl_completion.sh

# gemmactl policy reload, models load --path refused, /v1/models/NAME
# percent-decoded: against the real gemmad.
TESTS += tests/integration/ctl_admin.sh
EXTRA_DIST += tests/integration/ctl_admin.sh
