/*
 * model.c - the advisor's analytic model of LLM inference: model shapes,
 * precisions, a roofline with per-kernel overheads, energy from idle power
 * plus dynamic power by utilisation, and least-squares calibration.
 *
 * A decode step of batch B moves the weights once and each sequence's KV
 * cache, and computes 2 FLOPs per weight per token plus attention; its
 * time is the larger of bytes / bandwidth and FLOPs / peak (the roofline),
 * at the achievable fraction of each (ETA_*) times the format's kernel
 * efficiency, plus a fixed cost per kernel (launch and framework overhead,
 * which dominates small models at batch 1 and is what makes extra kernels
 * per layer -- dequantization, outlier decomposition -- expensive there).
 * Power is idle + (TDP - idle) x (a fixed busy share + the rest x the
 * fraction of the roofline reached).
 * docs/cli/joule-advise.md states every constant.
 */
#include "advise.h"

#include "joule_int.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Achievable fractions of peak bandwidth and compute by good kernels. */
#define ETA_MEM 0.8
#define ETA_CMP 0.6
/* Kernels a transformer block runs at FP16 (norms, 7 linear layers, RoPE,
 * attention, activation, residual adds) and their fixed cost. */
#define KERNELS_PER_LAYER 12.0
#define GPU_KERNEL_S 8e-6 /* eager PyTorch: launch + framework per kernel */
#define CPU_KERNEL_S 1e-6 /* a pool dispatch of joule's engine (~0.7 us measured) */
#define LINEAR_PER_LAYER 7.0
/* A device running kernels raises its clocks and keeps its SMs (cores)
 * awake: this share of the dynamic power range is drawn whenever it works,
 * the rest follows the fraction of the roofline reached. */
#define BUSY_SHARE 0.6
/* Memory kept aside: runtime context, activations, fragmentation. */
#define GPU_RESERVE_B 1.0e9
#define CPU_RESERVE_B 0.5e9

/* --- precisions ------------------------------------------------------------ */

struct prec_row {
    struct joule_prec p;
    double extra_kernels; /* per linear layer, beyond FP16's one */
    const char *alias;    /* another spelling, or NULL */
};

static const struct prec_row precs[] = {
    {{"fp32", "FP32", 4.0, JOULE_DT_FP32, 1.0, NULL}, 0, "f32"},
    {{"fp16", "FP16", 2.0, JOULE_DT_FP16, 1.0, NULL}, 0, "f16"},
    {{"bf16", "BF16", 2.0, JOULE_DT_BF16, 1.0, NULL}, 0, NULL},
    {{"fp8", "FP8", 1.0, JOULE_DT_FP8, 1.0, "fp8-eager"}, 0, NULL},
    {{"int8", "INT8 (pure, threshold 0)", 1.0, JOULE_DT_INT8, 0.6, "int8-pure"}, 1, "int8_pure"},
    {{"int8-mixed", "INT8 (default, threshold 6)", 1.0, JOULE_DT_INT8, 0.45, "int8-decomposition"},
     4,
     "int8_default"},
    {{"nf4", "NF4 (4-bit)", 0.5625, JOULE_DT_FP16, 0.45, "nf4-small"}, 2, NULL},
    /* GGUF types of joule's own engine: kernels read them directly. */
    {{"q8_0", "Q8_0", 34.0 / 32, JOULE_DT_INT8, 1.0, NULL}, 0, NULL},
    {{"q6_k", "Q6_K", 210.0 / 256, JOULE_DT_INT8, 1.0, NULL}, 0, NULL},
    {{"q4_k_m", "Q4_K_M", 4.85 / 8, JOULE_DT_INT8, 1.0, NULL}, 0, NULL},
    {{"q4_0", "Q4_0", 18.0 / 32, JOULE_DT_INT8, 1.0, NULL}, 0, NULL},
};

const struct joule_prec *joule_prec_at(size_t i)
{
    return i < JOULE_ARRAY_LEN(precs) ? &precs[i].p : NULL;
}

static const struct prec_row *prec_row(const struct joule_prec *p)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(precs); i++)
        if (&precs[i].p == p)
            return &precs[i];
    return &precs[1];
}

const struct joule_prec *joule_prec_find(const char *name)
{
    char want[32];
    size_t n = 0;
    for (; name && name[n] && n + 1 < sizeof(want); n++)
        want[n] = (char)tolower((unsigned char)name[n]);
    want[n] = '\0';
    for (size_t i = 0; i < JOULE_ARRAY_LEN(precs); i++)
        if (strcmp(want, precs[i].p.id) == 0 ||
            (precs[i].alias && strcmp(want, precs[i].alias) == 0))
            return &precs[i].p;
    return NULL;
}

