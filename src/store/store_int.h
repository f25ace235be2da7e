/*
 * store_int.h - private to src/store: the database handle, the schema and
 * its migrations, and the table builder the queries fill.
 */
#ifndef JOULE_STORE_INT_H
#define JOULE_STORE_INT_H

#include "db.h"
#include "joule.h"

#include <stddef.h>

struct joule_store {
    struct joule_db *db;
    char *path;      /* the target, its password removed */
    char errmsg[1024];
};

/* --- schema.c ------------------------------------------------------------- */

/* The schema version this code writes (SQLite: PRAGMA user_version;
 * PostgreSQL: the table joule_meta). */
#define JOULE_STORE_SCHEMA_VERSION 8
/* 'JOUL': PRAGMA application_id of a joule database. */
#define JOULE_STORE_APPLICATION_ID 0x4a4f554c

/* joule_store_migrations[k] takes a database from version k to k + 1; [0]
 * is the v1 schema itself.  Each runs inside one transaction, which also
 * sets the version.  They are written in SQLite's dialect; PostgreSQL runs
 * them through joule_db_exec_schema (schema.c lists its rules). */
extern const char *const joule_store_migrations[JOULE_STORE_SCHEMA_VERSION];

/* --- table.c -------------------------------------------------------------- */

/* A table has its columns added first, then rows; new cells are missing. */
struct joule_table *joule_table_new(void);
enum joule_status joule_table_add_col(struct joule_table *t, const char *name);
/* Appends a row of missing cells; *row gets its index. */
enum joule_status joule_table_add_row(struct joule_table *t, size_t *row);
/* NAN stores a missing cell. */
enum joule_status joule_table_set_number(struct joule_table *t, size_t row, size_t col,
                                         double v);
/* NULL stores a missing cell. */
enum joule_status joule_table_set_text(struct joule_table *t, size_t row, size_t col,
                                       const char *s);
/* Index of the column named name, or (size_t)-1. */
size_t joule_table_find_col(const struct joule_table *t, const char *name);

/* --- store.c -------------------------------------------------------------- */

/* Sets s->errmsg to "PATH: what: database message" and returns JOULE_ERR_IO. */
enum joule_status joule_store_fail(struct joule_store *s, const char *what);
/* Sets s->errmsg to the formatted text and returns st. */
enum joule_status joule_store_err(struct joule_store *s, enum joule_status st,
                                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepares sql on s's database; the failure's message in s->errmsg. */
enum joule_status joule_store_prepare(struct joule_store *s, const char *sql,
                                      struct joule_db_stmt **st);
/* 32 random hex digits (experiments.uid, groups.uid). */
enum joule_status joule_store_new_uid(struct joule_store *s, char uid[33]);

#endif /* JOULE_STORE_INT_H */
