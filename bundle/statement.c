/*
 * bundle/statement.c -- the in-toto Statement v1 inside the DSSE payload:
 * parsing (untrusted bytes until the signature is checked, and checked
 * again for shape after) and building it when signing.
 *
 * {"_type": "https://in-toto.io/Statement/v1",
 *  "subject": [{"name": MODEL, "digest": {"sha256": ROOT}}],
 *  "predicateType": "https://model_signing/signature/v1.0",
 *  "predicate": {"serialization": {"method": "files", "hash_type": "sha256",
 *                                  "allow_symlinks": false,
 *                                  "ignore_paths": [...]},
 *                "resources": [{"algorithm": "sha256", "name": PATH,
 *                               "digest": HEX}, ...]}}
 * ROOT = SHA-256 over the resource digests (raw bytes) in listed order.
 * A model signed as a single file has one resource named "." (the file
 * relative to itself) and the file's name as subject name.
 */
#include "bundle/internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#define BDL_MAX_ENTRIES 1000000

int bdl_root_digest(const void *first, size_t n, size_t stride,
                    unsigned char out[BUNDLE_DIGEST_LEN], cm_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return cm_err_set(err, "cannot start SHA-256");
    }
    const unsigned char *p = first;
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(ctx, p + i * stride, BUNDLE_DIGEST_LEN);
    int ok = EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : cm_err_set(err, "SHA-256 failed");
}

static const char *str_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static int cmp_entry_ptr(const void *a, const void *b)
{
    const bundle_entry *const *x = a, *const *y = b;
    return bundle_path_cmp((*x)->path, (*y)->path);
}

static int parse_serialization(json_t *ser, bundle_info *info, cm_err *err)
{
    if (!json_is_object(ser))
        return cm_err_set(err, "statement: predicate.serialization is missing");
    const char *method = str_of(ser, "method");
    if (method == NULL || strcmp(method, "files") != 0)
        return cm_err_set(err,
                          "statement: serialization method \"%.40s\" is not supported "
                          "(only \"files\")",
                          method ? method : "(none)");
    const char *ht = str_of(ser, "hash_type");
    if (ht == NULL || strcmp(ht, "sha256") != 0)
        return cm_err_set(err, "statement: hash type \"%.40s\" is not supported (only sha256)",
                          ht ? ht : "(none)");
    json_t *sym = json_object_get(ser, "allow_symlinks");
    info->allow_symlinks = json_is_true(sym);
    json_t *ign = json_object_get(ser, "ignore_paths");
    if (ign == NULL)
        return 0;
    if (!json_is_array(ign) || json_array_size(ign) > 4096)
        return cm_err_set(err, "statement: ignore_paths is not a list of paths");
    info->ignore_paths = calloc(json_array_size(ign) + 1, sizeof(char *));
    if (info->ignore_paths == NULL)
        return cm_err_set(err, "out of memory");
    for (size_t i = 0; i < json_array_size(ign); i++) {
        json_t *v = json_array_get(ign, i);
        const char *p = json_is_string(v) ? json_string_value(v) : NULL;
        if (p == NULL || strlen(p) != json_string_length(v) || !bundle_path_is_safe(p))
            return cm_err_set(err, "statement: ignore path %zu is not a safe relative path", i);
        if ((info->ignore_paths[info->n_ignore] = strdup(p)) == NULL)
            return cm_err_set(err, "out of memory");
        info->n_ignore++;
    }
    return 0;
}

static int parse_resources(json_t *res, bundle_info *info, cm_err *err)
{
    if (!json_is_array(res))
        return cm_err_set(err, "statement: predicate.resources is missing");
    size_t n = json_array_size(res);
    if (n > BDL_MAX_ENTRIES)
        return cm_err_set(err, "statement: too many resources (%zu)", n);
    info->entries = calloc(n + 1, sizeof(bundle_entry));
    if (info->entries == NULL)
        return cm_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(res, i);
        const char *name = json_is_object(r) ? str_of(r, "name") : NULL;
        const char *alg = json_is_object(r) ? str_of(r, "algorithm") : NULL;
        const char *dig = json_is_object(r) ? str_of(r, "digest") : NULL;
        if (name == NULL || alg == NULL || dig == NULL)
            return cm_err_set(err, "statement: resource %zu lacks name, algorithm or digest", i);
        /* "." is the one resource of a single-file model: the reference
         * names each file relative to the model path, and a file relative
         * to itself is ".". Only bundle_verify_file accepts it. */
        if (strcmp(name, BUNDLE_FILE_RESOURCE) != 0 && !bundle_path_is_safe(name))
            return cm_err_set(err,
                              "statement: resource path \"%.200s\" is not a safe relative "
                              "path (absolute, empty or with \"..\")",
                              name);
        if (strcmp(alg, "sha256") != 0)
            return cm_err_set(err,
                              "statement: resource %.200s uses algorithm \"%.40s\", "
                              "only sha256 is supported",
                              name, alg);
        bundle_entry *e = &info->entries[info->n_entries];
        if (bdl_hex_decode(dig, e->digest) != 0)
            return cm_err_set(err, "statement: digest of %.200s is not 64 hex digits", name);
        if ((e->path = strdup(name)) == NULL)
            return cm_err_set(err, "out of memory");
        info->n_entries++;
    }
    /* No path may be listed twice. */
    bundle_entry **sorted = calloc(n + 1, sizeof(*sorted));
    if (sorted == NULL)
        return cm_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &info->entries[i];
    qsort(sorted, n, sizeof(*sorted), cmp_entry_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->path, sorted[i]->path) == 0) {
            cm_err_set(err, "statement: %.200s is listed twice", sorted[i]->path);
            free(sorted);
            return -1;
        }
    free(sorted);
    return 0;
}

