/*
 * db_sqlite.c - the SQLite driver of db.h: a thin layer over sqlite3_*.
 * The schema version lives in PRAGMA user_version and the application id in
 * PRAGMA application_id, so every database written before the drivers
 * existed opens and migrates as it did.
 */
#define _POSIX_C_SOURCE 200809L
#include "db.h"
#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct sq_db {
    struct joule_db base;
    sqlite3 *db;
};

struct sq_stmt {
    struct joule_db_stmt base;
    sqlite3_stmt *st;
};

static sqlite3 *handle(const struct joule_db *db)
{
    return ((const struct sq_db *)db)->db;
}

static sqlite3_stmt *stmt(const struct joule_db_stmt *st)
{
    return ((const struct sq_stmt *)st)->st;
}

static int fail(struct joule_db *db)
{
    joule_strlcpy(db->errmsg, sqlite3_errmsg(handle(db)), sizeof(db->errmsg));
    return JOULE_DB_ERROR;
}

static void sq_close(struct joule_db *db)
{
    sqlite3_close(handle(db));
    free(db);
}

static int sq_exec(struct joule_db *db, const char *sql)
{
    return sqlite3_exec(handle(db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(db);
}

/* The single integer a PRAGMA or a query returns (0 for no row). */
static int query_int(struct joule_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(handle(db), sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        joule_strlcpy(db->errmsg, sqlite3_errstr(rc), sizeof(db->errmsg));
    return rc;
}

static enum joule_status sq_probe(struct joule_db *db, int64_t *version, int64_t *app,
                                  int64_t *n_tables)
{
    /* One read transaction: another process migrating the file meanwhile
     * must not be seen half (tables, but version 0). */
    int rc = sqlite3_exec(handle(db), "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA user_version", version);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA application_id", app);
    if (rc == SQLITE_OK)
        rc = query_int(db, "SELECT count(*) FROM sqlite_master", n_tables);
    sqlite3_exec(handle(db), "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return JOULE_ERR_FORMAT;
    return rc == SQLITE_OK ? JOULE_OK : JOULE_ERR_IO;
}

static int sq_lock_version(struct joule_db *db, int64_t *version)
{
    return query_int(db, "PRAGMA user_version", version) == SQLITE_OK ? 0 : JOULE_DB_ERROR;
}

static int sq_set_version(struct joule_db *db, int64_t version, int64_t app)
{
    char sql[128];
    joule_fmt(sql, sizeof(sql), "PRAGMA application_id = %lld; PRAGMA user_version = %lld",
              (long long)app, (long long)version);
    return sq_exec(db, sql);
}

static int64_t sq_changes(const struct joule_db *db)
{
    return sqlite3_changes(handle(db));
}

static int sq_prepare(struct joule_db *db, const char *sql, struct joule_db_stmt **out)
{
    struct sq_stmt *s = joule_calloc(1, sizeof(*s));
    if (!s) {
        joule_strlcpy(db->errmsg, "out of memory", sizeof(db->errmsg));
        return JOULE_DB_ERROR;
    }
    s->base.db = db;
    if (sqlite3_prepare_v2(handle(db), sql, -1, &s->st, NULL) != SQLITE_OK) {
        free(s);
        return fail(db);
    }
    *out = &s->base;
    return 0;
}

static int sq_param_count(const struct joule_db_stmt *st)
{
    return sqlite3_bind_parameter_count(stmt(st));
}

static void sq_bind_int64(struct joule_db_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(stmt(st), i, v);
}

static void sq_bind_double(struct joule_db_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(stmt(st), i);
    else
        sqlite3_bind_double(stmt(st), i, v);
}

static void sq_bind_text(struct joule_db_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(stmt(st), i, v, -1, SQLITE_TRANSIENT);
}

static void sq_bind_null(struct joule_db_stmt *st, int i)
{
    sqlite3_bind_null(stmt(st), i);
}

static int sq_step(struct joule_db_stmt *st)
{
    int rc = sqlite3_step(stmt(st));
    if (rc == SQLITE_ROW)
        return JOULE_DB_ROW;
    if (rc == SQLITE_DONE)
        return JOULE_DB_DONE;
    return fail(st->db);
}

static int sq_column_count(const struct joule_db_stmt *st)
{
    return sqlite3_column_count(stmt(st));
}

static const char *sq_column_name(const struct joule_db_stmt *st, int col)
{
    const char *n = sqlite3_column_name(stmt(st), col);
    return n ? n : "";
}

static enum joule_db_type sq_column_type(const struct joule_db_stmt *st, int col)
{
    switch (sqlite3_column_type(stmt(st), col)) {
    case SQLITE_INTEGER:
        return JOULE_DB_INT;
    case SQLITE_FLOAT:
        return JOULE_DB_FLOAT;
    case SQLITE_NULL:
        return JOULE_DB_NULL;
    default:
        return JOULE_DB_TEXT;
    }
}

static int64_t sq_column_int64(const struct joule_db_stmt *st, int col)
{
    return sqlite3_column_int64(stmt(st), col);
}

static double sq_column_double(const struct joule_db_stmt *st, int col)
{
    return sqlite3_column_double(stmt(st), col);
}

static const char *sq_column_text(const struct joule_db_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(stmt(st), col);
}

static void sq_reset(struct joule_db_stmt *st)
{
    sqlite3_reset(stmt(st));
    sqlite3_clear_bindings(stmt(st));
}

static void sq_finalize(struct joule_db_stmt *st)
{
    sqlite3_finalize(stmt(st));
    free(st);
}

static const struct joule_db_ops sqlite_ops = {
    .kind = "sqlite",
    .begin_sql = "BEGIN IMMEDIATE",
    .close = sq_close,
    .exec = sq_exec,
    .exec_schema = sq_exec,
    .probe = sq_probe,
    .lock_version = sq_lock_version,
    .set_version = sq_set_version,
    .changes = sq_changes,
    .prepare = sq_prepare,
    .param_count = sq_param_count,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_count = sq_column_count,
    .column_name = sq_column_name,
    .column_type = sq_column_type,
    .column_int64 = sq_column_int64,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .reset = sq_reset,
    .finalize = sq_finalize,
};

enum joule_status joule_db_sqlite_open(const char *path, struct joule_db **out, char *err,
                                       size_t err_size)
{
    *out = NULL;
    struct sq_db *d = joule_calloc(1, sizeof(*d));
    if (!d)
        return JOULE_ERR_NOMEM;
    d->base.ops = &sqlite_ops;
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        joule_fmt(err, err_size, "%s: cannot open the database: %s", path,
                  d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        sqlite3_close(d->db);
        free(d);
        return JOULE_ERR_IO;
    }
    /* Concurrent writers (two runs, a run and `joule results rm`) queue
     * for up to 5 s instead of failing at once. */
    sqlite3_busy_timeout(d->db, 5000);
    *out = &d->base;
    return JOULE_OK;
}
