/*
 * ctl/cmd_audit.c -- 'gemmactl audit': read (tail, query), verify, export
 * and rotate the audit log. By default through gemmad over mutual TLS
 * (ctl/audit_remote.c), as the policy's audit.read, audit.verify and
 * admin permissions allow; with --db PATH directly on the database file,
 * for offline use on the host (gemmad stopped, or a copy or archive), and
 * 'verify --file' checks an export file offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/read.h"
#include "ctl/audit_fmt.h"
#include "ctl/audit_remote.h"
#include "ctl/client.h"
#include "ctl/ctl.h"
#include "ctl/output.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemmactl audit tail   [-n N] [FILTERS] [--format F | --json] [WHERE]\n"
            "       gemmactl audit query  [FILTERS] [--limit N] [--format F | --json] [WHERE]\n"
            "       gemmactl audit verify [--json] [WHERE | --file EXPORT.jsonl]\n"
            "                             [--pubkey KEY.pub] [--checkpoints FILE]\n"
            "       gemmactl audit verify [--json] --file EXPORT.jsonl [--pubkey KEY.pub]\n"
            "                             --file EXPORT2.jsonl [--pubkey KEY2.pub] ...\n"
            "       gemmactl audit export --out FILE.jsonl [WHERE]\n"
            "       gemmactl audit rotate [--archive NAME] [--json] [CONNECTION FLAGS]\n"
            "       gemmactl audit rotate --db PATH --archive FILE [--key SIGNING.key]\n"
            "\n"
            "WHERE:   CONNECTION FLAGS (the default: ask gemmad, which checks the policy:\n"
            "         audit.read for tail, query and export, audit.verify for verify, the\n"
            "         admin permission for rotate), or --db PATH to read the database file\n"
            "         directly, offline on the host (e.g. /var/lib/gemmad/audit.db, a copy,\n"
            "         or an archive; never rotate the live log with --db while gemmad runs)\n"
            "FILTERS: --since TIME --until TIME --principal DN|FINGERPRINT|SERIAL --role R\n"
            "         --model M --event E --decision allow|deny\n"
            "TIME:    2026-11-28, 2026-11-28T05:00:00Z, @EPOCH, or an age: 90s 15m 2h 7d\n"
            "F:       table (default), jsonl, csv; --json prints one JSON document\n"
            "-n N:    the last N rows (default 20; through gemmad at most 10000)\n"
            "--limit: at most N rows (default: all, fetched from gemmad page by page)\n"
            "verify:  through gemmad, gemmad checks its own log with its own signing key;\n"
            "         --pubkey and --checkpoints go with --db or --file. Exits 0 when the\n"
            "         chain and every checkpoint check out, 1 otherwise, naming the first\n"
            "         bad row. Several --file (the exports of the instances of a pool,\n"
            "         archives and live logs): each export on its own (with the --pubkey\n"
            "         that follows its --file), then as a set: grouped by signing key\n"
            "         (one per instance), exports of one instance must agree where they\n"
            "         overlap and link where one continues another; rows between them\n"
            "         that no export holds are reported.\n"
            "export:  writes a new file that 'verify --file' checks offline.\n"
            "rotate:  gemmad moves every row into the archive NAME, a bare file name\n"
            "         (ending in .db or .archive) beside its log (default: gemmad names\n"
            "         it); the live log's chain continues from the archive's head.\n"
            "Exit: 0 ok, 1 error or a log that does not verify, 2 usage, 3 denied by\n"
            "policy, 4 gemmad unreachable.\n\n");
    fputs(ctl_conn_flags_help, out);
}

typedef struct opts {
    const char *db, *file, *pubkey, *checkpoints, *out, *archive, *key;
    /* verify --file, repeated: each with the --pubkey and --checkpoints
     * that follow it (those before the first --file go with the first). */
    const char *files[AU_SET_MAX], *file_pubkey[AU_SET_MAX], *file_cps[AU_SET_MAX];
    size_t n_files;
    au_filter f;
    ctl_afmt fmt;
    bool has_fmt, json, conn_given;
    ctl_settings conn;
    int64_t n;
} opts;

/* Parses the options shared by the subcommands. Returns 0, or the exit
 * code (help printed: -1 and *code 0). */
