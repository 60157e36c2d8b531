# policy/local.mk -- build rules for policy/ (filled in by its issue).
