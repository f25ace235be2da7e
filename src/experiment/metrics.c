/*
 * metrics.c - per-cycle figures.  Names carry their unit; the store and the
 * exports rely on them (docs/cli/joule-results.md lists each).
 */
#include "metrics.h"
#include "alloc.h"
#include "joule_int.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double joule_request_flops(int32_t n_input, int32_t n_output, int64_t compute_params,
                           int32_t n_layer, int32_t n_embd)
{
    /* The last generated token is sampled, never fed back. */
    double n = (double)n_input + (n_output > 1 ? (double)(n_output - 1) : 0.0);
    return n * 2.0 * (double)compute_params +
           4.0 * (double)n_layer * (double)n_embd * n * (n + 1.0) / 2.0;
}

struct out {
    struct joule_store_metric *m;
    size_t n, cap;
};

static void put(struct out *o, const char *name, double v)
{
    if (o->n < o->cap)
        o->m[o->n++] = (struct joule_store_metric){name, isfinite(v) ? v : NAN};
}

/* x / y, NAN when y is not positive. */
static double ratio(double x, double y)
{
    return y > 0 ? x / y : NAN;
}

/* Summary and quantiles of the n values get(i); writes prefix_mean ...
 * through the caller's names. */
static void latency_block(struct out *o, const double *v, size_t n, const char *const names[7])
{
    double *x = n ? malloc(n * sizeof(double)) : NULL;
    if (n && !x)
        return;
    if (n)
        memcpy(x, v, n * sizeof(double));
    struct joule_summary s = joule_summarize(x, n);
    put(o, names[0], n ? s.mean : NAN);
    put(o, names[1], joule_quantile_sorted_inplace(x, n, 0.5));
    put(o, names[2], joule_quantile_sorted_inplace(x, n, 0.9));
    put(o, names[3], joule_quantile_sorted_inplace(x, n, 0.99));
    put(o, names[4], n ? s.min : NAN);
    put(o, names[5], n ? s.max : NAN);
    put(o, names[6], s.std);
    free(x);
}

