# daemon/local.mk -- build rules for daemon/ (filled in by its issue).
