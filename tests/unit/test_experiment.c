/* test_experiment.c - the measurement protocol end to end on a synthesized
 * model with a scripted (fake) energy source of known constant power: the
 * energies must be exactly what the script implies for the windows' times,
 * EPT_in and EPT_out must come from different windows, requests must share
 * their batch's energy without loss, and an interrupted experiment must
 * resume without duplicating or losing a cycle. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "metrics.h"
#include "nodes.h"
#include "store.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[512];
static char model_path[600], script_path[600];

#define WATTS 50.0

static int setup(void)
{
    struct joule_synth_params p = joule_synth_default_params();
    p.arch = "llama";
    p.n_embd = 64;
    p.n_layer = 2;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_ff = 128;
    p.n_vocab = 512;
    p.n_ctx = 256;
    p.tokenizer = "spm";
    p.type = "q8_0";
    p.seed = 3;
    char err[256];
    snprintf(model_path, sizeof(model_path), "%s/exp-model.gguf", tmpdir);
    if (joule_model_synth(&p, model_path, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "synth: %s\n", err);
        return 0;
    }
    /* One counter domain at a constant power that updates every 1 ms. */
    snprintf(script_path, sizeof(script_path), "%s/exp-meter.txt", tmpdir);
    FILE *f = fopen(script_path, "w");
    if (!f)
        return 0;
    fprintf(f, "domain pkg kind=package mode=counter update_ms=1 resolution_j=0.000001\n"
               "at 0 pkg=%g\n",
            WATTS);
    fclose(f);
    return 1;
}

