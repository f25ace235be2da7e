/*
 * test_advise.c - the advisor's library side: the analytic model against
 * hand calculations, calibration on a synthetic results database, device
 * and model lookups, and each audit rule on a file where it must fire and
 * one where it must not.
 */
#include "test.h"

#include "advise.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[512], datadir[512];

/* A device and a shape of round numbers, so the figures can be worked by
 * hand: 100 GB/s, 10 TFLOPS FP16, 200 W TDP, 50 W idle; 1e9 parameters in
 * 10 layers of width 1000 (10 heads, all KV). */
static const struct joule_hw toy_dev = {"toy", "toy GPU", "toy", JOULE_HW_GPU, 100, 100, 200,
                                        50,    5,         10,    10,           0,   20,  "toy gpu"};

static struct joule_shape toy_shape(void)
{
    struct joule_shape s;
    memset(&s, 0, sizeof(s));
    snprintf(s.name, sizeof(s.name), "toy");
    s.n_params = s.compute_params = 1e9;
    s.n_layer = 10;
    s.n_embd = 1000;
    s.n_head = s.n_head_kv = 10;
    s.n_ff = 2000;
    s.n_vocab = 1000;
    return s;
}

static void test_model_by_hand(void)
{
    const struct joule_shape s = toy_shape();
    const struct joule_prec *fp16 = joule_prec_find("fp16");
    CHECK(fp16 != NULL);
    if (!fp16)
        return;
    struct joule_workload w = {1, 100, 100};
    struct joule_prediction p;
    joule_model_predict(&toy_dev, &s, fp16, &w, 1.0, &p);
    /* KV per position: K and V, 10 layers x 1000 x 2 bytes. */
    CHECK_NEAR(p.kv_bytes_token, 40000, 1e-9);
    CHECK_NEAR(p.weight_bytes, 2e9, 1);
    /* Decode at the mean context 150: 2e9 + 150 x 40000 bytes = 2.006e9;
     * 2e9 + 4 x 10 x 1000 x 150 FLOPs = 2.006e9.  Memory: 2.006e9 / (100e9
     * x 0.8) = 25.075 ms; compute 0.334 ms; 10 layers x 12 kernels x 8 us =
     * 0.96 ms.  Step: 26.035 ms. */
    CHECK_NEAR(p.step_s, 0.025075 + 0.00096, 1e-9);
    CHECK(p.memory_bound);
    /* Utilisation 2.006e9 / 100e9 / 26.035 ms = 0.77050; power 50 + 150 x
     * (0.6 + 0.4 x 0.77050) = 186.23 W. */
    CHECK_NEAR(p.util, 0.02006 / 0.026035, 1e-9);
    CHECK_NEAR(p.power_w, 50 + 150 * (0.6 + 0.4 * (0.02006 / 0.026035)), 1e-6);
    /* Prefill of 100 tokens: 2e9 + 100 x 40000 = 2.004e9 bytes (25.05 ms
     * at 80 GB/s), 2 x 1e9 x 100 + 2 x 10 x 1000 x 100^2 = 2.002e11 FLOPs
     * (33.37 ms at 6 TFLOPS): compute-bound, + 0.96 ms. */
    CHECK_NEAR(p.prefill_s, 2.002e11 / 6e12 + 0.00096, 1e-9);
    CHECK_NEAR(p.latency_s, p.prefill_s + 100 * p.step_s, 1e-12);
    /* Energy: prefill at full utilisation (200 W) + 100 steps at the decode
     * power, per 100 output tokens. */
    /* (its utilisation: the larger of 2.004e9 / 100e9 and 2.002e11 / 10e12) */
    const double u_pre = 0.02004 / p.prefill_s;
    const double e = (50 + 150 * (0.6 + 0.4 * u_pre)) * p.prefill_s + p.power_w * 100 * p.step_s;
    CHECK_NEAR(p.j_per_request, e, 1e-9 * e);
    CHECK_NEAR(p.j_per_1k_out, 10 * e, 1e-9 * e);
    CHECK_NEAR(p.tokens_per_joule, 100 / e, 1e-12);
    /* Memory: 2e9 weights + 200 positions x 40000 + 1 GB reserve. */
    CHECK_NEAR(p.mem_bytes, 2e9 + 8e6 + 1e9, 1);
    CHECK(p.fits);
    CHECK(p.max_batch == (int32_t)((100e9 - 2e9 - 1e9) / 8e6));

    /* Batch 8 reads the weights once for 8 tokens: far less per token. */
    struct joule_prediction p8;
    w.batch = 8;
    joule_model_predict(&toy_dev, &s, fp16, &w, 1.0, &p8);
    CHECK(p8.j_per_1k_out < p.j_per_1k_out / 4);
    CHECK(p8.throughput_tok_s > 5 * p.throughput_tok_s);
    /* A batch too large for the memory does not fit. */
    w.batch = p.max_batch + 1;
    joule_model_predict(&toy_dev, &s, fp16, &w, 1.0, &p8);
    CHECK(!p8.fits);
    /* The calibration scale multiplies time and energy. */
    w.batch = 1;
    joule_model_predict(&toy_dev, &s, fp16, &w, 2.0, &p8);
    CHECK_NEAR(p8.latency_s, 2 * p.latency_s, 1e-12);
    CHECK_NEAR(p8.j_per_1k_out, 2 * p.j_per_1k_out, 1e-9 * p.j_per_1k_out);

    /* The default INT8's extra kernels cost it more than pure INT8. */
    struct joule_prediction mixed, pure;
    joule_model_predict(&toy_dev, &s, joule_prec_find("int8_default"), &w, 1.0, &mixed);
    joule_model_predict(&toy_dev, &s, joule_prec_find("int8_pure"), &w, 1.0, &pure);
    CHECK(mixed.j_per_1k_out > pure.j_per_1k_out);
    CHECK_NEAR(pure.weight_bytes, 1e9, 1);
}

