/*
 * config.h - the experiment config as the runner reads it.  The public API
 * (joule_config_* in joule.h) is the only way to change it; this struct is
 * the typed view for src/experiment and src/backend.
 */
#ifndef JOULE_CONFIG_H
#define JOULE_CONFIG_H

#include "joule.h"

#include <stdint.h>

struct joule_config_decoding {
    double temperature;       /* 0: greedy */
    double top_p;             /* 1: off */
    int32_t top_k;            /* 0: off */
    double min_p;             /* 0: off */
    double repetition_penalty; /* 1: off */
    uint64_t seed;
    int ignore_eos;           /* 1: always generate max_output_tokens */
};

struct joule_config_dataset {
    char *name;               /* built-in name or file path */
    char *format;             /* "auto", "prompt", "doc-ref", "alpaca", ... */
    int32_t sample_size;      /* 0: all */
    int shuffle;
    uint64_t seed;
    int skip_bad;
};

struct joule_config_protocol {
    int32_t warmup_runs;      /* unmeasured runs of one batch before the cycles */
    double min_window_s;      /* a cycle shorter than this repeats its workload */
    int32_t cycles;           /* 1..10 */
    double cooldown_s;        /* pause between cycles */
    double idle_s;            /* idle baseline before the experiment; 0: none */
    int32_t meter_interval_ms;
    char *meter_sources;      /* "auto" or a list for joule_meter_params.sources */
};

struct joule_config_outputs {
    char *db;                 /* NULL: $JOULE_DB or joule-results/joule.db */
    int timeline;             /* store the power timeline */
    int save_text;            /* store each request's generated text */
};

/* backend: http (an OpenAI-compatible server) */
struct joule_config_http {
    char *base_url;           /* http://host:port[/prefix] */
    char *model;              /* the request's "model", or NULL (omitted) */
    char *api_key_env;        /* name of the variable holding the key, or NULL */
    char *endpoint;           /* "completions" or "chat" */
    int32_t concurrency;      /* closed loop: requests in flight */
    double rate;              /* > 0: open loop, Poisson arrivals per second */
    int stream;               /* server-sent events: TTFT and inter-token latency */
    double timeout_s;         /* per request */
    int32_t retries;          /* more attempts of a failed request */
};

/* a server joule starts and stops around the load (backend http) */
struct joule_config_server {
    char *command;            /* shell command with {model} {port} {concurrency}, or NULL */
    char *ready_path;         /* polled until it answers 200 */
    double startup_timeout_s;
    double grace_s;           /* SIGTERM, then SIGKILL after this */
};

/* backend: command */
struct joule_config_command {
    char *run;                /* shell command run once per pass */
};

struct joule_config {
    char *name;               /* experiment name; NULL: derived */
    char *preset;             /* the preset applied, or NULL */
    char *model;              /* GGUF file (http, command: optional) */
    char *backend;            /* "builtin" */
    char *precision;          /* "file" (as stored) or a type to quantize to on load */
    double int8_threshold;    /* int8-mixed: LLM.int8 outlier threshold */
    int32_t batch_size;
    int32_t threads;          /* 0: physical cores */
    int32_t max_input_tokens; /* longer prompts are cut to their first tokens */
    int32_t max_output_tokens;
    char *gpus;               /* "0,1", or NULL for all */
    struct joule_config_decoding decoding;
    struct joule_config_dataset dataset;
    struct joule_config_protocol protocol;
    struct joule_config_outputs outputs;
    struct joule_config_http http;
    struct joule_config_server server;
    struct joule_config_command command;
};

#endif /* JOULE_CONFIG_H */
