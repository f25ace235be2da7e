/*
 * meter.c - the meter: sources, the sampler thread, windows and readings.
 *
 * Every read of a domain goes through read_domain(), which keeps a per-domain
 * running state: an extended counter (wraps and resets folded in) for counter
 * domains, a trapezoid integral for power domains, and the latest power.
 * A window is a snapshot of that state at begin; end takes a fresh read and
 * turns the difference into energy with calc.c.  Windows therefore cost two
 * reads and no work per sampler tick beyond a peak update.
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "alloc.h"
#include "clock.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SOURCES 8
#define ESTIMATE_TOLERANCE 0.30 /* docs/methodology.md: the TDP model's stated error */
#define GAP_FACTOR 5.0          /* a sampler gap over 5 intervals is a meter gap */

struct domain_state {
    struct meter_domain_def def;
    struct meter_source *src;
    uint32_t local;            /* index within its source */
    double ext_j;              /* counter energy since open, wraps and resets folded in */
    double last_raw_j;
    bool have_raw;
    uint32_t resets;
    struct meter_trapezoid tz; /* power domains */
    double power_w;            /* latest instantaneous or derived power, NAN if none */
    double pw_ref_j;           /* counter and time at the last derived-power update */
    double pw_ref_t;
    uint32_t failures;         /* reads that failed */
    char fail_msg[128];
    double idle_w;             /* NAN until joule_meter_idle */
    double idle_sigma_w;
};

struct window_domain {
    double ext0_j;
    double tz_e0_j;
    double tz_s0_j;
    double p0_w;
    double peak_w;
    uint64_t n;
    uint32_t resets0;
    uint32_t failures0;
};

struct window {
    char name[JOULE_NAME_MAX];
    double t0;
    double last_tick;          /* for gap detection */
    double max_gap;
    struct window_domain d[JOULE_MAX_DOMAINS];
};

struct joule_meter {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_running;
    bool stop;

    struct meter_clock clock;
    double t_origin;

    struct joule_meter_params p;
    char sources_spec[512];
    char powercap_root[512];
    char nvml_lib[512];
    char hwmon_root[512];
    char proc_root[512];

    struct meter_source src[MAX_SOURCES];
    uint32_t n_src;
    struct meter_domain_def defs[JOULE_MAX_DOMAINS];
    struct domain_state dom[JOULE_MAX_DOMAINS];
    uint32_t n_dom;

    struct window *win;
    size_t n_win;
    size_t cap_win;

    double *tl;            /* ring: timeline_max rows of (t, power per domain) */
    uint64_t tl_next;      /* rows written ever */
    uint64_t tl_dropped;

    char err[512];
};

/* --------------------------------------------------------------------------
 * Small helpers
 */

static double real_now(void *ctx)
{
    (void)ctx;
    return (double)joule_clock_ns() * 1e-9;
}

static void real_sleep(void *ctx, double s)
{
    (void)ctx;
    joule_sleep_s(s);
}

static double now_s(struct joule_meter *m)
{
    return m->clock.now(m->clock.ctx) - m->t_origin;
}

