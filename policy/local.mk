# policy/local.mk -- the access policy: roles bound to client-certificate
# identities, with rate, token and concurrency limits (issue 7).

noinst_LIBRARIES += policy/libpolicy.a
policy_libpolicy_a_SOURCES = \
	policy/policy.h policy/internal.h \
	policy/x509id.h \
	policy/policy.c policy/parse.c policy/decide.c policy/limiter.c policy/x509id.c
policy_libpolicy_a_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(SSL_CFLAGS)
POLICY_LIBS = policy/libpolicy.a common/libcommon.a $(YAML_LIBS) $(SSL_LIBS) -lpthread

CTL_LIBS += policy/libpolicy.a
DAEMON_LIBS += policy/libpolicy.a

check_PROGRAMS += tests/unit/test_policy
TESTS += tests/unit/test_policy
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c
tests_unit_test_policy_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_policy_LDADD = $(POLICY_LIBS) $(TEST_LIBS)

TESTS += tests/integration/policy_cases.sh
EXTRA_DIST += tests/integration/policy_cases.sh \
	tests/data/policy/certs.txt tests/data/policy/cases.txt tests/data/policy/policy.yaml.in

# The shipped default policy (next to etc/gemmad.yaml) and its man page.
policyconfdir = $(sysconfdir)/gemmad
dist_policyconf_DATA = etc/policy.yaml
dist_man_MANS += docs/gemmad-policy.yaml.5