static double peak_tflops(const struct joule_hw *d, enum joule_dtype t)
{
    switch (t) {
    case JOULE_DT_FP32:
        return d->fp32;
    case JOULE_DT_FP16:
        return d->fp16;
    case JOULE_DT_BF16:
        return d->bf16;
    case JOULE_DT_FP8:
        return d->fp8;
    default:
        return d->int8;
    }
}

const char *joule_prec_refusal(const struct joule_hw *dev, const struct joule_prec *p, char *buf,
                               size_t size)
{
    if (p->compute == JOULE_DT_BF16 && dev->bf16 <= 0) {
        joule_fmt(buf, size, "BF16 needs Ampere or newer: the %s (%s) has no BF16 units; use FP16",
                  dev->name, dev->arch);
        return buf;
    }
    if (p->compute == JOULE_DT_FP8 && dev->fp8 <= 0) {
        joule_fmt(buf, size, "FP8 needs Ada, Hopper or newer: the %s (%s) has no FP8 units",
                  dev->name, dev->arch);
        return buf;
    }
    const bool gguf = p->id[0] == 'q';
    if (gguf && dev->kind == JOULE_HW_GPU) {
        joule_fmt(buf, size, "%s is a GGUF type of CPU engines; on the %s use fp16, int8 or nf4",
                  p->label, dev->name);
        return buf;
    }
    if (!gguf && dev->kind == JOULE_HW_CPU &&
        (p->compute == JOULE_DT_FP8 || strcmp(p->id, "nf4") == 0)) {
        joule_fmt(buf, size, "%s is a GPU format; on a CPU use q8_0, q4_k_m or q4_0", p->label);
        return buf;
    }
    return NULL;
}

/* --- shapes ------------------------------------------------------------------ */

/* Widest FFN an inferred shape gets: past it the parameter count (at most
 * MAX_PARAMS) is made up by the FFN anyway. */
#define JOULE_MAX_FF 4000000
/* Counts above this (100 trillion) are not model sizes. */
#define MAX_PARAMS 1e14

static void shape_counts(struct joule_shape *s, int tied)
{
    const double d = s->n_embd, f = s->n_ff, L = s->n_layer, V = s->n_vocab;
    const double kv = d / s->n_head * s->n_head_kv;
    const double layer = 2 * d * d + 2 * d * kv + 3 * d * f + 2 * d;
    s->compute_params = L * layer + V * d;                /* the output is multiplied */
    s->n_params = L * layer + V * d * (tied ? 1 : 2) + d; /* the embedding is looked up */
}

static enum joule_status from_builtin(const char *name, struct joule_shape *out)
{
    struct joule_synth_params p = joule_synth_default_params();
    if (joule_synth_shape(name, &p) != JOULE_OK)
        return JOULE_ERR_NOT_FOUND;
    joule_strlcpy(out->name, name, sizeof(out->name));
    out->n_layer = (int32_t)p.n_layer;
    out->n_embd = (int32_t)p.n_embd;
    out->n_head = (int32_t)p.n_head;
    out->n_head_kv = (int32_t)p.n_head_kv;
    out->n_ff = (int32_t)p.n_ff;
    out->n_vocab = (int32_t)p.n_vocab;
    shape_counts(out, p.tied_output);
    return JOULE_OK;
}

/* Families recognised in a model id, lower case, most specific first. */
static const struct {
    const char *key, *shape;
} known[] = {
    {"tinyllama", "tinyllama-1.1b"},  {"smollm", "smollm-135m"},
    {"llama-3.2-1b", "llama-3.2-1b"}, {"qwen2-1.5b", "qwen2-1.5b"},
    {"qwen2.5-1.5b", "qwen2-1.5b"},   {"phi-3-mini", "phi-3-mini"},
    {"phi3-mini", "phi-3-mini"},      {"qwen2.5-7b", "qwen2.5-7b"},
    {"qwen2-7b", "qwen2.5-7b"},       {"mistral-7b", "mistral-7b"},
    {"llama-3-8b", "llama-3-8b"},     {"llama-3.1-8b", "llama-3-8b"},
    {"llama3-8b", "llama-3-8b"},      {"stories15m", "stories15m"},
};