static enum joule_status fail(struct joule_meter *m, enum joule_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum joule_status fail(struct joule_meter *m, enum joule_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(m->err, sizeof(m->err), fmt, ap);
    va_end(ap);
    return s;
}

static void resolve_path(char *dst, size_t size, const char *given, const char *env,
                         const char *fallback)
{
    const char *v = given;
    if (!v || !*v)
        v = getenv(env);
    if (!v || !*v)
        v = fallback;
    joule_strlcpy(dst, v, size);
}

/* --------------------------------------------------------------------------
 * Domain declaration (called by sources from open)
 */

void meter_domain_def_init(struct meter_domain_def *def, const char *name, const char *source,
                           enum joule_domain_kind kind, enum meter_mode mode)
{
    memset(def, 0, sizeof(*def));
    struct joule_domain_info *in = &def->info;
    joule_strlcpy(in->name, name, sizeof(in->name));
    joule_strlcpy(in->source, source, sizeof(in->source));
    in->kind = kind;
    in->provenance = mode == METER_MODE_COUNTER ? JOULE_PROV_MEASURED
                     : mode == METER_MODE_POWER ? JOULE_PROV_SAMPLED
                                                : JOULE_PROV_UNAVAILABLE;
    in->in_total = 1;
    in->index = -1;
    in->mig_mode = -1;
    in->power_w = in->power_limit_w = in->sm_clock_mhz = in->mem_clock_mhz = NAN;
    in->temperature_c = in->memory_used_mib = in->memory_total_mib = NAN;
    in->utilization_pct = in->counter_range_j = in->update_period_s = NAN;
    def->mode = mode;
    def->resolution_j = 0;
    def->range_j = 0;
    def->update_s = 0;
}

bool meter_add_domain(struct meter_open_ctx *ctx, const struct meter_domain_def *def)
{
    if (*ctx->n_defs >= JOULE_MAX_DOMAINS)
        return false;
    struct meter_domain_def *d = &ctx->defs[(*ctx->n_defs)++];
    *d = *def;
    if (d->mode == METER_MODE_NONE)
        d->info.provenance = JOULE_PROV_UNAVAILABLE;
    if (d->mode == METER_MODE_COUNTER) {
        if (d->range_j > 0)
            d->info.counter_range_j = d->range_j;
        d->info.update_period_s = d->update_s;
    }
    return true;
}

bool meter_add_unavailable(struct meter_open_ctx *ctx, const char *name, const char *source,
                           enum joule_domain_kind kind, int in_total, const char *fmt, ...)
{
    struct meter_domain_def def;
    meter_domain_def_init(&def, name, source, kind, METER_MODE_NONE);
    def.info.in_total = in_total;
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(def.info.note, sizeof(def.info.note), fmt, ap);
    va_end(ap);
    return meter_add_domain(ctx, &def);
}

/* --------------------------------------------------------------------------
 * Reading one domain
 */

/* Read domain i at meter time t and fold the sample into its state.
 * Returns false when the read failed (state unchanged).  Lock held. */
static bool read_domain(struct joule_meter *m, uint32_t i, double t)
{
    struct domain_state *d = &m->dom[i];
    if (d->def.mode == METER_MODE_NONE)
        return false;
    struct meter_sample s = {0};
    enum joule_status st = d->src->ops->read(d->src, d->local, t, &s);
    if (st != JOULE_OK || (d->def.mode == METER_MODE_COUNTER && !s.has_counter) ||
        (d->def.mode == METER_MODE_POWER && !s.has_power)) {
        d->failures++;
        joule_fmt(d->fail_msg, sizeof(d->fail_msg), "read failed (%s)",
                  s.error ? s.error : joule_status_str(st == JOULE_OK ? JOULE_ERR_IO : st));
        return false;
    }
    if (d->def.mode == METER_MODE_COUNTER) {
        if (d->have_raw) {
            bool reset = false;
            d->ext_j += meter_counter_delta(d->last_raw_j, s.counter_j, d->def.range_j, &reset);
            if (reset)
                d->resets++;
        } else {
            d->pw_ref_j = 0;
            d->pw_ref_t = t;
        }
        d->last_raw_j = s.counter_j;
        d->have_raw = true;
        /* Power from the counter only over spans of at least ten update
         * periods (and 10 ms): a counter that moves in steps of U reads 0 W
         * over shorter spans, and +-1 step is then at most 10%. */
        double span = t - d->pw_ref_t;
        double min_span = fmax(10.0 * d->def.update_s, 0.01);
        if (s.has_power) {
            d->power_w = s.power_w;
        } else if (span >= min_span) {
            d->power_w = (d->ext_j - d->pw_ref_j) / span;
        }
        if (span >= min_span) {
            d->pw_ref_j = d->ext_j;
            d->pw_ref_t = t;
        }
    } else {
        meter_trapezoid_add(&d->tz, t, s.power_w);
        d->power_w = s.power_w;
    }
    return true;
}

static void read_all(struct joule_meter *m, double t)
{
    for (uint32_t i = 0; i < m->n_dom; i++)
        read_domain(m, i, t);
}

/* --------------------------------------------------------------------------
 * Sampler
 */

static void timeline_append(struct joule_meter *m, double t)
{
    if (!m->tl || m->p.timeline_max == 0)
        return;
    size_t row_len = 1 + m->n_dom;
    uint64_t slot = m->tl_next % m->p.timeline_max;
    double *row = m->tl + slot * row_len;
    row[0] = t;
    for (uint32_t i = 0; i < m->n_dom; i++)
        row[1 + i] = m->dom[i].def.mode == METER_MODE_NONE ? NAN : m->dom[i].power_w;
    if (m->tl_next >= m->p.timeline_max)
        m->tl_dropped++;
    m->tl_next++;
}

/* One tick: read everything, extend peaks of open windows.  Lock held. */
static void tick_locked(struct joule_meter *m)
{
    double t = now_s(m);
    read_all(m, t);
    for (size_t w = 0; w < m->n_win; w++) {
        struct window *win = &m->win[w];
        double gap = t - win->last_tick;
        if (gap > win->max_gap)
            win->max_gap = gap;
        win->last_tick = t;
        for (uint32_t i = 0; i < m->n_dom; i++) {
            double p = m->dom[i].power_w;
            if (isfinite(p) && !(p <= win->d[i].peak_w))
                win->d[i].peak_w = p;
            win->d[i].n++;
        }
    }
    timeline_append(m, t);
}

void meter_tick(struct joule_meter *m)
{
    pthread_mutex_lock(&m->lock);
    tick_locked(m);
    pthread_mutex_unlock(&m->lock);
}

static void *sampler_main(void *arg)
{
    struct joule_meter *m = arg;
    uint64_t interval_ns = (uint64_t)m->p.interval_ms * 1000000u;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        tick_locked(m);
        uint64_t ns = (uint64_t)next.tv_nsec + interval_ns;
        next.tv_sec += (time_t)(ns / 1000000000u);
        next.tv_nsec = (long)(ns % 1000000000u);
        /* If we fell behind (a slow read), restart the schedule from now
         * rather than firing a burst of catch-up ticks. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
            next = now;
        while (!m->stop) {
            int rc = pthread_cond_timedwait(&m->wake, &m->lock, &next);
            if (rc == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* --------------------------------------------------------------------------
 * Open and close
 */

struct joule_meter_params joule_meter_default_params(void)
{
    struct joule_meter_params p;
    memset(&p, 0, sizeof(p));
    p.sources = "auto";
    p.interval_ms = 100;
    p.cpu_tdp_w = 0;
    p.timeline_max = 36000;
    return p;
}

static const struct meter_source_ops *source_by_name(const char *name, size_t len)
{
    static const struct meter_source_ops *const all[] = {
        &joule_meter_nvml_ops, &joule_meter_rapl_ops, &joule_meter_hwmon_ops,
        &joule_meter_estimate_ops, &joule_meter_fake_ops,
    };
    for (size_t i = 0; i < JOULE_ARRAY_LEN(all); i++)
        if (strlen(all[i]->name) == len && memcmp(all[i]->name, name, len) == 0)
            return all[i];
    return NULL;
}

static enum joule_status open_source(struct joule_meter *m, const struct meter_source_ops *ops,
                                     const char *arg)
{
    if (m->n_src >= MAX_SOURCES)
        return fail(m, JOULE_ERR_INVALID, "too many sources (at most %d)", MAX_SOURCES);
    struct meter_source *src = &m->src[m->n_src];
    memset(src, 0, sizeof(*src));
    src->ops = ops;
    src->first_domain = m->n_dom;
    char err[384] = "";
    struct meter_open_ctx ctx = {&m->p, arg, m->defs, &m->n_dom, err, sizeof(err)};
    enum joule_status s = ops->open(src, &ctx);
    if (s != JOULE_OK) {
        if (ops->close)
            ops->close(src);
        m->n_dom = src->first_domain;
        return fail(m, s, "%s: %s", ops->name, err[0] ? err : joule_status_str(s));
    }
    src->n_domains = m->n_dom - src->first_domain;
    m->n_src++;
    return JOULE_OK;
}

/* Is any CPU package (or whole-CPU) domain readable? */
static bool have_cpu_counter(const struct joule_meter *m)
{
    for (uint32_t i = 0; i < m->n_dom; i++) {
        const struct meter_domain_def *d = &m->defs[i];
        if ((d->info.kind == JOULE_DOMAIN_PACKAGE || d->info.kind == JOULE_DOMAIN_CPU) &&
            d->mode != METER_MODE_NONE)
            return true;
    }
    return false;
}

static enum joule_status open_sources(struct joule_meter *m)
{
    const char *spec = m->sources_spec;
    if (strcmp(spec, "auto") == 0) {
        enum joule_status s;
        if ((s = open_source(m, &joule_meter_nvml_ops, NULL)) != JOULE_OK ||
            (s = open_source(m, &joule_meter_rapl_ops, NULL)) != JOULE_OK ||
            (s = open_source(m, &joule_meter_hwmon_ops, NULL)) != JOULE_OK)
            return s;
        if (!have_cpu_counter(m)) {
            /* No CPU counter: estimate, and say the counters it replaces are
             * not a gap in the total. */
            uint32_t before = m->n_dom;
            if ((s = open_source(m, &joule_meter_estimate_ops, NULL)) != JOULE_OK)
                return s;
            for (uint32_t i = 0; i < before; i++) {
                struct joule_domain_info *in = &m->defs[i].info;
                if (strcmp(in->source, "rapl") == 0 && in->in_total) {
                    in->in_total = 0;
                    size_t len = strlen(in->note);
                    joule_fmt(in->note + len, sizeof(in->note) - len,
                              "; CPU energy is estimated instead (domain cpu)");
                }
            }
        }
        return JOULE_OK;
    }
    /* An explicit comma list. */
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        size_t name_len = colon ? (size_t)(colon - p) : len;
        const struct meter_source_ops *ops = source_by_name(p, name_len);
        if (!ops || name_len == 0)
            return fail(m, JOULE_ERR_INVALID,
                        "unknown energy source '%.*s' (expected auto, nvml, rapl, hwmon, "
                        "estimate or fake:FILE)",
                        (int)len, p);
        char arg[512] = "";
        if (colon) {
            size_t alen = len - name_len - 1;
            if (alen >= sizeof(arg))
                return fail(m, JOULE_ERR_INVALID, "source argument too long");
            memcpy(arg, colon + 1, alen);
            arg[alen] = '\0';
        }
        if (ops == &joule_meter_fake_ops && !colon)
            return fail(m, JOULE_ERR_INVALID, "the fake source needs a script: fake:FILE");
        enum joule_status s = open_source(m, ops, colon ? arg : NULL);
        if (s != JOULE_OK)
            return s;
        p += len;
        if (*p == ',')
            p++;
    }
    if (m->n_src == 0)
        return fail(m, JOULE_ERR_INVALID, "no energy source named");
    return JOULE_OK;
}

static enum joule_status check_names(struct joule_meter *m)
{
    for (uint32_t i = 0; i < m->n_dom; i++)
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(m->defs[i].info.name, m->defs[j].info.name) == 0)
                return fail(m, JOULE_ERR_INVALID, "two energy domains are named '%s'",
                            m->defs[i].info.name);
    return JOULE_OK;
}

