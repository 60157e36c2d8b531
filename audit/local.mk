# audit/local.mk -- build rules for audit/ (filled in by its issue).
