/*
 * tune_sampler.h - choosing the next configuration of a prompt space to try:
 * grid, random, or TPE (tree-structured Parzen estimator) for categorical
 * factors.  Every sampler is seeded and reproducible: the same space, seed
 * and told results give the same sequence of configurations, on every
 * platform.  No sampler proposes a configuration twice; once every
 * combination has been proposed or told, ask says JOULE_ERR_NOT_FOUND.
 *
 * The random draws of proposal number k come from a generator seeded with
 * (seed, k), not from one running stream, so a run resumed from its
 * trials.csv (every finished trial told again, in any order) proposes what
 * the uninterrupted run would have proposed next.
 *
 * TPE, as here (Bergstra et al., "Algorithms for Hyper-Parameter
 * Optimization", NeurIPS 2011, restricted to categorical factors):
 *  1. The first n_startup proposals are random (without repeats).
 *  2. Then the told trials with a finite value are ranked by value, best
 *     first; the best ceil(gamma * n) of them
 *     (at least 1, at most n - 1) are "good", the rest "bad".  Ties go to
 *     the lower grid number, so the split does not depend on the order in
 *     which results were told.
 *  3. For each factor f and level k, two densities with a uniform prior of
 *     weight w (prior_weight) over the K levels of f:
 *       l_f(k) = (w / K + good trials with level k) / (w + good trials)
 *       g_f(k) = (w / K + bad trials with level k)  / (w + bad trials)
 *     The factors are treated as independent: l(x) = prod_f l_f(x_f).
 *  4. n_candidates configurations are drawn from l (each factor from its
 *     l_f); the one not yet proposed with the largest l(x) / g(x) (summed
 *     logs; ties: the first drawn) is proposed.  If every draw was already
 *     proposed (late in a small space), a random unproposed one is.
 * Values are maximised.  A NAN value marks a failed trial: it is never
 * proposed again but takes no part in the densities.
 *
 * Several objectives: TPE here optimises one scalar, the value told.  For
 * accuracy, energy and latency together, tell the scalarisation of
 * objective.h (the seed's weighted sum) and read the Pareto front of all
 * trials afterwards (joule_tune_pareto_ranks); the search itself is not a
 * multi-objective TPE.  docs/internals/tune.md has the full description.
 */
#ifndef JOULE_TUNE_TUNE_SAMPLER_H
#define JOULE_TUNE_TUNE_SAMPLER_H

#include "joule.h"
#include "objective.h"
#include "space.h"

#include <stdint.h>

enum joule_tune_sampler_kind {
    JOULE_TUNE_SAMPLER_TPE = 0, /* the default */
    JOULE_TUNE_SAMPLER_RANDOM = 1,
    JOULE_TUNE_SAMPLER_GRID = 2,
};

struct joule_tune_tpe_params {
    uint32_t n_startup;    /* random proposals first; default 10 */
    double gamma;          /* share of told trials that are "good", (0, 1); default 0.25 */
    double prior_weight;   /* weight of the uniform prior, > 0; default 1.0 */
    uint32_t n_candidates; /* draws from l per proposal, >= 1; default 24 */
};

struct joule_tune_sampler;

struct joule_tune_tpe_params joule_tune_tpe_defaults(void);

/* "tpe", "random", "grid". */
const char *joule_tune_sampler_name(enum joule_tune_sampler_kind kind);

/* The kind named name; JOULE_ERR_NOT_FOUND. */
enum joule_status joule_tune_sampler_kind_parse(const char *name,
                                                enum joule_tune_sampler_kind *out);

/* A sampler over the space s, which must outlive it.  tpe: NULL for the
 * defaults (ignored by grid and random).  JOULE_ERR_INVALID for TPE
 * parameters out of range (named in err), JOULE_ERR_NOMEM. */
enum joule_status joule_tune_sampler_new(const struct joule_tune_space *s,
                                         enum joule_tune_sampler_kind kind, uint64_t seed,
                                         const struct joule_tune_tpe_params *tpe,
                                         struct joule_tune_sampler **out, char *err,
                                         size_t err_size);

void joule_tune_sampler_free(struct joule_tune_sampler *sp);

/* The next configuration to try into *out.  JOULE_ERR_NOT_FOUND when every
 * combination has been proposed or told; JOULE_ERR_NOMEM. */
enum joule_status joule_tune_sampler_ask(struct joule_tune_sampler *sp, struct joule_tune_cfg *out);

/* The result of a configuration (proposed by ask, or read back from a
 * trials.csv on resume): value to maximise, NAN (or any non-finite value)
 * for a failed trial.  A configuration told twice keeps its first value.
 * JOULE_ERR_INVALID for a level out of range; JOULE_ERR_NOMEM. */
enum joule_status joule_tune_sampler_tell(struct joule_tune_sampler *sp,
                                          const struct joule_tune_cfg *c, double value);

/* Multi-objective search (TPE only): the good/bad split of TPE orders the
 * told trials by their Pareto rank over these objectives (a mask of
 * objective.h's JOULE_TUNE_OBJ_*), lower ranks first and, within a rank,
 * by value -- the split of MOTPE (Ozaki et al., 2020) with the scalar
 * value instead of the hypervolume contribution to cut the last front.
 * Trials told without a point, or with a NAN objective, count as failed.
 * 0: by value alone (the default). */
void joule_tune_sampler_use_pareto(struct joule_tune_sampler *sp, unsigned objectives);

/* tell, with the trial's objectives for the Pareto split. */
enum joule_status joule_tune_sampler_tell_point(struct joule_tune_sampler *sp,
                                                const struct joule_tune_cfg *c, double value,
                                                const struct joule_tune_point *pt);

/* Configurations proposed or told so far. */
uint32_t joule_tune_sampler_seen(const struct joule_tune_sampler *sp);

#endif /* JOULE_TUNE_TUNE_SAMPLER_H */
