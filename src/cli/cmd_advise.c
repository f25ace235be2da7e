/*
 * cmd_advise.c - `joule advise optimize|diagnose|compare|estimate|audit`:
 * the advisor of seed 004 (EcoCompute) in joule's form.  Every figure says
 * where it comes from: measured (the results database), model (the
 * analytic model of src/advise/model.c, calibrated or not) or finding (a
 * documented result, src/advise/findings.c).  Markdown in the seed's
 * section layout, or --json.  See docs/cli/joule-advise.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "advise.h"
#include "cli.h"
#include "joule_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "advise"

static const char *const usage[] = {
    "usage: joule advise optimize -m MODEL --gpu DEVICE [--use-case interactive|api|batch]",
    "                             [--latency-ms X] [--accuracy-tolerance X] [options]",
    "       joule advise diagnose -m MODEL --gpu DEVICE --precision P --batch B",
    "                             (--throughput TOK_S | --energy J_PER_1K) [options]",
    "       joule advise compare  -m MODEL --gpu DEVICE [--precisions P1,P2,...] [options]",
    "       joule advise estimate -m MODEL --gpu DEVICE --requests N [options]",
    "       joule advise audit PATH... [--format text|json|sarif]",
    "       joule advise devices | precisions | findings",
    "",
    "Deployment advice from three named sources: your measurements (the results",
    "database), an analytic model of inference (calibrated to your measurements on the",
    "same device when there are some) and documented findings.",
    "",
    "  -m, --model M            GGUF file, built-in shape, or a model id with a size (7B)",
    "  --gpu, --device D        a device of `joule advise devices` (closest one otherwise)",
    "  --precision P            fp16, bf16, fp32, fp8, int8 (pure), int8-mixed (default",
    "                           bitsandbytes), nf4; GGUF types for CPUs (default fp16/q8_0)",
    "  --batch B                requests decoded together (default 1)",
    "  --input N, --output N    tokens per request in and out (default 512 and 256)",
    "  --requests N             requests per month (default 1000000)",
    "  --region us|cn           price and grid intensity (default us: $0.12/kWh, 390 g/kWh)",
    "  --price X, --intensity X $/kWh and gCO2/kWh (override the region)",
    "  --pue X, --local         data-centre overhead (default 1.1; --local: 1.0)",
    "  --db PATH|URL            results database for measurements and calibration",
    "  --json                   JSON instead of Markdown",
    NULL,
};

struct adv_opts {
    const char *sub, *model, *device, *precision, *use_case, *region, *db, *format;
    const char *precisions;
    const char *paths[64];
    int n_paths;
    unsigned batch, n_in, n_out;
    double requests, price, intensity, pue, latency_ms, tolerance, throughput, energy;
    bool json, local, help, batch_set;
};

static int parse(int argc, char **argv, struct adv_opts *o)
{
    o->batch = 1;
    o->n_in = 512;
    o->n_out = 256;
    o->requests = 1e6;
    o->price = o->intensity = o->pue = o->latency_ms = o->throughput = o->energy = NAN;
    o->tolerance = 0.01;
    o->region = "us";
    o->format = "text";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool miss = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            o->help = true;
        else if (strcmp(a, "--json") == 0)
            o->json = true;
        else if (strcmp(a, "--local") == 0)
            o->local = true;
        else if ((v = cli_opt_value(argc, argv, &i, "-m", &miss)) ||
                 (v = cli_opt_value(argc, argv, &i, "--model", &miss)))
            o->model = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--gpu", &miss)) ||
                 (v = cli_opt_value(argc, argv, &i, "--device", &miss)) ||
                 (v = cli_opt_value(argc, argv, &i, "--hardware", &miss)))
            o->device = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--precision", &miss)) ||
                 (v = cli_opt_value(argc, argv, &i, "--quantization", &miss)))
            o->precision = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--precisions", &miss)))
            o->precisions = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--use-case", &miss)))
            o->use_case = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--region", &miss)))
            o->region = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--db", &miss)))
            o->db = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--format", &miss)))
            o->format = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--batch", &miss))) {
            if (!cli_parse_u32(CMD, "--batch", v, 1, 4096, &o->batch))
                return CLI_USAGE;
            o->batch_set = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "--input", &miss))) {
            if (!cli_parse_u32(CMD, "--input", v, 1, 1u << 20, &o->n_in))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &miss))) {
            if (!cli_parse_u32(CMD, "--output", v, 1, 1u << 20, &o->n_out))
                return CLI_USAGE;
        } else {
            static const struct {
                const char *name;
                size_t off;
                double lo, hi;
            } nums[] = {
                {"--requests", offsetof(struct adv_opts, requests), 0, 1e15},
                {"--price", offsetof(struct adv_opts, price), 0, 100},
                {"--intensity", offsetof(struct adv_opts, intensity), 0, 5000},
                {"--pue", offsetof(struct adv_opts, pue), 1, 5},
                {"--latency-ms", offsetof(struct adv_opts, latency_ms), 0, 1e9},
                {"--accuracy-tolerance", offsetof(struct adv_opts, tolerance), 0, 1},
                {"--throughput", offsetof(struct adv_opts, throughput), 0, 1e9},
                {"--energy", offsetof(struct adv_opts, energy), 0, 1e12},
            };
            size_t k = 0;
            for (; k < JOULE_ARRAY_LEN(nums); k++)
                if ((v = cli_opt_value(argc, argv, &i, nums[k].name, &miss)))
                    break;
            if (k < JOULE_ARRAY_LEN(nums)) {
                if (!cli_parse_double(CMD, nums[k].name, v, nums[k].lo, nums[k].hi,
                                      (double *)(void *)((char *)o + nums[k].off)))
                    return CLI_USAGE;
            } else if (miss) {
                return cli_usage_error(CMD, "%s needs a value", a);
            } else if (a[0] == '-' && a[1]) {
                return cli_usage_error(CMD, "unknown option '%s'", a);
            } else if (!o->sub) {
                o->sub = a;
            } else if (o->n_paths < (int)JOULE_ARRAY_LEN(o->paths)) {
                o->paths[o->n_paths++] = a;
            } else {
                return cli_usage_error(CMD, "too many paths");
            }
        }
        if (miss)
            return cli_usage_error(CMD, "%s needs a value", a);
    }
    return CLI_OK;
}

/* --- the context every answer starts from ------------------------------------ */

