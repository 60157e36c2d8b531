# docs/local.mk -- manual pages.

dist_man_MANS += docs/gemmad.8 docs/gemmad.yaml.5
EXTRA_DIST += docs/architecture.md
# Running several gemmad behind a load balancer (installed with the docs).
gemmaddeploydir = $(docdir)
dist_gemmaddeploy_DATA = docs/deploy.md
