/*
 * run.c - the measurement protocol of docs/methodology.md, on one config:
 *
 *   model (quantized on load if asked) -> dataset -> backend -> prompts
 *   tokenized -> meter -> idle baseline -> warmup -> cycles -> store.
 *
 * Nothing is read from or written to disk inside a measured window: the
 * store is written between cycles.  A cycle is one window ("run") around k
 * passes over the prompts, k growing until the window reaches
 * protocol.min_window_s; inside it every batch has a prefill and a decode
 * window, opened and closed by the backend's phase hooks.  Energies are
 * summed over the passes and divided by k.
 */
#define _POSIX_C_SOURCE 200809L
#include "alloc.h"
#include "backend.h"
#include "clock.h"
#include "config.h"
#include "env.h"
#include "fileio.h"
#include "joule_int.h"
#include "metrics.h"
#include "nodes.h"
#include "sha256.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* Adds reading r into the running sum acc (same meter, so the same
 * domains in the same order).  The sum keeps the weakest provenance and
 * every flag; its power figures are recomputed from the sums. */
static void reading_add(struct joule_reading *acc, const struct joule_reading *r)
{
    if (acc->n_domains == 0) {
        *acc = *r;
        return;
    }
    acc->duration_s += r->duration_s;
    acc->flags |= r->flags;
    acc->total_energy_j += r->total_energy_j;
    acc->total_bound_j += r->total_bound_j;
    acc->total_net_energy_j += r->total_net_energy_j;
    acc->total_net_bound_j += r->total_net_bound_j;
    if (r->total_provenance > acc->total_provenance)
        acc->total_provenance = r->total_provenance;
    for (uint32_t i = 0; i < acc->n_domains && i < r->n_domains; i++) {
        struct joule_domain_reading *a = &acc->domains[i];
        const struct joule_domain_reading *b = &r->domains[i];
        a->flags |= b->flags;
        if (b->provenance > a->provenance)
            a->provenance = b->provenance;
        a->energy_j += b->energy_j;
        a->bound_j += b->bound_j;
        a->net_energy_j += b->net_energy_j;
        a->net_bound_j += b->net_bound_j;
        a->n_samples += b->n_samples;
        if (b->peak_power_w > a->peak_power_w || !isfinite(a->peak_power_w))
            a->peak_power_w = b->peak_power_w;
        a->avg_power_w = acc->duration_s > 0 ? a->energy_j / acc->duration_s : NAN;
    }
}

/* The state of one experiment while it runs. */
struct run {
    const struct joule_config *c;
    const struct joule_run_options *o;
    struct joule_store *s;
    struct joule_meter *m;
    const struct joule_backend_ops *ops;
    struct joule_backend *b;
    struct joule_backend_info info;
    struct joule_backend_prompt *prompts;
    size_t n_prompts;
    size_t n_cut;            /* prompts cut by max_input_tokens */
    const char **sample_ids; /* [n_prompts] the dataset's ids (borrowed) */
    double power_avg[16];    /* by cycle: mean power of its run window */
    double t0;               /* wall clock at the start, for progress */
    char *err;
    size_t err_size;
    /* the cycle in progress */
    struct joule_reading phase_sum[JOULE_BACKEND_N_PHASES]; /* over the cycle */
    struct joule_reading batch_sum[JOULE_BACKEND_N_PHASES]; /* over the batch */
    enum joule_status hook_status;
    char hook_err[256];
    /* several nodes: the lead's side (nodes.h); multi is 0 on one node */
    int multi;
    struct joule_nodes nodes;
};

static const char *const phase_window[JOULE_BACKEND_N_PHASES] = {"prefill", "decode", "all",
                                                                  "steady"};

static void progress(struct run *r, const char *stage, int32_t cycle, int64_t done, int64_t total,
                     const char *message)
{
    if (!r->o || !r->o->on_progress)
        return;
    struct joule_progress p = {stage,
                               cycle,
                               r->c->protocol.cycles,
                               done,
                               total,
                               joule_wall_s() - r->t0,
                               message ? message : ""};
    r->o->on_progress(r->o->user, &p);
}

static int stopped(const struct run *r)
{
    return r->o && r->o->stop && *r->o->stop;
}

static void hook_begin(void *user, enum joule_backend_phase p)
{
    struct run *r = user;
    enum joule_status st = joule_meter_begin(r->m, phase_window[p]);
    if (st != JOULE_OK && r->hook_status == JOULE_OK) {
        r->hook_status = st;
        joule_fmt(r->hook_err, sizeof(r->hook_err), "meter window %s: %s", phase_window[p],
                  joule_meter_errmsg(r->m));
    }
}

static void hook_end(void *user, enum joule_backend_phase p)
{
    struct run *r = user;
    struct joule_reading rd;
    enum joule_status st = joule_meter_end(r->m, phase_window[p], &rd);
    if (st != JOULE_OK) {
        if (r->hook_status == JOULE_OK) {
            r->hook_status = st;
            joule_fmt(r->hook_err, sizeof(r->hook_err), "meter window %s: %s", phase_window[p],
                      joule_meter_errmsg(r->m));
        }
        return;
    }
    reading_add(&r->phase_sum[p], &rd);
    reading_add(&r->batch_sum[p], &rd);
}

/* ------------------------------------------------------------------------
 * Before the experiment: model, dataset, prompts.
 */

/* The folder quantized copies are kept in: $JOULE_CACHE_DIR, else
 * $XDG_CACHE_HOME/joule, else ~/.cache/joule. */
static void cache_dir(char *out, size_t size)
{
    const char *d = getenv("JOULE_CACHE_DIR");
    if (d && *d) {
        joule_strlcpy(out, d, size);
        return;
    }
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x) {
        joule_fmt(out, size, "%s/joule", x);
        return;
    }
    const char *h = getenv("HOME");
    joule_fmt(out, size, "%s/.cache/joule", h && *h ? h : ".");
}

