/*
 * fake.c - a deterministic, scripted energy source for tests and demos.
 *
 * Script (one statement per line, '#' starts a comment):
 *
 *   domain NAME kind=KIND mode=MODE [update_ms=N] [range_j=X] [resolution_j=X]
 *                                   [in_total=0|1] [note=TEXT...]
 *   at T NAME=WATTS [NAME=WATTS ...]
 *   fail NAME FROM TO
 *   reset NAME T
 *
 * KIND is gpu, package, core, uncore, dram, psys, cpu or other; MODE is
 * counter (measured), estimate (a counter labelled estimated), power
 * (sampled) or unavailable (note= gives the reason).  Power is piecewise
 * constant: from each `at T` until the next one that names the domain (0 W
 * before the first).  A counter reads the exact integral of that power up to
 * the last update-period boundary (like real counters, which update every
 * update_ms), modulo range_j when set; `reset` restarts it at 0 at time T.
 * `fail` makes every read in [FROM, TO) fail.  Times are seconds since the
 * meter was opened.
 */
#include "meter_int.h"
#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX_POINTS 100000
#define FAKE_MAX_FAILS 64

struct fake_point {
    double t;
    double w;
};

struct fake_domain {
    struct meter_domain_def def;
    struct fake_point *pts; /* breakpoints, t nondecreasing */
    size_t n_pts;
    size_t cap_pts;
    double reset_t;         /* NAN: never */
    double fail_from[FAKE_MAX_FAILS];
    double fail_to[FAKE_MAX_FAILS];
    size_t n_fails;
};

struct meter_fake_script {
    struct fake_domain d[JOULE_MAX_DOMAINS];
    uint32_t n;
    double last_at;
};

void meter_fake_free(struct meter_fake_script *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n; i++)
        free(s->d[i].pts);
    free(s);
}

/* ---------------------------------------------------------------------------
 * Parser
 */

struct parse {
    const char *file;
    unsigned line;
    char *err;
    size_t err_size;
};

static enum joule_status perr(struct parse *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum joule_status perr(struct parse *ps, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    joule_fmt(ps->err, ps->err_size, "%s:%u: %s", ps->file, ps->line, msg);
    return JOULE_ERR_FORMAT;
}

static bool parse_double(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static struct fake_domain *find_domain(struct meter_fake_script *s, const char *name)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->d[i].def.info.name, name) == 0)
            return &s->d[i];
    return NULL;
}

static bool kind_from(const char *v, enum joule_domain_kind *k)
{
    for (int i = JOULE_DOMAIN_GPU; i <= JOULE_DOMAIN_OTHER; i++) {
        if (strcmp(v, joule_domain_kind_str((enum joule_domain_kind)i)) == 0) {
            *k = (enum joule_domain_kind)i;
            return true;
        }
    }
    return false;
}

/* Split line into whitespace-separated words in place (at most max). */
static size_t split_words(char *line, char **w, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        w[n++] = p;
        /* note= takes the rest of the line */
        if (strncmp(p, "note=", 5) == 0)
            break;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static enum joule_status parse_domain(struct parse *ps, struct meter_fake_script *s, char **w,
                                      size_t n)
{
    if (n < 2)
        return perr(ps, "domain needs a name (domain NAME kind=KIND mode=MODE ...)");
    if (s->n >= JOULE_MAX_DOMAINS)
        return perr(ps, "more than %d domains", JOULE_MAX_DOMAINS);
    if (strlen(w[1]) >= JOULE_NAME_MAX || strchr(w[1], '='))
        return perr(ps, "bad domain name '%.40s' (at most %d bytes, no '=')", w[1],
                    JOULE_NAME_MAX - 1);
    if (find_domain(s, w[1]))
        return perr(ps, "domain '%s' is declared twice", w[1]);
    enum joule_domain_kind kind = JOULE_DOMAIN_OTHER;
    const char *mode = NULL;
    double update_ms = 0, range = 0, resolution = 0, in_total = 1;
    const char *note = "";
    bool have_kind = false;
    for (size_t i = 2; i < n; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq)
            return perr(ps, "expected key=value, got '%.40s'", w[i]);
        *eq = '\0';
        const char *k = w[i], *v = eq + 1;
        if (strcmp(k, "kind") == 0) {
            if (!kind_from(v, &kind))
                return perr(ps, "unknown kind '%.40s' (expected gpu, package, core, uncore, "
                                "dram, psys, cpu or other)", v);
            have_kind = true;
        } else if (strcmp(k, "mode") == 0) {
            if (strcmp(v, "counter") && strcmp(v, "power") && strcmp(v, "estimate") &&
                strcmp(v, "unavailable"))
                return perr(ps, "unknown mode '%.40s' (expected counter, power, estimate or "
                                "unavailable)", v);
            mode = v;
        } else if (strcmp(k, "update_ms") == 0) {
            if (!parse_double(v, &update_ms) || update_ms < 0 || update_ms > 60000)
                return perr(ps, "update_ms must be a number in 0..60000, got '%.40s'", v);
        } else if (strcmp(k, "range_j") == 0) {
            if (!parse_double(v, &range) || range < 0)
                return perr(ps, "range_j must be a number >= 0, got '%.40s'", v);
        } else if (strcmp(k, "resolution_j") == 0) {
            if (!parse_double(v, &resolution) || resolution < 0)
                return perr(ps, "resolution_j must be a number >= 0, got '%.40s'", v);
        } else if (strcmp(k, "in_total") == 0) {
            if (!parse_double(v, &in_total) || (in_total != 0 && in_total != 1))
                return perr(ps, "in_total must be 0 or 1, got '%.40s'", v);
        } else if (strcmp(k, "note") == 0) {
            note = v;
        } else {
            return perr(ps, "unknown key '%.40s' (expected kind, mode, update_ms, range_j, "
                            "resolution_j, in_total or note)", k);
        }
    }
    if (!have_kind || !mode)
        return perr(ps, "domain '%s' needs kind= and mode=", w[1]);
    struct fake_domain *d = &s->d[s->n++];
    memset(d, 0, sizeof(*d));
    enum meter_mode mm = strcmp(mode, "power") == 0         ? METER_MODE_POWER
                         : strcmp(mode, "unavailable") == 0 ? METER_MODE_NONE
                                                            : METER_MODE_COUNTER;
    meter_domain_def_init(&d->def, w[1], "fake", kind, mm);
    if (strcmp(mode, "estimate") == 0)
        d->def.info.provenance = JOULE_PROV_ESTIMATED;
    d->def.info.in_total = (int32_t)in_total;
    d->def.update_s = update_ms / 1000.0;
    d->def.range_j = range;
    d->def.resolution_j = resolution;
    joule_strlcpy(d->def.info.note, note, sizeof(d->def.info.note));
    d->reset_t = NAN;
    return JOULE_OK;
}

