# ctl/bundle_pki.mk -- gemmactl sources owned by the bundle and PKI parts
# (included at the end of ctl/local.mk, after gemmactl_SOURCES is set).

gemmactl_SOURCES += ctl/progress.c ctl/progress.h
gemmactl_SOURCES += ctl/pki_x509.c ctl/pki_x509.h
