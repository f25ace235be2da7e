/*
 * tune_sampler.c - grid, random and categorical TPE over a prompt space.
 * The algorithm is described in tune_sampler.h (not sampler.h: that is the
 * engine's token sampler, on the same include path) and in
 * docs/internals/tune.md.
 */
#include "tune_sampler.h"

#include "alloc.h"
#include "dataset.h" /* joule_ds_splitmix64: the same stream on every platform */
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct obs {
    struct joule_tune_cfg cfg;
    double value;
    uint32_t index; /* grid number of cfg, for ties */
    struct joule_tune_point pt; /* the objectives (Pareto mode) */
    int rank;                   /* its Pareto rank among the told; 0: unranked */
};

struct joule_tune_sampler {
    const struct joule_tune_space *space;
    enum joule_tune_sampler_kind kind;
    uint64_t seed;
    struct joule_tune_tpe_params tpe;
    uint32_t size;  /* combinations */
    uint64_t *seen; /* bitmap [size] of proposed or told combinations */
    uint32_t n_seen;
    uint32_t grid_next; /* no combination below it is unseen */
    struct obs *obs;    /* told trials, NAN values included */
    size_t n_obs, cap_obs;
    size_t n_finite; /* of them with a finite value */
    unsigned pareto;  /* objectives of the good/bad split by Pareto rank; 0: by value */
};

static const char *const kind_names[] = {"tpe", "random", "grid"};

struct joule_tune_tpe_params joule_tune_tpe_defaults(void)
{
    struct joule_tune_tpe_params p = {
        .n_startup = 10, .gamma = 0.25, .prior_weight = 1.0, .n_candidates = 24};
    return p;
}

const char *joule_tune_sampler_name(enum joule_tune_sampler_kind kind)
{
    return (unsigned)kind < JOULE_ARRAY_LEN(kind_names) ? kind_names[kind] : "?";
}

enum joule_status joule_tune_sampler_kind_parse(const char *name, enum joule_tune_sampler_kind *out)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(kind_names); i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum joule_tune_sampler_kind)i;
            return JOULE_OK;
        }
    }
    return JOULE_ERR_NOT_FOUND;
}

enum joule_status joule_tune_sampler_new(const struct joule_tune_space *s,
                                         enum joule_tune_sampler_kind kind, uint64_t seed,
                                         const struct joule_tune_tpe_params *tpe,
                                         struct joule_tune_sampler **out, char *err,
                                         size_t err_size)
{
    *out = NULL;
    struct joule_tune_tpe_params p = tpe ? *tpe : joule_tune_tpe_defaults();
    if (!(p.gamma > 0 && p.gamma < 1)) {
        joule_fmt(err, err_size, "tpe gamma %g: must be between 0 and 1 (default 0.25)", p.gamma);
        return JOULE_ERR_INVALID;
    }
    if (!(p.prior_weight > 0 && p.prior_weight < 1e6)) {
        joule_fmt(err, err_size, "tpe prior weight %g: must be above 0 (default 1)",
                  p.prior_weight);
        return JOULE_ERR_INVALID;
    }
    if (p.n_candidates < 1 || p.n_candidates > 100000) {
        joule_fmt(err, err_size, "tpe candidates %u: must be 1 to 100000 (default 24)",
                  (unsigned)p.n_candidates);
        return JOULE_ERR_INVALID;
    }
    if ((unsigned)kind >= JOULE_ARRAY_LEN(kind_names)) {
        joule_fmt(err, err_size, "unknown sampler %d", (int)kind);
        return JOULE_ERR_INVALID;
    }
    struct joule_tune_sampler *sp = joule_calloc(1, sizeof(*sp));
    if (!sp)
        return JOULE_ERR_NOMEM;
    sp->space = s;
    sp->kind = kind;
    sp->seed = seed;
    sp->tpe = p;
    sp->size = joule_tune_space_size(s);
    sp->seen = joule_calloc(((size_t)sp->size + 63) / 64, sizeof(uint64_t));
    if (!sp->seen) {
        free(sp);
        return JOULE_ERR_NOMEM;
    }
    *out = sp;
    return JOULE_OK;
}

