/*
 * test_nvml.c - the NVML source through the public API, against the stub
 * library tests/tools/nvml_stub.c (path in $JOULE_TEST_NVML_STUB).
 *
 * The stub reads its NVML_STUB_* script at nvmlInit, so every test sets the
 * environment before joule_meter_open.
 */
#define _POSIX_C_SOURCE 200809L
#include "joule.h"
#include "test.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STUB_W 150.0 /* NVML_STUB_POWER_MW default */

static const char *stub_path;
static struct joule_reading rd;

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Forget every script variable of the previous test. */
static void reset_env(void)
{
    static const char *const vars[] = {
        "NVML_STUB_COUNT",      "NVML_STUB_POWER_MW",
        "NVML_STUB_NO_ENERGY",  "NVML_STUB_INIT_FAIL",
        "NVML_STUB_MIG",        "NVML_STUB_RESET_AFTER_S",
        "NVML_STUB_NO_POWER",   "NVML_STUB_ENERGY_START_MJ",
        "CUDA_VISIBLE_DEVICES",
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* A meter on the nvml source only, loading lib (the stub when NULL). */
static struct joule_meter *open_nvml(const char *lib)
{
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "nvml";
    p.nvml_lib = lib ? lib : stub_path;
    p.interval_ms = 10;
    struct joule_meter *m = NULL;
    enum joule_status s = joule_meter_open(&p, &m);
    CHECK(s == JOULE_OK);
    if (s != JOULE_OK)
        fprintf(stderr, "joule_meter_open: %s\n", joule_meter_errmsg(m));
    return m;
}

static struct joule_domain_info info_of(struct joule_meter *m, uint32_t i)
{
    struct joule_domain_info in;
    memset(&in, 0, sizeof(in));
    CHECK(joule_meter_domain_info(m, i, &in) == JOULE_OK);
    return in;
}

static bool has(const char *text, const char *part)
{
    bool ok = strstr(text, part) != NULL;
    if (!ok)
        fprintf(stderr, "  \"%s\" lacks \"%s\"\n", text, part);
    return ok;
}

/* The one unavailable "gpu" entry a source declares when it has no GPU. */
static void check_no_gpu(struct joule_meter *m, int in_total, const char *why)
{
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    CHECK_STR(in.name, "gpu");
    CHECK_STR(in.source, "nvml");
    CHECK(in.kind == JOULE_DOMAIN_GPU);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(in.in_total == in_total);
    CHECK(has(in.note, why));
}

static void check_gpu(const struct joule_domain_info *in, const char *name, int index)
{
    char want[96];
    CHECK_STR(in->name, name);
    CHECK_STR(in->source, "nvml");
    CHECK(in->kind == JOULE_DOMAIN_GPU);
    CHECK(in->index == index);
    snprintf(want, sizeof(want), "Stub GPU %d", index);
    CHECK_STR(in->device, want);
    snprintf(want, sizeof(want), "GPU-00000000-0000-0000-0000-%012d", index);
    CHECK_STR(in->uuid, want);
    CHECK_STR(in->driver, "999.99");
    CHECK_NEAR(in->power_limit_w, 300, 1e-9);
    CHECK(in->in_total == 1);
}

static void test_one_gpu(void)
{
    reset_env();
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 0);
    CHECK(in.provenance == JOULE_PROV_MEASURED);
    CHECK(in.mig_mode == 0);
    CHECK_NEAR(in.update_period_s, 0.1, 1e-12);
    CHECK(isnan(in.counter_range_j)); /* a 64-bit counter: no wrap */
    CHECK_STR(in.note, "");
    /* Live facts from describe(). */
    CHECK_NEAR(in.power_w, STUB_W, 1e-9);
    CHECK_NEAR(in.sm_clock_mhz, 1410, 0);
    CHECK_NEAR(in.mem_clock_mhz, 1215, 0);
    CHECK_NEAR(in.temperature_c, 45, 0);
    CHECK_NEAR(in.memory_total_mib, 80 * 1024, 1e-9);
    CHECK_NEAR(in.memory_used_mib, 1024, 1e-9);
    CHECK_NEAR(in.utilization_pct, 37, 0);
    joule_meter_close(m);
}

static void test_two_gpus(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "2", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 2);
    struct joule_domain_info a = info_of(m, 0), b = info_of(m, 1);
    check_gpu(&a, "gpu0", 0);
    check_gpu(&b, "gpu1", 1);
    CHECK(a.provenance == JOULE_PROV_MEASURED && b.provenance == JOULE_PROV_MEASURED);
    joule_meter_close(m);
}

/* The counter: 0.5 s and 1.5 s windows (nested) agree with P x T within
 * their bounds.  The bound is 2 x 1 mJ + 2 x P x 100 ms = 30 J, so only the
 * longer window gets below 20 % of its energy. */