static void test_fit(void)
{
    const double p[] = {1, 2, 3, 10};
    double m[4], rms;
    for (int i = 0; i < 4; i++)
        m[i] = 1.7 * p[i];
    CHECK_NEAR(joule_model_fit_scale(p, m, 4, &rms), 1.7, 1e-12);
    CHECK_NEAR(rms, 0, 1e-12);
    /* Hand-worked: k = (1x2 + 2x2) / (1 + 4) = 1.2. */
    const double p2[] = {1, 2}, m2[] = {2, 2};
    CHECK_NEAR(joule_model_fit_scale(p2, m2, 2, &rms), 1.2, 1e-12);
    CHECK_NEAR(joule_model_fit_scale(NULL, NULL, 0, &rms), 1.0, 0);
}

/* A results database whose experiments on an A100 measured exactly 1.7 x
 * what the model predicts; one on another GPU measured 5 x, which must not
 * count. */
static void test_calibration(void)
{
    char path[700], err[256];
    snprintf(path, sizeof(path), "%s/advise-calib.db", tmpdir);
    unlink(path);
    struct joule_store *s = NULL;
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (!s)
        return;
    const struct joule_hw *a100 = joule_hw_find("a100-80gb", err, sizeof(err));
    const struct joule_hw *l4 = joule_hw_find("l4", err, sizeof(err));
    struct joule_shape sh;
    CHECK(a100 && l4 && joule_shape_resolve("mistral-7b", &sh, err, sizeof(err)) == JOULE_OK);
    if (!a100 || !l4) {
        joule_store_close(s);
        return;
    }
    const struct {
        const char *prec, *gpu;
        int batch;
        double factor;
    } runs[] = {{"fp16", "NVIDIA A100-SXM4-80GB", 1, 1.7},
                {"fp16", "NVIDIA A100-SXM4-80GB", 8, 1.7},
                {"int8", "NVIDIA A100-SXM4-80GB", 4, 1.7},
                {"fp16", "NVIDIA L4", 1, 5.0}};
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        const struct joule_hw *dev = strstr(runs[i].gpu, "A100") ? a100 : l4;
        struct joule_workload w = {runs[i].batch, 100, 50};
        struct joule_prediction pr;
        joule_model_predict(dev, &sh, joule_prec_find(runs[i].prec), &w, 1.0, &pr);
        char meter[256], hash[16];
        snprintf(meter, sizeof(meter), "[{\"name\":\"gpu0\",\"device\":\"%s\"}]", runs[i].gpu);
        snprintf(hash, sizeof(hash), "h%zu", i);
        struct joule_store_experiment e = {
            .name = "calib",
            .config_yaml = "x: 1\n",
            .config_hash = hash,
            .model_path = "/nonexistent/model.gguf",
            .model_name = "mistral-7b",
            .model_digest = "d",
            .precision = runs[i].prec,
            .backend = "http",
            .dataset = "d",
            .batch_size = runs[i].batch,
            .cycles_planned = 1,
            .cycle_order = "0",
            .environment_json = "{}",
            .meter_json = meter,
        };
        int64_t id = 0;
        CHECK(joule_store_experiment_add(s, &e, &id) == JOULE_OK);
        struct joule_store_cycle c = {0, 0, 1.7e9, 10, 1, ""};
        struct joule_store_metric m[] = {
            {"requests", runs[i].batch},
            {"tokens_in", 100.0 * runs[i].batch},
            {"tokens_out", 50.0 * runs[i].batch},
            {"j_per_1k_out_tokens", runs[i].factor * pr.j_per_1k_out},
            {"throughput_tok_s", pr.throughput_tok_s / runs[i].factor},
        };
        CHECK(joule_store_cycle_add(s, id, &c, m, 5, NULL, 0, NULL, 0) == JOULE_OK);
        CHECK(joule_store_experiment_status(s, id, JOULE_STATUS_COMPLETED, "") == JOULE_OK);
    }
    struct joule_calib_point *pts = NULL;
    size_t n = 0;
    CHECK(joule_calib_points(s, a100, &pts, &n) == JOULE_OK);
    CHECK(n == 3);
    double p[8], m[8], rms = NAN;
    for (size_t i = 0; i < n && i < 8; i++) {
        p[i] = pts[i].predicted;
        m[i] = pts[i].measured;
    }
    CHECK_NEAR(joule_model_fit_scale(p, m, n, &rms), 1.7, 1e-6);
    CHECK(rms < 1e-6);
    free(pts);
    /* The L4 run is the L4's alone. */
    CHECK(joule_calib_points(s, l4, &pts, &n) == JOULE_OK);
    CHECK(n == 1 && pts && fabs(pts[0].measured / pts[0].predicted - 5.0) < 1e-6);
    free(pts);
    /* A CPU class describes no particular machine: nothing calibrates it. */
    CHECK(joule_calib_points(s, joule_hw_find("cpu-server", err, sizeof(err)), &pts, &n) ==
          JOULE_OK);
    CHECK(n == 0);
    free(pts);
    joule_store_close(s);
}

