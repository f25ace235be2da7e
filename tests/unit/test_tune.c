/* test_tune.c - prompt spaces, samplers, objectives, halving, trials.csv. */
#include "tune_sampler.h"
#include "dataset.h"
#include "space.h"
#include "objective.h"
#include "halving.h"
#include "trials.h"

#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64, for test data independent of the code under test. */
static uint64_t joule_tune_test_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* --- spaces ---------------------------------------------------------------- */

static struct joule_tune_space *parse(const char *text, char *err, size_t err_size)
{
    struct joule_tune_space *s = NULL;
    enum joule_status st = joule_tune_space_parse("t.yaml", text, strlen(text), &s, err, err_size);
    if (st != JOULE_OK)
        return NULL;
    return s;
}

/* The error of text, which must be refused. */
static const char *refusal(const char *text)
{
    static char err[512];
    struct joule_tune_space *s = parse(text, err, sizeof(err));
    if (s) {
        joule_tune_space_free(s);
        return "(accepted)";
    }
    return err;
}

static void test_default_space(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    CHECK(s->n_factors == 4);
    CHECK_STR(s->factors[0].name, "style");
    CHECK_STR(s->factors[1].name, "reasoning");
    CHECK_STR(s->factors[2].name, "format");
    CHECK_STR(s->factors[3].name, "brevity");
    CHECK(joule_tune_space_size(s) == 108);
    CHECK_STR(s->factors[3].levels[3].name, "word50");

    /* Every combination has its own key, and keys parse back. */
    char keys[108][160];
    int distinct = 1, roundtrip = 1;
    for (uint32_t i = 0; i < 108; i++) {
        struct joule_tune_cfg c = joule_tune_cfg_at(s, i), d;
        CHECK(joule_tune_cfg_index(s, &c) == i);
        char err[128];
        if (joule_tune_cfg_key(s, &c, keys[i], sizeof(keys[i])) != JOULE_OK ||
            joule_tune_cfg_parse(s, keys[i], &d, err, sizeof(err)) != JOULE_OK ||
            memcmp(&c, &d, sizeof(c)) != 0)
            roundtrip = 0;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(keys[i], keys[j]) == 0)
                distinct = 0;
    }
    CHECK(distinct);
    CHECK(roundtrip);
    CHECK_STR(keys[0], "style=concise,reasoning=none,format=free,brevity=none");
    CHECK_STR(keys[1], "style=concise,reasoning=none,format=free,brevity=1sent");
    CHECK_STR(keys[107], "style=stepwise,reasoning=bounded,format=json,brevity=word50");

    /* Rendering: no system text at all leaves no blank lines on top. */
    struct joule_tune_cfg c = joule_tune_cfg_at(s, 0);
    char *p = NULL;
    CHECK(joule_tune_render(s, &c, "DOC", &p) == JOULE_OK);
    CHECK_STR(p, "You are a careful assistant who writes short, plain answers.\n\n"
                 "Summarize the following text.\n\nDOC");
    free(p);
    char err[200];
    CHECK(joule_tune_cfg_parse(s, "brevity=word50,format=bullets,reasoning=bounded,style=role", &c,
                               err, sizeof(err)) == JOULE_OK);
    CHECK(joule_tune_render(s, &c, "DOC", &p) == JOULE_OK);
    CHECK_STR(p, "You are an experienced news editor who condenses articles for busy readers. "
                 "If you need to reason, use no more than two short steps.\n\n"
                 "Summarize the following text. Give the answer as three bullet points. "
                 "Stay under 50 words.\n\nDOC");
    free(p);
    CHECK(joule_tune_render_slot(s, &c, JOULE_TUNE_SLOT_INSTRUCTION, &p) == JOULE_OK);
    CHECK_STR(p, "Summarize the following text. Give the answer as three bullet points. "
                 "Stay under 50 words.");
    free(p);

    /* Keys that are not keys of the space. */
    CHECK(joule_tune_cfg_parse(s, "style=rol,reasoning=none,format=free,brevity=none", &c, err,
                               sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK_STR(err, "style: unknown level 'rol' (did you mean 'role'?)");
    CHECK(joule_tune_cfg_parse(s, "stile=role", &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK_STR(err, "unknown factor 'stile' (did you mean 'style'?)");
    CHECK(joule_tune_cfg_parse(s, "style=role,reasoning=none,format=free", &c, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK_STR(err, "factor brevity has no level");
    CHECK(joule_tune_cfg_parse(s, "style=role,style=concise", &c, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK_STR(err, "factor style is given twice");
    CHECK(joule_tune_cfg_parse(s, "style", &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    joule_tune_space_free(s);
}

static void test_space_yaml(void)
{
    char err[512];
    struct joule_tune_space *s = parse("name: qa\n"
                                       "template: \"[{system}] {{{instruction}}} {input}\"\n"
                                       "instruction: Answer.\n"
                                       "factors:\n"
                                       "  tone:\n"
                                       "    levels: {plain: ~, kind: Be kind.}\n"
                                       "  length:\n"
                                       "    slot: instruction\n"
                                       "    levels:\n"
                                       "      short: Be short.\n"
                                       "      long: ''\n",
                                       err, sizeof(err));
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_STR(s->name, "qa");
    CHECK(joule_tune_space_size(s) == 4);
    CHECK(s->factors[0].slot == JOULE_TUNE_SLOT_SYSTEM);
    CHECK(s->factors[1].slot == JOULE_TUNE_SLOT_INSTRUCTION);
    struct joule_tune_cfg c = joule_tune_cfg_at(s, 2); /* kind, short */
    char *p = NULL;
    CHECK(joule_tune_render(s, &c, "Q?", &p) == JOULE_OK);
    CHECK_STR(p, "[Be kind.] {Answer. Be short.} Q?");
    free(p);
    c = joule_tune_cfg_at(s, 1); /* plain, long: {system} is empty and takes the space after it */
    CHECK(joule_tune_render(s, &c, "Q?", &p) == JOULE_OK);
    CHECK_STR(p, "[] {Answer.} Q?");
    free(p);
    joule_tune_space_free(s);

    /* The default template and name when the file leaves them out. */
    s = parse("factors: {a: {levels: {x: X}}}\n", err, sizeof(err));
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->name, "custom");
        c = joule_tune_cfg_at(s, 0);
        CHECK(joule_tune_render(s, &c, "IN", &p) == JOULE_OK);
        CHECK_STR(p, "X\n\nIN");
        free(p);
        joule_tune_space_free(s);
    }

    /* Refusals name the file, line and column. */
    CHECK_STR(refusal("nmae: x\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: unknown key 'nmae' (did you mean 'name'?)");
    CHECK_STR(refusal("factors:\n  a:\n    level: {x: X}\n"),
              "t.yaml:3:5: unknown key 'level' in factor a (did you mean 'levels'?)");
    CHECK_STR(refusal("factors:\n  a:\n    zzzzzz: 1\n"),
              "t.yaml:3:5: unknown key 'zzzzzz' in factor a (allowed: slot, levels)");
    CHECK_STR(refusal("factors:\n  a:\n    slot: sytem\n    levels: {x: X}\n"),
              "t.yaml:3:5: a.slot: 'sytem' is not a slot (allowed: system, instruction); "
              "did you mean 'system'?");
    CHECK_STR(refusal("factors:\n  a:\n    slot: system\n"),
              "t.yaml:2:3: factor a has no levels (add levels: {name: text})");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: X, x: Y}}\n"),
              "t.yaml:2:22: level 'x' of a is listed twice");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: X}}\n  a: {levels: {y: Y}}\n"),
              "t.yaml:3:3: factor 'a' is listed twice");
    CHECK_STR(refusal("factors:\n  a b: {levels: {x: X}}\n"),
              "t.yaml:2:3: factor 'a b': names are 1-31 of A-Z a-z 0-9 _ . -");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: [1, 2]}}\n"),
              "t.yaml:2:19: a.x takes text, not a list");
    CHECK_STR(refusal("template: \"{system} {inpt}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: unknown slot at byte 10 (slots are {system}, {instruction} "
              "and {input}; write {{ for a literal brace)");
    CHECK_STR(refusal("template: \"{system}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: it has no {input} slot, so the task text would be lost");
    CHECK_STR(refusal("template: \"a } {input}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: a lone '}' at byte 3 (write }} for a literal brace)");
    CHECK_STR(refusal("name: x\n"), "t.yaml:1:1: the space has no factors (add factors: ...)");
    CHECK_STR(refusal(""), "t.yaml:1:1: a prompt space is a mapping with the keys name, "
                           "template, system, instruction and factors");
    CHECK_STR(refusal("- a\n"), "t.yaml:1:1: a prompt space is a mapping with the keys name, "
                                "template, system, instruction and factors");
    CHECK_STR(refusal("name: a\nname: b\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:2:1: 'name' is set twice");
    CHECK_STR(refusal("factors: {a: {levels: {x: X}}}\n---\nname: b\n"),
              "t.yaml:2:1: one YAML document expected, found a second");
    CHECK_STR(refusal("name: [\n"), "t.yaml:1:7: name takes text, not a list");
    CHECK(strncmp(refusal("name: 'x\n"), "t.yaml:2:1: YAML syntax: ", 25) == 0);

    /* Too many combinations: 5 factors of 30 levels = 24.3 million. */
    char big[8192] = "factors:\n";
    for (int f = 0; f < 5; f++) {
        size_t o = strlen(big);
        snprintf(big + o, sizeof(big) - o, "  f%d:\n    levels:\n", f);
        for (int l = 0; l < 30; l++) {
            o = strlen(big);
            snprintf(big + o, sizeof(big) - o, "      l%d: t\n", l);
        }
    }
    CHECK(strstr(refusal(big), "the space has more than 16777216 combinations with factor f4") !=
          NULL);
}

/* --- samplers ---------------------------------------------------------- */

static struct joule_tune_sampler *sampler(const struct joule_tune_space *s,
                                          enum joule_tune_sampler_kind kind, uint64_t seed)
{
    struct joule_tune_sampler *sp = NULL;
    char err[128];
    if (joule_tune_sampler_new(s, kind, seed, NULL, &sp, err, sizeof(err)) != JOULE_OK)
        return NULL;
    return sp;
}

/* Every combination exactly once, then JOULE_ERR_NOT_FOUND; the sequence
 * of indexes into seq[108]. */
static int covers_once(struct joule_tune_sampler *sp, const struct joule_tune_space *s,
                       uint32_t seq[108], double (*f)(const struct joule_tune_cfg *))
{
    int count[108] = {0};
    for (int t = 0; t < 108; t++) {
        struct joule_tune_cfg c;
        if (joule_tune_sampler_ask(sp, &c) != JOULE_OK)
            return 0;
        seq[t] = joule_tune_cfg_index(s, &c);
        count[seq[t]]++;
        if (f && joule_tune_sampler_tell(sp, &c, f(&c)) != JOULE_OK)
            return 0;
    }
    struct joule_tune_cfg c;
    if (joule_tune_sampler_ask(sp, &c) != JOULE_ERR_NOT_FOUND)
        return 0;
    for (int i = 0; i < 108; i++)
        if (count[i] != 1)
            return 0;
    return 1;
}

/* A synthetic objective for the covering test. */
static double level_sum(const struct joule_tune_cfg *c)
{
    return c->level[0] + 2.0 * c->level[1] - c->level[2] + 0.5 * c->level[3];
}

static void test_sampler_basics(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    uint32_t a[108], b[108];

    struct joule_tune_sampler *sp = sampler(s, JOULE_TUNE_SAMPLER_GRID, 1);
    CHECK(covers_once(sp, s, a, NULL));
    int in_order = 1;
    for (uint32_t i = 0; i < 108; i++)
        in_order &= a[i] == i;
    CHECK(in_order);
    joule_tune_sampler_free(sp);

    /* Random: reproducible for a seed, different for another. */
    sp = sampler(s, JOULE_TUNE_SAMPLER_RANDOM, 42);
    CHECK(covers_once(sp, s, a, NULL));
    joule_tune_sampler_free(sp);
    sp = sampler(s, JOULE_TUNE_SAMPLER_RANDOM, 42);
    CHECK(covers_once(sp, s, b, NULL));
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    joule_tune_sampler_free(sp);
    sp = sampler(s, JOULE_TUNE_SAMPLER_RANDOM, 43);
    CHECK(covers_once(sp, s, b, NULL));
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    joule_tune_sampler_free(sp);
    int in_grid_order = 1;
    for (uint32_t i = 0; i < 108; i++)
        in_grid_order &= a[i] == i;
    CHECK(!in_grid_order);

    /* TPE: no repeats either, and reproducible. */
    sp = sampler(s, JOULE_TUNE_SAMPLER_TPE, 7);
    CHECK(covers_once(sp, s, a, level_sum));
    joule_tune_sampler_free(sp);
    sp = sampler(s, JOULE_TUNE_SAMPLER_TPE, 7);
    CHECK(covers_once(sp, s, b, level_sum));
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    joule_tune_sampler_free(sp);

    /* Resume: telling the first 30 results to a new sampler, in another
     * order, gives the same next proposals as the uninterrupted run. */
    sp = sampler(s, JOULE_TUNE_SAMPLER_TPE, 7);
    for (int t = 29; t >= 0; t--) {
        struct joule_tune_cfg c = joule_tune_cfg_at(s, a[t]);
        CHECK(joule_tune_sampler_tell(sp, &c, level_sum(&c)) == JOULE_OK);
    }
    CHECK(joule_tune_sampler_seen(sp) == 30);
    int same = 1;
    for (int t = 30; t < 40; t++) {
        struct joule_tune_cfg c;
        CHECK(joule_tune_sampler_ask(sp, &c) == JOULE_OK);
        same &= joule_tune_cfg_index(s, &c) == a[t];
        CHECK(joule_tune_sampler_tell(sp, &c, level_sum(&c)) == JOULE_OK);
    }
    CHECK(same);
    joule_tune_sampler_free(sp);

    /* Grid after resume skips what was told. */
    sp = sampler(s, JOULE_TUNE_SAMPLER_GRID, 0);
    struct joule_tune_cfg c = joule_tune_cfg_at(s, 0);
    CHECK(joule_tune_sampler_tell(sp, &c, NAN) == JOULE_OK);
    CHECK(joule_tune_sampler_ask(sp, &c) == JOULE_OK);
    CHECK(joule_tune_cfg_index(s, &c) == 1);
    c.level[0] = 3; /* style has 3 levels */
    CHECK(joule_tune_sampler_tell(sp, &c, 1.0) == JOULE_ERR_INVALID);
    joule_tune_sampler_free(sp);

    /* Parameters out of range, names. */
    struct joule_tune_tpe_params p = joule_tune_tpe_defaults();
    p.gamma = 1.0;
    char err[128];
    CHECK(joule_tune_sampler_new(s, JOULE_TUNE_SAMPLER_TPE, 0, &p, &sp, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    CHECK_STR(err, "tpe gamma 1: must be between 0 and 1 (default 0.25)");
    enum joule_tune_sampler_kind k;
    CHECK(joule_tune_sampler_kind_parse("random", &k) == JOULE_OK &&
          k == JOULE_TUNE_SAMPLER_RANDOM);
    CHECK(joule_tune_sampler_kind_parse("bayes", &k) == JOULE_ERR_NOT_FOUND);
    CHECK_STR(joule_tune_sampler_name(JOULE_TUNE_SAMPLER_TPE), "tpe");
    joule_tune_space_free(s);
}

/* A synthetic objective with one best combination: a random weight per
 * level (from the seed) plus an interaction between the first two factors. */
struct synth {
    double w[4][4];
};

static double synth_value(const struct synth *o, const struct joule_tune_cfg *c)
{
    double v = 0;
    for (int f = 0; f < 4; f++)
        v += o->w[f][c->level[f]];
    if (c->level[0] == c->level[1])
        v += 0.15;
    return v;
}

/* The trial number (1-based) at which sampler kind first proposes the best
 * combination of objective o. */
static int trials_to_best(const struct joule_tune_space *s, enum joule_tune_sampler_kind kind,
                          uint64_t seed, const struct synth *o)
{
    double best = -1;
    for (uint32_t i = 0; i < 108; i++) {
        struct joule_tune_cfg c = joule_tune_cfg_at(s, i);
        if (synth_value(o, &c) > best)
            best = synth_value(o, &c);
    }
    struct joule_tune_sampler *sp = sampler(s, kind, seed);
    int found = 0;
    for (int t = 1; t <= 108 && !found; t++) {
        struct joule_tune_cfg c;
        if (joule_tune_sampler_ask(sp, &c) != JOULE_OK)
            break;
        double v = synth_value(o, &c);
        joule_tune_sampler_tell(sp, &c, v);
        if (v == best)
            found = t;
    }
    joule_tune_sampler_free(sp);
    return found ? found : 1000;
}

static void test_tpe_finds_best(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    enum { N_SEEDS = 20 };
    double sum[3] = {0};
    for (uint64_t seed = 1; seed <= N_SEEDS; seed++) {
        struct synth o;
        uint64_t st = seed * 1000003u;
        for (int f = 0; f < 4; f++)
            for (int k = 0; k < 4; k++)
                o.w[f][k] = (double)(joule_tune_test_rand(&st) % 1000) / 1000.0;
        sum[JOULE_TUNE_SAMPLER_TPE] += trials_to_best(s, JOULE_TUNE_SAMPLER_TPE, seed, &o);
        sum[JOULE_TUNE_SAMPLER_RANDOM] += trials_to_best(s, JOULE_TUNE_SAMPLER_RANDOM, seed, &o);
        sum[JOULE_TUNE_SAMPLER_GRID] += trials_to_best(s, JOULE_TUNE_SAMPLER_GRID, seed, &o);
    }
    double tpe = sum[0] / N_SEEDS, rnd = sum[1] / N_SEEDS, grid = sum[2] / N_SEEDS;
    printf("mean trials to the best of 108: tpe %.1f, random %.1f, grid %.1f\n", tpe, rnd, grid);
    CHECK(tpe < 0.5 * rnd);
    CHECK(tpe < 0.5 * grid);
    joule_tune_space_free(s);
}

/* --- objective and Pareto ------------------------------------------------ */

static void test_objective(void)
{
    struct joule_tune_weights w = joule_tune_weights_default();
    CHECK(w.accuracy == 1.0 && w.tpj == 1.0 && w.energy == 1.0);
    /* The seed's scale: ROUGE 0.38, TPJ 0.5 tokens/J, 1500 J. */
    CHECK_NEAR(joule_tune_objective(&w, 0.38, 0.5, 1500.0), 0.38 + 0.5 - 1.5, 1e-12);
    w.accuracy = 2.0;
    w.tpj = 0.0;
    w.energy = 0.5;
    CHECK_NEAR(joule_tune_objective(&w, 0.25, NAN, 400.0), 0.5 - 0.2, 1e-12);
    CHECK(isnan(joule_tune_objective(&w, 0.25, 1.0, NAN)));
    w.energy = 0.0;
    CHECK_NEAR(joule_tune_objective(&w, 0.25, NAN, NAN), 0.5, 1e-12);
}

static void test_pareto(void)
{
    /* Worked by hand (accuracy up, energy down, latency down):
     *   0 (0.5, 100, 1)   front: nothing is better in every objective
     *   1 (0.4, 100, 1)   dominated by 0 only (and 5)        -> 2
     *   2 (0.6, 200, 1)   front: best accuracy
     *   3 (0.5, 100, 1)   duplicate of 0: same rank          -> 1
     *   4 (0.3, 300, 2)   dominated by 1, which is rank 2    -> 3
     *   5 (0.45, 90, 3)   front: least energy
     *   6 (NAN, 10, 1)    unranked                           -> 0
     *   7 (0.6, 200, 0.5) front, and dominates 2!            -> 2 is rank 2 */
    struct joule_tune_point p[] = {
        {0.5, 100, 1}, {0.4, 100, 1}, {0.6, 200, 1}, {0.5, 100, 1},
        {0.3, 300, 2}, {0.45, 90, 3}, {NAN, 10, 1},  {0.6, 200, 0.5},
    };
    int rank[8];
    joule_tune_pareto_ranks(p, 8, JOULE_TUNE_OBJ_ALL, rank);
    int want[8] = {1, 2, 2, 1, 3, 1, 0, 1};
    for (int i = 0; i < 8; i++) {
        CHECK(rank[i] == want[i]);
        if (rank[i] != want[i])
            fprintf(stderr, "  point %d: rank %d, want %d\n", i, rank[i], want[i]);
    }
    /* Accuracy against energy only: 7 and 2 tie, 5 has less energy. */
    joule_tune_pareto_ranks(p, 8, JOULE_TUNE_OBJ_ACCURACY | JOULE_TUNE_OBJ_ENERGY, rank);
    int want2[8] = {1, 2, 1, 1, 3, 1, 0, 1};
    for (int i = 0; i < 8; i++)
        CHECK(rank[i] == want2[i]);
    CHECK(joule_tune_dominates(&p[7], &p[2], JOULE_TUNE_OBJ_ALL));
    CHECK(!joule_tune_dominates(&p[0], &p[3], JOULE_TUNE_OBJ_ALL));
    CHECK(!joule_tune_dominates(&p[6], &p[4], JOULE_TUNE_OBJ_ALL));
    joule_tune_pareto_ranks(p, 0, JOULE_TUNE_OBJ_ALL, rank); /* nothing to do */
}

/* --- successive halving ---------------------------------------------------- */

static void test_halving(void)
{
    uint32_t sizes[JOULE_TUNE_HALVING_MAX_RUNGS];
    size_t n;
    char err[128];
    struct joule_tune_halving_params p = {.min_examples = 2, .max_examples = 20, .eta = 3};
    CHECK(joule_tune_halving_rungs(&p, sizes, &n, err, sizeof(err)) == JOULE_OK);
    CHECK(n == 3 && sizes[0] == 2 && sizes[1] == 6 && sizes[2] == 20);
    p.max_examples = 18;
    CHECK(joule_tune_halving_rungs(&p, sizes, &n, err, sizeof(err)) == JOULE_OK);
    CHECK(n == 3 && sizes[0] == 2 && sizes[1] == 6 && sizes[2] == 18);
    p.max_examples = 20;
    p.min_examples = 20;
    CHECK(joule_tune_halving_rungs(&p, sizes, &n, err, sizeof(err)) == JOULE_OK);
    CHECK(n == 1 && sizes[0] == 20);
    p.eta = 1;
    CHECK(joule_tune_halving_rungs(&p, sizes, &n, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK_STR(err, "halving eta 1: must be 2 or more (3 is usual)");
    p.eta = 2;
    p.min_examples = 21;
    CHECK(joule_tune_halving_rungs(&p, sizes, &n, err, sizeof(err)) == JOULE_ERR_INVALID);

    CHECK(joule_tune_halving_keep(9, 3) == 3);
    CHECK(joule_tune_halving_keep(8, 3) == 2);
    CHECK(joule_tune_halving_keep(2, 3) == 1);
    CHECK(joule_tune_halving_keep(0, 3) == 0);

    /* Nine trials, eta 3: rung 0 keeps 3, rung 1 keeps 1.  Worked by hand:
     * values by id 10..18; id 13 fails (NAN); 11 and 16 tie at 0.7 (the
     * lower id first). */
    uint32_t ids[9] = {10, 11, 12, 13, 14, 15, 16, 17, 18};
    double v0[9] = {0.1, 0.7, 0.3, NAN, 0.9, 0.2, 0.7, 0.5, 0.6};
    uint32_t up[9];
    CHECK(joule_tune_halving_promote(ids, v0, 9, 3, up) == 3);
    CHECK(up[0] == 14 && up[1] == 11 && up[2] == 16);
    /* Rung 1 on the larger subset: 16 now leads. */
    double v1[3] = {0.6, 0.65, 0.8};
    uint32_t up2[3];
    CHECK(joule_tune_halving_promote(up, v1, 3, 3, up2) == 1);
    CHECK(up2[0] == 16);
    /* All failed: still one goes on, the lowest id. */
    double bad[3] = {NAN, NAN, NAN};
    CHECK(joule_tune_halving_promote(ids, bad, 3, 3, up2) == 1 && up2[0] == 10);
}

/* --- trials.csv ---------------------------------------------------------- */

static void test_trials_csv(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    struct joule_tune_trial t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = joule_tune_trial_init();
        t[i].number = (uint32_t)i;
        t[i].cfg = joule_tune_cfg_at(s, (uint32_t)(i * 37));
        snprintf(t[i].energy_source, sizeof(t[i].energy_source), "measured");
    }
    t[0].value = -0.62;
    t[0].rouge_l = 0.38461538461538464;
    t[0].energy_total_j = 1500.6501509149846;
    t[0].tpj = 0.5117781779662174;
    t[0].latency_s = 2.24891336250001;
    t[0].tokens_total = 768;
    t[0].energy_j_per_ex = 250.10835848583076;
    t[0].n_examples = 6;
    t[0].pareto_rank = 1;
    t[1].state = JOULE_TUNE_FAIL;
    t[2].state = JOULE_TUNE_PRUNED;
    t[2].exact = 0.5;
    t[2].numeric = 1e-300;
    t[2].tokens_total = UINT64_MAX;
    t[2].energy_source[0] = '\0';

    const char *dir = getenv("JOULE_TEST_TMP");
    char path[512];
    snprintf(path, sizeof(path), "%s/trials.csv", dir ? dir : ".");
    char err[512];
    CHECK(joule_tune_trials_write(path, s, t, 3, err, sizeof(err)) == JOULE_OK);
    struct joule_tune_trial *r = NULL;
    size_t n = 0;
    CHECK(joule_tune_trials_load(path, s, &r, &n, err, sizeof(err)) == JOULE_OK);
    CHECK(n == 3);
    if (n == 3) {
        for (int i = 0; i < 3; i++) {
            CHECK(r[i].number == t[i].number);
            CHECK(memcmp(&r[i].cfg, &t[i].cfg, sizeof(t[i].cfg)) == 0);
            CHECK(r[i].state == t[i].state);
            CHECK(r[i].tokens_total == t[i].tokens_total);
            CHECK_STR(r[i].energy_source, t[i].energy_source);
        }
        CHECK(r[0].value == t[0].value && r[0].rouge_l == t[0].rouge_l);
        CHECK(r[0].energy_total_j == t[0].energy_total_j && r[0].tpj == t[0].tpj);
        CHECK(r[0].latency_s == t[0].latency_s && r[0].energy_j_per_ex == t[0].energy_j_per_ex);
        CHECK(r[0].n_examples == 6 && r[0].pareto_rank == 1);
        CHECK(isnan(r[1].value) && isnan(r[1].rouge_l) && isnan(r[0].exact));
        CHECK(r[2].exact == 0.5 && r[2].numeric == 1e-300);
    }
    free(r);

    /* The text itself: the seed's columns first. */
    FILE *f = fopen(path, "r");
    char line[1024] = "";
    CHECK(f && fgets(line, sizeof(line), f));
    CHECK_STR(line, "number,value,cfg_style,cfg_reasoning,cfg_format,cfg_brevity,metric_rougeL,"
                    "metric_energy_total_J,metric_tpj,metric_latency_s,metric_tokens_total,"
                    "metric_energy_J_per_ex,metric_exact,metric_numeric,n_examples,state,"
                    "pareto_rank,energy_source\n");
    CHECK(fgets(line, sizeof(line), f));
    CHECK_STR(line, "0,-0.62,concise,none,free,none,0.38461538461538464,1500.6501509149846,"
                    "0.5117781779662174,2.24891336250001,768,250.10835848583076,,,6,COMPLETE,1,"
                    "measured\n");
    CHECK(fgets(line, sizeof(line), f));
    CHECK_STR(line, "1,,role,none,free,1sent,,,,,0,,,,0,FAIL,0,measured\n");
    if (f)
        fclose(f);

    /* Bad files: each message names the line. */
    char head[600];
    snprintf(head, sizeof(head), "%s",
             "number,value,cfg_style,cfg_reasoning,cfg_format,"
             "cfg_brevity,metric_rougeL,metric_energy_total_J,"
             "metric_tpj,metric_latency_s,metric_tokens_total,"
             "metric_energy_J_per_ex,metric_exact,metric_numeric,"
             "n_examples,state,pareto_rank,energy_source\n");
    static const struct {
        const char *rows;
        const char *err;
    } bad[] = {
        {"0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n"
         "1,1,rol,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n",
         "t.csv:3: cfg_style: unknown level 'rol' (did you mean 'role'?)"},
        {"0,abc,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n",
         "t.csv:2: value: 'abc' is not a valid value"},
        {"0,nan,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n",
         "t.csv:2: value: 'nan' is not a valid value"},
        {"0,1,role,none,free,none,,,,,-1,,,,1,COMPLETE,0,x\n",
         "t.csv:2: metric_tokens_total: '-1' is not a valid value"},
        {"0,1,role,none,free,none,,,,,0,,,,1,DONE,0,x\n",
         "t.csv:2: state: 'DONE' is not COMPLETE, PRUNED or FAIL"},
        {"0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0\n",
         "t.csv:2: 17 fields, the header has 18"},
        {"0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n0,1,role,none,free,none,,,,,0,,,,1,"
         "COMPLETE,0,x\n",
         "t.csv:3: trial number 0 appears twice"},
        {"0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\n1,1,role,no",
         "t.csv:3: the line is cut short (no end of line: the run was interrupted while writing "
         "it?); delete the line to resume"},
        {"0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0,\"x\"\n",
         "t.csv:2: energy_source: '\"x\"' is not a valid value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[2048];
        snprintf(text, sizeof(text), "%s%s", head, bad[i].rows);
        CHECK(joule_tune_trials_parse("t.csv", text, strlen(text), s, &r, &n, err, sizeof(err)) ==
              JOULE_ERR_FORMAT);
        CHECK_STR(err, bad[i].err);
        CHECK(r == NULL);
    }
    /* A header of another space. */
    const char *other = "number,value,cfg_tone\n";
    CHECK(joule_tune_trials_parse("t.csv", other, strlen(other), s, &r, &n, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK(strncmp(err, "t.csv:1: the header does not match the space 'summaries'", 56) == 0);
    CHECK(joule_tune_trials_parse("t.csv", "", 0, s, &r, &n, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK_STR(err, "t.csv:1: empty file (no header)");
    /* Header only, and CRLF line ends, are fine. */
    CHECK(joule_tune_trials_parse("t.csv", head, strlen(head), s, &r, &n, err, sizeof(err)) ==
          JOULE_OK);
    CHECK(n == 0 && r == NULL);
    char crlf[2048];
    snprintf(crlf, sizeof(crlf), "%.*s\r\n0,1,role,none,free,none,,,,,0,,,,1,COMPLETE,0,x\r\n",
             (int)strlen(head) - 1, head);
    CHECK(joule_tune_trials_parse("t.csv", crlf, strlen(crlf), s, &r, &n, err, sizeof(err)) ==
          JOULE_OK);
    CHECK(n == 1);
    free(r);
    joule_tune_space_free(s);
}

/* Multi-objective search: two conflicting objectives over the built-in
 * space (per-level gains, seeded; what one factor level adds to A it takes
 * from B, plus noise).  Averaged over seeds, TPE with the Pareto split finds
 * far more configurations of the true front within 30 trials than random
 * search does.  (TPE on the scalar sum A + B finds about as many here: the
 * sum's optimum lies on the front; the figure is printed, not held.) */
static double mo_a[4][4], mo_b[4][4];

static void mo_point(const struct joule_tune_cfg *c, struct joule_tune_point *p)
{
    double a = 0, b = 0;
    for (int f = 0; f < 4; f++) {
        a += mo_a[f][c->level[f]];
        b += mo_b[f][c->level[f]];
    }
    p->accuracy = a;
    p->energy_j = -b; /* B is a gain: its negation is a cost */
    p->latency_s = 0;
}

/* True-front configurations found in the first `trials` proposals. */
static int mo_found(const struct joule_tune_space *s, enum joule_tune_sampler_kind kind,
                    unsigned pareto, uint64_t seed, int trials, const int *front)
{
    struct joule_tune_sampler *sp = sampler(s, kind, seed);
    if (!sp)
        return -1;
    joule_tune_sampler_use_pareto(sp, pareto);
    int found = 0;
    for (int t = 0; t < trials; t++) {
        struct joule_tune_cfg c;
        if (joule_tune_sampler_ask(sp, &c) != JOULE_OK)
            break;
        struct joule_tune_point p;
        mo_point(&c, &p);
        found += front[joule_tune_cfg_index(s, &c)] == 1;
        joule_tune_sampler_tell_point(sp, &c, p.accuracy - p.energy_j, &p);
    }
    joule_tune_sampler_free(sp);
    return found;
}

static void test_tpe_pareto(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    if (!s)
        return;
    const unsigned mask = JOULE_TUNE_OBJ_ACCURACY | JOULE_TUNE_OBJ_ENERGY;
    double sum_mo = 0, sum_rand = 0, sum_scalar = 0, front_size = 0;
    const int seeds = 20;
    for (int k = 0; k < seeds; k++) {
        uint64_t r = 1000 + (uint64_t)k;
        for (int f = 0; f < 4; f++)
            for (int l = 0; l < 4; l++) {
                double u = (double)(joule_ds_splitmix64(&r) >> 11) * 0x1.0p-53;
                double v = (double)(joule_ds_splitmix64(&r) >> 11) * 0x1.0p-53;
                mo_a[f][l] = u;
                mo_b[f][l] = 1 - u + 0.3 * v;
            }
        struct joule_tune_point pts[108];
        int front[108];
        for (uint32_t i = 0; i < 108; i++) {
            struct joule_tune_cfg c = joule_tune_cfg_at(s, i);
            mo_point(&c, &pts[i]);
        }
        joule_tune_pareto_ranks(pts, 108, mask, front);
        for (int i = 0; i < 108; i++)
            front_size += front[i] == 1;
        sum_mo += mo_found(s, JOULE_TUNE_SAMPLER_TPE, mask, 77 + (uint64_t)k, 30, front);
        sum_rand += mo_found(s, JOULE_TUNE_SAMPLER_RANDOM, 0, 77 + (uint64_t)k, 30, front);
        sum_scalar += mo_found(s, JOULE_TUNE_SAMPLER_TPE, 0, 77 + (uint64_t)k, 30, front);
    }
    printf("pareto search, front points found in 30 trials (mean of %d seeds, front of %.1f): "
           "tpe-pareto %.2f, random %.2f, tpe-scalar %.2f\n",
           seeds, front_size / seeds, sum_mo / seeds, sum_rand / seeds, sum_scalar / seeds);
    CHECK(sum_mo > 1.4 * sum_rand);
    joule_tune_space_free(s);
}

int main(void)
{
    RUN(test_default_space);
    RUN(test_space_yaml);
    RUN(test_sampler_basics);
    RUN(test_tpe_finds_best);
    RUN(test_objective);
    RUN(test_pareto);
    RUN(test_tpe_pareto);
    RUN(test_halving);
    RUN(test_trials_csv);
    TEST_MAIN_END();
}
