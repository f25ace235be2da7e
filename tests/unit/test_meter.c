/*
 * test_meter.c - the meter on a virtual clock with the scripted fake source:
 * exact joules for counters, wraps, resets, short windows, sampled power,
 * idle subtraction, nested and overlapping windows, flags and errors.
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "joule_int.h"
#include "test.h"
#include "testmeter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char script_path[512];

/* Write a script and open a meter on it with no sampler thread. */
static struct joule_meter *open_script(struct vclock *vc, const char *script)
{
    const char *tmp = getenv("JOULE_TEST_TMP");
    snprintf(script_path, sizeof(script_path), "%s/meter_script.txt", tmp ? tmp : "/tmp");
    FILE *f = fopen(script_path, "w");
    if (!f)
        return NULL;
    fputs(script, f);
    fclose(f);
    char spec[600];
    snprintf(spec, sizeof(spec), "fake:%s", script_path);
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = spec;
    p.interval_ms = 0;
    p.timeline_max = 100;
    return open_virtual(&p, vc);
}

static struct joule_reading rd; /* large: keep it off the stack */

static void test_counter_exact(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain g kind=gpu mode=counter resolution_j=0.001\n"
                                             "at 0 g=100\nat 2 g=300\n");
    CHECK(m != NULL);
    if (!m)
        return;
    vc.t = 1;
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    vc.t = 3;
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    const struct joule_domain_reading *g = domain_of(&rd, "g");
    CHECK(g && g->provenance == JOULE_PROV_MEASURED);
    CHECK_NEAR(g->energy_j, 100 * 1 + 300 * 1, 1e-9);
    CHECK_NEAR(rd.duration_s, 2, 1e-12);
    CHECK_NEAR(g->avg_power_w, 200, 1e-9);
    CHECK_NEAR(rd.total_energy_j, 400, 1e-9);
    CHECK(rd.total_provenance == JOULE_PROV_MEASURED);
    CHECK(isnan(g->net_energy_j) && isnan(rd.total_net_energy_j)); /* no idle baseline */
    CHECK(rd.flags == 0);
    joule_meter_close(m);
}

static void test_counter_update_period(void)
{
    /* A 100 ms counter read mid-period shows the value at the last update. */
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain g kind=gpu mode=counter update_ms=100 resolution_j=0.001\n"
                         "at 0 g=100\n");
    if (!m) {
        CHECK(0);
        return;
    }
    vc.t = 1.05;
    joule_meter_begin(m, "w");
    vc.t = 3.05;
    joule_meter_end(m, "w", &rd);
    const struct joule_domain_reading *g = domain_of(&rd, "g");
    CHECK_NEAR(g->energy_j, 200, 1e-9);
    CHECK(!(g->flags & JOULE_FLAG_SHORT_WINDOW));
    /* Bound: 2 * resolution + 2 * peak * U = 0.002 + 2 * 100 * 0.1. */
    CHECK_NEAR(g->bound_j, 0.002 + 20, 1e-9);
    joule_meter_close(m);
}

static void test_short_window(void)
{
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain g kind=gpu mode=counter update_ms=100\nat 0 g=100\n");
    if (!m) {
        CHECK(0);
        return;
    }
    /* Sampler ticks give the counter-derived power (100 W). */
    for (vc.t = 0.5; vc.t <= 1.0; vc.t += 0.5)
        meter_tick(m);
    vc.t = 1.01;
    joule_meter_begin(m, "short");
    vc.t = 1.06; /* 50 ms: the counter has not moved */
    joule_meter_end(m, "short", &rd);
    const struct joule_domain_reading *g = domain_of(&rd, "g");
    CHECK(g->flags & JOULE_FLAG_SHORT_WINDOW);
    CHECK(rd.flags & JOULE_FLAG_SHORT_WINDOW);
    CHECK_NEAR(g->energy_j, 100 * 0.05, 1e-9); /* not 0 J */
    CHECK(g->energy_j > 0);
    CHECK_NEAR(g->bound_j, 0 + 100 * 0.1, 1e-9);
    CHECK(strstr(g->note, "shorter than two counter updates") != NULL);
    joule_meter_close(m);
}

