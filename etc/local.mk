# etc/local.mk -- shipped configuration: gemmad.yaml(5) and the systemd
# unit. The unit is installed under $(prefix)/lib/systemd/system.

gemmadconfdir = $(sysconfdir)/gemmad
dist_gemmadconf_DATA = etc/gemmad.yaml

systemdunitdir = $(prefix)/lib/systemd/system
dist_systemdunit_DATA = etc/systemd/gemmad.service

# A pool of gemmad behind HAProxy (docs/deploy.md): an example, installed
# with the documentation rather than into HAProxy's own /etc/haproxy.
gemmadhaproxydir = $(docdir)/examples/haproxy
dist_gemmadhaproxy_DATA = etc/haproxy/gemmad.cfg
