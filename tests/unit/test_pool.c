/*
 * test_pool.c - the thread pool: every thread runs every job once, ranges
 * cover [0, n) exactly, many short jobs in a row, a pool of one.
 */
#include "pool.h"
#include "test.h"

#include <stdatomic.h>
#include <stdbool.h>

struct job {
    atomic_int calls;
    atomic_int mask;     /* bit ith set by thread ith */
    int64_t n;
    atomic_llong sum;    /* sum of the indices each thread covered */
};

static void job_fn(void *arg, int ith, int nth)
{
    struct job *j = arg;
    atomic_fetch_add(&j->calls, 1);
    atomic_fetch_or(&j->mask, 1 << ith);
    int64_t lo, hi;
    joule_pool_range(j->n, ith, nth, &lo, &hi);
    long long s = 0;
    for (int64_t i = lo; i < hi; i++)
        s += i;
    atomic_fetch_add(&j->sum, s);
}

static void test_runs(int n_threads)
{
    struct joule_pool *p = NULL;
    char err[128];
    CHECK(joule_pool_create(n_threads, &p, err, sizeof(err)) == JOULE_OK);
    if (!p)
        return;
    CHECK(joule_pool_size(p) == n_threads);
    bool all_ok = true;
    for (int rep = 0; rep < 2000; rep++) {
        struct job j;
        atomic_init(&j.calls, 0);
        atomic_init(&j.mask, 0);
        atomic_init(&j.sum, 0);
        j.n = 1000 + rep;
        joule_pool_run(p, job_fn, &j);
        long long want = (long long)j.n * (j.n - 1) / 2;
        if (atomic_load(&j.calls) != n_threads || atomic_load(&j.mask) != (1 << n_threads) - 1 ||
            atomic_load(&j.sum) != want)
            all_ok = false;
    }
    CHECK(all_ok);
    joule_pool_free(p);
}

static void test_range(void)
{
    /* Every split of n over nth threads is contiguous, ordered and complete. */
    bool ok = true;
    for (int64_t n = 0; n < 40; n++)
        for (int nth = 1; nth <= 9; nth++) {
            int64_t next = 0;
            for (int ith = 0; ith < nth; ith++) {
                int64_t lo, hi;
                joule_pool_range(n, ith, nth, &lo, &hi);
                if (lo != next || hi < lo || hi - lo > n / nth + 1)
                    ok = false;
                next = hi;
            }
            if (next != n)
                ok = false;
        }
    CHECK(ok);
}

static void test_bad(void)
{
    struct joule_pool *p = (struct joule_pool *)1;
    char err[128];
    CHECK(joule_pool_create(0, &p, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(p == NULL);
    CHECK(strstr(err, "out of range") != NULL);
    joule_pool_free(NULL);
    CHECK(joule_cpu_physical_cores() >= 1);
}

int main(void)
{
    test_runs(1);
    test_runs(2);
    test_runs(5); /* more threads than cores: workers get descheduled */
    RUN(test_range);
    RUN(test_bad);
    TEST_MAIN_END();
}