void joule_tune_sampler_free(struct joule_tune_sampler *sp)
{
    if (!sp)
        return;
    free(sp->seen);
    free(sp->obs);
    free(sp);
}

uint32_t joule_tune_sampler_seen(const struct joule_tune_sampler *sp)
{
    return sp->n_seen;
}

/* --- the seen set ----------------------------------------------------------- */

static int is_seen(const struct joule_tune_sampler *sp, uint32_t i)
{
    return (int)((sp->seen[i / 64] >> (i % 64)) & 1);
}

static void mark_seen(struct joule_tune_sampler *sp, uint32_t i)
{
    if (is_seen(sp, i))
        return;
    sp->seen[i / 64] |= (uint64_t)1 << (i % 64);
    sp->n_seen++;
}

/* --- random numbers ------------------------------------------------------- */

/* The generator of proposal number k: seeded from (seed, k). */
static uint64_t rng_for(const struct joule_tune_sampler *sp, uint64_t k)
{
    uint64_t h = k ^ 0x6a09e667f3bcc909ULL;
    return sp->seed ^ joule_ds_splitmix64(&h);
}

/* Uniform in [0, n), n >= 1 (multiply-shift; the bias is below 2^-32 * n). */
static uint32_t rand_below(uint64_t *rng, uint32_t n)
{
    uint64_t x = joule_ds_splitmix64(rng) >> 32;
    return (uint32_t)((x * n) >> 32);
}

/* Uniform in [0, 1). */
static double rand_unit(uint64_t *rng)
{
    return (double)(joule_ds_splitmix64(rng) >> 11) * 0x1.0p-53;
}

/* A uniformly drawn unseen combination; at least one must exist. */
static uint32_t random_unseen(const struct joule_tune_sampler *sp, uint64_t *rng)
{
    uint32_t unseen = sp->size - sp->n_seen;
    JOULE_ASSERT(unseen > 0);
    /* While most are unseen, drawing until one is costs < 2 draws on
     * average; later, counting to the k-th unseen one keeps it bounded. */
    if (unseen >= sp->size / 2) {
        for (int tries = 0; tries < 64; tries++) {
            uint32_t i = rand_below(rng, sp->size);
            if (!is_seen(sp, i))
                return i;
        }
    }
    uint32_t k = rand_below(rng, unseen);
    for (uint32_t i = 0; i < sp->size; i++) {
        if (!is_seen(sp, i) && k-- == 0)
            return i;
    }
    JOULE_ASSERT(0 && "unseen count out of step with the bitmap");
    return 0;
}

/* --- TPE ------------------------------------------------------------------- */

/* Pareto mode: ranked before unranked (failed), lower ranks first, then
 * the scalar value, then the grid number. */
