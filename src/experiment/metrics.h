/*
 * metrics.h - the figures of one measured cycle, from its windows and its
 * requests (docs/methodology.md, "Per-token energy").  A pure function of
 * its inputs: the runner gathers, this computes, the store keeps.
 */
#ifndef JOULE_METRICS_H
#define JOULE_METRICS_H

#include "backend.h"
#include "joule.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* Everything one cycle measured.  Readings are sums over the k passes of
 * the workload (k = repeats); the metrics divide k back out. */
struct joule_cycle_data {
    int32_t repeats;
    const struct joule_reading *run;     /* the whole cycle window */
    const struct joule_reading *prefill; /* prefill windows summed, or NULL */
    const struct joule_reading *decode;  /* decode windows summed, or NULL */
    const struct joule_backend_result *req; /* every request of every pass */
    size_t n_req;
    const double *power_w;               /* total power samples inside the run window */
    size_t n_power;
    double peak_rss_mib;
    int64_t n_params, compute_params, model_bytes;
    int32_t n_layer, n_embd;
};

/* Upper bound of the metrics joule_cycle_metrics writes. */
#define JOULE_CYCLE_METRICS_MAX 64

/* Fills out[] (names are static strings) and returns how many. */
size_t joule_cycle_metrics(const struct joule_cycle_data *d, struct joule_store_metric *out,
                           size_t cap);

/* FLOPs of one request (docs/methodology.md, "FLOPs"): every position fed
 * through the model, prompt and generated tokens but the last, costs
 * 2 * compute_params plus attention 4 * n_layer * n_embd * (pos + 1). */
double joule_request_flops(int32_t n_input, int32_t n_output, int64_t compute_params,
                           int32_t n_layer, int32_t n_embd);

#endif /* JOULE_METRICS_H */
