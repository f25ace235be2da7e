/*
 * charts.c - the charts of stored results and tuning CSVs (report.h): read
 * the data, shape it into series, keep it with the chart.
 */
#define _POSIX_C_SOURCE 200809L
#include "report.h"
#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_GROUPS JOULE_PLOT_MAX_SERIES

struct joule_chart {
    struct joule_plot_chart plot;
    struct joule_plot_panel panels[2];
    void **owned; /* everything the chart points to */
    size_t n_owned, cap_owned;
    char title[256];
    char note[256];
};

/* --- memory the chart keeps ---------------------------------------------- */

static void *keep(struct joule_chart *c, size_t n, size_t size)
{
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? 2 * c->cap_owned : 16;
        void **g = joule_realloc_array(c->owned, cap, sizeof(void *));
        if (!g)
            return NULL;
        c->owned = g;
        c->cap_owned = cap;
    }
    void *p = joule_calloc(n ? n : 1, size);
    if (p)
        c->owned[c->n_owned++] = p;
    return p;
}

static char *keep_str(struct joule_chart *c, const char *s)
{
    size_t len = strlen(s);
    char *p = keep(c, len + 1, 1);
    if (p)
        memcpy(p, s, len + 1);
    return p;
}

void joule_chart_free(struct joule_chart *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c);
}

const struct joule_plot_chart *joule_chart_plot(const struct joule_chart *c)
{
    return &c->plot;
}

const char *joule_chart_note(const struct joule_chart *c)
{
    return c->note;
}

static struct joule_chart *chart_new(const char *title, const char *fallback)
{
    struct joule_chart *c = joule_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    joule_strlcpy(c->title, title ? title : fallback, sizeof(c->title));
    c->plot.title = c->title;
    c->plot.panels = c->panels;
    c->plot.n_panels = 1;
    return c;
}

/* Hands c out on success, frees it on failure (saying "out of memory"
 * when nothing more precise was said). */
static enum joule_status chart_done(struct joule_chart *c, enum joule_status st,
                                    struct joule_chart **out, char *err, size_t err_size)
{
    if (st != JOULE_OK) {
        if (st == JOULE_ERR_NOMEM && err_size && !err[0])
            joule_fmt(err, err_size, "out of memory");
        joule_chart_free(c);
        return st;
    }
    *out = c;
    return JOULE_OK;
}

static const char *const kind_names[] = {"timeline", "sweep", "pareto", "latency"};

const char *joule_chart_kind_name(enum joule_chart_kind k)
{
    return (size_t)k < JOULE_ARRAY_LEN(kind_names) ? kind_names[k] : "?";
}

int joule_chart_kind_parse(const char *name)
{
    for (size_t i = 0; name && i < JOULE_ARRAY_LEN(kind_names); i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (int)i;
    return -1;
}

/* --- reading experiments ------------------------------------------------- */

static size_t col_of(const struct joule_table *t, const char *name)
{
    for (size_t j = 0; j < joule_table_cols(t); j++)
        if (strcmp(joule_table_col_name(t, j), name) == 0)
            return j;
    return (size_t)-1;
}

static double num(const struct joule_table *t, size_t row, size_t col)
{
    return col != (size_t)-1 && joule_table_is_number(t, row, col) ? joule_table_number(t, row, col)
                                                                   : NAN;
}

struct mean_ci {
    double mean, ci; /* over cycles; NAN when not stored */
};

struct exp {
    int64_t id;
    char name[128], precision[32];
    double batch;
    double n_cycles;
    struct mean_ci ept, tps, j1k; /* J/token, tokens/s, J per 1k output tokens */
};

static enum joule_status store_error(struct joule_store *s, enum joule_status st, char *err,
                                     size_t err_size)
{
    const char *m = joule_store_errmsg(s);
    joule_fmt(err, err_size, "%s", m && m[0] ? m : joule_status_str(st));
    return st;
}

static enum joule_status load_exp(struct joule_store *s, int64_t id, struct exp *e, char *err,
                                  size_t err_size)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    struct joule_table *t = NULL;
    enum joule_status st = joule_store_query(s, JOULE_QUERY_INFO, id, &t);
    if (st != JOULE_OK)
        return store_error(s, st, err, err_size);
    for (size_t i = 0; i < joule_table_rows(t); i++) {
        const char *f = joule_table_text(t, i, 0);
        if (strcmp(f, "name") == 0)
            joule_strlcpy(e->name, joule_table_text(t, i, 1), sizeof(e->name));
        else if (strcmp(f, "precision") == 0)
            joule_strlcpy(e->precision, joule_table_text(t, i, 1), sizeof(e->precision));
        else if (strcmp(f, "batch_size") == 0)
            e->batch = num(t, i, 1);
        else if (strcmp(f, "cycles_done") == 0)
            e->n_cycles = num(t, i, 1);
    }
    joule_table_free(t);
    if (!e->precision[0])
        joule_strlcpy(e->precision, "file", sizeof(e->precision));
    st = joule_store_query(s, JOULE_QUERY_SUMMARY, id, &t);
    if (st != JOULE_OK)
        return store_error(s, st, err, err_size);
    size_t cm = col_of(t, "mean"), cc = col_of(t, "ci95");
    e->ept = e->tps = e->j1k = (struct mean_ci){NAN, NAN};
    for (size_t i = 0; i < joule_table_rows(t); i++) {
        const char *m = joule_table_text(t, i, 0);
        struct mean_ci *v = strcmp(m, "ept_out_j_per_tok") == 0     ? &e->ept
                            : strcmp(m, "throughput_tok_s") == 0    ? &e->tps
                            : strcmp(m, "j_per_1k_out_tokens") == 0 ? &e->j1k
                                                                    : NULL;
        if (v)
            *v = (struct mean_ci){num(t, i, cm), num(t, i, cc)};
    }
    joule_table_free(t);
    if (!(e->n_cycles > 0)) {
        joule_fmt(err, err_size,
                  "experiment %lld has no measured cycle (see `joule results show %lld`)",
                  (long long)id, (long long)id);
        return JOULE_ERR_NOT_FOUND;
    }
    return JOULE_OK;
}