static void test_wraparound(void)
{
    struct vclock vc = {0};
    /* Range 150 J at 100 W wraps every 1.5 s; ticks every 0.5 s see each wrap. */
    struct joule_meter *m =
        open_script(&vc, "domain p kind=package mode=counter range_j=150\nat 0 p=100\n");
    if (!m) {
        CHECK(0);
        return;
    }
    vc.t = 1;
    joule_meter_begin(m, "w");
    for (vc.t = 1.5; vc.t < 5.0; vc.t += 0.5)
        meter_tick(m);
    vc.t = 5;
    joule_meter_end(m, "w", &rd);
    const struct joule_domain_reading *p = domain_of(&rd, "p");
    CHECK_NEAR(p->energy_j, 400, 1e-6);
    CHECK(!(p->flags & JOULE_FLAG_COUNTER_RESET));
    joule_meter_close(m);
}

static void test_counter_reset(void)
{
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain g kind=gpu mode=counter\nat 0 g=100\nreset g 2\n");
    if (!m) {
        CHECK(0);
        return;
    }
    vc.t = 1;
    joule_meter_begin(m, "w");
    vc.t = 2.5;
    meter_tick(m); /* raw 50 < 100: a reset */
    vc.t = 3;
    joule_meter_end(m, "w", &rd);
    const struct joule_domain_reading *g = domain_of(&rd, "g");
    CHECK(g->flags & JOULE_FLAG_COUNTER_RESET);
    CHECK_NEAR(g->energy_j, 100, 1e-9); /* 1..2 s is lost, and the note says so */
    CHECK(strstr(g->note, "reset") != NULL);
    joule_meter_close(m);
}

static void test_sampled(void)
{
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain s kind=other mode=power\nat 0 s=100\nat 2 s=200\n");
    if (!m) {
        CHECK(0);
        return;
    }
    vc.t = 1;
    joule_meter_begin(m, "w");
    vc.t = 2;
    meter_tick(m);
    vc.t = 2.5;
    meter_tick(m);
    vc.t = 3;
    joule_meter_end(m, "w", &rd);
    const struct joule_domain_reading *s = domain_of(&rd, "s");
    CHECK(s->provenance == JOULE_PROV_SAMPLED);
    /* Trapezoid over samples (1,100) (2,200) (2.5,200) (3,200). */
    CHECK_NEAR(s->energy_j, 150 + 100 + 100, 1e-9);
    /* The true 300 J lies inside the bound. */
    CHECK(fabs(s->energy_j - 300) <= s->bound_j);
    CHECK_NEAR(s->peak_power_w, 200, 1e-9);
    CHECK(s->n_samples == 2);
    joule_meter_close(m);
}

static void test_idle_and_net(void)
{
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain g kind=gpu mode=counter\nat 0 g=10\nat 1 g=14\nat 2 g=50\n");
    if (!m) {
        CHECK(0);
        return;
    }
    /* Idle from 0 to 2 s: 10 W then 14 W, mean 12 W, std of {10, 14}. */
    CHECK(joule_meter_idle(m, 2) == JOULE_OK);
    CHECK_NEAR(vc.t, 2, 1e-12);
    vc.t = 3;
    joule_meter_begin(m, "w");
    vc.t = 5;
    joule_meter_end(m, "w", &rd);
    const struct joule_domain_reading *g = domain_of(&rd, "g");
    CHECK_NEAR(g->idle_power_w, 12, 1e-9);
    CHECK_NEAR(g->energy_j, 100, 1e-9);
    CHECK_NEAR(g->net_energy_j, 100 - 12 * 2, 1e-9);
    CHECK_NEAR(g->net_bound_j, g->bound_j + 2 * sqrt(8.0), 1e-9);
    CHECK_NEAR(rd.total_net_energy_j, 76, 1e-9);
    CHECK(!(rd.flags & JOULE_FLAG_NEGATIVE_NET));
    CHECK(joule_meter_idle(m, 0.01) == JOULE_ERR_INVALID);
    joule_meter_close(m);
}

static void test_negative_net(void)
{
    struct vclock vc = {0};
    struct joule_meter *m =
        open_script(&vc, "domain g kind=gpu mode=counter\nat 0 g=50\nat 1 g=10\n");
    if (!m) {
        CHECK(0);
        return;
    }
    joule_meter_idle(m, 1);
    vc.t = 2;
    joule_meter_begin(m, "w");
    vc.t = 3;
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(domain_of(&rd, "g")->net_energy_j, -40, 1e-9); /* not clipped to 0 */
    CHECK(rd.flags & JOULE_FLAG_NEGATIVE_NET);
    joule_meter_close(m);
}

