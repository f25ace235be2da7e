/*
 * advise.h - the advisor (seed 004, EcoCompute): deployment decisions from
 * three named sources, never mixed without saying so:
 *
 *   measured  the user's own experiments in the results database;
 *   model     an analytic roofline model of inference (model.c), calibrated
 *             to those measurements when some ran on the same device;
 *   finding   documented results from the literature (findings.c), each
 *             with its figure and source.
 *
 * hardware.c holds the device table (docs/hardware.md gives the source of
 * every figure), audit.c scans code and configs for known pitfalls.  The
 * command (src/cli/cmd_advise.c) turns these into the seed's sections.
 */
#ifndef JOULE_ADVISE_H
#define JOULE_ADVISE_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

/* --- devices (hardware.c) ---------------------------------------------------- */

enum joule_hw_kind { JOULE_HW_GPU = 0, JOULE_HW_CPU = 1 };

struct joule_hw {
    const char *id;   /* "a100-80gb": what --gpu takes */
    const char *name; /* "NVIDIA A100 80GB SXM" */
    const char *arch; /* "ampere" */
    enum joule_hw_kind kind;
    double mem_gb; /* device memory (GPU) or a typical RAM size (CPU class) */
    double bw_gbs; /* memory bandwidth, GB/s */
    double tdp_w;  /* board power limit (GPU) or package TDP (CPU) */
    double idle_w; /* typical idle power: an estimate, measure your own */
    /* Peak dense throughput, TFLOPS (TOPS for INT8), as frameworks use it
     * (FP32 accumulation); 0: the device has no fast path for the type. */
    double fp32, fp16, bf16, fp8, int8;
    const char *match; /* lower-case substrings of NVML / CPU names, '|'-separated */
};

/* Row i of the table (NULL past the end). */
const struct joule_hw *joule_hw_at(size_t i);

/* The device named name (id, or a spelling such as "RTX 4090", "A100 80GB",
 * "h100 sxm").  When no entry matches, the closest one of the same
 * architecture family ("h800" -> H100 SXM) is returned and why[] says so;
 * NULL when nothing is close (why[] lists the known ids). */
const struct joule_hw *joule_hw_find(const char *name, char *why, size_t why_size);

/* --- model shapes and precisions (model.c) ------------------------------------ */

struct joule_shape {
    char name[128];
    char origin[160];      /* "GGUF file", "built-in shape", "inferred from 7B" */
    double n_params;       /* every weight */
    double compute_params; /* weights every token multiplies (no lookup table) */
    int32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
};

/* The shape of spec: a GGUF file, a built-in shape ("mistral-7b"), a model
 * id naming a known family ("mistralai/Mistral-7B-Instruct-v0.2"), or one
 * with a parameter count ("my-13B", "13b", "1.5e9"), whose layers are then
 * inferred (said in origin).  JOULE_ERR_NOT_FOUND with a message when none
 * of these fits. */
enum joule_status joule_shape_resolve(const char *spec, struct joule_shape *out, char *err,
                                      size_t err_size);

enum joule_dtype { JOULE_DT_FP32, JOULE_DT_FP16, JOULE_DT_BF16, JOULE_DT_FP8, JOULE_DT_INT8 };

struct joule_prec {
    const char *id;           /* "fp16", "int8-mixed", "q4_k_m" */
    const char *label;        /* "FP16", "INT8 (default, threshold 6)" */
    double bytes_per_weight;  /* storage, scales included */
    enum joule_dtype compute; /* the peak the products run at */
    /* Achieved fraction of the roofline by the usual kernels of this format,
     * relative to FP16's (1): dequantization and decomposition overheads.
     * An assumption, documented with its finding in docs/cli/joule-advise.md;
     * calibration to measurements corrects the whole model. */
    double kernel_eff;
    const char *finding; /* id of the finding it comes from, or NULL */
};

/* The precision named name ("fp16", "int8_default" = "int8-mixed",
 * "int8_pure" = "int8", "nf4", GGUF types "q8_0" ...), or NULL. */
const struct joule_prec *joule_prec_find(const char *name);

/* Row i of the precision table (NULL past the end). */
const struct joule_prec *joule_prec_at(size_t i);

/* Why dev cannot run p ("BF16 needs Ampere or newer: the V100 has no BF16
 * units"), or NULL when it can. */
