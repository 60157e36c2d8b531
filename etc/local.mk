# etc/local.mk -- shipped configuration: gemmad.yaml(5) and the systemd
# unit. The unit is installed under $(prefix)/lib/systemd/system.

gemmadconfdir = $(sysconfdir)/gemmad
dist_gemmadconf_DATA = etc/gemmad.yaml

systemdunitdir = $(prefix)/lib/systemd/system
dist_systemdunit_DATA = etc/systemd/gemmad.service