static enum joule_status load_exps(struct joule_store *s, const int64_t *ids, size_t n,
                                   struct exp **out, char *err, size_t err_size)
{
    *out = NULL;
    struct exp *e = joule_calloc(n, sizeof(*e));
    if (!e)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        enum joule_status st = load_exp(s, ids[i], &e[i], err, err_size);
        if (st != JOULE_OK) {
            free(e);
            return st;
        }
    }
    *out = e;
    return JOULE_OK;
}

/* "3, 4, 5" (shortened past a few). */
static void ids_text(const int64_t *ids, size_t n, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf);
        if (i == 6) {
            joule_fmt(buf + len, size - len, " ... %lld", (long long)ids[n - 1]);
            break;
        }
        joule_fmt(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)ids[i]);
    }
}

/* The groups of experiments by precision, in order of first appearance. */
static size_t group_by_precision(const struct exp *e, size_t n, size_t *group)
{
    size_t n_groups = 0;
    for (size_t i = 0; i < n; i++) {
        size_t g = 0;
        while (g < i && strcmp(e[g].precision, e[i].precision) != 0)
            g++;
        group[i] = g < i ? group[g] : n_groups++;
    }
    return n_groups;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --- sweep --------------------------------------------------------------- */

struct xy {
    double x, y, e;
};

static int cmp_xy(const void *a, const void *b)
{
    return cmp_double(&((const struct xy *)a)->x, &((const struct xy *)b)->x);
}

/* One series per precision of (batch, value +- ci), sorted by batch. */
static enum joule_status precision_series(struct joule_chart *c, const struct exp *e, size_t n,
                                          size_t offset, struct joule_plot_series **out,
                                          size_t *n_out)
{
    size_t *group = keep(c, n, sizeof(size_t));
    if (!group)
        return JOULE_ERR_NOMEM;
    size_t ng = group_by_precision(e, n, group);
    if (ng > MAX_GROUPS)
        ng = MAX_GROUPS;
    struct joule_plot_series *s = keep(c, ng, sizeof(*s));
    struct xy *pts = keep(c, n, sizeof(*pts));
    if (!s || !pts)
        return JOULE_ERR_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (group[i] != g)
                continue;
            const struct mean_ci *v = (const struct mean_ci *)((const char *)&e[i] + offset);
            pts[m++] = (struct xy){e[i].batch, v->mean, v->ci};
        }
        qsort(pts, m, sizeof(*pts), cmp_xy);
        double *x = keep(c, m, sizeof(double)), *y = keep(c, m, sizeof(double));
        double *err = keep(c, m, sizeof(double));
        if (!x || !y || !err)
            return JOULE_ERR_NOMEM;
        for (size_t k = 0; k < m; k++) {
            x[k] = pts[k].x;
            y[k] = pts[k].y;
            err[k] = pts[k].e;
        }
        const char *label = NULL;
        for (size_t i = 0; i < n && !label; i++)
            if (group[i] == g)
                label = e[i].precision;
        s[g] = (struct joule_plot_series){
            keep_str(c, label), x, y, err, m, JOULE_PLOT_LINE, m <= JOULE_CHART_MARK_MAX, false};
    }
    *out = s;
    *n_out = ng;
    return JOULE_OK;
}

static enum joule_status sweep_chart(struct joule_chart *c, const struct exp *e, size_t n)
{
    struct joule_plot_series *s1, *s2;
    size_t n1, n2;
    enum joule_status st = precision_series(c, e, n, offsetof(struct exp, ept), &s1, &n1);
    if (st == JOULE_OK)
        st = precision_series(c, e, n, offsetof(struct exp, tps), &s2, &n2);
    if (st != JOULE_OK)
        return st;
    c->panels[0] = (struct joule_plot_panel){"energy per output token (error bars: 95% CI)",
                                             "batch size (sequences)",
                                             "energy per output token (J/token)",
                                             s1,
                                             n1,
                                             NULL,
                                             0,
                                             true};
    c->panels[1] = (struct joule_plot_panel){"throughput (error bars: 95% CI)",
                                             "batch size (sequences)",
                                             "output tokens per second (tokens/s)",
                                             s2,
                                             n2,
                                             NULL,
                                             0,
                                             true};
    c->plot.n_panels = 2;
    return JOULE_OK;
}

/* --- pareto -------------------------------------------------------------- */

struct ranked {
    double x, y;
};

/* The frontier of points (x, y): y (energy) is lower-better, x higher-
 * better unless x_lower_better (perplexity).  Returns the count, points
 * written to fx, fy in increasing x. */
static size_t frontier(const double *x, const double *y, size_t n, bool x_lower_better,
                       struct ranked *tmp, double *fx, double *fy)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            tmp[m++] = (struct ranked){x_lower_better ? x[i] : -x[i], y[i]};
    /* Best x first (ties: least energy first); a point is on the frontier
     * when it needs less energy than every point at least as accurate. */
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && (tmp[j].x < tmp[j - 1].x ||
                                     (tmp[j].x == tmp[j - 1].x && tmp[j].y < tmp[j - 1].y));
             j--) {
            struct ranked t = tmp[j];
            tmp[j] = tmp[j - 1];
            tmp[j - 1] = t;
        }
    size_t k = 0;
    double best = INFINITY;
    for (size_t i = 0; i < m; i++) {
        if (tmp[i].y < best) {
            best = tmp[i].y;
            fx[k] = x_lower_better ? tmp[i].x : -tmp[i].x;
            fy[k] = tmp[i].y;
            k++;
        }
    }
    /* Increasing x for drawing. */
    if (!x_lower_better)
        for (size_t i = 0; i < k / 2; i++) {
            double tx = fx[i], ty = fy[i];
            fx[i] = fx[k - 1 - i];
            fy[i] = fy[k - 1 - i];
            fx[k - 1 - i] = tx;
            fy[k - 1 - i] = ty;
        }
    return k;
}

