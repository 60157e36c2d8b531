# etc/local.mk -- build rules for etc/ (filled in by its issue).
