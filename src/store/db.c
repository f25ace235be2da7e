/*
 * db.c - the database interface of db.h: choosing the driver from the
 * target, hiding passwords in messages, and dispatching to the driver.
 */
#define _POSIX_C_SOURCE 200809L
#include "db.h"
#include "joule_int.h"

#include <string.h>

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int joule_db_is_pg(const char *target)
{
    return target && (starts_with(target, "postgresql://") || starts_with(target, "postgres://") ||
                      starts_with(target, "host=") || starts_with(target, "dbname="));
}

/* Appends s[0 .. n) to out (size bytes, *len used), truncating. */
static void put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    while (n-- && *len + 1 < size)
        out[(*len)++] = *s++;
    out[*len] = '\0';
}

void joule_db_redact(const char *target, char *out, size_t size)
{
    if (!size)
        return;
    size_t len = 0;
    out[0] = '\0';
    if (!joule_db_is_pg(target)) {
        put(out, size, &len, target, strlen(target));
        return;
    }
    const char *p = target;
    const char *scheme = strstr(p, "://");
    if (scheme) {
        /* postgresql://user:password@host... : drop ":password". */
        const char *auth = scheme + 3;
        size_t auth_len = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *q = auth; q < auth + auth_len; q++)
            if (*q == '@')
                at = q;
        put(out, size, &len, p, (size_t)(auth - p));
        if (at) {
            size_t user_len = strcspn(auth, ":@");
            put(out, size, &len, auth, user_len);
            p = at;
        } else {
            p = auth;
        }
    }
    /* password=... as a URL parameter or a keyword: dropped with its value. */
    while (*p) {
        const char *pw = strstr(p, "password=");
        if (!pw || (pw > target && pw[-1] != '?' && pw[-1] != '&' && pw[-1] != ' ')) {
            size_t n = pw ? (size_t)(pw - p) + 9 : strlen(p);
            put(out, size, &len, p, n);
            p += n;
            continue;
        }
        put(out, size, &len, p, (size_t)(pw - p));
        put(out, size, &len, "password=***", 12);
        p = pw + 9 + strcspn(pw + 9, scheme ? "&" : " ");
    }
}

enum joule_status joule_db_open(const char *target, struct joule_db **out, char *err,
                                size_t err_size)
{
    if (joule_db_is_pg(target))
        return joule_db_pg_open(target, out, err, err_size);
    return joule_db_sqlite_open(target, out, err, err_size);
}

void joule_db_close(struct joule_db *db)
{
    if (db)
        db->ops->close(db);
}

const char *joule_db_kind(const struct joule_db *db)
{
    return db->ops->kind;
}

int joule_db_is_postgres(const struct joule_db *db)
{
    return strcmp(db->ops->kind, "postgresql") == 0;
}

const char *joule_db_errmsg(const struct joule_db *db)
{
    return db->errmsg;
}

int64_t joule_db_changes(const struct joule_db *db)
{
    return db->ops->changes(db);
}

int joule_db_exec(struct joule_db *db, const char *sql)
{
    return db->ops->exec(db, sql);
}

int joule_db_exec_schema(struct joule_db *db, const char *sql)
{
    return db->ops->exec_schema(db, sql);
}

int joule_db_begin(struct joule_db *db)
{
    return db->ops->exec(db, db->ops->begin_sql);
}

int joule_db_commit(struct joule_db *db)
{
    return db->ops->exec(db, "COMMIT");
}

int joule_db_rollback(struct joule_db *db)
{
    /* Keeps the message of the failure that led here. */
    char keep[sizeof(db->errmsg)];
    memcpy(keep, db->errmsg, sizeof(keep));
    int rc = db->ops->exec(db, "ROLLBACK");
    memcpy(db->errmsg, keep, sizeof(keep));
    return rc;
}

enum joule_status joule_db_probe(struct joule_db *db, int64_t *version, int64_t *app,
                                 int64_t *n_tables)
{
    return db->ops->probe(db, version, app, n_tables);
}

int joule_db_lock_version(struct joule_db *db, int64_t *version)
{
    return db->ops->lock_version(db, version);
}

int joule_db_set_version(struct joule_db *db, int64_t version, int64_t app)
{
    return db->ops->set_version(db, version, app);
}

int joule_db_prepare(struct joule_db *db, const char *sql, struct joule_db_stmt **st)
{
    *st = NULL;
    return db->ops->prepare(db, sql, st);
}

int joule_db_param_count(const struct joule_db_stmt *st)
{
    return st->db->ops->param_count(st);
}

void joule_db_bind_int64(struct joule_db_stmt *st, int i, int64_t v)
{
    st->db->ops->bind_int64(st, i, v);
}

void joule_db_bind_double(struct joule_db_stmt *st, int i, double v)
{
    st->db->ops->bind_double(st, i, v);
}

void joule_db_bind_text(struct joule_db_stmt *st, int i, const char *v)
{
    if (v)
        st->db->ops->bind_text(st, i, v);
    else
        st->db->ops->bind_null(st, i);
}

void joule_db_bind_null(struct joule_db_stmt *st, int i)
{
    st->db->ops->bind_null(st, i);
}

int joule_db_step(struct joule_db_stmt *st)
{
    return st->db->ops->step(st);
}

int joule_db_column_count(const struct joule_db_stmt *st)
{
    return st->db->ops->column_count(st);
}

const char *joule_db_column_name(const struct joule_db_stmt *st, int col)
{
    return st->db->ops->column_name(st, col);
}

enum joule_db_type joule_db_column_type(const struct joule_db_stmt *st, int col)
{
    return st->db->ops->column_type(st, col);
}

int64_t joule_db_column_int64(const struct joule_db_stmt *st, int col)
{
    return st->db->ops->column_int64(st, col);
}

double joule_db_column_double(const struct joule_db_stmt *st, int col)
{
    return st->db->ops->column_double(st, col);
}

const char *joule_db_column_text(const struct joule_db_stmt *st, int col)
{
    return st->db->ops->column_text(st, col);
}

void joule_db_reset(struct joule_db_stmt *st)
{
    if (st)
        st->db->ops->reset(st);
}

void joule_db_finalize(struct joule_db_stmt *st)
{
    if (st)
        st->db->ops->finalize(st);
}
