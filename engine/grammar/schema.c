/*
 * engine/grammar/schema.c -- a JSON schema (parsed with jansson) compiled
 * into grammar nodes (grammar_impl.h).
 *
 * Supported: type (one or a list), properties / required /
 * additionalProperties (false, true or a schema), items / minItems /
 * maxItems, enum, const, minLength / maxLength, format (date, date-time,
 * email, uuid), minimum / maximum / exclusiveMinimum / exclusiveMaximum,
 * anyOf / oneOf (branches that exclude each other), $ref to "#", "#/$defs/NAME" or "#/definitions/NAME", and
 * the annotations (title, description, default, examples, ...). Anything
 * else is refused, naming the keyword and where it is.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/grammar/grammar_impl.h"

#define MAX_PROPS 512
#define MAX_ENUM 4096
#define MAX_NODES 100000
#define UNBOUNDED_DIGITS 15

typedef struct def_slot {
    const char *name;   /* NULL: the root ("#") */
    uint32_t node;
} def_slot;

typedef struct compiler {
    gm_grammar *g;
    json_t *root;
    def_slot *defs;
    size_t n_defs, cap_defs;
    char *keyword;
    size_t keyword_cap;
    cm_err *err;
    int depth;
} compiler;

/* ---- growing arrays ---- */

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static uint32_t new_node(compiler *c, gm_gkind kind)
{
    gm_grammar *g = c->g;
    if (g->n_nodes >= MAX_NODES) {
        cm_err_set(c->err, "JSON schema is too large (more than %d parts)", MAX_NODES);
        return GM_G_NONE;
    }
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(gm_gnode)) < 0) {
        cm_err_set(c->err, "JSON schema: out of memory");
        return GM_G_NONE;
    }
    gm_gnode *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->items = n->root = GM_G_NONE;
    n->max_items = UINT32_MAX;
    n->max_len = UINT32_MAX;
    return g->n_nodes++;
}

static int push_u32(compiler *c, uint32_t v)
{
    gm_grammar *g = c->g;
    if (grow((void **)&g->u32, &g->cap_u32, g->n_u32 + 1, sizeof(uint32_t)) < 0)
        return cm_err_set(c->err, "JSON schema: out of memory");
    g->u32[g->n_u32++] = v;
    return 0;
}

/* ---- tries ---- */

static uint32_t trie_new(compiler *c)
{
    gm_grammar *g = c->g;
    if (grow((void **)&g->trie, &g->cap_trie, g->n_trie + 1, sizeof(gm_gtrie)) < 0) {
        cm_err_set(c->err, "JSON schema: out of memory");
        return GM_G_NONE;
    }
    g->trie[g->n_trie] = (gm_gtrie){GM_G_NONE, GM_G_NONE, -1, 0};
    return g->n_trie++;
}

/* Add text to the trie at root with value v (the first value kept when a
 * text comes twice). */
static int trie_add(compiler *c, uint32_t root, const char *s, size_t len, int32_t v)
{
    uint32_t at = root;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        uint32_t ch = c->g->trie[at].child, prev = GM_G_NONE;
        while (ch != GM_G_NONE && c->g->trie[ch].byte != b) {
            prev = ch;
            ch = c->g->trie[ch].sibling;
        }
        if (ch == GM_G_NONE) {
            ch = trie_new(c);
            if (ch == GM_G_NONE)
                return -1;
            c->g->trie[ch].byte = b;
            if (prev == GM_G_NONE)
                c->g->trie[at].child = ch;
            else
                c->g->trie[prev].sibling = ch;
        }
        at = ch;
    }
    if (c->g->trie[at].value < 0)
        c->g->trie[at].value = v;
    return 0;
}

/* ---- errors ---- */

static int unsupported(compiler *c, const char *kw, const char *path)
{
    if (c->keyword && c->keyword_cap)
        snprintf(c->keyword, c->keyword_cap, "%s", kw);
    return cm_err_set(c->err, "unsupported JSON schema keyword '%s' at %s", kw, path);
}

static int invalid(compiler *c, const char *kw, const char *path, const char *what)
{
    if (c->keyword && c->keyword_cap)
        snprintf(c->keyword, c->keyword_cap, "%s", kw);
    return cm_err_set(c->err, "JSON schema: '%s' at %s %s", kw, path, what);
}

static const char *const annotations[] = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment",
    "$defs", "definitions", "readOnly", "writeOnly", "deprecated", "strict", NULL};

static const char *const handled[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems",
    "maxItems", "enum", "const", "minLength", "maxLength", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "$ref", NULL};

static bool in_list(const char *const *list, const char *k)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], k) == 0)
            return true;
    return false;
}

static uint32_t compile(compiler *c, json_t *s, const char *path);

/* ---- literals ---- */

static uint32_t literal_node(compiler *c, json_t **values, size_t n, const char *path)
{
    uint32_t id = new_node(c, GK_LITERAL);
    if (id == GM_G_NONE)
        return id;
    uint32_t root = trie_new(c);
    if (root == GM_G_NONE)
        return root;
    c->g->nodes[id].root = root;
    for (size_t i = 0; i < n; i++) {
        if (c->g->gemma && json_is_string(values[i])) { /* <|"|>raw text<|"|> */
            size_t sl = json_string_length(values[i]);
            char *lit = malloc(sl + 2 * GM_GEMMA_QUOTE_LEN);
            if (!lit) {
                cm_err_set(c->err, "JSON schema: out of memory");
                return GM_G_NONE;
            }
            memcpy(lit, GM_GEMMA_QUOTE, GM_GEMMA_QUOTE_LEN);
            memcpy(lit + GM_GEMMA_QUOTE_LEN, json_string_value(values[i]), sl);
            memcpy(lit + GM_GEMMA_QUOTE_LEN + sl, GM_GEMMA_QUOTE, GM_GEMMA_QUOTE_LEN);
            int rc = trie_add(c, root, lit, sl + 2 * GM_GEMMA_QUOTE_LEN, 0);
            free(lit);
            if (rc < 0)
                return GM_G_NONE;
            continue;
        }
        char *txt = json_dumps(values[i], JSON_COMPACT | JSON_ENCODE_ANY);
        if (!txt) {
            cm_err_set(c->err, "JSON schema: cannot encode a value of 'enum' at %s", path);
            return GM_G_NONE;
        }
        int rc = trie_add(c, root, txt, strlen(txt), 0);
        free(txt);
        if (rc < 0)
            return GM_G_NONE;
    }
    return id;
}

