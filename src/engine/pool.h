/*
 * pool.h - the engine's one explicit thread pool.
 *
 * A pool of n threads runs one job at a time: joule_pool_run(p, fn, arg)
 * calls fn(arg, ith, n) on every thread, the caller being ith 0, and returns
 * when all have returned.  Workers spin briefly between jobs (a decode step
 * is a few hundred short jobs, and waking a sleeping thread costs more than
 * the job) and then sleep on a condition variable, so an idle pool costs no
 * CPU.  Nothing else in the engine creates threads.
 *
 * A pool is driven by one thread at a time (the one that calls run).
 */
#ifndef JOULE_ENGINE_POOL_H
#define JOULE_ENGINE_POOL_H

#include "joule.h"

#include <stddef.h>

struct joule_pool;

typedef void (*joule_pool_fn)(void *arg, int ith, int nth);

/* A pool of n_threads (1 .. 512) threads including the caller's: n_threads - 1
 * workers are started.  JOULE_ERR_INVALID, JOULE_ERR_NOMEM or JOULE_ERR_IO
 * (a thread could not be started), with the message in err[err_size]. */
enum joule_status joule_pool_create(int n_threads, struct joule_pool **out, char *err,
                                    size_t err_size);

/* Stops and joins the workers.  NULL is a no-op. */
void joule_pool_free(struct joule_pool *p);

/* Threads in the pool, the caller's included. */
int joule_pool_size(const struct joule_pool *p);

/* Runs fn(arg, ith, nth) on every thread and waits for all. */
void joule_pool_run(struct joule_pool *p, joule_pool_fn fn, void *arg);

/* Splits [0, n) into nth near-equal ranges; thread ith gets [*lo, *hi). */
void joule_pool_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi);

/* Physical cores of this machine (distinct core ids in sysfs), or the
 * online logical CPUs when the topology cannot be read; at least 1. */
int joule_cpu_physical_cores(void);

#endif /* JOULE_ENGINE_POOL_H */
