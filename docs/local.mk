# docs/local.mk -- build rules for docs/ (filled in by its issue).