static bool value_has_type(json_t *v, const char *t)
{
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    return false;
}

/* The values of enum (or const) that the type allows. */
static uint32_t compile_enum(compiler *c, json_t *s, const char *path)
{
    json_t *en = json_object_get(s, "enum");
    json_t *cst = json_object_get(s, "const");
    json_t *type = json_object_get(s, "type");
    json_t *list[MAX_ENUM];
    size_t n = 0;
    if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0)
            return invalid(c, "enum", path, "must be a non-empty array"), GM_G_NONE;
        if (json_array_size(en) > MAX_ENUM)
            return invalid(c, "enum", path, "has too many values"), GM_G_NONE;
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v) list[n++] = v;
    } else {
        list[n++] = cst;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = true;
        if (en && cst)
            keep = json_equal(list[i], cst);
        if (keep && json_is_string(type))
            keep = value_has_type(list[i], json_string_value(type));
        else if (keep && json_is_array(type)) {
            size_t j;
            json_t *t;
            keep = false;
            json_array_foreach(type, j, t) if (json_is_string(t) &&
                                               value_has_type(list[i], json_string_value(t)))
                keep = true;
        }
        if (keep)
            list[k++] = list[i];
    }
    if (k == 0)
        return invalid(c, en ? "enum" : "const", path, "allows no value of the given type"),
               GM_G_NONE;
    return literal_node(c, list, k, path);
}

static uint32_t words_node(compiler *c, const char *const *words)
{
    uint32_t id = new_node(c, GK_LITERAL);
    if (id == GM_G_NONE)
        return id;
    uint32_t root = trie_new(c);
    if (root == GM_G_NONE)
        return root;
    c->g->nodes[id].root = root;
    for (size_t i = 0; words[i]; i++)
        if (trie_add(c, root, words[i], strlen(words[i]), 0) < 0)
            return GM_G_NONE;
    return id;
}

/* ---- scalars ---- */

