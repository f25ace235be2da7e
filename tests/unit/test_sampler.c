/*
 * test_sampler.c - sampling: greedy is the argmax; a seed reproduces its
 * draws and another seed does not; draw frequencies follow
 * softmax(logits / T); top-k, top-p and min-p keep exactly the tokens they
 * should; the repetition penalty moves the argmax; bad parameters are
 * refused by name; NaN logits never win.
 */
#include "sampler.h"
#include "test.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

static struct joule_sampler_params defaults(void)
{
    struct joule_sampler_params p = {0.0f, 0, 1.0f, 0.0f, 1.0f, 64, 42};
    return p;
}

static struct joule_sampler *make(struct joule_sampler_params p, int32_t n)
{
    struct joule_sampler *s = NULL;
    char err[200];
    CHECK(joule_sampler_create(&p, n, &s, err, sizeof(err)) == JOULE_OK);
    return s;
}

static void test_greedy(void)
{
    const float l[6] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f, NAN};
    struct joule_sampler *s = make(defaults(), 6);
    if (!s)
        return;
    CHECK(joule_sampler_sample(s, l) == 1); /* tie 1 vs 3: the lower id; NaN never wins */
    joule_sampler_free(s);
    struct joule_sampler_params p = defaults();
    p.temperature = 0.7f;
    p.top_k = 1;
    s = make(p, 6);
    bool all_one = true;
    for (int i = 0; s && i < 200; i++)
        all_one &= joule_sampler_sample(s, l) == 1;
    CHECK(all_one); /* top-k 1 is greedy */
    joule_sampler_free(s);
    const float nan_row[3] = {NAN, NAN, NAN};
    s = make(p, 3);
    CHECK(s && joule_sampler_sample(s, nan_row) == 0);
    joule_sampler_free(s);
}

static void draws(uint64_t seed, int32_t *out, int n)
{
    float l[50];
    for (int i = 0; i < 50; i++)
        l[i] = (float)sin(i * 1.3) * 2.0f;
    struct joule_sampler_params p = defaults();
    p.temperature = 1.0f;
    p.seed = seed;
    struct joule_sampler *s = make(p, 50);
    for (int i = 0; s && i < n; i++)
        out[i] = joule_sampler_sample(s, l);
    joule_sampler_free(s);
}

static void test_seed(void)
{
    int32_t a[100], b[100], c[100];
    draws(7, a, 100);
    draws(7, b, 100);
    draws(8, c, 100);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK(memcmp(a, c, sizeof(a)) != 0);
}

/* Frequencies of 40000 draws within 5 sigma of softmax(l / T) per token. */
static void test_distribution(void)
{
    const float l[5] = {1.0f, 0.5f, 0.0f, -1.0f, 2.0f};
    const float T = 0.8f;
    struct joule_sampler_params p = defaults();
    p.temperature = T;
    struct joule_sampler *s = make(p, 5);
    if (!s)
        return;
    enum { N = 40000 };
    int count[5] = {0};
    for (int i = 0; i < N; i++)
        count[joule_sampler_sample(s, l)]++;
    double z = 0.0, sum = 0.0;
    for (int i = 0; i < 5; i++)
        z += exp(l[i] / T);
    bool ok = true;
    for (int i = 0; i < 5; i++) {
        const double pi = exp(l[i] / T) / z, sigma = sqrt(N * pi * (1 - pi));
        ok &= fabs(count[i] - N * pi) <= 5 * sigma;
        sum += count[i];
    }
    CHECK(ok);
    CHECK(sum == N);
    joule_sampler_free(s);
}

/* Which tokens are ever drawn (2000 draws at temperature 1). */
static unsigned drawn_set(struct joule_sampler_params p, const float *l, int n)
{
    p.temperature = 1.0f;
    struct joule_sampler *s = make(p, n);
    unsigned set = 0;
    for (int i = 0; s && i < 2000; i++)
        set |= 1u << joule_sampler_sample(s, l);
    joule_sampler_free(s);
    return set;
}

static void test_truncation(void)
{
    /* probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 */
    const float l[5] = {logf(0.5f), logf(0.25f), logf(0.125f), logf(0.0625f), logf(0.0625f)};
    struct joule_sampler_params p = defaults();
    p.top_k = 2;
    CHECK(drawn_set(p, l, 5) == 0x3);
    p = defaults();
    p.top_p = 0.7f; /* 0.5 + 0.25 >= 0.7: two tokens */
    CHECK(drawn_set(p, l, 5) == 0x3);
    p.top_p = 0.8f; /* needs the third */
    CHECK(drawn_set(p, l, 5) == 0x7);
    p = defaults();
    p.min_p = 0.2f; /* keeps p >= 0.1: three tokens */
    CHECK(drawn_set(p, l, 5) == 0x7);
    p.min_p = 0.6f; /* only the best */
    CHECK(drawn_set(p, l, 5) == 0x1);
    p = defaults();
    CHECK(drawn_set(p, l, 5) == 0x1f); /* nothing truncated: all appear */
}

static void test_penalty(void)
{
    const float l[4] = {3.0f, 2.8f, -1.0f, 0.0f};
    struct joule_sampler_params p = defaults();
    p.repeat_penalty = 1.5f;
    struct joule_sampler *s = make(p, 4);
    if (!s)
        return;
    CHECK(joule_sampler_sample(s, l) == 0);
    joule_sampler_accept(s, 0); /* 3.0 / 1.5 = 2.0 < 2.8 */
    CHECK(joule_sampler_sample(s, l) == 1);
    joule_sampler_accept(s, 1); /* both penalised: 2.0 vs 1.87 */
    CHECK(joule_sampler_sample(s, l) == 0);
    joule_sampler_free(s);
    /* A window of 1 forgets older tokens. */
    p.repeat_last_n = 1;
    s = make(p, 4);
    if (!s)
        return;
    joule_sampler_accept(s, 0);
    joule_sampler_accept(s, 3);
    CHECK(joule_sampler_sample(s, l) == 0);
    joule_sampler_free(s);
}

static void test_bad(void)
{
    struct { struct joule_sampler_params p; const char *name; } cases[6];
    for (int i = 0; i < 6; i++)
        cases[i].p = defaults();
    cases[0].p.temperature = -0.5f, cases[0].name = "temperature";
    cases[1].p.top_k = -1, cases[1].name = "top_k";
    cases[2].p.top_p = 0.0f, cases[2].name = "top_p";
    cases[3].p.min_p = 1.5f, cases[3].name = "min_p";
    cases[4].p.repeat_penalty = 0.0f, cases[4].name = "repeat_penalty";
    cases[5].p.repeat_last_n = -3, cases[5].name = "repeat_last_n";
    for (int i = 0; i < 6; i++) {
        struct joule_sampler *s = (struct joule_sampler *)&cases;
        char err[200] = "";
        CHECK(joule_sampler_create(&cases[i].p, 10, &s, err, sizeof(err)) == JOULE_ERR_INVALID);
        CHECK(s == NULL);
        CHECK(strstr(err, cases[i].name) != NULL);
    }
}

int main(void)
{
    RUN(test_greedy);
    RUN(test_seed);
    RUN(test_distribution);
    RUN(test_truncation);
    RUN(test_penalty);
    RUN(test_bad);
    TEST_MAIN_END();
}