struct ctx {
    const struct adv_opts *o;
    const struct joule_hw *dev;
    char dev_note[512]; /* closest-device note, or "" */
    struct joule_shape shape;
    struct joule_calib_point *pts;
    size_t n_pts;
    double scale, rms; /* calibration; scale 1 and rms NAN when none */
    char calib[512];   /* one sentence: calibrated on what, or why not */
    double price, intensity, pue;
};

static void source_db(const struct adv_opts *o, struct ctx *c, int *code)
{
    const char *path = o->db;
    if (!path) {
        const char *env = getenv("JOULE_DB");
        path = env && env[0] ? env : "joule-results/joule.db";
    }
    c->scale = 1;
    c->rms = NAN;
    if (!joule_store_is_server(path) && access(path, F_OK) != 0) {
        if (o->db) {
            fprintf(stderr, "joule advise: no results database at %s\n", path);
            *code = CLI_USAGE;
        }
        joule_fmt(c->calib, sizeof(c->calib),
                  "uncalibrated: no results database (%s), so no measurements of yours", path);
        return;
    }
    struct joule_store *s = NULL;
    char err[512];
    if (joule_store_open(path, &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule advise: %s\n", err);
        *code = CLI_USAGE;
        return;
    }
    if (joule_calib_points(s, c->dev, &c->pts, &c->n_pts) != JOULE_OK)
        c->n_pts = 0;
    joule_store_close(s);
    if (c->n_pts == 0) {
        joule_fmt(c->calib, sizeof(c->calib),
                  "uncalibrated: %s holds no completed experiment on the %s", path, c->dev->name);
        return;
    }
    double *p = malloc(c->n_pts * sizeof(double)), *m = malloc(c->n_pts * sizeof(double));
    if (p && m) {
        for (size_t i = 0; i < c->n_pts; i++) {
            p[i] = c->pts[i].predicted;
            m[i] = c->pts[i].measured;
        }
        c->scale = joule_model_fit_scale(p, m, c->n_pts, &c->rms);
    }
    free(p);
    free(m);
    joule_fmt(c->calib, sizeof(c->calib),
              "calibrated on %zu experiment%s of yours on the %s (least squares: model x %.3g, "
              "residual %.0f%% rms)",
              c->n_pts, c->n_pts == 1 ? "" : "s", c->dev->name, c->scale, 100 * c->rms);
}

static int context(const struct adv_opts *o, struct ctx *c, bool need_model)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    if (!o->device)
        return cli_usage_error(CMD, "which device? pass --gpu (see `joule advise devices`)");
    c->dev = joule_hw_find(o->device, c->dev_note, sizeof(c->dev_note));
    if (!c->dev) {
        fprintf(stderr, "joule advise: %s\n", c->dev_note);
        return CLI_USAGE;
    }
    if (need_model) {
        if (!o->model)
            return cli_usage_error(CMD, "which model? pass -m (a GGUF file, a shape, or 7B)");
        char err[512];
        enum joule_status st = joule_shape_resolve(o->model, &c->shape, err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule advise: %s\n", err);
            return cli_exit_for(st);
        }
    }
    const bool cn = strcmp(o->region, "cn") == 0;
    if (!cn && strcmp(o->region, "us") != 0)
        return cli_usage_error(CMD,
                               "unknown region '%s' (us, cn; or give --price and "
                               "--intensity)",
                               o->region);
    c->price = isfinite(o->price) ? o->price : cn ? 0.085 : 0.12;
    c->intensity = isfinite(o->intensity) ? o->intensity : cn ? 555 : 390;
    c->pue = isfinite(o->pue) ? o->pue : o->local ? 1.0 : 1.1;
    int code = CLI_OK;
    source_db(o, c, &code);
    return code;
}

static const struct joule_prec *default_prec(const struct ctx *c)
{
    return joule_prec_find(c->dev->kind == JOULE_HW_GPU ? "fp16" : "q8_0");
}

/* The precision of --precision, checked against the device. */
static int chosen_prec(const struct ctx *c, const struct joule_prec **out)
{
    const struct joule_prec *p =
        c->o->precision ? joule_prec_find(c->o->precision) : default_prec(c);
    if (!p)
        return cli_usage_error(CMD, "unknown precision '%s' (see `joule advise precisions`)",
                               c->o->precision);
    char why[256];
    if (joule_prec_refusal(c->dev, p, why, sizeof(why))) {
        fprintf(stderr, "joule advise: %s\n", why);
        return CLI_USAGE;
    }
    *out = p;
    return CLI_OK;
}

/* A measurement of this precision and batch on the device, or NULL. */
static const struct joule_calib_point *measured(const struct ctx *c, const struct joule_prec *p,
                                                int32_t batch)
{
    const struct joule_calib_point *best = NULL;
    for (size_t i = 0; i < c->n_pts; i++)
        if (strcmp(c->pts[i].precision, p->id) == 0 && c->pts[i].batch == batch)
            best = &c->pts[i];
    return best;
}

static void predict(const struct ctx *c, const struct joule_prec *p, int32_t batch,
                    struct joule_prediction *out)
{
    struct joule_workload w = {batch, (int32_t)c->o->n_in, (int32_t)c->o->n_out};
    joule_model_predict(c->dev, &c->shape, p, &w, c->scale, out);
}

/* Monthly figures of a configuration using j_per_request joules. */
struct monthly {
    double kwh, cost, kg_co2;
};

static struct monthly month_of(const struct ctx *c, double j_per_request)
{
    struct monthly m;
    m.kwh = j_per_request * c->o->requests * c->pue / 3.6e6;
    m.cost = m.kwh * c->price;
    m.kg_co2 = m.kwh * c->intensity / 1000;
    return m;
}

/* Typical accuracy cost of a precision: relative perplexity increase on
 * 7B-class models (llama.cpp's quantization tables for GGUF types; the
 * LLM.int8 and QLoRA papers for bitsandbytes).  Validate with joule compare. */
static double accuracy_cost(const struct joule_prec *p)
{
    static const struct {
        const char *id;
        double cost;
    } t[] = {{"fp32", 0},     {"fp16", 0},       {"bf16", 0},    {"fp8", 0.005},
             {"int8", 0.005}, {"int8-mixed", 0}, {"nf4", 0.02},  {"q8_0", 0.001},
             {"q6_k", 0.002}, {"q4_k_m", 0.01},  {"q4_0", 0.035}};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(t); i++)
        if (strcmp(t[i].id, p->id) == 0)
            return t[i].cost;
    return 0.05;
}