static struct joule_config *config(const char *db_name, int cycles, double min_window)
{
    struct joule_config *c = NULL;
    char err[512], v[700];
    CHECK(joule_config_new(&c) == JOULE_OK);
    if (!c)
        return NULL;
    snprintf(v, sizeof(v), "fake:%s", script_path);
    struct {
        const char *k, *v;
    } kv[] = {
        {"model", model_path},          {"dataset.name", "questions"},
        {"dataset.sample_size", "5"},   {"batch_size", "2"},
        {"max_output_tokens", "6"},     {"max_input_tokens", "40"},
        {"protocol.idle_s", "0.3"},     {"protocol.warmup_runs", "1"},
        {"protocol.meter_sources", v},  {"protocol.meter_interval_ms", "5"},
        {"outputs.timeline", "true"},   {"outputs.save_text", "true"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (joule_config_set(c, kv[i].k, kv[i].v, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "set %s: %s\n", kv[i].k, err);
            CHECK(0);
        }
    char n[16];
    snprintf(n, sizeof(n), "%d", cycles);
    CHECK(joule_config_set(c, "protocol.cycles", n, err, sizeof(err)) == JOULE_OK);
    snprintf(n, sizeof(n), "%g", min_window);
    CHECK(joule_config_set(c, "protocol.min_window_s", n, err, sizeof(err)) == JOULE_OK);
    (void)db_name;
    return c;
}

static struct joule_store *store(const char *name)
{
    char path[700], err[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
    struct joule_store *s = NULL;
    if (joule_store_open(path, &s, err, sizeof(err)) != JOULE_OK)
        fprintf(stderr, "store: %s\n", err);
    return s;
}

static long col(const struct joule_table *t, const char *name)
{
    for (size_t j = 0; j < joule_table_cols(t); j++)
        if (strcmp(joule_table_col_name(t, j), name) == 0)
            return (long)j;
    return -1;
}

/* Value of metric in cycle row i of a CYCLES table. */
static double cyc(const struct joule_table *t, size_t i, const char *metric)
{
    long j = col(t, metric);
    return j < 0 ? NAN : joule_table_number(t, i, (size_t)j);
}

static const char *info(struct joule_store *s, int64_t id, const char *field, char *buf,
                        size_t size)
{
    struct joule_table *t = NULL;
    buf[0] = '\0';
    if (joule_store_query(s, JOULE_QUERY_INFO, id, &t) != JOULE_OK)
        return buf;
    long f = col(t, "field"), v = col(t, "value");
    for (size_t i = 0; f >= 0 && v >= 0 && i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, (size_t)f), field) == 0)
            snprintf(buf, size, "%s", joule_table_text(t, i, (size_t)v));
    joule_table_free(t);
    return buf;
}

/* The prompt tokens of the dataset counted independently of the runner. */
static double expected_tokens_in(void)
{
    struct joule_tokenizer *tok = NULL;
    char err[256];
    if (joule_tokenizer_open(model_path, &tok, err, sizeof(err)) != JOULE_OK)
        return NAN;
    struct joule_dataset_params dp = joule_dataset_default_params();
    dp.source = "questions";
    dp.sample_size = 5;
    struct joule_dataset *ds = NULL;
    double total = 0;
    if (joule_dataset_load(&dp, &ds, err, sizeof(err)) == JOULE_OK) {
        for (size_t i = 0; i < joule_dataset_count(ds); i++) {
            const char *p = joule_dataset_get(ds, i)->prompt;
            size_t n = 0;
            joule_tokenizer_encode(tok, p, strlen(p), JOULE_TOKENIZE_ADD_SPECIAL, NULL, 0, &n);
            total += (double)(n > 40 ? 40 : n);
        }
    }
    joule_dataset_free(ds);
    joule_tokenizer_close(tok);
    return total;
}

static void test_protocol(void)
{
    struct joule_store *s = store("exp-protocol.db");
    struct joule_config *c = config("exp-protocol.db", 2, 0);
    if (!s || !c)
        goto out;
    int64_t id = 0;
    char err[1024];
    enum joule_status st = joule_experiment_run(c, s, NULL, &id, err, sizeof(err));
    if (st != JOULE_OK)
        fprintf(stderr, "run: %s\n", err);
    CHECK(st == JOULE_OK);
    CHECK(id > 0);
    char buf[256];
    CHECK_STR(info(s, id, "status", buf, sizeof(buf)), "completed");

    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_CYCLES, id, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 2);
    const double t_in = expected_tokens_in();
    for (size_t i = 0; t && i < joule_table_rows(t); i++) {
        const double pre_s = cyc(t, i, "prefill_s"), dec_s = cyc(t, i, "decode_s");
        const double e_pre = cyc(t, i, "energy_prefill_j"), e_dec = cyc(t, i, "energy_decode_j");
        const double tin = cyc(t, i, "tokens_in"), tout = cyc(t, i, "tokens_out");
        CHECK_NEAR(cyc(t, i, "repeats"), 1, 0);
        CHECK_NEAR(cyc(t, i, "requests"), 5, 0);
        CHECK_NEAR(tin, t_in, 0);
        CHECK(tout >= 5 && tout <= 30);
        /* Constant power: energy = P * time of the phase's windows; each of
         * the 3 batches' windows may lag one 1 ms update at each edge. */
        const double lag = 3 * 2 * WATTS * 0.001 + 1e-6;
        CHECK_NEAR(e_pre, WATTS * pre_s, lag);
        CHECK_NEAR(e_dec, WATTS * dec_s, lag);
        CHECK(pre_s > 0 && dec_s > 0);
        /* The per-token figures are those windows over their own tokens. */
        CHECK_NEAR(cyc(t, i, "ept_in_j_per_tok"), e_pre / tin, 1e-9 * e_pre / tin);
        CHECK_NEAR(cyc(t, i, "ept_out_j_per_tok"), e_dec / tout, 1e-9 * e_dec / tout);
        CHECK_NEAR(cyc(t, i, "ept_total_j_per_tok"), (e_pre + e_dec) / (tin + tout),
                   1e-9 * (e_pre + e_dec) / (tin + tout));
        CHECK_NEAR(cyc(t, i, "tokens_per_joule"), tout / (e_pre + e_dec),
                   1e-9 * tout / (e_pre + e_dec));
        CHECK_NEAR(cyc(t, i, "energy_per_request_j"), (e_pre + e_dec) / 5,
                   1e-9 * (e_pre + e_dec));
        CHECK_NEAR(cyc(t, i, "j_per_1k_out_tokens"), 1000 * (e_pre + e_dec) / tout,
                   1e-9 * 1000 * (e_pre + e_dec) / tout);
        /* The idle baseline ran at the same power: net is zero within the
         * bound, and average power is the script's. */
        CHECK(fabs(cyc(t, i, "energy_net_j")) <= cyc(t, i, "energy_net_bound_j") + 1e-9);
        /* Average power is the window's energy over its length: off by at
         * most the counter's 1 ms update at each edge. */
        const double win = cyc(t, i, "duration_s");
        CHECK_NEAR(cyc(t, i, "power_avg_w"), WATTS, 2 * WATTS * 0.001 / win + 1e-6);
        /* Samples are counter differences over ~5 ms with 1 ms updates:
         * each may be off by a fifth (more when a loaded machine delays the
         * sampler), so the median is held to that bound, not to the exact
         * figure the energies above are held to.  A window of a few
         * intervals on a loaded machine may hold no sample at all: its
         * median is then unknown (NaN), which is only allowed for windows
         * shorter than 20 intervals. */
        const double median = cyc(t, i, "power_median_w");
        if (isfinite(median) || win >= 0.1)
            CHECK_NEAR(median, WATTS, 0.2 * WATTS);
        CHECK(cyc(t, i, "flops") > 0);
        CHECK(cyc(t, i, "latency_p90_s") >= cyc(t, i, "latency_median_s"));
    }
    /* Requests share their batch's phase energy by tokens: the shares add
     * up to the phase totals of the cycle (one pass per cycle here). */
    struct joule_table *rq = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_REQUESTS, id, &rq) == JOULE_OK);
    CHECK(rq && joule_table_rows(rq) == 10);
    CHECK(rq && col(rq, "text") >= 0); /* outputs.save_text keeps the text */
    for (size_t cy = 0; rq && t && cy < 2; cy++) {
        double pre = 0, dec = 0, tout = 0;
        long cc = col(rq, "cycle");
        for (size_t i = 0; cc >= 0 && i < joule_table_rows(rq); i++) {
            if (joule_table_number(rq, i, (size_t)cc) != (double)cy)
                continue;
            pre += joule_table_number(rq, i, (size_t)col(rq, "energy_prefill_j"));
            dec += joule_table_number(rq, i, (size_t)col(rq, "energy_decode_j"));
            tout += joule_table_number(rq, i, (size_t)col(rq, "n_output"));
        }
        CHECK_NEAR(pre, cyc(t, cy, "energy_prefill_j"), 1e-9 * pre + 1e-12);
        CHECK_NEAR(dec, cyc(t, cy, "energy_decode_j"), 1e-9 * dec + 1e-12);
        CHECK_NEAR(tout, cyc(t, cy, "tokens_out"), 0);
    }
    joule_table_free(rq);
    joule_table_free(t);
    /* Domains: the run, prefill and decode windows of both cycles, measured. */
    CHECK(joule_store_query(s, JOULE_QUERY_DOMAINS, id, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 6);
    for (size_t i = 0; t && i < joule_table_rows(t); i++)
        CHECK_STR(joule_table_text(t, i, (size_t)col(t, "provenance")), "measured");
    joule_table_free(t);
out:
    joule_config_free(c);
    joule_store_close(s);
}

