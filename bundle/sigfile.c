/*
 * bundle/sigfile.c -- reading and writing model.sig, the Sigstore bundle
 * JSON (v0.3) that wraps the DSSE envelope.
 *
 * Accepted layouts of verificationMaterial: {"publicKey": {"hint": HEX}}
 * (current), {"publicKey": {"rawBytes": B64 PEM, "keyDetails": ...}}
 * (model_signing v1.0.x), and {"x509CertificateChain": {"certificates":
 * [{"rawBytes": B64 DER}, ...]}} (leaf first). Parsing checks shape only;
 * trust.c decides whether to believe it.
 */
#include "bundle/internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#define BDL_MAX_CHAIN 10

void bdl_sig_clear(bdl_sig *s)
{
    free(s->payload_type);
    free(s->payload);
    free(s->sig);
    free(s->key_hint);
    EVP_PKEY_free(s->embedded_key);
    if (s->chain != NULL)
        sk_X509_pop_free(s->chain, X509_free);
    memset(s, 0, sizeof(*s));
}

/* A string member, or NULL (with err set) when missing or not a string. */
static const char *get_str(json_t *obj, const char *key, const char *where, cm_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        cm_err_set(err, "%s: \"%s\" is missing or not a string", where, key);
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        cm_err_set(err, "%s: \"%s\" contains a NUL character", where, key);
        return NULL;
    }
    return json_string_value(v);
}

static int b64_member(json_t *obj, const char *key, const char *where, unsigned char **out,
                      size_t *out_len, cm_err *err)
{
    const char *s = get_str(obj, key, where, err);
    if (s == NULL)
        return -1;
    if (bdl_b64_decode(s, strlen(s), out, out_len, err) != 0)
        return cm_err_prefix(err, "%s.%s", where, key);
    return 0;
}

static int parse_chain(json_t *chain, bdl_sig *out, cm_err *err)
{
    json_t *certs = json_object_get(chain, "certificates");
    if (!json_is_array(certs) || json_array_size(certs) == 0)
        return cm_err_set(err, "x509CertificateChain.certificates is missing or empty");
    if (json_array_size(certs) > BDL_MAX_CHAIN)
        return cm_err_set(err, "certificate chain has more than %d certificates", BDL_MAX_CHAIN);
    out->chain = sk_X509_new_null();
    if (out->chain == NULL)
        return cm_err_set(err, "out of memory");
    for (size_t i = 0; i < json_array_size(certs); i++) {
        unsigned char *der = NULL;
        size_t n = 0;
        json_t *c = json_array_get(certs, i);
        if (!json_is_object(c))
            return cm_err_set(err, "certificate %zu is not an object", i);
        if (b64_member(c, "rawBytes", "certificate", &der, &n, err) != 0)
            return -1;
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)n);
        bool whole = x != NULL && p == der + n;
        free(der);
        ERR_clear_error();
        if (!whole) {
            X509_free(x);
            return cm_err_set(err, "certificate %zu is not valid DER", i);
        }
        if (!sk_X509_push(out->chain, x)) {
            X509_free(x);
            return cm_err_set(err, "out of memory");
        }
    }
    out->method = BUNDLE_METHOD_CERT;
    return 0;
}

static int parse_pubkey(json_t *pk, bdl_sig *out, cm_err *err)
{
    if (!json_is_object(pk))
        return cm_err_set(err, "verificationMaterial.publicKey is not an object");
    out->method = BUNDLE_METHOD_KEY;
    json_t *hint = json_object_get(pk, "hint");
    if (json_is_string(hint) && json_string_length(hint) > 0) {
        unsigned char d[BUNDLE_DIGEST_LEN];
        if (bdl_hex_decode(json_string_value(hint), d) != 0)
            return cm_err_set(err, "publicKey.hint is not a SHA-256 hex digest");
        out->key_hint = malloc(2 * BUNDLE_DIGEST_LEN + 1);
        if (out->key_hint == NULL)
            return cm_err_set(err, "out of memory");
        bundle_hex(d, out->key_hint);
    } else if (hint != NULL && !json_is_null(hint) && !json_is_string(hint)) {
        return cm_err_set(err, "publicKey.hint is not a string");
    }
    json_t *raw = json_object_get(pk, "rawBytes");
    if (raw != NULL) {
        unsigned char *pem = NULL;
        size_t n = 0;
        if (b64_member(pk, "rawBytes", "publicKey", &pem, &n, err) != 0)
            return -1;
        out->embedded_key = bdl_load_pubkey(pem, n, err);
        free(pem);
        if (out->embedded_key == NULL)
            return cm_err_prefix(err, "publicKey.rawBytes");
    }
    return 0;
}