static const char *source_label(const struct ctx *c)
{
    return c->n_pts ? "model, calibrated" : "model, uncalibrated";
}

static void print_sources(const struct ctx *c, const char *const *finding_ids, size_t n)
{
    printf("\n## Sources\n");
    printf("- Model shape: %s (%s; %.3g B parameters)\n", c->shape.name, c->shape.origin,
           c->shape.n_params / 1e9);
    printf("- Device figures: %s, `docs/hardware.md` (bandwidth %.0f GB/s, TDP %.0f W, idle %.0f "
           "W: a typical value, measure yours with `joule measure --idle`)\n",
           c->dev->name, c->dev->bw_gbs, c->dev->tdp_w, c->dev->idle_w);
    if (c->dev_note[0])
        printf("- Device: %s\n", c->dev_note);
    printf("- Analytic model: %s\n", c->calib);
    for (size_t i = 0; i < n; i++) {
        const struct joule_finding *f = joule_finding_find(finding_ids[i]);
        if (f)
            printf("- Finding `%s`: %s: %s (%s)\n", f->id, f->title, f->figure, f->source);
    }
}

static json_t *sources_json(const struct ctx *c, const char *const *finding_ids, size_t n)
{
    json_t *f = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct joule_finding *x = joule_finding_find(finding_ids[i]);
        if (x)
            json_array_append_new(f, json_pack("{s:s, s:s, s:s, s:s}", "id", x->id, "title",
                                               x->title, "figure", x->figure, "source", x->source));
    }
    json_t *cal = json_pack("{s:b, s:I, s:f}", "calibrated", c->n_pts > 0, "experiments",
                            (json_int_t)c->n_pts, "scale", c->scale);
    json_object_set_new(cal, "rms_residual", isfinite(c->rms) ? json_real(c->rms) : json_null());
    json_object_set_new(cal, "note", json_string(c->calib));
    return json_pack("{s:{s:s, s:s, s:f}, s:{s:s, s:s, s:s}, s:o, s:o}", "shape", "name",
                     c->shape.name, "origin", c->shape.origin, "params", c->shape.n_params,
                     "device", "id", c->dev->id, "name", c->dev->name, "note", c->dev_note, "model",
                     cal, "findings", f);
}

static json_t *prediction_json(const struct joule_prediction *p)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b, s:i, s:b}",
                     "throughput_tok_s", p->throughput_tok_s, "latency_s", p->latency_s,
                     "j_per_1k_out_tokens", p->j_per_1k_out, "j_per_request", p->j_per_request,
                     "tokens_per_joule", p->tokens_per_joule, "power_w", p->power_w, "utilisation",
                     p->util, "memory_gb", p->mem_bytes / 1e9, "step_s", p->step_s, "fits", p->fits,
                     "max_batch", (int)p->max_batch, "memory_bound", p->memory_bound);
}

/* --- optimize ------------------------------------------------------------------ */

struct choice {
    const struct joule_prec *p;
    int32_t batch;
    struct joule_prediction pr;
};

/* Batch sizes a use case admits: interactive serves one user at a time
 * (batching only concurrent users), an API batches, offline jobs batch
 * deep. */
static void batch_range(const char *use, int32_t *lo, int32_t *hi)
{
    if (strcmp(use, "interactive") == 0) {
        *lo = 1;
        *hi = 4;
    } else if (strcmp(use, "batch") == 0) {
        *lo = 32;
        *hi = 64;
    } else {
        *lo = 8;
        *hi = 32;
    }
}