static void test_counter_window(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "2", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_begin(m, "long") == JOULE_OK);
    CHECK(joule_meter_begin(m, "short") == JOULE_OK);
    sleep_s(0.5);
    CHECK(joule_meter_end(m, "short", &rd) == JOULE_OK);
    for (uint32_t i = 0; i < 2; i++) {
        const struct joule_domain_reading *d = &rd.domains[i];
        CHECK(d->provenance == JOULE_PROV_MEASURED);
        CHECK(!(d->flags & (JOULE_FLAG_SHORT_WINDOW | JOULE_FLAG_COUNTER_RESET)));
        CHECK_NEAR(d->energy_j, STUB_W * rd.duration_s, d->bound_j);
        CHECK(d->bound_j > 0 && d->bound_j < 0.5 * d->energy_j);
        CHECK_NEAR(d->interval_s, 0.1, 1e-12);
    }
    CHECK(rd.total_provenance == JOULE_PROV_MEASURED);
    CHECK_NEAR(rd.total_energy_j, 2 * STUB_W * rd.duration_s, rd.total_bound_j);
    sleep_s(1.0);
    CHECK(joule_meter_end(m, "long", &rd) == JOULE_OK);
    const struct joule_domain_reading *d = &rd.domains[0];
    CHECK(d->provenance == JOULE_PROV_MEASURED);
    CHECK_NEAR(d->energy_j, STUB_W * rd.duration_s, d->bound_j);
    CHECK(d->bound_j < 0.2 * d->energy_j);
    CHECK_NEAR(d->peak_power_w, STUB_W, 1e-9);
    joule_meter_close(m);
}

static void test_pre_volta(void)
{
    reset_env();
    setenv("NVML_STUB_NO_ENERGY", "1", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 0);
    CHECK(in.provenance == JOULE_PROV_SAMPLED);
    CHECK(has(in.note, "pre-Volta"));
    CHECK(isnan(in.update_period_s));
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    sleep_s(0.5);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    const struct joule_domain_reading *d = &rd.domains[0];
    CHECK(d->provenance == JOULE_PROV_SAMPLED);
    CHECK_NEAR(d->energy_j, STUB_W * rd.duration_s, d->bound_j);
    CHECK(d->bound_j > 0 && d->bound_j < 0.2 * d->energy_j);
    CHECK(d->n_samples > 10);
    joule_meter_close(m);
}

static void test_nothing_readable(void)
{
    reset_env();
    setenv("NVML_STUB_NO_ENERGY", "1", 1);
    setenv("NVML_STUB_NO_POWER", "1", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 0);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(has(in.note, "Not Supported"));
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    CHECK(rd.domains[0].provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(isnan(rd.total_energy_j));
    CHECK(rd.flags & JOULE_FLAG_PARTIAL);
    joule_meter_close(m);
}

static void test_init_fail(void)
{
    reset_env();
    setenv("NVML_STUB_INIT_FAIL", "1", 1);
    struct joule_meter *m = open_nvml(NULL);
    check_no_gpu(m, 1, "Driver Not Loaded");
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    CHECK(rd.n_domains == 1 && rd.domains[0].provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(isnan(rd.total_energy_j));
    CHECK(rd.flags & JOULE_FLAG_PARTIAL);
    joule_meter_close(m);
}

static void test_missing_library(void)
{
    reset_env();
    struct joule_meter *m = open_nvml("/nonexistent/libnvidia-ml.so.1");
    check_no_gpu(m, 0, "no NVIDIA driver");
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    CHECK(!(rd.flags & JOULE_FLAG_PARTIAL)); /* no GPU is not a gap */
    joule_meter_close(m);
}

/* A library that loads but is not NVML (libm): a driver problem, a gap. */
static void test_not_nvml(void)
{
    reset_env();
    struct joule_meter *m = open_nvml("libm.so.6");
    check_no_gpu(m, 1, "nvmlInit_v2");
    joule_meter_close(m);
}

static void test_no_devices(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "0", 1);
    struct joule_meter *m = open_nvml(NULL);
    check_no_gpu(m, 0, "NVML found no GPU");
    joule_meter_close(m);
}

static void test_visible_index(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "2", 1);
    setenv("CUDA_VISIBLE_DEVICES", "1", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 1);
    CHECK(in.provenance == JOULE_PROV_MEASURED);
    joule_meter_close(m);
}

/* The meter's own list wins over the environment. */
static void test_visible_param(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "3", 1);
    setenv("CUDA_VISIBLE_DEVICES", "0", 1);
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "nvml";
    p.nvml_lib = stub_path;
    p.interval_ms = 10;
    p.gpus = "2,1";
    struct joule_meter *m = NULL;
    CHECK(joule_meter_open(&p, &m) == JOULE_OK);
    CHECK(joule_meter_domain_count(m) == 2);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 2);
    in = info_of(m, 1);
    check_gpu(&in, "gpu1", 1);
    joule_meter_close(m);
}

