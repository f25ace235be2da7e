/*
 * push.c - joule_store_push: merging one results database into another
 * (`joule results push`).  Rows are copied column by column as the source
 * returns them (both databases have the current schema once open), with
 * the ids the destination gives and the references remapped to them.
 */
#define _POSIX_C_SOURCE 200809L
#include "store_int.h"
#include "alloc.h"
#include "buf.h"
#include "joule_int.h"

#include <stdlib.h>
#include <string.h>

struct push {
    struct joule_store *from, *to;
};

/* A failure of the source, its message in the destination's errmsg. */
static enum joule_status from_fail(struct push *p, const char *what)
{
    enum joule_status st = joule_store_fail(p->from, what);
    joule_strlcpy(p->to->errmsg, p->from->errmsg, sizeof(p->to->errmsg));
    return st;
}

static enum joule_status to_fail(struct push *p, const char *what)
{
    return joule_store_fail(p->to, what);
}

/* One copy: the rows of `SELECT * FROM table WHERE where` in the source
 * (?1 = k1, ?2 = k2) into the same table of the destination. */
struct copy {
    const char *table;
    const char *where;
    int64_t k1, k2;
    const char *ref; /* the column that gets ref_id instead, or NULL */
    int64_t ref_id;
    const char *tail; /* "ON CONFLICT ..." or NULL */
    int returning;    /* the table has an id: the destination makes it, *new_id gets it */
};

