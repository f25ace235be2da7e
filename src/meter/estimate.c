/*
 * estimate.c - CPU energy from a model, for machines whose CPU exposes no
 * readable counter (VMs, non-root without RAPL access, other vendors).
 *
 * Model (docs/methodology.md, "Estimated"):
 *   P(u) = P_idle + (P_tdp - P_idle) * u,   P_idle = IDLE_SHARE * P_tdp
 * where P_tdp is the TDP share of the visible logical CPUs
 * (TDP * visible / package threads, from a table of common CPUs, or the
 * user's --cpu-tdp for the visible CPUs) and u the busy share of all
 * visible CPUs from /proc/stat.  The source exposes it as a counter,
 * E(t) = P_idle * t + (P_tdp - P_idle) * integral of u dt, so windows are
 * counter differences like every other domain.  Tolerance +-30%.
 */
#include "meter_int.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_SHARE 0.25         /* idle power as a share of TDP (servers: 20-30%) */
#define FALLBACK_W_PER_CPU 4.0  /* unknown CPU: watts per logical CPU at full load */

struct cpu_tdp {
    const char *match; /* substring of /proc/cpuinfo's "model name" */
    double tdp_w;      /* rated TDP (or base power) of one package */
    unsigned threads;  /* logical CPUs of one package */
};

/* Manufacturer figures; see docs/methodology.md for the sources. */
static const struct cpu_tdp cpu_table[] = {
    {"EPYC 9654", 360, 192},         {"EPYC 9554", 360, 128},
    {"EPYC 7763", 280, 128},         {"EPYC 7713", 225, 128},
    {"EPYC 7543", 225, 64},          {"EPYC 7742", 225, 128},
    {"Platinum 8480", 350, 112},     {"Platinum 8468", 350, 96},
    {"Platinum 8380", 270, 80},      {"Platinum 8358", 250, 64},
    {"Platinum 8275CL", 240, 48},    {"Gold 6248", 150, 40},
    {"Gold 6338", 205, 64},          {"Gold 6430", 270, 64},
    {"i9-14900K", 125, 32},          {"i9-13900K", 125, 32},
    {"i7-13700K", 125, 24},          {"i7-12700", 65, 20},
    {"i5-12400", 65, 12},            {"Ryzen 9 7950X", 170, 32},
    {"Ryzen 9 5950X", 105, 32},      {"Ryzen 7 5800X", 105, 16},
    {"Ryzen 7 7840U", 28, 16},       {"Threadripper PRO 5995WX", 280, 128},
};

struct estimate_state {
    char stat_path[600];
    double p_tdp_w;
    double p_idle_w;
    uint64_t busy, total; /* jiffies at the last read */
    double t_last;
    double u_last;
    double busy_integral_s; /* integral of u dt */
    bool started;
};

static void cpu_model(const char *proc_root, char *out, size_t size)
{
    char path[600];
    joule_fmt(path, sizeof(path), "%s/cpuinfo", proc_root);
    char *buf = malloc(65536);
    out[0] = '\0';
    if (!buf)
        return;
    if (meter_read_file(path, buf, 65536) > 0) {
        const char *p = strstr(buf, "model name");
        if (p && (p = strchr(p, ':')) != NULL) {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            size_t len = strcspn(p, "\n");
            if (len >= size)
                len = size - 1;
            memcpy(out, p, len);
            out[len] = '\0';
        }
    }
    free(buf);
}

static bool read_stat(struct estimate_state *st, uint64_t *busy, uint64_t *total, uint32_t *ncpu)
{
    char buf[16384];
    if (meter_read_file(st->stat_path, buf, sizeof(buf)) <= 0)
        return false;
    return meter_parse_proc_stat(buf, busy, total, ncpu);
}