/* Adds the frontier of all points of series s[0 .. n) as series s[n]. */
static enum joule_status add_frontier(struct joule_chart *c, struct joule_plot_series *s, size_t n,
                                      bool x_lower_better)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += s[k].n;
    double *x = keep(c, total, sizeof(double)), *y = keep(c, total, sizeof(double));
    double *fx = keep(c, total, sizeof(double)), *fy = keep(c, total, sizeof(double));
    struct ranked *tmp = keep(c, total, sizeof(*tmp));
    if (!x || !y || !fx || !fy || !tmp)
        return JOULE_ERR_NOMEM;
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < s[k].n; i++, m++) {
            x[m] = s[k].x[i];
            y[m] = s[k].y[i];
        }
    size_t nf = frontier(x, y, m, x_lower_better, tmp, fx, fy);
    s[n] = (struct joule_plot_series){"Pareto frontier", fx,    fy,  NULL, nf,
                                      JOULE_PLOT_LINE,   false, true};
    return JOULE_OK;
}

/* The newest score stored with experiment id: its task and value. */
static enum joule_status exp_score(struct joule_store *s, int64_t id, char *task, size_t task_size,
                                   double *score, char *err, size_t err_size)
{
    struct joule_table *t = NULL;
    enum joule_status st = joule_store_query(s, JOULE_QUERY_EVALS, id, &t);
    if (st != JOULE_OK)
        return store_error(s, st, err, err_size);
    size_t n = joule_table_rows(t);
    if (n == 0) {
        joule_table_free(t);
        joule_fmt(err, err_size,
                  "experiment %lld has no accuracy score: pareto charts plot the experiments "
                  "of `joule compare`, which scores each one",
                  (long long)id);
        return JOULE_ERR_NOT_FOUND;
    }
    joule_strlcpy(task, joule_table_text(t, n - 1, col_of(t, "task")), task_size);
    *score = num(t, n - 1, col_of(t, "score"));
    joule_table_free(t);
    return JOULE_OK;
}

static const char *score_label(const char *task)
{
    if (strcmp(task, "ppl") == 0)
        return "perplexity (lower is better)";
    if (strcmp(task, "rouge") == 0)
        return "ROUGE-L F1 (0 to 1)";
    return "accuracy (fraction correct)";
}

static enum joule_status pareto_chart(struct joule_chart *c, struct joule_store *s,
                                      const struct exp *e, size_t n, char *err, size_t err_size)
{
    double *score = keep(c, n, sizeof(double));
    size_t *group = keep(c, n, sizeof(size_t));
    if (!score || !group)
        return JOULE_ERR_NOMEM;
    char task[32] = "", first[32] = "";
    for (size_t i = 0; i < n; i++) {
        enum joule_status st = exp_score(s, e[i].id, task, sizeof(task), &score[i], err, err_size);
        if (st != JOULE_OK)
            return st;
        if (i == 0)
            joule_strlcpy(first, task, sizeof(first));
        else if (strcmp(first, task) != 0) {
            joule_fmt(err, err_size,
                      "experiments %lld and %lld were scored with different tasks (%s, %s): "
                      "plot the experiments of one comparison",
                      (long long)e[0].id, (long long)e[i].id, first, task);
            return JOULE_ERR_INVALID;
        }
    }
    size_t ng = group_by_precision(e, n, group);
    if (ng + 1 > MAX_GROUPS)
        ng = MAX_GROUPS - 1;
    struct joule_plot_series *ser = keep(c, ng + 1, sizeof(*ser));
    if (!ser)
        return JOULE_ERR_NOMEM;
    for (size_t g = 0; g < ng; g++) {
        double *x = keep(c, n, sizeof(double)), *y = keep(c, n, sizeof(double));
        double *ci = keep(c, n, sizeof(double));
        if (!x || !y || !ci)
            return JOULE_ERR_NOMEM;
        size_t m = 0;
        const char *label = "";
        for (size_t i = 0; i < n; i++) {
            if (group[i] != g)
                continue;
            label = e[i].precision;
            x[m] = score[i];
            y[m] = e[i].j1k.mean;
            ci[m] = e[i].j1k.ci;
            m++;
        }
        ser[g] = (struct joule_plot_series){keep_str(c, label), x,    y,    ci, m,
                                            JOULE_PLOT_SCATTER, true, false};
    }
    enum joule_status st = add_frontier(c, ser, ng, strcmp(first, "ppl") == 0);
    if (st != JOULE_OK)
        return st;
    c->panels[0] = (struct joule_plot_panel){"each point one configuration; error bars: 95% CI",
                                             score_label(first),
                                             "energy per 1000 output tokens (J/1k tokens)",
                                             ser,
                                             ng + 1,
                                             NULL,
                                             0,
                                             false};
    return JOULE_OK;
}

/* --- latency ------------------------------------------------------------- */