static int parse_opts(const char *sub, int argc, char **argv, opts *o, int *code)
{
    memset(o, 0, sizeof(*o));
    o->n = -1;
    *code = CTL_EXIT_USAGE;
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "audit %s", sub);
    int64_t now = au_now_us();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int cf = ctl_conn_flag(cmd, argc, argv, &i, &o->conn);
        if (cf < 0)
            return -1;
        if (cf > 0) {
            o->conn_given = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            *code = CTL_EXIT_OK;
            return -1;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gemmactl audit %s: %s: unknown option or missing value\n", sub, a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--db") == 0) {
            o->db = v;
        } else if (strcmp(a, "--file") == 0) {
            if (o->n_files == AU_SET_MAX) {
                fprintf(stderr, "gemmactl audit %s: at most %d --file\n", sub, AU_SET_MAX);
                return -1;
            }
            o->files[o->n_files++] = v;
            o->file = o->files[0];
        } else if (strcmp(a, "--pubkey") == 0 || strcmp(a, "--checkpoints") == 0) {
            bool pk = a[2] == 'p';
            const char **slot = o->n_files == 0 ? (pk ? &o->pubkey : &o->checkpoints)
                                : pk ? &o->file_pubkey[o->n_files - 1]
                                     : &o->file_cps[o->n_files - 1];
            if (*slot != NULL) {
                fprintf(stderr, "gemmactl audit %s: %s given twice for one %s\n", sub, a,
                        o->n_files ? "--file" : "log");
                return -1;
            }
            *slot = v;
        } else if (strcmp(a, "--out") == 0)
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
            o->has_fmt = true;
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
    /* Options before the first --file belong to it. */
    if (o->n_files > 0) {
        if ((o->pubkey && o->file_pubkey[0]) || (o->checkpoints && o->file_cps[0])) {
            fprintf(stderr, "gemmactl audit %s: --pubkey or --checkpoints given twice for %s\n",
                    sub, o->files[0]);
            return -1;
        }
        if (o->pubkey)
            o->file_pubkey[0] = o->pubkey;
        if (o->checkpoints)
            o->file_cps[0] = o->checkpoints;
        o->pubkey = o->file_pubkey[0];
        o->checkpoints = o->file_cps[0];
    }
    if (o->db != NULL && o->conn_given) {
        fprintf(stderr, "gemmactl audit %s: --db reads the file directly: connection flags "
                "do not go with it\n", sub);
        return -1;
    }
    if (o->json && o->has_fmt) {
        fprintf(stderr, "gemmactl audit %s: give --format or --json, not both\n", sub);
        return -1;
    }
    return 0;
}

/* Connect to gemmad with the resolved settings; 0 or the exit code. */
static int open_client(const char *sub, const opts *o, ctl_client *c)
{
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "audit %s", sub);
    return ctl_client_open(cmd, &o->conn, c, NULL);
}

static int print_one(void *user, const au_row *row, cm_err *err)
{
    return ctl_audit_sink_row(user, row, err);
}

static int cmd_read(const char *sub, bool tail, int argc, char **argv)
{
    opts o;
    int code;
    if (parse_opts(sub, argc, argv, &o, &code) < 0)
        return code;
    if (tail) {
        o.f.last = true;
        o.f.limit = o.n >= 0 ? o.n : 20;
    } else {
        o.f.limit = o.n >= 0 ? o.n : 0;
    }
    if (tail && o.f.limit == 0)
        return CTL_EXIT_OK;
    if (tail && o.db == NULL && o.f.limit > CTL_AUDIT_PAGE_MAX) {
        fprintf(stderr, "gemmactl audit tail: through gemmad -n is at most %d (use query "
                "--since, or --db on the host)\n", CTL_AUDIT_PAGE_MAX);
        return CTL_EXIT_USAGE;
    }
    ctl_audit_sink sink = {.fmt = o.fmt};
    if (o.json && (sink.collect = json_array()) == NULL) {
        fprintf(stderr, "gemmactl audit %s: out of memory\n", sub);
        return CTL_EXIT_ERROR;
    }
    int rc;
    if (o.db != NULL) {
        cm_err err;
        rc = CTL_EXIT_OK;
        if (au_query(o.db, &o.f, print_one, &sink, &err) < 0) {
            fprintf(stderr, "gemmactl audit %s: %s\n", sub, err.msg);
            rc = CTL_EXIT_ERROR;
        }
    } else {
        ctl_client c;
        rc = open_client(sub, &o, &c);
        if (rc == CTL_EXIT_OK) {
            rc = ctl_audit_remote_read(&c, sub, &o.f, &sink);
            ctl_client_free(&c);
        }
    }
    if (rc == CTL_EXIT_OK && sink.collect != NULL) {
        json_t *doc = json_pack("{s:s, s:O}", "object", "list", "data", sink.collect);
        if (doc == NULL || ctl_print_json(doc, stdout) < 0)
            rc = CTL_EXIT_ERROR;
        json_decref(doc);
    } else if (rc == CTL_EXIT_OK && sink.rows == 0 && o.fmt != CTL_AFMT_JSONL) {
        ctl_print_header(stdout, o.fmt);
    }
    json_decref(sink.collect);
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_ERROR;
    return rc;
}

