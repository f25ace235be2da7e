/* workload.c - the built-in dense float workload. */
#define _POSIX_C_SOURCE 200809L
#include "workload.h"
#include "clock.h"
#include "joule_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define N 64

struct worker {
    pthread_t thread;
    uint64_t deadline_ns;
    double flops;
    float sink; /* keeps the result alive so the loop is not optimised away */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    static const float scale = 1.0f / N;
    float *a = malloc(3 * N * N * sizeof(float));
    if (!a)
        return NULL;
    float *b = a + N * N, *c = b + N * N;
    for (int i = 0; i < N * N; i++) {
        a[i] = (float)((i * 7) % 13) * scale;
        b[i] = (float)((i * 5) % 11) * scale;
    }
    while (joule_clock_ns() < w->deadline_ns) {
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++)
                c[i * N + j] = 0;
            for (int k = 0; k < N; k++) {
                float aik = a[i * N + k];
                for (int j = 0; j < N; j++)
                    c[i * N + j] += aik * b[k * N + j];
            }
        }
        w->sink += c[(int)w->flops % (N * N)];
        w->flops += 2.0 * N * N * N;
    }
    free(a);
    return NULL;
}

enum joule_status workload_cpu(double seconds, unsigned threads, struct workload_result *out)
{
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    struct worker *w = calloc(threads, sizeof(*w));
    if (!w)
        return JOULE_ERR_NOMEM;
    uint64_t t0 = joule_clock_ns();
    uint64_t deadline = t0 + (uint64_t)(seconds * 1e9);
    unsigned started = 0;
    for (unsigned i = 0; i < threads; i++) {
        w[i].deadline_ns = deadline;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    out->flops = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        out->flops += w[i].flops;
    }
    out->threads = started;
    out->seconds = (double)(joule_clock_ns() - t0) * 1e-9;
    free(w);
    return started == threads ? JOULE_OK : JOULE_ERR_THREAD;
}