static enum joule_status add_point(struct parse *ps, struct fake_domain *d, double t, double w)
{
    if (d->n_pts == d->cap_pts) {
        size_t cap = d->cap_pts ? d->cap_pts * 2 : 16;
        if (cap > FAKE_MAX_POINTS)
            return perr(ps, "more than %d power points for one domain", FAKE_MAX_POINTS);
        struct fake_point *np = joule_realloc_array(d->pts, cap, sizeof(*np));
        if (!np)
            return JOULE_ERR_NOMEM;
        d->pts = np;
        d->cap_pts = cap;
    }
    d->pts[d->n_pts].t = t;
    d->pts[d->n_pts].w = w;
    d->n_pts++;
    return JOULE_OK;
}

static enum joule_status parse_at(struct parse *ps, struct meter_fake_script *s, char **w,
                                  size_t n)
{
    double t;
    if (n < 3 || !parse_double(w[1], &t) || t < 0)
        return perr(ps, "expected 'at SECONDS NAME=WATTS ...' with SECONDS >= 0");
    if (t < s->last_at)
        return perr(ps, "time %g goes back (the previous 'at' was %g): keep times in order", t,
                    s->last_at);
    s->last_at = t;
    for (size_t i = 2; i < n; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq)
            return perr(ps, "expected NAME=WATTS, got '%.40s'", w[i]);
        *eq = '\0';
        struct fake_domain *d = find_domain(s, w[i]);
        if (!d)
            return perr(ps, "unknown domain '%.40s' (declare it with 'domain' first)", w[i]);
        double watts;
        if (!parse_double(eq + 1, &watts) || watts < 0 || watts > 1e6)
            return perr(ps, "power of '%s' must be a number in 0..1e6 W, got '%.40s'", w[i],
                        eq + 1);
        enum joule_status st = add_point(ps, d, t, watts);
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

static enum joule_status parse_fail_reset(struct parse *ps, struct meter_fake_script *s, char **w,
                                          size_t n)
{
    bool is_fail = strcmp(w[0], "fail") == 0;
    if (n != (is_fail ? 4u : 3u))
        return perr(ps, is_fail ? "expected 'fail NAME FROM TO'" : "expected 'reset NAME T'");
    struct fake_domain *d = find_domain(s, w[1]);
    if (!d)
        return perr(ps, "unknown domain '%.40s' (declare it with 'domain' first)", w[1]);
    double a, b = 0;
    if (!parse_double(w[2], &a) || a < 0 || (is_fail && (!parse_double(w[3], &b) || b < a)))
        return perr(ps, "times must be numbers >= 0%s", is_fail ? " with FROM <= TO" : "");
    if (!is_fail) {
        d->reset_t = a;
        return JOULE_OK;
    }
    if (d->n_fails >= FAKE_MAX_FAILS)
        return perr(ps, "more than %d fail spans for '%s'", FAKE_MAX_FAILS, w[1]);
    d->fail_from[d->n_fails] = a;
    d->fail_to[d->n_fails] = b;
    d->n_fails++;
    return JOULE_OK;
}

enum joule_status meter_fake_parse(const char *text, size_t len, const char *file,
                                   struct meter_fake_script **out, char *err, size_t err_size)
{
    *out = NULL;
    struct meter_fake_script *s = calloc(1, sizeof(*s));
    if (!s)
        return JOULE_ERR_NOMEM;
    struct parse ps = {file, 0, err, err_size};
    enum joule_status st = JOULE_OK;
    size_t pos = 0;
    char line[1024];
    while (pos < len && st == JOULE_OK) {
        ps.line++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t ll = end - pos;
        if (ll >= sizeof(line)) {
            st = perr(&ps, "line longer than %zu bytes", sizeof(line) - 1);
            break;
        }
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        pos = end + 1;
        if (memchr(line, '\0', ll)) {
            st = perr(&ps, "NUL byte in the script");
            break;
        }
        char *hash = strchr(line, '#');
        if (hash && strstr(line, "note=") == NULL)
            *hash = '\0';
        line[strcspn(line, "\r")] = '\0';
        char *w[64];
        size_t n = split_words(line, w, JOULE_ARRAY_LEN(w));
        if (n == 0)
            continue;
        if (strcmp(w[0], "domain") == 0)
            st = parse_domain(&ps, s, w, n);
        else if (strcmp(w[0], "at") == 0)
            st = parse_at(&ps, s, w, n);
        else if (strcmp(w[0], "fail") == 0 || strcmp(w[0], "reset") == 0)
            st = parse_fail_reset(&ps, s, w, n);
        else
            st = perr(&ps, "unknown statement '%.40s' (expected domain, at, fail or reset)", w[0]);
    }
    if (st == JOULE_OK && s->n == 0) {
        ps.line = 0;
        st = perr(&ps, "no domain declared (add: domain NAME kind=KIND mode=MODE)");
    }
    if (st != JOULE_OK) {
        meter_fake_free(s);
        return st;
    }
    *out = s;
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * Evaluation
 */

static double power_at(const struct fake_domain *d, double t)
{
    double w = 0;
    for (size_t i = 0; i < d->n_pts && d->pts[i].t <= t; i++)
        w = d->pts[i].w;
    return w;
}

/* Integral of power over [a, b]. */
static double energy_between(const struct fake_domain *d, double a, double b)
{
    if (b <= a)
        return 0;
    double e = 0, t = a, w = power_at(d, a);
    for (size_t i = 0; i < d->n_pts; i++) {
        if (d->pts[i].t <= a)
            continue;
        if (d->pts[i].t >= b)
            break;
        e += w * (d->pts[i].t - t);
        t = d->pts[i].t;
        w = d->pts[i].w;
    }
    return e + w * (b - t);
}

static enum joule_status fake_open(struct meter_source *src, struct meter_open_ctx *ctx)
{
    if (!ctx->arg || !*ctx->arg) {
        joule_fmt(ctx->err, ctx->err_size, "no script given (fake:FILE)");
        return JOULE_ERR_INVALID;
    }
    char *text;
    size_t len;
    enum joule_status st = joule_read_all(ctx->arg, 1u << 24, &text, &len, ctx->err, ctx->err_size);
    if (st != JOULE_OK)
        return st;
    struct meter_fake_script *s;
    st = meter_fake_parse(text, len, ctx->arg, &s, ctx->err, ctx->err_size);
    free(text);
    if (st != JOULE_OK)
        return st;
    src->state = s;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!meter_add_domain(ctx, &s->d[i].def)) {
            joule_fmt(ctx->err, ctx->err_size, "more than %d domains in all", JOULE_MAX_DOMAINS);
            return JOULE_ERR_INVALID;
        }
    }
    return JOULE_OK;
}

