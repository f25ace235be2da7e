/*
 * dataset.c - the prompts of an experiment: built-in sets, or files in the
 * shapes users already have (docs/cli/joule-datasets.md).
 *
 * Every container is turned into records before any format is applied: a
 * JSONL line and a JSON array element are jansson objects as they stand, a
 * CSV row becomes an object keyed by its header (or the MMLU column order),
 * a TXT line is a prompt.  So one converter per format serves every
 * container, and a record's line number travels with it into the message
 * of anything wrong with it.
 */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"
#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Large enough for any prompt set worth measuring; small enough that a
 * wrong path (a model file) fails fast instead of filling memory. */
#define DS_MAX_FILE_BYTES ((size_t)1 << 30)

enum ds_format {
    DS_AUTO = 0,
    DS_PROMPT,
    DS_DOCREF,
    DS_ALPACA,
    DS_DOLLY,
    DS_GSM8K,
    DS_MMLU,
    DS_SHAREGPT,
    DS_TXT,
    DS_N_FORMATS
};

/* Names as params.format spells them, and what a record of each needs (the
 * "expected ..." part of a missing-field message). */
static const struct {
    const char *name;
    const char *needs;
} ds_formats[DS_N_FORMATS] = {
    [DS_AUTO] = {"auto", ""},
    [DS_PROMPT] = {"prompt", "prompt records need prompt or text"},
    [DS_DOCREF] = {"doc-ref", "doc-ref records need doc, ref"},
    [DS_ALPACA] = {"alpaca", "alpaca records need instruction, output"},
    [DS_DOLLY] = {"dolly", "dolly records need instruction, response"},
    [DS_GSM8K] = {"gsm8k", "gsm8k records need question, answer"},
    [DS_MMLU] = {"mmlu", "mmlu records need question, choices, answer"},
    [DS_SHAREGPT] = {"sharegpt", "sharegpt records need conversations or messages"},
    [DS_TXT] = {"txt", "txt lines are prompts"},
};

/* The prompt templates, in one place so the docs can quote them exactly. */
#define DS_DOCREF_HEAD "Summarize the following text.\n\n"
#define DS_DOCREF_TAIL "\n\nSummary:"
#define DS_GSM8K_HEAD                                                                              \
    "Solve the problem step by step, then give the final answer after \"####\".\n\n"               \
    "Question: "
#define DS_QUESTION_HEAD "Answer with a single word or number.\n\nQuestion: "

/* ---------------------------------------------------------------------------
 * The dataset and its string arena
 */

/* Strings live in chunks freed together: a dataset is read once, kept for
 * the experiment and dropped whole, so per-string frees would buy nothing. */
struct ds_chunk {
    struct ds_chunk *next;
    size_t used, cap;
    unsigned char data[];
};
_Static_assert(offsetof(struct ds_chunk, data) % sizeof(void *) == 0,
               "chunk data must be pointer aligned for choice arrays");

#define DS_CHUNK_BYTES ((size_t)64 * 1024)

struct joule_dataset {
    struct joule_sample *samples;
    size_t n, cap;
    size_t skipped;
    const char *format; /* static name */
    const char *source; /* in the arena */
    struct ds_chunk *chunks;
};

static void *arena_alloc(struct joule_dataset *d, size_t n)
{
    size_t need;
    if (!joule_add_size(n, sizeof(void *) - 1, &need))
        return NULL;
    need &= ~(sizeof(void *) - 1);
    struct ds_chunk *c = d->chunks;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > DS_CHUNK_BYTES ? need : DS_CHUNK_BYTES, total;
        if (!joule_add_size(sizeof(*c), cap, &total))
            return NULL;
        c = malloc(total);
        if (!c)
            return NULL;
        c->next = d->chunks;
        c->used = 0;
        c->cap = cap;
        d->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

static char *arena_strndup(struct joule_dataset *d, const char *s, size_t n)
{
    size_t total;
    if (!joule_add_size(n, 1, &total))
        return NULL;
    char *p = arena_alloc(d, total);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *arena_strdup(struct joule_dataset *d, const char *s)
{
    return arena_strndup(d, s, strlen(s));
}

/* The concatenation of the strings up to a NULL, in the arena. */
__attribute__((sentinel)) static char *arena_cat(struct joule_dataset *d, ...)
{
    va_list ap;
    size_t total = 1;
    va_start(ap, d);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        if (!joule_add_size(total, strlen(s), &total)) {
            va_end(ap);
            return NULL;
        }
    }
    va_end(ap);
    char *out = arena_alloc(d, total), *w = out;
    if (!out)
        return NULL;
    va_start(ap, d);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t n = strlen(s);
        memcpy(w, s, n);
        w += n;
    }
    va_end(ap);
    *w = '\0';
    return out;
}

/* A zeroed sample at the end of the array (correct = -1), or NULL. */
static struct joule_sample *sample_push(struct joule_dataset *d)
{
    if (d->n == d->cap) {
        size_t cap;
        if (!joule_grow_cap(d->cap, d->n + 1, 64, &cap))
            return NULL;
        struct joule_sample *p = joule_realloc_array(d->samples, cap, sizeof(*p));
        if (!p)
            return NULL;
        d->samples = p;
        d->cap = cap;
    }
    struct joule_sample *s = &d->samples[d->n++];
    memset(s, 0, sizeof(*s));
    s->correct = -1;
    return s;
}

