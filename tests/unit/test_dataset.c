/* test_dataset.c - the dataset loader on fixture files of every format and
 * container (tests/data/datasets), its error messages, skip_bad, sampling
 * and shuffling, and the built-in sets. */
#include "test.h"
#include "joule.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char data_dir[512];

static const char *fixture(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/datasets/%s", data_dir, name);
    return path;
}

/* Loads fixture name (or a built-in when name has no '.'), into *d. */
static enum joule_status load(const char *source, const char *format, int skip_bad,
                              struct joule_dataset **d, char *err, size_t err_size)
{
    struct joule_dataset_params p = joule_dataset_default_params();
    p.source = source;
    p.format = format;
    p.skip_bad = skip_bad;
    err[0] = '\0';
    return joule_dataset_load(&p, d, err, err_size);
}

/* The error text expected for fixture name at a line: "PATH:LINE: tail". */
static void check_error(const char *name, const char *format, int line, const char *tail)
{
    struct joule_dataset *d = NULL;
    char err[512], want[1200];
    const char *path = fixture(name);
    char path_copy[1024];
    snprintf(path_copy, sizeof(path_copy), "%s", path);
    CHECK(load(path_copy, format, 0, &d, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(d == NULL);
    snprintf(want, sizeof(want), "%s:%d: %s", path_copy, line, tail);
    CHECK_STR(err, want);
}

static void test_defaults(void)
{
    struct joule_dataset_params p = joule_dataset_default_params();
    CHECK(p.source == NULL && p.format == NULL);
    CHECK(p.sample_size == 0 && p.shuffle == 0 && p.seed == 42 && p.skip_bad == 0);
    /* NULL-safe accessors */
    joule_dataset_free(NULL);
    CHECK(joule_dataset_count(NULL) == 0);
    CHECK(joule_dataset_get(NULL, 0) == NULL);
    CHECK(joule_dataset_skipped(NULL) == 0);
}

static void test_prompt_jsonl(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("prompt.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "prompt");
    CHECK_STR(joule_dataset_source(d), fixture("prompt.jsonl"));
    CHECK(joule_dataset_count(d) == 3);
    CHECK(joule_dataset_skipped(d) == 0);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->id, "p-1");
    CHECK_STR(s->prompt, "Name a primary colour.");
    CHECK_STR(s->input, "Name a primary colour.");
    CHECK_STR(s->reference, "Red");
    CHECK(s->answer == NULL && s->system == NULL && s->choices == NULL);
    CHECK(s->n_choices == 0 && s->correct == -1 && s->line == 1);
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->id, "7");
    CHECK_STR(s->prompt, "Count to three.");
    CHECK_STR(s->answer, "3");
    CHECK_STR(s->reference, "3");
    CHECK_STR(s->system, "Be brief.");
    CHECK(s->line == 2);
    s = joule_dataset_get(d, 2);
    CHECK_STR(s->id, "4"); /* the physical line: line 3 is blank */
    CHECK(s->line == 4);
    CHECK_STR(s->reference, "Hello.");
    CHECK_STR(s->input, "hello");
    CHECK(joule_dataset_get(d, 3) == NULL);
    joule_dataset_free(d);

    /* The same file named as prompt explicitly; as gsm8k it is malformed. */
    CHECK(load(fixture("prompt.jsonl"), "prompt", 0, &d, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_dataset_count(d) == 3);
    joule_dataset_free(d);
    check_error("prompt.jsonl", "gsm8k", 1,
                "missing field \"question\" (gsm8k records need question, answer)");
}

static void test_alpaca(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("alpaca.jsonl"), "auto", 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "alpaca");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->prompt, "Give a synonym for happy.\n\nResponse:");
    CHECK_STR(s->input, "Give a synonym for happy.");
    CHECK_STR(s->reference, "Glad.");
    CHECK_STR(s->id, "1");
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->prompt, "Translate to German.\n\nInput: Good morning\n\nResponse:");
    CHECK_STR(s->input, "Good morning");
    CHECK_STR(s->reference, "Guten Morgen");
    CHECK(s->answer == NULL && s->system == NULL);
    joule_dataset_free(d);
}

