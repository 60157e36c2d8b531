# tests/local.mk -- integration tests (real processes) and the reference
# harness. Unit tests live beside their component's rules.
#
# Integration tests are shell scripts speaking TAP (tests/lib/tap.sh).
# Tests that need the reference implementation read GEMMA_REF_DIR
# (scripts/fetch-reference.sh) and skip, visibly, when it is absent.

EXTRA_DIST += tests/lib/tap.sh scripts/build.sh scripts/count-tests.sh

AM_TESTS_ENVIRONMENT += \
	GEMMA_REF_DIR="$${GEMMA_REF_DIR:-$$HOME/.cache/gemmad/reference}"; export GEMMA_REF_DIR;

# configure names each missing library (issue: foundation).
TESTS += tests/integration/configure_deps.sh
EXTRA_DIST += tests/integration/configure_deps.sh