void joule_dataset_free(struct joule_dataset *d)
{
    if (!d)
        return;
    for (struct ds_chunk *c = d->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(d->samples);
    free(d);
}

size_t joule_dataset_count(const struct joule_dataset *d)
{
    return d ? d->n : 0;
}

const struct joule_sample *joule_dataset_get(const struct joule_dataset *d, size_t i)
{
    return d && i < d->n ? &d->samples[i] : NULL;
}

size_t joule_dataset_skipped(const struct joule_dataset *d)
{
    return d ? d->skipped : 0;
}

const char *joule_dataset_format(const struct joule_dataset *d)
{
    return d ? d->format : NULL;
}

const char *joule_dataset_source(const struct joule_dataset *d)
{
    return d ? d->source : NULL;
}

struct joule_dataset_params joule_dataset_default_params(void)
{
    struct joule_dataset_params p = {
        .source = NULL,
        .format = NULL,
        .sample_size = 0,
        .shuffle = 0,
        .seed = 42,
        .skip_bad = 0,
    };
    return p;
}

/* ---------------------------------------------------------------------------
 * Filling samples: the templates shared by files and built-ins.  Each takes
 * strings that outlive the call and copies what it keeps into the arena.
 */

static enum joule_status fill_docref(struct joule_dataset *d, struct joule_sample *s,
                                     const char *doc, const char *ref)
{
    s->prompt = arena_cat(d, DS_DOCREF_HEAD, doc, DS_DOCREF_TAIL, (char *)NULL);
    s->input = arena_strdup(d, doc);
    s->reference = arena_strdup(d, ref);
    return s->prompt && s->input && s->reference ? JOULE_OK : JOULE_ERR_NOMEM;
}

/* input may be NULL or empty; output may be NULL (no reference). */
static enum joule_status fill_alpaca(struct joule_dataset *d, struct joule_sample *s,
                                     const char *instruction, const char *input, const char *output)
{
    bool has_input = input && input[0];
    if (has_input)
        s->prompt = arena_cat(d, instruction, "\n\nInput: ", input, "\n\nResponse:", (char *)NULL);
    else
        s->prompt = arena_cat(d, instruction, "\n\nResponse:", (char *)NULL);
    s->input = arena_strdup(d, has_input ? input : instruction);
    if (!s->prompt || !s->input)
        return JOULE_ERR_NOMEM;
    if (output && !(s->reference = arena_strdup(d, output)))
        return JOULE_ERR_NOMEM;
    return JOULE_OK;
}

static enum joule_status fill_dolly(struct joule_dataset *d, struct joule_sample *s,
                                    const char *instruction, const char *context,
                                    const char *response)
{
    bool has_context = context && context[0];
    if (has_context)
        s->prompt = arena_cat(d, "Instruction: ", instruction, "\n\nContext: ", context,
                              "\n\nAnswer:", (char *)NULL);
    else
        s->prompt = arena_cat(d, "Instruction: ", instruction, "\n\nAnswer:", (char *)NULL);
    s->input = arena_strdup(d, has_context ? context : instruction);
    s->reference = arena_strdup(d, response);
    return s->prompt && s->input && s->reference ? JOULE_OK : JOULE_ERR_NOMEM;
}

/* The short answer of a GSM8K solution: the text after its last "####",
 * trimmed, without thousands separators ("#### 1,200" scores as "1200").
 * JOULE_ERR_FORMAT with why when there is none. */
static enum joule_status fill_gsm8k(struct joule_dataset *d, struct joule_sample *s,
                                    const char *question, const char *answer, char *why,
                                    size_t why_size)
{
    const char *mark = NULL;
    for (const char *p = strstr(answer, "####"); p; p = strstr(p + 1, "####"))
        mark = p;
    if (!mark) {
        joule_fmt(why, why_size, "answer has no \"####\" (expected a solution ending \"#### N\")");
        return JOULE_ERR_FORMAT;
    }
    /* Skip a run of '#' so "#####" does not leave a stray mark behind. */
    const char *a = mark;
    while (*a == '#')
        a++;
    char *short_ans = arena_strdup(d, a);
    if (!short_ans)
        return JOULE_ERR_NOMEM;
    char *w = short_ans;
    for (const char *r = short_ans; *r; r++)
        if (*r != ',')
            *w++ = *r;
    *w = '\0';
    char *start = short_ans;
    while (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r')
        start++;
    size_t len = strlen(start);
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t' || start[len - 1] == '\n' ||
                       start[len - 1] == '\r'))
        start[--len] = '\0';
    if (len == 0) {
        joule_fmt(why, why_size, "nothing after \"####\" in answer (expected \"#### N\")");
        return JOULE_ERR_FORMAT;
    }
    s->answer = start;
    s->prompt = arena_cat(d, DS_GSM8K_HEAD, question, "\nAnswer:", (char *)NULL);
    s->input = arena_strdup(d, question);
    s->reference = arena_strdup(d, answer);
    return s->prompt && s->input && s->reference ? JOULE_OK : JOULE_ERR_NOMEM;
}

/* ---------------------------------------------------------------------------
 * Records: one jansson object each, whatever the container
 */

struct loader {
    struct joule_dataset *d;
    const struct joule_dataset_params *p;
    enum ds_format fmt; /* DS_AUTO until the first usable record decides */
    const char *path;
    char *err;
    size_t err_size;
};

/* A malformed record: skipped and counted under skip_bad, else the error
 * "FILE:LINE: why". */
static enum joule_status record_bad(struct loader *L, uint32_t line, uint32_t index,
                                    const char *why)
{
    if (L->p->skip_bad) {
        L->d->skipped++;
        return JOULE_OK;
    }
    if (index)
        joule_fmt(L->err, L->err_size, "%s:%u: record %u: %s", L->path, (unsigned)line,
                  (unsigned)index, why);
    else
        joule_fmt(L->err, L->err_size, "%s:%u: %s", L->path, (unsigned)line, why);
    return JOULE_ERR_FORMAT;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

enum { F_REQUIRED = 1, F_NONEMPTY = 2, F_NUMBER = 4 };

/* Member key of o as text.  An optional member that is absent, null or
 * empty gives NULL; a required one must exist (and with F_NONEMPTY, hold
 * something).  F_NUMBER also takes numbers, written as text (an answer of
 * 42).  The returned text points into o or into the arena. */
static enum joule_status get_text(struct loader *L, json_t *o, const char *key, int flags,
                                  const char **out, char *why, size_t why_size)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || (json_is_null(v) && !(flags & F_REQUIRED))) {
        if (flags & F_REQUIRED) {
            joule_fmt(why, why_size, "missing field \"%s\" (%s)", key, ds_formats[L->fmt].needs);
            return JOULE_ERR_FORMAT;
        }
        return JOULE_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] == '\0') {
            if (flags & F_NONEMPTY) {
                joule_fmt(why, why_size, "field \"%s\" is empty (expected text)", key);
                return JOULE_ERR_FORMAT;
            }
            if (!(flags & F_REQUIRED))
                return JOULE_OK;
        }
        *out = s;
        return JOULE_OK;
    }
    if ((flags & F_NUMBER) && (json_is_integer(v) || json_is_real(v))) {
        char buf[48];
        if (json_is_integer(v))
            joule_fmt(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        else
            joule_fmt(buf, sizeof(buf), "%.15g", json_real_value(v));
        *out = arena_strdup(L->d, buf);
        return *out ? JOULE_OK : JOULE_ERR_NOMEM;
    }
    joule_fmt(why, why_size, "field \"%s\" is %s (expected %s)", key, json_kind(v),
              (flags & F_NUMBER) ? "a string or a number" : "a string");
    return JOULE_ERR_FORMAT;
}

