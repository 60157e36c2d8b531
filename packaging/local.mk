# packaging/local.mk -- DEB and RPM packages, the offline installer, and
# what only packages need installed: sysusers.d, tmpfiles.d, gemmad-setup.
#
#   make deb      .debs from the `make dist` tarball (packaging/debian)
#   make rpm      an .rpm from the same tarball (packaging/rpm/gemmad.spec)
#   make offline  one archive for Debian 12 amd64: the .debs, the closure
#                 of their runtime dependencies, a repository index,
#                 SHA256SUMS (signed with GPG when SIGNING_KEY= names a
#                 key) and install.sh; MODELS="DIR..." adds signed bundles
# Results go to $(PKG_OUT) (default: packages/ in the build directory).
EXTRA_DIST += packaging/README.md

sysusersdir = $(prefix)/lib/sysusers.d
dist_sysusers_DATA = etc/systemd/sysusers.d/gemmad.conf
tmpfilesdir = $(prefix)/lib/tmpfiles.d
dist_tmpfiles_DATA = etc/systemd/tmpfiles.d/gemmad.conf
dist_sbin_SCRIPTS = packaging/gemmad-setup
dist_man_MANS += packaging/gemmad-setup.8

EXTRA_DIST += etc/systemd/gemmad-nvidia.conf docs/install.md \
	packaging/debian/control packaging/debian/rules packaging/debian/changelog \
	packaging/debian/copyright packaging/debian/source/format \
	packaging/debian/gemmad.postinst packaging/debian/gemmad.postrm \
	packaging/debian/gemmad.docs packaging/debian/gemmad.examples \
	packaging/rpm/gemmad.spec packaging/rpm/gemmad.rpmlintrc \
	packaging/build-deb.sh packaging/build-rpm.sh packaging/build-offline.sh \
	packaging/offline/install.sh packaging/debian12-root.sh packaging/debian-mirror.sh

PKG_OUT = $(abs_top_builddir)/packages
DEB_VERSION = $(VERSION)-1
SIGNING_KEY =
MODELS =

deb: dist-gzip
	$(SHELL) $(srcdir)/packaging/build-deb.sh $(distdir).tar.gz $(PKG_OUT)/deb $(DEB_VERSION)

rpm: dist-gzip
	$(SHELL) $(srcdir)/packaging/build-rpm.sh $(distdir).tar.gz $(PKG_OUT)/rpm

offline: deb
	$(SHELL) $(srcdir)/packaging/build-offline.sh $(PKG_OUT)/deb $(PKG_OUT) \
		"$(SIGNING_KEY)" $(MODELS)

.PHONY: deb rpm offline

# The whole path: .deb, offline archive, install into a Debian 12 root
# without network, a chat over mTLS, an upgrade keeping state; the RPM.
TESTS += tests/integration/packaging_unit.sh tests/integration/packaging_offline.sh tests/integration/packaging_rpm.sh
EXTRA_DIST += tests/integration/packaging_unit.sh tests/integration/packaging_offline.sh tests/integration/packaging_rpm.sh

# What the packaging targets and tests leave in the build directory; the
# Debian root cache (packaging-cache/) survives `make clean` on purpose.
clean-local: clean-local-packaging
clean-local-packaging:
	rm -rf packages packaging-test .packaging.lock
distclean-local: distclean-local-packaging
distclean-local-packaging:
	rm -rf packaging-cache
.PHONY: clean-local-packaging distclean-local-packaging