static enum joule_status estimate_open(struct meter_source *src, struct meter_open_ctx *ctx)
{
    struct estimate_state *st = calloc(1, sizeof(*st));
    if (!st)
        return JOULE_ERR_NOMEM;
    src->state = st;
    const char *root = ctx->p->proc_root;
    joule_fmt(st->stat_path, sizeof(st->stat_path), "%s/stat", root);
    uint64_t busy, total;
    uint32_t ncpu;
    if (!read_stat(st, &busy, &total, &ncpu)) {
        meter_add_unavailable(ctx, "cpu", "estimate", JOULE_DOMAIN_CPU, 1,
                              "cannot read CPU utilisation from %s", st->stat_path);
        return JOULE_OK;
    }
    char model[128];
    cpu_model(root, model, sizeof(model));
    struct meter_domain_def def;
    meter_domain_def_init(&def, "cpu", "estimate", JOULE_DOMAIN_CPU, METER_MODE_COUNTER);
    def.info.provenance = JOULE_PROV_ESTIMATED;
    joule_strlcpy(def.info.device, model[0] ? model : "unknown CPU", sizeof(def.info.device));

    const struct cpu_tdp *row = NULL;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(cpu_table) && model[0]; i++)
        if (strstr(model, cpu_table[i].match))
            row = &cpu_table[i];
    const char *basis;
    char basis_buf[160];
    if (ctx->p->cpu_tdp_w > 0) {
        st->p_tdp_w = ctx->p->cpu_tdp_w;
        basis = "--cpu-tdp";
    } else if (row) {
        double share = (double)ncpu / row->threads;
        st->p_tdp_w = row->tdp_w * (share < 1 ? share : 1);
        joule_fmt(basis_buf, sizeof(basis_buf), "%s TDP %.0f W x %u/%u CPUs", row->match,
                  row->tdp_w, ncpu < row->threads ? ncpu : row->threads, row->threads);
        basis = basis_buf;
    } else {
        st->p_tdp_w = FALLBACK_W_PER_CPU * ncpu;
        joule_fmt(basis_buf, sizeof(basis_buf),
                  "CPU not in the table: %.0f W per CPU assumed, give --cpu-tdp W",
                  FALLBACK_W_PER_CPU);
        basis = basis_buf;
    }
    st->p_idle_w = IDLE_SHARE * st->p_tdp_w;
    joule_fmt(def.info.note, sizeof(def.info.note),
              "TDP model: P = %.1f W idle + %.1f W x utilisation of %u CPUs (%s); +-30%%",
              st->p_idle_w, st->p_tdp_w - st->p_idle_w, ncpu, basis);
    def.update_s = 0.01; /* /proc/stat counts 10 ms jiffies */
    def.resolution_j = 0;
    if (!meter_add_domain(ctx, &def))
        return JOULE_ERR_INVALID;
    return JOULE_OK;
}

static enum joule_status estimate_read(struct meter_source *src, uint32_t d, double t_s,
                                       struct meter_sample *out)
{
    (void)d;
    struct estimate_state *st = src->state;
    uint64_t busy, total;
    uint32_t ncpu;
    if (!read_stat(st, &busy, &total, &ncpu)) {
        out->error = "cannot read /proc/stat";
        return JOULE_ERR_IO;
    }
    if (st->started) {
        if (total > st->total && busy >= st->busy)
            st->u_last = (double)(busy - st->busy) / (double)(total - st->total);
        double dt = t_s - st->t_last;
        if (dt > 0)
            st->busy_integral_s += st->u_last * dt;
    }
    if (total != st->total || !st->started) {
        st->busy = busy;
        st->total = total;
    }
    st->t_last = t_s;
    st->started = true;
    out->counter_j = st->p_idle_w * t_s + (st->p_tdp_w - st->p_idle_w) * st->busy_integral_s;
    out->has_counter = true;
    out->power_w = st->p_idle_w + (st->p_tdp_w - st->p_idle_w) * st->u_last;
    out->has_power = true;
    return JOULE_OK;
}

static void estimate_close(struct meter_source *src)
{
    free(src->state);
    src->state = NULL;
}

const struct meter_source_ops joule_meter_estimate_ops = {
    "estimate", estimate_open, estimate_read, NULL, estimate_close,
};