static void test_dolly_json(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("dolly.json"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "dolly");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->prompt, "Instruction: Who painted the ceiling described here?\n\nContext: "
                         "The ceiling, painted between 1508 and 1512, shows scenes from "
                         "Genesis.\n\nAnswer:");
    CHECK_STR(s->input, "The ceiling, painted between 1508 and 1512, shows scenes from Genesis.");
    CHECK_STR(s->reference, "The text does not say.");
    CHECK_STR(s->id, "1"); /* the record index */
    CHECK(s->line == 1);
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->prompt, "Instruction: Name a fruit that is yellow.\n\nAnswer:");
    CHECK_STR(s->input, "Name a fruit that is yellow.");
    CHECK_STR(s->reference, "Banana");
    CHECK_STR(s->id, "d2");
    CHECK(s->line == 2);
    joule_dataset_free(d);
}

static void test_gsm8k(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("gsm8k.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "gsm8k");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->answer, "7");
    CHECK_STR(s->reference, "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7");
    CHECK_STR(s->input, "Tom has 3 apples and buys 4 more. How many apples does he have?");
    CHECK_STR(s->prompt, "Solve the problem step by step, then give the final answer after "
                         "\"####\".\n\nQuestion: Tom has 3 apples and buys 4 more. How many "
                         "apples does he have?\nAnswer:");
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->answer, "2500"); /* trimmed, thousands commas removed */
    joule_dataset_free(d);
    check_error("bad_gsm8k.jsonl", NULL, 2,
                "answer has no \"####\" (expected a solution ending \"#### N\")");
}

