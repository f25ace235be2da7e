/*
 * query.c - the read side of the results store: the tables behind
 * `joule results` (joule_store_query, joule_store_compare).
 */
#define _POSIX_C_SOURCE 200809L
#include "store_int.h"
#include "alloc.h"
#include "stats.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The metrics the runner writes, in the order results show them; others
 * follow alphabetically. */
static const char *const canonical_metrics[] = {
    "duration_s", "prefill_s", "decode_s", "repeats", "requests", "tokens_in", "tokens_out",
    "energy_prefill_j", "energy_decode_j", "energy_total_j", "energy_total_bound_j",
    "energy_net_j", "energy_net_bound_j", "ept_in_j_per_tok", "ept_out_j_per_tok",
    "ept_total_j_per_tok", "ept_in_net_j_per_tok", "ept_out_net_j_per_tok",
    "tokens_per_joule", "energy_per_request_j", "j_per_1k_out_tokens", "throughput_tok_s",
    "throughput_total_tok_s", "throughput_req_s", "latency_mean_s", "latency_median_s",
    "latency_p90_s", "latency_p99_s", "latency_min_s", "latency_max_s", "latency_std_s",
    "ttft_mean_s", "ttft_p90_s", "itl_mean_s", "itl_p90_s", "power_avg_w", "power_median_w",
    "power_min_w", "power_max_w", "peak_rss_mib", "model_bytes", "n_params", "flops",
    "flops_per_joule",
};

static size_t metric_rank(const char *name)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(canonical_metrics); i++)
        if (strcmp(name, canonical_metrics[i]) == 0)
            return i;
    return JOULE_ARRAY_LEN(canonical_metrics);
}

static int metric_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t rx = metric_rank(x), ry = metric_rank(y);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

/* Unix seconds t as UTC text, ISO 8601 ("2024-01-02T03:04:05Z") or, iso 0,
 * as SQL prints it ("2024-01-02 03:04:05"); "" when t is missing. */