static enum joule_status latency_chart(struct joule_chart *c, struct joule_store *s,
                                       const struct exp *e, size_t n, char *err, size_t err_size)
{
    if (n > MAX_GROUPS) {
        joule_fmt(err, err_size, "a latency chart shows at most %d experiments", MAX_GROUPS);
        return JOULE_ERR_INVALID;
    }
    struct joule_plot_series *ser = keep(c, n, sizeof(*ser));
    if (!ser)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct joule_table *t = NULL;
        enum joule_status st = joule_store_query(s, JOULE_QUERY_REQUESTS, e[i].id, &t);
        if (st != JOULE_OK)
            return store_error(s, st, err, err_size);
        size_t rows = joule_table_rows(t), col = col_of(t, "total_s"), m = 0;
        double *x = keep(c, rows, sizeof(double)), *y = keep(c, rows, sizeof(double));
        if (!x || !y) {
            joule_table_free(t);
            return JOULE_ERR_NOMEM;
        }
        for (size_t r = 0; r < rows; r++) {
            double v = num(t, r, col);
            if (isfinite(v))
                x[m++] = v;
        }
        joule_table_free(t);
        if (m == 0) {
            joule_fmt(err, err_size, "experiment %lld has no request with a latency",
                      (long long)e[i].id);
            return JOULE_ERR_NOT_FOUND;
        }
        qsort(x, m, sizeof(double), cmp_double);
        for (size_t k = 0; k < m; k++)
            y[k] = (double)(k + 1) / (double)m;
        char label[160];
        joule_fmt(label, sizeof(label), "#%lld %s b%.0f", (long long)e[i].id, e[i].precision,
                  e[i].batch);
        ser[i] = (struct joule_plot_series){
            keep_str(c, label), x, y, NULL, m, JOULE_PLOT_STEP, m <= JOULE_CHART_MARK_MAX, false};
    }
    c->panels[0] = (struct joule_plot_panel){"empirical CDF over the requests of every cycle",
                                             "request latency (s)",
                                             "fraction of requests at most this slow (0 to 1)",
                                             ser,
                                             n,
                                             NULL,
                                             0,
                                             true};
    return JOULE_OK;
}

/* --- timeline ------------------------------------------------------------ */

static enum joule_status timeline_chart(struct joule_chart *c, struct joule_store *s,
                                        const struct exp *e, char *err, size_t err_size)
{
    struct joule_table *t = NULL;
    enum joule_status st = joule_store_query(s, JOULE_QUERY_TIMELINE, e->id, &t);
    if (st != JOULE_OK)
        return store_error(s, st, err, err_size);
    size_t rows = joule_table_rows(t);
    if (rows == 0) {
        joule_table_free(t);
        joule_fmt(err, err_size,
                  "experiment %lld has no stored power timeline: run it with --timeline "
                  "(outputs.timeline: true)",
                  (long long)e->id);
        return JOULE_ERR_NOT_FOUND;
    }
    /* Domains in order of first appearance; cycles likewise (time order). */
    const char *dom[MAX_GROUPS];
    size_t nd = 0, nc = 0;
    double *cyc = keep(c, rows, sizeof(double)), *c_lo = keep(c, rows, sizeof(double));
    double *c_hi = keep(c, rows, sizeof(double));
    size_t *dom_of = keep(c, rows, sizeof(size_t));
    st = cyc && c_lo && c_hi && dom_of ? JOULE_OK : JOULE_ERR_NOMEM;
    double t0 = num(t, 0, 1);
    for (size_t r = 0; st == JOULE_OK && r < rows; r++) {
        const char *d = joule_table_text(t, r, 2);
        size_t k = 0;
        while (k < nd && strcmp(dom[k], d) != 0)
            k++;
        if (k == nd && nd < MAX_GROUPS)
            dom[nd++] = keep_str(c, d);
        dom_of[r] = k;
        double cy = num(t, r, 0), ts = num(t, r, 1) - t0;
        if (nc == 0 || cyc[nc - 1] != cy) {
            cyc[nc] = cy;
            c_lo[nc] = c_hi[nc] = ts;
            nc++;
        }
        c_hi[nc - 1] = fmax(c_hi[nc - 1], ts);
    }
    struct joule_plot_series *ser = st == JOULE_OK ? keep(c, nd, sizeof(*ser)) : NULL;
    struct joule_plot_vline *vl = st == JOULE_OK ? keep(c, 2 * nc, sizeof(*vl)) : NULL;
    if (st == JOULE_OK && (!ser || !vl))
        st = JOULE_ERR_NOMEM;
    for (size_t k = 0; st == JOULE_OK && k < nd; k++) {
        /* Room for a break before each cycle. */
        double *x = keep(c, rows + nc, sizeof(double)), *y = keep(c, rows + nc, sizeof(double));
        if (!x || !y) {
            st = JOULE_ERR_NOMEM;
            break;
        }
        size_t m = 0, points = 0;
        double last_cycle = NAN;
        for (size_t r = 0; r < rows; r++) {
            if (dom_of[r] != k)
                continue;
            double cy = num(t, r, 0);
            if (m > 0 && cy != last_cycle) {
                x[m] = y[m] = NAN;
                m++;
            }
            last_cycle = cy;
            x[m] = num(t, r, 1) - t0;
            y[m] = num(t, r, 3);
            points += isfinite(y[m]);
            m++;
        }
        ser[k] = (struct joule_plot_series){
            dom[k], x, y, NULL, m, JOULE_PLOT_LINE, points <= JOULE_CHART_MARK_MAX, false};
    }
    joule_table_free(t);
    if (st != JOULE_OK)
        return st;
    for (size_t i = 0; i < nc; i++) {
        char label[48];
        joule_fmt(label, sizeof(label), "cycle %.0f", cyc[i]);
        vl[2 * i] = (struct joule_plot_vline){c_lo[i], keep_str(c, label)};
        vl[2 * i + 1] = (struct joule_plot_vline){c_hi[i], NULL};
    }
    c->panels[0] = (struct joule_plot_panel){
        "measured windows; dashed lines: each cycle's window start and end",
        "time since the first window opened (s)",
        "power (W)",
        ser,
        nd,
        vl,
        2 * nc,
        true};
    return JOULE_OK;
}

/* --- entry points -------------------------------------------------------- */