/* The format a record's fields suggest, DS_AUTO when none. */
static enum ds_format detect_format(json_t *o)
{
#define HAS(k) (json_object_get(o, k) != NULL)
    if (HAS("prompt"))
        return DS_PROMPT;
    if (HAS("conversations") || HAS("messages"))
        return DS_SHAREGPT;
    if (HAS("doc") && HAS("ref"))
        return DS_DOCREF;
    if (HAS("instruction"))
        return HAS("context") || HAS("response") ? DS_DOLLY : DS_ALPACA;
    if (HAS("question") && HAS("choices"))
        return DS_MMLU;
    if (HAS("question") && HAS("answer"))
        return DS_GSM8K;
    /* "text" last: some alpaca copies carry the whole formatted text too. */
    if (HAS("text"))
        return DS_PROMPT;
    return DS_AUTO;
#undef HAS
}

static enum joule_status conv_prompt(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                     size_t wn)
{
    struct joule_dataset *d = L->d;
    const char *prompt, *input, *ref = NULL, *answer, *system;
    enum joule_status st;
    const char *key = json_object_get(o, "prompt") ? "prompt" : "text";
    if (!json_object_get(o, "prompt") && !json_object_get(o, "text")) {
        joule_fmt(why, wn, "missing field \"prompt\" (%s)", ds_formats[DS_PROMPT].needs);
        return JOULE_ERR_FORMAT;
    }
    if ((st = get_text(L, o, key, F_REQUIRED | F_NONEMPTY, &prompt, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "input", 0, &input, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "answer", F_NUMBER, &answer, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "system", 0, &system, why, wn)) != JOULE_OK)
        return st;
    static const char *const ref_keys[] = {"reference", "response", "answer"};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(ref_keys) && !ref; i++)
        if ((st = get_text(L, o, ref_keys[i], F_NUMBER, &ref, why, wn)) != JOULE_OK)
            return st;
    s->prompt = arena_strdup(d, prompt);
    s->input = arena_strdup(d, input ? input : prompt);
    if (!s->prompt || !s->input)
        return JOULE_ERR_NOMEM;
    if ((ref && !(s->reference = arena_strdup(d, ref))) ||
        (answer && !(s->answer = arena_strdup(d, answer))) ||
        (system && !(s->system = arena_strdup(d, system))))
        return JOULE_ERR_NOMEM;
    return JOULE_OK;
}

static enum joule_status conv_docref(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                     size_t wn)
{
    const char *doc, *ref;
    enum joule_status st;
    if ((st = get_text(L, o, "doc", F_REQUIRED | F_NONEMPTY, &doc, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "ref", F_REQUIRED, &ref, why, wn)) != JOULE_OK)
        return st;
    return fill_docref(L->d, s, doc, ref);
}

static enum joule_status conv_alpaca(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                     size_t wn)
{
    const char *instruction, *input, *output;
    enum joule_status st;
    if ((st = get_text(L, o, "instruction", F_REQUIRED | F_NONEMPTY, &instruction, why, wn)) !=
            JOULE_OK ||
        (st = get_text(L, o, "input", 0, &input, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "output", F_REQUIRED, &output, why, wn)) != JOULE_OK)
        return st;
    return fill_alpaca(L->d, s, instruction, input, output);
}

static enum joule_status conv_dolly(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                    size_t wn)
{
    const char *instruction, *context, *response;
    enum joule_status st;
    if ((st = get_text(L, o, "instruction", F_REQUIRED | F_NONEMPTY, &instruction, why, wn)) !=
            JOULE_OK ||
        (st = get_text(L, o, "context", 0, &context, why, wn)) != JOULE_OK ||
        (st = get_text(L, o, "response", F_REQUIRED, &response, why, wn)) != JOULE_OK)
        return st;
    return fill_dolly(L->d, s, instruction, context, response);
}

static enum joule_status conv_gsm8k(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                    size_t wn)
{
    const char *question, *answer;
    enum joule_status st;
    if ((st = get_text(L, o, "question", F_REQUIRED | F_NONEMPTY, &question, why, wn)) !=
            JOULE_OK ||
        (st = get_text(L, o, "answer", F_REQUIRED, &answer, why, wn)) != JOULE_OK)
        return st;
    return fill_gsm8k(L->d, s, question, answer, why, wn);
}

/* Multiple choice: letters A, B, ... name the choices in the prompt. */
#define DS_MAX_CHOICES 26

