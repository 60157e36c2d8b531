# packaging/local.mk -- DEB, RPM and offline installer (their own issue).
EXTRA_DIST += packaging/README.md