static int get_count(compiler *c, json_t *s, const char *kw, const char *path, uint32_t *out)
{
    json_t *v = json_object_get(s, kw);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
        return invalid(c, kw, path, "must be an integer from 0 to 1000000");
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static uint32_t compile_string(compiler *c, json_t *s, const char *path)
{
    uint32_t id = new_node(c, GK_STRING);
    if (id == GM_G_NONE)
        return id;
    uint32_t mn = 0, mx = UINT32_MAX;
    if (get_count(c, s, "minLength", path, &mn) < 0 || get_count(c, s, "maxLength", path, &mx) < 0)
        return GM_G_NONE;
    if (mn > mx)
        return invalid(c, "minLength", path, "is above maxLength"), GM_G_NONE;
    gm_gformat f = GF_NONE;
    json_t *fmt = json_object_get(s, "format");
    if (fmt) {
        const char *fs = json_string_value(fmt);
        if (!fs)
            return invalid(c, "format", path, "must be a string"), GM_G_NONE;
        if (strcmp(fs, "date") == 0)
            f = GF_DATE;
        else if (strcmp(fs, "date-time") == 0)
            f = GF_DATE_TIME;
        else if (strcmp(fs, "email") == 0)
            f = GF_EMAIL;
        else if (strcmp(fs, "uuid") == 0)
            f = GF_UUID;
        else {
            if (c->keyword && c->keyword_cap)
                snprintf(c->keyword, c->keyword_cap, "format");
            cm_err_set(c->err, "unsupported JSON schema format '%.64s' at %s (supported: date, "
                       "date-time, email, uuid)", fs, path);
            return GM_G_NONE;
        }
    }
    /* a format whose shortest value is longer than maxLength, or whose
     * fixed length is shorter than minLength, could never be finished */
    static const uint32_t shortest[] = {[GF_NONE] = 0, [GF_DATE] = 10, [GF_DATE_TIME] = 20,
                                        [GF_EMAIL] = 5, [GF_UUID] = 36};
    if (mx < shortest[f])
        return invalid(c, "maxLength", path, "is shorter than any value of the format"),
               GM_G_NONE;
    static const uint32_t longest[] = {[GF_NONE] = UINT32_MAX, [GF_DATE] = 10,
                                       [GF_DATE_TIME] = 32, [GF_EMAIL] = UINT32_MAX,
                                       [GF_UUID] = 36};
    if (mn > longest[f])
        return invalid(c, "minLength", path, "is longer than any value of the format"),
               GM_G_NONE;
    gm_gnode *n = &c->g->nodes[id];
    n->format = f;
    n->min_len = mn;
    n->max_len = mx;
    n->len_cap = mx != UINT32_MAX ? mx : mn;
    return id;
}

static int get_bound(compiler *c, json_t *s, const char *kw, const char *path, double *out,
                     bool *given)
{
    json_t *v = json_object_get(s, kw);
    *given = false;
    if (!v)
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return invalid(c, kw, path, "must be a number");
    *out = json_number_value(v);
    *given = true;
    return 0;
}

static uint32_t compile_number(compiler *c, json_t *s, bool integer, const char *path)
{
    double mn = 0, mx = 0, xmn = 0, xmx = 0;
    bool has_mn, has_mx, has_xmn, has_xmx;
    if (get_bound(c, s, "minimum", path, &mn, &has_mn) < 0 ||
        get_bound(c, s, "maximum", path, &mx, &has_mx) < 0 ||
        get_bound(c, s, "exclusiveMinimum", path, &xmn, &has_xmn) < 0 ||
        get_bound(c, s, "exclusiveMaximum", path, &xmx, &has_xmx) < 0)
        return GM_G_NONE;
    const double cap = integer || has_mn || has_mx || has_xmn || has_xmx ? 999999999999999999.0
                                                                         : 999999999999999.0;
    double lo_r = -cap, hi_r = cap;
    bool lo_x = false, hi_x = false;
    if (has_mn && mn > lo_r)
        lo_r = mn;
    if (has_xmn && xmn >= lo_r) {
        lo_r = xmn;
        lo_x = true;
    }
    if (has_mx && mx < hi_r)
        hi_r = mx;
    if (has_xmx && xmx <= hi_r) {
        hi_r = xmx;
        hi_x = true;
    }
    if (lo_r < -cap)
        lo_r = -cap;
    if (hi_r > cap)
        hi_r = cap;
    /* the integers in range */
    double lo_i = lo_x ? floor(lo_r) + 1 : ceil(lo_r);
    double hi_i = hi_x ? ceil(hi_r) - 1 : floor(hi_r);
    if (!(has_mn || has_mx || has_xmn || has_xmx)) {
        lo_i = -cap;
        hi_i = cap;
    }
    if (lo_i > hi_i)
        return invalid(c, has_mx ? "maximum" : "exclusiveMaximum", path,
                       "leaves no whole number in range (gemmad needs one)"), GM_G_NONE;
    uint32_t id = new_node(c, GK_NUMBER);
    if (id == GM_G_NONE)
        return id;
    gm_gnode *n = &c->g->nodes[id];
    n->integer = integer;
    n->lo = (int64_t)lo_i;
    n->hi = (int64_t)hi_i;
    n->min = lo_r;
    n->max = hi_r;
    n->min_excl = lo_x;
    n->max_excl = hi_x;
    return id;
}

/* ---- containers ---- */

static uint32_t compile_array(compiler *c, json_t *s, const char *path)
{
    uint32_t mn = 0, mx = UINT32_MAX;
    if (get_count(c, s, "minItems", path, &mn) < 0 || get_count(c, s, "maxItems", path, &mx) < 0)
        return GM_G_NONE;
    if (mn > mx)
        return invalid(c, "minItems", path, "is above maxItems"), GM_G_NONE;
    json_t *items = json_object_get(s, "items");
    uint32_t it;
    if (items) {
        if (!json_is_object(items) && !json_is_boolean(items))
            return invalid(c, "items", path, "must be a schema"), GM_G_NONE;
        char sub[256];
        snprintf(sub, sizeof(sub), "%.200s/items", path);
        it = compile(c, items, sub);
        if (it == GM_G_NONE)
            return it;
    } else {
        it = c->g->any;
    }
    uint32_t id = new_node(c, GK_ARRAY);
    if (id == GM_G_NONE)
        return id;
    gm_gnode *n = &c->g->nodes[id];
    n->items = it;
    n->min_items = mn;
    n->max_items = mx;
    return id;
}

static int push_req(compiler *c, bool v)
{
    gm_grammar *g = c->g;
    if (grow((void **)&g->req_from, &g->cap_req, g->n_req + 1, sizeof(bool)) < 0)
        return cm_err_set(c->err, "JSON schema: out of memory");
    g->req_from[g->n_req++] = v;
    return 0;
}

static uint32_t compile_object(compiler *c, json_t *s, const char *path)
{
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return invalid(c, "properties", path, "must be an object"), GM_G_NONE;
    if (req && !json_is_array(req))
        return invalid(c, "required", path, "must be an array of names"), GM_G_NONE;
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return invalid(c, "additionalProperties", path, "must be a boolean or a schema"),
               GM_G_NONE;
    size_t np = props ? json_object_size(props) : 0;
    if (np > MAX_PROPS)
        return invalid(c, "properties", path, "has too many properties"), GM_G_NONE;
    size_t i;
    json_t *r;
    if (req)
        json_array_foreach(req, i, r) {
            if (!json_is_string(r))
                return invalid(c, "required", path, "must be an array of names"), GM_G_NONE;
            if (!props || !json_object_get(props, json_string_value(r))) {
                if (c->keyword && c->keyword_cap)
                    snprintf(c->keyword, c->keyword_cap, "required");
                cm_err_set(c->err, "JSON schema: required property '%.64s' at %s is not "
                           "in 'properties'", json_string_value(r), path);
                return GM_G_NONE;
            }
        }
    if (np == 0) {
        if (json_is_false(addl)) /* only {} */
            return words_node(c, (const char *const[]){"{}", NULL});
        uint32_t vals = c->g->any;
        if (json_is_object(addl)) {
            char sub[256];
            snprintf(sub, sizeof(sub), "%.200s/additionalProperties", path);
            vals = compile(c, addl, sub);
            if (vals == GM_G_NONE)
                return vals;
        }
        if (c->g->gemma)
            return invalid(c, "additionalProperties", path, "(an object with free keys) is "
                           "not supported in tool arguments"), GM_G_NONE;
        if (vals == c->g->any)
            return c->g->any_map;
        uint32_t id = new_node(c, GK_MAP);
        if (id != GM_G_NONE)
            c->g->nodes[id].items = vals;
        return id;
    }
    /* properties, in the order the schema lists them */
    uint32_t values[MAX_PROPS];
    bool required[MAX_PROPS];
    const char *names[MAX_PROPS];
    size_t k = 0;
    const char *key;
    json_t *ps;
    json_object_foreach(props, key, ps) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%.160s/properties/%.64s", path, key);
        uint32_t v = compile(c, ps, sub);
        if (v == GM_G_NONE)
            return v;
        names[k] = key;
        values[k] = v;
        required[k] = false;
        if (req)
            json_array_foreach(req, i, r) if (strcmp(json_string_value(r), key) == 0)
                required[k] = true;
        k++;
    }
    gm_grammar *g = c->g;
    if (grow((void **)&g->props, &g->cap_props, g->n_props + (uint32_t)k, sizeof(gm_gprop)) < 0)
        return cm_err_set(c->err, "JSON schema: out of memory"), GM_G_NONE;
    uint32_t first = g->n_props;
    for (size_t j = 0; j < k; j++)
        g->props[g->n_props++] = (gm_gprop){values[j], required[j]};
    /* key tries: from each starting index, the keys that may come next
     * (up to and including the first required one), each as "name": */
    uint32_t first_root = g->n_u32;
    uint32_t first_req = g->n_req;
    for (size_t from = 0; from <= k; from++) {
        bool any_req = false;
        for (size_t j = from; j < k; j++)
            any_req |= required[j];
        if (push_req(c, any_req) < 0)
            return GM_G_NONE;
        if (from == k) {
            if (push_u32(c, GM_G_NONE) < 0)
                return GM_G_NONE;
            continue;
        }
        uint32_t root = trie_new(c);
        if (root == GM_G_NONE || push_u32(c, root) < 0)
            return GM_G_NONE;
        for (size_t j = from; j < k; j++) {
            json_t *name = json_string(names[j]);
            char *txt = NULL;
            if (c->g->gemma) /* bare: name: */
                txt = name ? strdup(names[j]) : NULL;
            else
                txt = name ? json_dumps(name, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            json_decref(name);
            if (!txt)
                return cm_err_set(c->err, "JSON schema: out of memory"), GM_G_NONE;
            size_t tl = strlen(txt);
            char *lit = malloc(tl + 2);
            if (!lit) {
                free(txt);
                return cm_err_set(c->err, "JSON schema: out of memory"), GM_G_NONE;
            }
            memcpy(lit, txt, tl);
            lit[tl] = ':';
            int rc = trie_add(c, root, lit, tl + 1, (int32_t)j);
            free(lit);
            free(txt);
            if (rc < 0)
                return GM_G_NONE;
            if (required[j])
                break;
        }
    }
    uint32_t id = new_node(c, GK_OBJECT);
    if (id == GM_G_NONE)
        return id;
    gm_gnode *n = &g->nodes[id];
    n->first = first;
    n->n = (uint32_t)k;
    n->first_root = first_root;
    n->min_items = first_req; /* req_from[first_req + i] */
    return id;
}

/* ---- references ---- */

static uint32_t compile_ref(compiler *c, const char *ref, const char *path)
{
    const char *name = NULL;
    json_t *target = NULL;
    if (strcmp(ref, "#") == 0) {
        target = c->root;
    } else {
        const char *defs_key = NULL;
        if (strncmp(ref, "#/$defs/", 8) == 0) {
            defs_key = "$defs";
            name = ref + 8;
        } else if (strncmp(ref, "#/definitions/", 14) == 0) {
            defs_key = "definitions";
            name = ref + 14;
        }
        json_t *defs = defs_key ? json_object_get(c->root, defs_key) : NULL;
        target = name && !strchr(name, '/') && !strchr(name, '~') ? json_object_get(defs, name)
                                                                  : NULL;
        if (!target) {
            if (c->keyword && c->keyword_cap)
                snprintf(c->keyword, c->keyword_cap, "$ref");
            cm_err_set(c->err, "JSON schema: '$ref' at %s: '%.100s' is not a local "
                       "definition (#/$defs/NAME)", path, ref);
            return GM_G_NONE;
        }
    }
    for (size_t i = 0; i < c->n_defs; i++)
        if ((name == NULL) == (c->defs[i].name == NULL) &&
            (name == NULL || strcmp(name, c->defs[i].name) == 0))
            return c->defs[i].node;
    /* A placeholder (anyOf of one) that recursion may point to at once. */
    uint32_t id = new_node(c, GK_ANYOF);
    if (id == GM_G_NONE)
        return id;
    if (c->n_defs == c->cap_defs) {
        size_t nc = c->cap_defs ? c->cap_defs * 2 : 8;
        def_slot *d = realloc(c->defs, nc * sizeof(*d));
        if (!d)
            return cm_err_set(c->err, "JSON schema: out of memory"), GM_G_NONE;
        c->defs = d;
        c->cap_defs = nc;
    }
    c->defs[c->n_defs++] = (def_slot){name, id};
    char sub[256];
    snprintf(sub, sizeof(sub), "%.250s", ref);
    uint32_t body = compile(c, target, sub);
    if (body == GM_G_NONE)
        return body;
    if (body == id)
        return invalid(c, "$ref", path, "refers to itself only"), GM_G_NONE;
    c->g->nodes[id].first = c->g->n_u32;
    c->g->nodes[id].n = 1;
    if (push_u32(c, body) < 0)
        return GM_G_NONE;
    return id;
}

/* ---- one schema ---- */

static uint32_t compile_type(compiler *c, json_t *s, const char *t, const char *path)
{
    if (strcmp(t, "string") == 0)
        return compile_string(c, s, path);
    if (strcmp(t, "integer") == 0)
        return compile_number(c, s, true, path);
    if (strcmp(t, "number") == 0)
        return compile_number(c, s, false, path);
    if (strcmp(t, "boolean") == 0)
        return words_node(c, (const char *const[]){"true", "false", NULL});
    if (strcmp(t, "null") == 0)
        return words_node(c, (const char *const[]){"null", NULL});
    if (strcmp(t, "object") == 0)
        return compile_object(c, s, path);
    if (strcmp(t, "array") == 0)
        return compile_array(c, s, path);
    invalid(c, "type", path, "names an unknown type");
    return GM_G_NONE;
}

static uint32_t compile_alts(compiler *c, json_t *alts, const char *kw, const char *path)
{
    if (!json_is_array(alts) || json_array_size(alts) == 0 || json_array_size(alts) > 64)
        return invalid(c, kw, path, "must be an array of 1 to 64 schemas"), GM_G_NONE;
    uint32_t ids[64];
    size_t i;
    json_t *a;
    json_array_foreach(alts, i, a) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%.200s/%s/%zu", path, kw, i);
        ids[i] = compile(c, a, sub);
        if (ids[i] == GM_G_NONE)
            return GM_G_NONE;
    }
    uint32_t id = new_node(c, GK_ANYOF);
    if (id == GM_G_NONE)
        return id;
    c->g->nodes[id].first = c->g->n_u32;
    c->g->nodes[id].n = (uint32_t)json_array_size(alts);
    for (size_t j = 0; j < json_array_size(alts); j++)
        if (push_u32(c, ids[j]) < 0)
            return GM_G_NONE;
    return id;
}