/* A repeated workload: k passes fill the minimum window, and the figures
 * are per pass. */
static void test_min_window(void)
{
    struct joule_store *s = store("exp-window.db");
    struct joule_config *c = config("exp-window.db", 1, 0.6);
    if (!s || !c)
        goto out;
    int64_t id = 0;
    char err[1024];
    CHECK(joule_experiment_run(c, s, NULL, &id, err, sizeof(err)) == JOULE_OK);
    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_CYCLES, id, &t) == JOULE_OK);
    if (t && joule_table_rows(t) == 1) {
        /* Passes repeat until the window reaches 0.6 s (a slow build may
         * fill it with one pass), and every figure is per pass. */
        double k = cyc(t, 0, "repeats");
        CHECK(k >= 1);
        CHECK(cyc(t, 0, "duration_s") * k >= 0.6);
        CHECK_NEAR(cyc(t, 0, "requests"), 5, 0);
        CHECK_NEAR(cyc(t, 0, "tokens_in"), expected_tokens_in(), 1e-9);
        CHECK_NEAR(cyc(t, 0, "power_avg_w"), WATTS, 0.5);
    } else {
        CHECK(0);
    }
    joule_table_free(t);
out:
    joule_config_free(c);
    joule_store_close(s);
}

/* Stop requests: set the flag when the given cycle starts (done == 0) or
 * when it is half done. */
struct stopper {
    volatile int flag;
    int32_t at_cycle;
    int mid;
};

static void stop_progress(void *user, const struct joule_progress *p)
{
    struct stopper *sp = user;
    if (strcmp(p->stage, "cycle") == 0 && p->cycle == sp->at_cycle &&
        (sp->mid ? p->done > 0 : p->done == 0))
        sp->flag = 1;
}

