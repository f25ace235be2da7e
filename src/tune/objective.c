/* objective.c - the seed's scalar objective and Pareto ranks (objective.h). */
#include "objective.h"

#include "joule_int.h"

#include <math.h>

struct joule_tune_weights joule_tune_weights_default(void)
{
    struct joule_tune_weights w = {.accuracy = 1.0, .tpj = 1.0, .energy = 1.0};
    return w;
}

double joule_tune_objective(const struct joule_tune_weights *w, double accuracy, double tpj,
                            double energy_j)
{
    double v = 0;
    if (w->accuracy != 0)
        v += w->accuracy * accuracy;
    if (w->tpj != 0)
        v += w->tpj * tpj;
    if (w->energy != 0)
        v -= w->energy * (energy_j / 1000.0);
    return v;
}

/* Each objective as "higher is better". */
static int gains(const struct joule_tune_point *p, unsigned mask, double out[3])
{
    int n = 0;
    if (mask & JOULE_TUNE_OBJ_ACCURACY)
        out[n++] = p->accuracy;
    if (mask & JOULE_TUNE_OBJ_ENERGY)
        out[n++] = -p->energy_j;
    if (mask & JOULE_TUNE_OBJ_LATENCY)
        out[n++] = -p->latency_s;
    return n;
}

static int has_nan(const struct joule_tune_point *p, unsigned mask)
{
    double g[3];
    int n = gains(p, mask, g);
    for (int i = 0; i < n; i++)
        if (isnan(g[i]))
            return 1;
    return 0;
}

int joule_tune_dominates(const struct joule_tune_point *a, const struct joule_tune_point *b,
                         unsigned mask)
{
    double ga[3], gb[3];
    int n = gains(a, mask, ga);
    gains(b, mask, gb);
    int better = 0;
    for (int i = 0; i < n; i++) {
        if (!(ga[i] >= gb[i]))
            return 0; /* worse, or NAN */
        better |= ga[i] > gb[i];
    }
    return better;
}

void joule_tune_pareto_ranks(const struct joule_tune_point *p, size_t n, unsigned mask, int *rank)
{
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        rank[i] = has_nan(&p[i], mask) ? 0 : -1; /* -1: not ranked yet */
        left += rank[i] < 0;
    }
    /* Peel fronts: front r is every point not yet ranked that no other
     * point not ranked before round r dominates. */
    for (int r = 1; left > 0; r++) {
        for (size_t i = 0; i < n; i++) {
            if (rank[i] != -1)
                continue;
            int dominated = 0;
            for (size_t j = 0; j < n && !dominated; j++)
                dominated = j != i && (rank[j] == -1 || rank[j] == -2 - r) &&
                            joule_tune_dominates(&p[j], &p[i], mask);
            if (!dominated)
                rank[i] = -2 - r; /* in front r, marked once the round is done */
        }
        for (size_t i = 0; i < n; i++) {
            if (rank[i] == -2 - r) {
                rank[i] = r;
                left--;
            }
        }
    }
}