/* ---- oneOf: the branches must exclude each other ----
 *
 * The grammar lets the model follow any branch of a oneOf, so a value it
 * writes must not match two branches. That is checked here on the schemas
 * themselves, soundly but not completely: two branches are accepted as
 * exclusive when
 *   - no JSON type one branch may write is a type the other accepts, or
 *   - both are enum/const with no value in common, or
 *   - both write only objects and some property is required by both with
 *     const/enum values that have none in common (a discriminator).
 * Any other oneOf is refused. */

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_NUM = 32, T_ALL = 63 };

/* Follow $ref (local only); NULL when it does not resolve. */
static json_t *resolve(compiler *c, json_t *s)
{
    for (int i = 0; i < 32 && json_is_object(s); i++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        if (!ref)
            return s;
        if (strcmp(ref, "#") == 0) {
            s = c->root;
        } else if (strncmp(ref, "#/$defs/", 8) == 0) {
            s = json_object_get(json_object_get(c->root, "$defs"), ref + 8);
        } else if (strncmp(ref, "#/definitions/", 14) == 0) {
            s = json_object_get(json_object_get(c->root, "definitions"), ref + 14);
        } else {
            return NULL;
        }
    }
    return json_is_object(s) || json_is_boolean(s) ? s : NULL;
}

