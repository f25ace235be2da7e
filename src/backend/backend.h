/*
 * backend.h - one way to run a batch of requests, for the experiment
 * runner.  `builtin` runs joule's own engine in this process; `http` sends
 * the requests to an OpenAI-compatible server (one it starts and stops, or
 * one already running); `command` runs a user's command once per pass.
 *
 * The runner owns the meter.  A backend only says when each phase of a
 * batch begins and ends (phase_begin/phase_end hooks): the runner opens and
 * closes its measured windows there.  A backend that cannot separate
 * prefill from decode reports one JOULE_BACKEND_PHASE_ALL phase, and the
 * result says EPT_in/EPT_out are unavailable.
 */
#ifndef JOULE_BACKEND_H
#define JOULE_BACKEND_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

enum joule_backend_phase {
    JOULE_BACKEND_PHASE_PREFILL = 0,
    JOULE_BACKEND_PHASE_DECODE = 1,
    JOULE_BACKEND_PHASE_ALL = 2, /* both, inseparable */
    JOULE_BACKEND_PHASE_STEADY = 3, /* server load at the configured concurrency
                                       (overlaps ALL; docs/methodology.md) */
};
#define JOULE_BACKEND_N_PHASES 4

/* A prompt prepared before any window: tokenized and cut to the limit. */
struct joule_backend_prompt {
    int32_t *tokens;
    size_t n_tokens;
    size_t n_cut;          /* tokens cut off by max_input_tokens */
    char *text;            /* the prompt as text (backends that send text), or NULL */
    size_t text_len;
};

/* Where a request's token counts come from. */
enum joule_backend_tokens {
    JOULE_BACKEND_TOKENS_ENGINE = 0,    /* counted by the engine that ran it */
    JOULE_BACKEND_TOKENS_USAGE = 1,     /* the server's `usage` */
    JOULE_BACKEND_TOKENS_TOKENIZER = 2, /* the model file's tokenizer, locally */
    JOULE_BACKEND_TOKENS_COMMAND = 3,   /* the command's JSON line */
    JOULE_BACKEND_TOKENS_UNKNOWN = 4,   /* none: counts are 0 */
};
const char *joule_backend_tokens_str(enum joule_backend_tokens t);

/* What one request did (seconds from the backend's clock). */
struct joule_backend_result {
    int32_t n_input, n_output;
    enum joule_finish finish;
    double queue_s, prefill_s, ttft_s, decode_s, total_s;
    double itl_mean_s, itl_p50_s, itl_p90_s, itl_max_s;
    double *itl_s;         /* [n_itl] inter-token latencies (malloc'd) */
    int32_t n_itl;         /* n_output - 1 for the engine; text events - 1 over http */
    int32_t decode_tokens; /* output tokens produced by decode steps (n_output - 1
                              for the engine: the first comes from prefill) */
    char *text;            /* generated text (malloc'd) or NULL when not kept */
    char *error;           /* failed (finish CANCELLED): why (malloc'd); else NULL */
    enum joule_backend_tokens tokens;
    double steady_tokens;  /* output tokens inside the steady window (share) */
};

struct joule_backend_hooks {
    void (*phase_begin)(void *user, enum joule_backend_phase p);
    void (*phase_end)(void *user, enum joule_backend_phase p);
    void *user;
};

/* Facts the metrics need (FLOPs, memory) and the result records. */
struct joule_backend_info {
    const char *name;        /* "builtin" */
    char model_name[128];
    char precision[16];      /* weight type measured ("q4_0") */
    char isa[16];
    int64_t n_params;
    int64_t compute_params;  /* parameters every token multiplies (no lookup table) */
    int64_t model_bytes;
    int64_t state_bytes;
    int32_t n_layer, n_embd, n_ctx, n_threads, n_seq;
    int phases;              /* 1: prefill and decode are separate phases */
    int whole_pass;          /* 1: run_batch takes every prompt of a pass at once */
    int one_request;         /* 1: a pass is one request whatever the dataset */
    int steady;              /* 1: the backend reports a STEADY phase */
    char server_log[1024];   /* a managed server's log file, or "" */
    /* LLM.int8 mode (threshold >= 0; < 0: not in that mode): input columns
     * of its INT8 products since the backend opened, and how many were
     * outliers. */
    float int8_threshold;
    int64_t int8_columns, int8_outliers;
};

/* How to run requests (filled by the runner from the experiment config). */
struct joule_backend_params {
    int32_t batch_size;      /* requests per batch */
    int32_t threads;         /* 0: physical cores */
    int32_t n_ctx;           /* positions per request: input + output limit */
    int32_t max_output_tokens;
    int ignore_eos;
    int keep_text;           /* results carry the generated text */
    struct joule_sampling sampling;
    const char *gpus;        /* GPU list, or NULL (backends that use GPUs) */
    int int8;                /* non-zero: LLM.int8 mode (builtin) ... */
    float int8_threshold;    /* ... with this outlier threshold (0: pure INT8) */
    /* http: OpenAI-compatible server (see the config keys http.* and server.*) */
    const char *base_url, *http_model, *api_key_env, *endpoint;
    int32_t concurrency;
    double rate;
    int stream;
    double timeout_s;
    int32_t retries;
    const char *server_command, *ready_path;
    double startup_timeout_s, grace_s;
    const char *log_dir;     /* where a managed server's log goes */
    /* command */
    const char *command;
};

struct joule_backend;

struct joule_backend_ops {
    const char *name;
    /* Loads the model at model_path for batches of up to p->batch_size. */
    enum joule_status (*open)(const struct joule_backend_params *p, const char *model_path,
                              struct joule_backend **out, char *err, size_t err_size);
    void (*close)(struct joule_backend *b);
    void (*info)(const struct joule_backend *b, struct joule_backend_info *out);
    /* Tokenizes text and cuts it to max_input_tokens. */
    enum joule_status (*prepare)(struct joule_backend *b, const char *text, size_t len,
                                 int32_t max_input_tokens, struct joule_backend_prompt *out,
                                 char *err, size_t err_size);
    /* Runs n prepared prompts as one batch (n <= batch size) to completion:
     * results[i] for prompts[i]. */
    enum joule_status (*run_batch)(struct joule_backend *b, const struct joule_backend_prompt *p,
                                   size_t n, const struct joule_backend_hooks *hooks,
                                   struct joule_backend_result *results, char *err,
                                   size_t err_size);
};

/* The backend named name ("builtin", "http", "command"), or NULL. */
const struct joule_backend_ops *joule_backend_find(const char *name);

void joule_backend_prompt_free(struct joule_backend_prompt *p);
void joule_backend_result_free(struct joule_backend_result *r);

/* r's ITL mean, median, p90 and max from itl[0..n) (NAN when n is 0). */
void joule_backend_itl_stats(const double *itl, int32_t n, struct joule_backend_result *r);

#endif /* JOULE_BACKEND_H */