static void test_visible_empty(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "2", 1);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    struct joule_meter *m = open_nvml(NULL);
    check_no_gpu(m, 0, "CUDA_VISIBLE_DEVICES hides every GPU");
    joule_meter_close(m);

    /* An invalid first entry hides everything too, and says why. */
    setenv("CUDA_VISIBLE_DEVICES", "-1", 1);
    m = open_nvml(NULL);
    check_no_gpu(m, 0, "'-1'");
    joule_meter_close(m);
}

static void test_visible_stops(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "2", 1);
    setenv("CUDA_VISIBLE_DEVICES", "0,7,1", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 0);
    CHECK(has(in.note, "stops at no GPU 7"));
    joule_meter_close(m);

    /* A repeated GPU would be counted twice: stop there as well. */
    setenv("CUDA_VISIBLE_DEVICES", "1, 1,0", 1);
    m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    in = info_of(m, 0);
    check_gpu(&in, "gpu0", 1);
    joule_meter_close(m);
}

static void test_visible_uuid(void)
{
    reset_env();
    setenv("NVML_STUB_COUNT", "3", 1);
    setenv("CUDA_VISIBLE_DEVICES", "GPU-00000000-0000-0000-0000-000000000002,0", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_domain_count(m) == 2);
    struct joule_domain_info a = info_of(m, 0), b = info_of(m, 1);
    check_gpu(&a, "gpu0", 2);
    check_gpu(&b, "gpu1", 0);
    CHECK_STR(a.note, "");
    joule_meter_close(m);

    /* A prefix that matches several GPUs is invalid. */
    setenv("CUDA_VISIBLE_DEVICES", "GPU-0000", 1);
    m = open_nvml(NULL);
    check_no_gpu(m, 0, "matches several GPUs");
    joule_meter_close(m);

    /* MIG instances are not mapped to their GPU: say so. */
    setenv("CUDA_VISIBLE_DEVICES", "MIG-4f1e1bb6-2a3c-5c9d-8e7f-0123456789ab", 1);
    m = open_nvml(NULL);
    check_no_gpu(m, 0, "MIG instance");
    joule_meter_close(m);
}

static void test_counter_reset(void)
{
    reset_env();
    setenv("NVML_STUB_RESET_AFTER_S", "0.2", 1);
    struct joule_meter *m = open_nvml(NULL);
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    sleep_s(0.5);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    const struct joule_domain_reading *d = &rd.domains[0];
    CHECK(d->provenance == JOULE_PROV_MEASURED);
    CHECK(d->flags & JOULE_FLAG_COUNTER_RESET);
    CHECK(rd.flags & JOULE_FLAG_COUNTER_RESET);
    CHECK(has(d->note, "reset"));
    /* The energy is never the start value's drop: at most P x T. */
    CHECK(d->energy_j >= 0 && d->energy_j <= STUB_W * rd.duration_s + d->bound_j);
    joule_meter_close(m);
}

static void test_mig(void)
{
    reset_env();
    setenv("NVML_STUB_MIG", "1", 1);
    struct joule_meter *m = open_nvml(NULL);
    struct joule_domain_info in = info_of(m, 0);
    check_gpu(&in, "gpu0", 0);
    CHECK(in.mig_mode == 1);
    CHECK(in.provenance == JOULE_PROV_MEASURED);
    CHECK(has(in.note, "MIG enabled: energy is whole-GPU"));
    CHECK(isnan(in.utilization_pct)); /* not supported in MIG mode */
    joule_meter_close(m);
}

/* Meters one after another (and two at once) share the process's NVML. */
static void test_two_meters(void)
{
    reset_env();
    struct joule_meter *a = open_nvml(NULL);
    struct joule_meter *b = open_nvml(NULL);
    CHECK(joule_meter_domain_count(a) == 1 && joule_meter_domain_count(b) == 1);
    joule_meter_close(a);
    struct joule_domain_info in = info_of(b, 0);
    CHECK_NEAR(in.power_w, STUB_W, 1e-9); /* b still reads after a's shutdown */
    joule_meter_close(b);
}

int main(void)
{
    stub_path = getenv("JOULE_TEST_NVML_STUB");
    if (!stub_path || !*stub_path) {
        fprintf(stderr, "JOULE_TEST_NVML_STUB is not set (run through ctest)\n");
        CHECK(stub_path != NULL);
        TEST_MAIN_END();
    }
    RUN(test_one_gpu);
    RUN(test_two_gpus);
    RUN(test_counter_window);
    RUN(test_pre_volta);
    RUN(test_nothing_readable);
    RUN(test_init_fail);
    RUN(test_missing_library);
    RUN(test_not_nvml);
    RUN(test_no_devices);
    RUN(test_visible_index);
    RUN(test_visible_param);
    RUN(test_visible_empty);
    RUN(test_visible_stops);
    RUN(test_visible_uuid);
    RUN(test_counter_reset);
    RUN(test_mig);
    RUN(test_two_meters);
    TEST_MAIN_END();
}