static enum joule_status meter_init(struct joule_meter *m, const struct joule_meter_params *p)
{
    m->p = p ? *p : joule_meter_default_params();
    joule_strlcpy(m->sources_spec, m->p.sources && *m->p.sources ? m->p.sources : "auto",
                  sizeof(m->sources_spec));
    resolve_path(m->powercap_root, sizeof(m->powercap_root), m->p.powercap_root,
                 "JOULE_POWERCAP_ROOT", "/sys/class/powercap");
    resolve_path(m->nvml_lib, sizeof(m->nvml_lib), m->p.nvml_lib, "JOULE_NVML_LIB",
                 "libnvidia-ml.so.1");
    resolve_path(m->hwmon_root, sizeof(m->hwmon_root), m->p.hwmon_root, "JOULE_HWMON_ROOT",
                 "/sys/class/hwmon");
    resolve_path(m->proc_root, sizeof(m->proc_root), m->p.proc_root, "JOULE_PROC_ROOT", "/proc");
    m->p.sources = m->sources_spec;
    m->p.powercap_root = m->powercap_root;
    m->p.nvml_lib = m->nvml_lib;
    m->p.hwmon_root = m->hwmon_root;
    m->p.proc_root = m->proc_root;
    if (m->p.interval_ms > 60000)
        return fail(m, JOULE_ERR_INVALID, "sampler interval %u ms is above 60000 ms",
                    m->p.interval_ms);
    if (!(m->p.cpu_tdp_w >= 0) || m->p.cpu_tdp_w > 10000)
        return fail(m, JOULE_ERR_INVALID, "CPU TDP %g W is not in 0..10000", m->p.cpu_tdp_w);

