/*
 * meter_int.h - private to src/meter: the source interface, the pure
 * arithmetic of docs/methodology.md, and test hooks.
 *
 * A source (nvml, rapl, hwmon, estimate, fake) declares domains when it is
 * opened and later reads one domain at a time.  It never computes energy of a
 * window: that arithmetic lives once, in calc.c, used by meter.c.
 */
#ifndef JOULE_METER_INT_H
#define JOULE_METER_INT_H

#include "joule.h"
#include "meter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a domain's energy is obtained. */
enum meter_mode {
    METER_MODE_NONE = 0,    /* unavailable: no reading at all */
    METER_MODE_COUNTER = 1, /* cumulative energy counter (measured or estimated) */
    METER_MODE_POWER = 2,   /* instantaneous power only: integrate samples */
};

/* A domain as declared by its source at open. */
struct meter_domain_def {
    struct joule_domain_info info; /* name, source, note, kind, provenance, ... */
    enum meter_mode mode;
    double resolution_j;           /* smallest counter step (COUNTER) */
    double range_j;                /* counter wraps at this value; 0 = never wraps */
    double update_s;               /* counter update period U (COUNTER) */
};

/* One read of one domain. */
struct meter_sample {
    double counter_j; /* raw counter in joules (COUNTER), may wrap at range_j */
    double power_w;   /* instantaneous power when has_power */
    bool has_counter;
    bool has_power;
    const char *error; /* on a failed read: why (static or source-owned text) */
};

struct meter_source;

/* Everything a source needs to open: resolved parameters and a place to
 * declare its domains. */
struct meter_open_ctx {
    const struct joule_meter_params *p; /* roots and paths resolved, never NULL */
    const char *arg;                    /* text after "fake:", else NULL */
    struct meter_domain_def *defs;      /* the meter's table */
    uint32_t *n_defs;
    char *err;                          /* message for a failing open */
    size_t err_size;
};

struct meter_source_ops {
    const char *name;
    /* Declare domains with meter_add_domain().  Missing or unreadable hardware
     * is not a failure: declare an unavailable domain with the reason.  Fail
     * only for bad arguments (JOULE_ERR_INVALID/FORMAT, with ctx->err) or
     * memory. */
    enum joule_status (*open)(struct meter_source *src, struct meter_open_ctx *ctx);
    /* Read domain d (index within this source) at meter time t_s.  May be
     * called from the sampler thread and from callers, never concurrently
     * (the meter holds its lock). */
    enum joule_status (*read)(struct meter_source *src, uint32_t d, double t_s,
                              struct meter_sample *out);
    /* Optional: refresh slow facts (clocks, temperature) into info. */
    void (*describe)(struct meter_source *src, uint32_t d, struct joule_domain_info *info);
    void (*close)(struct meter_source *src);
};

struct meter_source {
    const struct meter_source_ops *ops;
    void *state;           /* owned by the source; freed by ops->close */
    uint32_t first_domain; /* its domains in the meter's table */
    uint32_t n_domains;
};

extern const struct meter_source_ops joule_meter_rapl_ops;
extern const struct meter_source_ops joule_meter_nvml_ops;
extern const struct meter_source_ops joule_meter_hwmon_ops;
extern const struct meter_source_ops joule_meter_estimate_ops;
extern const struct meter_source_ops joule_meter_fake_ops;

/* Append a domain to ctx's table.  For a counter it copies range_j (when
 * > 0) and update_s into the info; for METER_MODE_NONE it sets the
 * provenance to unavailable.  Returns false when the table is full
 * (JOULE_MAX_DOMAINS): the source must then fail its open with
 * JOULE_ERR_INVALID and say so, never drop a domain silently (a dropped
 * domain would undercount the total). */
bool meter_add_domain(struct meter_open_ctx *ctx, const struct meter_domain_def *def);

/* Start a definition: every number NAN, index -1, mig -1, in_total 1, and
 * the provenance that `mode` implies (counter: measured, power: sampled). */
