/*
 * store.c - opening the results database (creating, migrating, refusing
 * files it cannot read) and the write side of store.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "store.h"
#include "store_int.h"
#include "alloc.h"
#include "clock.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define JOULE_STORE_DEFAULT_PATH "joule-results/joule.db"

enum joule_status joule_store_err(struct joule_store *s, enum joule_status st, const char *fmt,
                                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return st;
}

enum joule_status joule_store_fail(struct joule_store *s, const char *what)
{
    return joule_store_err(s, JOULE_ERR_IO, "%s: %s: %s", s->path, what,
                           joule_db_errmsg(s->db));
}

int joule_store_is_server(const char *target)
{
    return joule_db_is_pg(target);
}

const char *joule_store_path(const struct joule_store *s)
{
    return s ? s->path : "";
}

const char *joule_store_errmsg(const struct joule_store *s)
{
    return s ? s->errmsg : "";
}

void joule_store_close(struct joule_store *s)
{
    if (!s)
        return;
    joule_db_close(s->db);
    free(s->path);
    free(s);
}

/* mkdir -p of the folder holding path ("" or "." need nothing). */
static enum joule_status make_parent(const char *path, char *err, size_t err_size)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 1);
    if (!dir)
        return JOULE_ERR_NOMEM;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return JOULE_OK;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            joule_fmt(err, err_size, "%s: cannot create the folder %s: %s", path, dir,
                      strerror(errno));
            free(dir);
            return JOULE_ERR_IO;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(dir);
    return JOULE_OK;
}

/* Brings the database from its version to the current one, one transaction
 * a step.  Many processes may open a new database at once (nodes of a
 * cluster writing to one PostgreSQL database): each step waits for the
 * migration lock, then finds whether another process made it meanwhile. */
static enum joule_status migrate(struct joule_store *s, int64_t version)
{
    for (int64_t v = version; v < JOULE_STORE_SCHEMA_VERSION; v++) {
        if (joule_db_begin(s->db) != 0)
            return joule_store_fail(s, "starting the schema upgrade");
        int64_t now = 0;
        if (joule_db_lock_version(s->db, &now) != 0) {
            enum joule_status st = joule_store_fail(s, "reading the schema version");
            joule_db_rollback(s->db);
            return st;
        }
        if (now > v) {
            joule_db_commit(s->db);
            v = now - 1;
            continue;
        }
        char what[64];
        joule_fmt(what, sizeof(what), "upgrading the schema to version %d", (int)(v + 1));
        if (joule_db_exec_schema(s->db, joule_store_migrations[v]) != 0 ||
            joule_db_set_version(s->db, v + 1, JOULE_STORE_APPLICATION_ID) != 0 ||
            joule_db_commit(s->db) != 0) {
            enum joule_status st = joule_store_fail(s, what);
            joule_db_rollback(s->db);
            return st;
        }
    }
    return JOULE_OK;
}

/* Checks what the database is and migrates it. */
static enum joule_status store_setup(struct joule_store *s)
{
    const int pg = joule_db_is_postgres(s->db);
    int64_t version = 0, app = 0, n_tables = 0;
    enum joule_status rc = joule_db_probe(s->db, &version, &app, &n_tables);
    if (rc == JOULE_ERR_FORMAT)
        return joule_store_err(s, JOULE_ERR_FORMAT,
                               "%s: not a joule results database (%s); move it away or "
                               "choose another file with --db",
                               s->path, joule_db_errmsg(s->db));
    if (rc != JOULE_OK)
        return joule_store_fail(s, "reading the schema version");
    if (version == 0 && n_tables > 0)
        return joule_store_err(s, JOULE_ERR_FORMAT,
                               "%s: not a joule results database (%s database with "
                               "other tables)",
                               s->path, pg ? "a PostgreSQL" : "an SQLite");
    if (version > 0 && app != JOULE_STORE_APPLICATION_ID)
        return joule_store_err(s, JOULE_ERR_FORMAT,
                               "%s: not a joule results database (application id %lld)",
                               s->path, (long long)app);
    if (version > JOULE_STORE_SCHEMA_VERSION)
        return joule_store_err(s, JOULE_ERR_UNSUPPORTED,
                               "%s was written by a newer joule (schema %lld, this joule "
                               "knows %d): upgrade joule to read it",
                               s->path, (long long)version, JOULE_STORE_SCHEMA_VERSION);
    if (!pg) {
        /* WAL lets `joule results` read while a run writes; the mode is
         * persistent, so a read-only medium may refuse it: not fatal. */
        joule_db_exec(s->db, "PRAGMA journal_mode = WAL");
        if (joule_db_exec(s->db, "PRAGMA foreign_keys = ON") != 0)
            return joule_store_fail(s, "turning foreign keys on");
    }
    return migrate(s, version);
}