static enum joule_status fake_read(struct meter_source *src, uint32_t i, double t,
                                   struct meter_sample *out)
{
    const struct meter_fake_script *s = src->state;
    if (i >= s->n)
        return JOULE_ERR_STATE;
    const struct fake_domain *d = &s->d[i];
    for (size_t k = 0; k < d->n_fails; k++)
        if (t >= d->fail_from[k] && t < d->fail_to[k]) {
            out->error = "scripted failure";
            return JOULE_ERR_IO;
        }
    out->power_w = power_at(d, t);
    out->has_power = true;
    if (d->def.mode == METER_MODE_COUNTER) {
        double U = d->def.update_s;
        double tq = U > 0 ? floor(t / U + 1e-9) * U : t;
        double from = isfinite(d->reset_t) && tq >= d->reset_t ? d->reset_t : 0;
        double e = energy_between(d, from, tq);
        if (d->def.range_j > 0)
            e = fmod(e, d->def.range_j);
        out->counter_j = e;
        out->has_counter = true;
        out->has_power = false; /* a counter source reports no power of its own */
    }
    return JOULE_OK;
}

static void fake_close(struct meter_source *src)
{
    meter_fake_free(src->state);
    src->state = NULL;
}

const struct meter_source_ops joule_meter_fake_ops = {
    "fake", fake_open, fake_read, NULL, fake_close,
};