/* The INSERT for the columns of src (without "id" when c->returning). */
static char *insert_sql(const struct copy *c, struct joule_db_stmt *src)
{
    struct joule_buf b = {0}, v = {0};
    joule_buf_puts(&b, "INSERT INTO ");
    joule_buf_puts(&b, c->table);
    joule_buf_puts(&b, " (");
    int n = 0;
    for (int i = 0; i < joule_db_column_count(src); i++) {
        const char *name = joule_db_column_name(src, i);
        if (c->returning && strcmp(name, "id") == 0)
            continue;
        char ph[16];
        n++;
        joule_fmt(ph, sizeof(ph), "%s?%d", n > 1 ? ", " : "", n);
        joule_buf_puts(&b, n > 1 ? ", " : "");
        joule_buf_puts(&b, name);
        joule_buf_puts(&v, ph);
    }
    joule_buf_puts(&b, ") VALUES (");
    joule_buf_puts(&b, v.p ? v.p : "");
    joule_buf_puts(&b, ")");
    if (c->tail) {
        joule_buf_puts(&b, " ");
        joule_buf_puts(&b, c->tail);
    }
    if (c->returning)
        joule_buf_puts(&b, " RETURNING id");
    free(v.p);
    if (b.oom || v.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Copies the rows; *n gets their number, *new_id (when returning) the id
 * of the last one inserted, 0 when the tail skipped it. */
static enum joule_status copy_rows(struct push *p, const struct copy *c, int64_t *n,
                                   int64_t *new_id)
{
    *n = 0;
    if (new_id)
        *new_id = 0;
    char sql[512];
    joule_fmt(sql, sizeof(sql), "SELECT * FROM %s WHERE %s", c->table, c->where);
    struct joule_db_stmt *src = NULL, *dst = NULL;
    if (joule_db_prepare(p->from->db, sql, &src) != 0)
        return from_fail(p, "reading the source");
    joule_db_bind_int64(src, 1, c->k1);
    if (joule_db_param_count(src) >= 2)
        joule_db_bind_int64(src, 2, c->k2);
    enum joule_status r = JOULE_OK;
    int rc = joule_db_step(src);
    char *ins = rc == JOULE_DB_ROW ? insert_sql(c, src) : NULL;
    if (rc == JOULE_DB_ROW && !ins)
        r = JOULE_ERR_NOMEM;
    else if (ins && joule_db_prepare(p->to->db, ins, &dst) != 0)
        r = to_fail(p, "preparing a copy");
    for (; r == JOULE_OK && rc == JOULE_DB_ROW; rc = joule_db_step(src)) {
        /* Parameters are numbered as insert_sql numbered the columns. */
        int k = 0;
        for (int i = 0; i < joule_db_column_count(src); i++) {
            const char *name = joule_db_column_name(src, i);
            if (c->returning && strcmp(name, "id") == 0)
                continue;
            k++;
            if (c->ref && strcmp(name, c->ref) == 0) {
                joule_db_bind_int64(dst, k, c->ref_id);
                continue;
            }
            switch (joule_db_column_type(src, i)) {
            case JOULE_DB_INT:
                joule_db_bind_int64(dst, k, joule_db_column_int64(src, i));
                break;
            case JOULE_DB_FLOAT:
                joule_db_bind_double(dst, k, joule_db_column_double(src, i));
                break;
            case JOULE_DB_TEXT:
                joule_db_bind_text(dst, k, joule_db_column_text(src, i));
                break;
            default:
                joule_db_bind_null(dst, k);
                break;
            }
        }
        int d = joule_db_step(dst);
        if (d == JOULE_DB_ROW && new_id)
            *new_id = joule_db_column_int64(dst, 0);
        while (d == JOULE_DB_ROW)
            d = joule_db_step(dst);
        if (d == JOULE_DB_ERROR) {
            char what[64];
            joule_fmt(what, sizeof(what), "copying into %s", c->table);
            r = to_fail(p, what);
        }
        joule_db_reset(dst);
        (*n)++;
    }
    if (r == JOULE_OK && rc == JOULE_DB_ERROR)
        r = from_fail(p, "reading the source");
    joule_db_finalize(dst);
    joule_db_finalize(src);
    free(ins);
    return r;
}

/* The first column of the first row of sql (text parameter ?1 = a), as an
 * integer; *found 0 when there is no row. */
static int lookup(struct joule_db *db, const char *sql, const char *a, int64_t *v, int *found)
{
    struct joule_db_stmt *st = NULL;
    *v = 0;
    *found = 0;
    if (joule_db_prepare(db, sql, &st) != 0)
        return JOULE_DB_ERROR;
    joule_db_bind_text(st, 1, a);
    int rc = joule_db_step(st);
    if (rc == JOULE_DB_ROW) {
        *v = joule_db_column_int64(st, 0);
        *found = 1;
    }
    joule_db_finalize(st);
    return rc == JOULE_DB_ERROR ? JOULE_DB_ERROR : 0;
}

/* An id list of the source: rows of (id, text key, number) from sql. */
struct keyed {
    int64_t *id;
    char **key;
    double *num;
    size_t n;
};

static void keyed_free(struct keyed *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->key[i]);
    free(k->id);
    free(k->key);
    free(k->num);
    memset(k, 0, sizeof(*k));
}

static enum joule_status keyed_load(struct push *p, const char *sql, int64_t arg, struct keyed *k)
{
    memset(k, 0, sizeof(*k));
    struct joule_db_stmt *st = NULL;
    if (joule_db_prepare(p->from->db, sql, &st) != 0)
        return from_fail(p, "reading the source");
    if (joule_db_param_count(st) >= 1)
        joule_db_bind_int64(st, 1, arg);
    enum joule_status r = JOULE_OK;
    size_t cap = 0;
    int rc;
    while (r == JOULE_OK && (rc = joule_db_step(st)) == JOULE_DB_ROW) {
        if (k->n == cap) {
            size_t nc;
            if (!joule_grow_cap(cap, k->n + 1, 64, &nc)) {
                r = JOULE_ERR_NOMEM;
                break;
            }
            int64_t *id = joule_realloc_array(k->id, nc, sizeof(*id));
            if (id)
                k->id = id;
            char **key = id ? joule_realloc_array(k->key, nc, sizeof(*key)) : NULL;
            if (key)
                k->key = key;
            double *num = key ? joule_realloc_array(k->num, nc, sizeof(*num)) : NULL;
            if (!num) {
                r = JOULE_ERR_NOMEM;
                break;
            }
            k->num = num;
            cap = nc;
        }
        const char *key = joule_db_column_text(st, 1);
        k->id[k->n] = joule_db_column_int64(st, 0);
        k->key[k->n] = key ? strdup(key) : NULL;
        k->num[k->n] = joule_db_column_count(st) > 2 ? joule_db_column_double(st, 2) : 0;
        if (key && !k->key[k->n])
            r = JOULE_ERR_NOMEM;
        k->n++;
    }
    if (r == JOULE_OK && rc == JOULE_DB_ERROR)
        r = from_fail(p, "reading the source");
    joule_db_finalize(st);
    if (r != JOULE_OK)
        keyed_free(k);
    return r;
}

static enum joule_status begin(struct push *p)
{
    return joule_db_begin(p->to->db) == 0 ? JOULE_OK : to_fail(p, "starting a transaction");
}

static enum joule_status end(struct push *p, enum joule_status r)
{
    if (r == JOULE_OK && joule_db_commit(p->to->db) == 0)
        return JOULE_OK;
    if (r == JOULE_OK)
        r = to_fail(p, "committing");
    joule_db_rollback(p->to->db);
    return r;
}

/* The per-cycle tables, in the order their foreign keys need. */
static const char *const cycle_tables[] = {"cycles", "metrics", "domains", "requests"};

/* Copies the evals of source experiment sid the destination's dst_id lacks
 * (matched by time and task); *n gets their number. */
static enum joule_status copy_evals(struct push *p, int64_t sid, int64_t dst_id, int64_t *n)
{
    *n = 0;
    struct keyed ev;
    enum joule_status r = keyed_load(
        p,
        sid ? "SELECT id, task, created_at FROM evals WHERE experiment_id = ?1 ORDER BY id"
            : "SELECT id, task, created_at FROM evals WHERE experiment_id IS NULL AND ?1 = 0"
              " ORDER BY id",
        sid, &ev);
    char sql[160];
    joule_fmt(sql, sizeof(sql), "SELECT 1 FROM evals WHERE task = ?1 AND created_at = ?2 AND %s",
              dst_id ? "experiment_id = ?3" : "experiment_id IS NULL");
    for (size_t i = 0; r == JOULE_OK && i < ev.n; i++) {
        struct joule_db_stmt *st = NULL;
        if (joule_db_prepare(p->to->db, sql, &st) != 0) {
            r = to_fail(p, "looking up a score");
            break;
        }
        joule_db_bind_text(st, 1, ev.key[i]);
        joule_db_bind_double(st, 2, ev.num[i]);
        if (dst_id)
            joule_db_bind_int64(st, 3, dst_id);
        int rc = joule_db_step(st);
        joule_db_finalize(st);
        if (rc == JOULE_DB_ERROR) {
            r = to_fail(p, "looking up a score");
            break;
        }
        if (rc == JOULE_DB_ROW)
            continue;
        struct copy c = {"evals", "id = ?1", ev.id[i], 0, dst_id ? "experiment_id" : NULL,
                         dst_id,  NULL,      1};
        int64_t one, id;
        r = copy_rows(p, &c, &one, &id);
        *n += one;
    }
    keyed_free(&ev);
    return r;
}

/* A new experiment: its row and everything that references it. */
static enum joule_status push_new(struct push *p, int64_t sid, int64_t *dst_id, int64_t *cycles)
{
    struct copy c = {"experiments", "id = ?1", sid, 0, NULL, 0, "ON CONFLICT (uid) DO NOTHING", 1};
    int64_t n;
    enum joule_status r = copy_rows(p, &c, &n, dst_id);
    if (r != JOULE_OK || *dst_id == 0)
        return r; /* 0: another push added it meanwhile */
    static const char *const tables[] = {"cycles",   "metrics",   "domains", "requests",
                                         "timeline", "node_runs", "nodes"};
    for (size_t i = 0; r == JOULE_OK && i < JOULE_ARRAY_LEN(tables); i++) {
        struct copy t = {tables[i], "experiment_id = ?1", sid, 0, "experiment_id", *dst_id, NULL,
                         0};
        r = copy_rows(p, &t, &n, NULL);
        if (i == 0)
            *cycles = n;
    }
    if (r == JOULE_OK)
        r = copy_evals(p, sid, *dst_id, &n);
    return r;
}

/* An experiment the destination has: the cycles it lacks, then its status,
 * power samples and scores as the source has them.  *cycles 0 and
 * *changed 0 when there was nothing to add. */
static enum joule_status push_more(struct push *p, int64_t sid, int64_t dst_id, int64_t *cycles,
                                   int *changed)
{
    *cycles = 0;
    *changed = 0;
    struct keyed cyc;
    enum joule_status r = keyed_load(
        p, "SELECT cycle, '' FROM cycles WHERE experiment_id = ?1 ORDER BY cycle", sid, &cyc);
    for (size_t i = 0; r == JOULE_OK && i < cyc.n; i++) {
        struct joule_db_stmt *st = NULL;
        if (joule_db_prepare(p->to->db,
                             "SELECT 1 FROM cycles WHERE experiment_id = ?1 AND cycle = ?2",
                             &st) != 0) {
            r = to_fail(p, "looking up a cycle");
            break;
        }
        joule_db_bind_int64(st, 1, dst_id);
        joule_db_bind_int64(st, 2, cyc.id[i]);
        int rc = joule_db_step(st);
        joule_db_finalize(st);
        if (rc == JOULE_DB_ERROR)
            r = to_fail(p, "looking up a cycle");
        if (rc != JOULE_DB_DONE)
            continue;
        for (size_t t = 0; r == JOULE_OK && t < JOULE_ARRAY_LEN(cycle_tables); t++) {
            struct copy c = {cycle_tables[t],
                             "experiment_id = ?1 AND cycle = ?2",
                             sid,
                             cyc.id[i],
                             "experiment_id",
                             dst_id,
                             NULL,
                             0};
            int64_t n;
            r = copy_rows(p, &c, &n, NULL);
        }
        (*cycles)++;
    }
    keyed_free(&cyc);
    if (r != JOULE_OK)
        return r;
    if (*cycles > 0) {
        /* The source finished the run: its status, flags, finish time and
         * cycle order, and its power samples, which cover more. */
        struct joule_db_stmt *src = NULL, *dst = NULL;
        if (joule_db_prepare(p->from->db,
                             "SELECT status, flags, finished_at, cycle_order FROM experiments"
                             " WHERE id = ?1",
                             &src) != 0)
            return from_fail(p, "reading the source");
        joule_db_bind_int64(src, 1, sid);
        if (joule_db_step(src) != JOULE_DB_ROW)
            r = from_fail(p, "reading the source");
        else if (joule_db_prepare(p->to->db,
                                  "UPDATE experiments SET status = ?1, flags = ?2,"
                                  " finished_at = ?3, cycle_order = ?4 WHERE id = ?5",
                                  &dst) != 0)
            r = to_fail(p, "updating an experiment");
        if (r == JOULE_OK) {
            joule_db_bind_text(dst, 1, joule_db_column_text(src, 0));
            joule_db_bind_text(dst, 2, joule_db_column_text(src, 1));
            if (joule_db_column_type(src, 2) == JOULE_DB_NULL)
                joule_db_bind_null(dst, 3);
            else
                joule_db_bind_double(dst, 3, joule_db_column_double(src, 2));
            joule_db_bind_text(dst, 4, joule_db_column_text(src, 3));
            joule_db_bind_int64(dst, 5, dst_id);
            if (joule_db_step(dst) == JOULE_DB_ERROR)
                r = to_fail(p, "updating an experiment");
        }
        joule_db_finalize(src);
        joule_db_finalize(dst);
        char del[96];
        joule_fmt(del, sizeof(del), "DELETE FROM timeline WHERE experiment_id = %lld",
                  (long long)dst_id);
        if (r == JOULE_OK && joule_db_exec(p->to->db, del) != 0)
            r = to_fail(p, "replacing power samples");
        struct copy t = {"timeline", "experiment_id = ?1", sid, 0, "experiment_id", dst_id, NULL,
                         0};
        int64_t n;
        if (r == JOULE_OK)
            r = copy_rows(p, &t, &n, NULL);
        *changed = 1;
    }
    int64_t n_evals = 0;
    if (r == JOULE_OK)
        r = copy_evals(p, sid, dst_id, &n_evals);
    if (n_evals)
        *changed = 1;
    return r;
}

static enum joule_status push_experiments(struct push *p, struct joule_push_counts *n)
{
    struct keyed ex;
    enum joule_status r =
        keyed_load(p, "SELECT id, uid FROM experiments WHERE ?1 = 0 ORDER BY id", 0, &ex);
    for (size_t i = 0; r == JOULE_OK && i < ex.n; i++) {
        int64_t dst_id = 0, cycles = 0;
        int found = 0, changed = 0;
        if (lookup(p->to->db, "SELECT id FROM experiments WHERE uid = ?1", ex.key[i], &dst_id,
                   &found) != 0) {
            r = to_fail(p, "looking up an experiment");
            break;
        }
        if ((r = begin(p)) != JOULE_OK)
            break;
        if (!found) {
            r = push_new(p, ex.id[i], &dst_id, &cycles);
            changed = dst_id != 0;
        } else {
            r = push_more(p, ex.id[i], dst_id, &cycles, &changed);
        }
        r = end(p, r);
        if (r != JOULE_OK)
            break;
        if (changed) {
            n->experiments++;
            n->cycles += cycles;
        } else {
            n->already++;
        }
    }
    keyed_free(&ex);
    return r;
}

/* The members of source group sid as group gid of the destination, each
 * experiment by its uid (all were pushed before). */
static enum joule_status group_members(struct push *p, int64_t sid, int64_t gid)
{
    struct keyed m;
    enum joule_status r =
        keyed_load(p,
                   "SELECT m.position, e.uid FROM group_members m JOIN experiments e"
                   " ON e.id = m.experiment_id WHERE m.group_id = ?1 ORDER BY m.position",
                   sid, &m);
    for (size_t k = 0; r == JOULE_OK && k < m.n; k++) {
        int64_t eid = 0;
        int found = 0;
        struct joule_db_stmt *st = NULL;
        if (lookup(p->to->db, "SELECT id FROM experiments WHERE uid = ?1", m.key[k], &eid,
                   &found) != 0)
            r = to_fail(p, "looking up an experiment");
        else if (found && joule_db_prepare(p->to->db,
                                           "INSERT INTO group_members (group_id, position,"
                                           " experiment_id) VALUES (?1, ?2, ?3)",
                                           &st) != 0)
            r = to_fail(p, "copying a group");
        if (r != JOULE_OK || !found)
            continue;
        joule_db_bind_int64(st, 1, gid);
        joule_db_bind_int64(st, 2, m.id[k]);
        joule_db_bind_int64(st, 3, eid);
        if (joule_db_step(st) == JOULE_DB_ERROR)
            r = to_fail(p, "copying a group");
        joule_db_finalize(st);
    }
    keyed_free(&m);
    return r;
}

static enum joule_status tune_trials(struct push *p, int64_t sid, int64_t rid)
{
    struct copy c = {"tune_trials", "run_id = ?1", sid, 0, "run_id", rid, NULL, 0};
    int64_t rows;
    return copy_rows(p, &c, &rows, NULL);
}

/* Rows with an id and a natural key (groups by uid, tunings by trials
 * file) the destination lacks, each with its children, in one
 * transaction; *added gets their number. */
struct parent {
    const char *list; /* the source's (id, key) */
    const char *find; /* the destination's id of key ?1 */
    const char *table;
    const char *tail; /* ON CONFLICT of the key */
    enum joule_status (*children)(struct push *p, int64_t sid, int64_t new_id);
};

static enum joule_status push_parents(struct push *p, const struct parent *d, int64_t *added)
{
    struct keyed k;
    enum joule_status r = keyed_load(p, d->list, 0, &k);
    for (size_t i = 0; r == JOULE_OK && i < k.n; i++) {
        int64_t id = 0, rows;
        int found = 0;
        if (!k.key[i])
            continue;
        if (lookup(p->to->db, d->find, k.key[i], &id, &found) != 0) {
            r = to_fail(p, "looking up a row to copy");
            break;
        }
        if (found)
            continue;
        if ((r = begin(p)) != JOULE_OK)
            break;
        struct copy c = {d->table, "id = ?1", k.id[i], 0, NULL, 0, d->tail, 1};
        r = copy_rows(p, &c, &rows, &id);
        if (r == JOULE_OK && id)
            r = d->children(p, k.id[i], id);
        r = end(p, r);
        if (r == JOULE_OK && id)
            (*added)++;
    }
    keyed_free(&k);
    return r;
}

enum joule_status joule_store_push(struct joule_store *from, struct joule_store *to,
                                   struct joule_push_counts *n)
{
    memset(n, 0, sizeof(*n));
    struct push p = {from, to};
    enum joule_status r = push_experiments(&p, n);
    static const struct parent groups = {"SELECT id, uid FROM groups WHERE ?1 = 0 ORDER BY id",
                                         "SELECT id FROM groups WHERE uid = ?1", "groups",
                                         "ON CONFLICT (uid) DO NOTHING", group_members};
    static const struct parent tunings = {
        "SELECT id, trials_path FROM tune_runs WHERE ?1 = 0 ORDER BY id",
        "SELECT id FROM tune_runs WHERE trials_path = ?1", "tune_runs",
        "ON CONFLICT (trials_path) DO NOTHING", tune_trials};
    if (r == JOULE_OK)
        r = push_parents(&p, &groups, &n->groups);
    if (r == JOULE_OK)
        r = push_parents(&p, &tunings, &n->tunings);
    if (r == JOULE_OK && (r = begin(&p)) == JOULE_OK) {
        r = copy_evals(&p, 0, 0, &n->evals);
        r = end(&p, r);
    }
    return r;
}
