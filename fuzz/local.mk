# fuzz/local.mk -- build rules for fuzz/ (filled in by its issue).