enum joule_status joule_store_open(const char *target, struct joule_store **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    if (err_size)
        err[0] = '\0';
    if (!target) {
        const char *env = getenv("JOULE_DB");
        target = env && env[0] ? env : JOULE_STORE_DEFAULT_PATH;
    }
    if (!target[0]) {
        joule_fmt(err, err_size, "the database path is empty");
        return JOULE_ERR_INVALID;
    }
    struct joule_store *s = joule_calloc(1, sizeof(*s));
    if (!s)
        return JOULE_ERR_NOMEM;
    /* Messages name the target, never its password. */
    size_t n = strlen(target) + 1;
    s->path = malloc(n);
    if (!s->path) {
        free(s);
        return JOULE_ERR_NOMEM;
    }
    joule_db_redact(target, s->path, n);
    enum joule_status st =
        joule_db_is_pg(target) ? JOULE_OK : make_parent(target, err, err_size);
    if (st == JOULE_OK)
        st = joule_db_open(target, &s->db, err, err_size);
    if (st != JOULE_OK) {
        joule_store_close(s);
        return st;
    }
    st = store_setup(s);
    if (st != JOULE_OK) {
        joule_strlcpy(err, s->errmsg, err_size);
        joule_store_close(s);
        return st;
    }
    *out = s;
    return JOULE_OK;
}

/* --- writing ------------------------------------------------------------- */

static void bind_text(struct joule_db_stmt *st, int i, const char *v)
{
    joule_db_bind_text(st, i, v);
}

/* Infinities too are stored as NULL: no measured number is infinite. */
static void bind_real(struct joule_db_stmt *st, int i, double v)
{
    if (isfinite(v))
        joule_db_bind_double(st, i, v);
    else
        joule_db_bind_null(st, i);
}

enum joule_status joule_store_prepare(struct joule_store *s, const char *sql,
                                      struct joule_db_stmt **st)
{
    if (joule_db_prepare(s->db, sql, st) != 0)
        return joule_store_fail(s, "preparing a statement");
    return JOULE_OK;
}

/* Steps a statement that returns no rows, then resets it for reuse. */
static enum joule_status run(struct joule_store *s, struct joule_db_stmt *st, const char *what)
{
    int rc = joule_db_step(st);
    enum joule_status r = JOULE_OK;
    if (rc == JOULE_DB_ERROR)
        r = joule_store_fail(s, what);
    joule_db_reset(st);
    return r;
}

/* Runs an INSERT ... RETURNING id; *id gets the id. */
static enum joule_status run_insert(struct joule_store *s, struct joule_db_stmt *st,
                                    const char *what, int64_t *id)
{
    int rc = joule_db_step(st);
    enum joule_status r = JOULE_OK;
    if (rc == JOULE_DB_ROW)
        *id = joule_db_column_int64(st, 0);
    while (rc == JOULE_DB_ROW)
        rc = joule_db_step(st);
    if (rc == JOULE_DB_ERROR)
        r = joule_store_fail(s, what);
    joule_db_reset(st);
    return r;
}

static enum joule_status begin(struct joule_store *s)
{
    if (joule_db_begin(s->db) != 0)
        return joule_store_fail(s, "starting a transaction");
    return JOULE_OK;
}

static enum joule_status end(struct joule_store *s, enum joule_status st)
{
    if (st == JOULE_OK) {
        if (joule_db_commit(s->db) == 0)
            return JOULE_OK;
        st = joule_store_fail(s, "committing");
    }
    joule_db_rollback(s->db);
    return st;
}

