/* test_config.c - experiment configs: defaults, presets, precedence, YAML
 * files, every error message, and the canonical YAML round trip. */
#include "test.h"

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[1024];

static struct joule_config *fresh(void)
{
    struct joule_config *c = NULL;
    CHECK(joule_config_new(&c) == JOULE_OK);
    return c;
}

static enum joule_status parse(struct joule_config *c, const char *yaml, const char *preset)
{
    return joule_config_parse(c, "exp.yaml", yaml, strlen(yaml), preset, err, sizeof(err));
}

static void get(const struct joule_config *c, const char *key, const char *want)
{
    char v[512];
    CHECK(joule_config_get(c, key, v, sizeof(v)) == JOULE_OK);
    if (strcmp(v, want) != 0)
        fprintf(stderr, "  %s = '%s', want '%s'\n", key, v, want);
    CHECK_STR(v, want);
}

/* err must hold every one of the NULL-terminated fragments. */
static void err_has(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        if (!strstr(err, s))
            fprintf(stderr, "  error '%s' lacks '%s'\n", err, s);
        CHECK(strstr(err, s) != NULL);
    }
    va_end(ap);
}

static void test_defaults(void)
{
    struct joule_config *c = fresh();
    CHECK(c->batch_size == 1 && c->threads == 0);
    CHECK(c->max_input_tokens == 512 && c->max_output_tokens == 128);
    CHECK(c->decoding.temperature == 0 && c->decoding.top_p == 1 && c->decoding.top_k == 0);
    CHECK(c->decoding.repetition_penalty == 1 && c->decoding.seed == 42);
    CHECK(c->protocol.cycles == 3 && c->protocol.warmup_runs == 1);
    CHECK(c->protocol.min_window_s == 10 && c->protocol.idle_s == 10);
    CHECK(c->protocol.meter_interval_ms == 100);
    CHECK_STR(c->backend, "builtin");
    CHECK_STR(c->precision, "file");
    CHECK_STR(c->dataset.name, "instructions");
    CHECK_STR(c->dataset.format, "auto");
    CHECK_STR(c->protocol.meter_sources, "auto");
    CHECK(c->model == NULL && c->name == NULL && c->preset == NULL && c->outputs.db == NULL);
    /* Without a model nothing runs, and the message says how to give one. */
    CHECK(joule_config_validate(c, err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("no model", "-m FILE", NULL);
    CHECK(joule_config_set(c, "model", "m.gguf", err, sizeof(err)) == JOULE_OK);
    CHECK(joule_config_validate(c, err, sizeof(err)) == JOULE_OK);
    joule_config_free(c);
    joule_config_free(NULL);
}

static void test_presets(void)
{
    const char *summary = NULL;
    CHECK_STR(joule_preset_name(0, &summary), "quick-test");
    CHECK(summary && *summary);
    CHECK_STR(joule_preset_name(1, NULL), "benchmark");
    CHECK_STR(joule_preset_name(2, NULL), "throughput");
    CHECK(joule_preset_name(3, NULL) == NULL);

    struct joule_config *c = fresh();
    CHECK(joule_config_load(c, NULL, "quick-test", err, sizeof(err)) == JOULE_OK);
    CHECK(c->batch_size == 1 && c->max_input_tokens == 64 && c->max_output_tokens == 32);
    CHECK_STR(c->preset, "quick-test");
    CHECK(joule_config_load(c, NULL, "benchmark", err, sizeof(err)) == JOULE_OK);
    CHECK(c->batch_size == 1 && c->max_input_tokens == 2048 && c->max_output_tokens == 512);
    CHECK_STR(c->precision, "f16");
    CHECK(c->decoding.ignore_eos == 1);
    CHECK(joule_config_load(c, NULL, "throughput", err, sizeof(err)) == JOULE_OK);
    CHECK(c->batch_size == 8);
    /* A load starts from the defaults: nothing of the last preset stays. */
    CHECK(joule_config_load(c, NULL, NULL, err, sizeof(err)) == JOULE_OK);
    CHECK(c->batch_size == 1 && c->preset == NULL && c->decoding.ignore_eos == 0);

    CHECK(joule_config_load(c, NULL, "quick-tset", err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    err_has("unknown preset 'quick-tset'", "allowed: quick-test, benchmark, throughput",
            "did you mean 'quick-test'?", NULL);
    CHECK(joule_config_load(c, NULL, "zzzzzzzz", err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    CHECK(strstr(err, "did you mean") == NULL);
    /* The preset is chosen before the file, never set after it. */
    CHECK(joule_config_set(c, "preset", "benchmark", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("--preset", NULL);
    joule_config_free(c);
}

/* CLI flags > config file > preset > defaults. */
static void test_precedence(void)
{
    struct joule_config *c = fresh();
    const char *yaml = "model: m.gguf\n"
                       "batch_size: 3\n"
                       "dataset:\n"
                       "  name: arithmetic\n"
                       "  sample_size: 3\n"
                       "protocol: {cycles: 5}\n";
    CHECK(parse(c, yaml, "quick-test") == JOULE_OK);
    CHECK(c->batch_size == 3);                   /* file over preset */
    CHECK(c->max_input_tokens == 64);            /* preset under the file */
    CHECK(c->protocol.cycles == 5);              /* flow mapping too */
    CHECK(c->protocol.meter_interval_ms == 100); /* default under both */
    CHECK_STR(c->dataset.name, "arithmetic");
    CHECK(joule_config_set(c, "batch_size", "4", err, sizeof(err)) == JOULE_OK);
    CHECK(c->batch_size == 4); /* flag over file */
    /* A file's own preset applies under it; --preset replaces it. */
    CHECK(parse(c, "preset: throughput\nmax_output_tokens: 7\n", NULL) == JOULE_OK);
    CHECK(c->batch_size == 8 && c->max_output_tokens == 7);
    CHECK_STR(c->preset, "throughput");
    CHECK(parse(c, "preset: throughput\n", "quick-test") == JOULE_OK);
    CHECK(c->batch_size == 1 && c->max_output_tokens == 32);
    CHECK(parse(c, "preset: fast\n", NULL) == JOULE_ERR_NOT_FOUND);
    err_has("exp.yaml:1:1:", "unknown preset 'fast'", NULL);
    /* Dotted keys at the top level, `dataset: NAME` shorthand, lists. */
    CHECK(parse(c, "protocol.idle_s: 2.5\ndataset: summaries\ngpus: [0, 2]\n", NULL) == JOULE_OK);
    CHECK(c->protocol.idle_s == 2.5);
    CHECK_STR(c->dataset.name, "summaries");
    CHECK_STR(c->gpus, "0,2");
    CHECK(joule_config_set(c, "gpus", " 1 , 3", err, sizeof(err)) == JOULE_OK);
    CHECK_STR(c->gpus, "1,3");
    /* An empty file is the defaults. */
    CHECK(parse(c, "", NULL) == JOULE_OK);
    CHECK(c->batch_size == 1 && c->gpus == NULL);
    CHECK(parse(c, "# only a comment\n", NULL) == JOULE_OK);
    joule_config_free(c);
}

static void test_values(void)
{
    struct joule_config *c = fresh();
    CHECK(joule_config_set(c, "batch_size", "0", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("batch_size: 0 is out of range (allowed: 1..1024)", NULL);
    CHECK(joule_config_set(c, "batch_size", "2.5", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("batch_size: '2.5' is not a whole number", NULL);
    CHECK(joule_config_set(c, "protocol.cycles", "11", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("protocol.cycles: 11 is out of range (allowed: 1..10)", NULL);
    CHECK(joule_config_set(c, "decoding.top_p", "0", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("(0..1]", NULL);
    CHECK(joule_config_set(c, "decoding.top_p", "0.95", err, sizeof(err)) == JOULE_OK);
    CHECK(c->decoding.top_p == 0.95);
    CHECK(joule_config_set(c, "decoding.temperature", "nan", err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    err_has("is not a number", NULL);
    CHECK(joule_config_set(c, "decoding.seed", "-1", err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(joule_config_set(c, "decoding.seed", "18446744073709551615", err, sizeof(err)) ==
          JOULE_OK);
    CHECK(c->decoding.seed == UINT64_MAX);
    CHECK(joule_config_set(c, "dataset.shuffle", "yes", err, sizeof(err)) == JOULE_OK);
    CHECK(c->dataset.shuffle == 1);
    CHECK(joule_config_set(c, "dataset.shuffle", "maybe", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("dataset.shuffle: 'maybe' is not a boolean (allowed: true, false)", NULL);
    CHECK(joule_config_set(c, "precision", "Q4_0", err, sizeof(err)) == JOULE_OK);
    CHECK_STR(c->precision, "q4_0"); /* canonical spelling */
    CHECK(joule_config_set(c, "precision", "q4", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("precision: 'q4' is not allowed (allowed: file, f32, f16, bf16, q8_0, q4_0, "
            "q4_k_m, q6_k, int8, int8-mixed); did you mean 'q4_0'?",
            NULL);
    CHECK(joule_config_set(c, "gpus", "0,,1", err, sizeof(err)) == JOULE_ERR_INVALID);
    err_has("gpus: '0,,1' is not a list of GPU indices", NULL);
    CHECK(joule_config_set(c, "gpus", "a", err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(joule_config_set(c, "batchsize", "4", err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    err_has("unknown key 'batchsize' (did you mean 'batch_size'?)", NULL);
    CHECK(joule_config_set(c, "cycles", "4", err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    err_has("did you mean 'protocol.cycles'?", NULL);
    CHECK(joule_config_set(c, "xyzzy", "4", err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    err_has("unknown key 'xyzzy' (see `joule config keys`)", NULL);
    /* An empty string unsets a string key. */
    CHECK(joule_config_set(c, "name", "run-1", err, sizeof(err)) == JOULE_OK);
    CHECK_STR(c->name, "run-1");
    CHECK(joule_config_set(c, "name", "", err, sizeof(err)) == JOULE_OK);
    CHECK(c->name == NULL);
    char v[8];
    CHECK(joule_config_get(c, "nope", v, sizeof(v)) == JOULE_ERR_NOT_FOUND);
    /* Every key's default reads back as documented. */
    for (size_t i = 0; joule_config_key_at(i); i++) {
        const struct joule_config_key *k = joule_config_key_at(i);
        CHECK(k->help[0] != '\0' && k->type[0] != '\0');
        if (strcmp(k->key, "model") != 0 && strcmp(k->key, "preset") != 0)
            get(c, k->key,
                strcmp(k->key, "name") == 0 || strcmp(k->key, "gpus") == 0 ? ""
                : strcmp(k->key, "precision") == 0                         ? "q4_0"
                : strcmp(k->key, "decoding.top_p") == 0                    ? "0.95"
                : strcmp(k->key, "decoding.seed") == 0                     ? "18446744073709551615"
                : strcmp(k->key, "dataset.shuffle") == 0                   ? "true"
                                                                           : k->def);
    }
    joule_config_free(c);
}

/* Every file error names FILE:LINE:COLUMN. */
static void test_file_errors(void)
{
    struct joule_config *c = fresh();
    CHECK(parse(c, "model: x.gguf\nbatchsize: 4\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:1: unknown key 'batchsize' (did you mean 'batch_size'?)", NULL);
    CHECK(parse(c, "protocol:\n  cycles: 12\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:3: protocol.cycles: 12 is out of range (allowed: 1..10)", NULL);
    CHECK(parse(c, "protocol:\n  cycle: 2\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:3: unknown key 'protocol.cycle' (did you mean 'protocol.cycles'?)", NULL);
    CHECK(parse(c, "decoding:\n  temperature: hot\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:3: decoding.temperature: 'hot' is not a number (allowed: 0..100)", NULL);
    CHECK(parse(c, "batch_size: 2\nbatch_size: 3\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:1: 'batch_size' is set twice (first on line 1)", NULL);
    CHECK(parse(c, "batch_size: [1, 2]\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:1:13: batch_size takes a single value, not a list", NULL);
    CHECK(parse(c, "model:\n  path: x\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:3: model takes a value, not a mapping", NULL);
    CHECK(parse(c, "protocol: 3\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:1:1: 'protocol' is a section", NULL);
    CHECK(parse(c, "protocol:\n  cycles:\n    deep: 1\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:3:5: protocol.cycles takes a value, not a mapping", NULL);
    CHECK(parse(c, "- a\n- b\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:1:1: a config is a mapping of keys", NULL);
    CHECK(parse(c, "just text\n", NULL) == JOULE_ERR_FORMAT);
    err_has("a config is a mapping", NULL);
    CHECK(parse(c, "model: \"unclosed\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:", "YAML syntax", NULL);
    CHECK(parse(c, "a: &x 1\nmodel: *x\n", NULL) == JOULE_ERR_FORMAT);
    CHECK(parse(c, "batch_size: &x 1\nthreads: *x\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:10: aliases", NULL);
    CHECK(parse(c, "batch_size: 1\n---\nbatch_size: 2\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:2:1: one YAML document expected", NULL);
    CHECK(parse(c, "batch_size: ~\n", NULL) == JOULE_ERR_FORMAT);
    err_has("exp.yaml:1:1: batch_size: a value is needed (allowed: 1..1024)", NULL);
    /* A null string key is unset; a quoted "null" is the text. */
    CHECK(parse(c, "name: ~\n", NULL) == JOULE_OK && c->name == NULL);
    CHECK(parse(c, "name: \"null\"\n", NULL) == JOULE_OK);
    CHECK_STR(c->name, "null");
    /* A failed load leaves a whole config (the defaults), never half of one. */
    joule_config_free(c);

    c = fresh();
    CHECK(joule_config_load(c, "/nonexistent/exp.yaml", NULL, err, sizeof(err)) == JOULE_ERR_IO);
    err_has("/nonexistent/exp.yaml", NULL);
    joule_config_free(c);
}

/* The canonical YAML loads back to the same config and the same text. */
static void test_round_trip(void)
{
    struct joule_config *c = fresh();
    const char *yaml = "model: \"dir with: colon/m.gguf\"\n"
                       "name: 'quote \" and \\\\ and #hash'\n"
                       "gpus: 0,1\n"
                       "decoding: {temperature: 0.7, top_p: 0.9, seed: 7}\n"
                       "protocol: {min_window_s: 0.1, meter_sources: \"fake:/tmp/x y\"}\n";
    CHECK(parse(c, yaml, "benchmark") == JOULE_OK);
    char *a = NULL, *b = NULL, *commented = NULL;
    CHECK(joule_config_to_yaml(c, 0, &a) == JOULE_OK);
    CHECK(joule_config_to_yaml(c, 1, &commented) == JOULE_OK);
    CHECK(a && strstr(a, "batch_size: 1\n") && strstr(a, "\n  cycles: 5\n"));
    CHECK(a && strstr(a, "temperature: 0.7\n") && strstr(a, "min_window_s: 0.1\n"));
    CHECK(commented && strstr(commented, "# prompts run together in one batch"));
    struct joule_config *d = fresh(), *e = fresh();
    CHECK(a && parse(d, a, NULL) == JOULE_OK);
    CHECK(commented && parse(e, commented, NULL) == JOULE_OK);
    CHECK(joule_config_to_yaml(d, 0, &b) == JOULE_OK);
    CHECK(a && b && strcmp(a, b) == 0);
    CHECK_STR(d->model, "dir with: colon/m.gguf");
    CHECK_STR(d->name, "quote \" and \\\\ and #hash"); /* single quotes keep \\ */
    CHECK_STR(d->protocol.meter_sources, "fake:/tmp/x y");
    CHECK_STR(d->preset, "benchmark");
    CHECK(d->decoding.temperature == 0.7 && e->decoding.temperature == 0.7);
    CHECK(e->max_input_tokens == 2048);
    free(b);
    /* A copy is deep and equal. */
    struct joule_config *f = NULL;
    CHECK(joule_config_copy(d, &f) == JOULE_OK);
    CHECK(joule_config_to_yaml(f, 0, &b) == JOULE_OK);
    CHECK(a && b && strcmp(a, b) == 0);
    CHECK(f->model != d->model);
    joule_free(a);
    joule_free(b);
    joule_free(commented);
    joule_config_free(c);
    joule_config_free(d);
    joule_config_free(e);
    joule_config_free(f);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_presets);
    RUN(test_precedence);
    RUN(test_values);
    RUN(test_file_errors);
    RUN(test_round_trip);
    TEST_MAIN_END();
}