    enum joule_status s = open_sources(m);
    if (s == JOULE_OK)
        s = check_names(m);
    if (s != JOULE_OK)
        return s;

    for (uint32_t k = 0; k < m->n_src; k++) {
        struct meter_source *src = &m->src[k];
        for (uint32_t j = 0; j < src->n_domains; j++) {
            struct domain_state *d = &m->dom[src->first_domain + j];
            d->def = m->defs[src->first_domain + j];
            d->src = src;
            d->local = j;
            d->power_w = NAN;
            d->idle_w = NAN;
            d->idle_sigma_w = NAN;
        }
    }
    if (m->p.timeline_max > 0 && m->n_dom > 0) {
        size_t rows = m->p.timeline_max;
        size_t cells;
        if (!joule_mul_size(rows, 1 + (size_t)m->n_dom, &cells))
            return fail(m, JOULE_ERR_INVALID, "timeline of %u samples is too large", m->p.timeline_max);
        m->tl = joule_calloc(cells, sizeof(double));
        if (!m->tl)
            return fail(m, JOULE_ERR_NOMEM, "no memory for a timeline of %u samples",
                        m->p.timeline_max);
    }
    /* First read: counters get their reference, power its first sample. */
    pthread_mutex_lock(&m->lock);
    tick_locked(m);
    pthread_mutex_unlock(&m->lock);

    if (m->p.interval_ms > 0) {
        if (pthread_create(&m->thread, NULL, sampler_main, m) != 0)
            return fail(m, JOULE_ERR_THREAD, "cannot start the sampler thread: %s",
                        strerror(errno));
        m->thread_running = true;
    }
    return JOULE_OK;
}

enum joule_status meter_open_with_clock(const struct joule_meter_params *p,
                                        const struct meter_clock *clock, struct joule_meter **out)
{
    *out = NULL;
    struct joule_meter *m = calloc(1, sizeof(*m));
    if (!m)
        return JOULE_ERR_NOMEM;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (clock) {
        m->clock = *clock;
    } else {
        m->clock.now = real_now;
        m->clock.sleep = real_sleep;
    }
    m->t_origin = m->clock.now(m->clock.ctx);
    *out = m;
    return meter_init(m, p);
}

enum joule_status joule_meter_open(const struct joule_meter_params *p, struct joule_meter **out)
{
    if (!out)
        return JOULE_ERR_INVALID;
    return meter_open_with_clock(p, NULL, out);
}

