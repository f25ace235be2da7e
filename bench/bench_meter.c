/*
 * bench_meter.c - what the meter costs: sampler CPU overhead at 10 ms and
 * 100 ms, and begin/end latency, with file-backed sources (a powercap tree
 * of 4 zones in a temporary directory, read the way real sysfs is read) and
 * the CPU estimate on /proc.
 *
 *   build/bench/bench_meter [--seconds S] [--pairs N]
 *
 * Overhead is the process CPU time while the main thread sleeps (so it is
 * the sampler's), as a share of one core.  Latency is the median and the
 * 99th percentile over N begin/end pairs.  Results: docs/performance.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "joule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

/* A powercap tree: package-0 with core, uncore and dram. */
static void make_tree(const char *root)
{
    static const char *const zones[][2] = {
        {"intel-rapl:0", "package-0"},
        {"intel-rapl:0/intel-rapl:0:0", "core"},
        {"intel-rapl:0/intel-rapl:0:1", "uncore"},
        {"intel-rapl:0/intel-rapl:0:2", "dram"},
    };
    mkdir(root, 0755);
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        /* Real sysfs nests subzones; joule lists them flat too, as the kernel does. */
        const char *flat = strrchr(zones[i][0], '/');
        flat = flat ? flat + 1 : zones[i][0];
        char dir[512], path[600];
        snprintf(dir, sizeof(dir), "%s/%s", root, flat);
        mkdir(dir, 0755);
        snprintf(path, sizeof(path), "%s/name", dir);
        write_file(path, zones[i][1]);
        snprintf(path, sizeof(path), "%s/energy_uj", dir);
        write_file(path, "123456789\n");
        snprintf(path, sizeof(path), "%s/max_energy_range_uj", dir);
        write_file(path, "262143328850\n");
    }
}

static struct joule_meter *open_meter(const char *root, const char *sources, unsigned interval)
{
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = sources;
    p.powercap_root = root;
    p.interval_ms = interval;
    struct joule_meter *m = NULL;
    if (joule_meter_open(&p, &m) != JOULE_OK) {
        fprintf(stderr, "open: %s\n", joule_meter_errmsg(m));
        exit(1);
    }
    return m;
}

static void overhead(const char *root, const char *sources, unsigned interval, double seconds)
{
    struct joule_meter *m = open_meter(root, sources, interval);
    double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    double c1 = now_s(CLOCK_PROCESS_CPUTIME_ID), w1 = now_s(CLOCK_MONOTONIC);
    uint64_t ticks = joule_meter_timeline_count(m, NULL);
    joule_meter_close(m);
    printf("sampler  %-14s %4u ms   %7.3f %% of one core   %6.1f us per tick (%llu ticks)\n",
           sources, interval, 100 * (c1 - c0) / (w1 - w0), 1e6 * (c1 - c0) / (double)ticks,
           (unsigned long long)ticks);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void latency(const char *root, const char *sources, int pairs)
{
    struct joule_meter *m = open_meter(root, sources, 100);
    double *b = malloc(sizeof(double) * (size_t)pairs), *e = malloc(sizeof(double) * (size_t)pairs);
    struct joule_reading *r = malloc(sizeof(*r));
    if (!b || !e || !r)
        exit(1);
    for (int i = 0; i < pairs; i++) {
        double t0 = now_s(CLOCK_MONOTONIC);
        joule_meter_begin(m, "bench");
        double t1 = now_s(CLOCK_MONOTONIC);
        joule_meter_end(m, "bench", r);
        double t2 = now_s(CLOCK_MONOTONIC);
        b[i] = (t1 - t0) * 1e6;
        e[i] = (t2 - t1) * 1e6;
    }
    qsort(b, (size_t)pairs, sizeof(double), cmp_double);
    qsort(e, (size_t)pairs, sizeof(double), cmp_double);
    printf("latency  %-14s begin median %6.2f us  p99 %6.2f us   end median %6.2f us  p99 %6.2f us"
           "   (%d domains, %d pairs)\n",
           sources, b[pairs / 2], b[pairs * 99 / 100], e[pairs / 2], e[pairs * 99 / 100],
           r->n_domains, pairs);
    free(b);
    free(e);
    free(r);
    joule_meter_close(m);
}

int main(int argc, char **argv)
{
    double seconds = 5;
    int pairs = 10000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--pairs") == 0)
            pairs = (int)strtol(argv[i + 1], NULL, 10);
    }
    if (!(seconds > 0) || pairs < 100) {
        fprintf(stderr, "usage: bench_meter [--seconds S>0] [--pairs N>=100]\n");
        return 2;
    }
    char root[256];
    snprintf(root, sizeof(root), "/tmp/joule-bench-powercap.%ld", (long)getpid());
    make_tree(root);
    printf("joule %s, bench_meter: %g s per overhead run, %d begin/end pairs\n", joule_version(),
           seconds, pairs);
    latency(root, "rapl", pairs);
    latency(root, "rapl,estimate", pairs);
    overhead(root, "rapl", 100, seconds);
    overhead(root, "rapl", 10, seconds);
    overhead(root, "rapl,estimate", 100, seconds);
    overhead(root, "rapl,estimate", 10, seconds);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return 0;
}