static enum joule_status conv_mmlu(struct loader *L, json_t *o, struct joule_sample *s, char *why,
                                   size_t wn)
{
    struct joule_dataset *d = L->d;
    const char *question;
    enum joule_status st;
    if ((st = get_text(L, o, "question", F_REQUIRED | F_NONEMPTY, &question, why, wn)) != JOULE_OK)
        return st;
    json_t *choices = json_object_get(o, "choices");
    json_t *answer = json_object_get(o, "answer");
    if (!choices || !answer) {
        joule_fmt(why, wn, "missing field \"%s\" (%s)", choices ? "answer" : "choices",
                  ds_formats[DS_MMLU].needs);
        return JOULE_ERR_FORMAT;
    }
    size_t n = json_is_array(choices) ? json_array_size(choices) : 0;
    if (!json_is_array(choices) || n < 2 || n > DS_MAX_CHOICES) {
        if (json_is_array(choices))
            joule_fmt(why, wn, "field \"choices\" has %zu entries (expected 2 to %d)", n,
                      DS_MAX_CHOICES);
        else
            joule_fmt(why, wn, "field \"choices\" is %s (expected an array of strings)",
                      json_kind(choices));
        return JOULE_ERR_FORMAT;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(choices, i);
        if (!json_is_string(c)) {
            joule_fmt(why, wn, "choice %zu is %s (expected a string)", i + 1, json_kind(c));
            return JOULE_ERR_FORMAT;
        }
    }
    long correct = -1;
    if (json_is_integer(answer)) {
        json_int_t a = json_integer_value(answer);
        if (a >= 0 && (size_t)a < n)
            correct = (long)a;
    } else if (json_is_string(answer)) {
        const char *a = json_string_value(answer);
        while (*a == ' ')
            a++;
        char c = *a;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        size_t len = strlen(a);
        while (len > 1 && a[len - 1] == ' ')
            len--;
        if (len == 1 && c >= 'A' && (size_t)(c - 'A') < n)
            correct = c - 'A';
    }
    if (correct < 0) {
        if (json_is_string(answer))
            joule_fmt(why, wn, "answer \"%.40s\" is not a choice (expected A-%c or 0-%zu)",
                      json_string_value(answer), (char)('A' + n - 1), n - 1);
        else if (json_is_integer(answer))
            joule_fmt(why, wn, "answer %lld is not a choice (expected A-%c or 0-%zu)",
                      (long long)json_integer_value(answer), (char)('A' + n - 1), n - 1);
        else
            joule_fmt(why, wn, "field \"answer\" is %s (expected a letter or an index)",
                      json_kind(answer));
        return JOULE_ERR_FORMAT;
    }

    const char **arr = arena_alloc(d, n * sizeof(*arr));
    if (!arr)
        return JOULE_ERR_NOMEM;
    /* The prompt: question, then "X. choice" lines, then "Answer:". */
    size_t total = strlen(question) + sizeof("\nAnswer:");
    for (size_t i = 0; i < n; i++) {
        arr[i] = arena_strdup(d, json_string_value(json_array_get(choices, i)));
        if (!arr[i])
            return JOULE_ERR_NOMEM;
        total += strlen(arr[i]) + 4; /* "\nX. " */
    }
    char *prompt = arena_alloc(d, total), *w = prompt;
    if (!prompt)
        return JOULE_ERR_NOMEM;
    size_t qlen = strlen(question);
    memcpy(w, question, qlen);
    w += qlen;
    for (size_t i = 0; i < n; i++) {
        size_t clen = strlen(arr[i]);
        *w++ = '\n';
        *w++ = (char)('A' + i);
        *w++ = '.';
        *w++ = ' ';
        memcpy(w, arr[i], clen);
        w += clen;
    }
    memcpy(w, "\nAnswer:", sizeof("\nAnswer:"));
    char letter[2] = {(char)('A' + correct), '\0'};
    s->prompt = prompt;
    s->choices = arr;
    s->n_choices = (int32_t)n;
    s->correct = (int32_t)correct;
    s->answer = arena_strdup(d, letter);
    s->input = arena_strdup(d, question);
    s->reference = arr[correct];
    return s->answer && s->input ? JOULE_OK : JOULE_ERR_NOMEM;
}

/* Speakers of ShareGPT ("from") and chat ("role") turns. */
enum ds_speaker { SP_OTHER, SP_SYSTEM, SP_USER, SP_ASSISTANT };

static enum ds_speaker speaker(const char *who)
{
    static const char *const users[] = {"human", "user"};
    static const char *const assistants[] = {"gpt",   "assistant", "chatgpt",
                                             "model", "bard",      "bing"};
    if (strcmp(who, "system") == 0)
        return SP_SYSTEM;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(users); i++)
        if (strcmp(who, users[i]) == 0)
            return SP_USER;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(assistants); i++)
        if (strcmp(who, assistants[i]) == 0)
            return SP_ASSISTANT;
    return SP_OTHER;
}

static enum joule_status conv_sharegpt(struct loader *L, json_t *o, struct joule_sample *s,
                                       char *why, size_t wn)
{
    struct joule_dataset *d = L->d;
    const char *list = "conversations", *who_key = "from", *text_key = "value";
    json_t *turns = json_object_get(o, list);
    if (!turns) {
        list = "messages";
        who_key = "role";
        text_key = "content";
        turns = json_object_get(o, list);
    }
    if (!turns) {
        joule_fmt(why, wn, "missing field \"conversations\" (%s)", ds_formats[DS_SHAREGPT].needs);
        return JOULE_ERR_FORMAT;
    }
    if (!json_is_array(turns)) {
        joule_fmt(why, wn, "field \"%s\" is %s (expected an array of turns)", list,
                  json_kind(turns));
        return JOULE_ERR_FORMAT;
    }
    const char *system = NULL, *prompt = NULL, *ref = NULL;
    enum joule_status st;
    if ((st = get_text(L, o, "system", 0, &system, why, wn)) != JOULE_OK)
        return st;
    for (size_t i = 0; i < json_array_size(turns); i++) {
        json_t *t = json_array_get(turns, i);
        const char *who, *text;
        char twhy[160];
        if (!json_is_object(t)) {
            joule_fmt(why, wn, "turn %zu of \"%s\" is %s (expected an object with %s, %s)", i + 1,
                      list, json_kind(t), who_key, text_key);
            return JOULE_ERR_FORMAT;
        }
        if ((st = get_text(L, t, who_key, F_REQUIRED, &who, twhy, sizeof(twhy))) != JOULE_OK ||
            (st = get_text(L, t, text_key, F_REQUIRED, &text, twhy, sizeof(twhy))) != JOULE_OK) {
            if (st == JOULE_ERR_FORMAT)
                joule_fmt(why, wn, "turn %zu of \"%s\": %s", i + 1, list, twhy);
            return st;
        }
        enum ds_speaker sp = speaker(who);
        if (!prompt) {
            if (sp == SP_SYSTEM && text[0])
                system = text;
            else if (sp == SP_USER)
                prompt = text;
        } else {
            /* Only the turn right after the prompt answers it. */
            if (sp == SP_ASSISTANT)
                ref = text;
            break;
        }
    }
    if (!prompt || !prompt[0]) {
        joule_fmt(why, wn, "%s in \"%s\" (expected a human or user turn with text)",
                  prompt ? "empty first user turn" : "no human or user turn", list);
        return JOULE_ERR_FORMAT;
    }
    s->prompt = arena_strdup(d, prompt);
    s->input = s->prompt;
    if (!s->prompt || (ref && !(s->reference = arena_strdup(d, ref))) ||
        (system && !(s->system = arena_strdup(d, system))))
        return JOULE_ERR_NOMEM;
    return JOULE_OK;
}

/* A record of a JSON or CSV file.  line: where its message points; index:
 * non-zero for JSON array elements (their sample line and default id). */
