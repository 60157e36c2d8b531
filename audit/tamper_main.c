/*
 * audit/tamper_main.c -- audit-tamper: damages an audit database on
 * purpose, for tests/integration/audit_*.sh (built for 'make check' only).
 *
 *   audit-tamper DB flip SEQ COLUMN [BIT] | delete SEQ | swap SEQ SEQ
 *                | truncate N | truncate-all N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/tamper.h"

int main(int argc, char **argv)
{
    cm_err err = {{0}};
    int rc = -1;
    if (argc >= 5 && strcmp(argv[2], "flip") == 0)
        rc = au_tamper_flip(argv[1], atoll(argv[3]), argv[4], argc > 5 ? atoi(argv[5]) : 0, &err);
    else if (argc == 4 && strcmp(argv[2], "delete") == 0)
        rc = au_tamper_delete(argv[1], atoll(argv[3]), &err);
    else if (argc == 5 && strcmp(argv[2], "swap") == 0)
        rc = au_tamper_swap(argv[1], atoll(argv[3]), atoll(argv[4]), &err);
    else if (argc == 4 && strcmp(argv[2], "truncate") == 0)
        rc = au_tamper_truncate(argv[1], atoll(argv[3]), 0, &err);
    else if (argc == 4 && strcmp(argv[2], "truncate-all") == 0)
        rc = au_tamper_truncate(argv[1], atoll(argv[3]), 1, &err);
    else {
        fprintf(stderr, "usage: audit-tamper DB flip SEQ COLUMN [BIT] | delete SEQ | swap A B | "
                        "truncate N | truncate-all N\n");
        return 2;
    }
    if (rc < 0)
        fprintf(stderr, "audit-tamper: %s\n", err.msg);
    return rc < 0 ? 1 : 0;
}