static void test_nested_overlapping(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain g kind=gpu mode=counter\nat 0 g=100\n");
    if (!m) {
        CHECK(0);
        return;
    }
    struct joule_reading inner, a;
    joule_meter_begin(m, "outer");
    vc.t = 1;
    joule_meter_begin(m, "inner");
    vc.t = 1.5;
    joule_meter_begin(m, "a"); /* overlaps inner's end */
    vc.t = 2;
    CHECK(joule_meter_end(m, "inner", &inner) == JOULE_OK);
    vc.t = 3;
    CHECK(joule_meter_end(m, "a", &a) == JOULE_OK);
    vc.t = 4;
    CHECK(joule_meter_end(m, "outer", &rd) == JOULE_OK);
    CHECK_NEAR(inner.total_energy_j, 100, 1e-9);
    CHECK_NEAR(a.total_energy_j, 150, 1e-9);
    CHECK_NEAR(rd.total_energy_j, 400, 1e-9);
    CHECK_STR(inner.name, "inner");
    CHECK_NEAR(inner.t_begin_s, 1, 1e-12);
    joule_meter_close(m);
}

static void test_totals_and_flags(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain pkg kind=package mode=counter\n"
                                             "domain core kind=core mode=counter in_total=0\n"
                                             "domain cpu kind=cpu mode=estimate\n"
                                             "domain gone kind=gpu mode=unavailable note=no driver\n"
                                             "at 0 pkg=20 core=15 cpu=7\n");
    if (!m) {
        CHECK(0);
        return;
    }
    joule_meter_begin(m, "w");
    vc.t = 1;
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(rd.total_energy_j, 27, 1e-9); /* core is inside pkg */
    CHECK(rd.total_provenance == JOULE_PROV_ESTIMATED);
    CHECK(rd.flags & JOULE_FLAG_MIXED);
    CHECK(rd.flags & JOULE_FLAG_PARTIAL);
    CHECK(!(rd.flags & JOULE_FLAG_ESTIMATED_ONLY));
    const struct joule_domain_reading *cpu = domain_of(&rd, "cpu");
    CHECK(cpu->provenance == JOULE_PROV_ESTIMATED);
    CHECK_NEAR(cpu->bound_j, 0.3 * 7, 1e-9);
    const struct joule_domain_reading *gone = domain_of(&rd, "gone");
    CHECK(gone->provenance == JOULE_PROV_UNAVAILABLE && isnan(gone->energy_j));
    CHECK_STR(gone->note, "no driver");
    joule_meter_close(m);

    m = open_script(&vc, "domain cpu kind=cpu mode=estimate\nat 0 cpu=7\n");
    if (!m) {
        CHECK(0);
        return;
    }
    joule_meter_begin(m, "w");
    vc.t += 1;
    joule_meter_end(m, "w", &rd);
    CHECK(rd.flags & JOULE_FLAG_ESTIMATED_ONLY);
    CHECK(!(rd.flags & JOULE_FLAG_MIXED));
    joule_meter_close(m);
}

static void test_read_failures(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain g kind=gpu mode=counter\n"
                                             "domain h kind=gpu mode=counter\nat 0 g=100 h=100\n"
                                             "fail g 1.4 1.6\nfail h 2.9 5\n");
    if (!m) {
        CHECK(0);
        return;
    }
    vc.t = 1;
    joule_meter_begin(m, "w");
    vc.t = 1.5;
    meter_tick(m); /* g fails here */
    vc.t = 3;
    joule_meter_end(m, "w", &rd); /* h fails at the end */
    const struct joule_domain_reading *g = domain_of(&rd, "g"), *h = domain_of(&rd, "h");
    CHECK(g->flags & JOULE_FLAG_METER_GAP);
    CHECK_NEAR(g->energy_j, 200, 1e-9); /* the counter carries over the gap */
    CHECK(h->provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(strstr(h->note, "read failed (scripted failure) at the window's end") != NULL);
    CHECK(rd.flags & JOULE_FLAG_PARTIAL);
    joule_meter_close(m);
}