void joule_meter_close(struct joule_meter *m)
{
    if (!m)
        return;
    if (m->thread_running) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    for (uint32_t k = 0; k < m->n_src; k++)
        if (m->src[k].ops->close)
            m->src[k].ops->close(&m->src[k]);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m->win);
    free(m->tl);
    free(m);
}

const char *joule_meter_errmsg(const struct joule_meter *m)
{
    return m ? m->err : "no meter";
}

uint32_t joule_meter_domain_count(const struct joule_meter *m)
{
    return m ? m->n_dom : 0;
}

enum joule_status joule_meter_domain_info(struct joule_meter *m, uint32_t i,
                                          struct joule_domain_info *out)
{
    if (!m || !out)
        return JOULE_ERR_INVALID;
    pthread_mutex_lock(&m->lock);
    if (i >= m->n_dom) {
        pthread_mutex_unlock(&m->lock);
        return fail(m, JOULE_ERR_NOT_FOUND, "no domain %u (the meter has %u)", i, m->n_dom);
    }
    struct domain_state *d = &m->dom[i];
    *out = d->def.info;
    if (d->src->ops->describe)
        d->src->ops->describe(d->src, d->local, out);
    if (!isfinite(out->power_w))
        out->power_w = d->power_w;
    pthread_mutex_unlock(&m->lock);
    return JOULE_OK;
}

/* --------------------------------------------------------------------------
 * Windows
 */

static struct window *find_window(struct joule_meter *m, const char *name, size_t *idx)
{
    for (size_t w = 0; w < m->n_win; w++) {
        if (strcmp(m->win[w].name, name) == 0) {
            if (idx)
                *idx = w;
            return &m->win[w];
        }
    }
    return NULL;
}

/* Snapshot every domain into win at time t.  Lock held. */
static void window_start(struct joule_meter *m, struct window *win, double t)
{
    read_all(m, t);
    win->t0 = t;
    win->last_tick = t;
    win->max_gap = 0;
    for (uint32_t i = 0; i < m->n_dom; i++) {
        struct domain_state *d = &m->dom[i];
        struct window_domain *wd = &win->d[i];
        wd->ext0_j = d->ext_j;
        wd->tz_e0_j = d->tz.energy_j;
        wd->tz_s0_j = d->tz.spread_j;
        wd->p0_w = d->power_w;
        wd->peak_w = isfinite(d->power_w) ? d->power_w : 0.0;
        wd->n = 0;
        wd->resets0 = d->resets;
        wd->failures0 = d->failures;
    }
}