static void utc_time(double t, int iso, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!isfinite(t))
        return;
    time_t tt = (time_t)floor(t);
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return;
    strftime(buf, size, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

static void iso_time(double t, char *buf, size_t size)
{
    utc_time(t, 1, buf, size);
}

/* Runs sql (with ?1 bound to id when it has a parameter) into a new table:
 * integers and reals become numbers, text stays text, NULL is missing. */
static enum joule_status sql_table(struct joule_store *s, const char *sql, int64_t id,
                                   struct joule_table **out)
{
    *out = NULL;
    struct joule_db_stmt *st = NULL;
    if (joule_db_prepare(s->db, sql, &st) != 0)
        return joule_store_fail(s, "preparing a query");
    if (joule_db_param_count(st) > 0)
        joule_db_bind_int64(st, 1, id);
    struct joule_table *t = joule_table_new();
    enum joule_status r = t ? JOULE_OK : JOULE_ERR_NOMEM;
    /* The columns are known once the query ran (PostgreSQL). */
    int rc = r == JOULE_OK ? joule_db_step(st) : JOULE_DB_DONE;
    int nc = joule_db_column_count(st);
    for (int c = 0; r == JOULE_OK && c < nc; c++)
        r = joule_table_add_col(t, joule_db_column_name(st, c));
    for (; r == JOULE_OK && rc == JOULE_DB_ROW; rc = joule_db_step(st)) {
        size_t row;
        r = joule_table_add_row(t, &row);
        for (int c = 0; r == JOULE_OK && c < nc; c++) {
            switch (joule_db_column_type(st, c)) {
            case JOULE_DB_INT:
            case JOULE_DB_FLOAT:
                r = joule_table_set_number(t, row, (size_t)c, joule_db_column_double(st, c));
                break;
            case JOULE_DB_TEXT:
                r = joule_table_set_text(t, row, (size_t)c,
                                         joule_db_column_text(st, c));
                break;
            default:
                break;
            }
        }
    }
    if (r == JOULE_OK && rc != JOULE_DB_DONE)
        r = joule_store_fail(s, "reading the results");
    joule_db_finalize(st);
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

/* sql_table, with its column "created" (Unix seconds) as UTC text
 * "YYYY-MM-DD HH:MM:SS". */
static enum joule_status dated_table(struct joule_store *s, const char *sql, int64_t id,
                                     struct joule_table **out)
{
    enum joule_status r = sql_table(s, sql, id, out);
    size_t c = r == JOULE_OK ? joule_table_find_col(*out, "created") : (size_t)-1;
    for (size_t i = 0; r == JOULE_OK && c != (size_t)-1 && i < joule_table_rows(*out); i++) {
        char when[32];
        utc_time(joule_table_number(*out, i, c), 0, when, sizeof(when));
        r = joule_table_set_text(*out, i, c, when[0] ? when : NULL);
    }
    if (r != JOULE_OK) {
        joule_table_free(*out);
        *out = NULL;
    }
    return r;
}

static enum joule_status copy_cell(struct joule_table *dst, size_t row, size_t col,
                                   const struct joule_table *src, size_t srow, size_t scol)
{
    if (joule_table_is_number(src, srow, scol))
        return joule_table_set_number(dst, row, col, joule_table_number(src, srow, scol));
    if (scol >= joule_table_cols(src) || srow >= joule_table_rows(src))
        return JOULE_OK;
    const char *txt = joule_table_text(src, srow, scol);
    /* An empty text cell may be missing or ""; both print the same. */
    return joule_table_set_text(dst, row, col, txt[0] ? txt : NULL);
}

static enum joule_status add_cols(struct joule_table *t, const char *const *names, size_t n)
{
    enum joule_status r = JOULE_OK;
    for (size_t i = 0; r == JOULE_OK && i < n; i++)
        r = joule_table_add_col(t, names[i]);
    return r;
}

/* The experiment row, or JOULE_ERR_NOT_FOUND with the message users see. */
static enum joule_status load_experiment(struct joule_store *s, int64_t id,
                                         struct joule_table **e)
{
    enum joule_status r = sql_table(s, "SELECT * FROM experiments WHERE id = ?1", id, e);
    if (r == JOULE_OK && joule_table_rows(*e) == 0) {
        joule_table_free(*e);
        *e = NULL;
        r = joule_store_err(s, JOULE_ERR_NOT_FOUND,
                            "no experiment %lld in %s (see `joule results list`)",
                            (long long)id, s->path);
    }
    return r;
}

static const char *ecell(const struct joule_table *e, const char *col)
{
    return joule_table_text(e, 0, joule_table_find_col(e, col));
}

static double enum_(const struct joule_table *e, const char *col)
{
    return joule_table_number(e, 0, joule_table_find_col(e, col));
}

/* The cycles of an experiment and its metrics as a matrix. */
struct exp_data {
    struct joule_table *cyc;    /* cycle, position, started_at, ..., one row per cycle */
    size_t n_cycles;
    char **names;               /* metric names, canonical order */
    size_t n_metrics;
    double *vals;               /* [n_metrics][n_cycles], NAN when absent */
};

static void exp_data_free(struct exp_data *d)
{
    joule_table_free(d->cyc);
    for (size_t i = 0; i < d->n_metrics; i++)
        free(d->names[i]);
    free(d->names);
    free(d->vals);
    memset(d, 0, sizeof(*d));
}

static size_t find_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return (size_t)-1;
}

static enum joule_status load_data(struct joule_store *s, int64_t id, struct exp_data *d)
{
    memset(d, 0, sizeof(*d));
    enum joule_status r = sql_table(s,
                                    "SELECT cycle, position, started_at, duration_s, repeats,"
                                    " flags FROM cycles WHERE experiment_id = ?1 ORDER BY cycle",
                                    id, &d->cyc);
    if (r != JOULE_OK)
        return r;
    d->n_cycles = joule_table_rows(d->cyc);
    struct joule_table *names = NULL;
    r = sql_table(s, "SELECT DISTINCT name FROM metrics WHERE experiment_id = ?1", id, &names);
    if (r != JOULE_OK)
        goto fail;
    size_t n = joule_table_rows(names);
    d->names = joule_calloc(n ? n : 1, sizeof(char *));
    if (!d->names) {
        r = JOULE_ERR_NOMEM;
        joule_table_free(names);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const char *nm = joule_table_text(names, i, 0);
        size_t len = strlen(nm) + 1;
        d->names[i] = malloc(len);
        if (!d->names[i]) {
            r = JOULE_ERR_NOMEM;
            break;
        }
        memcpy(d->names[i], nm, len);
        d->n_metrics++;
    }
    joule_table_free(names);
    if (r != JOULE_OK)
        goto fail;
    qsort(d->names, d->n_metrics, sizeof(char *), metric_cmp);
    size_t cells;
    if (!joule_mul_size(d->n_metrics ? d->n_metrics : 1, d->n_cycles ? d->n_cycles : 1,
                        &cells)) {
        r = JOULE_ERR_NOMEM;
        goto fail;
    }
    d->vals = joule_calloc(cells, sizeof(double));
    if (!d->vals) {
        r = JOULE_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < cells; i++)
        d->vals[i] = NAN;
    struct joule_db_stmt *st = NULL;
    if (joule_db_prepare(s->db, "SELECT cycle, name, value FROM metrics WHERE experiment_id = ?1",
                         &st) != 0) {
        r = joule_store_fail(s, "preparing a query");
        goto fail;
    }
    joule_db_bind_int64(st, 1, id);
    int rc;
    while ((rc = joule_db_step(st)) == JOULE_DB_ROW) {
        double cyc = joule_db_column_double(st, 0);
        const char *nm = joule_db_column_text(st, 1);
        size_t m = nm ? find_name(d->names, d->n_metrics, nm) : (size_t)-1;
        size_t c = (size_t)-1;
        for (size_t k = 0; k < d->n_cycles; k++)
            if (joule_table_number(d->cyc, k, 0) == cyc)
                c = k;
        if (m == (size_t)-1 || c == (size_t)-1)
            continue;
        if (joule_db_column_type(st, 2) != JOULE_DB_NULL)
            d->vals[m * d->n_cycles + c] = joule_db_column_double(st, 2);
    }
    if (rc != JOULE_DB_DONE)
        r = joule_store_fail(s, "reading the metrics");
    joule_db_finalize(st);
    if (r == JOULE_OK)
        return JOULE_OK;
fail:
    exp_data_free(d);
    return r;
}

static struct joule_summary metric_summary(const struct exp_data *d, const char *name)
{
    size_t m = find_name(d->names, d->n_metrics, name);
    if (m == (size_t)-1)
        return joule_summarize(NULL, 0);
    return joule_summarize(d->vals + m * d->n_cycles, d->n_cycles);
}

/* --- the queries ----------------------------------------------------------- */

/* The provenance of an experiment's energy figures: the weakest of the
 * domains summed into its totals (as a reading's total_provenance is),
 * "unavailable" when nothing was summed.  EXP is the SQL of its id. */
#define ENERGY_PROVENANCE_SQL(EXP)                                                       \
    "(SELECT CASE max(CASE provenance WHEN 'measured' THEN 0 WHEN 'sampled' THEN 1"     \
    "   ELSE 2 END) WHEN 0 THEN 'measured' WHEN 1 THEN 'sampled' WHEN 2 THEN 'estimated'" \
    "   ELSE 'unavailable' END FROM domains dp WHERE dp.experiment_id = " EXP             \
    "   AND dp.in_total = 1 AND dp.provenance <> 'unavailable')"

static enum joule_status energy_provenance(struct joule_store *s, int64_t id, char *out,
                                           size_t size)
{
    struct joule_table *t = NULL;
    enum joule_status r = sql_table(s, "SELECT " ENERGY_PROVENANCE_SQL("?1"), id, &t);
    if (r == JOULE_OK)
        joule_strlcpy(out, joule_table_rows(t) ? joule_table_text(t, 0, 0) : "unavailable",
                      size);
    joule_table_free(t);
    return r;
}

/* An energy figure by its name's unit: joules, watts, per joule. */
static int is_energy_metric(const char *name)
{
    size_t n = strlen(name);
    return strstr(name, "_j_") || (n > 2 && strcmp(name + n - 2, "_j") == 0) ||
           (n > 2 && strcmp(name + n - 2, "_w") == 0) || strstr(name, "joule") ||
           strstr(name, "j_per_");
}

static enum joule_status q_experiments(struct joule_store *s, struct joule_table **out)
{
    struct joule_table *src = NULL;
    enum joule_status r = sql_table(
        s,
        "SELECT e.id, e.name, e.status, e.created_at, coalesce(e.model_name, e.model_path),"
        " e.precision, e.backend, e.dataset, e.batch_size,"
        " (SELECT count(*) FROM cycles c WHERE c.experiment_id = e.id), e.cycles_planned,"
        " (SELECT avg(value) FROM metrics m WHERE m.experiment_id = e.id"
        "   AND m.name = 'ept_out_j_per_tok'),"
        " (SELECT avg(value) FROM metrics m WHERE m.experiment_id = e.id"
        "   AND m.name = 'tokens_per_joule'),"
        " (SELECT avg(value) FROM metrics m WHERE m.experiment_id = e.id"
        "   AND m.name = 'energy_total_j'), "
        ENERGY_PROVENANCE_SQL("e.id")
        " FROM experiments e ORDER BY e.id",
        0, &src);
    if (r != JOULE_OK)
        return r;
    static const char *const cols[] = {
        "id", "name", "status", "created", "model", "precision", "backend", "dataset",
        "batch_size", "cycles", "ept_out_j_per_tok", "tokens_per_joule", "energy_total_j",
        "energy_provenance",
    };
    struct joule_table *t = joule_table_new();
    r = t ? add_cols(t, cols, JOULE_ARRAY_LEN(cols)) : JOULE_ERR_NOMEM;
    for (size_t i = 0; r == JOULE_OK && i < joule_table_rows(src); i++) {
        size_t row;
        r = joule_table_add_row(t, &row);
        for (size_t c = 0; r == JOULE_OK && c < 9; c++) {
            if (c == 3) {
                char iso[32];
                iso_time(joule_table_number(src, i, 3), iso, sizeof(iso));
                r = joule_table_set_text(t, row, 3, iso);
            } else {
                r = copy_cell(t, row, c, src, i, c);
            }
        }
        char cyc[48];
        joule_fmt(cyc, sizeof(cyc), "%.0f/%.0f", joule_table_number(src, i, 9),
                  joule_table_is_number(src, i, 10) ? joule_table_number(src, i, 10) : 0.0);
        if (r == JOULE_OK)
            r = joule_table_set_text(t, row, 9, cyc);
        for (size_t c = 10; r == JOULE_OK && c < 14; c++)
            r = copy_cell(t, row, c, src, i, c + 1);
    }
    joule_table_free(src);
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

static enum joule_status q_summary(const struct exp_data *d, const char *prov,
                                   struct joule_table **out)
{
    static const char *const cols[] = {"metric", "mean", "std",        "ci95", "cv",
                                       "min",    "max",  "n", "provenance"};
    struct joule_table *t = joule_table_new();
    enum joule_status r = t ? add_cols(t, cols, JOULE_ARRAY_LEN(cols)) : JOULE_ERR_NOMEM;
    for (size_t m = 0; r == JOULE_OK && m < d->n_metrics; m++) {
        struct joule_summary sm = joule_summarize(d->vals + m * d->n_cycles, d->n_cycles);
        size_t row;
        r = joule_table_add_row(t, &row);
        if (r == JOULE_OK)
            r = joule_table_set_text(t, row, 0, d->names[m]);
        double v[] = {sm.mean, sm.std, sm.ci95, sm.cv, sm.min, sm.max, (double)sm.n};
        for (size_t c = 0; r == JOULE_OK && c < JOULE_ARRAY_LEN(v); c++)
            r = joule_table_set_number(t, row, c + 1, v[c]);
        if (r == JOULE_OK && is_energy_metric(d->names[m]))
            r = joule_table_set_text(t, row, JOULE_ARRAY_LEN(v) + 1, prov);
    }
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

static enum joule_status q_cycles(const struct exp_data *d, struct joule_table **out)
{
    static const char *const cols[] = {"cycle",      "position", "started",
                                       "duration_s", "repeats",  "flags"};
    struct joule_table *t = joule_table_new();
    enum joule_status r = t ? add_cols(t, cols, JOULE_ARRAY_LEN(cols)) : JOULE_ERR_NOMEM;
    for (size_t m = 0; r == JOULE_OK && m < d->n_metrics; m++)
        r = joule_table_add_col(t, d->names[m]);
    for (size_t c = 0; r == JOULE_OK && c < d->n_cycles; c++) {
        size_t row;
        r = joule_table_add_row(t, &row);
        for (size_t k = 0; r == JOULE_OK && k < 6; k++) {
            if (k == 2) {
                char iso[32];
                iso_time(joule_table_number(d->cyc, c, 2), iso, sizeof(iso));
                r = joule_table_set_text(t, row, 2, iso[0] ? iso : NULL);
            } else {
                r = copy_cell(t, row, k, d->cyc, c, k);
            }
        }
        for (size_t m = 0; r == JOULE_OK && m < d->n_metrics; m++)
            r = joule_table_set_number(t, row, 6 + m, d->vals[m * d->n_cycles + c]);
    }
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

static enum joule_status q_domains(struct joule_store *s, int64_t id, struct joule_table **out)
{
    struct joule_table *t = NULL;
    enum joule_status r = sql_table(
        s,
        "SELECT cycle, window_name AS window, domain, source, kind, provenance, energy_j,"
        " bound_j, net_energy_j, net_bound_j, avg_power_w, peak_power_w, flags, note,"
        " idle_power_w, interval_s, n_samples FROM domains WHERE experiment_id = ?1"
        " ORDER BY cycle, seq",
        id, &t);
    if (r != JOULE_OK)
        return r;
    size_t fc = joule_table_find_col(t, "flags");
    for (size_t i = 0; r == JOULE_OK && i < joule_table_rows(t); i++) {
        double f = joule_table_number(t, i, fc);
        uint32_t bits = isfinite(f) && f >= 0 ? (uint32_t)f : 0;
        char buf[512] = "";
        size_t len = 0;
        for (unsigned b = 0; b < 32; b++) {
            if (!(bits & (1u << b)))
                continue;
            joule_fmt(buf + len, sizeof(buf) - len, "%s%s", len ? "," : "",
                      joule_flag_str(1u << b));
            len = strlen(buf);
        }
        r = joule_table_set_text(t, i, fc, buf);
    }
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

/* The seed tools' names (llm-energy-measure, EPT-Bench, EAPO) and the
 * metric each is the mean of. */
static const struct {
    const char *col;
    const char *metric;
} seed_cols[] = {
    {"energy_total_J", "energy_total_j"},
    {"energy_J_per_ex", "energy_per_request_j"},
    {"tokens_total", NULL}, /* tokens_in + tokens_out */
    {"tpj", "tokens_per_joule"},
    {"latency_s", "latency_mean_s"},
    {"E_run_J", "energy_total_j"},
    {"T_in", "tokens_in"},
    {"T_out", "tokens_out"},
    {"EPT_in_J_per_tok", "ept_in_j_per_tok"},
    {"EPT_out_J_per_tok", "ept_out_j_per_tok"},
    {"EPT_total_J_per_tok", "ept_total_j_per_tok"},
};

static enum joule_status q_export(const struct joule_table *e, const struct exp_data *d,
                                  const char *prov, struct joule_table **out)
{
    static const char *const head[] = {"experiment_id", "name",       "model",  "precision",
                                       "backend",       "dataset",    "batch_size", "cycles",
                                       "energy_provenance"};
    struct joule_table *t = joule_table_new();
    enum joule_status r = t ? add_cols(t, head, JOULE_ARRAY_LEN(head)) : JOULE_ERR_NOMEM;
    for (size_t i = 0; r == JOULE_OK && i < JOULE_ARRAY_LEN(seed_cols); i++)
        r = joule_table_add_col(t, seed_cols[i].col);
    static const char *const suffix[] = {"_mean", "_std", "_ci95"};
    for (size_t m = 0; r == JOULE_OK && m < d->n_metrics; m++) {
        for (size_t k = 0; r == JOULE_OK && k < 3; k++) {
            char name[256];
            joule_fmt(name, sizeof(name), "%s%s", d->names[m], suffix[k]);
            r = joule_table_add_col(t, name);
        }
    }
    size_t row = 0;
    if (r == JOULE_OK)
        r = joule_table_add_row(t, &row);
    if (r == JOULE_OK)
        r = joule_table_set_number(t, row, 0, enum_(e, "id"));
    if (r == JOULE_OK)
        r = joule_table_set_text(t, row, 1, ecell(e, "name"));
    if (r == JOULE_OK) {
        const char *model = ecell(e, "model_name");
        r = joule_table_set_text(t, row, 2, model[0] ? model : ecell(e, "model_path"));
    }
    static const char *const texts[] = {"precision", "backend", "dataset"};
    for (size_t k = 0; r == JOULE_OK && k < 3; k++) {
        const char *v = ecell(e, texts[k]);
        r = joule_table_set_text(t, row, 3 + k, v[0] ? v : NULL);
    }
    if (r == JOULE_OK)
        r = joule_table_set_number(t, row, 6, enum_(e, "batch_size"));
    if (r == JOULE_OK)
        r = joule_table_set_number(t, row, 7, (double)d->n_cycles);
    if (r == JOULE_OK)
        r = joule_table_set_text(t, row, 8, prov);
    size_t col = JOULE_ARRAY_LEN(head);
    for (size_t i = 0; r == JOULE_OK && i < JOULE_ARRAY_LEN(seed_cols); i++, col++) {
        double v;
        if (seed_cols[i].metric)
            v = metric_summary(d, seed_cols[i].metric).mean;
        else
            v = metric_summary(d, "tokens_in").mean + metric_summary(d, "tokens_out").mean;
        r = joule_table_set_number(t, row, col, v);
    }
    for (size_t m = 0; r == JOULE_OK && m < d->n_metrics; m++) {
        struct joule_summary sm = joule_summarize(d->vals + m * d->n_cycles, d->n_cycles);
        double v[] = {sm.mean, sm.std, sm.ci95};
        for (size_t k = 0; r == JOULE_OK && k < 3; k++)
            r = joule_table_set_number(t, row, col++, v[k]);
    }
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

static enum joule_status q_info(const struct joule_table *e, const struct exp_data *d,
                                struct joule_table **out)
{
    /* (field shown, column of experiments; NULL for a computed field) */
    static const struct {
        const char *field, *col;
    } fields[] = {
        {"id", "id"},
        {"uid", "uid"},
        {"name", "name"},
        {"status", "status"},
        {"flags", "flags"},
        {"created", NULL},
        {"finished", NULL},
        {"model_path", "model_path"},
        {"model_name", "model_name"},
        {"model_digest", "model_digest"},
        {"precision", "precision"},
        {"backend", "backend"},
        {"dataset", "dataset"},
        {"batch_size", "batch_size"},
        {"cycles_planned", "cycles_planned"},
        {"cycles_done", NULL},
        {"cycle_order", "cycle_order"},
        {"config_hash", "config_hash"},
        {"config", "config_yaml"},
        {"environment", "environment_json"},
        {"meter", "meter_json"},
    };
    static const char *const cols[] = {"field", "value"};
    struct joule_table *t = joule_table_new();
    enum joule_status r = t ? add_cols(t, cols, 2) : JOULE_ERR_NOMEM;
    for (size_t i = 0; r == JOULE_OK && i < JOULE_ARRAY_LEN(fields); i++) {
        size_t row;
        r = joule_table_add_row(t, &row);
        if (r == JOULE_OK)
            r = joule_table_set_text(t, row, 0, fields[i].field);
        if (r != JOULE_OK)
            break;
        if (fields[i].col) {
            r = copy_cell(t, row, 1, e, 0, joule_table_find_col(e, fields[i].col));
        } else if (strcmp(fields[i].field, "cycles_done") == 0) {
            r = joule_table_set_number(t, row, 1, (double)d->n_cycles);
        } else {
            char iso[32];
            iso_time(enum_(e, i == 5 ? "created_at" : "finished_at"), iso, sizeof(iso));
            r = joule_table_set_text(t, row, 1, iso[0] ? iso : NULL);
        }
    }
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

/* The field "nodes" of a multi-node experiment: "node01 (lead), node02",
 * by rank.  Nothing on one node. */
static enum joule_status info_nodes(struct joule_store *s, int64_t id, struct joule_table *info)
{
    struct joule_table *n = NULL;
    enum joule_status r = sql_table(s,
                                    "SELECT node, node_rank FROM nodes WHERE experiment_id = ?1"
                                    " ORDER BY node_rank",
                                    id, &n);
    char text[2048] = "";
    for (size_t i = 0; r == JOULE_OK && i < joule_table_rows(n); i++) {
        size_t len = strlen(text);
        joule_fmt(text + len, sizeof(text) - len, "%s%s%s", i ? ", " : "",
                  joule_table_text(n, i, 0), joule_table_number(n, i, 1) == 0 ? " (lead)" : "");
    }
    size_t row;
    if (r == JOULE_OK && text[0] && (r = joule_table_add_row(info, &row)) == JOULE_OK &&
        (r = joule_table_set_text(info, row, 0, "nodes")) == JOULE_OK)
        r = joule_table_set_text(info, row, 1, text);
    joule_table_free(n);
    return r;
}

/* The power samples with the cycle each belongs to.  Samples carry the
 * meter's clock and cycles the wall clock, so the cycles' start times are
 * aligned on the first sample (the first cycle's window opens there): a
 * sample belongs to the last cycle started by its time, give or take
 * `tol`, unless it still fits the window of the cycle before. */
static enum joule_status q_timeline(struct joule_store *s, int64_t id, struct joule_table **out)
{
    const double tol = 0.05; /* s: window opening after started_at was taken */
    struct joule_table *cyc = NULL, *smp = NULL, *t = NULL;
    enum joule_status r = sql_table(s,
                                    "SELECT cycle, started_at, duration_s * repeats FROM cycles"
                                    " WHERE experiment_id = ?1 ORDER BY started_at, cycle",
                                    id, &cyc);
    if (r == JOULE_OK)
        r = sql_table(s,
                      "SELECT t_s, domain, power_w FROM timeline WHERE experiment_id = ?1"
                      " ORDER BY t_s, seq",
                      id, &smp);
    static const char *const cols[] = {"cycle", "t_s", "domain", "power_w"};
    if (r == JOULE_OK) {
        t = joule_table_new();
        r = t ? add_cols(t, cols, JOULE_ARRAY_LEN(cols)) : JOULE_ERR_NOMEM;
    }
    size_t nc = r == JOULE_OK ? joule_table_rows(cyc) : 0, c = 0;
    double t0 = r == JOULE_OK && joule_table_rows(smp) ? joule_table_number(smp, 0, 0) : 0;
    double w0 = nc ? joule_table_number(cyc, 0, 1) : 0;
    for (size_t i = 0; r == JOULE_OK && i < joule_table_rows(smp); i++) {
        double rel = joule_table_number(smp, i, 0) - t0;
        while (c + 1 < nc && joule_table_number(cyc, c + 1, 1) - w0 <= rel + tol)
            c++;
        size_t k = c;
        if (k > 0 && rel < joule_table_number(cyc, k, 1) - w0 &&
            rel <= joule_table_number(cyc, k - 1, 1) - w0 + joule_table_number(cyc, k - 1, 2))
            k--;
        size_t row;
        r = joule_table_add_row(t, &row);
        if (r == JOULE_OK && nc)
            r = joule_table_set_number(t, row, 0, joule_table_number(cyc, k, 0));
        for (size_t j = 0; r == JOULE_OK && j < 3; j++)
            r = copy_cell(t, row, j + 1, smp, i, j);
    }
    joule_table_free(cyc);
    joule_table_free(smp);
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}

enum joule_status joule_store_query(struct joule_store *s, enum joule_query q, int64_t id,
                                    struct joule_table **out)
{
    *out = NULL;
    if (!s)
        return JOULE_ERR_INVALID;
    if (q == JOULE_QUERY_EXPERIMENTS)
        return q_experiments(s, out);
    static const char evals_sql[] =
        "SELECT id, experiment_id, created_at AS created, task, dataset,"
        " n, score, n_correct, nll, rouge1, rouge2, rougeL AS \"rougeL\", weight_type,"
        " model_path, model_digest, params FROM evals";
    if (q == JOULE_QUERY_EVALS && id == 0) {
        char sql[512];
        joule_fmt(sql, sizeof(sql), "%s WHERE ?1 = 0 ORDER BY id", evals_sql);
        return dated_table(s, sql, 0, out);
    }
    if (q == JOULE_QUERY_TUNE && id == 0)
        return dated_table(s,
                         "SELECT r.id, r.created_at AS created,"
                         " r.trials_path, r.model_path, r.task, r.dataset,"
                         " (SELECT count(*) FROM tune_trials t WHERE t.run_id = r.id) AS trials,"
                         " (SELECT max(value) FROM tune_trials t WHERE t.run_id = r.id"
                         "  AND t.state = 'COMPLETE') AS best_value,"
                         " r.tuning_energy_j, r.energy_provenance"
                         " FROM tune_runs r WHERE ?1 = 0 ORDER BY r.id",
                         0, out);
    if (q == JOULE_QUERY_TUNE) {
        struct joule_table *t = NULL;
        enum joule_status r =
            sql_table(s, "SELECT id FROM tune_runs WHERE id = ?1", id, &t);
        size_t rows = r == JOULE_OK ? joule_table_rows(t) : 0;
        joule_table_free(t);
        if (r != JOULE_OK)
            return r;
        if (rows == 0)
            return joule_store_err(s, JOULE_ERR_NOT_FOUND, "no tuning %lld", (long long)id);
        return sql_table(s,
                         "SELECT number, config, state, value, accuracy, rougeL AS \"rougeL\", exact, numeric,"
                         " energy_j, tpj, latency_s, tokens, n_examples, pareto_rank,"
                         " energy_provenance FROM tune_trials WHERE run_id = ?1 ORDER BY number",
                         id, out);
    }
    if (q < JOULE_QUERY_SUMMARY || q > JOULE_QUERY_TIMELINE)
        return joule_store_err(s, JOULE_ERR_INVALID, "unknown query %d", (int)q);
    struct joule_table *e = NULL;
    enum joule_status r = load_experiment(s, id, &e);
    if (r != JOULE_OK)
        return r;
    if (q == JOULE_QUERY_REQUESTS) {
        joule_table_free(e);
        return sql_table(s,
                         "SELECT cycle, idx AS \"index\", sample_id, batch, n_input, n_output,"
                         " finish, queue_s, prefill_s, ttft_s, decode_s, total_s, itl_mean_s,"
                         " itl_p50_s, itl_p90_s, itl_max_s, energy_prefill_j, energy_decode_j,"
                         " text FROM requests WHERE experiment_id = ?1 ORDER BY cycle, idx",
                         id, out);
    }
    if (q == JOULE_QUERY_DOMAINS) {
        joule_table_free(e);
        return q_domains(s, id, out);
    }
    if (q == JOULE_QUERY_TIMELINE) {
        joule_table_free(e);
        return q_timeline(s, id, out);
    }
    if (q == JOULE_QUERY_EVALS) {
        joule_table_free(e);
        char sql[512];
        joule_fmt(sql, sizeof(sql), "%s WHERE experiment_id = ?1 ORDER BY id", evals_sql);
        return dated_table(s, sql, id, out);
    }
    struct exp_data d;
    char prov[16] = "";
    r = energy_provenance(s, id, prov, sizeof(prov));
    if (r == JOULE_OK)
        r = load_data(s, id, &d);
    if (r == JOULE_OK) {
        switch (q) {
        case JOULE_QUERY_SUMMARY: r = q_summary(&d, prov, out); break;
        case JOULE_QUERY_CYCLES: r = q_cycles(&d, out); break;
        case JOULE_QUERY_EXPORT: r = q_export(e, &d, prov, out); break;
        default:
            r = q_info(e, &d, out);
            if (r == JOULE_OK)
                r = info_nodes(s, id, *out);
            break;
        }
        exp_data_free(&d);
    }
    joule_table_free(e);
    return r;
}

enum joule_status joule_store_compare(struct joule_store *s, int64_t a, int64_t b,
                                      struct joule_table **out)
{
    *out = NULL;
    if (!s)
        return JOULE_ERR_INVALID;
    struct joule_table *e = NULL;
    enum joule_status r = load_experiment(s, a, &e);
    joule_table_free(e);
    if (r != JOULE_OK)
        return r;
    r = load_experiment(s, b, &e);
    joule_table_free(e);
    if (r != JOULE_OK)
        return r;
    struct exp_data da, db;
    r = load_data(s, a, &da);
    if (r != JOULE_OK)
        return r;
    r = load_data(s, b, &db);
    if (r != JOULE_OK) {
        exp_data_free(&da);
        return r;
    }
    /* The union of both metric lists, in canonical order. */
    size_t n = 0;
    const char **names = joule_calloc(da.n_metrics + db.n_metrics + 1, sizeof(char *));
    if (!names)
        r = JOULE_ERR_NOMEM;
    for (size_t i = 0; r == JOULE_OK && i < da.n_metrics; i++)
        names[n++] = da.names[i];
    for (size_t i = 0; r == JOULE_OK && i < db.n_metrics; i++)
        if (find_name(da.names, da.n_metrics, db.names[i]) == (size_t)-1)
            names[n++] = db.names[i];
    if (r == JOULE_OK)
        qsort(names, n, sizeof(char *), metric_cmp);
    static const char *const cols[] = {"metric", "a_mean", "a_ci95", "b_mean",
                                       "b_ci95", "diff",   "ratio",  "overlap"};
    struct joule_table *t = NULL;
    if (r == JOULE_OK) {
        t = joule_table_new();
        r = t ? add_cols(t, cols, JOULE_ARRAY_LEN(cols)) : JOULE_ERR_NOMEM;
    }
    for (size_t i = 0; r == JOULE_OK && i < n; i++) {
        struct joule_summary x = metric_summary(&da, names[i]);
        struct joule_summary y = metric_summary(&db, names[i]);
        double diff = y.mean - x.mean;
        double ratio = x.mean != 0.0 ? y.mean / x.mean : NAN;
        size_t row;
        r = joule_table_add_row(t, &row);
        if (r == JOULE_OK)
            r = joule_table_set_text(t, row, 0, names[i]);
        double v[] = {x.mean, x.ci95, y.mean, y.ci95, diff, ratio};
        for (size_t k = 0; r == JOULE_OK && k < JOULE_ARRAY_LEN(v); k++)
            r = joule_table_set_number(t, row, 1 + k, v[k]);
        if (r == JOULE_OK && isfinite(x.mean) && isfinite(y.mean)) {
            /* A single cycle has no interval: its point stands for it. */
            double cx = isfinite(x.ci95) ? x.ci95 : 0.0, cy = isfinite(y.ci95) ? y.ci95 : 0.0;
            r = joule_table_set_text(t, row, 7, fabs(diff) <= cx + cy ? "yes" : "no");
        }
    }
    free(names);
    exp_data_free(&da);
    exp_data_free(&db);
    if (r != JOULE_OK) {
        joule_table_free(t);
        return r;
    }
    *out = t;
    return JOULE_OK;
}
