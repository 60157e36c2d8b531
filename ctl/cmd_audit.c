/*
 * ctl/cmd_audit.c -- 'gemmactl audit': read (tail, query), verify, export
 * and rotate the audit log. For now it reads the database file directly
 * (--db PATH, default /var/lib/gemmad/audit.db).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/read.h"
#include "ctl/audit_fmt.h"
#include "ctl/ctl.h"

#define DEFAULT_DB "/var/lib/gemmad/audit.db"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemmactl audit tail   [--db PATH] [-n N] [FILTERS] [--format F]\n"
            "       gemmactl audit query  [--db PATH] [FILTERS] [--limit N] [--format F]\n"
            "       gemmactl audit verify [--db PATH | --file EXPORT.jsonl] [--pubkey KEY.pub]\n"
            "                             [--checkpoints FILE]\n"
            "       gemmactl audit export [--db PATH] --out FILE.jsonl\n"
            "       gemmactl audit rotate [--db PATH] --archive FILE [--key SIGNING.key]\n"
            "\n"
            "FILTERS: --since TIME --until TIME --principal DN|FINGERPRINT|SERIAL --role R\n"
            "         --model M --event E --decision allow|deny\n"
            "TIME:    2026-11-28, 2026-11-28T05:00:00Z, @EPOCH, or an age: 90s 15m 2h 7d\n"
            "F:       table (default), jsonl, csv\n"
            "verify exits 0 when the chain and every checkpoint check out, 1 otherwise,\n"
            "naming the first bad row.\n");
}

typedef struct opts {
    const char *db, *file, *pubkey, *checkpoints, *out, *archive, *key;
    au_filter f;
    ctl_afmt fmt;
    int64_t n;
} opts;

/* Parses the options shared by the subcommands. */
static int parse_opts(const char *sub, int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof(*o));
    o->db = DEFAULT_DB;
    o->n = -1;
    int64_t now = au_now_us();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(CTL_EXIT_OK);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gemmactl audit %s: %s: unknown option or missing value\n", sub, a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--db") == 0)
            o->db = v;
        else if (strcmp(a, "--file") == 0)
            o->file = v;
        else if (strcmp(a, "--pubkey") == 0)
            o->pubkey = v;
        else if (strcmp(a, "--checkpoints") == 0)
            o->checkpoints = v;
        else if (strcmp(a, "--out") == 0)
            o->out = v;
        else if (strcmp(a, "--archive") == 0)
            o->archive = v;
        else if (strcmp(a, "--key") == 0)
            o->key = v;
        else if (strcmp(a, "--principal") == 0)
            o->f.principal = v;
        else if (strcmp(a, "--role") == 0)
            o->f.role = v;
        else if (strcmp(a, "--model") == 0)
            o->f.model = v;
        else if (strcmp(a, "--event") == 0)
            o->f.event = v;
        else if (strcmp(a, "--decision") == 0)
            o->f.decision = v;
        else if (strcmp(a, "--since") == 0 || strcmp(a, "--until") == 0) {
            int64_t t;
            if (ctl_parse_time(v, now, &t) < 0) {
                fprintf(stderr, "gemmactl audit %s: %s: cannot read time '%s'\n", sub, a, v);
                return -1;
            }
            if (a[2] == 's') {
                o->f.has_since = true;
                o->f.since_us = t;
            } else {
                o->f.has_until = true;
                o->f.until_us = t;
            }
        } else if (strcmp(a, "--format") == 0) {
            if (ctl_afmt_parse(v, &o->fmt) < 0) {
                fprintf(stderr, "gemmactl audit %s: --format is table, jsonl or csv\n", sub);
                return -1;
            }
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--limit") == 0) {
            char *end;
            long long n = strtoll(v, &end, 10);
            if (*v == '\0' || *end != '\0' || n < 0) {
                fprintf(stderr, "gemmactl audit %s: %s takes a count\n", sub, a);
                return -1;
            }
            o->n = n;
        } else {
            fprintf(stderr, "gemmactl audit %s: unknown option %s\n", sub, a);
            return -1;
        }
    }
    return 0;
}

typedef struct print_ctx {
    ctl_afmt fmt;
    int64_t rows;
} print_ctx;

static int print_one(void *user, const au_row *row, cm_err *err)
{
    print_ctx *pc = user;
    if (pc->rows++ == 0)
        ctl_print_header(stdout, pc->fmt);
    if (ctl_print_row(stdout, pc->fmt, row) < 0)
        return cm_err_set(err, "row %lld cannot be printed (text not UTF-8?)",
                          (long long)row->v[AU_C_SEQ].i);
    return 0;
}