enum joule_status joule_chart_from_store(struct joule_store *s, enum joule_chart_kind k,
                                         const int64_t *ids, size_t n_ids, const char *title,
                                         struct joule_chart **out, char *err, size_t err_size)
{
    *out = NULL;
    if (err_size)
        err[0] = '\0';
    if (!s || !ids || n_ids == 0 || (size_t)k >= JOULE_ARRAY_LEN(kind_names)) {
        joule_fmt(err, err_size, "a chart needs a kind and at least one experiment");
        return JOULE_ERR_INVALID;
    }
    if (k == JOULE_CHART_TIMELINE && n_ids != 1) {
        joule_fmt(err, err_size, "a timeline shows one experiment, not %zu", n_ids);
        return JOULE_ERR_INVALID;
    }
    struct exp *e = NULL;
    enum joule_status st = load_exps(s, ids, n_ids, &e, err, err_size);
    if (st != JOULE_OK)
        return st;
    char fallback[256], list[96];
    ids_text(ids, n_ids, list, sizeof(list));
    const char *plural = n_ids > 1 ? "s" : "";
    switch (k) {
    case JOULE_CHART_TIMELINE:
        joule_fmt(fallback, sizeof(fallback), "Power of experiment %lld (%s)", (long long)ids[0],
                  e[0].name);
        break;
    case JOULE_CHART_SWEEP:
        joule_fmt(fallback, sizeof(fallback),
                  "Energy and throughput by batch size (experiment%s %s)", plural, list);
        break;
    case JOULE_CHART_PARETO:
        joule_fmt(fallback, sizeof(fallback), "Energy against accuracy (experiment%s %s)", plural,
                  list);
        break;
    default:
        joule_fmt(fallback, sizeof(fallback), "Request latency (experiment%s %s)", plural, list);
        break;
    }
    struct joule_chart *c = chart_new(title, fallback);
    if (!c) {
        free(e);
        return JOULE_ERR_NOMEM;
    }
    switch (k) {
    case JOULE_CHART_TIMELINE:
        st = timeline_chart(c, s, e, err, err_size);
        break;
    case JOULE_CHART_SWEEP:
        st = sweep_chart(c, e, n_ids);
        break;
    case JOULE_CHART_PARETO:
        st = pareto_chart(c, s, e, n_ids, err, err_size);
        break;
    default:
        st = latency_chart(c, s, e, n_ids, err, err_size);
        break;
    }
    free(e);
    return chart_done(c, st, out, err, err_size);
}

/* --- tuning CSV ---------------------------------------------------------- */

/* One CSV record (RFC 4180) from *p: fields split in place (quotes
 * removed, doubled quotes undone), the line count advanced.  Returns the
 * field count, or -1 for an unterminated quote. */
static long csv_record(char **p, char **fields, size_t max, size_t *line)
{
    char *s = *p, *w = s;
    size_t n = 0;
    fields[n++] = w;
    for (;;) {
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s)
                    return -1;
                if (*s == '"' && s[1] == '"') {
                    *w++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (*s == '\n')
                        (*line)++;
                    *w++ = *s++;
                }
            }
            continue;
        }
        if (*s == ',') {
            *w++ = '\0';
            s++;
            if (n < max)
                fields[n] = w;
            n++;
            continue;
        }
        if (*s == '\0' || *s == '\n' || (*s == '\r' && s[1] == '\n')) {
            bool end = *s == '\0';
            *w = '\0';
            if (!end) {
                s += *s == '\r' ? 2 : 1;
                (*line)++;
            }
            *p = s;
            return (long)n;
        }
        *w++ = *s++;
    }
}

/* A numeric cell: 1 number, 0 missing (empty, nan, none, null), -1 text. */
static int cell_number(const char *s, double *v)
{
    while (*s == ' ')
        s++;
    if (!*s || strcasecmp(s, "nan") == 0 || strcasecmp(s, "none") == 0 ||
        strcasecmp(s, "null") == 0 || strcasecmp(s, "n/a") == 0)
        return 0;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (*end == ' ')
        end++;
    if (end == s || *end || errno == ERANGE)
        return -1;
    return isfinite(*v) ? 1 : 0;
}

#define CSV_MAX_COLS 512

