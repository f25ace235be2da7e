/* test_tune_run.c - tune_run.c: the chat form of a prompt, a trial's
 * metrics from its examples, and the tuning loop on a synthesized model:
 * halving, resume from a cut trials.csv, refused prompts recorded FAIL. */
#include "tune_run.h"

#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_render_user(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    struct joule_tune_cfg c = {{0}};
    char err[256];
    CHECK(joule_tune_cfg_set(s, &c, "style", "role", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_tune_cfg_set(s, &c, "brevity", "1sent", err, sizeof(err)) == JOULE_OK);
    char *full = NULL, *user = NULL, *sys = NULL;
    CHECK(joule_tune_render(s, &c, "DOC", &full) == JOULE_OK);
    CHECK(joule_tune_render_user(s, &c, "DOC", &user) == JOULE_OK);
    CHECK(joule_tune_render_slot(s, &c, JOULE_TUNE_SLOT_SYSTEM, &sys) == JOULE_OK);
    if (full && user && sys) {
        /* The full prompt is the system text, a blank line, the user message. */
        size_t ns = strlen(sys);
        CHECK(ns > 0 && strncmp(full, sys, ns) == 0);
        CHECK(strcmp(full + ns, "\n\n") > 0 && strcmp(full + ns + 2, user) == 0);
        CHECK(strstr(user, "news editor") == NULL && strstr(user, "DOC") != NULL);
        CHECK(strncmp(user, "Summarize", 9) == 0);
    }
    free(full);
    free(user);
    free(sys);
    joule_tune_space_free(s);
}

static void test_trial_metrics(void)
{
    struct joule_tune_example ex[3] = {
        {NULL, 0.5, 2.0, 0.1, 10, 4, JOULE_PROV_MEASURED},
        {NULL, 0.25, 3.0, 0.2, 12, 6, JOULE_PROV_SAMPLED},
        {NULL, 0.0, 5.0, 0.3, 9, 10, JOULE_PROV_MEASURED},
    };
    struct joule_tune_weights w = {1.0, 2.0, 1000.0};
    struct joule_tune_trial t = joule_tune_trial_init();
    joule_tune_trial_metrics(&t, JOULE_EVAL_ROUGE, ex, 3, &w);
    CHECK(fabs(t.rouge_l - 0.25) < 1e-15 && isnan(t.exact) && isnan(t.numeric));
    CHECK(t.energy_total_j == 10.0 && t.tokens_total == 20 && t.n_examples == 3);
    CHECK(fabs(t.tpj - 2.0) < 1e-15 && fabs(t.latency_s - 0.2) < 1e-15);
    CHECK(fabs(t.energy_j_per_ex - 10.0 / 3) < 1e-15);
    CHECK(strcmp(t.energy_source, "sampled") == 0);
    /* 1 * 0.25 + 2 * 2 - 1000 * 0.010 kJ */
    CHECK(fabs(t.value - (0.25 + 4.0 - 10.0)) < 1e-12);
    joule_tune_trial_metrics(&t, JOULE_EVAL_EXACT, ex, 2, &w);
    CHECK(fabs(t.exact - 0.375) < 1e-15 && isnan(t.rouge_l) && t.n_examples == 2);
    CHECK(joule_tune_trial_accuracy(&t, JOULE_EVAL_EXACT) == t.exact);
    /* No energy: NAN, and the value too while energy weighs. */
    ex[0].energy_j = NAN;
    joule_tune_trial_metrics(&t, JOULE_EVAL_NUMERIC, ex, 3, &w);
    CHECK(isnan(t.energy_total_j) && isnan(t.tpj) && isnan(t.value));
    w.tpj = w.energy = 0;
    joule_tune_trial_metrics(&t, JOULE_EVAL_NUMERIC, ex, 3, &w);
    CHECK(fabs(t.value - 0.25) < 1e-15);
}

struct fixture {
    struct joule_tune_space *space;
    struct joule_dataset *data;
    struct joule_engine *engine;
    char model[512], csv[512];
};

static int fixture_open(struct fixture *f, int32_t n_ctx)
{
    memset(f, 0, sizeof(*f));
    const char *dir = getenv("JOULE_TEST_TMP");
    snprintf(f->model, sizeof(f->model), "%s/tune_run.gguf", dir ? dir : ".");
    snprintf(f->csv, sizeof(f->csv), "%s/tune_run_trials.csv", dir ? dir : ".");
    char err[512];
    struct joule_synth_params sp = joule_synth_default_params();
    sp.n_embd = 64, sp.n_layer = 1, sp.n_head = 4, sp.n_head_kv = 2, sp.n_ff = 128;
    sp.n_vocab = 512, sp.n_ctx = 1024, sp.type = "q8_0";
    if (joule_model_synth(&sp, f->model, err, sizeof(err)) != JOULE_OK)
        return 0;
    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = 1;
    ep.n_seq = 4;
    ep.n_ctx = n_ctx;
    struct joule_dataset_params dp = joule_dataset_default_params();
    dp.source = "summaries";
    dp.sample_size = 4;
    return joule_tune_space_default(&f->space) == JOULE_OK &&
           joule_dataset_load(&dp, &f->data, err, sizeof(err)) == JOULE_OK &&
           joule_engine_open(f->model, &ep, &f->engine, err, sizeof(err)) == JOULE_OK;
}