static int optimize(struct ctx *c)
{
    const struct adv_opts *o = c->o;
    const char *use = o->use_case ? o->use_case : "api";
    if (strcmp(use, "interactive") && strcmp(use, "api") && strcmp(use, "batch"))
        return cli_usage_error(CMD, "unknown use case '%s' (interactive, api, batch)", use);
    int32_t lo, hi;
    batch_range(use, &lo, &hi);
    if (o->batch_set)
        lo = hi = (int32_t)o->batch;
    const bool small = c->shape.n_params <= 3.5e9;
    struct choice best;
    memset(&best, 0, sizeof(best));
    char rejected[1024] = "";
    for (size_t i = 0; joule_prec_at(i); i++) {
        const struct joule_prec *p = joule_prec_at(i);
        char why[256];
        if (o->precision && p != joule_prec_find(o->precision))
            continue;
        if (joule_prec_refusal(c->dev, p, why, sizeof(why)) || strcmp(p->id, "fp32") == 0 ||
            strcmp(p->id, "fp8") == 0)
            continue;
        /* Never the default INT8: its decomposition is the documented trap. */
        if (strcmp(p->id, "int8-mixed") == 0 && !o->precision)
            continue;
        if (accuracy_cost(p) > o->tolerance + 1e-12) {
            size_t l = strlen(rejected);
            joule_fmt(rejected + l, sizeof(rejected) - l, "%s%s (typical accuracy cost %.1f%%)",
                      l ? ", " : "", p->label, 100 * accuracy_cost(p));
            continue;
        }
        if (small && strcmp(p->id, "nf4") == 0 && !o->precision)
            continue; /* finding nf4-small */
        for (int32_t b = lo; b <= hi; b *= 2) {
            struct choice ch;
            memset(&ch, 0, sizeof(ch));
            ch.p = p;
            ch.batch = b;
            predict(c, p, b, &ch.pr);
            if (!ch.pr.fits)
                break;
            if (isfinite(o->latency_ms) && ch.pr.latency_s * 1000 > o->latency_ms)
                break;
            if (!best.p || ch.pr.j_per_1k_out < best.pr.j_per_1k_out)
                best = ch;
        }
    }
    if (!best.p) {
        /* Nothing fits: say what would -- the precisions that fit at batch
         * 1 and their largest batch. */
        struct joule_prediction pr;
        const struct joule_prec *asked = o->precision ? joule_prec_find(o->precision) : NULL;
        predict(c, asked ? asked : default_prec(c), 1, &pr);
        char fits[512] = "";
        for (size_t i = 0; joule_prec_at(i); i++) {
            const struct joule_prec *p = joule_prec_at(i);
            char why[256];
            struct joule_prediction q;
            if (joule_prec_refusal(c->dev, p, why, sizeof(why)) ||
                strcmp(p->id, "int8-mixed") == 0)
                continue;
            predict(c, p, 1, &q);
            size_t l = strlen(fits);
            if (q.fits)
                joule_fmt(fits + l, sizeof(fits) - l, "%s%s (%.1f GB, up to batch %d)",
                          l ? ", " : "", p->label, q.mem_bytes / 1e9, q.max_batch);
        }
        fprintf(stderr,
                "joule advise: no configuration fits the %s (%.0f GB) within the limits "
                "given: %s needs %.1f GB at batch 1 in %s%s\n"
                "joule advise: precisions that fit: %s\n",
                c->dev->name, c->dev->mem_gb, c->shape.name, pr.mem_bytes / 1e9,
                (asked ? asked : default_prec(c))->label,
                isfinite(o->latency_ms) ? "; or the latency target is too tight" : "",
                fits[0] ? fits : "none: a larger device, or several");
        return CLI_USAGE;
    }
    struct joule_prediction b1, ref;
    predict(c, best.p, 1, &b1);
    predict(c, default_prec(c), best.batch, &ref); /* the baseline at the same batch */
    const struct monthly m = month_of(c, best.pr.j_per_request);
    const char *fids[4];
    size_t nf = 0;
    fids[nf++] = "batch-size";
    fids[nf++] = "int8-decomposition";
    if (small || strcmp(best.p->id, "nf4") == 0)
        fids[nf++] = "nf4-small";
    fids[nf++] = "power-not-energy";
    const struct joule_calib_point *ms = measured(c, best.p, best.batch);
    if (o->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s}", "command", "optimize", "use_case", use,
                      "precision", best.p->id, "batch_size", (int)best.batch, "input_tokens",
                      (int)o->n_in, "output_tokens", (int)o->n_out, "source", source_label(c));
        json_object_set_new(j, "expected", prediction_json(&best.pr));
        if (ms)
            json_object_set_new(j, "measured",
                                json_pack("{s:I, s:f, s:f}", "experiment_id", (json_int_t)ms->id,
                                          "j_per_1k_out_tokens", ms->measured, "throughput_tok_s",
                                          ms->throughput));
        json_object_set_new(j, "monthly",
                            json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "requests",
                                      o->requests, "kwh", m.kwh, "cost_usd", m.cost, "kg_co2",
                                      m.kg_co2, "price_usd_per_kwh", c->price, "g_co2_per_kwh",
                                      c->intensity, "pue", c->pue));
        json_object_set_new(j, "batch1_j_per_1k_out_tokens", json_real(b1.j_per_1k_out));
        json_object_set_new(j, "sources", sources_json(c, fids, nf));
        cli_print_json(j);
        return CLI_OK;
    }
    printf("## Recommended Configuration\n");
    printf("- Model: %s (%.2g B parameters)\n", c->shape.name, c->shape.n_params / 1e9);
    printf("- %s: %s (%s, %.0f GB)\n", c->dev->kind == JOULE_HW_GPU ? "GPU" : "CPU", c->dev->name,
           c->dev->arch, c->dev->mem_gb);
    printf("- Precision: %s\n- Batch size: %d\n", best.p->label, best.batch);
    printf("- Sequence length: %u input tokens -> generation: %u tokens\n", o->n_in, o->n_out);
    printf("- Use case: %s\n", use);
    printf("\n## Performance Metrics (%s)\n", source_label(c));
    printf("- Throughput: %.0f tok/s (the batch's output tokens)\n", best.pr.throughput_tok_s);
    printf("- Latency: %.0f ms/request (batch %d)\n", 1000 * best.pr.latency_s, best.batch);
    printf("- Utilisation: %.0f%% of the device's roofline during decode (%s-bound)\n",
           100 * best.pr.util, best.pr.memory_bound ? "memory" : "compute");
    printf("- Memory: %.1f GB of %.0f GB (largest batch that fits: %d)\n", best.pr.mem_bytes / 1e9,
           c->dev->mem_gb, best.pr.max_batch);
    printf("\n## Energy & Efficiency (%s)\n", source_label(c));
    printf("- Energy per 1k output tokens: %.4g J\n", best.pr.j_per_1k_out);
    printf("- Energy per request: %.4g J (for %u output tokens)\n", best.pr.j_per_request,
           o->n_out);
    printf("- Energy efficiency: %.3g tokens/J\n", best.pr.tokens_per_joule);
    printf("- Power draw: %.0f W average during decode\n", best.pr.power_w);
    if (ms)
        printf("- Measured (experiment %lld): %.4g J per 1k output tokens, %.0f tok/s\n",
               (long long)ms->id, ms->measured, ms->throughput);
    printf("\n## Cost & Carbon (Monthly Estimates)\n");
    printf("- For %.0f requests/month (PUE %.2g):\n", o->requests, c->pue);
    printf("  - Energy: %.4g kWh\n  - Cost: $%.2f (at $%.3g/kWh)\n  - Carbon: %.4g kgCO2 (at "
           "%.0f gCO2/kWh)\n",
           m.kwh, m.cost, c->price, m.kg_co2, c->intensity);
    printf("\n## Why This Configuration\n");
    printf("- Of the precisions within the accuracy tolerance (%.1f%%) and the batch sizes of "
           "the %s use case (%d to %d) that fit in memory%s, this one has the lowest energy per "
           "output token in the model.\n",
           100 * o->tolerance, use, lo, hi,
           isfinite(o->latency_ms) ? " and meet the latency target" : "");
    if (rejected[0])
        printf("- Left out for accuracy: %s.\n", rejected);
    if (small)
        printf("- %.2g B parameters is small: no memory pressure, so quantization mostly adds "
               "dequantization work (finding nf4-small).\n",
               c->shape.n_params / 1e9);
    printf("\n## Optimization Insights\n");
    if (best.batch > 1)
        printf("- Batch %d instead of 1: %.0f%% less energy per token (%.4g -> %.4g J/1k) "
               "(finding batch-size).\n",
               best.batch, 100 * (1 - best.pr.j_per_1k_out / b1.j_per_1k_out), b1.j_per_1k_out,
               best.pr.j_per_1k_out);
    if (default_prec(c) != best.p)
        printf("- Against %s at the same batch: %+.0f%% energy per token (%.4g J/1k).\n",
               default_prec(c)->label, 100 * (best.pr.j_per_1k_out / ref.j_per_1k_out - 1),
               ref.j_per_1k_out);
    printf("- Energy per token falls with batch size until the device turns compute-bound; "
           "this device reaches it near batch %d for this model.\n",
           (int)fmax(1, fmin(best.pr.max_batch,
                             c->dev->fp16 * 1e12 * 0.6 /
                                 (2 * c->dev->bw_gbs * 1e9 * 0.8 / best.p->bytes_per_weight))));
    printf("\n## Warning: Avoid These Pitfalls\n");
    printf("- bitsandbytes `load_in_8bit=True` at its default threshold: +17-147%% energy; set "
           "`llm_int8_threshold=0.0` (finding int8-decomposition).\n");
    if (small)
        printf("- 4-bit (NF4) loading of a model this small: +11-29%% energy (finding "
               "nf4-small).\n");
    printf("- Lower power is not lower energy: compare joules per token (finding "
           "power-not-energy).\n");
    print_sources(c, fids, nf);
    printf("\nCheck it on your own hardware: `joule compare -m MODEL --precisions ... --batch "
           "...` measures energy and accuracy side by side.\n");
    return CLI_OK;
}