enum joule_status joule_chart_from_trials_csv(const char *path, const char *title,
                                              struct joule_chart **out, char *err, size_t err_size)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    enum joule_status st = joule_read_all(path, 256u << 20, &text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    char fallback[300];
    const char *base = strrchr(path, '/');
    joule_fmt(fallback, sizeof(fallback), "Accuracy against energy of the trials in %s",
              base ? base + 1 : path);
    struct joule_chart *c = chart_new(title, fallback);
    char **f = joule_calloc(CSV_MAX_COLS, sizeof(char *));
    double *x = NULL, *y = NULL;
    if (!c || !f) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    char *p = text;
    if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
        p += 3; /* a UTF-8 byte order mark */
    size_t line = 1;
    long nf = csv_record(&p, f, CSV_MAX_COLS, &line);
    if (nf < 0 || nf > CSV_MAX_COLS || (nf == 1 && !f[0][0])) {
        joule_fmt(err, err_size, "%s:1: %s", path,
                  nf < 0   ? "a quote is not closed"
                  : nf > 1 ? "too many columns"
                           : "no header");
        st = JOULE_ERR_FORMAT;
        goto out;
    }
    /* The columns by name (EAPO's trials.csv). */
    static const char *const names[] = {"metric_rougeL", "metric_energy_total_J",
                                        "metric_tokens_total", "metric_tpj"};
    long col[4] = {-1, -1, -1, -1};
    for (long j = 0; j < nf; j++)
        for (size_t k = 0; k < 4; k++)
            if (strcmp(f[j], names[k]) == 0)
                col[k] = j;
    const bool by_energy = col[1] >= 0 && col[2] >= 0;
    if (col[0] < 0 || (!by_energy && col[3] < 0)) {
        joule_fmt(err, err_size,
                  "%s:1: no column %s (a trials CSV needs metric_rougeL, and "
                  "metric_energy_total_J with metric_tokens_total or metric_tpj)",
                  path,
                  col[0] < 0   ? "metric_rougeL"
                  : col[1] < 0 ? "metric_energy_total_J"
                               : "metric_tokens_total");
        st = JOULE_ERR_FORMAT;
        goto out;
    }
    size_t cap = 64, n = 0, skipped = 0;
    x = joule_calloc(cap, sizeof(double));
    y = joule_calloc(cap, sizeof(double));
    while (st == JOULE_OK && x && y && *p) {
        size_t at = line;
        long m = csv_record(&p, f, CSV_MAX_COLS, &line);
        if (m < 0) {
            joule_fmt(err, err_size, "%s:%zu: a quote is not closed", path, at);
            st = JOULE_ERR_FORMAT;
            break;
        }
        if (m == 1 && !f[0][0])
            continue; /* a blank line */
        double v[4] = {NAN, NAN, NAN, NAN};
        int have[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < 4 && st == JOULE_OK; k++) {
            if (col[k] < 0)
                continue;
            if (col[k] >= m || col[k] >= CSV_MAX_COLS) {
                joule_fmt(err, err_size, "%s:%zu: the row has %ld fields, %s is field %ld", path,
                          at, m, names[k], col[k] + 1);
                st = JOULE_ERR_FORMAT;
                break;
            }
            have[k] = cell_number(f[col[k]], &v[k]);
            if (have[k] < 0) {
                joule_fmt(err, err_size, "%s:%zu: %s: '%.40s' is not a number", path, at, names[k],
                          f[col[k]]);
                st = JOULE_ERR_FORMAT;
            }
        }
        if (st != JOULE_OK)
            break;
        double j1k = by_energy && have[1] && have[2] && v[2] > 0 ? 1000.0 * v[1] / v[2]
                     : have[3] && v[3] > 0                       ? 1000.0 / v[3]
                                                                 : NAN;
        if (!have[0] || !isfinite(j1k)) {
            skipped++;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            double *gx = joule_realloc_array(x, cap, sizeof(double));
            if (gx)
                x = gx;
            double *gy = joule_realloc_array(y, cap, sizeof(double));
            if (gy)
                y = gy;
            if (!gx || !gy) {
                st = JOULE_ERR_NOMEM;
                break;
            }
        }
        x[n] = v[0];
        y[n] = j1k;
        n++;
    }
    if (st == JOULE_OK && (!x || !y))
        st = JOULE_ERR_NOMEM;
    if (st != JOULE_OK)
        goto out;
    if (n == 0) {
        joule_fmt(err, err_size,
                  "%s: no trial has both metric_rougeL and an energy figure (%zu rows without)",
                  path, skipped);
        st = JOULE_ERR_FORMAT;
        goto out;
    }
    if (skipped)
        joule_fmt(c->note, sizeof(c->note), "%zu trial%s without accuracy or energy left out",
                  skipped, skipped > 1 ? "s" : "");
    double *kx = keep(c, n, sizeof(double)), *ky = keep(c, n, sizeof(double));
    struct joule_plot_series *ser = keep(c, 2, sizeof(*ser));
    if (!kx || !ky || !ser) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    memcpy(kx, x, n * sizeof(double));
    memcpy(ky, y, n * sizeof(double));
    ser[0] = (struct joule_plot_series){"trials", kx, ky, NULL, n, JOULE_PLOT_SCATTER, true, false};
    st = add_frontier(c, ser, 1, false);
    if (st != JOULE_OK)
        goto out;
    c->panels[0] =
        (struct joule_plot_panel){by_energy ? "energy: metric_energy_total_J / metric_tokens_total"
                                            : "energy: 1000 / metric_tpj",
                                  "ROUGE-L F1 (metric_rougeL, 0 to 1)",
                                  "energy per 1000 output tokens (J/1k tokens)",
                                  ser,
                                  2,
                                  NULL,
                                  0,
                                  false};
out:
    free(text);
    free(f);
    free(x);
    free(y);
    return chart_done(c, st, out, err, err_size);
}

/* --- any two columns of a CSV ---------------------------------------------- */

/* Whether less of a column is better, from its name: energy, latency, time,
 * tokens and cost are costs; accuracy-like figures (rougeL, value, tpj,
 * exact, numeric) are gains. */
static bool lower_is_better(const char *col)
{
    static const char *const costs[] = {"energy", "latency", "_j", "time", "tokens", "cost",
                                        "power", "seconds", "_s"};
    char low[128];
    size_t n = 0;
    for (; col[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)col[n]);
    low[n] = '\0';
    if (strstr(low, "per_j") || strstr(low, "tpj"))
        return false; /* tokens per joule: more is better */
    for (size_t i = 0; i < JOULE_ARRAY_LEN(costs); i++) {
        const char *at = strstr(low, costs[i]);
        /* "_s" and "_j" only as a unit suffix */
        if (at && (costs[i][0] != '_' || at[strlen(costs[i])] == '\0'))
            return true;
    }
    return false;
}

/* A seeded uniform number in [-0.5, 0.5) for row i, axis a (splitmix64). */
static double jitter_unit(uint64_t i, uint64_t a)
{
    uint64_t z = i * 2 + a + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 - 0.5;
}

/* Series a --label column may make: marker shapes and colours stay
 * distinct up to about this many. */
#define MAX_LABELS 16

struct xy_row {
    double x, y, rank_by; /* rank_by: the `value` column, else the y gain */
    char number[24];
    int group;
};

