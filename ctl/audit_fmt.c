/*
 * ctl/audit_fmt.c -- time parsing and row printing for 'gemmactl audit'.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/canon.h"
#include "ctl/audit_fmt.h"

int ctl_afmt_parse(const char *s, ctl_afmt *out)
{
    if (strcmp(s, "table") == 0)
        *out = CTL_AFMT_TABLE;
    else if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
        *out = CTL_AFMT_JSONL;
    else if (strcmp(s, "csv") == 0)
        *out = CTL_AFMT_CSV;
    else
        return -1;
    return 0;
}

int ctl_parse_time(const char *s, int64_t now_us, int64_t *out)
{
    char *end;
    if (s[0] == '@') {
        long long v = strtoll(s + 1, &end, 10);
        if (s[1] == '\0' || *end != '\0')
            return -1;
        *out = (int64_t)v * 1000000;
        return 0;
    }
    size_t n = strlen(s);
    if (n >= 2 && isdigit((unsigned char)s[0]) && strchr("smhd", s[n - 1]) != NULL &&
        strchr(s, '-') == NULL) {
        long long v = strtoll(s, &end, 10);
        if (end != s + n - 1 || v < 0)
            return -1;
        int64_t unit = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400;
        *out = now_us - (int64_t)v * unit * 1000000;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int frac_digits = 0;
    long frac = 0;
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (p == NULL)
        return -1;
    if (*p == 'T' || *p == ' ') {
        p = strptime(p + 1, "%H:%M:%S", &tm);
        if (p == NULL)
            return -1;
        if (*p == '.') {
            for (p++; isdigit((unsigned char)*p); p++)
                if (frac_digits < 6) {
                    frac = frac * 10 + (*p - '0');
                    frac_digits++;
                }
        }
    }
    if (*p == 'Z')
        p++;
    if (*p != '\0')
        return -1;
    while (frac_digits < 6) {
        frac *= 10;
        frac_digits++;
    }
    time_t t = timegm(&tm);
    *out = (int64_t)t * 1000000 + frac;
    return 0;
}

void ctl_format_time(int64_t us, char *out, size_t cap)
{
    time_t t = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        t--;
    }
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, cap, "%lld", (long long)us);
        return;
    }
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06ldZ", base, frac);
}

/* A text column for the table: "-" if NULL, cut to width. */
static void cell(const au_row *row, int col, char *buf, size_t cap)
{
    const au_value *v = &row->v[col];
    if (v->t == AU_V_NULL)
        snprintf(buf, cap, "-");
    else if (v->t == AU_V_INT)
        snprintf(buf, cap, "%lld", (long long)v->i);
    else if (v->t == AU_V_BYTES)
        snprintf(buf, cap, "%.*s", (int)(v->n < cap ? v->n : cap - 1), (const char *)v->p);
    else
        snprintf(buf, cap, "?");
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
}

static const int table_cols[] = {AU_C_EVENT, AU_C_ROLE, AU_C_ACTION, AU_C_MODEL, AU_C_DECISION,
                                 AU_C_REASON, AU_C_HTTP_STATUS};

void ctl_print_header(FILE *out, ctl_afmt fmt)
{
    if (fmt == CTL_AFMT_TABLE) {
        fprintf(out, "%-6s %-27s %-14s %-32s %-10s %-10s %-14s %-6s %-20s %s\n", "SEQ", "TIME",
                "EVENT", "PRINCIPAL", "ROLE", "ACTION", "MODEL", "DECIS", "REASON", "STATUS");
    } else if (fmt == CTL_AFMT_CSV) {
        for (int c = 0; c < AU_NCOLS; c++)
            fprintf(out, "%s,", au_columns[c].name);
        fprintf(out, "hash\n");
    }
}

static void csv_field(FILE *out, const unsigned char *p, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r')
            quote = true;
    if (!quote) {
        fwrite(p, 1, n, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            fputc('"', out);
        fputc(p[i], out);
    }
    fputc('"', out);
}

int ctl_print_row(FILE *out, ctl_afmt fmt, const au_row *row)
{
    if (fmt == CTL_AFMT_JSONL) {
        json_t *j = au_row_to_json(row, true);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (s == NULL)
            return -1;
        fprintf(out, "%s\n", s);
        free(s);
        return 0;
    }
    if (fmt == CTL_AFMT_CSV) {
        for (int c = 0; c < AU_NCOLS; c++) {
            const au_value *v = &row->v[c];
            if (v->t == AU_V_INT)
                fprintf(out, "%lld", (long long)v->i);
            else if (v->t == AU_V_BYTES && au_columns[c].type == AU_COL_BLOB) {
                char *hex = malloc(2 * v->n + 1);
                if (hex == NULL)
                    return -1;
                au_hex(v->p, v->n, hex);
                fputs(hex, out);
                free(hex);
            } else if (v->t == AU_V_BYTES)
                csv_field(out, v->p, v->n);
            else if (v->t == AU_V_REAL)
                fprintf(out, "%.17g", v->r);
            fputc(',', out);
        }
        char hex[2 * AU_HASH_LEN + 1] = "";
        if (row->has_hash)
            au_hex(row->hash, AU_HASH_LEN, hex);
        fprintf(out, "%s\n", hex);
        return 0;
    }
    char seq[24], tm[40], principal[33], c[7][33];
    cell(row, AU_C_SEQ, seq, sizeof(seq));
    if (row->v[AU_C_TIME_US].t == AU_V_INT)
        ctl_format_time(row->v[AU_C_TIME_US].i, tm, sizeof(tm));
    else
        snprintf(tm, sizeof(tm), "-");
    if (row->v[AU_C_SUBJECT_DN].t == AU_V_BYTES && row->v[AU_C_SUBJECT_DN].n > 0)
        cell(row, AU_C_SUBJECT_DN, principal, sizeof(principal));
    else if (row->v[AU_C_PEER_UID].t == AU_V_INT)
        snprintf(principal, sizeof(principal), "uid:%lld", (long long)row->v[AU_C_PEER_UID].i);
    else
        snprintf(principal, sizeof(principal), "-");
    for (int i = 0; i < 7; i++)
        cell(row, table_cols[i], c[i], sizeof(c[i]));
    fprintf(out, "%-6s %-27s %-14s %-32s %-10s %-10s %-14s %-6s %-20s %s\n", seq, tm, c[0],
            principal, c[1], c[2], c[3], c[4], c[5], c[6]);
    return 0;
}
