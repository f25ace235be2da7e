/* halving.c - successive halving: rung sizes and promotions (halving.h). */
#include "halving.h"

#include "joule_int.h"

#include <math.h>

enum joule_status joule_tune_halving_rungs(const struct joule_tune_halving_params *p,
                                           uint32_t *sizes, size_t *n_rungs, char *err,
                                           size_t err_size)
{
    *n_rungs = 0;
    if (p->eta < 2) {
        joule_fmt(err, err_size, "halving eta %u: must be 2 or more (3 is usual)",
                  (unsigned)p->eta);
        return JOULE_ERR_INVALID;
    }
    if (p->min_examples < 1 || p->min_examples > p->max_examples) {
        joule_fmt(err, err_size, "halving subset %u: must be 1 to the number of examples (%u)",
                  (unsigned)p->min_examples, (unsigned)p->max_examples);
        return JOULE_ERR_INVALID;
    }
    /* A rung below the last is kept only when the next size still fits:
     * 2, 6, 18 with eta 3 and 20 examples would end 18 then 20. */
    uint64_t size = p->min_examples;
    size_t n = 0;
    while (size * p->eta <= p->max_examples && n + 1 < JOULE_TUNE_HALVING_MAX_RUNGS) {
        sizes[n++] = (uint32_t)size;
        size *= p->eta; /* <= max: no overflow */
    }
    sizes[n++] = p->max_examples;
    *n_rungs = n;
    return JOULE_OK;
}

size_t joule_tune_halving_keep(size_t n, uint32_t eta)
{
    if (n == 0)
        return 0;
    size_t k = n / (eta ? eta : 1);
    return k ? k : 1;
}

/* 1 when trial a (id, value) goes before trial b. */
static int before(uint32_t ia, double va, uint32_t ib, double vb)
{
    if (isnan(va) != isnan(vb))
        return !isnan(va);
    if (!isnan(va) && va != vb)
        return va > vb;
    return ia < ib;
}

size_t joule_tune_halving_promote(const uint32_t *ids, const double *values, size_t n, uint32_t eta,
                                  uint32_t *out)
{
    size_t keep = joule_tune_halving_keep(n, eta);
    /* Selection of the best keep, in order: keep is small next to n and
     * this is not a hot path, so O(n * keep) is plain and enough. */
    for (size_t k = 0; k < keep; k++) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < n; i++) {
            int taken = 0;
            for (size_t j = 0; j < k && !taken; j++)
                taken = out[j] == ids[i];
            if (taken)
                continue;
            if (best == (size_t)-1 || before(ids[i], values[i], ids[best], values[best]))
                best = i;
        }
        out[k] = ids[best];
    }
    return keep;
}