static unsigned value_type(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_OBJECT: return T_OBJ;
    case JSON_ARRAY: return T_ARR;
    case JSON_STRING: return T_STR;
    default: return T_NUM;
    }
}

static unsigned type_name_bits(const char *t)
{
    if (!t)
        return T_ALL;
    if (strcmp(t, "null") == 0)
        return T_NULL;
    if (strcmp(t, "boolean") == 0)
        return T_BOOL;
    if (strcmp(t, "object") == 0)
        return T_OBJ;
    if (strcmp(t, "array") == 0)
        return T_ARR;
    if (strcmp(t, "string") == 0)
        return T_STR;
    if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0)
        return T_NUM; /* integers are numbers: never told apart here */
    return T_ALL;
}

static unsigned type_bits(json_t *type)
{
    if (json_is_string(type))
        return type_name_bits(json_string_value(type));
    if (!json_is_array(type))
        return T_ALL;
    unsigned b = 0;
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t) b |= type_name_bits(json_string_value(t));
    return b;
}

/* The values of enum or const (as a list in *vals, *n); false if neither. */
static bool literal_values(json_t *s, json_t ***vals, size_t *n, json_t **one)
{
    json_t *en = json_object_get(s, "enum"), *cst = json_object_get(s, "const");
    if (cst) {
        *one = cst;
        *vals = one;
        *n = 1;
        return true;
    }
    if (json_is_array(en)) {
        *n = json_array_size(en);
        *vals = NULL;
        return true;
    }
    return false;
}

static json_t *literal_at(json_t *s, json_t **vals, size_t i)
{
    return vals ? vals[i] : json_array_get(json_object_get(s, "enum"), i);
}

/* The types of the values a schema accepts (accepted) or the grammar may
 * write for it (written: as compile() reads a schema without "type"). */
static unsigned schema_types(compiler *c, json_t *s, bool written, int depth)
{
    s = resolve(c, s);
    if (!s || depth > 16 || json_is_true(s))
        return T_ALL;
    if (json_is_false(s))
        return 0;
    unsigned b = type_bits(json_object_get(s, "type"));
    json_t **vals, *one;
    size_t n;
    if (literal_values(s, &vals, &n, &one)) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++)
            v |= value_type(literal_at(s, vals, i));
        b &= v;
    }
    const char *alts_kw[] = {"anyOf", "oneOf"};
    for (int k = 0; k < 2; k++) {
        json_t *alts = json_object_get(s, alts_kw[k]);
        if (!json_is_array(alts))
            continue;
        unsigned u = 0;
        size_t i;
        json_t *a;
        json_array_foreach(alts, i, a) u |= schema_types(c, a, written, depth + 1);
        b &= u;
    }
    if (written && !json_object_get(s, "type") && !json_object_get(s, "enum") &&
        !json_object_get(s, "const") && !json_object_get(s, "anyOf") &&
        !json_object_get(s, "oneOf")) {
        if (json_object_get(s, "properties") || json_object_get(s, "required") ||
            json_object_get(s, "additionalProperties"))
            b &= T_OBJ;
        else if (json_object_get(s, "items") || json_object_get(s, "minItems") ||
                 json_object_get(s, "maxItems"))
            b &= T_ARR;
        else if (json_object_get(s, "format") || json_object_get(s, "maxLength") ||
                 json_object_get(s, "minLength"))
            b &= T_STR;
        else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
                 json_object_get(s, "exclusiveMinimum") ||
                 json_object_get(s, "exclusiveMaximum"))
            b &= T_NUM;
    }
    return b;
}