static int obs_rank_cmp(const void *a, const void *b)
{
    const struct obs *x = a, *y = b;
    if ((x->rank > 0) != (y->rank > 0))
        return x->rank > 0 ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (isnan(x->value) != isnan(y->value))
        return isnan(x->value) ? 1 : -1;
    if (!isnan(x->value) && x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int obs_cmp(const void *a, const void *b)
{
    const struct obs *x = a, *y = b;
    if (isnan(x->value) != isnan(y->value))
        return isnan(x->value) ? 1 : -1; /* failed trials last */
    if (!isnan(x->value) && x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* l_f(k) and log l_f(k) - log g_f(k) for every factor and level, from the
 * observations sorted best first (the failed ones, last, are left out). */
static enum joule_status tpe_scores(const struct joule_tune_sampler *sp, size_t n,
                                    double **l_out, double **score_out)
{
    const struct joule_tune_space *s = sp->space;
    size_t n_good = (size_t)ceil(sp->tpe.gamma * (double)n);
    if (n_good < 1)
        n_good = 1;
    if (n_good > n - 1)
        n_good = n - 1;
    size_t n_bad = n - n_good;
    double *l = joule_calloc(JOULE_TUNE_MAX_FACTORS * JOULE_TUNE_MAX_LEVELS, sizeof(double));
    double *score = joule_calloc(JOULE_TUNE_MAX_FACTORS * JOULE_TUNE_MAX_LEVELS, sizeof(double));
    if (!l || !score) {
        free(l);
        free(score);
        return JOULE_ERR_NOMEM;
    }
    double w = sp->tpe.prior_weight;
    for (size_t f = 0; f < s->n_factors; f++) {
        size_t K = s->factors[f].n_levels;
        double good[JOULE_TUNE_MAX_LEVELS] = {0}, bad[JOULE_TUNE_MAX_LEVELS] = {0};
        for (size_t i = 0; i < n; i++) {
            if (i < n_good)
                good[sp->obs[i].cfg.level[f]] += 1;
            else
                bad[sp->obs[i].cfg.level[f]] += 1;
        }
        for (size_t k = 0; k < K; k++) {
            double lk = (w / (double)K + good[k]) / (w + (double)n_good);
            double gk = (w / (double)K + bad[k]) / (w + (double)n_bad);
            l[f * JOULE_TUNE_MAX_LEVELS + k] = lk;
            score[f * JOULE_TUNE_MAX_LEVELS + k] = log(lk) - log(gk);
        }
    }
    *l_out = l;
    *score_out = score;
    return JOULE_OK;
}

static enum joule_status tpe_ask(struct joule_tune_sampler *sp, uint64_t *rng, uint32_t *out)
{
    const struct joule_tune_space *s = sp->space;
    size_t n = sp->n_finite;
    if (sp->pareto) {
        /* MOTPE-style split: the good trials are the best non-dominated
         * fronts (within the last front taken, the higher scalar value). */
        struct joule_tune_point *pts = joule_calloc(sp->n_obs, sizeof(*pts));
        int *rank = joule_calloc(sp->n_obs, sizeof(int));
        if (!pts || !rank) {
            free(pts);
            free(rank);
            return JOULE_ERR_NOMEM;
        }
        for (size_t i = 0; i < sp->n_obs; i++)
            pts[i] = sp->obs[i].pt;
        joule_tune_pareto_ranks(pts, sp->n_obs, sp->pareto, rank);
        n = 0;
        for (size_t i = 0; i < sp->n_obs; i++) {
            sp->obs[i].rank = rank[i];
            n += rank[i] > 0;
        }
        free(pts);
        free(rank);
        qsort(sp->obs, sp->n_obs, sizeof(*sp->obs), obs_rank_cmp);
    } else {
        qsort(sp->obs, sp->n_obs, sizeof(*sp->obs), obs_cmp);
    }
    if (n < 2) {
        *out = random_unseen(sp, rng);
        return JOULE_OK;
    }
    double *l, *score;
    enum joule_status st = tpe_scores(sp, n, &l, &score);
    if (st != JOULE_OK)
        return st;
    int found = 0;
    double best = -INFINITY;
    uint32_t best_i = 0;
    /* The first n_candidates draws; up to ten times more when every one of
     * them was already proposed. */
    uint64_t max_draws = (uint64_t)sp->tpe.n_candidates * 11;
    for (uint64_t d = 0; d < max_draws && !(found && d >= sp->tpe.n_candidates); d++) {
        struct joule_tune_cfg c;
        memset(&c, 0, sizeof(c));
        double sc = 0;
        for (size_t f = 0; f < s->n_factors; f++) {
            const double *lf = l + f * JOULE_TUNE_MAX_LEVELS;
            size_t K = s->factors[f].n_levels;
            double u = rand_unit(rng), acc = 0;
            size_t k = 0;
            while (k + 1 < K && u >= (acc += lf[k]))
                k++;
            c.level[f] = (uint8_t)k;
            sc += score[f * JOULE_TUNE_MAX_LEVELS + k];
        }
        uint32_t i = joule_tune_cfg_index(s, &c);
        if (!is_seen(sp, i) && (!found || sc > best)) {
            found = 1;
            best = sc;
            best_i = i;
        }
    }
    free(l);
    free(score);
    *out = found ? best_i : random_unseen(sp, rng);
    return JOULE_OK;
}

/* --- ask and tell ---------------------------------------------------------- */

enum joule_status joule_tune_sampler_ask(struct joule_tune_sampler *sp, struct joule_tune_cfg *out)
{
    if (sp->n_seen >= sp->size)
        return JOULE_ERR_NOT_FOUND;
    uint64_t rng = rng_for(sp, sp->n_seen);
    uint32_t i = 0;
    switch (sp->kind) {
    case JOULE_TUNE_SAMPLER_GRID:
        while (is_seen(sp, sp->grid_next))
            sp->grid_next++;
        i = sp->grid_next;
        break;
    case JOULE_TUNE_SAMPLER_RANDOM:
        i = random_unseen(sp, &rng);
        break;
    case JOULE_TUNE_SAMPLER_TPE:
        if (sp->n_seen < sp->tpe.n_startup || sp->n_finite < 2) {
            i = random_unseen(sp, &rng);
        } else {
            enum joule_status st = tpe_ask(sp, &rng, &i);
            if (st != JOULE_OK)
                return st;
        }
        break;
    }
    mark_seen(sp, i);
    *out = joule_tune_cfg_at(sp->space, i);
    return JOULE_OK;
}

enum joule_status joule_tune_sampler_tell(struct joule_tune_sampler *sp,
                                          const struct joule_tune_cfg *c, double value)
{
    for (size_t f = 0; f < sp->space->n_factors; f++)
        if (c->level[f] >= sp->space->factors[f].n_levels)
            return JOULE_ERR_INVALID;
    /* Told once: a second result of the same configuration is ignored. */
    for (size_t i = 0; i < sp->n_obs; i++)
        if (memcmp(&sp->obs[i].cfg, c, sizeof(*c)) == 0)
            return JOULE_OK;
    mark_seen(sp, joule_tune_cfg_index(sp->space, c));
    if (sp->n_obs == sp->cap_obs) {
        size_t cap;
        if (!joule_grow_cap(sp->cap_obs, sp->n_obs + 1, 32, &cap))
            return JOULE_ERR_NOMEM;
        struct obs *p = joule_realloc_array(sp->obs, cap, sizeof(*p));
        if (!p)
            return JOULE_ERR_NOMEM;
        sp->obs = p;
        sp->cap_obs = cap;
    }
    sp->obs[sp->n_obs].cfg = *c;
    sp->obs[sp->n_obs].value = isfinite(value) ? value : NAN;
    sp->obs[sp->n_obs].index = joule_tune_cfg_index(sp->space, c);
    sp->n_obs++;
    sp->n_finite += isfinite(value) != 0;
    struct obs *o = &sp->obs[sp->n_obs - 1];
    o->pt = (struct joule_tune_point){NAN, NAN, NAN};
    o->rank = 0;
    return JOULE_OK;
}

void joule_tune_sampler_use_pareto(struct joule_tune_sampler *sp, unsigned objectives)
{
    sp->pareto = objectives;
}

enum joule_status joule_tune_sampler_tell_point(struct joule_tune_sampler *sp,
                                                const struct joule_tune_cfg *c, double value,
                                                const struct joule_tune_point *pt)
{
    size_t before = sp->n_obs;
    enum joule_status st = joule_tune_sampler_tell(sp, c, value);
    if (st == JOULE_OK && sp->n_obs > before && pt)
        sp->obs[sp->n_obs - 1].pt = *pt;
    return st;
}