enum joule_status joule_model_resolve(const char *spec, uint32_t n_threads,
                                      void (*before_making)(void *user, const char *path),
                                      void *user, char *path, size_t size, char *err,
                                      size_t err_size)
{
    if (strncmp(spec, "synth:", 6) != 0) {
        joule_strlcpy(path, spec, size);
        return JOULE_OK;
    }
    char shape[64] = "", type[16] = "q8_0";
    const char *s = spec + 6, *colon = strchr(s, ':');
    joule_fmt(shape, sizeof(shape), "%.*s", (int)(colon ? colon - s : (long)strlen(s)), s);
    if (colon)
        joule_strlcpy(type, colon + 1, sizeof(type));
    struct joule_synth_params p = joule_synth_default_params();
    if (joule_synth_shape(shape, &p) != JOULE_OK) {
        char names[512] = "";
        for (size_t i = 0; joule_synth_shape_name(i); i++) {
            size_t len = strlen(names);
            joule_fmt(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                      joule_synth_shape_name(i));
        }
        joule_fmt(err, err_size, "model %s: unknown shape '%s' (shapes: %s)", spec, shape,
                  names);
        return JOULE_ERR_NOT_FOUND;
    }
    p.type = type;
    p.seed = 0;
    char dir[3072];
    cache_dir(dir, sizeof(dir));
    joule_fmt(path, size, "%s/models/synth-%s-%s.gguf", dir, shape, type);
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0)
        return JOULE_OK;
    char sub[3200];
    joule_fmt(sub, sizeof(sub), "%s/models", dir);
    enum joule_status st = joule_mkdirs(sub, err, err_size);
    if (st != JOULE_OK)
        return st;
    if (before_making)
        before_making(user, path);
    p.n_threads = n_threads > 0 ? n_threads : 2;
    char msg[512];
    if ((st = joule_model_synth(&p, path, msg, sizeof(msg))) != JOULE_OK)
        joule_fmt(err, err_size, "model %s: %s", spec, msg);
    return st;
}

static void announce_synth(void *user, const char *path)
{
    struct run *r = user;
    char msg[3400];
    joule_fmt(msg, sizeof(msg), "making the random-weight model %s once: %s", r->c->model, path);
    progress(r, "synthesize", 0, 0, 0, msg);
}

/* The file to measure: the config's model, or a copy quantized to
 * c->precision (made once, then reused from the cache; keyed by the source
 * file's digest so an edited source is never served stale). */
static enum joule_status model_file(struct run *r, char *path, size_t size, char digest[65])
{
    const struct joule_config *c = r->c;
    char source[4096];
    enum joule_status st;
    if (strncmp(c->model, "synth:", 6) == 0) {
        st = joule_model_resolve(c->model, (uint32_t)(c->threads > 0 ? c->threads : 0),
                                 announce_synth, r, source, sizeof(source), r->err, r->err_size);
        if (st != JOULE_OK)
            return st;
    } else {
        joule_strlcpy(source, c->model, sizeof(source));
        /* A model path that does not exist is the user's input, not a
         * failure of the machine: say so plainly (exit 2 in the CLI). */
        struct stat sb;
        if (stat(source, &sb) != 0 && errno == ENOENT) {
            joule_fmt(r->err, r->err_size,
                      "%s: no such model file (a GGUF file, or synth:SHAPE for a "
                      "random-weight model, see `joule model synth --help`)",
                      source);
            return JOULE_ERR_NOT_FOUND;
        }
    }
    if ((st = joule_sha256_file(source, digest, r->err, r->err_size)) != JOULE_OK)
        return st;
    if (!c->precision || strcmp(c->precision, "file") == 0) {
        joule_strlcpy(path, source, size);
        return JOULE_OK;
    }
    char dir[3072];
    cache_dir(dir, sizeof(dir));
    /* int8-mixed is the int8 file in another mode of the engine. */
    const char *type = strcmp(c->precision, "int8-mixed") == 0 ? "int8" : c->precision;
    joule_fmt(path, size, "%s/quantized/%.16s-%s.gguf", dir, digest, type);
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0)
        return joule_sha256_file(path, digest, r->err, r->err_size);
    char sub[3200];
    joule_fmt(sub, sizeof(sub), "%s/quantized", dir);
    if ((st = joule_mkdirs(sub, r->err, r->err_size)) != JOULE_OK)
        return st;
    char msg[4200];
    joule_fmt(msg, sizeof(msg), "quantizing the model to %s once: %s", type, path);
    progress(r, "quantize", 0, 0, 0, msg);
    st = joule_model_quantize(source, path, type,
                              (uint32_t)(c->threads > 0 ? c->threads : 0), r->err, r->err_size);
    if (st != JOULE_OK)
        return st;
    return joule_sha256_file(path, digest, r->err, r->err_size);
}

static enum joule_status load_prompts(struct run *r, const struct joule_dataset *ds)
{
    size_t n = joule_dataset_count(ds);
    if (r->info.one_request && n > 1)
        n = 1; /* the backend runs its own workload: one request a pass */
    r->prompts = joule_calloc(n, sizeof(*r->prompts));
    if (!r->prompts)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct joule_sample *sm = joule_dataset_get(ds, i);
        char e[256];
        enum joule_status st =
            r->ops->prepare(r->b, sm->prompt, strlen(sm->prompt), r->c->max_input_tokens,
                            &r->prompts[i], e, sizeof(e));
        if (st != JOULE_OK) {
            joule_fmt(r->err, r->err_size, "%s: sample %s: %s", joule_dataset_source(ds),
                      sm->id ? sm->id : "?", e);
            return st;
        }
        r->n_prompts++;
        r->n_cut += r->prompts[i].n_cut > 0;
    }
    return JOULE_OK;
}

/* ------------------------------------------------------------------------
 * One pass over the prompts, in batches.
 */