/* --- compare ------------------------------------------------------------------- */

static int compare(struct ctx *c)
{
    const struct adv_opts *o = c->o;
    const char *def =
        c->dev->kind == JOULE_HW_GPU ? "fp16,nf4,int8-mixed,int8" : "q8_0,q6_k,q4_k_m,q4_0";
    char list[256];
    joule_strlcpy(list, o->precisions ? o->precisions : def, sizeof(list));
    const struct joule_prec *ps[16];
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < JOULE_ARRAY_LEN(ps); tok = strtok(NULL, ",")) {
        if (!(ps[n] = joule_prec_find(tok)))
            return cli_usage_error(CMD, "unknown precision '%s'", tok);
        char why[256];
        if (joule_prec_refusal(c->dev, ps[n], why, sizeof(why))) {
            fprintf(stderr, "joule advise: %s\n", why);
            return CLI_USAGE;
        }
        n++;
    }
    struct joule_prediction pr[16];
    const struct joule_calib_point *ms[16] = {NULL};
    double e[16] = {0};
    for (size_t i = 0; i < n; i++) {
        predict(c, ps[i], (int32_t)o->batch, &pr[i]);
        ms[i] = measured(c, ps[i], (int32_t)o->batch);
        e[i] = ms[i] ? ms[i]->measured : pr[i].j_per_1k_out;
    }
    int rank[16];
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        rank[i] = 1;
        for (size_t j = 0; j < n; j++)
            rank[i] += e[j] < e[i];
        if (e[i] < e[best])
            best = i;
    }
    const char *fids[] = {"int8-decomposition", "int8-pure", "nf4-small", "power-not-energy"};
    if (o->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *r = prediction_json(&pr[i]);
            json_object_set_new(r, "precision", json_string(ps[i]->id));
            json_object_set_new(r, "energy_source",
                                json_string(ms[i] ? "measured" : source_label(c)));
            json_object_set_new(r, "j_per_1k_out_tokens", json_real(e[i]));
            if (ms[i])
                json_object_set_new(r, "experiment_id", json_integer(ms[i]->id));
            json_object_set_new(r, "delta_energy_vs_first", json_real(e[i] / e[0] - 1));
            json_object_set_new(r, "rank_energy", json_integer(rank[i]));
            json_array_append_new(a, r);
        }
        json_t *j = json_pack("{s:s, s:i, s:o, s:s}", "command", "compare", "batch_size",
                              (int)o->batch, "precisions", a, "recommended", ps[best]->id);
        json_object_set_new(j, "sources", sources_json(c, fids, JOULE_ARRAY_LEN(fids)));
        cli_print_json(j);
        return CLI_OK;
    }
    printf("## Comparison: %s (%.2g B params) on %s, batch %u\n\n", c->shape.name,
           c->shape.n_params / 1e9, c->dev->name, o->batch);
    printf("| Metric |");
    for (size_t i = 0; i < n; i++)
        printf(" %s |", ps[i]->label);
    printf("\n|---|");
    for (size_t i = 0; i < n; i++)
        printf("---|");
    printf("\n");
#define ROW(label, fmt, expr)                                                                      \
    do {                                                                                           \
        printf("| %s |", label);                                                                   \
        for (size_t i = 0; i < n; i++)                                                             \
            printf(" " fmt " |", expr);                                                            \
        printf("\n");                                                                              \
    } while (0)
    ROW("Throughput (tok/s)", "%.0f", ms[i] ? ms[i]->throughput : pr[i].throughput_tok_s);
    ROW("Energy (J/1k tok)", "%.4g", e[i]);
    ROW("Delta energy vs first", "%+.0f%%", 100 * (e[i] / e[0] - 1));
    ROW("Energy efficiency (tok/J)", "%.3g", 1000 / e[i]);
    ROW("Memory (GB)", "%.1f", pr[i].mem_bytes / 1e9);
    ROW("Latency (ms/req)", "%.0f", 1000 * pr[i].latency_s);
    ROW("Power draw (W avg)", "%.0f", pr[i].power_w);
    ROW("**Rank (energy)**", "%d", rank[i]);
    ROW("Source", "%s", ms[i] ? "measured" : source_label(c));
#undef ROW
    printf("\n## Recommendation\n**Use %s** for this configuration: the lowest energy per "
           "output token of the columns (%s).\n",
           ps[best]->label, ms[best] ? "measured" : source_label(c));
    printf("\n## Paradox Warnings\n");
    for (size_t i = 0; i < n; i++) {
        const struct joule_finding *f = ps[i]->finding ? joule_finding_find(ps[i]->finding) : NULL;
        if (f)
            printf("- **%s**: %s (finding `%s`). Fix: %s.\n", ps[i]->label, f->figure, f->id,
                   f->fix);
    }
    printf("- Accuracy is not in this table: validate a precision on your task with `joule "
           "compare --task`.\n");
    print_sources(c, fids, JOULE_ARRAY_LEN(fids));
    return CLI_OK;
}

/* --- estimate ------------------------------------------------------------------ */