/* Equal as JSON schema values (1 and 1.0 are the same number). */
static bool same_value(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_value(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !same_value(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* Both schemas are enum/const and share no value. */
static bool literals_disjoint(json_t *a, json_t *b)
{
    json_t **va, **vb, *oa, *ob;
    size_t na, nb;
    if (!a || !b || !json_is_object(a) || !json_is_object(b) ||
        !literal_values(a, &va, &na, &oa) || !literal_values(b, &vb, &nb, &ob))
        return false;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (same_value(literal_at(a, va, i), literal_at(b, vb, j)))
                return false;
    return true;
}

static bool requires_name(json_t *s, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(s, "required"), i, r) if (json_is_string(r) &&
                                                                 strcmp(json_string_value(r),
                                                                        name) == 0) return true;
    return false;
}

static bool branches_exclusive(compiler *c, json_t *a, json_t *b)
{
    unsigned wa = schema_types(c, a, true, 0), wb = schema_types(c, b, true, 0);
    unsigned aa = schema_types(c, a, false, 0), ab = schema_types(c, b, false, 0);
    if ((wa & ab) == 0 && (wb & aa) == 0)
        return true;
    json_t *ra = resolve(c, a), *rb = resolve(c, b);
    if (!json_is_object(ra) || !json_is_object(rb))
        return false;
    if (literals_disjoint(ra, rb))
        return true;
    if ((wa & ~(unsigned)T_OBJ) || (wb & ~(unsigned)T_OBJ))
        return false;
    json_t *pa = json_object_get(ra, "properties"), *pb = json_object_get(rb, "properties");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(ra, "required"), i, r) {
        const char *name = json_string_value(r);
        if (!name || !requires_name(rb, name))
            continue;
        if (literals_disjoint(resolve(c, json_object_get(pa, name)),
                              resolve(c, json_object_get(pb, name))))
            return true;
    }
    return false;
}

static int check_one_of(compiler *c, json_t *alts, const char *path)
{
    size_t n = json_array_size(alts);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!branches_exclusive(c, json_array_get(alts, i), json_array_get(alts, j))) {
                if (c->keyword && c->keyword_cap)
                    snprintf(c->keyword, c->keyword_cap, "oneOf");
                return cm_err_set(c->err,
                                  "unsupported JSON schema keyword 'oneOf' at %s: branches %zu "
                                  "and %zu might both match a value (oneOf branches must be "
                                  "distinguishable by type or by a required const/enum "
                                  "property; use anyOf if either may match)",
                                  path, i, j);
            }
    return 0;
}

static uint32_t compile(compiler *c, json_t *s, const char *path)
{
    if (json_is_true(s))
        return c->g->any;
    if (json_is_false(s))
        return invalid(c, "false", path, "allows no value"), GM_G_NONE;
    if (!json_is_object(s))
        return cm_err_set(c->err, "JSON schema: %s is not a schema (an object)", path),
               GM_G_NONE;
    if (++c->depth > 64) {
        c->depth--;
        return cm_err_set(c->err, "JSON schema: nested more than 64 deep at %s", path),
               GM_G_NONE;
    }
    uint32_t id = GM_G_NONE;
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (!in_list(handled, key) && !in_list(annotations, key)) {
            unsupported(c, key, path);
            goto out;
        }
    }
    json_t *ref = json_object_get(s, "$ref");
    json_t *any = json_object_get(s, "anyOf");
    json_t *one = json_object_get(s, "oneOf");
    json_t *type = json_object_get(s, "type");
    size_t n_parts = (ref != NULL) + (any != NULL) + (one != NULL);
    if (n_parts > 1 || (n_parts == 1 && (type || json_object_get(s, "properties") ||
                                         json_object_get(s, "enum") ||
                                         json_object_get(s, "const")))) {
        invalid(c, ref ? "$ref" : any ? "anyOf" : "oneOf", path,
                "cannot be combined with other constraints here (put them inside)");
        goto out;
    }
    if (ref) {
        if (!json_is_string(ref)) {
            invalid(c, "$ref", path, "must be a string");
            goto out;
        }
        id = compile_ref(c, json_string_value(ref), path);
    } else if (any) {
        id = compile_alts(c, any, "anyOf", path);
    } else if (one) {
        if (json_is_array(one) && check_one_of(c, one, path) < 0)
            goto out;
        id = compile_alts(c, one, "oneOf", path);
    } else if (json_object_get(s, "enum") || json_object_get(s, "const")) {
        id = compile_enum(c, s, path);
    } else if (json_is_string(type)) {
        id = compile_type(c, s, json_string_value(type), path);
    } else if (json_is_array(type)) {
        size_t nt = json_array_size(type);
        if (nt == 0 || nt > 7) {
            invalid(c, "type", path, "must name 1 to 7 types");
            goto out;
        }
        uint32_t ids[7];
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) {
            if (!json_is_string(t)) {
                invalid(c, "type", path, "must hold type names");
                goto out;
            }
            ids[i] = compile_type(c, s, json_string_value(t), path);
            if (ids[i] == GM_G_NONE)
                goto out;
        }
        id = new_node(c, GK_ANYOF);
        if (id == GM_G_NONE)
            goto out;
        c->g->nodes[id].first = c->g->n_u32;
        c->g->nodes[id].n = (uint32_t)nt;
        for (size_t j = 0; j < nt; j++)
            if (push_u32(c, ids[j]) < 0) {
                id = GM_G_NONE;
                goto out;
            }
    } else if (type) {
        invalid(c, "type", path, "must be a type name or a list of them");
    } else if (json_object_get(s, "properties") || json_object_get(s, "required") ||
               json_object_get(s, "additionalProperties")) {
        id = compile_object(c, s, path);
    } else if (json_object_get(s, "items") || json_object_get(s, "minItems") ||
               json_object_get(s, "maxItems")) {
        id = compile_array(c, s, path);
    } else if (json_object_get(s, "format") || json_object_get(s, "maxLength") ||
               json_object_get(s, "minLength")) {
        id = compile_string(c, s, path);
    } else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
               json_object_get(s, "exclusiveMinimum") ||
               json_object_get(s, "exclusiveMaximum")) {
        id = compile_number(c, s, false, path);
    } else {
        id = c->g->any;
    }
out:
    c->depth--;
    return id;
}

/* ---- the grammar ---- */

