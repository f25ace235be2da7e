/*
 * objective.h - what a trial of `joule tune` is worth: the EAPO seed's
 * scalar objective, and the Pareto ranks of all trials by accuracy (up),
 * energy (down) and latency (down).
 */
#ifndef JOULE_TUNE_OBJECTIVE_H
#define JOULE_TUNE_OBJECTIVE_H

#include <stddef.h>

/* The weights of the seed's objective
 *   value = accuracy * Acc + tpj * TPJ - energy * Energy_kJ
 * Acc is the accuracy (0..1: ROUGE-L F1, exact match or numeric match of
 * the generated text), TPJ the generated tokens per joule and Energy_kJ the
 * energy of the trial in kJ.  The seed's defaults (its config.yaml) are all
 * 1.0: joule_tune_weights_default. */
struct joule_tune_weights {
    double accuracy;
    double tpj;
    double energy;
};

struct joule_tune_weights joule_tune_weights_default(void);

/* The scalar objective (to maximise).  A term whose weight is 0 is left out
 * even when its metric is NAN (so a run without an energy reading can tune
 * accuracy alone); a NAN metric with a non-zero weight gives NAN (a failed
 * trial to the samplers). */
double joule_tune_objective(const struct joule_tune_weights *w, double accuracy, double tpj,
                            double energy_j);

/* The objectives of one trial for the Pareto front. */
struct joule_tune_point {
    double accuracy;  /* higher is better */
    double energy_j;  /* lower is better */
    double latency_s; /* lower is better */
};

/* Which objectives take part (a plot of accuracy against energy leaves
 * latency out). */
enum {
    JOULE_TUNE_OBJ_ACCURACY = 1u << 0,
    JOULE_TUNE_OBJ_ENERGY = 1u << 1,
    JOULE_TUNE_OBJ_LATENCY = 1u << 2,
    JOULE_TUNE_OBJ_ALL = 7u,
};

/* 1 when a dominates b on the objectives of mask: at least as good in each
 * and better in one.  Equal points do not dominate each other. */
int joule_tune_dominates(const struct joule_tune_point *a, const struct joule_tune_point *b,
                         unsigned mask);

/* Non-dominated sorting: rank[i] = 1 for the points no other point
 * dominates (the Pareto front), 2 for those only rank-1 points dominate,
 * and so on.  Points with a NAN objective (of mask) get rank 0 (unranked)
 * and dominate nothing.  Duplicates share a rank.  O(n^2) per front. */
void joule_tune_pareto_ranks(const struct joule_tune_point *p, size_t n, unsigned mask, int *rank);

#endif /* JOULE_TUNE_OBJECTIVE_H */
