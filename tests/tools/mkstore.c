/*
 * mkstore.c - writes a fixture results database through store.h for the
 * CLI tests (tests/cli/results.sh):
 *   experiment 1 "tiny-q4": 3 cycles, energy_total_j 100, 110, 120,
 *     2 requests and 2 domain readings per cycle, status completed;
 *   experiment 2 "tiny-f16": 2 cycles, energy_total_j 200, 200, running.
 * usage: mkstore PATH
 */
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int add_cycle(struct joule_store *s, int64_t id, int k, double energy)
{
    struct joule_store_cycle c = {k, k, 1.7e9 + 60.0 * k, 12.5, 1, ""};
    double out = 200.0 + 10.0 * k;
    struct joule_store_metric m[] = {
        {"duration_s", 12.5},
        {"tokens_in", 50.0},
        {"tokens_out", out},
        {"energy_total_j", energy},
        {"ept_in_j_per_tok", 0.1},
        {"ept_out_j_per_tok", energy / out},
        {"ept_total_j_per_tok", energy / (out + 50.0)},
        {"tokens_per_joule", (out + 50.0) / energy},
        {"energy_per_request_j", energy / 2.0},
        {"latency_mean_s", 0.5 + 0.1 * k},
        {"power_avg_w", energy / 12.5},
    };
    struct joule_domain_reading r[2];
    memset(r, 0, sizeof(r));
    snprintf(r[0].name, sizeof(r[0].name), "package-0");
    snprintf(r[0].source, sizeof(r[0].source), "rapl");
    r[0].kind = JOULE_DOMAIN_PACKAGE;
    r[0].provenance = JOULE_PROV_MEASURED;
    r[0].flags = JOULE_FLAG_SHORT_WINDOW;
    r[0].energy_j = energy * 0.2;
    r[0].bound_j = 0.1;
    r[0].net_energy_j = NAN;
    r[0].net_bound_j = NAN;
    r[0].avg_power_w = 30;
    r[0].peak_power_w = 35;
    r[1] = r[0];
    r[1].flags = 0;
    r[1].energy_j = energy * 0.8;
    snprintf(r[1].note, sizeof(r[1].note), "decode, all requests");
    struct joule_store_domain d[] = {{"prefill", &r[0]}, {"decode", &r[1]}};
    struct joule_store_request q[2] = {
        {0, "alpaca-0", 0, 10, 100, "eos", 0, 0.1, 0.12, 2.0, 2.2, 0.02, 0.02, 0.03, 0.05, 5,
         50, "Paris, \"the capital\"\nof France"},
        {1, "alpaca-1", 0, 12, 110, "length", 0, 0.1, 0.12, 2.1, 2.3, 0.02, 0.02, 0.03, 0.05,
         6, 55, NULL},
    };
    return joule_store_cycle_add(s, id, &c, m, sizeof(m) / sizeof(m[0]), d, 2, q, 2) !=
           JOULE_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkstore PATH\n");
        return 2;
    }
    struct joule_store *s = NULL;
    char err[512];
    if (joule_store_open(argv[1], &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "mkstore: %s\n", err);
        return 1;
    }
    struct joule_store_experiment e = {
        .name = "tiny-q4",
        .config_yaml = "model: tiny.gguf\nprecision: q4_0\ncycles: 3\n",
        .config_hash = "h1",
        .model_path = "/models/tiny.gguf",
        .model_name = "tiny.gguf",
        .model_digest = "d1",
        .precision = "q4_0",
        .backend = "builtin",
        .dataset = "alpaca",
        .batch_size = 4,
        .cycles_planned = 3,
        .cycle_order = "0,1,2",
        .environment_json = "{\"cpu\": \"Test CPU\"}",
        .meter_json = "{\"sources\": [\"rapl\"]}",
    };
    int64_t a = 0, b = 0;
    int bad = joule_store_experiment_add(s, &e, &a) != JOULE_OK;
    for (int k = 0; !bad && k < 3; k++)
        bad = add_cycle(s, a, k, 100.0 + 10.0 * k);
    if (!bad)
        bad = joule_store_experiment_status(s, a, JOULE_STATUS_COMPLETED, "") != JOULE_OK;
    e.name = "tiny-f16";
    e.precision = "f16";
    e.config_hash = "h2";
    e.cycles_planned = 3;
    if (!bad)
        bad = joule_store_experiment_add(s, &e, &b) != JOULE_OK;
    for (int k = 0; !bad && k < 2; k++)
        bad = add_cycle(s, b, k, 200.0);
    if (bad)
        fprintf(stderr, "mkstore: %s\n", joule_store_errmsg(s));
    joule_store_close(s);
    return bad;
}
