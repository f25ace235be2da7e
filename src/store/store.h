/*
 * store.h - the write side of the results store, for src/experiment (the
 * read side is public: joule_store_query and friends in joule.h).
 *
 * Data model (docs/internals/store-schema.md):
 *  - an experiment: its config, environment and status;
 *  - cycles: one row per measured cycle, with its metrics as (name, value)
 *    pairs; metric names carry their unit ("energy_total_j",
 *    "ept_out_j_per_tok", "latency_p90_s", "power_avg_w", "tokens_out");
 *  - domains: per cycle, window ("prefill", "decode", "run") and energy
 *    domain, the reading with its provenance and bound;
 *  - requests: per cycle, one row per request;
 *  - timeline: optional power samples.
 * Each cycle is written in one transaction, so a crash loses at most the
 * cycle in flight.
 */
#ifndef JOULE_STORE_H
#define JOULE_STORE_H

#include "joule.h"

#include <stdint.h>

/* Status values of an experiment. */
#define JOULE_STATUS_RUNNING "running"
#define JOULE_STATUS_COMPLETED "completed"
#define JOULE_STATUS_INTERRUPTED "interrupted"
#define JOULE_STATUS_FAILED "failed"

struct joule_store_experiment {
    const char *name;
    const char *config_yaml;     /* canonical YAML (joule_config_to_yaml) */
    const char *config_hash;     /* hex digest of config_yaml */
    const char *model_path;
    const char *model_name;
    const char *model_digest;    /* hex digest of the model file */
    const char *precision;       /* weight type measured ("q4_0") */
    const char *backend;
    const char *dataset;
    int32_t batch_size;
    int32_t cycles_planned;
    const char *cycle_order;     /* "2,0,1": the order cycles ran (0-based) */
    const char *environment_json; /* CPU, GPUs, driver, versions, host */
    const char *meter_json;       /* sources and domains used */
};

struct joule_store_metric {
    const char *name;
    double value;                /* NAN: not available */
};

struct joule_store_domain {
    const char *window;          /* "prefill", "decode", "run", "idle" */
    const struct joule_domain_reading *r;
};

struct joule_store_request {
    int32_t index;               /* position in the dataset */
    const char *sample_id;
    int32_t batch;               /* batch it ran in */
    int32_t n_input, n_output;
    const char *finish;          /* "eos", "length", "stop" ... */
    double queue_s, prefill_s, ttft_s, decode_s, total_s;
    double itl_mean_s, itl_p50_s, itl_p90_s, itl_max_s;
    double energy_prefill_j;     /* its share of its batch's prefill window */
    double energy_decode_j;      /* its share of its batch's decode window */
    const char *text;            /* generated text, or NULL when not kept */
    const char *error;           /* why it failed (finish "error"), or NULL */
    const char *tokens;          /* where its token counts come from: "engine",
                                    "usage", "tokenizer", "command", "unknown" */
};

struct joule_store_cycle {
    int32_t cycle;               /* 0-based cycle number */
    int32_t position;            /* when it ran among the cycles (0-based) */
    double started_at;           /* wall clock, seconds since the epoch */
    double duration_s;
    int32_t repeats;             /* workload repetitions divided out (k) */
    const char *flags;           /* "too-short,meter-gap" or "" */
};

/* Creates an experiment with status "running"; *id gets its id. */
enum joule_status joule_store_experiment_add(struct joule_store *s,
                                             const struct joule_store_experiment *e,
                                             int64_t *id);

/* Sets status (and finished_at when not "running") and the flags text. */
enum joule_status joule_store_experiment_status(struct joule_store *s, int64_t id,
                                                const char *status, const char *flags);

/* Writes one cycle with its metrics, domain readings and requests in one
 * transaction (replacing a cycle of the same number, so a re-run never
 * duplicates). */
enum joule_status joule_store_cycle_add(struct joule_store *s, int64_t id,
                                        const struct joule_store_cycle *c,
                                        const struct joule_store_metric *m, size_t n_metrics,
                                        const struct joule_store_domain *d, size_t n_domains,
                                        const struct joule_store_request *r, size_t n_requests);

/* Adds power samples: t_s since the experiment's meter opened, one power
 * per named domain.  One transaction. */
enum joule_status joule_store_timeline_add(struct joule_store *s, int64_t id,
                                           const char *const *domains, size_t n_domains,
                                           const double *t_s, const double *power_w,
                                           size_t n_samples);

/* The newest experiment whose config_hash matches and whose status is
 * "running" or "interrupted"; *id = 0 when none. */
enum joule_status joule_store_find_incomplete(struct joule_store *s, const char *config_hash,
                                              int64_t *id);

