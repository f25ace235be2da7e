/*
 * pool.c - see pool.h.
 */
#include "pool.h"

#include "joule_int.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spins before a worker sleeps: about 50-200 us, longer than the gap
 * between two jobs of a decode step, far shorter than a scheduler tick. */
#define POOL_SPINS 20000

struct joule_pool {
    int n;                  /* threads, the caller's included */
    pthread_t *workers;     /* [n - 1] */
    atomic_uint gen;        /* job number; a change starts the next job */
    atomic_int pending;     /* workers still running the current job */
    atomic_bool quit;
    joule_pool_fn fn;       /* the current job (written before gen is bumped) */
    void *arg;
    pthread_mutex_t mu;     /* guards sleeping only */
    pthread_cond_t cv;
};

struct worker_start {
    struct joule_pool *p;
    int ith;
};

static void *worker_main(void *v)
{
    struct worker_start ws = *(struct worker_start *)v;
    free(v);
    struct joule_pool *p = ws.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_acquire)) {
            if (++spins < POOL_SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&p->quit, memory_order_acquire))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load_explicit(&p->quit, memory_order_acquire))
            return NULL;
        seen = g;
        p->fn(p->arg, ws.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

enum joule_status joule_pool_create(int n_threads, struct joule_pool **out, char *err,
                                    size_t err_size)
{
    JOULE_ASSERT(out);
    *out = NULL;
    if (n_threads < 1 || n_threads > 512) {
        joule_fmt(err, err_size, "thread count %d is out of range (1..512)", n_threads);
        return JOULE_ERR_INVALID;
    }
    struct joule_pool *p = calloc(1, sizeof(*p));
    if (!p || (n_threads > 1 && !(p->workers = calloc((size_t)n_threads - 1,
                                                      sizeof(pthread_t))))) {
        free(p);
        joule_fmt(err, err_size, "out of memory for a pool of %d threads", n_threads);
        return JOULE_ERR_NOMEM;
    }
    p->n = 1;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        struct worker_start *ws = malloc(sizeof(*ws));
        int rc = ws ? 0 : -1;
        if (ws) {
            ws->p = p;
            ws->ith = i;
            rc = pthread_create(&p->workers[i - 1], NULL, worker_main, ws);
            if (rc)
                free(ws);
        }
        if (rc) {
            joule_fmt(err, err_size, "could not start worker thread %d of %d", i, n_threads);
            joule_pool_free(p);
            return ws ? JOULE_ERR_IO : JOULE_ERR_NOMEM;
        }
        p->n = i + 1;
    }
    *out = p;
    return JOULE_OK;
}

void joule_pool_free(struct joule_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->quit, true, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->workers[i - 1], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

int joule_pool_size(const struct joule_pool *p)
{
    return p->n;
}

void joule_pool_run(struct joule_pool *p, joule_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    /* The release publishes fn and arg to workers that acquire gen. */
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    /* Wake sleepers; without waiters this is a few uncontended atomics. */
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < POOL_SPINS) {
            cpu_relax();
        } else {
            sched_yield(); /* a worker was descheduled: give it the CPU */
            spins = 0;
        }
    }
}

void joule_pool_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi)
{
    const int64_t per = n / nth, extra = n % nth;
    *lo = ith * per + (ith < extra ? ith : extra);
    *hi = *lo + per + (ith < extra ? 1 : 0);
}

int joule_cpu_physical_cores(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1)
        online = 1;
    /* Distinct (package, core) pairs among the online CPUs. */
    enum { MAX_CPUS = 1024 };
    static const int none = -1;
    int pkg[MAX_CPUS], core[MAX_CPUS], n_cores = 0;
    for (long cpu = 0; cpu < online && cpu < MAX_CPUS; cpu++) {
        char path[128], buf[32];
        int ids[2] = {none, none};
        static const char *const names[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            joule_fmt(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/topology/%s", cpu,
                      names[k]);
            FILE *f = fopen(path, "r");
            if (!f)
                return (int)online;
            if (fgets(buf, sizeof(buf), f))
                ids[k] = (int)strtol(buf, NULL, 10);
            fclose(f);
        }
        bool seen = false;
        for (int i = 0; i < n_cores && !seen; i++)
            seen = pkg[i] == ids[0] && core[i] == ids[1];
        if (!seen) {
            pkg[n_cores] = ids[0];
            core[n_cores] = ids[1];
            n_cores++;
        }
    }
    return n_cores > 0 ? n_cores : (int)online;
}