/* "ab12cd34ef56ab12" (the start of a key id) or "(no key)". */
static const char *short_key(const char *key_id, char out[17])
{
    snprintf(out, 17, "%s", key_id[0] ? key_id : "(no key)");
    return out;
}

static json_t *set_json(const au_set_member *m, size_t n, const au_set_result *r)
{
    json_t *exports = json_array(), *instances = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = m[i].read ? ctl_audit_verify_json(m[i].path, &m[i].res)
                              : json_pack("{s:b, s:s, s:s}", "ok", 0, "database", m[i].path,
                                          "problem", m[i].error);
        if (e != NULL && m[i].read)
            json_object_set_new(e, "key_id", json_string(m[i].res.key_id));
        json_array_append_new(exports, e);
    }
    for (size_t k = 0; k < r->n_instances; k++) {
        const au_set_instance *in = &r->instances[k];
        json_array_append_new(instances,
                              json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "key_id", in->key_id,
                                        "exports", (json_int_t)in->n_members, "first_seq",
                                        (json_int_t)in->first_seq, "last_seq",
                                        (json_int_t)in->last_seq, "rows", (json_int_t)in->rows,
                                        "missing_rows", (json_int_t)in->missing));
    }
    return json_pack("{s:b, s:I, s:o, s:o, s:s?, s:s?}", "ok", r->ok, "rows",
                     (json_int_t)r->rows, "exports", exports, "instances", instances, "problem",
                     r->ok ? NULL : r->problem, "note", r->note[0] ? r->note : NULL);
}