static int estimate(struct ctx *c)
{
    const struct adv_opts *o = c->o;
    const struct joule_prec *p;
    int code = chosen_prec(c, &p);
    if (code != CLI_OK)
        return code;
    struct joule_prediction cur, opt;
    predict(c, p, (int32_t)o->batch, &cur);
    const struct joule_calib_point *ms = measured(c, p, (int32_t)o->batch);
    const double j_cur = ms ? ms->measured * o->n_out / 1000 : cur.j_per_request;
    /* The optimised configuration: the same precision unless it is the
     * documented trap, batched as deep as fits (at most 32). */
    const struct joule_prec *po = strcmp(p->id, "int8-mixed") == 0 ? joule_prec_find("int8") : p;
    int32_t bo = (int32_t)o->batch;
    for (int32_t b = bo; b <= 32; b *= 2) {
        struct joule_prediction t;
        predict(c, po, b, &t);
        if (!t.fits)
            break;
        bo = b;
    }
    predict(c, po, bo, &opt);
    const struct monthly mc = month_of(c, j_cur), mo = month_of(c, opt.j_per_request);
    const char *fids[] = {"batch-size", "int8-decomposition"};
    if (o->json) {
        json_t *j =
            json_pack("{s:s, s:f, s:i, s:i, s:f, s:f, s:f}", "command", "estimate", "requests",
                      o->requests, "input_tokens", (int)o->n_in, "output_tokens", (int)o->n_out,
                      "pue", c->pue, "price_usd_per_kwh", c->price, "g_co2_per_kwh", c->intensity);
        json_object_set_new(j, "current",
                            json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:s}", "precision", p->id,
                                      "batch_size", (int)o->batch, "j_per_request", j_cur, "kwh",
                                      mc.kwh, "cost_usd", mc.cost, "kg_co2", mc.kg_co2, "source",
                                      ms ? "measured" : source_label(c)));
        json_object_set_new(j, "optimized",
                            json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:s}", "precision", po->id,
                                      "batch_size", (int)bo, "j_per_request", opt.j_per_request,
                                      "kwh", mo.kwh, "cost_usd", mo.cost, "kg_co2", mo.kg_co2,
                                      "source", source_label(c)));
        json_object_set_new(j, "sources", sources_json(c, fids, JOULE_ARRAY_LEN(fids)));
        cli_print_json(j);
        return CLI_OK;
    }
    printf("## Monthly Estimate: %s on %s\n", c->shape.name, c->dev->name);
    printf("- Requests: %.0f/month, %u tokens in and %u out each\n", o->requests, o->n_in,
           o->n_out);
    printf("- Configuration: %s, batch %u (%s)\n", p->label, o->batch,
           ms ? "measured" : source_label(c));
    printf("- kWh = J/request x requests x PUE %.2g / 3.6e6; cost at $%.3g/kWh; carbon at %.0f "
           "gCO2/kWh\n\n",
           c->pue, c->price, c->intensity);
    printf("| Metric | Current Config | Optimized Config | Savings |\n|---|---|---|---|\n");
    printf("| Configuration | %s, batch %u | %s, batch %d | |\n", p->label, o->batch, po->label,
           bo);
    printf("| Energy per request (J) | %.4g | %.4g | %.0f%% |\n", j_cur, opt.j_per_request,
           100 * (1 - opt.j_per_request / j_cur));
    printf("| Energy (kWh) | %.4g | %.4g | %.0f%% |\n", mc.kwh, mo.kwh,
           100 * (1 - mo.kwh / mc.kwh));
    printf("| Cost ($) | %.2f | %.2f | $%.2f |\n", mc.cost, mo.cost, mc.cost - mo.cost);
    printf("| Carbon (kgCO2) | %.4g | %.4g | %.0f%% |\n", mc.kg_co2, mo.kg_co2,
           100 * (1 - mo.kg_co2 / mc.kg_co2));
    printf("\n## Optimization Breakdown\n");
    if (po != p)
        printf("- %s -> %s: no outlier decomposition (finding int8-decomposition).\n", p->label,
               po->label);
    if (bo != (int32_t)o->batch)
        printf("- Batch %u -> %d: one read of the weights serves %d requests (finding "
               "batch-size); the largest batch up to 32 that fits in %.0f GB.\n",
               o->batch, bo, bo, c->dev->mem_gb);
    if (po == p && bo == (int32_t)o->batch)
        printf("- Nothing to change within these limits.\n");
    print_sources(c, fids, JOULE_ARRAY_LEN(fids));
    return CLI_OK;
}

/* --- diagnose ------------------------------------------------------------------ */

