/*
 * ctl/settings.h -- gemmactl's own settings: how to reach gemmad (Unix
 * socket or https URL) and which client certificate, key and CA to use.
 *
 * Settings come in layers, each filling only what it names: the user's
 * file (~/.config/gemmactl/config.yaml, or $GEMMACTL_CONFIG), then the
 * GEMMACTL_* environment variables, then command-line flags; a later
 * layer wins. The endpoint (socket or url) counts as one setting: a layer
 * that names either replaces both. When no layer names one, gemmactl uses
 * listen.unix.path of the installed gemmad.yaml, else
 * /run/gemmad/gemmad.sock.
 */
#ifndef CTL_SETTINGS_H
#define CTL_SETTINGS_H

#include <stddef.h>

#include "common/err.h"

#define CTL_SETTING_MAX 1024
#define CTL_DEFAULT_SOCKET "/run/gemmad/gemmad.sock"

typedef struct ctl_settings {
    char socket[CTL_SETTING_MAX]; /* "" = not set */
    char url[CTL_SETTING_MAX];
    char cert[CTL_SETTING_MAX];
    char key[CTL_SETTING_MAX];
    char ca[CTL_SETTING_MAX];
    char model[CTL_SETTING_MAX]; /* default model of chat and generate */
} ctl_settings;

/* A getenv-shaped lookup, so tests can pass their own environment. */
typedef char *(*ctl_getenv_fn)(const char *name);

/* Parse the YAML of a gemmactl config file: a mapping with the keys
 * socket, url, cert, key, ca, model (strings). `name` names the file in
 * messages ("config.yaml:3:1: ..."). Relative cert/key/ca paths are taken
 * relative to `base_dir` (NULL: as given). */
int ctl_settings_parse(const char *text, size_t len, const char *name, const char *base_dir,
                       ctl_settings *out, cm_err *err);

/* Read `path`; a file that does not exist leaves `out` empty and is no
 * error (*found = 0). */
int ctl_settings_load(const char *path, ctl_settings *out, int *found, cm_err *err);

/* GEMMACTL_SOCKET, GEMMACTL_URL, GEMMACTL_CERT, GEMMACTL_KEY, GEMMACTL_CA,
 * GEMMACTL_MODEL. */
void ctl_settings_from_env(ctl_settings *out, ctl_getenv_fn get);

/* Copy into `base` what `over` sets (the endpoint as one unit). */
void ctl_settings_overlay(ctl_settings *base, const ctl_settings *over);

/* Where the user's file is: $GEMMACTL_CONFIG, else
 * $XDG_CONFIG_HOME/gemmactl/config.yaml, else ~/.config/gemmactl/config.yaml.
 * Fails only when none of those variables is set. */
int ctl_settings_user_path(ctl_getenv_fn get, char *out, size_t n, cm_err *err);

/* listen.unix.path of a gemmad.yaml ("" when it has no Unix listener). A
 * missing file is no error (*found = 0). */
int ctl_gemmad_socket(const char *gemmad_yaml, char *out, size_t n, int *found, cm_err *err);

/* The string SECTION.KEY of a gemmad.yaml ("" when it has none), e.g.
 * security.bundle_keys. A missing file is no error (*found = 0). */
int ctl_gemmad_setting(const char *gemmad_yaml, const char *section, const char *key, char *out,
                       size_t n, int *found, cm_err *err);

/* All layers: the user's file, the environment, then `flags`; then the
 * default endpoint from `gemmad_yaml` (NULL: the installed one) when none
 * was named. */
int ctl_settings_resolve(const ctl_settings *flags, ctl_getenv_fn get, const char *gemmad_yaml,
                         ctl_settings *out, cm_err *err);

#endif