void meter_domain_def_init(struct meter_domain_def *def, const char *name, const char *source,
                           enum joule_domain_kind kind, enum meter_mode mode);

/* Declare one unavailable domain with a reason (printf-style). */
bool meter_add_unavailable(struct meter_open_ctx *ctx, const char *name, const char *source,
                           enum joule_domain_kind kind, int in_total, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---------------------------------------------------------------------------
 * Arithmetic (calc.c): pure functions, tested exactly.
 */

/* Extend a wrapping counter: given the previous raw value and the new one,
 * the energy accrued between them.  A decrease is a wrap when range_j > 0
 * (delta = now + range - prev) and a reset otherwise (delta = now, *reset set). */
double meter_counter_delta(double prev_raw_j, double now_raw_j, double range_j, bool *reset);

/* Counter bound: 2 * resolution + 2 * peak * U. */
double meter_counter_bound(double resolution_j, double peak_w, double update_s);

/* Short-window estimate: (p0 + p1) / 2 * T, with its bound
 * |p1 - p0| * T / 2 + peak * U. */
double meter_short_window(double p0_w, double p1_w, double dur_s, double peak_w, double update_s,
                          double *bound_j);

/* Trapezoid accumulator for sampled power.  Edges are exact: callers add a
 * sample at each window edge. */
struct meter_trapezoid {
    double t_s;     /* time of the last sample */
    double p_w;     /* power of the last sample */
    double energy_j; /* integral so far */
    double spread_j; /* sum |dP| * dt / 2: the bound's curvature term */
    bool started;
};
void meter_trapezoid_add(struct meter_trapezoid *tz, double t_s, double p_w);

/* Sampled bound: spread + peak * interval (edge effects). */
double meter_sampled_bound(double spread_j, double peak_w, double interval_s);

/* Mean and sample std of x[0..n-1] (std 0 for n < 2). */
void meter_mean_std(const double *x, size_t n, double *mean, double *std);

/* ---------------------------------------------------------------------------
 * Parsers of untrusted text (fuzzed).
 */

/* Parse a decimal unsigned integer file content ("12345\n").  false on
 * anything else. */
bool meter_parse_u64(const char *text, uint64_t *out);

/* /proc/stat: busy and total jiffies of the "cpu " line, and the count of
 * "cpuN" lines.  false when the text has no valid aggregate line. */
bool meter_parse_proc_stat(const char *text, uint64_t *busy, uint64_t *total, uint32_t *ncpu);

/* Fake-source script (see fake.c).  Parses into a private structure;
 * returns JOULE_ERR_FORMAT with "FILE:LINE: what (how to fix)" in err. */
struct meter_fake_script;
enum joule_status meter_fake_parse(const char *text, size_t len, const char *file,
                                   struct meter_fake_script **out, char *err, size_t err_size);
void meter_fake_free(struct meter_fake_script *s);

/* ---------------------------------------------------------------------------
 * Test hooks.
 */

/* A replaceable clock: `now` gives seconds on a monotonic scale, `sleep`
 * waits (a virtual clock just advances). */
struct meter_clock {
    double (*now)(void *ctx);
    void (*sleep)(void *ctx, double seconds);
    void *ctx;
};

/* joule_meter_open with a clock of the caller's.  With p->interval_ms == 0
 * no sampler runs and meter_tick() drives samples by hand, so tests get
 * exact joules on a virtual clock. */
enum joule_status meter_open_with_clock(const struct joule_meter_params *p,
                                        const struct meter_clock *clock, struct joule_meter **out);

/* Take one sampler tick now (what the sampler thread does each interval). */
void meter_tick(struct joule_meter *m);

/* Read a whole small file (sysfs, procfs) into buf, NUL-terminated.
 * Returns bytes read or -1 with errno set. */
long meter_read_file(const char *path, char *buf, size_t size);

#endif /* JOULE_METER_INT_H */