static int diagnose(struct ctx *c)
{
    const struct adv_opts *o = c->o;
    const struct joule_prec *p;
    int code = chosen_prec(c, &p);
    if (code != CLI_OK)
        return code;
    if (!isfinite(o->throughput) && !isfinite(o->energy))
        return cli_usage_error(CMD, "diagnose needs what you observed: --throughput TOK_S "
                                    "and/or --energy J_PER_1K");
    struct joule_prediction ex;
    predict(c, p, (int32_t)o->batch, &ex);
    /* The user's own measurement of this configuration, when there is one. */
    const struct joule_calib_point *ms = measured(c, p, (int32_t)o->batch);
    const double d_tp = isfinite(o->throughput) ? o->throughput / ex.throughput_tok_s - 1 : NAN;
    const double d_e = isfinite(o->energy) ? o->energy / ex.j_per_1k_out - 1 : NAN;
    /* Known patterns, each with how well the observation fits it. */
    const char *pattern = "no known pattern", *fid = NULL, *conf = "LOW";
    if (strcmp(p->id, "int8-mixed") == 0) {
        pattern = "INT8 energy paradox (bitsandbytes decomposition)";
        fid = "int8-decomposition";
        conf = "HIGH";
    } else if (strcmp(p->id, "nf4") == 0 && c->shape.n_params <= 3.5e9) {
        pattern = "NF4 small-model penalty";
        fid = "nf4-small";
        conf = "HIGH";
    } else if (o->batch == 1) {
        pattern = "batch size 1 waste";
        fid = "batch-size";
        conf = "MEDIUM";
    }
    if ((isfinite(d_e) && d_e > 0.5) || (isfinite(d_tp) && d_tp < -0.33)) {
        if (!fid)
            conf = "LOW";
    } else if (fid && strcmp(conf, "HIGH") == 0 && (isfinite(d_e) || isfinite(d_tp))) {
        conf = "MEDIUM"; /* the configuration matches, the numbers do not stand out */
    }
    /* Fixes ranked by what the model expects each to save. */
    struct fix {
        const char *what;
        double j;
    } fixes[3];
    size_t nfix = 0;
    struct joule_prediction t;
    if (strcmp(p->id, "int8-mixed") == 0) {
        predict(c, joule_prec_find("int8"), (int32_t)o->batch, &t);
        fixes[nfix++] = (struct fix){"set llm_int8_threshold=0.0 (pure INT8)", t.j_per_1k_out};
    }
    if (p != default_prec(c)) {
        predict(c, default_prec(c), (int32_t)o->batch, &t);
        fixes[nfix++] =
            (struct fix){c->dev->kind == JOULE_HW_GPU ? "use FP16" : "use Q8_0", t.j_per_1k_out};
    }
    if (o->batch < 8) {
        predict(c, p, 8, &t);
        if (t.fits)
            fixes[nfix++] = (struct fix){"batch concurrent requests (batch 8)", t.j_per_1k_out};
    }
    for (size_t i = 0; i < nfix; i++)
        for (size_t j = i + 1; j < nfix; j++)
            if (fixes[j].j < fixes[i].j) {
                struct fix x = fixes[i];
                fixes[i] = fixes[j];
                fixes[j] = x;
            }
    const double now = isfinite(o->energy) ? o->energy : ex.j_per_1k_out;
    const char *fids[1] = {fid ? fid : "power-not-energy"};
    if (o->json) {
        json_t *fx = json_array();
        for (size_t i = 0; i < nfix; i++)
            json_array_append_new(fx, json_pack("{s:s, s:f, s:f}", "fix", fixes[i].what,
                                                "expected_j_per_1k_out_tokens", fixes[i].j,
                                                "expected_change", fixes[i].j / now - 1));
        json_t *j = json_pack("{s:s, s:s, s:s, s:o}", "command", "diagnose", "pattern", pattern,
                              "confidence", conf, "fixes", fx);
        json_object_set_new(j, "expected", prediction_json(&ex));
        json_object_set_new(j, "throughput_deviation",
                            isfinite(d_tp) ? json_real(d_tp) : json_null());
        json_object_set_new(j, "energy_deviation", isfinite(d_e) ? json_real(d_e) : json_null());
        if (ms)
            json_object_set_new(j, "measured",
                                json_pack("{s:I, s:f, s:f}", "experiment_id", (json_int_t)ms->id,
                                          "j_per_1k_out_tokens", ms->measured,
                                          "throughput_tok_s", ms->throughput));
        json_object_set_new(j, "sources", sources_json(c, fids, 1));
        cli_print_json(j);
        return CLI_OK;
    }
    const struct joule_finding *f = fid ? joule_finding_find(fid) : NULL;
    printf("## Diagnosis\n- Detected pattern: %s\n- Confidence: %s\n", pattern, conf);
    if (f)
        printf("- Root cause: %s\n", f->detail);
    printf("\n## Evidence\n");
    if (isfinite(o->throughput))
        printf("- Your reported throughput: %.4g tok/s; expected (%s): %.4g tok/s (%+.0f%%)\n",
               o->throughput, source_label(c), ex.throughput_tok_s, 100 * d_tp);
    if (isfinite(o->energy))
        printf("- Your reported energy: %.4g J/1k tok; expected (%s): %.4g J/1k tok (%+.0f%%)\n",
               o->energy, source_label(c), ex.j_per_1k_out, 100 * d_e);
    if (ms)
        printf("- Measured here (experiment %lld, this configuration): %.4g tok/s, %.4g J/1k tok\n",
               (long long)ms->id, ms->throughput, ms->measured);
    else
        printf("- Measured here: nothing yet for %s at batch %u on this device (joule run, then "
               "--db)\n",
               p->label, o->batch);
    if (f)
        printf("- Pattern data: %s (%s)\n", f->figure, f->source);
    printf("\n## Recommended Fix (Priority Order)\n");
    for (size_t i = 0; i < nfix; i++)
        printf("%zu. %s\n   Expected impact: %.4g J/1k tok (%+.0f%%, %s)\n", i + 1, fixes[i].what,
               fixes[i].j, 100 * (fixes[i].j / now - 1), source_label(c));
    if (!nfix)
        printf("No configuration change is expected to help: measure with `joule run` and "
               "compare with `joule advise compare`.\n");
    printf("\n## Verification Steps\n1. Apply the fix and measure it: `joule run` (or `joule "
           "measure -- your command`).\n2. Compare joules per 1k output tokens, not watts.\n");
    print_sources(c, fids, 1);
    return CLI_OK;
}

/* --- audit ---------------------------------------------------------------------- */