static void test_lookups(void)
{
    char why[1024];
    const struct joule_hw *h = joule_hw_find("RTX 4090 D", why, sizeof(why));
    CHECK(h && strcmp(h->id, "rtx4090d") == 0 && why[0] == '\0');
    h = joule_hw_find("NVIDIA A100 80GB", why, sizeof(why));
    CHECK(h && strcmp(h->id, "a100-80gb") == 0);
    h = joule_hw_find("H100 SXM", why, sizeof(why));
    CHECK(h && strcmp(h->id, "h100-sxm") == 0);
    h = joule_hw_find("h800", why, sizeof(why));
    CHECK(h && strcmp(h->id, "h100-sxm") == 0 && strstr(why, "closest Hopper"));
    CHECK(joule_hw_find("abacus", why, sizeof(why)) == NULL && strstr(why, "mi300x"));

    char buf[256];
    CHECK(joule_prec_refusal(joule_hw_find("v100", why, sizeof(why)), joule_prec_find("bf16"), buf,
                             sizeof(buf)) != NULL &&
          strstr(buf, "Ampere"));
    CHECK(joule_prec_refusal(joule_hw_find("a100-80gb", why, sizeof(why)), joule_prec_find("fp8"),
                             buf, sizeof(buf)) != NULL);
    CHECK(joule_prec_refusal(joule_hw_find("t4", why, sizeof(why)), joule_prec_find("fp16"), buf,
                             sizeof(buf)) == NULL);
    CHECK(joule_prec_find("int8_default") == joule_prec_find("int8-mixed"));
    CHECK(joule_prec_find("int8_pure") == joule_prec_find("int8"));
    CHECK(joule_prec_find("fp4") == NULL);

    struct joule_shape s;
    char err[256];
    CHECK(joule_shape_resolve("mistralai/Mistral-7B-Instruct-v0.2", &s, err, sizeof(err)) ==
          JOULE_OK);
    CHECK(s.n_layer == 32 && s.n_embd == 4096 && fabs(s.n_params - 7.24e9) < 0.05e9);
    CHECK(joule_shape_resolve("acme/Foo-13B-chat", &s, err, sizeof(err)) == JOULE_OK);
    CHECK(fabs(s.n_params - 13e9) < 1.3e9 && strstr(s.origin, "inferred"));
    CHECK(joule_shape_resolve("tinyllama-1.1b", &s, err, sizeof(err)) == JOULE_OK);
    CHECK(fabs(s.n_params - 1.1e9) < 0.05e9);
    CHECK(joule_shape_resolve("acme/foo", &s, err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    CHECK(strstr(err, "7B") != NULL);
}

/* Rules fired by one file, as "rule,rule,..." in order. */
static void rules_of(const char *name, char *out, size_t size)
{
    char path[1100], err[256];
    snprintf(path, sizeof(path), "%s/audit/%s", datadir, name);
    struct joule_audit a = {0};
    out[0] = '\0';
    if (joule_audit_path(&a, path, err, sizeof(err)) != JOULE_OK) {
        snprintf(out, size, "error: %s", err);
        return;
    }
    for (size_t i = 0; i < a.n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%s:%d", l ? "," : "", a.items[i].rule, a.items[i].line);
    }
    joule_audit_free(&a);
}

static void test_audit(void)
{
    char got[1024];
    rules_of("fire/int8_default.py", got, sizeof(got));
    CHECK_STR(got, "int8-default-threshold:5");
    rules_of("quiet/int8_pure.py", got, sizeof(got));
    CHECK_STR(got, "");
    rules_of("fire/small_4bit.py", got, sizeof(got));
    CHECK_STR(got, "nf4-small-model:3");
    rules_of("quiet/big_4bit.py", got, sizeof(got));
    CHECK_STR(got, "");
    rules_of("fire/loop_bs1.py", got, sizeof(got));
    CHECK_STR(got, "batch1-generate-loop:8");
    rules_of("quiet/batched.py", got, sizeof(got));
    CHECK_STR(got, "");
    rules_of("fire/no_cache.yaml", got, sizeof(got));
    CHECK_STR(got, "use-cache-false:3,fp32-weights:5");
    rules_of("quiet/cache.yaml", got, sizeof(got));
    CHECK_STR(got, "");
    rules_of("fire/no_device_map.json", got, sizeof(got));
    CHECK_STR(got, "quant-no-device-map:1");
    rules_of("quiet/device_map.json", got, sizeof(got));
    CHECK_STR(got, "");
    /* A directory: every file, in name order; severities as documented. */
    char path[1100], err[256];
    snprintf(path, sizeof(path), "%s/audit/fire", datadir);
    struct joule_audit a = {0};
    CHECK(joule_audit_path(&a, path, err, sizeof(err)) == JOULE_OK);
    CHECK(a.files == 5 && a.n == 6);
    CHECK(a.n && a.items[0].severity == JOULE_SEV_CRITICAL &&
          strstr(a.items[0].file, "int8_default.py"));
    joule_audit_free(&a);
    snprintf(path, sizeof(path), "%s/audit/none", datadir);
    CHECK(joule_audit_path(&a, path, err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    /* Text of any origin, YAML spelling of the INT8 trap. */
    const char *y = "quantization:\n  load_in_8bit: true\n";
    CHECK(joule_audit_text(&a, "cfg.yaml", y, strlen(y)) == JOULE_OK);
    CHECK(a.n == 2 && a.items[0].line == 2 && a.items[0].column == 3);
    joule_audit_free(&a);
}

int main(void)
{
    const char *t = getenv("JOULE_TEST_TMP"), *d = getenv("JOULE_TEST_DATA");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t ? t : "/tmp");
    snprintf(datadir, sizeof(datadir), "%s", d ? d : "tests/data");
    RUN(test_model_by_hand);
    RUN(test_fit);
    RUN(test_calibration);
    RUN(test_lookups);
    RUN(test_audit);
    TEST_MAIN_END();
}