enum joule_status joule_chart_from_csv_xy(const struct joule_csv_xy *q, const char *title,
                                          struct joule_chart **out, char *err, size_t err_size)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    enum joule_status st = joule_read_all(q->path, 256u << 20, &text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    char fallback[400];
    joule_fmt(fallback, sizeof(fallback), "%s against %s", q->y, q->x);
    struct joule_chart *c = chart_new(title, fallback);
    char **f = joule_calloc(CSV_MAX_COLS, sizeof(char *));
    char **groups = joule_calloc(JOULE_PLOT_MAX_SERIES, sizeof(char *));
    struct xy_row *rows = NULL;
    size_t n = 0, cap = 0, n_groups = 0, skipped = 0;
    if (!c || !f || !groups) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    char *p = text;
    if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
        p += 3;
    size_t line = 1;
    long nf = csv_record(&p, f, CSV_MAX_COLS, &line);
    if (nf < 0 || nf > CSV_MAX_COLS) {
        joule_fmt(err, err_size, "%s:1: %s", q->path,
                  nf < 0 ? "a quote is not closed" : "too many columns");
        st = JOULE_ERR_FORMAT;
        goto out;
    }
    const char *want[4] = {q->x, q->y, q->label, "value"};
    long col[4] = {-1, -1, -1, -1};
    for (long j = 0; j < nf; j++)
        for (size_t k = 0; k < 4; k++)
            if (want[k] && strcmp(f[j], want[k]) == 0)
                col[k] = j;
    long col_number = -1;
    for (long j = 0; j < nf; j++)
        if (strcmp(f[j], "number") == 0)
            col_number = j;
    for (size_t k = 0; k < 3; k++)
        if (want[k] && col[k] < 0) {
            char cols[600] = "";
            for (long j = 0; j < nf && strlen(cols) + 40 < sizeof(cols); j++) {
                size_t l = strlen(cols);
                joule_fmt(cols + l, sizeof(cols) - l, "%s%s", j ? ", " : "", f[j]);
            }
            joule_fmt(err, err_size, "%s:1: no column '%s' (the columns: %s)", q->path, want[k],
                      cols);
            st = JOULE_ERR_FORMAT;
            goto out;
        }
    const bool x_low = lower_is_better(q->x), y_low = lower_is_better(q->y);
    while (*p) {
        size_t at = line;
        long m = csv_record(&p, f, CSV_MAX_COLS, &line);
        if (m < 0) {
            joule_fmt(err, err_size, "%s:%zu: a quote is not closed", q->path, at);
            st = JOULE_ERR_FORMAT;
            goto out;
        }
        if (m == 1 && !f[0][0])
            continue;
        double v[4] = {NAN, NAN, NAN, NAN};
        for (size_t k = 0; k < 4; k++) {
            if (col[k] < 0 || k == 2)
                continue;
            if (col[k] >= m) {
                joule_fmt(err, err_size, "%s:%zu: the row has %ld fields, %s is field %ld",
                          q->path, at, m, want[k], col[k] + 1);
                st = JOULE_ERR_FORMAT;
                goto out;
            }
            if (cell_number(f[col[k]], &v[k]) < 0) {
                joule_fmt(err, err_size, "%s:%zu: %s: '%.40s' is not a number", q->path, at,
                          want[k], f[col[k]]);
                st = JOULE_ERR_FORMAT;
                goto out;
            }
        }
        if (!isfinite(v[0]) || !isfinite(v[1])) {
            skipped++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            struct xy_row *g = joule_realloc_array(rows, cap, sizeof(*rows));
            if (!g) {
                st = JOULE_ERR_NOMEM;
                goto out;
            }
            rows = g;
        }
        struct xy_row *r = &rows[n++];
        r->x = v[0];
        r->y = v[1];
        r->rank_by = isfinite(v[3]) ? v[3] : y_low ? -v[1] : v[1];
        joule_fmt(r->number, sizeof(r->number), "#%s",
                  col_number >= 0 && col_number < m ? f[col_number] : "");
        if (col_number < 0 || col_number >= m)
            joule_fmt(r->number, sizeof(r->number), "#%zu", n - 1);
        r->group = 0;
        if (col[2] >= 0 && col[2] < m) {
            const char *g = f[col[2]];
            size_t k = 0;
            while (k < n_groups && strcmp(groups[k], g) != 0)
                k++;
            if (k == n_groups) {
                if (n_groups == MAX_LABELS) {
                    joule_fmt(err, err_size,
                              "%s:%zu: %s has more than %d distinct values: too many series to "
                              "tell apart (choose a column with fewer, or none)",
                              q->path, at, q->label, MAX_LABELS);
                    st = JOULE_ERR_FORMAT;
                    goto out;
                }
                if (!(groups[k] = keep_str(c, g))) {
                    st = JOULE_ERR_NOMEM;
                    goto out;
                }
                n_groups++;
            }
            r->group = (int)k;
        }
    }
    if (n == 0) {
        joule_fmt(err, err_size, "%s: no row has numbers in both %s and %s (%zu rows without)",
                  q->path, q->x, q->y, skipped);
        st = JOULE_ERR_FORMAT;
        goto out;
    }
    if (skipped)
        joule_fmt(c->note, sizeof(c->note), "%zu row%s without %s or %s left out", skipped,
                  skipped > 1 ? "s" : "", q->x, q->y);
    /* Ranges for the jitter, which only moves the markers drawn: the
     * frontier and the annotations stay on the true values. */
    double x0 = rows[0].x, x1 = x0, y0 = rows[0].y, y1 = y0;
    for (size_t i = 1; i < n; i++) {
        x0 = fmin(x0, rows[i].x), x1 = fmax(x1, rows[i].x);
        y0 = fmin(y0, rows[i].y), y1 = fmax(y1, rows[i].y);
    }
    const size_t ng = n_groups ? n_groups : 1;
    const bool notes = q->annotate_topk > 0;
    struct joule_plot_series *ser = keep(c, ng + 2, sizeof(*ser));
    double *fx = keep(c, n, sizeof(double)), *fy = keep(c, n, sizeof(double));
    if (!ser || !fx || !fy) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < ng; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            m += (size_t)rows[i].group == k;
        double *x = keep(c, m ? m : 1, sizeof(double)), *y = keep(c, m ? m : 1, sizeof(double));
        if (!x || !y) {
            st = JOULE_ERR_NOMEM;
            goto out;
        }
        m = 0;
        for (size_t i = 0; i < n; i++)
            if ((size_t)rows[i].group == k) {
                x[m] = rows[i].x + q->jitter_frac * (x1 - x0) * jitter_unit(i, 0);
                y[m] = rows[i].y + q->jitter_frac * (y1 - y0) * jitter_unit(i, 1);
                m++;
            }
        ser[k] = (struct joule_plot_series){n_groups ? groups[k] : "trials", x, y, NULL, m,
                                            JOULE_PLOT_SCATTER, true, false};
    }
    /* The frontier on the true values: y's better direction is made
     * "lower" by negating it when more is better. */
    for (size_t i = 0; i < n; i++) {
        fx[i] = rows[i].x;
        fy[i] = y_low ? rows[i].y : -rows[i].y;
    }
    struct joule_plot_series pts[2] = {
        {"", fx, fy, NULL, n, JOULE_PLOT_SCATTER, true, false}, {0}};
    if ((st = add_frontier(c, pts, 1, x_low)) != JOULE_OK)
        goto out;
    ser[ng] = pts[1];
    if (!y_low) /* back to the true values */
        for (size_t i = 0; i < ser[ng].n; i++)
            ((double *)(uintptr_t)ser[ng].y)[i] = -ser[ng].y[i];
    size_t n_series = ng + 1;
    if (notes) {
        /* The top K rows by `value` (the objective), else by y. */
        size_t k = q->annotate_topk < n ? q->annotate_topk : n;
        double *ax = keep(c, k, sizeof(double)), *ay = keep(c, k, sizeof(double));
        char *texts = keep(c, k * 24 + 1, 1);
        bool *used = keep(c, n, sizeof(bool));
        if (!ax || !ay || !texts || !used) {
            st = JOULE_ERR_NOMEM;
            goto out;
        }
        texts[0] = '\0';
        for (size_t a = 0; a < k; a++) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < n; i++)
                if (!used[i] && (best == SIZE_MAX || rows[i].rank_by > rows[best].rank_by))
                    best = i;
            used[best] = true;
            ax[a] = rows[best].x;
            ay[a] = rows[best].y;
            size_t l = strlen(texts);
            joule_fmt(texts + l, k * 24 + 1 - l, "%s%s", a ? "\n" : "", rows[best].number);
        }
        ser[n_series++] =
            (struct joule_plot_series){texts, ax, ay, NULL, k, JOULE_PLOT_NOTES, false, true};
    }
    char *xl = keep(c, strlen(q->x) + 32, 1), *yl = keep(c, strlen(q->y) + 32, 1);
    if (!xl || !yl) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    joule_fmt(xl, strlen(q->x) + 32, "%s (%s is better)", q->x, x_low ? "lower" : "higher");
    joule_fmt(yl, strlen(q->y) + 32, "%s (%s is better)", q->y, y_low ? "lower" : "higher");
    c->panels[0] = (struct joule_plot_panel){
        q->jitter_frac > 0 ? "each point one row; markers jittered, frontier on the true values"
                           : "each point one row",
        xl,
        yl,
        ser,
        n_series,
        NULL,
        0,
        false};