static enum joule_status add_record(struct loader *L, json_t *o, uint32_t line, uint32_t index)
{
    char why[256];
    if (!json_is_object(o)) {
        joule_fmt(why, sizeof(why), "record is %s (expected a JSON object)", json_kind(o));
        return record_bad(L, line, index, why);
    }
    if (L->fmt == DS_AUTO) {
        enum ds_format f = detect_format(o);
        if (f == DS_AUTO)
            return record_bad(L, line, index,
                              "cannot tell the format from the fields (expected prompt or "
                              "text, doc+ref, instruction+output, instruction+response, "
                              "question+answer, question+choices+answer, conversations or "
                              "messages; or name the format)");
        L->fmt = f;
        L->d->format = ds_formats[f].name;
    }

    struct joule_dataset *d = L->d;
    struct joule_sample *s = sample_push(d);
    if (!s)
        goto nomem;
    enum joule_status st;
    switch (L->fmt) {
    case DS_PROMPT:
        st = conv_prompt(L, o, s, why, sizeof(why));
        break;
    case DS_DOCREF:
        st = conv_docref(L, o, s, why, sizeof(why));
        break;
    case DS_ALPACA:
        st = conv_alpaca(L, o, s, why, sizeof(why));
        break;
    case DS_DOLLY:
        st = conv_dolly(L, o, s, why, sizeof(why));
        break;
    case DS_GSM8K:
        st = conv_gsm8k(L, o, s, why, sizeof(why));
        break;
    case DS_MMLU:
        st = conv_mmlu(L, o, s, why, sizeof(why));
        break;
    case DS_SHAREGPT:
        st = conv_sharegpt(L, o, s, why, sizeof(why));
        break;
    default:
        joule_fmt(why, sizeof(why), "format %s takes no fields", ds_formats[L->fmt].name);
        st = JOULE_ERR_FORMAT;
        break;
    }
    /* The id last, so a bad id is reported after the fields it belongs to. */
    const char *id = NULL;
    if (st == JOULE_OK)
        st = get_text(L, o, "id", F_NUMBER, &id, why, sizeof(why));
    if (st == JOULE_ERR_NOMEM)
        goto nomem;
    if (st != JOULE_OK) {
        d->n--;
        return record_bad(L, line, index, why);
    }
    char num[24];
    joule_fmt(num, sizeof(num), "%u", (unsigned)(index ? index : line));
    s->id = arena_strdup(d, id ? id : num);
    if (!s->id)
        goto nomem;
    s->line = index ? index : line;
    return JOULE_OK;
nomem:
    joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
    return JOULE_ERR_NOMEM;
}

/* Parses text[0..len) as JSON and adds it as a record. */
static enum joule_status add_json_text(struct loader *L, const char *text, size_t len,
                                       uint32_t line, uint32_t index, const char *expect)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!o) {
        char why[256];
        joule_fmt(why, sizeof(why), "bad JSON: %s (expected %s)", jerr.text, expect);
        return record_bad(L, line, index, why);
    }
    enum joule_status st = add_record(L, o, line, index);
    json_decref(o);
    return st;
}

/* ---------------------------------------------------------------------------
 * Containers
 */

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return false;
    return true;
}

static enum joule_status load_jsonl(struct loader *L, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    for (uint32_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!is_blank(p, n)) {
            enum joule_status st = add_json_text(L, p, n, line, 0, "one JSON object per line");
            if (st != JOULE_OK)
                return st;
        }
        p += n + (nl != NULL);
    }
    return JOULE_OK;
}

static const char *skip_space(const char *p, const char *end, uint32_t *line)
{
    for (; p < end; p++) {
        if (*p == '\n')
            ++*line;
        else if (*p != ' ' && *p != '\t' && *p != '\r')
            break;
    }
    return p;
}

/* A JSON array of records.  Each element is cut out by a bracket-matching
 * scan and parsed alone, so its message can name the line it starts on (a
 * whole-file parse would only say where parsing stopped) and skip_bad can
 * drop one bad element without losing the rest. */
static enum joule_status load_json(struct loader *L, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    uint32_t line = 1, index = 0;
    p = skip_space(p, end, &line);
    if (p == end || *p != '[')
        return record_bad(L, line, 0, "not a JSON array (expected [ {...}, {...} ])");
    p++;
    p = skip_space(p, end, &line);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            p = skip_space(p, end, &line);
            const char *start = p;
            uint32_t start_line = line;
            int depth = 0;
            bool in_string = false;
            index++;
            for (; p < end; p++) {
                char c = *p;
                if (c == '\n')
                    line++;
                if (in_string) {
                    if (c == '\\' && p + 1 < end) {
                        if (p[1] == '\n')
                            line++;
                        p++;
                    } else if (c == '"') {
                        in_string = false;
                    }
                } else if (c == '"') {
                    in_string = true;
                } else if (c == '[' || c == '{') {
                    depth++;
                } else if (c == ']' || c == '}') {
                    if (depth == 0)
                        break;
                    depth--;
                } else if (c == ',' && depth == 0) {
                    break;
                }
            }
            if (p == end) {
                /* Nothing after this can be delimited: one bad record, the last. */
                return record_bad(L, start_line, index,
                                  "unterminated record (expected , or ] after it)");
            }
            enum joule_status st;
            if (p == start)
                st = record_bad(L, start_line, index, "empty record (expected a JSON object)");
            else
                st = add_json_text(L, start, (size_t)(p - start), start_line, index,
                                   "a JSON object");
            if (st != JOULE_OK)
                return st;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == '}')
                return record_bad(L, line, 0, "unbalanced } (expected ] to end the array)");
            p++; /* the closing ] */
            break;
        }
    }
    p = skip_space(p, end, &line);
    if (p != end)
        return record_bad(L, line, 0, "text after the array (expected the end of the file)");
    return JOULE_OK;
}

static enum joule_status load_txt(struct loader *L, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    for (uint32_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *cur = p;
        p += n + (nl != NULL);
        while (n > 0 && (cur[n - 1] == '\r' || cur[n - 1] == ' ' || cur[n - 1] == '\t'))
            n--;
        if (is_blank(cur, n))
            continue;
        struct joule_sample *s = sample_push(L->d);
        char num[24];
        joule_fmt(num, sizeof(num), "%u", (unsigned)line);
        if (!s || !(s->prompt = arena_strndup(L->d, cur, n)) ||
            !(s->id = arena_strdup(L->d, num))) {
            joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
            return JOULE_ERR_NOMEM;
        }
        s->input = s->prompt;
        s->line = line;
    }
    return JOULE_OK;
}