const char *joule_prec_refusal(const struct joule_hw *dev, const struct joule_prec *p, char *buf,
                               size_t size);

struct joule_workload {
    int32_t batch; /* requests decoded together */
    int32_t n_in;  /* prompt tokens per request */
    int32_t n_out; /* generated tokens per request */
};

/* What the model predicts for one configuration. */
struct joule_prediction {
    double weight_bytes;     /* stored weights */
    double kv_bytes_token;   /* KV cache per position (F16) */
    double mem_bytes;        /* weights + KV cache of the batch + runtime reserve */
    int fits;                /* mem_bytes within the device's memory */
    int32_t max_batch;       /* the largest batch that fits (0: not even one) */
    double prefill_s;        /* the batch's prompts */
    double step_s;           /* one decode step of the batch */
    int memory_bound;        /* decode limited by bandwidth, not compute */
    double util;             /* decode: fraction of the roofline reached */
    double power_w;          /* decode power: idle + (TDP - idle) x (0.6 + 0.4 util) */
    double latency_s;        /* a request: prefill + n_out steps */
    double throughput_tok_s; /* output tokens per second of the batch */
    double j_per_request;
    double j_per_1k_out; /* joules per 1000 output tokens */
    double tokens_per_joule;
    double scale; /* calibration factor applied (1: uncalibrated) */
};

/* Predicts w on dev with shape s at precision p (energy includes the idle
 * power: gross, as a meter reads it).  scale multiplies time and energy
 * (1 uncalibrated). */
void joule_model_predict(const struct joule_hw *dev, const struct joule_shape *s,
                         const struct joule_prec *p, const struct joule_workload *w, double scale,
                         struct joule_prediction *out);

/* Least-squares scale k minimising sum (measured_i - k predicted_i)^2 over
 * n pairs; *rms_rel gets the root-mean-square relative residual after
 * scaling.  1 when n == 0. */
double joule_model_fit_scale(const double *predicted, const double *measured, size_t n,
                             double *rms_rel);

/* Experiments of the store that ran on dev, with what the model predicts
 * for each and what was measured (J per 1k output tokens). */
struct joule_calib_point {
    int64_t id;
    char precision[32];
    int32_t batch;
    double predicted, measured;
    double throughput; /* measured output tokens/s */
};

/* Reads the completed experiments of s whose devices (meter and
 * environment) match dev, for which a shape and precision are known, into
 * a new array *pts (free it) of *n points. */
enum joule_status joule_calib_points(struct joule_store *s, const struct joule_hw *dev,
                                     struct joule_calib_point **pts, size_t *n);

/* --- findings (findings.c) -------------------------------------------------- */

struct joule_finding {
    const char *id;     /* "int8-decomposition" */
    const char *title;  /* "bitsandbytes INT8 at its default threshold" */
    const char *figure; /* "+17-147% energy vs FP16" */
    const char *detail; /* the mechanism, one or two sentences */
    const char *fix;    /* "set llm_int8_threshold=0.0" */
    const char *source; /* who measured it, where */
};

const struct joule_finding *joule_finding_at(size_t i);
const struct joule_finding *joule_finding_find(const char *id);

/* --- audit (audit.c) ------------------------------------------------------------ */

enum joule_severity { JOULE_SEV_INFO = 0, JOULE_SEV_WARNING = 1, JOULE_SEV_CRITICAL = 2 };

struct joule_audit_item {
    char file[1024];
    int32_t line, column;
    enum joule_severity severity;
    const char *rule;    /* "int8-default-threshold" */
    const char *message; /* what is wrong */
    const char *impact;  /* expected effect, with the finding's figure */
    const char *fix;
};

struct joule_audit {
    struct joule_audit_item *items;
    size_t n, cap;
    size_t files; /* files scanned */
};

/* Scans path (a file, or a directory walked for .py, .yaml, .yml and .json
 * files) and appends what it finds to a.  Errors (an unreadable path) come
 * back with a message. */
enum joule_status joule_audit_path(struct joule_audit *a, const char *path, char *err,
                                   size_t err_size);

/* Scans one text already read (name is used in the items). */
enum joule_status joule_audit_text(struct joule_audit *a, const char *name, const char *text,
                                   size_t len);

void joule_audit_free(struct joule_audit *a);

const char *joule_severity_name(enum joule_severity s);

#endif /* JOULE_ADVISE_H */