static void test_interrupt_resume(void)
{
    struct joule_store *s = store("exp-resume.db");
    struct joule_config *c = config("exp-resume.db", 3, 0);
    if (!s || !c)
        goto out;
    char err[1024], buf[64];
    /* Stopped in the middle of cycle 2: cycle 1 is kept, 2 is not. */
    struct stopper sp = {0, 2, 1};
    struct joule_run_options o = {.stop = &sp.flag, .on_progress = stop_progress, .user = &sp};
    int64_t id = 0;
    CHECK(joule_experiment_run(c, s, &o, &id, err, sizeof(err)) == JOULE_OK);
    CHECK(id > 0);
    CHECK_STR(info(s, id, "status", buf, sizeof(buf)), "interrupted");
    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_CYCLES, id, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 1);
    joule_table_free(t);

    /* The same config again finds it and runs only the missing cycles. */
    int64_t id2 = 0;
    CHECK(joule_experiment_run(c, s, NULL, &id2, err, sizeof(err)) == JOULE_OK);
    CHECK(id2 == id);
    CHECK_STR(info(s, id, "status", buf, sizeof(buf)), "completed");
    CHECK(joule_store_query(s, JOULE_QUERY_CYCLES, id, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 3);
    for (size_t i = 0; t && i < joule_table_rows(t); i++)
        CHECK_NEAR(cyc(t, i, "cycle"), (double)i, 0);
    joule_table_free(t);

    /* Complete now: --resume refuses, a fresh run makes a new experiment. */
    o = (struct joule_run_options){.resume_id = id};
    int64_t id3 = 0;
    CHECK(joule_experiment_run(c, s, &o, &id3, err, sizeof(err)) == JOULE_ERR_STATE);
    CHECK(strstr(err, "already complete") != NULL);
    o = (struct joule_run_options){.fresh = 1};
    char e2[64];
    CHECK(joule_config_set(c, "protocol.cycles", "1", e2, sizeof(e2)) == JOULE_OK);
    CHECK(joule_experiment_run(c, s, &o, &id3, err, sizeof(err)) == JOULE_OK);
    CHECK(id3 > id);

    /* --resume with another config is refused and names the experiment. */
    o = (struct joule_run_options){.resume_id = id};
    CHECK(joule_config_set(c, "batch_size", "1", e2, sizeof(e2)) == JOULE_OK);
    CHECK(joule_experiment_run(c, s, &o, &id3, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "another config") != NULL);
out:
    joule_config_free(c);
    joule_store_close(s);
}