/* The nodes for "any JSON value", which every grammar has. */
static int add_any_nodes(compiler *c)
{
    gm_grammar *g = c->g;
    g->any = new_node(c, GK_ANY);
    g->any_string = new_node(c, GK_STRING);
    g->any_number = new_node(c, GK_NUMBER);
    g->any_map = new_node(c, GK_MAP);
    g->any_array = new_node(c, GK_ARRAY);
    if (g->any_array == GM_G_NONE)
        return -1;
    g->any_words = words_node(c, (const char *const[]){"true", "false", "null", NULL});
    if (g->any_words == GM_G_NONE)
        return -1;
    g->nodes[g->any_number].lo = -999999999999999LL;
    g->nodes[g->any_number].hi = 999999999999999LL;
    g->nodes[g->any_number].min = -999999999999999.0;
    g->nodes[g->any_number].max = 999999999999999.0;
    g->nodes[g->any_map].items = g->any;
    g->nodes[g->any_array].items = g->any;
    if (g->gemma) {
        /* any value but objects with free keys: string, number, words,
         * arrays of those */
        g->nodes[g->any].kind = GK_ANYOF;
        g->nodes[g->any].first = g->n_u32;
        g->nodes[g->any].n = 4;
        if (push_u32(c, g->any_string) < 0 || push_u32(c, g->any_number) < 0 ||
            push_u32(c, g->any_words) < 0 || push_u32(c, g->any_array) < 0)
            return -1;
    }
    return 0;
}

static gm_grammar *grammar_new(compiler *c, bool gemma)
{
    gm_grammar *g = calloc(1, sizeof(*g));
    if (!g) {
        cm_err_set(c->err, "JSON schema: out of memory");
        return NULL;
    }
    g->gemma = gemma;
    c->g = g;
    if (add_any_nodes(c) < 0) {
        gm_grammar_free(g);
        return NULL;
    }
    return g;
}

/* ---- depth: what a value needs to be completed ----
 *
 * need[node]: the fewest frames on a stack that a value of node needs to
 * be completed: 1 for a scalar, 1 + the deepest required part for an
 * object, 1 + the items for an array with minItems, the least of the
 * alternatives for anyOf. Computed by rounds until nothing changes (a
 * recursive $ref converges: a value above the cap counts as the cap). */
static uint8_t need_of(const gm_grammar *g, const gm_gnode *n)
{
    const uint8_t *need = g->need;
    unsigned v = 1;
    switch (n->kind) {
    case GK_ANY:
    case GK_MAP:
    case GK_STRING:
    case GK_NUMBER:
    case GK_LITERAL:
        return 1;
    case GK_ARRAY:
        v = n->min_items == 0 ? 1u : 1u + need[n->items];
        break;
    case GK_OBJECT:
        for (uint32_t i = 0; i < n->n; i++)
            if (g->props[n->first + i].required && 1u + need[g->props[n->first + i].value] > v)
                v = 1u + need[g->props[n->first + i].value];
        break;
    case GK_ANYOF:
        v = GM_G_NEED_NEVER;
        for (uint32_t i = 0; i < n->n; i++)
            if (need[g->u32[n->first + i]] < v)
                v = need[g->u32[n->first + i]];
        break;
    case GK_SEQ:
        for (uint32_t i = 0; i < n->n; i++) {
            unsigned part = need[g->u32[n->first + i]] + (i + 1 < n->n ? 1u : 0u);
            if (part > v)
                v = part;
        }
        break;
    }
    if (v >= GM_G_NEED_NEVER)
        return GM_G_NEED_NEVER;
    return (uint8_t)(v > GM_G_MAX_DEPTH + 1 ? GM_G_MAX_DEPTH + 1 : v);
}

/* trie_need[] of the key tries of every object: walked in preorder from
 * each root, then in reverse so that children come before parents. */
static int key_needs(gm_grammar *g)
{
    g->trie_need = malloc(g->n_trie ? g->n_trie : 1);
    uint32_t *order = malloc((g->n_trie ? g->n_trie : 1) * sizeof(uint32_t));
    uint32_t *todo = malloc((g->n_trie ? g->n_trie : 1) * sizeof(uint32_t));
    if (!g->trie_need || !order || !todo) {
        free(order);
        free(todo);
        return -1;
    }
    memset(g->trie_need, 1, g->n_trie);
    for (uint32_t id = 0; id < g->n_nodes; id++) {
        const gm_gnode *n = &g->nodes[id];
        if (n->kind != GK_OBJECT)
            continue;
        for (uint32_t r = 0; r <= n->n; r++) {
            uint32_t root = g->u32[n->first_root + r];
            if (root == GM_G_NONE)
                continue;
            size_t n_order = 0, n_todo = 0;
            todo[n_todo++] = root;
            while (n_todo > 0 && n_order < g->n_trie) {
                uint32_t t = todo[--n_todo];
                order[n_order++] = t;
                for (uint32_t ch = g->trie[t].child; ch != GM_G_NONE; ch = g->trie[ch].sibling)
                    if (n_todo < g->n_trie)
                        todo[n_todo++] = ch;
            }
            while (n_order > 0) {
                uint32_t t = order[--n_order];
                uint8_t v = GM_G_NEED_NEVER;
                if (g->trie[t].value >= 0)
                    v = g->need[g->props[n->first + (uint32_t)g->trie[t].value].value];
                for (uint32_t ch = g->trie[t].child; ch != GM_G_NONE; ch = g->trie[ch].sibling)
                    if (g->trie_need[ch] < v)
                        v = g->trie_need[ch];
                g->trie_need[t] = v;
            }
        }
    }
    free(order);
    free(todo);
    return 0;
}

/* Fill need[] and refuse a grammar whose root cannot be completed within
 * the nesting cap (the model could only write an unfinished value). */