/* Per-request figures of the first pass of a cycle, for the request rows. */
struct pass_extra {
    double *e_prefill, *e_decode; /* attributed energy */
    int32_t *batch;               /* batch index */
};

/* Shares a batch's phase energy among its requests by their tokens in that
 * phase: prompt tokens for prefill, decode-step tokens for decode. */
static void attribute(const struct run *r, const struct joule_backend_result *res, size_t n,
                      double *e_pre, double *e_dec)
{
    double tin = 0, tdec = 0;
    for (size_t i = 0; i < n; i++) {
        tin += res[i].n_input;
        tdec += res[i].decode_tokens;
    }
    const struct joule_reading *pre = &r->batch_sum[JOULE_BACKEND_PHASE_PREFILL];
    const struct joule_reading *dec = &r->batch_sum[JOULE_BACKEND_PHASE_DECODE];
    for (size_t i = 0; i < n; i++) {
        e_pre[i] = pre->n_domains && tin > 0 ? pre->total_energy_j * res[i].n_input / tin : NAN;
        e_dec[i] = !dec->n_domains ? NAN
                   : tdec > 0      ? dec->total_energy_j * res[i].decode_tokens / tdec
                                   : 0.0;
    }
}

/* Runs every prompt once into res[0..n_prompts); x (may be NULL) gets the
 * per-request energies and batch numbers. */
static enum joule_status run_pass(struct run *r, struct joule_backend_result *res,
                                  struct pass_extra *x, size_t *failed, int32_t cycle)
{
    /* A backend that schedules its own load takes the pass at once. */
    const size_t bs =
        r->info.whole_pass && r->n_prompts > 0 ? r->n_prompts : (size_t)r->c->batch_size;
    struct joule_backend_hooks hooks = {hook_begin, hook_end, r};
    size_t n_batches = (r->n_prompts + bs - 1) / bs;
    for (size_t bi = 0; bi < n_batches; bi++) {
        if (stopped(r))
            return JOULE_ERR_STATE;
        size_t first = bi * bs;
        size_t n = r->n_prompts - first < bs ? r->n_prompts - first : bs;
        memset(r->batch_sum, 0, sizeof(r->batch_sum));
        r->hook_status = JOULE_OK;
        enum joule_status st = r->ops->run_batch(r->b, r->prompts + first, n, &hooks, res + first,
                                                 r->err, r->err_size);
        if (st == JOULE_OK && r->hook_status != JOULE_OK) {
            joule_strlcpy(r->err, r->hook_err, r->err_size);
            st = r->hook_status;
        }
        if (st != JOULE_OK)
            return st;
        for (size_t i = first; i < first + n; i++)
            *failed += res[i].finish == JOULE_FINISH_CANCELLED;
        if (x) {
            for (size_t i = first; i < first + n; i++)
                x->batch[i] = (int32_t)bi;
            attribute(r, res + first, n, x->e_prefill + first, x->e_decode + first);
        }
        if (cycle > 0)
            progress(r, "cycle", cycle, (int64_t)(first + n), (int64_t)r->n_prompts, NULL);
    }
    return JOULE_OK;
}

/* ------------------------------------------------------------------------
 * One cycle.
 */

/* Comma list of the names of the set bits of flags into out, after what
 * is already there. */
static void flags_text(uint32_t flags, char *out, size_t size)
{
    for (uint32_t bit = 1; bit && bit <= flags; bit <<= 1)
        if ((flags & bit) && !strstr(out, joule_flag_str(bit))) {
            size_t len = strlen(out);
            joule_fmt(out + len, size - len, "%s%s", len ? "," : "", joule_flag_str(bit));
        }
}