static int cmd_read(const char *sub, bool tail, int argc, char **argv)
{
    opts o;
    if (parse_opts(sub, argc, argv, &o) < 0)
        return CTL_EXIT_USAGE;
    if (tail) {
        o.f.last = true;
        o.f.limit = o.n >= 0 ? o.n : 20;
    } else {
        o.f.limit = o.n >= 0 ? o.n : 0;
    }
    if (tail && o.f.limit == 0)
        return CTL_EXIT_OK;
    print_ctx pc = {.fmt = o.fmt};
    cm_err err;
    if (au_query(o.db, &o.f, print_one, &pc, &err) < 0) {
        fprintf(stderr, "gemmactl audit %s: %s\n", sub, err.msg);
        return CTL_EXIT_ERROR;
    }
    if (pc.rows == 0 && o.fmt != CTL_AFMT_JSONL)
        ctl_print_header(stdout, o.fmt);
    return CTL_EXIT_OK;
}

static int cmd_verify(int argc, char **argv)
{
    opts o;
    if (parse_opts("verify", argc, argv, &o) < 0)
        return CTL_EXIT_USAGE;
    au_verify_opts vo = {.pubkey_path = o.pubkey, .checkpoints_path = o.checkpoints};
    au_verify_result r;
    cm_err err;
    const char *what = o.file ? o.file : o.db;
    int rc = o.file ? au_verify_export(o.file, &vo, &r, &err) : au_verify_db(o.db, &vo, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "gemmactl audit verify: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (!r.ok) {
        printf("FAILED %s: %s\n", what, r.problem);
        if (r.bad_seq >= 0)
            printf("first bad row: %lld\n", (long long)r.bad_seq);
        return CTL_EXIT_ERROR;
    }
    printf("OK %s: %lld rows", what, (long long)r.rows);
    if (r.rows > 0)
        printf(" (%lld..%lld)", (long long)r.first_seq, (long long)r.last_seq);
    printf(", %lld signed checkpoints %s\n", (long long)r.checkpoints,
           r.pinned ? "verified with the given public key"
                    : "verified with the keys the log lists (pass --pubkey to pin the key)");
    if (r.unsealed_rows > 0)
        printf("note: the last %lld rows come after the last checkpoint; a truncation of them "
               "would not be detected\n",
               (long long)r.unsealed_rows);
    return CTL_EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
    opts o;
    if (parse_opts("export", argc, argv, &o) < 0)
        return CTL_EXIT_USAGE;
    if (o.out == NULL) {
        fprintf(stderr, "gemmactl audit export: --out FILE is required\n");
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    int64_t rows;
    if (au_export(o.db, o.out, &rows, &err) < 0) {
        fprintf(stderr, "gemmactl audit export: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    printf("exported %lld rows to %s\n", (long long)rows, o.out);
    return CTL_EXIT_OK;
}

static int cmd_rotate(int argc, char **argv)
{
    opts o;
    if (parse_opts("rotate", argc, argv, &o) < 0)
        return CTL_EXIT_USAGE;
    if (o.archive == NULL) {
        fprintf(stderr, "gemmactl audit rotate: --archive FILE is required\n");
        return CTL_EXIT_USAGE;
    }
    au_config cfg = {.db_path = o.db, .signing_key_path = o.key};
    au_log *log;
    cm_err err;
    if (au_log_open(&cfg, &log, &err) < 0) {
        fprintf(stderr, "gemmactl audit rotate: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    int rc = au_log_rotate(log, o.archive, &err);
    if (rc == 0) {
        au_event ev = AU_EVENT_INIT;
        char detail[4200];
        snprintf(detail, sizeof(detail), "archive=%s", o.archive);
        ev.type = AU_EV_AUDIT_ROTATE;
        ev.detail = detail;
        ev.route = "gemmactl audit rotate";
        rc = au_log_append(log, &ev, NULL, &err);
    }
    au_log_close(log);
    if (rc < 0) {
        fprintf(stderr, "gemmactl audit rotate: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    printf("rotated %s into %s\n", o.db, o.archive);
    return CTL_EXIT_OK;
}

int ctl_cmd_audit(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(sub, "tail") == 0)
        return cmd_read(sub, true, argc - 1, argv + 1);
    if (strcmp(sub, "query") == 0)
        return cmd_read(sub, false, argc - 1, argv + 1);
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(sub, "export") == 0)
        return cmd_export(argc - 1, argv + 1);
    if (strcmp(sub, "rotate") == 0)
        return cmd_rotate(argc - 1, argv + 1);
    fprintf(stderr, "gemmactl audit: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return CTL_EXIT_USAGE;
}
