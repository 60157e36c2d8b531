/*
 * audit/tamper.h -- deliberate damage to an audit database, for the tests
 * that show verification catches it (tests only; not in libaudit).
 */
#ifndef AU_TAMPER_H
#define AU_TAMPER_H

#include <stdint.h>

#include "common/err.h"

/* Flips one bit of column `col` ("hash" or an au_columns name) of row
 * `seq`: the lowest bit of an integer (bit 40 for seq, to keep it
 * unique), bit `bit` of the first byte of text or blob; a NULL becomes 1. */
int au_tamper_flip(const char *db, int64_t seq, const char *col, int bit, cm_err *err);
int au_tamper_delete(const char *db, int64_t seq, cm_err *err);
/* Swaps every column but seq between two rows. */
int au_tamper_swap(const char *db, int64_t a, int64_t b, cm_err *err);
/* Deletes the last n rows; with_checkpoints also deletes the database's
 * checkpoints that cover them (the side file is left alone). */
int au_tamper_truncate(const char *db, int64_t n, int with_checkpoints, cm_err *err);

#endif