/* A parameter count written in spec: "7B", "1.5b", "135M", "1.5e9". */
static double param_count(const char *spec)
{
    for (const char *p = spec; *p; p++) {
        if (!isdigit((unsigned char)*p) ||
            (p > spec && (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            continue;
        char u = (char)tolower((unsigned char)*end);
        const double n = (u == 'b' || u == 'm') && !isalnum((unsigned char)end[1])
                             ? v * (u == 'b' ? 1e9 : 1e6)
                         : !isalnum((unsigned char)*end) ? v
                                                         : 0;
        if (n >= 1e6 && n <= MAX_PARAMS)
            return n;
    }
    return 0;
}

/* A llama-like shape of about n parameters: widths and depths of the
 * published models of that size, grouped-query attention (4 query heads per
 * KV head), a 32000-token vocabulary; the FFN width makes up the count. */
static void infer_shape(double n, struct joule_shape *s)
{
    static const struct {
        double up_to;
        int d, L;
    } sizes[] = {{0.2e9, 576, 30},  {0.7e9, 1024, 24}, {1.6e9, 2048, 22},
                 {3.5e9, 3072, 28}, {9e9, 4096, 32},   {15e9, 5120, 40},
                 {40e9, 6656, 60},  {90e9, 8192, 80},  {1e30, 16384, 126}};
    size_t i = 0;
    while (i + 1 < JOULE_ARRAY_LEN(sizes) && n > sizes[i].up_to)
        i++;
    const double d = sizes[i].d, L = sizes[i].L, V = 32000;
    s->n_embd = sizes[i].d;
    s->n_layer = sizes[i].L;
    s->n_head = sizes[i].d / 128;
    s->n_head_kv = s->n_head >= 4 ? s->n_head / 4 : 1;
    s->n_vocab = 32000;
    double per_layer = (n - 2 * V * d) / L - 2.5 * d * d;
    const double ff = per_layer > 0 ? per_layer / (3 * d) : 2.7 * d;
    s->n_ff = (int32_t)fmin(ff, (double)JOULE_MAX_FF);
    shape_counts(s, 0);
}

enum joule_status joule_shape_resolve(const char *spec, struct joule_shape *out, char *err,
                                      size_t err_size)
{
    memset(out, 0, sizeof(*out));
    if (!spec || !*spec) {
        joule_fmt(err, err_size, "no model given");
        return JOULE_ERR_INVALID;
    }
    size_t len = strlen(spec);
    if (len > 5 && strcmp(spec + len - 5, ".gguf") == 0) {
        struct joule_model_info mi;
        enum joule_status st = joule_model_inspect(spec, &mi, err, err_size);
        if (st != JOULE_OK)
            return st;
        joule_strlcpy(out->name, mi.name[0] ? mi.name : spec, sizeof(out->name));
        joule_strlcpy(out->origin, "the GGUF file", sizeof(out->origin));
        out->n_layer = (int32_t)mi.n_layer;
        out->n_embd = (int32_t)mi.n_embd;
        out->n_head = (int32_t)(mi.n_head ? mi.n_head : 1);
        out->n_head_kv = mi.n_head_kv ? (int32_t)mi.n_head_kv : out->n_head;
        out->n_ff = (int32_t)mi.n_ff;
        out->n_vocab = (int32_t)mi.n_vocab;
        shape_counts(out, mi.tied_output);
        out->n_params = (double)mi.n_params; /* the file's own count */
        return JOULE_OK;
    }
    if (from_builtin(spec, out) == JOULE_OK) {
        joule_strlcpy(out->origin, "built-in shape", sizeof(out->origin));
        return JOULE_OK;
    }
    char low[256];
    size_t n = 0;
    for (; spec[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)spec[n]);
    low[n] = '\0';
    for (size_t i = 0; i < JOULE_ARRAY_LEN(known); i++)
        if (strstr(low, known[i].key) && from_builtin(known[i].shape, out) == JOULE_OK) {
            joule_strlcpy(out->name, spec, sizeof(out->name));
            joule_fmt(out->origin, sizeof(out->origin), "the published shape of %s",
                      known[i].shape);
            return JOULE_OK;
        }
    double count = param_count(spec);
    if (count >= 1e6) {
        infer_shape(count, out);
        joule_strlcpy(out->name, spec, sizeof(out->name));
        joule_fmt(out->origin, sizeof(out->origin),
                  "inferred from %.3g B parameters (a llama-like shape: %d layers of width %d)",
                  count / 1e9, out->n_layer, out->n_embd);
        return JOULE_OK;
    }
    joule_fmt(err, err_size,
              "model '%s': not a .gguf file, a built-in shape (joule model synth --list-shapes) "
              "or a name with a parameter count such as 7B",
              spec);
    return JOULE_ERR_NOT_FOUND;
}

/* --- the model --------------------------------------------------------------- */

struct phase_time {
    double t, bytes, flops;
};

/* Time of a step moving `bytes` and computing `flops` with `kernels`
 * kernel launches. */
static struct phase_time roofline(const struct joule_hw *d, const struct joule_prec *p,
                                  double bytes, double flops, double kernels)
{
    const double bw = d->bw_gbs * 1e9 * ETA_MEM * p->kernel_eff;
    double peak = peak_tflops(d, p->compute);
    if (peak <= 0)
        peak = d->fp16 > 0 ? d->fp16 : d->fp32; /* emulated: no faster path */
    const double fl = peak * 1e12 * ETA_CMP * p->kernel_eff;
    const double per_kernel = d->kind == JOULE_HW_GPU ? GPU_KERNEL_S : CPU_KERNEL_S;
    struct phase_time r = {fmax(bytes / bw, flops / fl) + kernels * per_kernel, bytes, flops};
    return r;
}

/* Fraction of the device's peak reached during a phase: what its dynamic
 * power follows. */
static double utilisation(const struct joule_hw *d, const struct joule_prec *p,
                          const struct phase_time *ph)
{
    double peak = peak_tflops(d, p->compute);
    if (peak <= 0)
        peak = d->fp16 > 0 ? d->fp16 : d->fp32;
    const double u = fmax(ph->bytes / (d->bw_gbs * 1e9), ph->flops / (peak * 1e12)) / ph->t;
    return u < 0 ? 0 : u > 1 ? 1 : u;
}

void joule_model_predict(const struct joule_hw *dev, const struct joule_shape *s,
                         const struct joule_prec *p, const struct joule_workload *w, double scale,
                         struct joule_prediction *out)
{
    memset(out, 0, sizeof(*out));
    const double B = w->batch > 0 ? w->batch : 1, n_in = w->n_in > 0 ? w->n_in : 1;
    const double n_out = w->n_out > 0 ? w->n_out : 1;
    const double L = s->n_layer, d = s->n_embd;
    const double kv_dim = (double)s->n_embd / s->n_head * s->n_head_kv;
    const double kernels = L * (KERNELS_PER_LAYER + LINEAR_PER_LAYER * prec_row(p)->extra_kernels);
    out->weight_bytes = s->n_params * p->bytes_per_weight;
    out->kv_bytes_token = 2.0 * L * kv_dim * 2.0; /* K and V, F16 */
    const double reserve = dev->kind == JOULE_HW_GPU ? GPU_RESERVE_B : CPU_RESERVE_B;
    const double per_seq = (n_in + n_out) * out->kv_bytes_token;
    out->mem_bytes = out->weight_bytes + B * per_seq + reserve;
    const double room = dev->mem_gb * 1e9 - out->weight_bytes - reserve;
    out->fits = out->mem_bytes <= dev->mem_gb * 1e9;
    out->max_batch = room > 0 ? (int32_t)fmin(room / per_seq, 1e6) : 0;

    /* Prefill: the batch's prompts in one pass, attention over each. */
    const double w_read = s->compute_params * p->bytes_per_weight;
    struct phase_time pre =
        roofline(dev, p, w_read + B * n_in * out->kv_bytes_token,
                 B * (2 * s->compute_params * n_in + 2 * L * d * n_in * n_in), kernels);
    /* Decode: a step at the mean context of the generation. */
    const double ctx = n_in + n_out / 2;
    struct phase_time dec = roofline(dev, p, w_read + B * ctx * out->kv_bytes_token,
                                     B * (2 * s->compute_params + 4 * L * d * ctx), kernels);
    const double sc = scale > 0 ? scale : 1;
    out->scale = sc;
    out->prefill_s = pre.t * sc;
    out->step_s = dec.t * sc;
    out->memory_bound = dec.bytes / (dev->bw_gbs * ETA_MEM) >=
                        dec.flops / (fmax(peak_tflops(dev, p->compute), 1e-9) * 1e3 * ETA_CMP);
    out->util = utilisation(dev, p, &dec);
    const double u_pre = utilisation(dev, p, &pre);
    const double dyn = dev->tdp_w - dev->idle_w;
    out->power_w = dev->idle_w + dyn * (BUSY_SHARE + (1 - BUSY_SHARE) * out->util);
    const double p_pre = dev->idle_w + dyn * (BUSY_SHARE + (1 - BUSY_SHARE) * u_pre);
    out->latency_s = out->prefill_s + n_out * out->step_s;
    out->throughput_tok_s = B * n_out / out->latency_s;
    const double e_batch = p_pre * out->prefill_s + out->power_w * n_out * out->step_s;
    out->j_per_request = e_batch / B;
    out->j_per_1k_out = 1000.0 * e_batch / (B * n_out);
    out->tokens_per_joule = B * n_out / e_batch;
}

double joule_model_fit_scale(const double *predicted, const double *measured, size_t n,
                             double *rms_rel)
{
    double pp = 0, pm = 0;
    for (size_t i = 0; i < n; i++) {
        pp += predicted[i] * predicted[i];
        pm += predicted[i] * measured[i];
    }
    const double k = n && pp > 0 ? pm / pp : 1.0;
    double r = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (measured[i] > 0) {
            double e = (k * predicted[i] - measured[i]) / measured[i];
            r += e * e;
            m++;
        }
    if (rms_rel)
        *rms_rel = m ? sqrt(r / (double)m) : NAN;
    return k;
}
