/*
 * audit/verify_set.c -- verifies the audit exports of several gemmad
 * instances (a pool behind a load balancer) as one set: each export's
 * chain and checkpoints on their own, then the exports grouped by signing
 * key (every instance has its own key, so a key names an instance) and,
 * within an instance, ordered by row: where two exports overlap they must
 * hold the same chain (the same hash after the last row they share), and
 * where one starts right after another ends (a rotation's archive, then
 * the live log) it must continue that chain. Rows between two exports of
 * an instance that neither holds are reported as a gap (a missing archive).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/read.h"

static void set_problem(au_set_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_problem(au_set_result *r, const char *fmt, ...)
{
    if (!r->ok)
        return; /* keep the first */
    r->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
    va_end(ap);
}

/* The chain hash after row `seq` of member m (seq in start_seq-1 ..
 * last_seq), walking its export again when it is not at hand. */
static int hash_after(au_set_member *m, int64_t seq, unsigned char out[AU_HASH_LEN])
{
    if (seq == m->res.start_seq - 1) {
        memcpy(out, m->res.start_prev, AU_HASH_LEN);
        return 0;
    }
    if (m->res.rows > 0 && seq == m->res.last_seq) {
        memcpy(out, m->res.head, AU_HASH_LEN);
        return 0;
    }
    au_verify_opts o = m->opts;
    o.probe_seq = seq;
    au_verify_result r;
    cm_err err;
    if (au_verify_export(m->path, &o, &r, &err) < 0 || !r.has_probe)
        return -1;
    memcpy(out, r.probe_hash, AU_HASH_LEN);
    return 0;
}

/* Last row a member holds (start_seq - 1 when it holds none). */
static int64_t last_of(const au_set_member *m)
{
    return m->res.rows > 0 ? m->res.last_seq : m->res.start_seq - 1;
}

/* Members of one instance, by start then end. */
static int cmp_member(const void *a, const void *b)
{
    const au_set_member *x = *(au_set_member *const *)a, *y = *(au_set_member *const *)b;
    if (x->res.start_seq != y->res.start_seq)
        return x->res.start_seq < y->res.start_seq ? -1 : 1;
    int64_t lx = last_of(x), ly = last_of(y);
    return lx < ly ? -1 : lx > ly;
}

/* Check the ordered exports `g` of one instance against each other. */
static void check_instance(au_set_result *out, au_set_instance *in, au_set_member **g, size_t n)
{
    qsort(g, n, sizeof(*g), cmp_member);
    /* `reach` is the member that holds the furthest row so far. */
    au_set_member *reach = g[0];
    in->first_seq = g[0]->res.start_seq;
    in->last_seq = last_of(g[0]);
    in->rows = g[0]->res.rows;
    for (size_t i = 1; i < n; i++) {
        au_set_member *b = g[i];
        int64_t reach_last = last_of(reach), b_last = last_of(b);
        if (b->res.start_seq > reach_last + 1) {
            int64_t gap = b->res.start_seq - reach_last - 1;
            in->missing += gap;
            if (out->note[0] == '\0')
                snprintf(out->note, sizeof(out->note),
                         "instance %.16s...: rows %lld..%lld are in none of the exports "
                         "(between %s and %s: an archive not given?)",
                         in->key_id, (long long)(reach_last + 1),
                         (long long)(b->res.start_seq - 1), reach->path, b->path);
        } else {
            /* They share rows start-1 .. min(last): the hash after the last
             * shared row must be the same in both. */
            int64_t shared = b_last < reach_last ? b_last : reach_last;
            unsigned char ha[AU_HASH_LEN], hb[AU_HASH_LEN];
            if (hash_after(reach, shared, ha) < 0 || hash_after(b, shared, hb) < 0)
                set_problem(out, "%s and %s: cannot read the chain at row %lld", reach->path,
                            b->path, (long long)shared);
            else if (memcmp(ha, hb, AU_HASH_LEN) != 0)
                set_problem(out, "%s and %s are signed by the same key but their chains differ "
                            "at row %lld (forked or replaced: one of them is not this "
                            "instance's log)", reach->path, b->path, (long long)shared);
        }
        if (b_last > reach_last) {
            int64_t from = b->res.start_seq > reach_last + 1 ? b->res.start_seq : reach_last + 1;
            in->rows += b_last - from + 1;
            in->last_seq = b_last;
            reach = b;
        }
    }
}

int au_verify_export_set(au_set_member *m, size_t n, au_set_result *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->ok = true;
    if (n == 0 || n > AU_SET_MAX)
        return cm_err_set(err, "verify: give 1 to %d exports", AU_SET_MAX);
    for (size_t i = 0; i < n; i++) {
        cm_err e;
        m[i].read = au_verify_export(m[i].path, &m[i].opts, &m[i].res, &e) == 0;
        if (!m[i].read) {
            snprintf(m[i].error, sizeof(m[i].error), "%s", e.msg);
            set_problem(out, "%s", e.msg);
        } else if (!m[i].res.ok) {
            set_problem(out, "%s does not verify: %s", m[i].path, m[i].res.problem);
        }
    }
    /* Group the exports that could be read by signing key. */
    for (size_t i = 0; i < n; i++) {
        if (!m[i].read)
            continue;
        size_t k = 0;
        while (k < out->n_instances &&
               (m[i].res.key_id[0] == '\0' ||
                strcmp(out->instances[k].key_id, m[i].res.key_id) != 0))
            k++;
        if (k == out->n_instances) {
            out->n_instances++;
            snprintf(out->instances[k].key_id, sizeof(out->instances[k].key_id), "%s",
                     m[i].res.key_id);
        }
        m[i].instance = k;
        out->instances[k].n_members++;
    }
    au_set_member **g = malloc(n * sizeof(*g));
    if (g == NULL)
        return cm_err_set(err, "verify: out of memory");
    for (size_t k = 0; k < out->n_instances; k++) {
        size_t gn = 0;
        for (size_t i = 0; i < n; i++)
            if (m[i].read && m[i].instance == k)
                g[gn++] = &m[i];
        check_instance(out, &out->instances[k], g, gn);
        out->rows += out->instances[k].rows;
    }
    free(g);
    return 0;
}
