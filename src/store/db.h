/*
 * db.h - private to src/store: one small database interface, shaped like
 * SQLite's statement API, with two drivers: SQLite (db_sqlite.c, the
 * embedded default) and PostgreSQL through libpq (db_pg.c).
 *
 * SQL is written once, in the dialect both understand, with ?N (or ?)
 * placeholders; the PostgreSQL driver rewrites them to $N.  Parameters are
 * 1-based, columns 0-based, as in SQLite.  The schema's SQL goes through
 * joule_db_exec_schema, which adapts SQLite's type names for PostgreSQL
 * (docs/internals/store-schema.md, "Drivers").
 */
#ifndef JOULE_STORE_DB_H
#define JOULE_STORE_DB_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

struct joule_db;
struct joule_db_stmt;

/* joule_db_step */
#define JOULE_DB_ROW 1
#define JOULE_DB_DONE 0
#define JOULE_DB_ERROR (-1)

/* joule_db_column_type */
enum joule_db_type {
    JOULE_DB_NULL = 0,
    JOULE_DB_INT = 1,
    JOULE_DB_FLOAT = 2,
    JOULE_DB_TEXT = 3,
};

/* 1 when target names a PostgreSQL database: a postgresql:// or
 * postgres:// URL, or a libpq "host=... dbname=..." string. */
int joule_db_is_pg(const char *target);

/* target without its password (URL user:password@, ?password=, or a
 * password=... keyword), for messages. */
void joule_db_redact(const char *target, char *out, size_t size);

/* Connects: PostgreSQL for a target joule_db_is_pg accepts, else the SQLite
 * file at target (created when missing; the folder must exist).  On
 * failure *out is NULL and err says why. */
enum joule_status joule_db_open(const char *target, struct joule_db **out, char *err,
                                size_t err_size);
void joule_db_close(struct joule_db *db);

/* "sqlite" or "postgresql". */
const char *joule_db_kind(const struct joule_db *db);
int joule_db_is_postgres(const struct joule_db *db);

/* The last error's message. */
const char *joule_db_errmsg(const struct joule_db *db);

/* Rows changed by the last INSERT, UPDATE or DELETE. */
int64_t joule_db_changes(const struct joule_db *db);

/* Runs one or more statements without parameters; 0 or JOULE_DB_ERROR. */
int joule_db_exec(struct joule_db *db, const char *sql);

/* Runs schema SQL (schema.c) in this driver's dialect. */
int joule_db_exec_schema(struct joule_db *db, const char *sql);

/* Transactions: BEGIN IMMEDIATE (SQLite: takes the write lock now, so two
 * writers queue on the busy timeout instead of failing on upgrade) or
 * BEGIN (PostgreSQL). */
int joule_db_begin(struct joule_db *db);
int joule_db_commit(struct joule_db *db);
int joule_db_rollback(struct joule_db *db);

/* What the database holds: its schema version, its application id (0 for
 * none) and its number of tables.  JOULE_ERR_FORMAT when it is no database
 * of this driver's kind (errmsg says why), JOULE_ERR_IO on other failures. */
enum joule_status joule_db_probe(struct joule_db *db, int64_t *version, int64_t *app,
                                 int64_t *n_tables);

/* Inside a transaction: waits for other processes migrating the same
 * database (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
 * write lock BEGIN IMMEDIATE holds), then reads the schema version. */
int joule_db_lock_version(struct joule_db *db, int64_t *version);

/* Inside a transaction: records the schema version and the application id. */
int joule_db_set_version(struct joule_db *db, int64_t version, int64_t app);

/* Statements.  *st is NULL on failure. */
int joule_db_prepare(struct joule_db *db, const char *sql, struct joule_db_stmt **st);
/* The number of parameters (the largest N of ?N). */
int joule_db_param_count(const struct joule_db_stmt *st);
void joule_db_bind_int64(struct joule_db_stmt *st, int i, int64_t v);
/* NaN is stored as NULL, infinities as such. */
void joule_db_bind_double(struct joule_db_stmt *st, int i, double v);
/* NULL binds NULL; the text is copied. */
void joule_db_bind_text(struct joule_db_stmt *st, int i, const char *v);
void joule_db_bind_null(struct joule_db_stmt *st, int i);
/* JOULE_DB_ROW, JOULE_DB_DONE or JOULE_DB_ERROR (message in errmsg). */
int joule_db_step(struct joule_db_stmt *st);
int joule_db_column_count(const struct joule_db_stmt *st);
const char *joule_db_column_name(const struct joule_db_stmt *st, int col);
enum joule_db_type joule_db_column_type(const struct joule_db_stmt *st, int col);
int64_t joule_db_column_int64(const struct joule_db_stmt *st, int col);
double joule_db_column_double(const struct joule_db_stmt *st, int col);
/* NULL for SQL NULL; valid until the next step, reset or finalize. */
const char *joule_db_column_text(const struct joule_db_stmt *st, int col);
/* Ready to step again, with no parameters bound. */
void joule_db_reset(struct joule_db_stmt *st);
void joule_db_finalize(struct joule_db_stmt *st);

/* --- the drivers (db.c dispatches) ----------------------------------------- */

struct joule_db_ops {
    const char *kind;
    const char *begin_sql;
    void (*close)(struct joule_db *db);
    int (*exec)(struct joule_db *db, const char *sql);
    int (*exec_schema)(struct joule_db *db, const char *sql);
    enum joule_status (*probe)(struct joule_db *db, int64_t *version, int64_t *app,
                               int64_t *n_tables);
    int (*lock_version)(struct joule_db *db, int64_t *version);
    int (*set_version)(struct joule_db *db, int64_t version, int64_t app);
    int64_t (*changes)(const struct joule_db *db);
    int (*prepare)(struct joule_db *db, const char *sql, struct joule_db_stmt **st);
    int (*param_count)(const struct joule_db_stmt *st);
    void (*bind_int64)(struct joule_db_stmt *st, int i, int64_t v);
    void (*bind_double)(struct joule_db_stmt *st, int i, double v);
    void (*bind_text)(struct joule_db_stmt *st, int i, const char *v);
    void (*bind_null)(struct joule_db_stmt *st, int i);
    int (*step)(struct joule_db_stmt *st);
    int (*column_count)(const struct joule_db_stmt *st);
    const char *(*column_name)(const struct joule_db_stmt *st, int col);
    enum joule_db_type (*column_type)(const struct joule_db_stmt *st, int col);
    int64_t (*column_int64)(const struct joule_db_stmt *st, int col);
    double (*column_double)(const struct joule_db_stmt *st, int col);
    const char *(*column_text)(const struct joule_db_stmt *st, int col);
    void (*reset)(struct joule_db_stmt *st);
    void (*finalize)(struct joule_db_stmt *st);
};

/* The head of each driver's connection and statement structs. */
struct joule_db {
    const struct joule_db_ops *ops;
    char errmsg[1024];
};

struct joule_db_stmt {
    struct joule_db *db;
};

enum joule_status joule_db_sqlite_open(const char *path, struct joule_db **out, char *err,
                                       size_t err_size);
enum joule_status joule_db_pg_open(const char *conninfo, struct joule_db **out, char *err,
                                   size_t err_size);

#endif /* JOULE_STORE_DB_H */