/* The newest completed experiment whose config_hash and model_digest
 * match; *id = 0 when none. */
enum joule_status joule_store_find_completed(struct joule_store *s, const char *config_hash,
                                             const char *model_digest, int64_t *id);

/* The config YAML of experiment id (free with joule_free), the cycle
 * numbers already stored (done[cycle] = 1 for cycle < n), and status.
 * JOULE_ERR_NOT_FOUND. */
enum joule_status joule_store_experiment_get(struct joule_store *s, int64_t id,
                                             char **config_yaml, unsigned char *done, size_t n,
                                             char *status, size_t status_size);

/* A prompt tuning (joule tune) as its trials.csv holds it: the run is
 * found by trials_path (made the first time), its settings and tuning
 * energy (added to what earlier invocations spent) updated, and its trials
 * replaced by t[0 .. n), in one transaction.  Strings are borrowed. */
struct joule_store_tune_run {
    const char *trials_path, *model_path, *model_digest, *task, *dataset, *settings;
    double tuning_energy_j; /* this invocation's; NAN: not measured */
    const char *energy_provenance;
};

struct joule_store_tune_trial {
    int64_t number;
    const char *config; /* "style=role,reasoning=none,..." */
    const char *state;  /* "COMPLETE", "PRUNED", "FAIL" */
    double value, accuracy, rouge_l, exact, numeric, energy_j, tpj, latency_s;
    int64_t tokens, n_examples;
    int pareto_rank;
    const char *energy_provenance;
};

enum joule_status joule_store_tune_save(struct joule_store *s, const struct joule_store_tune_run *r,
                                        const struct joule_store_tune_trial *t, size_t n,
                                        int64_t *id);

/* The experiments of one sweep or one compare (kind "sweep", "compare"),
 * in their order; *id gets the group's id.  JOULE_ERR_NOT_FOUND for an
 * experiment that does not exist. */
enum joule_status joule_store_group_add(struct joule_store *s, const char *kind,
                                        const char *label, const int64_t *ids, size_t n,
                                        int64_t *id);

/* The experiments of group id of kind into ids[0 .. *n) (at most cap).
 * JOULE_ERR_NOT_FOUND when there is no such group of that kind. */
enum joule_status joule_store_group_members(struct joule_store *s, const char *kind, int64_t id,
                                            int64_t *ids, size_t cap, size_t *n);

/* --- one experiment on several nodes (src/store/nodes.c) ------------------
 * The lead (rank 0) runs the workload; every other node measures its own
 * devices over the same windows.  They meet through these rows: each node
 * has a state and a cycle, the lead moves "begin" -> "end" per cycle, the
 * others answer "measuring" -> "done" with the reading of their window. */

/* Node states. */
#define JOULE_NODE_READY "ready"         /* joined, idle baseline taken */
#define JOULE_NODE_BEGIN "begin"         /* lead: open the window of cycle */
#define JOULE_NODE_END "end"             /* lead: close it */
#define JOULE_NODE_MEASURING "measuring" /* other: window of cycle open */
#define JOULE_NODE_DONE "done"           /* other: reading of cycle written */
#define JOULE_NODE_FINISHED "finished"   /* lead: no more cycles */
#define JOULE_NODE_FAILED "failed"       /* reading_json holds {"error": ...} */

struct joule_store_node {
    int32_t rank;
    char node[128];
    char state[16];
    int32_t cycle;
};

/* Marks experiment id as measured on n_nodes nodes under join_key. */
enum joule_status joule_store_nodes_open(struct joule_store *s, int64_t id, const char *join_key,
                                         int32_t n_nodes);

/* The newest running experiment opened under join_key: *id and *n_nodes,
 * or *id = 0 when there is none (yet). */
enum joule_status joule_store_nodes_find(struct joule_store *s, const char *join_key,
                                         int64_t *id, int32_t *n_nodes);

/* Sets node rank's state and cycle (made on first use).  reading_json,
 * environment_json and meter_json replace the stored ones when not NULL. */
enum joule_status joule_store_node_set(struct joule_store *s, int64_t id, int32_t rank,
                                       const char *node, const char *state, int32_t cycle,
                                       const char *reading_json, const char *environment_json,
                                       const char *meter_json);

/* The nodes of experiment id by rank into out[0 .. *n) (at most cap). */
enum joule_status joule_store_nodes_get(struct joule_store *s, int64_t id,
                                        struct joule_store_node *out, size_t cap, size_t *n);

/* Node rank's last reading (free with joule_free); NULL when none. */
enum joule_status joule_store_node_reading(struct joule_store *s, int64_t id, int32_t rank,
                                           char **reading_json);

#endif /* JOULE_STORE_H */