static int finish_grammar(gm_grammar *g, cm_err *err)
{
    g->need = malloc(g->n_nodes ? g->n_nodes : 1);
    if (!g->need)
        return cm_err_set(err, "JSON schema: out of memory");
    memset(g->need, GM_G_NEED_NEVER, g->n_nodes);
    bool changed = true;
    for (int round = 0; changed && round < 4 * GM_G_MAX_DEPTH; round++) {
        changed = false;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            uint8_t v = need_of(g, &g->nodes[i]);
            if (v < g->need[i]) {
                g->need[i] = v;
                changed = true;
            }
        }
    }
    if (key_needs(g) < 0)
        return cm_err_set(err, "JSON schema: out of memory");
    if (g->need[g->root] == GM_G_NEED_NEVER)
        return cm_err_set(err, "JSON schema allows no finite value (a required property or "
                          "minItems leads back into itself without end)");
    if (g->need[g->root] > GM_G_MAX_DEPTH)
        return cm_err_set(err, "JSON schema: every value it allows is nested more than %d "
                          "deep, gemmad's limit", GM_G_MAX_DEPTH);
    return 0;
}

/* Finish g into *out; on an error g is freed. */
static int grammar_done(gm_grammar *g, gm_grammar **out, cm_err *err)
{
    if (finish_grammar(g, err) < 0) {
        gm_grammar_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

int gm_grammar_from_schema(const char *json, size_t len, gm_grammar **out, char *keyword,
                           size_t keyword_cap, cm_err *err)
{
    *out = NULL;
    if (keyword && keyword_cap)
        keyword[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cm_err_set(err, "JSON schema is not valid JSON: %s (line %d)", jerr.text,
                          jerr.line);
    compiler c = {.root = root, .keyword = keyword, .keyword_cap = keyword_cap, .err = err};
    gm_grammar *g = grammar_new(&c, false);
    if (!g) {
        json_decref(root);
        return -1;
    }
    /* "#" may be referred to: compile the root through the definitions. */
    uint32_t id = compile_ref(&c, "#", "#");
    free(c.defs);
    json_decref(root);
    if (id == GM_G_NONE) {
        gm_grammar_free(g);
        return -1;
    }
    g->root = id;
    return grammar_done(g, out, err);
}

int gm_grammar_json_object(gm_grammar **out, cm_err *err)
{
    *out = NULL;
    compiler c = {.err = err};
    gm_grammar *g = grammar_new(&c, false);
    if (!g)
        return -1;
    g->root = g->any_map;
    return grammar_done(g, out, err);
}

/* One function's call: the literal "<|tool_call>call:NAME", the
 * arguments, the literal "<tool_call|>", as a sequence node. */
static uint32_t tool_call_node(compiler *c, const char *name, const char *schema, size_t i)
{
    uint32_t args;
    char path[96];
    snprintf(path, sizeof(path), "tools[%zu].function.parameters", i);
    if (schema == NULL) {
        args = words_node(c, (const char *const[]){"{}", NULL});
    } else {
        json_error_t jerr;
        json_t *root = json_loads(schema, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            cm_err_set(c->err, "%s is not valid JSON: %s", path, jerr.text);
            return GM_G_NONE;
        }
        c->root = root;
        c->n_defs = 0;
        json_t *props = json_object_get(root, "properties");
        if (json_is_object(root) && (!props || json_object_size(props) == 0) &&
            !json_is_object(json_object_get(root, "additionalProperties")))
            args = words_node(c, (const char *const[]){"{}", NULL}); /* no parameters */
        else
            args = compile_ref(c, "#", path);
        json_decref(root);
        c->root = NULL;
        if (args == GM_G_NONE)
            return args;
    }
    size_t nl = strlen(name);
    char *head = malloc(nl + 32);
    if (!head) {
        cm_err_set(c->err, "tool call grammar: out of memory");
        return GM_G_NONE;
    }
    snprintf(head, nl + 32, "<|tool_call>call:%s", name);
    uint32_t lit_head = words_node(c, (const char *const[]){head, NULL});
    free(head);
    uint32_t lit_tail = words_node(c, (const char *const[]){"<tool_call|>", NULL});
    if (lit_head == GM_G_NONE || lit_tail == GM_G_NONE)
        return GM_G_NONE;
    uint32_t id = new_node(c, GK_SEQ);
    if (id == GM_G_NONE)
        return id;
    c->g->nodes[id].first = c->g->n_u32;
    c->g->nodes[id].n = 3;
    if (push_u32(c, lit_head) < 0 || push_u32(c, args) < 0 || push_u32(c, lit_tail) < 0)
        return GM_G_NONE;
    return id;
}

int gm_grammar_tool_call(const char *const *names, const char *const *schemas, size_t n,
                         gm_grammar **out, char *keyword, size_t keyword_cap, cm_err *err)
{
    *out = NULL;
    if (keyword && keyword_cap)
        keyword[0] = '\0';
    if (n == 0 || n > 64)
        return cm_err_set(err, "tool call grammar: 1 to 64 functions, not %zu", n);
    compiler c = {.keyword = keyword, .keyword_cap = keyword_cap, .err = err};
    gm_grammar *g = grammar_new(&c, true);
    if (!g)
        return -1;
    uint32_t calls[64];
    for (size_t i = 0; i < n; i++) {
        calls[i] = tool_call_node(&c, names[i], schemas ? schemas[i] : NULL, i);
        if (calls[i] == GM_G_NONE) {
            free(c.defs);
            gm_grammar_free(g);
            return -1;
        }
    }
    free(c.defs);
    if (n == 1) {
        g->root = calls[0];
    } else {
        uint32_t id = new_node(&c, GK_ANYOF);
        if (id == GM_G_NONE) {
            gm_grammar_free(g);
            return -1;
        }
        g->nodes[id].first = g->n_u32;
        g->nodes[id].n = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            if (push_u32(&c, calls[i]) < 0) {
                gm_grammar_free(g);
                return -1;
            }
        g->root = id;
    }
    return grammar_done(g, out, err);
}

void gm_grammar_free(gm_grammar *g)
{
    if (!g)
        return;
    free(g->nodes);
    free(g->props);
    free(g->u32);
    free(g->req_from);
    free(g->trie);
    free(g->need);
    free(g->trie_need);
    free(g);
}