int bdl_statement_parse(const unsigned char *payload, size_t len, bundle_info *info, cm_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return cm_err_set(err, "statement: not valid JSON (line %d: %s)", jerr.line, jerr.text);
    int rc = -1;
    const char *type = json_is_object(root) ? str_of(root, "_type") : NULL;
    if (type == NULL || strcmp(type, BDL_STATEMENT_TYPE) != 0) {
        cm_err_set(err, "statement: _type is not %s", BDL_STATEMENT_TYPE);
        goto out;
    }
    const char *pt = str_of(root, "predicateType");
    if (pt == NULL || strcmp(pt, BDL_PREDICATE_TYPE) != 0) {
        cm_err_set(err, "statement: predicate type \"%.100s\" is not %s", pt ? pt : "(none)",
                   BDL_PREDICATE_TYPE);
        goto out;
    }
    json_t *subj = json_object_get(root, "subject");
    if (!json_is_array(subj) || json_array_size(subj) != 1 ||
        !json_is_object(json_array_get(subj, 0))) {
        cm_err_set(err, "statement: expected exactly one subject");
        goto out;
    }
    json_t *s0 = json_array_get(subj, 0);
    const char *name = str_of(s0, "name");
    json_t *dg = json_object_get(s0, "digest");
    const char *root_hex = json_is_object(dg) ? str_of(dg, "sha256") : NULL;
    if (name == NULL || root_hex == NULL || bdl_hex_decode(root_hex, info->root_digest) != 0) {
        cm_err_set(err, "statement: subject lacks a name or a sha256 digest");
        goto out;
    }
    if ((info->model_name = strdup(name)) == NULL) {
        cm_err_set(err, "out of memory");
        goto out;
    }
    json_t *pred = json_object_get(root, "predicate");
    if (!json_is_object(pred)) {
        cm_err_set(err, "statement: predicate is missing");
        goto out;
    }
    if (parse_serialization(json_object_get(pred, "serialization"), info, err) != 0 ||
        parse_resources(json_object_get(pred, "resources"), info, err) != 0)
        goto out;
    unsigned char computed[BUNDLE_DIGEST_LEN];
    if (bdl_root_digest(info->entries[0].digest, info->n_entries, sizeof(bundle_entry), computed,
                        err) != 0)
        goto out;
    if (memcmp(computed, info->root_digest, BUNDLE_DIGEST_LEN) != 0) {
        char want[65], got[65];
        bundle_hex(info->root_digest, want);
        bundle_hex(computed, got);
        cm_err_set(err, "statement: root digest %s does not match the listed files (%s)", want,
                   got);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int cmp_cstr(const void *a, const void *b)
{
    return bundle_path_cmp(*(char *const *)a, *(char *const *)b);
}

char *bdl_statement_build(const char *model_name, const bundle_file *files, size_t n_files,
                          char *const *ignore, size_t n_ignore, cm_err *err)
{
    unsigned char rootd[BUNDLE_DIGEST_LEN];
    if (bdl_root_digest(n_files > 0 ? files[0].digest : rootd, n_files, sizeof(bundle_file), rootd,
                        err) != 0)
        return NULL;
    char hex[65];
    bundle_hex(rootd, hex);
    json_t *res = json_array();
    json_t *ign = json_array();
    char **sorted_ign = calloc(n_ignore + 1, sizeof(char *));
    if (res == NULL || ign == NULL || sorted_ign == NULL) {
        json_decref(res);
        json_decref(ign);
        free(sorted_ign);
        cm_err_set(err, "out of memory building the statement");
        return NULL;
    }
    for (size_t i = 0; i < n_files; i++) {
        char dh[65];
        bundle_hex(files[i].digest, dh);
        json_t *r = json_pack("{s:s, s:s, s:s}", "algorithm", "sha256", "name", files[i].path,
                              "digest", dh);
        if (r == NULL || json_array_append_new(res, r) != 0) {
            json_decref(res);
            json_decref(ign);
            free(sorted_ign);
            cm_err_set(err, "file name %.200s is not valid UTF-8", files[i].path);
            return NULL;
        }
    }
    memcpy(sorted_ign, ignore, n_ignore * sizeof(char *));
    qsort(sorted_ign, n_ignore, sizeof(char *), cmp_cstr);
    for (size_t i = 0; i < n_ignore; i++)
        if ((i == 0 || strcmp(sorted_ign[i], sorted_ign[i - 1]) != 0) &&
            json_array_append_new(ign, json_string(sorted_ign[i])) != 0) {
            cm_err_set(err, "ignore path %.200s is not valid UTF-8", sorted_ign[i]);
            json_decref(res);
            json_decref(ign);
            free(sorted_ign);
            return NULL;
        }
    free(sorted_ign);
    json_t *st = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:{s:s, s:s, s:b, s:o}, s:o}}",
                           "_type", BDL_STATEMENT_TYPE, "subject", "name", model_name, "digest",
                           "sha256", hex, "predicateType", BDL_PREDICATE_TYPE, "predicate",
                           "serialization", "method", "files", "hash_type", "sha256",
                           "allow_symlinks", 0, "ignore_paths", ign, "resources", res);
    if (st == NULL) {
        cm_err_set(err, "cannot build the statement (bad UTF-8 in a file name?)");
        return NULL;
    }
    char *text = json_dumps(st, JSON_INDENT(2));
    json_decref(st);
    if (text == NULL)
        cm_err_set(err, "cannot serialise the statement");
    return text;
}