enum joule_status joule_store_new_uid(struct joule_store *s, char uid[33])
{
    unsigned char r[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(r, 1, sizeof(r), f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof(r))
        return joule_store_err(s, JOULE_ERR_IO, "cannot read /dev/urandom for a unique id");
    for (size_t i = 0; i < sizeof(r); i++)
        joule_fmt(uid + 2 * i, 3, "%02x", r[i]);
    return JOULE_OK;
}

static enum joule_status experiment_exists(struct joule_store *s, int64_t id)
{
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s, "SELECT 1 FROM experiments WHERE id = ?", &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    int rc = joule_db_step(st);
    if (rc == JOULE_DB_DONE)
        r = joule_store_err(s, JOULE_ERR_NOT_FOUND,
                            "no experiment %lld in %s (see `joule results list`)", (long long)id,
                            s->path);
    else if (rc != JOULE_DB_ROW)
        r = joule_store_fail(s, "looking up an experiment");
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_experiment_add(struct joule_store *s,
                                             const struct joule_store_experiment *e,
                                             int64_t *id)
{
    *id = 0;
    char uid[33];
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_new_uid(s, uid);
    if (r != JOULE_OK)
        return r;
    r = joule_store_prepare(
        s,
        "INSERT INTO experiments (uid, name, status, created_at, config_yaml, config_hash,"
        " model_path, model_name, model_digest, precision, backend, dataset, batch_size,"
        " cycles_planned, cycle_order, environment_json, meter_json)"
        " VALUES (?15, ?1, 'running', ?16, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
        " ?11, ?12, ?13, ?14) RETURNING id",
        &st);
    if (r != JOULE_OK)
        return r;
    bind_text(st, 15, uid);
    joule_db_bind_double(st, 16, joule_wall_s());
    bind_text(st, 1, e->name ? e->name : "");
    bind_text(st, 2, e->config_yaml ? e->config_yaml : "");
    bind_text(st, 3, e->config_hash ? e->config_hash : "");
    bind_text(st, 4, e->model_path);
    bind_text(st, 5, e->model_name);
    bind_text(st, 6, e->model_digest);
    bind_text(st, 7, e->precision);
    bind_text(st, 8, e->backend);
    bind_text(st, 9, e->dataset);
    joule_db_bind_int64(st, 10, e->batch_size);
    joule_db_bind_int64(st, 11, e->cycles_planned);
    bind_text(st, 12, e->cycle_order);
    bind_text(st, 13, e->environment_json);
    bind_text(st, 14, e->meter_json);
    r = run_insert(s, st, "adding an experiment", id);
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_experiment_status(struct joule_store *s, int64_t id,
                                                const char *status, const char *flags)
{
    if (!status || !status[0])
        return joule_store_err(s, JOULE_ERR_INVALID, "an experiment status is empty");
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(
        s,
        "UPDATE experiments SET status = ?1, flags = coalesce(?2, flags),"
        " finished_at = ?4 WHERE id = ?3",
        &st);
    if (r != JOULE_OK)
        return r;
    if (strcmp(status, JOULE_STATUS_RUNNING) == 0)
        joule_db_bind_null(st, 4);
    else
        joule_db_bind_double(st, 4, joule_wall_s());
    bind_text(st, 1, status);
    bind_text(st, 2, flags);
    joule_db_bind_int64(st, 3, id);
    r = run(s, st, "setting an experiment's status");
    joule_db_finalize(st);
    if (r == JOULE_OK && joule_db_changes(s->db) == 0)
        r = experiment_exists(s, id);
    return r;
}

enum joule_status joule_store_eval_add(struct joule_store *s, const struct joule_store_eval *e,
                                       int64_t *id)
{
    if (id)
        *id = 0;
    enum joule_status r = JOULE_OK;
    if (!e->task || !e->task[0])
        return joule_store_err(s, JOULE_ERR_INVALID, "an accuracy score without its task");
    if (e->experiment_id > 0 && (r = experiment_exists(s, e->experiment_id)) != JOULE_OK)
        return r;
    struct joule_db_stmt *st = NULL;
    r = joule_store_prepare(
        s,
        "INSERT INTO evals (experiment_id, created_at, model_path, model_digest,"
        " weight_type, task, dataset, n, score, n_correct, nll, rouge1, rouge2, rougeL,"
        " params) VALUES (?1, ?15, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        " RETURNING id",
        &st);
    if (r != JOULE_OK)
        return r;
    const struct joule_eval_result *x = &e->result;
    if (e->experiment_id > 0)
        joule_db_bind_int64(st, 1, e->experiment_id);
    else
        joule_db_bind_null(st, 1);
    bind_text(st, 2, e->model_path);
    bind_text(st, 3, e->model_digest);
    bind_text(st, 4, e->weight_type);
    bind_text(st, 5, e->task ? e->task : "");
    bind_text(st, 6, e->dataset);
    joule_db_bind_int64(st, 7, x->n);
    bind_real(st, 8, x->score);
    if (x->task == JOULE_EVAL_PPL || x->task == JOULE_EVAL_ROUGE)
        joule_db_bind_null(st, 9);
    else
        joule_db_bind_int64(st, 9, x->n_correct);
    bind_real(st, 10, x->nll);
    bind_real(st, 11, x->rouge1);
    bind_real(st, 12, x->rouge2);
    bind_real(st, 13, x->rougeL);
    bind_text(st, 14, e->params ? e->params : "");
    joule_db_bind_double(st, 15, joule_wall_s());
    int64_t new_id = 0;
    r = run_insert(s, st, "storing an accuracy score", &new_id);
    joule_db_finalize(st);
    if (r == JOULE_OK && id)
        *id = new_id;
    return r;
}

static enum joule_status cycle_rows(struct joule_store *s, int64_t id,
                                    const struct joule_store_cycle *c,
                                    const struct joule_store_metric *m, size_t n_metrics,
                                    const struct joule_store_domain *d, size_t n_domains,
                                    const struct joule_store_request *q, size_t n_requests)
{
    struct joule_db_stmt *st = NULL;
    enum joule_status r =
        joule_store_prepare(s, "DELETE FROM cycles WHERE experiment_id = ? AND cycle = ?", &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    joule_db_bind_int64(st, 2, c->cycle);
    r = run(s, st, "replacing a cycle");
    joule_db_finalize(st);
    if (r != JOULE_OK)
        return r;

    r = joule_store_prepare(
        s,
        "INSERT INTO cycles (experiment_id, cycle, position, started_at, duration_s,"
        " repeats, flags) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    joule_db_bind_int64(st, 2, c->cycle);
    joule_db_bind_int64(st, 3, c->position);
    bind_real(st, 4, c->started_at);
    bind_real(st, 5, c->duration_s);
    joule_db_bind_int64(st, 6, c->repeats);
    bind_text(st, 7, c->flags ? c->flags : "");
    r = run(s, st, "adding a cycle");
    joule_db_finalize(st);
    if (r != JOULE_OK)
        return r;

    r = joule_store_prepare(
        s,
        "INSERT INTO metrics (experiment_id, cycle, name, value) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (experiment_id, cycle, name) DO UPDATE SET value = excluded.value",
        &st);
    for (size_t i = 0; r == JOULE_OK && i < n_metrics; i++) {
        joule_db_bind_int64(st, 1, id);
        joule_db_bind_int64(st, 2, c->cycle);
        bind_text(st, 3, m[i].name);
        bind_real(st, 4, m[i].value);
        r = run(s, st, "adding a metric");
    }
    joule_db_finalize(st);
    if (r != JOULE_OK)
        return r;

    r = joule_store_prepare(
        s,
        "INSERT INTO domains (experiment_id, cycle, window_name, domain,"
        " source, kind, provenance, in_total, flags, energy_j, bound_j, net_energy_j,"
        " net_bound_j, idle_power_w, avg_power_w, peak_power_w, interval_s, n_samples,"
        " note, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (experiment_id, cycle, window_name, domain) DO UPDATE SET"
        " source = excluded.source, kind = excluded.kind,"
        " provenance = excluded.provenance, in_total = excluded.in_total,"
        " flags = excluded.flags, energy_j = excluded.energy_j,"
        " bound_j = excluded.bound_j, net_energy_j = excluded.net_energy_j,"
        " net_bound_j = excluded.net_bound_j, idle_power_w = excluded.idle_power_w,"
        " avg_power_w = excluded.avg_power_w, peak_power_w = excluded.peak_power_w,"
        " interval_s = excluded.interval_s, n_samples = excluded.n_samples,"
        " note = excluded.note, seq = excluded.seq",
        &st);
    for (size_t i = 0; r == JOULE_OK && i < n_domains; i++) {
        const struct joule_domain_reading *x = d[i].r;
        joule_db_bind_int64(st, 1, id);
        joule_db_bind_int64(st, 2, c->cycle);
        bind_text(st, 3, d[i].window ? d[i].window : "");
        bind_text(st, 4, x->name);
        bind_text(st, 5, x->source);
        bind_text(st, 6, joule_domain_kind_str(x->kind));
        bind_text(st, 7, joule_provenance_str(x->provenance));
        joule_db_bind_int64(st, 8, x->in_total);
        joule_db_bind_int64(st, 9, (int64_t)x->flags);
        bind_real(st, 10, x->energy_j);
        bind_real(st, 11, x->bound_j);
        bind_real(st, 12, x->net_energy_j);
        bind_real(st, 13, x->net_bound_j);
        bind_real(st, 14, x->idle_power_w);
        bind_real(st, 15, x->avg_power_w);
        bind_real(st, 16, x->peak_power_w);
        bind_real(st, 17, x->interval_s);
        joule_db_bind_int64(st, 18, (int64_t)x->n_samples);
        bind_text(st, 19, x->note);
        joule_db_bind_int64(st, 20, (int64_t)i);
        r = run(s, st, "adding a domain reading");
    }
    joule_db_finalize(st);
    if (r != JOULE_OK)
        return r;

    r = joule_store_prepare(
        s,
        "INSERT INTO requests (experiment_id, cycle, idx, sample_id, batch,"
        " n_input, n_output, finish, queue_s, prefill_s, ttft_s, decode_s, total_s,"
        " itl_mean_s, itl_p50_s, itl_p90_s, itl_max_s, energy_prefill_j,"
        " energy_decode_j, text, error, tokens)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (experiment_id, cycle, idx) DO UPDATE SET"
        " sample_id = excluded.sample_id, batch = excluded.batch,"
        " n_input = excluded.n_input, n_output = excluded.n_output,"
        " finish = excluded.finish, queue_s = excluded.queue_s,"
        " prefill_s = excluded.prefill_s, ttft_s = excluded.ttft_s,"
        " decode_s = excluded.decode_s, total_s = excluded.total_s,"
        " itl_mean_s = excluded.itl_mean_s, itl_p50_s = excluded.itl_p50_s,"
        " itl_p90_s = excluded.itl_p90_s, itl_max_s = excluded.itl_max_s,"
        " energy_prefill_j = excluded.energy_prefill_j,"
        " energy_decode_j = excluded.energy_decode_j, text = excluded.text,"
        " error = excluded.error, tokens = excluded.tokens",
        &st);
    for (size_t i = 0; r == JOULE_OK && i < n_requests; i++) {
        const struct joule_store_request *x = &q[i];
        joule_db_bind_int64(st, 1, id);
        joule_db_bind_int64(st, 2, c->cycle);
        joule_db_bind_int64(st, 3, x->index);
        bind_text(st, 4, x->sample_id);
        joule_db_bind_int64(st, 5, x->batch);
        joule_db_bind_int64(st, 6, x->n_input);
        joule_db_bind_int64(st, 7, x->n_output);
        bind_text(st, 8, x->finish);
        bind_real(st, 9, x->queue_s);
        bind_real(st, 10, x->prefill_s);
        bind_real(st, 11, x->ttft_s);
        bind_real(st, 12, x->decode_s);
        bind_real(st, 13, x->total_s);
        bind_real(st, 14, x->itl_mean_s);
        bind_real(st, 15, x->itl_p50_s);
        bind_real(st, 16, x->itl_p90_s);
        bind_real(st, 17, x->itl_max_s);
        bind_real(st, 18, x->energy_prefill_j);
        bind_real(st, 19, x->energy_decode_j);
        bind_text(st, 20, x->text);
        bind_text(st, 21, x->error);
        bind_text(st, 22, x->tokens);
        r = run(s, st, "adding a request");
    }
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_cycle_add(struct joule_store *s, int64_t id,
                                        const struct joule_store_cycle *c,
                                        const struct joule_store_metric *m, size_t n_metrics,
                                        const struct joule_store_domain *d, size_t n_domains,
                                        const struct joule_store_request *r, size_t n_requests)
{
    enum joule_status st = experiment_exists(s, id);
    if (st != JOULE_OK)
        return st;
    st = begin(s);
    if (st != JOULE_OK)
        return st;
    st = cycle_rows(s, id, c, m, n_metrics, d, n_domains, r, n_requests);
    return end(s, st);
}

enum joule_status joule_store_timeline_add(struct joule_store *s, int64_t id,
                                           const char *const *domains, size_t n_domains,
                                           const double *t_s, const double *power_w,
                                           size_t n_samples)
{
    enum joule_status r = experiment_exists(s, id);
    if (r != JOULE_OK)
        return r;
    r = begin(s);
    if (r != JOULE_OK)
        return r;
    struct joule_db_stmt *st = NULL;
    r = joule_store_prepare(s,
                            "INSERT INTO timeline (experiment_id, t_s, domain, power_w, seq)"
                            " VALUES (?, ?, ?, ?, ?)",
                            &st);
    for (size_t i = 0; r == JOULE_OK && i < n_samples; i++) {
        for (size_t k = 0; r == JOULE_OK && k < n_domains; k++) {
            joule_db_bind_int64(st, 1, id);
            bind_real(st, 2, t_s[i]);
            bind_text(st, 3, domains[k]);
            bind_real(st, 4, power_w[i * n_domains + k]);
            joule_db_bind_int64(st, 5, (int64_t)k);
            r = run(s, st, "adding power samples");
        }
    }
    joule_db_finalize(st);
    return end(s, r);
}

/* The newest experiment id of a query with text parameters a and b (b may be
 * NULL: not bound); *id = 0 when none. */
static enum joule_status find_one(struct joule_store *s, const char *sql, const char *a,
                                  const char *b, int64_t *id)
{
    *id = 0;
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s, sql, &st);
    if (r != JOULE_OK)
        return r;
    bind_text(st, 1, a ? a : "");
    if (b)
        bind_text(st, 2, b);
    int rc = joule_db_step(st);
    if (rc == JOULE_DB_ROW)
        *id = joule_db_column_int64(st, 0);
    else if (rc != JOULE_DB_DONE)
        r = joule_store_fail(s, "looking for an experiment of the same config");
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_find_incomplete(struct joule_store *s, const char *config_hash,
                                              int64_t *id)
{
    return find_one(s,
                    "SELECT id FROM experiments WHERE config_hash = ? AND status"
                    " IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1",
                    config_hash, NULL, id);
}

enum joule_status joule_store_find_completed(struct joule_store *s, const char *config_hash,
                                             const char *model_digest, int64_t *id)
{
    return find_one(s,
                    "SELECT id FROM experiments WHERE config_hash = ? AND model_digest = ?"
                    " AND status = 'completed' ORDER BY id DESC LIMIT 1",
                    config_hash, model_digest ? model_digest : "", id);
}

enum joule_status joule_store_experiment_get(struct joule_store *s, int64_t id,
                                             char **config_yaml, unsigned char *done, size_t n,
                                             char *status, size_t status_size)
{
    if (config_yaml)
        *config_yaml = NULL;
    if (done && n)
        memset(done, 0, n);
    struct joule_db_stmt *st = NULL;
    enum joule_status r =
        joule_store_prepare(s, "SELECT config_yaml, status FROM experiments WHERE id = ?", &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    int rc = joule_db_step(st);
    if (rc == JOULE_DB_DONE) {
        joule_db_finalize(st);
        return joule_store_err(s, JOULE_ERR_NOT_FOUND,
                               "no experiment %lld in %s (see `joule results list`)",
                               (long long)id, s->path);
    }
    if (rc != JOULE_DB_ROW) {
        r = joule_store_fail(s, "reading an experiment");
        joule_db_finalize(st);
        return r;
    }
    const char *y = joule_db_column_text(st, 0);
    const char *stat = joule_db_column_text(st, 1);
    if (status && status_size)
        joule_strlcpy(status, stat ? stat : "", status_size);
    if (config_yaml) {
        size_t len = y ? strlen(y) : 0;
        *config_yaml = malloc(len + 1);
        if (!*config_yaml) {
            joule_db_finalize(st);
            return JOULE_ERR_NOMEM;
        }
        if (len)
            memcpy(*config_yaml, y, len);
        (*config_yaml)[len] = '\0';
    }
    joule_db_finalize(st);
    if (!done || n == 0)
        return JOULE_OK;
    r = joule_store_prepare(s, "SELECT cycle FROM cycles WHERE experiment_id = ?", &st);
    if (r != JOULE_OK)
        goto fail;
    joule_db_bind_int64(st, 1, id);
    while ((rc = joule_db_step(st)) == JOULE_DB_ROW) {
        int64_t c = joule_db_column_int64(st, 0);
        if (c >= 0 && (uint64_t)c < n)
            done[c] = 1;
    }
    if (rc != JOULE_DB_DONE)
        r = joule_store_fail(s, "reading the cycles of an experiment");
    joule_db_finalize(st);
    if (r == JOULE_OK)
        return JOULE_OK;
fail:
    if (config_yaml) {
        free(*config_yaml);
        *config_yaml = NULL;
    }
    return r;
}

enum joule_status joule_store_remove(struct joule_store *s, int64_t id)
{
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s, "DELETE FROM experiments WHERE id = ?", &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    r = run(s, st, "removing an experiment");
    joule_db_finalize(st);
    if (r == JOULE_OK && joule_db_changes(s->db) == 0)
        r = joule_store_err(s, JOULE_ERR_NOT_FOUND,
                            "no experiment %lld in %s (see `joule results list`)",
                            (long long)id, s->path);
    return r;
}

/* --- prompt tunings ---------------------------------------------------------- */

static enum joule_status tune_run_row(struct joule_store *s, const struct joule_store_tune_run *r,
                                      int64_t *id)
{
    struct joule_db_stmt *st = NULL;
    /* Made once per trials.csv; the tuning energy adds up over invocations. */
    static const char sql[] =
              "INSERT INTO tune_runs (created_at, updated_at, trials_path, model_path,"
              " model_digest, task, dataset, settings, tuning_energy_j, energy_provenance)"
              " VALUES (?9, ?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
              " ON CONFLICT(trials_path) DO UPDATE SET updated_at = excluded.updated_at,"
              " model_path = excluded.model_path, model_digest = excluded.model_digest,"
              " task = excluded.task, dataset = excluded.dataset, settings = excluded.settings,"
              " tuning_energy_j = CASE WHEN excluded.tuning_energy_j IS NULL"
              " THEN tune_runs.tuning_energy_j ELSE coalesce(tune_runs.tuning_energy_j, 0)"
              " + excluded.tuning_energy_j END,"
              " energy_provenance = coalesce(excluded.energy_provenance,"
              " tune_runs.energy_provenance)";
    enum joule_status e = joule_store_prepare(s, sql, &st);
    if (e != JOULE_OK)
        return e;
    bind_text(st, 1, r->trials_path);
    bind_text(st, 2, r->model_path);
    bind_text(st, 3, r->model_digest);
    bind_text(st, 4, r->task);
    bind_text(st, 5, r->dataset);
    bind_text(st, 6, r->settings ? r->settings : "");
    bind_real(st, 7, r->tuning_energy_j);
    bind_text(st, 8, r->energy_provenance);
    joule_db_bind_double(st, 9, joule_wall_s());
    e = run(s, st, "storing a tuning");
    joule_db_finalize(st);
    if (e != JOULE_OK ||
        (e = joule_store_prepare(s, "SELECT id FROM tune_runs WHERE trials_path = ?1", &st)) !=
            JOULE_OK)
        return e;
    bind_text(st, 1, r->trials_path);
    if (joule_db_step(st) == JOULE_DB_ROW)
        *id = joule_db_column_int64(st, 0);
    else
        e = joule_store_fail(s, "finding a tuning");
    joule_db_finalize(st);
    return e;
}

enum joule_status joule_store_tune_save(struct joule_store *s, const struct joule_store_tune_run *r,
                                        const struct joule_store_tune_trial *t, size_t n,
                                        int64_t *id)
{
    int64_t run_id = 0;
    if (!r->trials_path || !r->trials_path[0])
        return joule_store_err(s, JOULE_ERR_INVALID, "a tuning without its trials file");
    enum joule_status e = begin(s);
    if (e != JOULE_OK)
        return e;
    e = tune_run_row(s, r, &run_id);
    struct joule_db_stmt *st = NULL;
    if (e == JOULE_OK && (e = joule_store_prepare(s, "DELETE FROM tune_trials WHERE run_id = ?1",
                                                  &st)) == JOULE_OK) {
        joule_db_bind_int64(st, 1, run_id);
        e = run(s, st, "replacing a tuning's trials");
        joule_db_finalize(st);
        st = NULL;
    }
    if (e == JOULE_OK)
        e = joule_store_prepare(
            s,
            "INSERT INTO tune_trials (run_id, number, config, state, value, accuracy,"
            " rougeL, exact, numeric, energy_j, tpj, latency_s, tokens, n_examples,"
            " pareto_rank, energy_provenance) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
            " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            &st);
    for (size_t i = 0; e == JOULE_OK && i < n; i++) {
        joule_db_bind_int64(st, 1, run_id);
        joule_db_bind_int64(st, 2, t[i].number);
        bind_text(st, 3, t[i].config ? t[i].config : "");
        bind_text(st, 4, t[i].state ? t[i].state : "");
        bind_real(st, 5, t[i].value);
        bind_real(st, 6, t[i].accuracy);
        bind_real(st, 7, t[i].rouge_l);
        bind_real(st, 8, t[i].exact);
        bind_real(st, 9, t[i].numeric);
        bind_real(st, 10, t[i].energy_j);
        bind_real(st, 11, t[i].tpj);
        bind_real(st, 12, t[i].latency_s);
        joule_db_bind_int64(st, 13, t[i].tokens);
        joule_db_bind_int64(st, 14, t[i].n_examples);
        joule_db_bind_int64(st, 15, t[i].pareto_rank);
        bind_text(st, 16, t[i].energy_provenance);
        e = run(s, st, "storing a trial");
    }
    joule_db_finalize(st);
    e = end(s, e);
    if (e == JOULE_OK && id)
        *id = run_id;
    return e;
}

/* --- groups: the experiments of a sweep or a compare ------------------------- */

enum joule_status joule_store_group_add(struct joule_store *s, const char *kind,
                                        const char *label, const int64_t *ids, size_t n,
                                        int64_t *id)
{
    for (size_t i = 0; i < n; i++) {
        enum joule_status e = experiment_exists(s, ids[i]);
        if (e != JOULE_OK)
            return e;
    }
    char uid[33];
    enum joule_status e = joule_store_new_uid(s, uid);
    if (e != JOULE_OK || (e = begin(s)) != JOULE_OK)
        return e;
    struct joule_db_stmt *st = NULL;
    int64_t gid = 0;
    e = joule_store_prepare(
        s,
        "INSERT INTO groups (kind, created_at, label, uid) VALUES (?1, ?3, ?2, ?4)"
        " RETURNING id",
        &st);
    if (e == JOULE_OK) {
        bind_text(st, 1, kind);
        bind_text(st, 2, label);
        joule_db_bind_double(st, 3, joule_wall_s());
        bind_text(st, 4, uid);
        e = run_insert(s, st, "storing a group", &gid);
        joule_db_finalize(st);
        st = NULL;
    }
    if (e == JOULE_OK)
        e = joule_store_prepare(s,
                                "INSERT INTO group_members (group_id, position, experiment_id)"
                                " VALUES (?1, ?2, ?3)",
                                &st);
    for (size_t i = 0; e == JOULE_OK && i < n; i++) {
        joule_db_bind_int64(st, 1, gid);
        joule_db_bind_int64(st, 2, (int64_t)i);
        joule_db_bind_int64(st, 3, ids[i]);
        e = run(s, st, "storing a group member");
    }
    joule_db_finalize(st);
    e = end(s, e);
    if (e == JOULE_OK && id)
        *id = gid;
    return e;
}

enum joule_status joule_store_group_members(struct joule_store *s, const char *kind, int64_t id,
                                            int64_t *ids, size_t cap, size_t *n)
{
    *n = 0;
    struct joule_db_stmt *st = NULL;
    enum joule_status e =
        joule_store_prepare(s, "SELECT 1 FROM groups WHERE id = ?1 AND kind = ?2", &st);
    if (e != JOULE_OK)
        return e;
    joule_db_bind_int64(st, 1, id);
    bind_text(st, 2, kind);
    const int found = joule_db_step(st) == JOULE_DB_ROW;
    joule_db_finalize(st);
    if (!found)
        return joule_store_err(s, JOULE_ERR_NOT_FOUND, "no %s %lld", kind, (long long)id);
    e = joule_store_prepare(
        s, "SELECT experiment_id FROM group_members WHERE group_id = ?1 ORDER BY position", &st);
    if (e != JOULE_OK)
        return e;
    joule_db_bind_int64(st, 1, id);
    while (joule_db_step(st) == JOULE_DB_ROW && *n < cap)
        ids[(*n)++] = joule_db_column_int64(st, 0);
    joule_db_finalize(st);
    return JOULE_OK;
}