static void test_bad_inputs(void)
{
    struct joule_store *s = store("exp-bad.db");
    struct joule_config *c = config("exp-bad.db", 1, 0);
    if (!s || !c)
        goto out;
    char err[1024];
    int64_t id = -1;
    CHECK(joule_config_set(c, "model", "/nonexistent/model.gguf", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_experiment_run(c, s, NULL, &id, err, sizeof(err)) != JOULE_OK);
    CHECK(strstr(err, "/nonexistent/model.gguf") != NULL);
    CHECK(id == 0); /* nothing was measured, nothing stored */
    CHECK(joule_config_set(c, "model", model_path, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_set(c, "dataset.name", "no-such-dataset", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_experiment_run(c, s, NULL, &id, err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    CHECK(strstr(err, "no-such-dataset") != NULL);
out:
    joule_config_free(c);
    joule_store_close(s);
}

/* FLOPs against a hand count: 3 prompt tokens and 2 outputs feed 4
 * positions (the last output is never fed back). */
static void test_flops(void)
{
    const double P = 1000, L = 2, E = 8;
    double want = 0;
    for (int pos = 0; pos < 4; pos++)
        want += 2 * P + 4 * L * E * (pos + 1);
    CHECK_NEAR(joule_request_flops(3, 2, (int64_t)P, (int32_t)L, (int32_t)E), want, 0);
    CHECK_NEAR(joule_request_flops(3, 1, (int64_t)P, (int32_t)L, (int32_t)E),
               3 * 2 * P + 4 * L * E * 6, 0);
}

/* Another node's reading travels as JSON (missing numbers included) and is
 * added into the lead's: domains renamed, totals summed, the longer window,
 * the weakest provenance, "partial" when a node has no total. */
static void test_node_readings(void)
{
    struct joule_reading a, b, back;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    strcpy(a.name, "run");
    a.duration_s = 2.0;
    a.total_energy_j = 80;
    a.total_bound_j = 1;
    a.total_net_energy_j = 20;
    a.total_net_bound_j = 2;
    a.n_domains = 1;
    strcpy(a.domains[0].name, "pkg");
    a.domains[0].energy_j = 80;
    a.domains[0].in_total = 1;
    strcpy(b.name, "run");
    b.duration_s = 2.5;
    b.total_energy_j = 250;
    b.total_bound_j = 3;
    b.total_net_energy_j = NAN; /* no idle baseline there */
    b.total_net_bound_j = NAN;
    b.total_provenance = JOULE_PROV_SAMPLED;
    b.flags = JOULE_FLAG_COARSE;
    b.n_domains = 2;
    strcpy(b.domains[0].name, "gpu0");
    strcpy(b.domains[0].source, "nvml");
    strcpy(b.domains[0].note, "power samples");
    b.domains[0].kind = JOULE_DOMAIN_GPU;
    b.domains[0].provenance = JOULE_PROV_SAMPLED;
    b.domains[0].energy_j = 250;
    b.domains[0].idle_power_w = NAN;
    b.domains[0].n_samples = 25;
    b.domains[0].in_total = 1;
    strcpy(b.domains[1].name, "gpu1");
    b.domains[1].provenance = JOULE_PROV_UNAVAILABLE;
    b.domains[1].energy_j = NAN;

    char *json = joule_reading_to_json(&b);
    CHECK(json != NULL);
    CHECK(joule_reading_from_json(json ? json : "", &back) == JOULE_OK);
    free(json);
    CHECK(back.n_domains == 2);
    CHECK_NEAR(back.duration_s, 2.5, 0);
    CHECK(back.total_provenance == JOULE_PROV_SAMPLED);
    CHECK(back.flags == JOULE_FLAG_COARSE);
    CHECK(isnan(back.total_net_energy_j));
    CHECK_STR(back.domains[0].source, "nvml");
    CHECK_STR(back.domains[0].note, "power samples");
    CHECK(back.domains[0].kind == JOULE_DOMAIN_GPU);
    CHECK(back.domains[0].n_samples == 25);
    CHECK(isnan(back.domains[0].idle_power_w));
    CHECK(back.domains[1].provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(isnan(back.domains[1].energy_j));
    CHECK(joule_reading_from_json("{\"domains\": 3}", &back) == JOULE_ERR_FORMAT);
    CHECK(joule_reading_from_json("not json", &back) == JOULE_ERR_FORMAT);

    joule_reading_add_node(&a, &b, "node02");
    CHECK(a.n_domains == 3);
    CHECK_STR(a.domains[1].name, "node02:gpu0");
    CHECK_STR(a.domains[2].name, "node02:gpu1");
    CHECK_NEAR(a.total_energy_j, 330, 1e-12);
    CHECK_NEAR(a.total_bound_j, 4, 1e-12);
    CHECK(isnan(a.total_net_energy_j)); /* net only when every node has it */
    CHECK_NEAR(a.duration_s, 2.5, 0);
    CHECK(a.total_provenance == JOULE_PROV_SAMPLED);
    CHECK(a.flags & JOULE_FLAG_MIXED);
    CHECK(a.flags & JOULE_FLAG_COARSE);
    CHECK(!(a.flags & JOULE_FLAG_PARTIAL));
    b.total_energy_j = NAN; /* a node with no number */
    joule_reading_add_node(&a, &b, "node03");
    CHECK_NEAR(a.total_energy_j, 330, 1e-12);
    CHECK(a.flags & JOULE_FLAG_PARTIAL);
    /* more domains than a reading holds: the rest are dropped, no overflow */
    for (int i = 0; i < 20; i++)
        joule_reading_add_node(&a, &b, "nodeX");
    CHECK(a.n_domains == JOULE_MAX_DOMAINS);
}

int main(void)
{
    const char *t = getenv("JOULE_TEST_TMP");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
    RUN(test_flops);
    RUN(test_node_readings);
    if (!setup()) {
        CHECK(0);
        TEST_MAIN_END();
    }
    RUN(test_protocol);
    RUN(test_min_window);
    RUN(test_interrupt_resume);
    RUN(test_bad_inputs);
    TEST_MAIN_END();
}