static void fixture_close(struct fixture *f)
{
    joule_engine_close(f->engine);
    joule_dataset_free(f->data);
    joule_tune_space_free(f->space);
}

static int same_trials(const struct joule_tune_outcome *a, const struct joule_tune_outcome *b)
{
    if (a->n_trials != b->n_trials)
        return 0;
    for (size_t i = 0; i < a->n_trials; i++) {
        const struct joule_tune_trial *x = &a->trials[i], *y = &b->trials[i];
        if (x->number != y->number || memcmp(&x->cfg, &y->cfg, sizeof(x->cfg)) != 0 ||
            x->state != y->state || x->n_examples != y->n_examples ||
            x->tokens_total != y->tokens_total || x->rouge_l != y->rouge_l)
            return 0;
    }
    return 1;
}

static void test_tune_and_resume(void)
{
    struct fixture f;
    CHECK(fixture_open(&f, 0));
    if (!f.engine) {
        fixture_close(&f);
        return;
    }
    /* No meter: accuracy alone is the objective, so the run is exact. */
    struct joule_tune_exec x = {f.engine, NULL, f.space, f.data, JOULE_EVAL_ROUGE, 3, 0, NULL};
    struct joule_tune_params p = {JOULE_TUNE_SAMPLER_RANDOM, 5, {1, 0, 0}, 5, 2, 2, f.csv, 1};
    struct joule_tune_outcome a, b;
    char err[512];
    CHECK(joule_tune_run(&x, &p, NULL, NULL, &a, err, sizeof(err)) == JOULE_OK);
    /* Rungs 2 and 4, brackets of 2: 0-1, 2-3, 4; one of each pair pruned. */
    CHECK(a.n_rungs == 2 && a.rungs[0] == 2 && a.rungs[1] == 4 && a.bracket_size == 2);
    CHECK(a.n_trials == 5 && a.n_resumed == 0 && !a.interrupted);
    size_t n_done = 0;
    for (size_t i = 0; i < a.n_trials; i++) {
        const struct joule_tune_trial *t = &a.trials[i];
        CHECK(t->number == i && isnan(t->energy_total_j));
        CHECK(t->state == JOULE_TUNE_COMPLETE ? t->n_examples == 4 && t->pareto_rank >= 1
                                              : t->n_examples == 2 && t->pareto_rank == 0);
        n_done += t->state == JOULE_TUNE_COMPLETE;
        CHECK(t->tokens_total > 0 && t->tokens_total <= 3ull * t->n_examples);
    }
    CHECK(n_done == 3 && a.best >= 0 && a.trials[a.best].state == JOULE_TUNE_COMPLETE);

    /* Cut trials.csv after its first two rows (as an interrupt leaves it)
     * and resume: the same trials. */
    FILE *in = fopen(f.csv, "r");
    char lines[8][4096];
    size_t n = 0;
    while (in && n < 8 && fgets(lines[n], sizeof(lines[n]), in))
        n++;
    if (in)
        fclose(in);
    CHECK(n == 6);
    FILE *out = fopen(f.csv, "w");
    for (size_t i = 0; out && i < 3; i++)
        fputs(lines[i], out);
    if (out)
        fclose(out);
    p.fresh = 0;
    CHECK(joule_tune_run(&x, &p, NULL, NULL, &b, err, sizeof(err)) == JOULE_OK);
    CHECK(b.n_resumed == 2 && same_trials(&a, &b));
    joule_tune_outcome_free(&b);

    /* Another seed proposes what this trials.csv does not hold. */
    p.seed = 6;
    p.n_trials = 6;
    enum joule_status st = joule_tune_run(&x, &p, NULL, NULL, &b, err, sizeof(err));
    CHECK(st == JOULE_ERR_FORMAT && strstr(err, "--fresh") != NULL);
    joule_tune_outcome_free(&b);
    joule_tune_outcome_free(&a);
    fixture_close(&f);
}

static void test_refused_prompts_fail(void)
{
    struct fixture f;
    CHECK(fixture_open(&f, 32)); /* every prompt is longer than 32 tokens */
    if (!f.engine) {
        fixture_close(&f);
        return;
    }
    struct joule_tune_exec x = {f.engine, NULL, f.space, f.data, JOULE_EVAL_ROUGE, 3, 0, NULL};
    struct joule_tune_params p = {JOULE_TUNE_SAMPLER_GRID, 1, {1, 0, 0}, 3, 2, 2, f.csv, 1};
    struct joule_tune_outcome a;
    char err[512];
    CHECK(joule_tune_run(&x, &p, NULL, NULL, &a, err, sizeof(err)) == JOULE_OK);
    CHECK(a.n_trials == 3 && a.best == -1);
    for (size_t i = 0; i < a.n_trials; i++)
        CHECK(a.trials[i].state == JOULE_TUNE_FAIL && isnan(a.trials[i].value) &&
              a.trials[i].pareto_rank == 0);
    joule_tune_outcome_free(&a);
    fixture_close(&f);
}

int main(void)
{
    RUN(test_render_user);
    RUN(test_trial_metrics);
    RUN(test_tune_and_resume);
    RUN(test_refused_prompts_fail);
    TEST_MAIN_END();
}