size_t joule_cycle_metrics(const struct joule_cycle_data *d, struct joule_store_metric *mout,
                           size_t cap)
{
    struct out o = {mout, 0, cap};
    const double k = d->repeats > 0 ? d->repeats : 1;
    double t_in = 0, t_out = 0, flops = 0;
    size_t n_itl = 0;
    for (size_t i = 0; i < d->n_req; i++) {
        const struct joule_backend_result *r = &d->req[i];
        t_in += r->n_input;
        t_out += r->n_output;
        n_itl += r->itl_s && r->n_itl > 0 ? (size_t)r->n_itl : 0;
        flops += joule_request_flops(r->n_input, r->n_output, d->compute_params, d->n_layer,
                                     d->n_embd);
    }
    t_in /= k;
    t_out /= k;
    flops /= k;
    const double requests = (double)d->n_req / k;
    const double run_s = d->run->duration_s / k;
    const int phases = d->prefill && d->decode;
    const double e_pre = phases ? d->prefill->total_energy_j / k : NAN;
    const double e_dec = phases ? d->decode->total_energy_j / k : NAN;
    /* With phases, the workload's energy is the two phase windows; without,
     * the run window (which also holds the gaps between batches). */
    const double e = phases ? e_pre + e_dec : d->run->total_energy_j / k;
    const double e_bound = phases ? (d->prefill->total_bound_j + d->decode->total_bound_j) / k
                                  : d->run->total_bound_j / k;
    const double n_pre = phases ? d->prefill->total_net_energy_j / k : NAN;
    const double n_dec = phases ? d->decode->total_net_energy_j / k : NAN;
    const double e_net = phases ? n_pre + n_dec : d->run->total_net_energy_j / k;
    const double e_net_bound =
        phases ? (d->prefill->total_net_bound_j + d->decode->total_net_bound_j) / k
               : d->run->total_net_bound_j / k;

    put(&o, "duration_s", run_s);
    put(&o, "prefill_s", phases ? d->prefill->duration_s / k : NAN);
    put(&o, "decode_s", phases ? d->decode->duration_s / k : NAN);
    put(&o, "repeats", k);
    put(&o, "requests", requests);
    put(&o, "tokens_in", t_in);
    put(&o, "tokens_out", t_out);
    put(&o, "energy_prefill_j", e_pre);
    put(&o, "energy_decode_j", e_dec);
    put(&o, "energy_total_j", e);
    put(&o, "energy_total_bound_j", e_bound);
    put(&o, "energy_net_j", e_net);
    put(&o, "energy_net_bound_j", e_net_bound);
    put(&o, "energy_run_j", d->run->total_energy_j / k);
    put(&o, "ept_in_j_per_tok", ratio(e_pre, t_in));
    put(&o, "ept_out_j_per_tok", ratio(e_dec, t_out));
    put(&o, "ept_total_j_per_tok", ratio(e, t_in + t_out));
    put(&o, "ept_in_net_j_per_tok", ratio(n_pre, t_in));
    put(&o, "ept_out_net_j_per_tok", ratio(n_dec, t_out));
    put(&o, "tokens_per_joule", ratio(t_out, e));
    put(&o, "energy_per_request_j", ratio(e, requests));
    put(&o, "j_per_1k_out_tokens", ratio(1000.0 * e, t_out));
    put(&o, "throughput_tok_s", ratio(t_out, run_s));
    put(&o, "throughput_total_tok_s", ratio(t_in + t_out, run_s));
    put(&o, "throughput_req_s", ratio(requests, run_s));

    /* Latencies over every request of every pass. */
    size_t n = d->n_req;
    double *v = joule_calloc(n ? n : 1, sizeof(double));
    double *itl = joule_calloc(n_itl ? n_itl : 1, sizeof(double));
    if (v && itl) {
        static const char *const lat[7] = {"latency_mean_s", "latency_median_s",
                                           "latency_p90_s", "latency_p99_s",
                                           "latency_min_s", "latency_max_s", "latency_std_s"};
        for (size_t i = 0; i < n; i++)
            v[i] = d->req[i].total_s;
        latency_block(&o, v, n, lat);
        for (size_t i = 0; i < n; i++)
            v[i] = d->req[i].ttft_s;
        struct joule_summary s = joule_summarize(v, n);
        put(&o, "ttft_mean_s", n ? s.mean : NAN);
        put(&o, "ttft_p90_s", joule_quantile_sorted_inplace(v, n, 0.9));
        size_t j = 0;
        for (size_t i = 0; i < n; i++)
            for (int32_t t = 0; d->req[i].itl_s && t < d->req[i].n_itl; t++)
                itl[j++] = d->req[i].itl_s[t];
        s = joule_summarize(itl, j);
        put(&o, "itl_mean_s", j ? s.mean : NAN);
        put(&o, "itl_p90_s", joule_quantile_sorted_inplace(itl, j, 0.9));
    }
    free(v);
    free(itl);

    /* Power: the run window's average; spread from the sampler's samples. */
    put(&o, "power_avg_w", ratio(d->run->total_energy_j, d->run->duration_s));
    double *p = d->n_power ? malloc(d->n_power * sizeof(double)) : NULL;
    if (p)
        memcpy(p, d->power_w, d->n_power * sizeof(double));
    size_t np = p ? d->n_power : 0;
    struct joule_summary ps = joule_summarize(p, np);
    put(&o, "power_median_w", joule_quantile_sorted_inplace(p, np, 0.5));
    put(&o, "power_min_w", np ? ps.min : NAN);
    put(&o, "power_max_w", np ? ps.max : NAN);
    free(p);

    put(&o, "peak_rss_mib", d->peak_rss_mib);
    put(&o, "model_bytes", (double)d->model_bytes);
    put(&o, "n_params", (double)d->n_params);
    put(&o, "flops", flops);
    put(&o, "flops_per_joule", ratio(flops, e));
    return o.n;
}
