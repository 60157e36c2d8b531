# ctl/local.mk -- build rules for ctl/ (filled in by its issue).