static void flag_add(char *out, size_t size, const char *name)
{
    if (strstr(out, name))
        return;
    size_t len = strlen(out);
    joule_fmt(out + len, size - len, "%s%s", len ? "," : "", name);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

/* Total power of every sample of the timeline from t_from on: the domains
 * summed into the total, as the readings do. */
static enum joule_status power_samples(struct run *r, double t_from, double t_to, double **out,
                                       size_t *n_out, double **rows_out, uint64_t *n_rows_out,
                                       uint32_t *n_dom_out)
{
    *out = NULL;
    *n_out = 0;
    double *rows = NULL;
    uint64_t n_rows = 0;
    uint32_t n_dom = 0;
    enum joule_status st = joule_meter_timeline_copy(r->m, t_from, &rows, &n_rows, &n_dom);
    if (st != JOULE_OK || n_rows == 0)
        return st;
    int32_t in_total[JOULE_MAX_DOMAINS] = {0};
    for (uint32_t i = 0; i < n_dom && i < JOULE_MAX_DOMAINS; i++) {
        struct joule_domain_info di;
        if (joule_meter_domain_info(r->m, i, &di) == JOULE_OK)
            in_total[i] = di.in_total && di.provenance != JOULE_PROV_UNAVAILABLE;
    }
    double *p = joule_calloc((size_t)n_rows, sizeof(double));
    if (!p) {
        joule_free(rows);
        return JOULE_ERR_NOMEM;
    }
    size_t n = 0;
    for (uint64_t k = 0; k < n_rows; k++) {
        const double *row = rows + k * (1 + n_dom);
        if (row[0] > t_to)
            break;
        double sum = 0;
        int any = 0;
        for (uint32_t i = 0; i < n_dom; i++)
            if (in_total[i] && isfinite(row[1 + i]))
                sum += row[1 + i], any = 1;
        if (any)
            p[n++] = sum;
    }
    *out = p;
    *n_out = n;
    *rows_out = rows;
    *n_rows_out = n_rows;
    *n_dom_out = n_dom;
    return JOULE_OK;
}

static enum joule_status store_timeline(struct run *r, int64_t id, const double *rows,
                                        uint64_t n_rows, uint32_t n_dom, double t_to)
{
    if (!r->c->outputs.timeline || n_rows == 0)
        return JOULE_OK;
    const char *names[JOULE_MAX_DOMAINS];
    struct joule_domain_info di[JOULE_MAX_DOMAINS];
    uint32_t nd = n_dom < JOULE_MAX_DOMAINS ? n_dom : JOULE_MAX_DOMAINS;
    for (uint32_t i = 0; i < nd; i++) {
        if (joule_meter_domain_info(r->m, i, &di[i]) != JOULE_OK)
            joule_strlcpy(di[i].name, "?", sizeof(di[i].name));
        names[i] = di[i].name;
    }
    size_t n = 0;
    while (n < n_rows && rows[n * (1 + n_dom)] <= t_to)
        n++;
    double *t = joule_calloc(n ? n : 1, sizeof(double));
    double *pw = joule_calloc(n ? n * nd : 1, sizeof(double));
    enum joule_status st = JOULE_ERR_NOMEM;
    if (t && pw) {
        for (size_t k = 0; k < n; k++) {
            t[k] = rows[k * (1 + n_dom)];
            for (uint32_t i = 0; i < nd; i++)
                pw[k * nd + i] = rows[k * (1 + n_dom) + 1 + i];
        }
        st = joule_store_timeline_add(r->s, id, names, nd, t, pw, n);
    }
    free(t);
    free(pw);
    return st;
}

static void results_free(struct joule_backend_result *all, size_t n)
{
    for (size_t i = 0; all && i < n; i++)
        joule_backend_result_free(&all[i]);
    free(all);
}

/* The steady-state figures of a cycle (docs/methodology.md, "Steady state
 * for server load"): the STEADY windows of its k passes, and the output
 * tokens the backend counted inside them.  Writes 5 metrics. */
static size_t steady_metrics(const struct joule_reading *w, const struct joule_backend_result *req,
                             size_t n_req, int32_t k, struct joule_store_metric *out)
{
    double tokens = 0;
    for (size_t i = 0; i < n_req; i++)
        tokens += req[i].steady_tokens;
    const double kk = k > 0 ? k : 1;
    const double dur = w->n_domains ? w->duration_s / kk : NAN;
    const double e = w->n_domains ? w->total_energy_j / kk : NAN;
    tokens /= kk;
    out[0] = (struct joule_store_metric){"steady_duration_s", dur};
    out[1] = (struct joule_store_metric){"steady_energy_j", e};
    out[2] = (struct joule_store_metric){"steady_tokens_out", w->n_domains ? tokens : NAN};
    out[3] = (struct joule_store_metric){"steady_throughput_tok_s",
                                         dur > 0 ? tokens / dur : NAN};
    out[4] = (struct joule_store_metric){"steady_j_per_tok", tokens > 0 ? e / tokens : NAN};
    return 5;
}

static enum joule_status run_cycle(struct run *r, int64_t id, int32_t cycle, int32_t position,
                                   char *exp_flags, size_t exp_flags_size)
{
    const struct joule_config *c = r->c;
    memset(r->phase_sum, 0, sizeof(r->phase_sum));
    const size_t n = r->n_prompts;
    /* Requests of every pass: pass p occupies all[p*n .. (p+1)*n). */
    size_t cap_passes = 4;
    struct joule_backend_result *all = joule_calloc(cap_passes * n, sizeof(*all));
    struct pass_extra x = {joule_calloc(n, sizeof(double)), joule_calloc(n, sizeof(double)),
                           joule_calloc(n, sizeof(int32_t))};
    struct joule_store_request *rq = joule_calloc(n, sizeof(*rq));
    double *pw = NULL, *rows = NULL;
    enum joule_status st = JOULE_OK;
    int32_t k = 0;
    if (!all || !x.e_prefill || !x.e_decode || !x.batch || !rq) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    struct joule_backend_info before;
    r->ops->info(r->b, &before); /* the int8 counters at the start */
    if (r->multi && (st = joule_nodes_cycle_begin(&r->nodes, cycle, r->err, r->err_size)) !=
                        JOULE_OK)
        goto out;
    const double started_at = joule_wall_s();
    struct joule_reading run;
    if ((st = joule_meter_begin(r->m, "run")) != JOULE_OK) {
        joule_fmt(r->err, r->err_size, "meter: %s", joule_meter_errmsg(r->m));
        goto out;
    }
    const uint64_t t_begin_ns = joule_clock_ns();
    size_t failed = 0;
    for (;;) {
        if ((size_t)k == cap_passes) {
            /* Grown between passes: an allocation, never I/O. */
            struct joule_backend_result *g =
                joule_realloc_array(all, cap_passes * 2 * n, sizeof(*all));
            if (!g) {
                st = JOULE_ERR_NOMEM;
                break;
            }
            memset(g + cap_passes * n, 0, cap_passes * n * sizeof(*g));
            all = g;
            cap_passes *= 2;
        }
        st = run_pass(r, all + (size_t)k * n, k == 0 ? &x : NULL, &failed, cycle + 1);
        k++; /* a failed pass still holds results to free */
        if (st != JOULE_OK)
            break;
        double elapsed = (double)(joule_clock_ns() - t_begin_ns) * 1e-9;
        if (elapsed >= c->protocol.min_window_s || stopped(r))
            break;
    }
    enum joule_status end_st = joule_meter_end(r->m, "run", &run);
    if (st == JOULE_OK && stopped(r))
        st = JOULE_ERR_STATE; /* an interrupted cycle is not a whole measurement */
    if (st == JOULE_OK && end_st != JOULE_OK) {
        joule_fmt(r->err, r->err_size, "meter: %s", joule_meter_errmsg(r->m));
        st = end_st;
    }
    if (st != JOULE_OK)
        goto out;
    /* The other nodes' windows, added in: energy summed, the longest
     * duration.  Their timelines stay on their nodes. */
    if (r->multi && (st = joule_nodes_cycle_end(&r->nodes, cycle, &run, r->err, r->err_size)) !=
                        JOULE_OK)
        goto out;

    /* Outside the window from here on. */
    size_t npw = 0;
    uint64_t n_rows = 0;
    uint32_t n_dom = 0;
    if ((st = power_samples(r, run.t_begin_s, run.t_begin_s + run.duration_s, &pw, &npw, &rows,
                            &n_rows, &n_dom)) != JOULE_OK)
        goto out;
    char flags[256] = "";
    flags_text(run.flags, flags, sizeof(flags));
    for (int p = 0; p < JOULE_BACKEND_N_PHASES; p++)
        flags_text(r->phase_sum[p].flags, flags, sizeof(flags));
    if (run.duration_s < c->protocol.min_window_s)
        flag_add(flags, sizeof(flags), "too-short");
    if (failed)
        flag_add(flags, sizeof(flags), "requests-failed");
    for (size_t i = 0; i < (size_t)k * n; i++)
        if (!all[i].error && all[i].tokens == JOULE_BACKEND_TOKENS_UNKNOWN)
            flag_add(flags, sizeof(flags), "tokens-unknown");
    const struct joule_reading *steady = &r->phase_sum[JOULE_BACKEND_PHASE_STEADY];
    if (r->info.steady && (!steady->n_domains || steady->duration_s < c->protocol.min_window_s))
        flag_add(flags, sizeof(flags), "steady-state-short");
    /* Phases are the lead's alone: on several nodes only the whole window
     * holds every node's energy. */
    const int phases = !r->multi && r->info.phases &&
                       r->phase_sum[JOULE_BACKEND_PHASE_PREFILL].n_domains &&
                       r->phase_sum[JOULE_BACKEND_PHASE_DECODE].n_domains;
    struct joule_cycle_data d = {
        .repeats = k,
        .run = &run,
        .prefill = phases ? &r->phase_sum[JOULE_BACKEND_PHASE_PREFILL] : NULL,
        .decode = phases ? &r->phase_sum[JOULE_BACKEND_PHASE_DECODE] : NULL,
        .req = all,
        .n_req = (size_t)k * n,
        /* The lead's samples alone would misstate the nodes' power. */
        .power_w = pw,
        .n_power = r->multi ? 0 : npw,
        .peak_rss_mib = peak_rss_mib(),
        .n_params = r->info.n_params,
        .compute_params = r->info.compute_params,
        .model_bytes = r->info.model_bytes,
        .n_layer = r->info.n_layer,
        .n_embd = r->info.n_embd,
    };
    struct joule_store_metric metrics[JOULE_CYCLE_METRICS_MAX + 8];
    size_t n_metrics = joule_cycle_metrics(&d, metrics, JOULE_CYCLE_METRICS_MAX);
    metrics[n_metrics++] = (struct joule_store_metric){"requests_failed", (double)failed / k};
    if (r->info.steady)
        n_metrics += steady_metrics(steady, all, (size_t)k * n, k, metrics + n_metrics);
    if (r->info.int8_threshold >= 0) {
        /* The share of INT8 input columns multiplied in 16-bit instead:
         * what the decomposition costs depends on it. */
        struct joule_backend_info after;
        r->ops->info(r->b, &after);
        const int64_t cols = after.int8_columns - before.int8_columns;
        metrics[n_metrics++] = (struct joule_store_metric){
            "int8_outlier_share",
            cols > 0 ? (double)(after.int8_outliers - before.int8_outliers) / (double)cols : NAN};
    }
    for (size_t i = 0; i < n; i++) {
        const struct joule_backend_result *q = &all[i];
        rq[i] = (struct joule_store_request){
            .index = (int32_t)i,
            .sample_id = r->sample_ids ? r->sample_ids[i] : NULL,
            .batch = x.batch[i],
            .n_input = q->n_input,
            .n_output = q->n_output,
            .finish = q->error ? "error" : joule_finish_str(q->finish),
            .error = q->error,
            .tokens = joule_backend_tokens_str(q->tokens),
            .queue_s = q->queue_s,
            .prefill_s = q->prefill_s,
            .ttft_s = q->ttft_s,
            .decode_s = q->decode_s,
            .total_s = q->total_s,
            .itl_mean_s = q->itl_mean_s,
            .itl_p50_s = q->itl_p50_s,
            .itl_p90_s = q->itl_p90_s,
            .itl_max_s = q->itl_max_s,
            .energy_prefill_j = x.e_prefill[i],
            .energy_decode_j = x.e_decode[i],
            .text = c->outputs.save_text ? q->text : NULL,
        };
    }
    struct joule_store_domain dom[3 * JOULE_MAX_DOMAINS];
    size_t nd = 0;
    const struct joule_reading *win[3] = {&run, d.prefill, d.decode};
    static const char *const wname[3] = {"run", "prefill", "decode"};
    for (int w = 0; w < 3; w++)
        for (uint32_t i = 0; win[w] && i < win[w]->n_domains; i++)
            dom[nd++] = (struct joule_store_domain){wname[w], &win[w]->domains[i]};
    struct joule_store_cycle sc = {cycle, position, started_at, run.duration_s / k, k, flags};
    st = joule_store_cycle_add(r->s, id, &sc, metrics, n_metrics, dom, nd, rq, n);
    if (st == JOULE_OK)
        st = store_timeline(r, id, rows, n_rows, n_dom, run.t_begin_s + run.duration_s);
    if (st != JOULE_OK) {
        joule_fmt(r->err, r->err_size, "%s", joule_store_errmsg(r->s));
        goto out;
    }
    /* The experiment's flags: the union of its cycles'. */
    for (const char *f = flags; *f;) {
        const char *e = strchr(f, ',');
        size_t len = e ? (size_t)(e - f) : strlen(f);
        char one[64];
        joule_fmt(one, sizeof(one), "%.*s", (int)len, f);
        flag_add(exp_flags, exp_flags_size, one);
        f += len + (e != NULL);
    }
    r->power_avg[cycle] = run.duration_s > 0 ? run.total_energy_j / run.duration_s : NAN;
out:
    free(rq);
    free(pw);
    joule_free(rows);
    results_free(all, (size_t)k * n);
    free(x.e_prefill);
    free(x.e_decode);
    free(x.batch);
    return st;
}

/* ------------------------------------------------------------------------
 * The experiment.
 */

/* Unmeasured runs of the first batch: at least warmup_runs, and on until
 * two seconds have passed (caches, page faults of the mapped weights and
 * CPU clocks settle), at most 100. */
static enum joule_status warmup(struct run *r)
{
    const int32_t want = r->c->protocol.warmup_runs;
    if (want <= 0)
        return JOULE_OK;
    size_t per = (size_t)r->c->batch_size;
    if (r->info.whole_pass) /* one round of the server's concurrency */
        per = r->info.n_seq > 0 ? (size_t)r->info.n_seq : 1;
    const size_t n = r->n_prompts < per ? r->n_prompts : per;
    struct joule_backend_result *res = joule_calloc(n, sizeof(*res));
    if (!res)
        return JOULE_ERR_NOMEM;
    const double t0 = joule_wall_s();
    enum joule_status st = JOULE_OK;
    for (int32_t i = 0; i < 100 && !stopped(r); i++) {
        if (i >= want && joule_wall_s() - t0 >= 2.0)
            break;
        progress(r, "warmup", 0, i, want, NULL);
        st = r->ops->run_batch(r->b, r->prompts, n, NULL, res, r->err, r->err_size);
        for (size_t k = 0; k < n; k++)
            joule_backend_result_free(&res[k]);
        if (st != JOULE_OK)
            break;
    }
    free(res);
    return st;
}

static void cooldown(struct run *r, int32_t cycle)
{
    double left = r->c->protocol.cooldown_s;
    if (left <= 0)
        return;
    progress(r, "cooldown", cycle, 0, 0, NULL);
    while (left > 0 && !stopped(r)) {
        double step = left < 0.1 ? left : 0.1;
        joule_sleep_s(step);
        left -= step;
    }
}

static enum joule_status sha256_text(const char *text, char out[65])
{
    struct joule_sha256 h;
    joule_sha256_init(&h);
    joule_sha256_update(&h, text, strlen(text));
    joule_sha256_hex(&h, out);
    return JOULE_OK;
}

/* Finds the experiment to continue, or creates a new one.  done[c] = 1 for
 * cycles already stored. */
static enum joule_status open_experiment(struct run *r, const char *yaml, const char *hash,
                                         const struct joule_store_experiment *e, int64_t *id,
                                         unsigned char *done, size_t n_done)
{
    const struct joule_run_options *o = r->o;
    int64_t found = o && o->resume_id > 0 ? o->resume_id : 0;
    enum joule_status st;
    /* A multi-node run is a new experiment unless resumed by id. */
    if (!found && !(o && o->fresh) && !r->multi) {
        if ((st = joule_store_find_incomplete(r->s, hash, &found)) != JOULE_OK) {
            joule_fmt(r->err, r->err_size, "%s", joule_store_errmsg(r->s));
            return st;
        }
    }
    if (found) {
        char *old = NULL, status[32] = "";
        st = joule_store_experiment_get(r->s, found, &old, done, n_done, status, sizeof(status));
        if (st != JOULE_OK) {
            joule_fmt(r->err, r->err_size, "%s", joule_store_errmsg(r->s));
            return st;
        }
        char old_hash[65];
        sha256_text(old ? old : "", old_hash);
        joule_free(old);
        if (strcmp(old_hash, hash) != 0) {
            joule_fmt(r->err, r->err_size,
                      "experiment %lld was run with another config (compare with `joule "
                      "results show %lld`): resume it with the same config, or drop --resume",
                      (long long)found, (long long)found);
            return JOULE_ERR_INVALID;
        }
        if (strcmp(status, JOULE_STATUS_COMPLETED) == 0) {
            joule_fmt(r->err, r->err_size, "experiment %lld is already complete", (long long)found);
            return JOULE_ERR_STATE;
        }
        char msg[128];
        joule_fmt(msg, sizeof(msg), "resuming experiment %lld", (long long)found);
        progress(r, "load", 0, 0, 0, msg);
        *id = found;
        (void)yaml;
        return joule_store_experiment_status(r->s, found, JOULE_STATUS_RUNNING, "");
    }
    memset(done, 0, n_done);
    if ((st = joule_store_experiment_add(r->s, e, id)) != JOULE_OK)
        joule_fmt(r->err, r->err_size, "%s", joule_store_errmsg(r->s));
    return st;
}

/* Adds "server_log": path to the environment JSON in *env. */
static void env_add_server_log(char **env, const char *path)
{
    json_t *o = json_loads(*env, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    json_object_set_new(o, "server_log", json_string(path));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return;
    joule_free(*env); /* both come from json_dumps (malloc) */
    *env = s;
}

/* The model as a name: the file's base name, or the shape of a synth:
 * spec ("synth:stories15m:q8_0" -> "stories15m"; the precision follows it
 * in the experiment's name anyway). */
static const char *model_label(const char *model, char *buf, size_t size)
{
    if (strncmp(model, "synth:", 6) == 0) {
        joule_fmt(buf, size, "%.*s", (int)strcspn(model + 6, ":"), model + 6);
        return buf;
    }
    const char *s = strrchr(model, '/');
    return s ? s + 1 : model;
}

enum joule_status joule_experiment_run(const struct joule_config *c, struct joule_store *s,
                                       const struct joule_run_options *o, int64_t *id_out,
                                       char *err, size_t err_size)
{
    if (id_out)
        *id_out = 0;
    if (err && err_size)
        err[0] = '\0';
    if (!c || !s)
        return JOULE_ERR_INVALID;
    /* Another node of a multi-node experiment only measures. */
    if (o && o->nodes > 1 && o->rank > 0)
        return joule_nodes_follow(c, s, o, id_out, err, err_size);
    struct run r = {.c = c, .o = o, .s = s, .err = err, .err_size = err_size};
    r.t0 = joule_wall_s();
    r.multi = o && o->nodes > 1;
    enum joule_status st = joule_config_validate(c, err, err_size);
    if (st != JOULE_OK)
        return st;
    if (!(r.ops = joule_backend_find(c->backend))) {
        joule_fmt(err, err_size,
                  "backend '%s' is not available in this build (available: builtin, http, "
                  "command)",
                  c->backend);
        return JOULE_ERR_UNSUPPORTED;
    }
    struct joule_dataset *ds = NULL;
    char *yaml = NULL, *env = NULL, *meter_json = NULL;
    int64_t id = 0;
    char path[4096], digest[65], hash[65];
    char exp_flags[256] = "";

    /* The canonical config and its hash come first: they find an earlier
     * experiment of the same config, to resume or to reuse. */
    if ((st = joule_config_to_yaml(c, 0, &yaml)) != JOULE_OK)
        goto out;
    sha256_text(yaml, hash);
    progress(&r, "load", 0, 0, 0, NULL);
    /* http and command need no model file (with one, http counts tokens
     * with its tokenizer when a server sends no usage). */
    path[0] = digest[0] = '\0';
    if (c->model && (st = model_file(&r, path, sizeof(path), digest)) != JOULE_OK)
        goto out;
    if (o && o->skip_completed && !o->fresh && o->resume_id <= 0 && !r.multi) {
        int64_t done_id = 0;
        if ((st = joule_store_find_completed(s, hash, digest, &done_id)) != JOULE_OK) {
            joule_fmt(err, err_size, "%s", joule_store_errmsg(s));
            goto out;
        }
        if (done_id > 0) {
            char msg[96];
            joule_fmt(msg, sizeof(msg), "already measured as experiment %lld", (long long)done_id);
            progress(&r, "done", 0, 0, 0, msg);
            if (id_out)
                *id_out = done_id;
            if (o->reused)
                *o->reused = 1;
            goto out;
        }
    }
    struct joule_model_info mi;
    memset(&mi, 0, sizeof(mi));
    if (path[0] && (st = joule_model_inspect(path, &mi, err, err_size)) != JOULE_OK)
        goto out;
    struct joule_dataset_params dp = joule_dataset_default_params();
    dp.source = c->dataset.name;
    dp.format = c->dataset.format;
    dp.sample_size = c->dataset.sample_size;
    dp.shuffle = c->dataset.shuffle;
    dp.seed = c->dataset.seed;
    dp.skip_bad = c->dataset.skip_bad;
    if ((st = joule_dataset_load(&dp, &ds, err, err_size)) != JOULE_OK)
        goto out;
    /* A managed server's log goes beside the results database. */
    char log_dir[4200];
    const char *dbp = joule_store_path(s);
    const char *slash = dbp ? strrchr(dbp, '/') : NULL;
    joule_fmt(log_dir, sizeof(log_dir), "%.*s%sserver-logs", slash ? (int)(slash - dbp) : 0,
              slash ? dbp : "", slash ? "/" : "");
    int64_t n_ctx = (int64_t)c->max_input_tokens + c->max_output_tokens;
    if (mi.n_ctx > 0 && n_ctx > mi.n_ctx)
        n_ctx = mi.n_ctx; /* longer requests end with finish "length" */
    struct joule_backend_params bp = {
        .batch_size = c->batch_size,
        .threads = c->threads,
        .n_ctx = (int32_t)n_ctx,
        .max_output_tokens = c->max_output_tokens,
        .ignore_eos = c->decoding.ignore_eos,
        .keep_text = c->outputs.save_text,
        .gpus = c->gpus,
        .base_url = c->http.base_url,
        .http_model = c->http.model,
        .api_key_env = c->http.api_key_env,
        .endpoint = c->http.endpoint,
        .concurrency = c->http.concurrency,
        .rate = c->http.rate,
        .stream = c->http.stream,
        .timeout_s = c->http.timeout_s,
        .retries = c->http.retries,
        .server_command = c->server.command,
        .ready_path = c->server.ready_path,
        .startup_timeout_s = c->server.startup_timeout_s,
        .grace_s = c->server.grace_s,
        .log_dir = log_dir,
        .command = c->command.run,
    };
    /* int8 and int8-mixed measure one file (model_file) in two modes. */
    if (c->precision && strncmp(c->precision, "int8", 4) == 0) {
        bp.int8 = 1;
        bp.int8_threshold = strcmp(c->precision, "int8") == 0 ? 0.0f : (float)c->int8_threshold;
    }
    joule_sampling_default(&bp.sampling);
    bp.sampling.temperature = (float)c->decoding.temperature;
    bp.sampling.top_p = (float)c->decoding.top_p;
    bp.sampling.top_k = c->decoding.top_k;
    bp.sampling.min_p = (float)c->decoding.min_p;
    bp.sampling.repeat_penalty = (float)c->decoding.repetition_penalty;
    bp.sampling.seed = c->decoding.seed;
    if ((st = r.ops->open(&bp, path, &r.b, err, err_size)) != JOULE_OK)
        goto out;
    r.ops->info(r.b, &r.info);
    progress(&r, "tokenize", 0, 0, (int64_t)joule_dataset_count(ds), NULL);
    if ((st = load_prompts(&r, ds)) != JOULE_OK)
        goto out;
    r.sample_ids = joule_calloc(r.n_prompts, sizeof(char *));
    if (!r.sample_ids) {
        st = JOULE_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < r.n_prompts; i++)
        r.sample_ids[i] = joule_dataset_get(ds, i)->id;

    struct joule_meter_params mp = joule_meter_default_params();
    mp.sources = c->protocol.meter_sources;
    mp.interval_ms = (uint32_t)c->protocol.meter_interval_ms;
    mp.gpus = c->gpus;
    if ((st = joule_meter_open(&mp, &r.m)) != JOULE_OK) {
        joule_fmt(err, err_size, "meter: %s", r.m ? joule_meter_errmsg(r.m) : "out of memory");
        goto out;
    }
    env = joule_env_json(r.info.name, r.info.isa, r.info.n_threads);
    if (env && r.info.server_log[0])
        env_add_server_log(&env, r.info.server_log);
    meter_json = joule_env_meter_json(r.m);
    char name[256], label[64], order[64] = "";
    if (c->name && *c->name)
        joule_strlcpy(name, c->name, sizeof(name));
    else if (strcmp(r.info.name, "http") == 0 && c->http.rate > 0)
        joule_fmt(name, sizeof(name), "%s http %g req/s", r.info.model_name, c->http.rate);
    else if (strcmp(r.info.name, "http") == 0)
        joule_fmt(name, sizeof(name), "%s http c%d", r.info.model_name, c->http.concurrency);
    else if (strcmp(r.info.name, "command") == 0)
        joule_fmt(name, sizeof(name), "command");
    else
        joule_fmt(name, sizeof(name), "%s %s b%d", model_label(c->model, label, sizeof(label)),
                  r.info.precision, c->batch_size);
    for (int32_t i = 0; i < c->protocol.cycles; i++) {
        size_t len = strlen(order);
        joule_fmt(order + len, sizeof(order) - len, "%s%d", i ? "," : "", i);
    }
    struct joule_store_experiment e = {
        .name = name,
        .config_yaml = yaml,
        .config_hash = hash,
        .model_path = path,
        .model_name = r.info.model_name,
        .model_digest = digest,
        .precision = r.info.precision,
        .backend = r.info.name,
        .dataset = joule_dataset_source(ds),
        .batch_size = c->batch_size,
        .cycles_planned = c->protocol.cycles,
        .cycle_order = order,
        .environment_json = env ? env : "{}",
        .meter_json = meter_json ? meter_json : "[]",
    };
    unsigned char done[16] = {0};
    if ((st = open_experiment(&r, yaml, hash, &e, &id, done, sizeof(done))) != JOULE_OK)
        goto out;
    if (id_out)
        *id_out = id;
    int32_t position = 0;
    for (int32_t i = 0; i < c->protocol.cycles; i++)
        position += done[i] != 0;

    if (c->protocol.idle_s > 0 && !stopped(&r)) {
        progress(&r, "idle", 0, 0, 0, NULL);
        if ((st = joule_meter_idle(r.m, c->protocol.idle_s)) != JOULE_OK) {
            joule_fmt(err, err_size, "idle baseline: %s", joule_meter_errmsg(r.m));
            goto out;
        }
    }
    if (r.multi) {
        r.nodes = (struct joule_nodes){.s = s,
                                       .id = id,
                                       .n_nodes = o->nodes,
                                       .node = o->node ? o->node : "",
                                       .timeout_s = o->node_timeout_s > 0 ? o->node_timeout_s
                                                                          : 600,
                                       .stop = o->stop};
        progress(&r, "nodes", 0, 0, 0, NULL);
        if ((st = joule_nodes_lead_open(&r.nodes, o->join_key ? o->join_key : "", err,
                                        err_size)) != JOULE_OK ||
            (st = joule_nodes_wait_ready(&r.nodes, err, err_size)) != JOULE_OK)
            goto out;
    }
    if ((st = warmup(&r)) != JOULE_OK)
        goto out;
    int32_t first_cycle = -1, last_cycle = -1;
    for (int32_t cy = 0; cy < c->protocol.cycles && !stopped(&r); cy++) {
        if (done[cy])
            continue;
        if (first_cycle >= 0)
            cooldown(&r, cy + 1);
        if (stopped(&r))
            break;
        progress(&r, "cycle", cy + 1, 0, (int64_t)r.n_prompts, NULL);
        st = run_cycle(&r, id, cy, position++, exp_flags, sizeof(exp_flags));
        if (st != JOULE_OK)
            break;
        if (first_cycle < 0)
            first_cycle = cy;
        last_cycle = cy;
    }
    if (first_cycle >= 0 && last_cycle > first_cycle &&
        r.power_avg[last_cycle] > 1.1 * r.power_avg[first_cycle])
        flag_add(exp_flags, sizeof(exp_flags), "thermal-drift");
    if (r.n_cut)
        flag_add(exp_flags, sizeof(exp_flags), "inputs-cut");
    const char *status = JOULE_STATUS_COMPLETED;
    if (stopped(&r)) {
        status = JOULE_STATUS_INTERRUPTED;
        st = JOULE_OK;
        if (err && err_size)
            err[0] = '\0';
    } else if (st != JOULE_OK) {
        status = JOULE_STATUS_FAILED;
    }
    enum joule_status st2 = joule_store_experiment_status(s, id, status, exp_flags);
    if (st == JOULE_OK && st2 != JOULE_OK) {
        joule_fmt(err, err_size, "%s", joule_store_errmsg(s));
        st = st2;
    }
    progress(&r, "done", 0, 0, 0, status);
out:
    if (st != JOULE_OK && id && !stopped(&r)) {
        char keep[512];
        joule_strlcpy(keep, err ? err : "", sizeof(keep));
        joule_store_experiment_status(s, id, JOULE_STATUS_FAILED, exp_flags);
        joule_strlcpy(err, keep, err_size);
    }
    /* After the status: the other nodes read it when they see this. */
    if (r.multi && r.nodes.id)
        joule_nodes_lead_close(&r.nodes);
    for (size_t i = 0; i < r.n_prompts; i++)
        joule_backend_prompt_free(&r.prompts[i]);
    free(r.prompts);
    free(r.sample_ids);
    if (r.b)
        r.ops->close(r.b);
    joule_meter_close(r.m);
    joule_dataset_free(ds);
    joule_free(yaml);
    joule_free(env);
    joule_free(meter_json);
    return st;
}