static void append_note(char *note, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append_note(char *note, size_t size, const char *fmt, ...)
{
    size_t len = strlen(note);
    if (len + 3 >= size)
        return;
    if (len > 0) {
        note[len++] = ';';
        note[len++] = ' ';
        note[len] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(note + len, size - len, fmt, ap);
    va_end(ap);
}

/* Energy of one domain over the window ending at t1.  Lock held; the end
 * read was just attempted and `ok` says whether it worked. */
static void domain_result(struct joule_meter *m, uint32_t i, const struct window *win, double t1,
                          bool ok, struct joule_domain_reading *r)
{
    struct domain_state *d = &m->dom[i];
    const struct window_domain *wd = &win->d[i];
    const struct joule_domain_info *in = &d->def.info;
    double T = t1 - win->t0;

    memset(r, 0, sizeof(*r));
    joule_strlcpy(r->name, in->name, sizeof(r->name));
    joule_strlcpy(r->source, in->source, sizeof(r->source));
    joule_strlcpy(r->note, in->note, sizeof(r->note));
    r->kind = in->kind;
    r->provenance = in->provenance;
    r->in_total = in->in_total;
    r->energy_j = r->bound_j = r->net_energy_j = r->net_bound_j = NAN;
    r->idle_power_w = d->idle_w;
    r->avg_power_w = r->peak_power_w = NAN;
    r->interval_s = NAN;
    r->n_samples = wd->n;

    if (d->def.mode == METER_MODE_NONE)
        return;
    if (!ok) {
        r->provenance = JOULE_PROV_UNAVAILABLE;
        append_note(r->note, sizeof(r->note), "%s at the window's end", d->fail_msg);
        return;
    }
    double peak = wd->peak_w;
    if (isfinite(d->power_w) && d->power_w > peak)
        peak = d->power_w;

    double e, bound;
    if (d->def.mode == METER_MODE_COUNTER) {
        e = d->ext_j - wd->ext0_j;
        r->interval_s = d->def.update_s;
        double U = d->def.update_s;
        if (U > 0 && T < 2.0 * U && in->provenance == JOULE_PROV_MEASURED) {
            /* The counter may not have moved: P x T from the edge powers. */
            double p0 = isfinite(wd->p0_w) ? wd->p0_w : d->power_w;
            double p1 = isfinite(d->power_w) ? d->power_w : p0;
            if (isfinite(p0) && isfinite(p1)) {
                e = meter_short_window(p0, p1, T, peak, U, &bound);
                r->flags |= JOULE_FLAG_SHORT_WINDOW;
                append_note(r->note, sizeof(r->note),
                            "window %.3g s is shorter than two counter updates (%.3g s): "
                            "energy = edge power x duration",
                            T, 2 * U);
            } else {
                bound = fmax(e, 0) + meter_counter_bound(d->def.resolution_j, peak, U);
                r->flags |= JOULE_FLAG_SHORT_WINDOW;
                append_note(r->note, sizeof(r->note),
                            "window shorter than two counter updates and no power known");
            }
        } else if (in->provenance == JOULE_PROV_ESTIMATED) {
            bound = ESTIMATE_TOLERANCE * fabs(e);
        } else {
            bound = meter_counter_bound(d->def.resolution_j, peak, U);
        }
        if (d->resets != wd->resets0) {
            r->flags |= JOULE_FLAG_COUNTER_RESET;
            append_note(r->note, sizeof(r->note),
                        "the counter was reset during the window: energy before the reset "
                        "since the last read is lost");
        }
    } else {
        e = d->tz.energy_j - wd->tz_e0_j;
        double dt = m->p.interval_ms > 0 ? m->p.interval_ms / 1000.0 : T;
        r->interval_s = dt;
        bound = meter_sampled_bound(d->tz.spread_j - wd->tz_s0_j, peak, dt);
        if (dt > T / 10) {
            r->flags |= JOULE_FLAG_COARSE;
            append_note(r->note, sizeof(r->note),
                        "sampled every %.3g s, more than a tenth of the %.3g s window", dt, T);
        }
    }
    if (d->failures != wd->failures0) {
        r->flags |= JOULE_FLAG_METER_GAP;
        append_note(r->note, sizeof(r->note), "%u reads failed in the window",
                    d->failures - wd->failures0);
    }
    if (m->p.interval_ms > 0 && win->max_gap > GAP_FACTOR * m->p.interval_ms / 1000.0) {
        r->flags |= JOULE_FLAG_METER_GAP;
        append_note(r->note, sizeof(r->note), "sampler gap of %.3g s", win->max_gap);
    }
    r->energy_j = e;
    r->bound_j = bound;
    r->avg_power_w = T > 0 ? e / T : NAN;
    r->peak_power_w = fmax(peak, isfinite(r->avg_power_w) ? r->avg_power_w : 0);
    if (isfinite(d->idle_w)) {
        r->net_energy_j = e - d->idle_w * T;
        r->net_bound_j = bound + T * (isfinite(d->idle_sigma_w) ? d->idle_sigma_w : 0);
        if (r->net_energy_j < 0)
            r->flags |= JOULE_FLAG_NEGATIVE_NET;
    }
}

static void reading_totals(struct joule_reading *r)
{
    double e = 0, b = 0, ne = 0, nb = 0;
    bool any = false, all_net = true, mixed = false;
    int weakest = JOULE_PROV_MEASURED, first = -1;
    bool measured_any = false;
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        r->flags |= d->flags;
        if (!d->in_total)
            continue;
        if (d->provenance == JOULE_PROV_UNAVAILABLE) {
            r->flags |= JOULE_FLAG_PARTIAL;
            continue;
        }
        any = true;
        e += d->energy_j;
        b += d->bound_j;
        if (isfinite(d->net_energy_j)) {
            ne += d->net_energy_j;
            nb += d->net_bound_j;
        } else {
            all_net = false;
        }
        if (first < 0)
            first = (int)d->provenance;
        else if ((int)d->provenance != first)
            mixed = true;
        if ((int)d->provenance > weakest)
            weakest = (int)d->provenance;
        if (d->provenance != JOULE_PROV_ESTIMATED)
            measured_any = true;
    }
    r->total_energy_j = any ? e : NAN;
    r->total_bound_j = any ? b : NAN;
    r->total_net_energy_j = any && all_net ? ne : NAN;
    r->total_net_bound_j = any && all_net ? nb : NAN;
    r->total_provenance = any ? (enum joule_provenance)weakest : JOULE_PROV_UNAVAILABLE;
    if (mixed)
        r->flags |= JOULE_FLAG_MIXED;
    if (any && !measured_any)
        r->flags |= JOULE_FLAG_ESTIMATED_ONLY;
    /* The negative-net flag of a domain inside another is not the total's;
     * recompute it from the total. */
    r->flags &= ~(uint32_t)JOULE_FLAG_NEGATIVE_NET;
    for (uint32_t i = 0; i < r->n_domains; i++)
        if (r->domains[i].in_total && (r->domains[i].flags & JOULE_FLAG_NEGATIVE_NET))
            r->flags |= JOULE_FLAG_NEGATIVE_NET;
}

/* Close win at time t (end read included) into out.  Lock held. */
static void window_finish(struct joule_meter *m, struct window *win, double t,
                          struct joule_reading *out)
{
    memset(out, 0, sizeof(*out));
    joule_strlcpy(out->name, win->name, sizeof(out->name));
    out->t_begin_s = win->t0;
    out->duration_s = t - win->t0;
    out->n_domains = m->n_dom;
    for (uint32_t i = 0; i < m->n_dom; i++) {
        bool ok = read_domain(m, i, t);
        domain_result(m, i, win, t, ok, &out->domains[i]);
    }
    reading_totals(out);
}

static enum joule_status check_name(struct joule_meter *m, const char *name)
{
    if (!name || !*name)
        return fail(m, JOULE_ERR_INVALID, "a window needs a name");
    if (strlen(name) >= JOULE_NAME_MAX)
        return fail(m, JOULE_ERR_INVALID, "window name longer than %d bytes", JOULE_NAME_MAX - 1);
    return JOULE_OK;
}

enum joule_status joule_meter_begin(struct joule_meter *m, const char *name)
{
    if (!m)
        return JOULE_ERR_INVALID;
    pthread_mutex_lock(&m->lock);
    enum joule_status s = check_name(m, name);
    if (s == JOULE_OK && find_window(m, name, NULL))
        s = fail(m, JOULE_ERR_STATE, "window '%s' is already open", name);
    if (s == JOULE_OK && m->n_win == m->cap_win) {
        size_t cap = m->cap_win ? m->cap_win * 2 : 4;
        struct window *nw = joule_realloc_array(m->win, cap, sizeof(*nw));
        if (!nw)
            s = fail(m, JOULE_ERR_NOMEM, "no memory for window '%s'", name);
        else {
            m->win = nw;
            m->cap_win = cap;
        }
    }
    if (s == JOULE_OK) {
        struct window *win = &m->win[m->n_win++];
        memset(win, 0, sizeof(*win));
        joule_strlcpy(win->name, name, sizeof(win->name));
        window_start(m, win, now_s(m));
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

enum joule_status joule_meter_end(struct joule_meter *m, const char *name,
                                  struct joule_reading *out)
{
    if (!m || !out)
        return JOULE_ERR_INVALID;
    pthread_mutex_lock(&m->lock);
    size_t idx = 0;
    enum joule_status s = check_name(m, name);
    struct window *win = s == JOULE_OK ? find_window(m, name, &idx) : NULL;
    if (s == JOULE_OK && !win)
        s = fail(m, JOULE_ERR_NOT_FOUND, "no open window named '%s'", name);
    if (s == JOULE_OK) {
        window_finish(m, win, now_s(m), out);
        m->win[idx] = m->win[--m->n_win];
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* --------------------------------------------------------------------------
 * Idle baseline
 */

enum joule_status joule_meter_idle(struct joule_meter *m, double seconds)
{
    if (!m)
        return JOULE_ERR_INVALID;
    if (!(seconds >= 0.1) || seconds > 3600)
        return fail(m, JOULE_ERR_INVALID, "idle duration %g s is not in 0.1..3600 s", seconds);
    /* Sub-windows of about one second give the spread of idle power. */
    size_t k = (size_t)ceil(seconds - 1e-9);
    if (k < 1)
        k = 1;
    double sub = seconds / (double)k;
    double *pw = joule_calloc(k * JOULE_MAX_DOMAINS, sizeof(double)); /* [k][domain] */
    double *col = joule_calloc(k, sizeof(double));
    struct window *win = calloc(1, sizeof(*win));
    struct joule_reading *r = malloc(sizeof(*r));
    if (!pw || !col || !win || !r) {
        free(pw);
        free(col);
        free(win);
        free(r);
        return fail(m, JOULE_ERR_NOMEM, "no memory for the idle baseline");
    }
    double e_sum[JOULE_MAX_DOMAINS] = {0};
    bool ok[JOULE_MAX_DOMAINS];
    for (uint32_t i = 0; i < JOULE_MAX_DOMAINS; i++)
        ok[i] = true;
    double t_total = 0;
    for (size_t j = 0; j < k; j++) {
        pthread_mutex_lock(&m->lock);
        joule_strlcpy(win->name, "idle", sizeof(win->name));
        window_start(m, win, now_s(m));
        pthread_mutex_unlock(&m->lock);
        m->clock.sleep(m->clock.ctx, sub);
        pthread_mutex_lock(&m->lock);
        window_finish(m, win, now_s(m), r);
        pthread_mutex_unlock(&m->lock);
        t_total += r->duration_s;
        for (uint32_t i = 0; i < r->n_domains; i++) {
            const struct joule_domain_reading *d = &r->domains[i];
            if (d->provenance == JOULE_PROV_UNAVAILABLE || !(r->duration_s > 0)) {
                ok[i] = false;
                continue;
            }
            e_sum[i] += d->energy_j;
            pw[j * JOULE_MAX_DOMAINS + i] = d->energy_j / r->duration_s;
        }
    }
    pthread_mutex_lock(&m->lock);
    for (uint32_t i = 0; i < m->n_dom; i++) {
        if (!ok[i] || m->dom[i].def.mode == METER_MODE_NONE || !(t_total > 0))
            continue;
        for (size_t j = 0; j < k; j++)
            col[j] = pw[j * JOULE_MAX_DOMAINS + i];
        double mean, sd;
        meter_mean_std(col, k, &mean, &sd);
        m->dom[i].idle_w = e_sum[i] / t_total;
        m->dom[i].idle_sigma_w = sd;
    }
    pthread_mutex_unlock(&m->lock);
    free(pw);
    free(col);
    free(win);
    free(r);
    return JOULE_OK;
}

/* --------------------------------------------------------------------------
 * Timeline
 */

uint64_t joule_meter_timeline_count(const struct joule_meter *m, uint64_t *dropped)
{
    if (!m)
        return 0;
    struct joule_meter *mm = (struct joule_meter *)m; /* the lock is not state */
    pthread_mutex_lock(&mm->lock);
    uint64_t n = m->tl_next < m->p.timeline_max ? m->tl_next : m->p.timeline_max;
    if (dropped)
        *dropped = m->tl_dropped;
    pthread_mutex_unlock(&mm->lock);
    return n;
}

struct timeline_copy {
    double *rows;
    uint64_t n;
    uint32_t n_dom;
    char names[JOULE_MAX_DOMAINS][JOULE_NAME_MAX];
};

static enum joule_status write_timeline_csv(FILE *f, void *ctx)
{
    const struct timeline_copy *c = ctx;
    fputs("t_s", f);
    for (uint32_t i = 0; i < c->n_dom; i++)
        fprintf(f, ",%s_w", c->names[i]);
    fputc('\n', f);
    for (uint64_t r = 0; r < c->n; r++) {
        const double *row = c->rows + r * (1 + c->n_dom);
        fprintf(f, "%.6f", row[0]);
        for (uint32_t i = 0; i < c->n_dom; i++) {
            if (isfinite(row[1 + i]))
                fprintf(f, ",%.4f", row[1 + i]);
            else
                fputs(",", f);
        }
        fputc('\n', f);
    }
    return ferror(f) ? JOULE_ERR_IO : JOULE_OK;
}

/* Copies the held rows with t >= t_from into c->rows (oldest first) under the
 * lock, so the sampler never waits on the caller's disk or arithmetic.
 * Returns the rows there were to copy (c->n is 0 when the allocation
 * failed). */
static uint64_t timeline_copy_from(struct joule_meter *m, double t_from,
                                   struct timeline_copy *c)
{
    pthread_mutex_lock(&m->lock);
    uint64_t cap = m->p.timeline_max;
    uint64_t held = m->tl_next < cap ? m->tl_next : cap;
    size_t row_len = 1 + m->n_dom;
    uint64_t start = m->tl_next - held; /* oldest row still held */
    uint64_t skip = 0;
    while (skip < held && m->tl[((start + skip) % cap) * row_len] < t_from)
        skip++;
    uint64_t n = held - skip;
    c->n_dom = m->n_dom;
    for (uint32_t i = 0; i < m->n_dom; i++)
        joule_strlcpy(c->names[i], m->dom[i].def.info.name, JOULE_NAME_MAX);
    c->rows = n ? joule_calloc((size_t)n * row_len, sizeof(double)) : NULL;
    if (n && c->rows)
        for (uint64_t r = 0; r < n; r++)
            memcpy(c->rows + r * row_len, m->tl + ((start + skip + r) % cap) * row_len,
                   row_len * sizeof(double));
    c->n = c->rows ? n : 0;
    pthread_mutex_unlock(&m->lock);
    return n;
}

enum joule_status joule_meter_timeline_copy(struct joule_meter *m, double t_from, double **rows,
                                            uint64_t *n_rows, uint32_t *n_domains)
{
    if (!m || !rows || !n_rows || !n_domains)
        return JOULE_ERR_INVALID;
    struct timeline_copy c = {0};
    uint64_t n = timeline_copy_from(m, t_from, &c);
    *rows = c.rows;
    *n_rows = c.n;
    *n_domains = c.n_dom;
    if (n && !c.rows)
        return fail(m, JOULE_ERR_NOMEM, "no memory to copy the timeline");
    return JOULE_OK;
}

enum joule_status joule_meter_write_timeline(struct joule_meter *m, const char *path)
{
    if (!m || !path)
        return JOULE_ERR_INVALID;
    struct timeline_copy *c = calloc(1, sizeof(*c));
    if (!c)
        return fail(m, JOULE_ERR_NOMEM, "no memory to copy the timeline");
    uint64_t n = timeline_copy_from(m, -INFINITY, c);
    enum joule_status s;
    if (n && !c->rows) {
        s = fail(m, JOULE_ERR_NOMEM, "no memory to copy the timeline");
    } else {
        char err[400];
        s = joule_write_atomic(path, write_timeline_csv, c, err, sizeof(err));
        if (s != JOULE_OK)
            fail(m, s, "%s", err);
    }
    free(c->rows);
    free(c);
    return s;
}
