/*
 * sampler.c - see sampler.h.
 */
#include "sampler.h"

#include "alloc.h"
#include "joule_int.h"

#include <math.h>

struct cand {
    float logit;
    int32_t id;
};

struct joule_sampler {
    struct joule_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4];     /* xoshiro256** state */
    int32_t *recent;     /* ring of the last repeat_last_n tokens */
    int32_t n_recent, head;
    uint8_t *seen;       /* [n_vocab] scratch for the penalty */
    float *work;         /* [n_vocab] penalised logits */
    struct cand *cand;   /* [n_vocab] candidates */
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4])
{
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(uint64_t s[4])
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

enum joule_status joule_sampler_create(const struct joule_sampler_params *p, int32_t n_vocab,
                                       struct joule_sampler **out, char *err, size_t err_size)
{
    JOULE_ASSERT(p && out);
    *out = NULL;
    const char *bad = NULL;
    double value = 0.0;
    const char *range = "";
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature)) /* NaN fails too */
        bad = "temperature", value = p->temperature, range = ">= 0 (0 is greedy)";
    else if (p->top_k < 0)
        bad = "top_k", value = p->top_k, range = ">= 0 (0 is off)";
    else if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        bad = "top_p", value = p->top_p, range = "in (0, 1] (1 is off)";
    else if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        bad = "min_p", value = p->min_p, range = "in [0, 1] (0 is off)";
    else if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        bad = "repeat_penalty", value = p->repeat_penalty, range = "> 0 (1 is off)";
    else if (p->repeat_last_n < 0)
        bad = "repeat_last_n", value = p->repeat_last_n, range = ">= 0";
    else if (n_vocab < 1)
        bad = "n_vocab", value = n_vocab, range = ">= 1";
    if (bad) {
        joule_fmt(err, err_size, "sampling: %s is %g; it must be %s", bad, value, range);
        return JOULE_ERR_INVALID;
    }
    struct joule_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return JOULE_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->recent = joule_calloc(p->repeat_last_n > 0 ? (size_t)p->repeat_last_n : 1, sizeof(int32_t));
    s->seen = joule_calloc((size_t)n_vocab, 1);
    s->work = joule_calloc((size_t)n_vocab, sizeof(float));
    s->cand = joule_calloc((size_t)n_vocab, sizeof(struct cand));
    if (!s->recent || !s->seen || !s->work || !s->cand) {
        joule_sampler_free(s);
        joule_fmt(err, err_size, "out of memory for a sampler of %d tokens", n_vocab);
        return JOULE_ERR_NOMEM;
    }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    *out = s;
    return JOULE_OK;
}

void joule_sampler_free(struct joule_sampler *s)
{
    if (!s)
        return;
    free(s->recent);
    free(s->seen);
    free(s->work);
    free(s->cand);
    free(s);
}

void joule_sampler_accept(struct joule_sampler *s, int32_t token)
{
    const int32_t cap = s->p.repeat_last_n;
    if (cap == 0)
        return;
    s->recent[s->head] = token;
    s->head = (s->head + 1) % cap;
    if (s->n_recent < cap)
        s->n_recent++;
}

/* Candidates by logit, largest first; ties by lower id (a total order, so
 * the result does not depend on the sort's stability). */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k best of c[0 .. n) to the front, sorted (k <= n). */
static void select_top(struct cand *c, int32_t n, int32_t k)
{
    if (k >= n || (int64_t)k * 8 >= n) {
        qsort(c, (size_t)n, sizeof(*c), cand_cmp);
        return;
    }
    /* Partial selection: keep a sorted front of k, insert better ones. */
    qsort(c, (size_t)k, sizeof(*c), cand_cmp);
    for (int32_t i = k; i < n; i++) {
        if (cand_cmp(&c[i], &c[k - 1]) >= 0)
            continue;
        struct cand x = c[i];
        int32_t j = k - 1;
        c[i] = c[j];
        while (j > 0 && cand_cmp(&x, &c[j - 1]) < 0) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

int32_t joule_sampler_sample(struct joule_sampler *s, const float *logits)
{
    const int32_t V = s->n_vocab;
    float *l = s->work;
    for (int32_t i = 0; i < V; i++)
        l[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    if (s->p.repeat_penalty != 1.0f) {
        for (int32_t r = 0; r < s->n_recent; r++) {
            const int32_t t = s->recent[r];
            if (t < 0 || t >= V || s->seen[t])
                continue;
            s->seen[t] = 1;
            l[t] = l[t] > 0.0f ? l[t] / s->p.repeat_penalty : l[t] * s->p.repeat_penalty;
        }
        for (int32_t r = 0; r < s->n_recent; r++)
            if (s->recent[r] >= 0 && s->recent[r] < V)
                s->seen[s->recent[r]] = 0;
    }
    int32_t best = 0;
    for (int32_t i = 1; i < V; i++)
        if (l[i] > l[best])
            best = i;
    if (s->p.temperature <= 0.0f || !isfinite(l[best]))
        return best;

    struct cand *c = s->cand;
    int32_t n = 0;
    for (int32_t i = 0; i < V; i++)
        if (l[i] > -INFINITY)
            c[n++] = (struct cand){l[i], i};
    const int32_t k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    select_top(c, n, k);
    n = k;
    /* Probabilities at temperature 1 for top-p and min-p. */
    const double mx = c[0].logit;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)c[i].logit - mx);
    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - mx) / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* p_i / p_max = exp(l_i - l_max) */
        int32_t keep = 1;
        while (keep < n && exp((double)c[keep].logit - mx) >= s->p.min_p)
            keep++;
        n = keep;
    }
    /* Temperature, softmax over the survivors, one draw. */
    const double inv_t = 1.0 / s->p.temperature;
    double total = 0.0;
    for (int32_t i = 0; i < n; i++)
        total += exp(((double)c[i].logit - mx) * inv_t);
    double u = next_unit(s->rng) * total;
    for (int32_t i = 0; i < n; i++) {
        u -= exp(((double)c[i].logit - mx) * inv_t);
        if (u < 0.0)
            return c[i].id;
    }
    return c[n - 1].id;
}