/* One CSV row: its fields, NUL-separated in buf, starting at offs[i]. */
struct csv_row {
    char *buf;
    size_t len, cap;
    size_t *offs;
    size_t n, cap_offs;
    uint32_t line; /* where the row starts */
};

static bool csv_putc(struct csv_row *r, char c)
{
    if (r->len == r->cap) {
        size_t cap;
        if (!joule_grow_cap(r->cap, r->len + 1, 256, &cap))
            return false;
        char *b = realloc(r->buf, cap);
        if (!b)
            return false;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return true;
}

static bool csv_start_field(struct csv_row *r)
{
    if (r->n == r->cap_offs) {
        size_t cap;
        if (!joule_grow_cap(r->cap_offs, r->n + 1, 16, &cap))
            return false;
        size_t *o = joule_realloc_array(r->offs, cap, sizeof(*o));
        if (!o)
            return false;
        r->offs = o;
        r->cap_offs = cap;
    }
    r->offs[r->n++] = r->len;
    return true;
}

static const char *csv_field(const struct csv_row *r, size_t i)
{
    return r->buf + r->offs[i];
}

enum csv_result { CSV_ROW, CSV_END, CSV_BAD, CSV_NOMEM };

/* Reads the row at *pp (RFC 4180: quoted fields may hold commas, doubled
 * quotes and newlines; a quote inside an unquoted field is taken as it
 * stands).  CSV_BAD leaves why set and *pp past the bad row. */
static enum csv_result csv_read_row(const char **pp, const char *end, uint32_t *line,
                                    struct csv_row *r, char *why, size_t wn)
{
    const char *p = *pp;
    r->len = 0;
    r->n = 0;
    r->line = *line;
    if (p >= end)
        return CSV_END;
    for (;;) {
        if (!csv_start_field(r))
            return CSV_NOMEM;
        if (p < end && *p == '"') {
            uint32_t qline = *line;
            p++;
            for (;;) {
                if (p >= end) {
                    *pp = end;
                    joule_fmt(why, wn,
                              "unterminated quoted field from line %u (expected a "
                              "closing \")",
                              (unsigned)qline);
                    return CSV_BAD;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        if (!csv_putc(r, '"'))
                            return CSV_NOMEM;
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    ++*line;
                if (!csv_putc(r, *p++))
                    return CSV_NOMEM;
            }
            if (p < end && *p == '\r' && p + 1 < end && p[1] == '\n')
                p++;
            if (p < end && *p != ',' && *p != '\n') {
                /* Resynchronise at the next line so one bad row costs one row. */
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                *pp = nl ? nl + 1 : end;
                if (nl)
                    ++*line;
                joule_fmt(why, wn,
                          "text after a closing quote (expected , or the end of "
                          "the line)");
                return CSV_BAD;
            }
        } else {
            while (p < end && *p != ',' && *p != '\n') {
                if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
                    p++;
                    continue;
                }
                if (!csv_putc(r, *p++))
                    return CSV_NOMEM;
            }
        }
        if (!csv_putc(r, '\0'))
            return CSV_NOMEM;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end) { /* '\n' */
            p++;
            ++*line;
        }
        *pp = p;
        return CSV_ROW;
    }
}

static void lower_trim(char *s)
{
    char *start = s;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t n = strlen(start);
    memmove(s, start, n + 1);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static bool row_has(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* The MMLU column order; a header row spelling it is skipped. */
static bool mmlu_header(char **names, size_t n)
{
    static const char *const cols[] = {"question", "a", "b", "c", "d", "answer"};
    if (n != JOULE_ARRAY_LEN(cols))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], cols[i]) != 0)
            return false;
    return true;
}

static void free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The record a CSV row stands for: named by the header, or in MMLU's
 * column order (question, A, B, C, D, answer). */