out:
    free(text);
    free(f);
    free(groups);
    free(rows);
    return chart_done(c, st, out, err, err_size);
}

/* --- CSV files ----------------------------------------------------------- */

static char csv_empty[1] = "";

enum joule_status joule_csv_read(const char *path, struct joule_csv *out, char *err,
                                 size_t err_size)
{
    memset(out, 0, sizeof(*out));
    size_t len = 0;
    enum joule_status st = joule_read_all(path, 256u << 20, &out->text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    char *p = out->text;
    if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
        p += 3;
    char **f = joule_calloc(CSV_MAX_COLS, sizeof(char *));
    size_t cap = 0, line = 1;
    while (st == JOULE_OK && f && *p) {
        size_t at = line;
        long m = csv_record(&p, f, CSV_MAX_COLS, &line);
        if (m < 0) {
            joule_fmt(err, err_size, "%s:%zu: a quote is not closed", path, at);
            st = JOULE_ERR_FORMAT;
            break;
        }
        if (m == 1 && !f[0][0])
            continue;
        if (out->rows == 0)
            out->cols = m > CSV_MAX_COLS ? CSV_MAX_COLS : (size_t)m;
        if (out->rows == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = joule_realloc_array(out->cells, cap * out->cols, sizeof(char *));
            if (!g) {
                st = JOULE_ERR_NOMEM;
                break;
            }
            out->cells = g;
        }
        for (size_t j = 0; j < out->cols; j++)
            out->cells[out->rows * out->cols + j] =
                (long)j < m && j < CSV_MAX_COLS ? f[j] : csv_empty;
        out->rows++;
    }
    free(f);
    if (st == JOULE_OK && !f)
        st = JOULE_ERR_NOMEM;
    if (st == JOULE_OK && out->rows == 0) {
        joule_fmt(err, err_size, "%s:1: no header", path);
        st = JOULE_ERR_FORMAT;
    }
    if (st != JOULE_OK) {
        if (st == JOULE_ERR_NOMEM && err_size && !err[0])
            joule_fmt(err, err_size, "out of memory");
        joule_csv_free(out);
    }
    return st;
}

const char *joule_csv_cell(const struct joule_csv *c, size_t row, size_t col)
{
    return row < c->rows && col < c->cols ? c->cells[row * c->cols + col] : "";
}

long joule_csv_col(const struct joule_csv *c, const char *name)
{
    for (size_t j = 0; c->rows && j < c->cols; j++)
        if (strcmp(c->cells[j], name) == 0)
            return (long)j;
    return -1;
}

void joule_csv_free(struct joule_csv *c)
{
    if (!c)
        return;
    free(c->text);
    free(c->cells);
    memset(c, 0, sizeof(*c));
}