int bdl_sig_parse(const char *json, size_t len, bdl_sig *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return cm_err_set(err, "not valid JSON (line %d: %s)", jerr.line, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        cm_err_set(err, "not a JSON object");
        goto out;
    }
    const char *mt = get_str(root, "mediaType", "bundle", err);
    if (mt == NULL)
        goto out;
    if (strcmp(mt, BDL_MEDIA_TYPE) != 0) {
        cm_err_set(err, "media type is \"%.100s\", expected %s", mt, BDL_MEDIA_TYPE);
        goto out;
    }
    json_t *vm = json_object_get(root, "verificationMaterial");
    if (!json_is_object(vm)) {
        cm_err_set(err, "verificationMaterial is missing");
        goto out;
    }
    json_t *chain = json_object_get(vm, "x509CertificateChain");
    json_t *pk = json_object_get(vm, "publicKey");
    if (chain != NULL && pk != NULL) {
        cm_err_set(err, "verificationMaterial has both a public key and a certificate chain");
        goto out;
    }
    if (chain != NULL) {
        if (!json_is_object(chain)) {
            cm_err_set(err, "x509CertificateChain is not an object");
            goto out;
        }
        if (parse_chain(chain, out, err) != 0)
            goto out;
    } else if (pk != NULL) {
        if (parse_pubkey(pk, out, err) != 0)
            goto out;
    } else {
        cm_err_set(err, "verificationMaterial has neither publicKey nor x509CertificateChain");
        goto out;
    }
    json_t *env = json_object_get(root, "dsseEnvelope");
    if (!json_is_object(env)) {
        cm_err_set(err, "dsseEnvelope is missing (only DSSE bundles are supported)");
        goto out;
    }
    const char *pt = get_str(env, "payloadType", "dsseEnvelope", err);
    if (pt == NULL || (out->payload_type = strdup(pt)) == NULL)
        goto out;
    if (b64_member(env, "payload", "dsseEnvelope", &out->payload, &out->payload_len, err) != 0)
        goto out;
    json_t *sigs = json_object_get(env, "signatures");
    if (!json_is_array(sigs) || json_array_size(sigs) != 1) {
        cm_err_set(err, "dsseEnvelope.signatures must hold exactly one signature");
        goto out;
    }
    json_t *s0 = json_array_get(sigs, 0);
    if (!json_is_object(s0)) {
        cm_err_set(err, "dsseEnvelope.signatures[0] is not an object");
        goto out;
    }
    if (b64_member(s0, "sig", "signature", &out->sig, &out->sig_len, err) != 0)
        goto out;
    if (out->sig_len == 0) {
        cm_err_set(err, "the signature is empty");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        bdl_sig_clear(out);
    return rc;
}

static json_t *b64_string(const unsigned char *data, size_t len, cm_err *err)
{
    char *b = bdl_b64_encode(data, len, err);
    if (b == NULL)
        return NULL;
    json_t *s = json_string(b);
    free(b);
    if (s == NULL)
        cm_err_set(err, "out of memory");
    return s;
}

static json_t *build_material(const char *hint, STACK_OF(X509) * chain, cm_err *err)
{
    json_t *vm = json_object();
    if (vm == NULL) {
        cm_err_set(err, "out of memory");
        return NULL;
    }
    if (chain == NULL) {
        json_object_set_new(vm, "publicKey", json_pack("{s:s}", "hint", hint));
    } else {
        json_t *certs = json_array();
        for (int i = 0; i < sk_X509_num(chain); i++) {
            unsigned char *der = NULL;
            int n = i2d_X509(sk_X509_value(chain, i), &der);
            if (n <= 0) {
                json_decref(certs);
                json_decref(vm);
                cm_err_set(err, "cannot encode certificate %d", i);
                return NULL;
            }
            json_t *raw = b64_string(der, (size_t)n, err);
            OPENSSL_free(der);
            if (raw == NULL) {
                json_decref(certs);
                json_decref(vm);
                return NULL;
            }
            json_array_append_new(certs, json_pack("{s:o}", "rawBytes", raw));
        }
        json_object_set_new(vm, "x509CertificateChain", json_pack("{s:o}", "certificates", certs));
    }
    json_object_set_new(vm, "tlogEntries", json_array());
    return vm;
}

char *bdl_sig_build(const unsigned char *payload, size_t payload_len, const unsigned char *sig,
                    size_t sig_len, const char *hint, STACK_OF(X509) * chain, cm_err *err)
{
    json_t *vm = build_material(hint, chain, err);
    json_t *p = vm ? b64_string(payload, payload_len, err) : NULL;
    json_t *s = p ? b64_string(sig, sig_len, err) : NULL;
    if (s == NULL) {
        /* b64_string and build_material have said why */
        json_decref(vm);
        json_decref(p);
        return NULL;
    }
    json_t *root =
        json_pack("{s:s, s:o, s:{s:o, s:s, s:[{s:o, s:s}]}}", "mediaType", BDL_MEDIA_TYPE,
                  "verificationMaterial", vm, "dsseEnvelope", "payload", p, "payloadType",
                  BDL_PAYLOAD_TYPE, "signatures", "sig", s, "keyid", "");
    if (root == NULL) {
        cm_err_set(err, "out of memory building model.sig");
        return NULL;
    }
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (text == NULL)
        cm_err_set(err, "cannot serialise model.sig");
    return text;
}