static json_t *csv_object(const struct csv_row *r, char **names, bool mmlu)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (mmlu) {
        json_t *choices = json_array();
        char ans[64];
        joule_strlcpy(ans, csv_field(r, 5), sizeof(ans));
        lower_trim(ans); /* conv_mmlu takes either case */
        int bad =
            !choices ||
            json_object_set_new_nocheck(o, "question", json_string_nocheck(csv_field(r, 0))) ||
            json_object_set_new_nocheck(o, "answer", json_string_nocheck(ans)) ||
            json_object_set_nocheck(o, "choices", choices);
        for (size_t i = 1; i <= 4 && !bad; i++)
            bad = json_array_append_new(choices, json_string_nocheck(csv_field(r, i)));
        json_decref(choices);
        if (bad) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (!names[i][0])
            continue;
        if (json_object_set_new_nocheck(o, names[i], json_string_nocheck(csv_field(r, i)))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static enum joule_status load_csv(struct loader *L, const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    uint32_t line = 1;
    struct csv_row r = {0};
    char **names = NULL;
    size_t n_names = 0;
    bool mmlu = false, header_seen = false;
    enum joule_status st = JOULE_OK;
    char why[256];

    for (;;) {
        enum csv_result cr = csv_read_row(&p, end, &line, &r, why, sizeof(why));
        if (cr == CSV_END)
            break;
        if (cr == CSV_NOMEM) {
            st = JOULE_ERR_NOMEM;
            joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
            break;
        }
        if (cr == CSV_BAD) {
            if ((st = record_bad(L, r.line, 0, why)) != JOULE_OK)
                break;
            continue;
        }
        if (r.n == 1 && is_blank(csv_field(&r, 0), strlen(csv_field(&r, 0))))
            continue; /* a blank line */

        if (!header_seen) {
            /* The first row decides: a header naming known columns, or
             * MMLU's six unnamed columns. */
            header_seen = true;
            names = joule_calloc(r.n, sizeof(*names));
            if (!names) {
                st = JOULE_ERR_NOMEM;
                joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
                break;
            }
            n_names = r.n;
            for (size_t i = 0; i < r.n; i++) {
                if (!(names[i] = strdup(csv_field(&r, i)))) {
                    st = JOULE_ERR_NOMEM;
                    joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
                    break;
                }
                lower_trim(names[i]);
            }
            if (st != JOULE_OK)
                break;
            bool named = row_has(names, n_names, "prompt") || row_has(names, n_names, "text") ||
                         (row_has(names, n_names, "doc") && row_has(names, n_names, "ref")) ||
                         row_has(names, n_names, "instruction") ||
                         (row_has(names, n_names, "question") && row_has(names, n_names, "answer"));
            bool mmlu_ok = L->fmt == DS_AUTO || L->fmt == DS_MMLU;
            if (mmlu_ok && (mmlu_header(names, n_names) || (!named && r.n == 6))) {
                mmlu = true;
                L->fmt = DS_MMLU;
                L->d->format = ds_formats[DS_MMLU].name;
                if (mmlu_header(names, n_names))
                    continue;
                /* else this first row is already data */
            } else if (named && L->fmt != DS_MMLU) {
                continue;
            } else {
                joule_fmt(L->err, L->err_size,
                          "%s:%u: the first row names no known columns (expected a header "
                          "with prompt, doc,ref, instruction,output, "
                          "instruction,context,response or question,answer; or 6 columns "
                          "question,A,B,C,D,answer for mmlu)",
                          L->path, (unsigned)r.line);
                st = JOULE_ERR_FORMAT;
                break;
            }
        }

        if (r.n != n_names) {
            joule_fmt(why, sizeof(why), "%zu fields (expected %zu, as in the %s)", r.n, n_names,
                      mmlu ? "first row" : "header");
            if ((st = record_bad(L, r.line, 0, why)) != JOULE_OK)
                break;
            continue;
        }
        json_t *o = csv_object(&r, names, mmlu);
        if (!o) {
            st = JOULE_ERR_NOMEM;
            joule_fmt(L->err, L->err_size, "%s: out of memory", L->path);
            break;
        }
        st = add_record(L, o, r.line, 0);
        json_decref(o);
        if (st != JOULE_OK)
            break;
    }
    free_names(names, n_names);
    free(r.buf);
    free(r.offs);
    return st;
}

/* ---------------------------------------------------------------------------
 * Built-ins
 */

static enum joule_status builtin_summaries(struct joule_dataset *d)
{
    for (size_t i = 0; i < joule_ds_n_summaries; i++) {
        struct joule_sample *s = sample_push(d);
        if (!s || fill_docref(d, s, joule_ds_summaries[i].a, joule_ds_summaries[i].b))
            return JOULE_ERR_NOMEM;
    }
    return JOULE_OK;
}

static enum joule_status builtin_questions(struct joule_dataset *d)
{
    for (size_t i = 0; i < joule_ds_n_questions; i++) {
        struct joule_sample *s = sample_push(d);
        if (!s)
            return JOULE_ERR_NOMEM;
        const char *q = joule_ds_questions[i].a, *a = joule_ds_questions[i].b;
        s->prompt = arena_cat(d, DS_QUESTION_HEAD, q, "\nAnswer:", (char *)NULL);
        s->input = arena_strdup(d, q);
        s->reference = arena_strdup(d, a);
        s->answer = s->reference;
        if (!s->prompt || !s->input || !s->reference)
            return JOULE_ERR_NOMEM;
    }
    return JOULE_OK;
}

static enum joule_status builtin_arithmetic(struct joule_dataset *d)
{
    for (size_t i = 0; i < JOULE_DS_N_ARITHMETIC; i++) {
        char q[512], ref[1024], why[128];
        int64_t answer;
        joule_ds_arithmetic(i, q, sizeof(q), ref, sizeof(ref), &answer);
        struct joule_sample *s = sample_push(d);
        if (!s)
            return JOULE_ERR_NOMEM;
        enum joule_status st = fill_gsm8k(d, s, q, ref, why, sizeof(why));
        /* The generator always writes "#### N"; anything else is a bug here. */
        JOULE_ASSERT(st != JOULE_ERR_FORMAT);
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

static enum joule_status builtin_instructions(struct joule_dataset *d)
{
    for (size_t i = 0; i < joule_ds_n_instructions; i++) {
        struct joule_sample *s = sample_push(d);
        if (!s || fill_alpaca(d, s, joule_ds_instructions[i].a, joule_ds_instructions[i].b, NULL))
            return JOULE_ERR_NOMEM;
    }
    return JOULE_OK;
}

static const struct {
    const char *name;
    const char *summary;
    enum ds_format fmt;
    enum joule_status (*load)(struct joule_dataset *d);
} ds_builtins[] = {
    {"summaries", "13 short documents to summarize, with reference summaries (doc-ref)", DS_DOCREF,
     builtin_summaries},
    {"questions", "32 short factual questions with one-word or number answers (prompt)", DS_PROMPT,
     builtin_questions},
    {"arithmetic", "64 generated arithmetic word problems with worked answers (gsm8k)", DS_GSM8K,
     builtin_arithmetic},
    {"instructions", "26 open instructions, some with an input text (alpaca)", DS_ALPACA,
     builtin_instructions},
};

const char *joule_dataset_builtin(size_t i, const char **summary)
{
    if (i >= JOULE_ARRAY_LEN(ds_builtins)) {
        if (summary)
            *summary = NULL;
        return NULL;
    }
    if (summary)
        *summary = ds_builtins[i].summary;
    return ds_builtins[i].name;
}

/* ---------------------------------------------------------------------------
 * Loading
 */

enum ds_container { C_JSONL, C_JSON, C_CSV, C_TXT };

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char c = s[n - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return false;
    }
    return true;
}

static enum ds_container pick_container(const char *path, const char *text, size_t len)
{
    if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson"))
        return C_JSONL;
    if (ends_with(path, ".csv"))
        return C_CSV;
    if (ends_with(path, ".txt"))
        return C_TXT;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (ends_with(path, ".json"))
        /* Many ".json" files are really JSON lines: an object first says so. */
        return i < len && text[i] == '{' ? C_JSONL : C_JSON;
    if (i < len && text[i] == '{')
        return C_JSONL;
    if (i < len && text[i] == '[')
        return C_JSON;
    return C_TXT;
}

static enum joule_status load_file(struct loader *L, const char *text, size_t len)
{
    /* A UTF-8 byte order mark is an editor's habit, not content. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        uint32_t line = 1;
        for (const char *q = text; q < nul; q++)
            line += *q == '\n';
        joule_fmt(L->err, L->err_size, "%s:%u: a NUL byte (expected a text file)", L->path,
                  (unsigned)line);
        return JOULE_ERR_FORMAT;
    }
    enum ds_container c = L->fmt == DS_TXT ? C_TXT : pick_container(L->path, text, len);
    if (c == C_TXT) {
        if (L->fmt != DS_AUTO && L->fmt != DS_TXT && L->fmt != DS_PROMPT) {
            joule_fmt(L->err, L->err_size,
                      "%s: format %s needs named fields (expected a .jsonl, .json or .csv "
                      "file)",
                      L->path, ds_formats[L->fmt].name);
            return JOULE_ERR_INVALID;
        }
        L->fmt = DS_TXT;
        L->d->format = ds_formats[DS_TXT].name;
        return load_txt(L, text, len);
    }
    if (c == C_CSV && L->fmt == DS_SHAREGPT) {
        joule_fmt(L->err, L->err_size,
                  "%s: format sharegpt needs nested turns (expected a .jsonl or .json file)",
                  L->path);
        return JOULE_ERR_INVALID;
    }
    switch (c) {
    case C_JSONL:
        return load_jsonl(L, text, len);
    case C_JSON:
        return load_json(L, text, len);
    default:
        return load_csv(L, text, len);
    }
}

static enum joule_status parse_format(const char *name, enum ds_format *out, char *err,
                                      size_t err_size)
{
    *out = DS_AUTO;
    if (!name || strcmp(name, "auto") == 0)
        return JOULE_OK;
    for (int f = DS_PROMPT; f < DS_N_FORMATS; f++) {
        if (strcmp(name, ds_formats[f].name) == 0) {
            *out = (enum ds_format)f;
            return JOULE_OK;
        }
    }
    joule_fmt(err, err_size,
              "unknown dataset format '%s' (expected auto, prompt, doc-ref, alpaca, dolly, "
              "gsm8k, mmlu, sharegpt or txt)",
              name);
    return JOULE_ERR_INVALID;
}

/* Fisher-Yates from the end, with j drawn from the seeded generator.  The
 * modulo's bias is below 2^-40 for any set that fits in memory, far under
 * anything a prompt order could show. */
static void shuffle(struct joule_dataset *d, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = d->n; i > 1; i--) {
        size_t j = (size_t)(joule_ds_splitmix64(&state) % i);
        struct joule_sample t = d->samples[i - 1];
        d->samples[i - 1] = d->samples[j];
        d->samples[j] = t;
    }
}

static enum joule_status load_source(struct loader *L, const char *source)
{
    struct joule_dataset *d = L->d;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(ds_builtins); i++) {
        if (strcmp(source, ds_builtins[i].name) != 0)
            continue;
        if (L->fmt != DS_AUTO && L->fmt != ds_builtins[i].fmt) {
            joule_fmt(L->err, L->err_size, "built-in dataset '%s' is %s, not %s", source,
                      ds_formats[ds_builtins[i].fmt].name, ds_formats[L->fmt].name);
            return JOULE_ERR_INVALID;
        }
        d->format = ds_formats[ds_builtins[i].fmt].name;
        enum joule_status st = ds_builtins[i].load(d);
        if (st != JOULE_OK) {
            joule_fmt(L->err, L->err_size, "%s: out of memory", source);
            return st;
        }
        /* Built-ins have no lines: ids count from 1 in their written order. */
        for (size_t k = 0; k < d->n; k++) {
            char num[24];
            joule_fmt(num, sizeof(num), "%zu", k + 1);
            if (!(d->samples[k].id = arena_strdup(d, num))) {
                joule_fmt(L->err, L->err_size, "%s: out of memory", source);
                return JOULE_ERR_NOMEM;
            }
        }
        return JOULE_OK;
    }

    struct stat sb;
    if (stat(source, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            char names[128] = "";
            size_t used = 0;
            for (size_t i = 0; i < JOULE_ARRAY_LEN(ds_builtins); i++) {
                joule_fmt(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                          ds_builtins[i].name);
                used = strlen(names);
            }
            joule_fmt(L->err, L->err_size,
                      "unknown dataset '%s': not a file, and not a built-in (%s)", source, names);
            return JOULE_ERR_NOT_FOUND;
        }
        joule_fmt(L->err, L->err_size, "%s: %s", source, strerror(errno));
        return JOULE_ERR_IO;
    }
    if (S_ISDIR(sb.st_mode)) {
        joule_fmt(L->err, L->err_size, "%s: %s", source, strerror(EISDIR));
        return JOULE_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0;
    enum joule_status st =
        joule_read_all(source, DS_MAX_FILE_BYTES, &text, &len, L->err, L->err_size);
    if (st != JOULE_OK)
        return st;
    st = load_file(L, text, len);
    free(text);
    return st;
}

enum joule_status joule_dataset_load(const struct joule_dataset_params *p,
                                     struct joule_dataset **out, char *err, size_t err_size)
{
    if (out)
        *out = NULL;
    if (!p || !out || !p->source || !p->source[0]) {
        joule_fmt(err, err_size, "no dataset given (expected a built-in name or a file)");
        return JOULE_ERR_INVALID;
    }
    if (p->sample_size < 0) {
        joule_fmt(err, err_size, "sample_size %d is negative (expected 0 for all, or N > 0)",
                  (int)p->sample_size);
        return JOULE_ERR_INVALID;
    }
    struct loader L = {.p = p, .path = p->source, .err = err, .err_size = err_size};
    enum joule_status st = parse_format(p->format, &L.fmt, err, err_size);
    if (st != JOULE_OK)
        return st;
    struct joule_dataset *d = joule_calloc(1, sizeof(*d));
    if (!d || !(d->source = arena_strdup(d, p->source))) {
        joule_dataset_free(d);
        joule_fmt(err, err_size, "%s: out of memory", p->source);
        return JOULE_ERR_NOMEM;
    }
    L.d = d;
    d->format = ds_formats[L.fmt].name;
    st = load_source(&L, p->source);
    if (st == JOULE_OK && d->n == 0) {
        if (d->skipped)
            joule_fmt(err, err_size, "%s: no samples (%zu malformed records skipped)", p->source,
                      d->skipped);
        else
            joule_fmt(err, err_size, "%s: no samples", p->source);
        st = JOULE_ERR_INVALID;
    }
    if (st != JOULE_OK) {
        joule_dataset_free(d);
        return st;
    }
    if (p->shuffle)
        shuffle(d, p->seed);
    if (p->sample_size > 0 && (size_t)p->sample_size < d->n)
        d->n = (size_t)p->sample_size;
    *out = d;
    return JOULE_OK;
}
