# bundle/local.mk -- build rules for bundle/ (filled in by its issue).
