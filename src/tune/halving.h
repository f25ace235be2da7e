/*
 * halving.h - successive halving for multi-fidelity tuning (Jamieson and
 * Talwalkar, AISTATS 2016): every trial is first scored on a small subset
 * of the examples; the best 1/eta of them go on to a subset eta times
 * larger, and so on until the subset is the whole set.  Cheap subsets weed
 * out bad prompts before they cost a full evaluation's energy.
 *
 * Subsets are nested (the first k examples of one fixed order), so a
 * promoted trial only needs the examples it has not been scored on yet.
 * Everything is a function of the scores: the same scores promote the same
 * trials.
 */
#ifndef JOULE_TUNE_HALVING_H
#define JOULE_TUNE_HALVING_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

struct joule_tune_halving_params {
    uint32_t min_examples; /* the subset of the first rung, >= 1 */
    uint32_t max_examples; /* the whole set, >= min_examples */
    uint32_t eta;          /* promotion ratio, >= 2; 3 is usual */
};

#define JOULE_TUNE_HALVING_MAX_RUNGS 32

/* The subset size of each rung into sizes[JOULE_TUNE_HALVING_MAX_RUNGS]:
 * min, min * eta, min * eta^2, ... as long as eta times the size is at
 * most max_examples, then max_examples itself (min 2, eta 3, max 20: 2, 6,
 * 20).  *n_rungs gets the count.
 * JOULE_ERR_INVALID with the reason in err for bad parameters. */
enum joule_status joule_tune_halving_rungs(const struct joule_tune_halving_params *p,
                                           uint32_t *sizes, size_t *n_rungs, char *err,
                                           size_t err_size);

/* The number of trials a rung of n promotes: floor(n / eta), at least 1
 * (0 when n is 0). */
size_t joule_tune_halving_keep(size_t n, uint32_t eta);

/* The trials a rung promotes: of ids[0 .. n) with values[0 .. n) (higher
 * is better; NAN is worst), the best joule_tune_halving_keep(n, eta),
 * best first, into out (room for that many).  Ties go to the lower id.
 * Returns the count. */
size_t joule_tune_halving_promote(const uint32_t *ids, const double *values, size_t n, uint32_t eta,
                                  uint32_t *out);

#endif /* JOULE_TUNE_HALVING_H */
