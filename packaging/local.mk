# packaging/local.mk -- build rules for packaging/ (filled in by its issue).