/* verify --file A --file B ...: each export, then the set. */
static int verify_set(const opts *o)
{
    au_set_member *m = calloc(o->n_files, sizeof(*m));
    au_set_result *r = malloc(sizeof(*r));
    cm_err err;
    int rc = CTL_EXIT_ERROR;
    if (m == NULL || r == NULL) {
        fprintf(stderr, "gemmactl audit verify: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < o->n_files; i++) {
        m[i].path = o->files[i];
        m[i].opts.pubkey_path = o->file_pubkey[i];
        m[i].opts.checkpoints_path = o->file_cps[i];
    }
    if (au_verify_export_set(m, o->n_files, r, &err) < 0) {
        fprintf(stderr, "gemmactl audit verify: %s\n", err.msg);
        goto out;
    }
    if (o->json) {
        json_t *j = set_json(m, o->n_files, r);
        rc = j != NULL && ctl_print_json(j, stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
        json_decref(j);
        if (!r->ok)
            rc = CTL_EXIT_ERROR;
        goto out;
    }
    for (size_t i = 0; i < o->n_files; i++) {
        if (!m[i].read) {
            printf("FAILED %s: %s\n", m[i].path, m[i].error);
            continue;
        }
        char kid[17];
        printf("[instance %s] ", short_key(m[i].res.key_id, kid));
        ctl_audit_print_verify(m[i].path, &m[i].res,
                               m[i].res.pinned ? "verified with the given public key"
                                               : "verified with the keys the log lists");
    }
    for (size_t k = 0; k < r->n_instances; k++) {
        const au_set_instance *in = &r->instances[k];
        char kid[17];
        printf("instance %s: %zu export%s, rows %lld..%lld (%lld rows", short_key(in->key_id, kid),
               in->n_members, in->n_members == 1 ? "" : "s", (long long)in->first_seq,
               (long long)in->last_seq, (long long)in->rows);
        if (in->missing > 0)
            printf(", %lld missing between exports", (long long)in->missing);
        printf(")\n");
    }
    if (r->note[0])
        printf("note: %s\n", r->note);
    if (r->ok) {
        printf("OK set: %zu exports from %zu instance%s, %lld rows\n", o->n_files,
               r->n_instances, r->n_instances == 1 ? "" : "s", (long long)r->rows);
        rc = CTL_EXIT_OK;
    } else {
        printf("FAILED set: %s\n", r->problem);
    }
out:
    if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
        rc = CTL_EXIT_ERROR;
    free(m);
    free(r);
    return rc;
}

static int cmd_verify(int argc, char **argv)
{
    opts o;
    int code;
    if (parse_opts("verify", argc, argv, &o, &code) < 0)
        return code;
    if (o.file != NULL && (o.db != NULL || o.conn_given)) {
        fprintf(stderr, "gemmactl audit verify: --file checks an export offline: give no "
                "--db or connection flags with it\n");
        return CTL_EXIT_USAGE;
    }
    if (o.file == NULL && o.db == NULL) {
        if (o.pubkey != NULL || o.checkpoints != NULL) {
            fprintf(stderr, "gemmactl audit verify: --pubkey and --checkpoints go with --db "
                    "or --file (gemmad verifies with its own signing key)\n");
            return CTL_EXIT_USAGE;
        }
        ctl_client c;
        int rc = open_client("verify", &o, &c);
        if (rc != CTL_EXIT_OK)
            return rc;
        rc = ctl_audit_remote_verify(&c, o.json);
        ctl_client_free(&c);
        return rc;
    }
    if (o.n_files > 1)
        return verify_set(&o);
    au_verify_opts vo = {.pubkey_path = o.pubkey, .checkpoints_path = o.checkpoints};
    au_verify_result r;
    cm_err err;
    const char *what = o.file ? o.file : o.db;
    int rc = o.file ? au_verify_export(o.file, &vo, &r, &err) : au_verify_db(o.db, &vo, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "gemmactl audit verify: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (o.json) {
        json_t *j = ctl_audit_verify_json(what, &r);
        rc = j != NULL && ctl_print_json(j, stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
        json_decref(j);
        return r.ok ? rc : CTL_EXIT_ERROR;
    }
    return ctl_audit_print_verify(what, &r,
                                  r.pinned ? "verified with the given public key"
                                           : "verified with the keys the log lists (pass "
                                             "--pubkey to pin the key)");
}

static int cmd_export(int argc, char **argv)
{
    opts o;
    int code;
    if (parse_opts("export", argc, argv, &o, &code) < 0)
        return code;
    if (o.out == NULL) {
        fprintf(stderr, "gemmactl audit export: --out FILE is required\n");
        return CTL_EXIT_USAGE;
    }
    if (o.json || o.has_fmt) {
        fprintf(stderr, "gemmactl audit export: the export is JSON lines: --json and --format "
                "do not apply\n");
        return CTL_EXIT_USAGE;
    }
    if (o.db == NULL) {
        ctl_client c;
        int rc = open_client("export", &o, &c);
        if (rc != CTL_EXIT_OK)
            return rc;
        rc = ctl_audit_remote_export(&c, o.out);
        ctl_client_free(&c);
        return rc;
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
    int code;
    if (parse_opts("rotate", argc, argv, &o, &code) < 0)
        return code;
    if (o.db == NULL) {
        if (o.key != NULL) {
            fprintf(stderr, "gemmactl audit rotate: --key goes with --db (gemmad signs with "
                    "its own key)\n");
            return CTL_EXIT_USAGE;
        }
        if (o.archive != NULL && strchr(o.archive, '/') != NULL) {
            fprintf(stderr, "gemmactl audit rotate: --archive is a bare file name through "
                    "gemmad (the archive goes beside its audit log)\n");
            return CTL_EXIT_USAGE;
        }
        ctl_client c;
        int rc = open_client("rotate", &o, &c);
        if (rc != CTL_EXIT_OK)
            return rc;
        rc = ctl_audit_remote_rotate(&c, o.archive, o.json);
        ctl_client_free(&c);
        return rc;
    }
    if (o.archive == NULL) {
        fprintf(stderr, "gemmactl audit rotate: --archive FILE is required with --db\n");
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

static int cmd_tail(int argc, char **argv)
{
    return cmd_read("tail", true, argc, argv);
}

static int cmd_query(int argc, char **argv)
{
    return cmd_read("query", false, argc, argv);
}

int ctl_cmd_audit(int argc, char **argv)
{
    static const ctl_subcmd cmds[] = {
        {"tail", cmd_tail},     {"query", cmd_query},   {"verify", cmd_verify},
        {"export", cmd_export}, {"rotate", cmd_rotate},
    };
    return ctl_run_subcmd("audit", cmds, sizeof(cmds) / sizeof(cmds[0]), usage, false, argc, argv);
}