static void test_mmlu(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("mmlu.csv"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "mmlu");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->prompt, "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:");
    CHECK(s->n_choices == 4 && s->correct == 1);
    CHECK_STR(s->answer, "B");
    CHECK_STR(s->reference, "4");
    CHECK_STR(s->input, "What is 2 + 2?");
    CHECK_STR(s->choices[0], "3");
    CHECK_STR(s->choices[3], "6");
    CHECK_STR(s->id, "1");
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->input, "Which word, of these, is a colour?");
    CHECK_STR(s->choices[1], "Blue, light");
    CHECK(s->correct == 1);
    CHECK_STR(s->answer, "B"); /* "b" in the file */
    CHECK(s->line == 2);
    joule_dataset_free(d);

    CHECK(load(fixture("mmlu.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "mmlu");
    s = joule_dataset_get(d, 0);
    CHECK(s->n_choices == 3 && s->correct == 1);
    CHECK_STR(s->answer, "B");
    CHECK_STR(s->reference, "Whale");
    CHECK_STR(s->prompt, "Which is a mammal?\nA. Trout\nB. Whale\nC. Gecko\nAnswer:");
    s = joule_dataset_get(d, 1);
    CHECK(s->n_choices == 4 && s->correct == 3);
    CHECK_STR(s->answer, "D");
    joule_dataset_free(d);
}

static void test_docref_csv(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("docref.csv"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "doc-ref");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->id, "1");
    CHECK(s->line == 2);
    CHECK_STR(s->input, "A plain document, with a comma.");
    CHECK_STR(s->reference, "A summary.");
    CHECK_STR(s->prompt, "Summarize the following text.\n\nA plain document, with a "
                         "comma.\n\nSummary:");
    s = joule_dataset_get(d, 1);
    CHECK(s->line == 3);
    /* a quoted newline stays as written (CRLF here), doubled quotes collapse */
    CHECK_STR(s->input, "A document that says \"hello\"\r\nand spans two lines.");
    CHECK_STR(s->reference, "Two lines, quoted.");
    joule_dataset_free(d);
}

static void test_sharegpt(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("sharegpt.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "sharegpt");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->id, "s1");
    CHECK_STR(s->prompt, "What is the capital of France?");
    CHECK_STR(s->input, "What is the capital of France?");
    CHECK_STR(s->reference, "Paris.");
    CHECK_STR(s->system, "You are terse.");
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->prompt, "Tell me a joke.");
    CHECK(s->reference == NULL && s->system == NULL);
    joule_dataset_free(d);

    CHECK(load(fixture("messages.jsonl"), "sharegpt", 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    s = joule_dataset_get(d, 0);
    CHECK_STR(s->prompt, "Say thank you.");
    CHECK_STR(s->reference, "Merci.");
    CHECK_STR(s->system, "Answer in French.");
    joule_dataset_free(d);
}

static void test_txt(void)
{
    struct joule_dataset *d = NULL;
    char err[512];
    CHECK(load(fixture("prompts.txt"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    if (!d)
        return;
    CHECK_STR(joule_dataset_format(d), "txt");
    CHECK(joule_dataset_count(d) == 2);
    const struct joule_sample *s = joule_dataset_get(d, 0);
    CHECK_STR(s->prompt, "Write a limerick about a cat.");
    CHECK_STR(s->id, "1");
    CHECK(s->reference == NULL && s->answer == NULL && s->correct == -1);
    s = joule_dataset_get(d, 1);
    CHECK_STR(s->prompt, "Describe the colour blue."); /* trailing space and CR dropped */
    CHECK_STR(s->id, "4");
    CHECK(s->line == 4);
    joule_dataset_free(d);

    /* format txt reads any file line by line; an unknown extension is sniffed */
    CHECK(load(fixture("alpaca.jsonl"), "txt", 0, &d, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_dataset_count(d) == 2);
    CHECK(d && strncmp(joule_dataset_get(d, 0)->prompt, "{\"instruction\"", 14) == 0);
    joule_dataset_free(d);
    CHECK(load(fixture("sniffed.data"), NULL, 0, &d, err, sizeof(err)) == JOULE_OK);
    CHECK(d && joule_dataset_count(d) == 1);
    CHECK_STR(joule_dataset_format(d), "prompt");
    joule_dataset_free(d);
    CHECK(load(fixture("prompts.txt"), "alpaca", 0, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
}

static void test_errors(void)
{
    check_error("bad_alpaca.jsonl", NULL, 3,
                "missing field \"instruction\" (alpaca records need instruction, output)");
    check_error("bad_type.jsonl", NULL, 2, "field \"doc\" is an integer (expected a string)");
    check_error("bad_columns.csv", NULL, 3, "3 fields (expected 2, as in the header)");
    check_error("bad_quote.csv", NULL, 3,
                "unterminated quoted field from line 3 (expected a closing \")");
    check_error("bad_array.json", NULL, 3, "record 2: record is a string (expected a JSON object)");
    check_error("unknown_fields.jsonl", NULL, 1,
                "cannot tell the format from the fields (expected prompt or text, doc+ref, "
                "instruction+output, instruction+response, question+answer, "
                "question+choices+answer, conversations or messages; or name the format)");

    /* bad JSON: the message names the line and jansson's reason */
    struct joule_dataset *d = NULL;
    char err[512], want[1024];
    CHECK(load(fixture("bad_json.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_ERR_FORMAT);
    snprintf(want, sizeof(want), "%s:2: bad JSON: ", fixture("bad_json.jsonl"));
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "(expected one JSON object per line)") != NULL);

    /* empty file */
    CHECK(load(fixture("empty.jsonl"), NULL, 0, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
    snprintf(want, sizeof(want), "%s: no samples", fixture("empty.jsonl"));
    CHECK_STR(err, want);

    /* neither built-in nor file */
    CHECK(load("no-such-set", NULL, 0, &d, err, sizeof(err)) == JOULE_ERR_NOT_FOUND);
    CHECK_STR(err, "unknown dataset 'no-such-set': not a file, and not a built-in (summaries, "
                   "questions, arithmetic, instructions)");
    /* a folder */
    snprintf(want, sizeof(want), "%s/datasets", data_dir);
    CHECK(load(want, NULL, 0, &d, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, "Is a directory") != NULL);
    /* bad parameters */
    CHECK(load(fixture("prompt.jsonl"), "yaml", 0, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "unknown dataset format 'yaml'") == err);
    CHECK(load("summaries", "alpaca", 0, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK_STR(err, "built-in dataset 'summaries' is doc-ref, not alpaca");
    CHECK(load(NULL, NULL, 0, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
    struct joule_dataset_params p = joule_dataset_default_params();
    p.source = "questions";
    p.sample_size = -1;
    CHECK(joule_dataset_load(&p, &d, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(d == NULL);
}

static void test_skip_bad(void)
{
    static const struct {
        const char *name;
        size_t kept, skipped;
    } cases[] = {
        {"bad_alpaca.jsonl", 3, 1}, {"bad_json.jsonl", 2, 1},  {"bad_type.jsonl", 1, 1},
        {"bad_gsm8k.jsonl", 1, 1},  {"bad_columns.csv", 2, 1}, {"bad_quote.csv", 1, 1},
        {"bad_array.json", 2, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct joule_dataset *d = NULL;
        char err[512];
        CHECK(load(fixture(cases[i].name), NULL, 1, &d, err, sizeof(err)) == JOULE_OK);
        CHECK(joule_dataset_count(d) == cases[i].kept);
        CHECK(joule_dataset_skipped(d) == cases[i].skipped);
        if (joule_dataset_count(d) != cases[i].kept || joule_dataset_skipped(d) != cases[i].skipped)
            fprintf(stderr, "  (%s: %zu kept, %zu skipped)\n", cases[i].name,
                    joule_dataset_count(d), joule_dataset_skipped(d));
        joule_dataset_free(d);
    }
    /* what survives keeps its own line and id */
    struct joule_dataset *d = NULL;
    char err[512], want[1024];
    CHECK(load(fixture("bad_array.json"), NULL, 1, &d, err, sizeof(err)) == JOULE_OK);
    if (d) {
        CHECK_STR(joule_dataset_get(d, 1)->prompt, "third");
        CHECK_STR(joule_dataset_get(d, 1)->id, "3");
        CHECK(joule_dataset_get(d, 1)->line == 3);
    }
    joule_dataset_free(d);
    /* nothing usable left: still an empty result */
    CHECK(load(fixture("unknown_fields.jsonl"), NULL, 1, &d, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    snprintf(want, sizeof(want), "%s: no samples (1 malformed records skipped)",
             fixture("unknown_fields.jsonl"));
    CHECK_STR(err, want);
}

/* The ids of d in order, joined by spaces. */
static void ids(const struct joule_dataset *d, char *out, size_t size)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < joule_dataset_count(d); i++) {
        int n =
            snprintf(out + used, size - used, "%s%s", i ? " " : "", joule_dataset_get(d, i)->id);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static void test_sampling(void)
{
    struct joule_dataset_params p = joule_dataset_default_params();
    struct joule_dataset *a = NULL, *b = NULL, *c = NULL;
    char err[512], ia[512], ib[512], ic[512];
    p.source = "questions";
    CHECK(joule_dataset_load(&p, &a, err, sizeof(err)) == JOULE_OK);
    size_t all = joule_dataset_count(a);
    ids(a, ia, sizeof(ia));
    CHECK(strncmp(ia, "1 2 3 4 5", 9) == 0);
    joule_dataset_free(a);

    p.shuffle = 1;
    p.seed = 7;
    CHECK(joule_dataset_load(&p, &a, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_dataset_load(&p, &b, err, sizeof(err)) == JOULE_OK);
    p.seed = 8;
    CHECK(joule_dataset_load(&p, &c, err, sizeof(err)) == JOULE_OK);
    ids(a, ia, sizeof(ia));
    ids(b, ib, sizeof(ib));
    ids(c, ic, sizeof(ic));
    CHECK_STR(ia, ib);
    CHECK(strcmp(ia, ic) != 0);
    CHECK(strncmp(ia, "1 2 3 4 5", 9) != 0);
    /* a permutation: every id once */
    CHECK(joule_dataset_count(a) == all);
    int seen[64] = {0}, perm = 1;
    for (size_t i = 0; i < joule_dataset_count(a); i++) {
        long id = strtol(joule_dataset_get(a, i)->id, NULL, 10);
        if (id < 1 || id > 64 || seen[id - 1]++)
            perm = 0;
    }
    CHECK(perm);
    joule_dataset_free(b);
    joule_dataset_free(c);

    /* sample_size takes the first N of the shuffled order */
    p.seed = 7;
    p.sample_size = 5;
    CHECK(joule_dataset_load(&p, &b, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_dataset_count(b) == 5);
    for (size_t i = 0; i < 5 && b; i++)
        CHECK_STR(joule_dataset_get(b, i)->id, joule_dataset_get(a, i)->id);
    CHECK(joule_dataset_get(b, 5) == NULL);
    joule_dataset_free(a);
    joule_dataset_free(b);
    /* without shuffle, the first N in file order; more than there are: all */
    p.shuffle = 0;
    p.sample_size = 3;
    CHECK(joule_dataset_load(&p, &a, err, sizeof(err)) == JOULE_OK);
    ids(a, ia, sizeof(ia));
    CHECK_STR(ia, "1 2 3");
    joule_dataset_free(a);
    p.sample_size = 1000;
    CHECK(joule_dataset_load(&p, &a, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_dataset_count(a) == all);
    joule_dataset_free(a);
}

/* Every integer in s, in order. */
static size_t numbers(const char *s, long long *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        if (isdigit((unsigned char)*s)) {
            char *end;
            out[n++] = strtoll(s, &end, 10);
            s = end;
        } else {
            s++;
        }
    }
    return n;
}

/* The arithmetic problems recomputed from their own text. */
static long long solve(const char *q)
{
    long long n[8];
    size_t k = numbers(q, n, 8);
    if (strstr(q, "baker") && k == 3)
        return n[0] * n[1] - n[2];
    if (strstr(q, "library") && k == 3)
        return n[0] * n[1] + n[2];
    if (strstr(q, "saves") && k == 2)
        return n[1] % n[0] == 0 ? n[1] / n[0] : -1;
    if (strstr(q, "train") && k == 4)
        return n[0] * n[1] + n[2] * n[3];
    if (strstr(q, "pencils") && k == 3)
        return (n[0] * n[1]) % n[2] == 0 ? n[0] * n[1] / n[2] : -1;
    if (strstr(q, "factory") && k == 3)
        return n[0] * n[1] * n[2];
    if (strstr(q, "marbles") && k == 3)
        return n[0] - n[1] * n[2];
    if (strstr(q, "garden") && k == 2)
        return 2 * (n[0] + n[1]);
    return -1;
}

static void test_builtins(void)
{
    static const struct {
        const char *name, *format;
        size_t min;
    } want[] = {
        {"summaries", "doc-ref", 12},
        {"questions", "prompt", 30},
        {"arithmetic", "gsm8k", 64},
        {"instructions", "alpaca", 24},
    };
    const char *summary = "x";
    size_t n = 0;
    while (joule_dataset_builtin(n, &summary))
        n++;
    CHECK(n == 4);
    CHECK(joule_dataset_builtin(n, &summary) == NULL && summary == NULL);
    for (size_t i = 0; i < n; i++) {
        const char *name = joule_dataset_builtin(i, &summary);
        CHECK_STR(name, want[i].name);
        CHECK(summary && strlen(summary) > 10);
        struct joule_dataset_params p = joule_dataset_default_params();
        struct joule_dataset *d = NULL;
        char err[512];
        p.source = name;
        CHECK(joule_dataset_load(&p, &d, err, sizeof(err)) == JOULE_OK);
        if (!d)
            continue;
        CHECK_STR(joule_dataset_format(d), want[i].format);
        CHECK_STR(joule_dataset_source(d), name);
        size_t count = joule_dataset_count(d);
        CHECK(count >= want[i].min);
        /* the summary starts with the count */
        CHECK(strtoul(summary, NULL, 10) == count);
        int ok = 1;
        for (size_t k = 0; k < count; k++) {
            const struct joule_sample *s = joule_dataset_get(d, k);
            char id[24];
            snprintf(id, sizeof(id), "%zu", k + 1);
            if (!s->prompt || !s->prompt[0] || !s->input || !s->input[0] ||
                strcmp(s->id, id) != 0 || s->line != 0 || s->choices)
                ok = 0;
        }
        CHECK(ok);
        if (strcmp(name, "summaries") == 0) {
            for (size_t k = 0; k < count; k++) {
                const struct joule_sample *s = joule_dataset_get(d, k);
                size_t words = 0;
                for (const char *c = s->input; *c; c++)
                    words += (*c == ' ');
                if (words < 79 || words > 199 || !s->reference || strlen(s->reference) < 20 ||
                    strncmp(s->prompt, "Summarize the following text.\n\n", 31) != 0)
                    ok = 0;
            }
            CHECK(ok);
        } else if (strcmp(name, "questions") == 0) {
            for (size_t k = 0; k < count; k++) {
                const struct joule_sample *s = joule_dataset_get(d, k);
                if (!s->answer || !s->reference || strcmp(s->answer, s->reference) != 0 ||
                    strchr(s->answer, ' ') ||
                    strncmp(s->prompt, "Answer with a single word or number.\n\nQuestion: ", 48) !=
                        0)
                    ok = 0;
            }
            CHECK(ok);
        } else if (strcmp(name, "arithmetic") == 0) {
            for (size_t k = 0; k < count; k++) {
                const struct joule_sample *s = joule_dataset_get(d, k);
                char *end;
                long long a = strtoll(s->answer, &end, 10);
                const char *mark = strstr(s->reference, "#### ");
                if (*end || a <= 0 || a != solve(s->input) || !mark) {
                    ok = 0;
                    fprintf(stderr, "  arithmetic %zu: %s -> %s\n", k, s->input, s->answer);
                    continue;
                }
                /* the reference's "#### N", separators dropped, is the answer */
                char digits[32];
                size_t w = 0;
                for (const char *c = mark + 5; *c && w + 1 < sizeof(digits); c++)
                    if (*c != ',')
                        digits[w++] = *c;
                digits[w] = '\0';
                if (strcmp(digits, s->answer) != 0)
                    ok = 0;
            }
            CHECK(ok);
            /* all eight templates, and at least one answer written with commas */
            int commas = 0;
            for (size_t k = 0; k < count; k++)
                commas += strstr(joule_dataset_get(d, k)->reference, "#### ") &&
                          strchr(strstr(joule_dataset_get(d, k)->reference, "#### "), ',');
            CHECK(commas > 0);
        } else {
            int with_input = 0;
            for (size_t k = 0; k < count; k++) {
                const struct joule_sample *s = joule_dataset_get(d, k);
                const char *tail = "\n\nResponse:";
                size_t len = strlen(s->prompt), tl = strlen(tail);
                if (s->reference || len <= tl || strcmp(s->prompt + len - tl, tail) != 0)
                    ok = 0;
                with_input += strstr(s->prompt, "\n\nInput: ") != NULL;
            }
            CHECK(ok);
            CHECK(with_input >= 3);
        }
        joule_dataset_free(d);
    }
}

int main(void)
{
    const char *dir = getenv("JOULE_TEST_DATA");
    snprintf(data_dir, sizeof(data_dir), "%s", dir ? dir : "tests/data");
    RUN(test_defaults);
    RUN(test_prompt_jsonl);
    RUN(test_alpaca);
    RUN(test_dolly_json);
    RUN(test_gsm8k);
    RUN(test_mmlu);
    RUN(test_docref_csv);
    RUN(test_sharegpt);
    RUN(test_txt);
    RUN(test_errors);
    RUN(test_skip_bad);
    RUN(test_sampling);
    RUN(test_builtins);
    TEST_MAIN_END();
}