static void test_errors(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain g kind=gpu mode=counter\n");
    if (!m) {
        CHECK(0);
        return;
    }
    CHECK(joule_meter_begin(m, "x") == JOULE_OK);
    CHECK(joule_meter_begin(m, "x") == JOULE_ERR_STATE);
    CHECK(strstr(joule_meter_errmsg(m), "already open") != NULL);
    CHECK(joule_meter_end(m, "y", &rd) == JOULE_ERR_NOT_FOUND);
    CHECK(joule_meter_begin(m, "") == JOULE_ERR_INVALID);
    char longname[100];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[99] = '\0';
    CHECK(joule_meter_begin(m, longname) == JOULE_ERR_INVALID);
    CHECK(joule_meter_end(m, "x", &rd) == JOULE_OK);
    CHECK(joule_meter_end(m, "x", &rd) == JOULE_ERR_NOT_FOUND);
    joule_meter_close(m);

    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "rapl,bogus";
    p.interval_ms = 0;
    CHECK(joule_meter_open(&p, &m) == JOULE_ERR_INVALID);
    CHECK(strstr(joule_meter_errmsg(m), "unknown energy source 'bogus'") != NULL);
    joule_meter_close(m);
    p.sources = "fake";
    CHECK(joule_meter_open(&p, &m) == JOULE_ERR_INVALID);
    joule_meter_close(m);
    p.sources = "fake:/nonexistent/script";
    CHECK(joule_meter_open(&p, &m) == JOULE_ERR_IO);
    CHECK(strstr(joule_meter_errmsg(m), "/nonexistent/script") != NULL);
    joule_meter_close(m);
    joule_meter_close(NULL);
}

static void test_timeline(void)
{
    struct vclock vc = {0};
    struct joule_meter *m = open_script(&vc, "domain s kind=other mode=power\nat 0 s=5\n");
    if (!m) {
        CHECK(0);
        return;
    }
    for (int i = 1; i <= 150; i++) {
        vc.t = i * 0.1;
        meter_tick(m);
    }
    uint64_t dropped = 0;
    /* 151 ticks (one at open) into a ring of 100. */
    CHECK(joule_meter_timeline_count(m, &dropped) == 100);
    CHECK(dropped == 51);
    char path[600];
    snprintf(path, sizeof(path), "%s.csv", script_path);
    CHECK(joule_meter_write_timeline(m, path) == JOULE_OK);
    FILE *f = fopen(path, "r");
    char line[256] = "";
    int rows = 0;
    CHECK(f && fgets(line, sizeof(line), f));
    CHECK_STR(line, "t_s,s_w\n");
    char first[256] = "";
    while (f && fgets(line, sizeof(line), f)) {
        if (rows == 0)
            joule_strlcpy(first, line, sizeof(first));
        rows++;
    }
    if (f)
        fclose(f);
    CHECK(rows == 100);
    CHECK_STR(first, "5.100000,5.0000\n"); /* the oldest kept sample */
    CHECK(joule_meter_write_timeline(m, "/nonexistent-dir/x.csv") == JOULE_ERR_IO);
    joule_meter_close(m);
}

static void test_real_sampler(void)
{
    /* The real clock and sampler thread: a constant 50 W counter. */
    const char *tmp = getenv("JOULE_TEST_TMP");
    char path[512], spec[600];
    snprintf(path, sizeof(path), "%s/sampler_script.txt", tmp ? tmp : "/tmp");
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK(0);
        return;
    }
    fputs("domain g kind=gpu mode=counter\ndomain s kind=other mode=power\nat 0 g=50 s=20\n", f);
    fclose(f);
    snprintf(spec, sizeof(spec), "fake:%s", path);
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = spec;
    p.interval_ms = 5;
    struct joule_meter *m;
    CHECK(joule_meter_open(&p, &m) == JOULE_OK);
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    const struct joule_domain_reading *g = domain_of(&rd, "g"), *s = domain_of(&rd, "s");
    CHECK_NEAR(g->energy_j, 50 * rd.duration_s, 1e-6);
    CHECK_NEAR(s->energy_j, 20 * rd.duration_s, 1e-6);
    CHECK(s->n_samples >= 5); /* about 40 expected; a loaded machine may stall */
    CHECK(joule_meter_timeline_count(m, NULL) >= 5);
    joule_meter_close(m);
}

int main(void)
{
    RUN(test_counter_exact);
    RUN(test_counter_update_period);
    RUN(test_short_window);
    RUN(test_wraparound);
    RUN(test_counter_reset);
    RUN(test_sampled);
    RUN(test_idle_and_net);
    RUN(test_negative_net);
    RUN(test_nested_overlapping);
    RUN(test_totals_and_flags);
    RUN(test_read_failures);
    RUN(test_errors);
    RUN(test_timeline);
    RUN(test_real_sampler);
    TEST_MAIN_END();
}