static int audit(const struct adv_opts *o)
{
    if (o->n_paths == 0)
        return cli_usage_error(CMD, "audit needs files or directories to scan");
    const bool text = strcmp(o->format, "text") == 0, sarif = strcmp(o->format, "sarif") == 0;
    if (!text && !sarif && strcmp(o->format, "json") != 0)
        return cli_usage_error(CMD, "--format must be text, json or sarif");
    struct joule_audit a = {0};
    char err[1200];
    for (int i = 0; i < o->n_paths; i++) {
        enum joule_status st = joule_audit_path(&a, o->paths[i], err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule advise: %s\n", err);
            joule_audit_free(&a);
            return cli_exit_for(st);
        }
    }
    size_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < a.n; i++)
        count[a.items[i].severity]++;
    if (sarif || (!text || o->json)) {
        json_t *res = json_array();
        for (size_t i = 0; i < a.n; i++) {
            const struct joule_audit_item *it = &a.items[i];
            if (sarif) {
                const char *lvl = it->severity == JOULE_SEV_CRITICAL  ? "error"
                                  : it->severity == JOULE_SEV_WARNING ? "warning"
                                                                      : "note";
                json_array_append_new(
                    res,
                    json_pack("{s:s, s:s, s:{s:s}, s:[{s:{s:{s:s}, s:{s:i, s:i}}}]}", "ruleId",
                              it->rule, "level", lvl, "message", "text", it->message, "locations",
                              "physicalLocation", "artifactLocation", "uri", it->file, "region",
                              "startLine", (int)it->line, "startColumn", (int)it->column));
            } else {
                json_array_append_new(
                    res, json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "file", it->file,
                                   "line", (int)it->line, "column", (int)it->column, "severity",
                                   joule_severity_name(it->severity), "rule", it->rule, "message",
                                   it->message, "impact", it->impact, "fix", it->fix));
            }
        }
        json_t *j;
        if (sarif)
            j = json_pack("{s:s, s:s, s:[{s:{s:{s:s, s:s}}, s:o}]}", "$schema",
                          "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0",
                          "runs", "tool", "driver", "name", "joule advise audit", "informationUri",
                          "docs/cli/joule-advise.md", "results", res);
        else
            j = json_pack("{s:i, s:o, s:{s:i, s:i, s:i}}", "files", (int)a.files, "findings", res,
                          "counts", "critical", (int)count[2], "warning", (int)count[1], "info",
                          (int)count[0]);
        cli_print_json(j);
    } else {
        printf("## Audit Results (%zu file%s)\n", a.files, a.files == 1 ? "" : "s");
        static const char *const head[] = {"### Info", "### Warnings", "### Critical Issues"};
        for (int sev = 2; sev >= 0; sev--) {
            printf("\n%s\n", head[sev]);
            if (!count[sev])
                printf("- none\n");
            for (size_t i = 0; i < a.n; i++) {
                const struct joule_audit_item *it = &a.items[i];
                if ((int)it->severity == sev)
                    printf("- %s:%d:%d [%s] %s\n  impact: %s\n  fix: %s\n", it->file, it->line,
                           it->column, it->rule, it->message, it->impact, it->fix);
            }
        }
        printf("\n%zu critical, %zu warning%s, %zu info\n", count[2], count[1],
               count[1] == 1 ? "" : "s", count[0]);
    }
    int rc = count[2] ? CLI_RUNTIME : CLI_OK; /* a critical finding fails CI */
    joule_audit_free(&a);
    return rc;
}

/* --- listings -------------------------------------------------------------------- */

static int list(const struct adv_opts *o)
{
    json_t *a = json_array();
    if (strcmp(o->sub, "devices") == 0) {
        if (!o->json)
            printf("%-16s %-44s %-10s %7s %8s %6s %6s %8s %8s\n", "id", "name", "arch", "mem GB",
                   "GB/s", "TDP W", "idle W", "FP16 TF", "INT8 TO");
        for (size_t i = 0; joule_hw_at(i); i++) {
            const struct joule_hw *h = joule_hw_at(i);
            if (o->json)
                json_array_append_new(
                    a, json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
                                 "s:f}",
                                 "id", h->id, "name", h->name, "arch", h->arch, "kind",
                                 h->kind == JOULE_HW_GPU ? "gpu" : "cpu", "memory_gb", h->mem_gb,
                                 "bandwidth_gbs", h->bw_gbs, "tdp_w", h->tdp_w, "idle_w", h->idle_w,
                                 "fp32_tflops", h->fp32, "fp16_tflops", h->fp16, "bf16_tflops",
                                 h->bf16, "fp8_tflops", h->fp8, "int8_tops", h->int8));
            else
                printf("%-16s %-44s %-10s %7.0f %8.0f %6.0f %6.0f %8.4g %8.4g\n", h->id, h->name,
                       h->arch, h->mem_gb, h->bw_gbs, h->tdp_w, h->idle_w, h->fp16, h->int8);
        }
    } else if (strcmp(o->sub, "precisions") == 0) {
        for (size_t i = 0; joule_prec_at(i); i++) {
            const struct joule_prec *p = joule_prec_at(i);
            if (o->json)
                json_array_append_new(a, json_pack("{s:s, s:s, s:f, s:f, s:s?}", "id", p->id,
                                                   "label", p->label, "bytes_per_weight",
                                                   p->bytes_per_weight, "kernel_efficiency",
                                                   p->kernel_eff, "finding", p->finding));
            else
                printf("%-12s %-28s %6.3f bytes/weight  kernel efficiency %.2f%s%s\n", p->id,
                       p->label, p->bytes_per_weight, p->kernel_eff, p->finding ? "  finding " : "",
                       p->finding ? p->finding : "");
        }
    } else {
        for (size_t i = 0; joule_finding_at(i); i++) {
            const struct joule_finding *f = joule_finding_at(i);
            if (o->json)
                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", f->id,
                                                   "title", f->title, "figure", f->figure, "detail",
                                                   f->detail, "fix", f->fix, "source", f->source));
            else
                printf("%s: %s\n  %s\n  %s\n  fix: %s\n  source: %s\n\n", f->id, f->title,
                       f->figure, f->detail, f->fix, f->source);
        }
    }
    if (o->json)
        cli_print_json(a);
    else
        json_decref(a);
    return CLI_OK;
}

int cmd_advise(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct adv_opts o;
    memset(&o, 0, sizeof(o));
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help || !o.sub) {
        for (int k = 0; usage[k]; k++)
            fprintf(o.help ? stdout : stderr, "%s\n", usage[k]);
        return o.help ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(o.sub, "audit") == 0)
        return audit(&o);
    if (o.n_paths)
        return cli_usage_error(CMD, "unexpected argument '%s'", o.paths[0]);
    if (!strcmp(o.sub, "devices") || !strcmp(o.sub, "precisions") || !strcmp(o.sub, "findings"))
        return list(&o);
    static const char *const subs[] = {"optimize", "diagnose", "compare", "estimate"};
    size_t k = 0;
    while (k < JOULE_ARRAY_LEN(subs) && strcmp(subs[k], o.sub) != 0)
        k++;
    if (k == JOULE_ARRAY_LEN(subs))
        return cli_usage_error(CMD,
                               "unknown command '%s' (optimize, diagnose, compare, estimate, "
                               "audit, devices, precisions, findings)",
                               o.sub);
    struct ctx c;
    rc = context(&o, &c, true);
    if (rc == CLI_OK && c.dev_note[0] && !o.json)
        fprintf(stderr, "joule advise: %s\n", c.dev_note);
    if (rc == CLI_OK) {
        switch (k) {
        case 0:
            rc = optimize(&c);
            break;
        case 1:
            rc = diagnose(&c);
            break;
        case 2:
            rc = compare(&c);
            break;
        default:
            rc = estimate(&c);
            break;
        }
    }
    free(c.pts);
    return rc;
}
