/*
 * config.c - experiment configs: defaults, presets, YAML files, overrides.
 *
 * Every key lives in one table (name, type, bounds, default, help, field
 * offset): the YAML loader, joule_config_set, joule_config_get, the
 * canonical YAML writer and `joule config keys` all read it, so a key added
 * here is everywhere at once.  Values always go through one parser
 * (set_value), so a flag, a file and a preset are validated alike.
 *
 * Files are read with libyaml's event API rather than its document API: the
 * config is at most two levels deep, and reading events lets us refuse
 * anything deeper (and aliases) at once, with the position of the offending
 * node, instead of building a tree first.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "config.h"

#include "alloc.h"
#include "buf.h"
#include "fileio.h"
#include "joule_int.h"
#include "suggest.h"
#include "yaml_in.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strcasecmp */
#include <yaml.h>

/* --- the keys ------------------------------------------------------------- */

enum key_kind { K_INT, K_U64, K_NUM, K_BOOL, K_STR, K_ENUM, K_LIST };

struct key_def {
    struct joule_config_key pub; /* key, type, allowed, def, help */
    enum key_kind kind;
    size_t offset; /* of the field in struct joule_config */
    double lo, hi; /* bounds of K_INT and K_NUM */
    int lo_open;   /* K_NUM: lo itself is not allowed */
};

#define F(field) offsetof(struct joule_config, field)
#define KEY(k, type, allowed, def, help)                                                           \
    {                                                                                              \
        k, type, allowed, def, help                                                                \
    }

static const char precision_values[] =
    "file|f32|f16|bf16|q8_0|q4_0|q4_k_m|q6_k|int8|int8-mixed";
static const char format_values[] = "auto|prompt|doc-ref|alpaca|dolly|gsm8k|mmlu|sharegpt|txt";

static const struct key_def keys[] = {
    {KEY("name", "string", "", "", "experiment name (default: model, precision and batch)"), K_STR,
     F(name), 0, 0, 0},
    {KEY("preset", "enum", "quick-test|benchmark|throughput", "",
         "preset applied under the file's keys (a file's `preset:` or --preset)"),
     K_ENUM, F(preset), 0, 0, 0},
    {KEY("model", "string", "", "", "GGUF file, or synth:SHAPE[:TYPE] for a random-weight model"),
     K_STR, F(model), 0, 0, 0},
    {KEY("backend", "enum", "builtin|http|command", "builtin", "what runs the model"), K_ENUM,
     F(backend), 0, 0, 0},
    {KEY("precision", "enum", precision_values, "file",
         "weights as stored (file) or quantized on load to this type"),
     K_ENUM, F(precision), 0, 0, 0},
    {KEY("int8_threshold", "number", "0..1000", "6",
         "int8-mixed: activation columns reaching this magnitude are multiplied in 16-bit, "
         "the rest in INT8 (LLM.int8; 0: pure INT8)"),
     K_NUM, F(int8_threshold), 0, 1000, 0},
    {KEY("batch_size", "int", "1..1024", "1", "prompts run together in one batch"), K_INT,
     F(batch_size), 1, 1024, 0},
    {KEY("threads", "int", "0..1024", "0", "CPU threads (0: one per physical core)"), K_INT,
     F(threads), 0, 1024, 0},
    {KEY("max_input_tokens", "int", "1..1048576", "512",
         "longer prompts keep their first tokens (counted as inputs-cut)"),
     K_INT, F(max_input_tokens), 1, 1048576, 0},
    {KEY("max_output_tokens", "int", "1..1048576", "128", "tokens generated per prompt at most"),
     K_INT, F(max_output_tokens), 1, 1048576, 0},
    {KEY("gpus", "list", "GPU indices, \"0,1\"", "",
         "GPUs to measure, NVML indices (empty: $CUDA_VISIBLE_DEVICES, else all)"),
     K_LIST, F(gpus), 0, 0, 0},
    {KEY("decoding.temperature", "number", "0..100", "0", "sampling temperature (0: greedy)"),
     K_NUM, F(decoding.temperature), 0, 100, 0},
    {KEY("decoding.top_p", "number", "(0..1]", "1", "nucleus sampling mass (1: off)"), K_NUM,
     F(decoding.top_p), 0, 1, 1},
    {KEY("decoding.top_k", "int", "0..1000000", "0", "sample among the k likeliest (0: off)"),
     K_INT, F(decoding.top_k), 0, 1000000, 0},
    {KEY("decoding.min_p", "number", "0..1", "0", "drop tokens below min_p x the top one (0: off)"),
     K_NUM, F(decoding.min_p), 0, 1, 0},
    {KEY("decoding.repetition_penalty", "number", "(0..100]", "1",
         "penalty of tokens already seen (1: off)"),
     K_NUM, F(decoding.repetition_penalty), 0, 100, 1},
    {KEY("decoding.seed", "int", "0..2^64-1", "42", "sampling seed"), K_U64, F(decoding.seed), 0, 0,
     0},
    {KEY("decoding.ignore_eos", "bool", "true|false", "false",
         "always generate max_output_tokens (fixed token counts)"),
     K_BOOL, F(decoding.ignore_eos), 0, 0, 0},
    {KEY("dataset.name", "string", "", "instructions",
         "built-in dataset (see `joule datasets`) or a file"),
     K_STR, F(dataset.name), 0, 0, 0},
    {KEY("dataset.format", "enum", format_values, "auto", "record format of a dataset file"),
     K_ENUM, F(dataset.format), 0, 0, 0},
    {KEY("dataset.sample_size", "int", "0..1000000000", "0", "prompts taken (0: all)"), K_INT,
     F(dataset.sample_size), 0, 1000000000, 0},
    {KEY("dataset.shuffle", "bool", "true|false", "false", "seeded shuffle before sampling"),
     K_BOOL, F(dataset.shuffle), 0, 0, 0},
    {KEY("dataset.seed", "int", "0..2^64-1", "42", "shuffle seed"), K_U64, F(dataset.seed), 0, 0,
     0},
    {KEY("dataset.skip_bad", "bool", "true|false", "false",
         "skip malformed records (counted) instead of stopping"),
     K_BOOL, F(dataset.skip_bad), 0, 0, 0},
    {KEY("protocol.warmup_runs", "int", "0..100", "1", "unmeasured runs before the cycles"), K_INT,
     F(protocol.warmup_runs), 0, 100, 0},
    {KEY("protocol.min_window_s", "number", "0..3600", "10",
         "a cycle repeats its workload until its window lasts this long"),
     K_NUM, F(protocol.min_window_s), 0, 3600, 0},
    {KEY("protocol.cycles", "int", "1..10", "3", "measured repetitions of the experiment"), K_INT,
     F(protocol.cycles), 1, 10, 0},
    {KEY("protocol.cooldown_s", "number", "0..3600", "0", "pause between cycles"), K_NUM,
     F(protocol.cooldown_s), 0, 3600, 0},
    {KEY("protocol.idle_s", "number", "0..3600", "10",
         "idle baseline before the cycles (0: none, energies stay gross)"),
     K_NUM, F(protocol.idle_s), 0, 3600, 0},
    {KEY("protocol.meter_interval_ms", "int", "1..10000", "100", "power sampling interval"), K_INT,
     F(protocol.meter_interval_ms), 1, 10000, 0},
    {KEY("protocol.meter_sources", "string", "", "auto",
         "energy sources (auto, or as `joule measure --meter`)"),
     K_STR, F(protocol.meter_sources), 0, 0, 0},
    {KEY("outputs.db", "string", "", "",
         "results database (empty: $JOULE_DB, else joule-results/joule.db)"),
     K_STR, F(outputs.db), 0, 0, 0},
    {KEY("outputs.timeline", "bool", "true|false", "false", "store the power samples"), K_BOOL,
     F(outputs.timeline), 0, 0, 0},
    {KEY("outputs.save_text", "bool", "true|false", "false", "store each request's output text"),
     K_BOOL, F(outputs.save_text), 0, 0, 0},
    {KEY("http.base_url", "string", "http://host:port[/prefix]", "http://127.0.0.1:8080",
         "backend http: the server's base URL (without /v1); ignored with server.command"),
     K_STR, F(http.base_url), 0, 0, 0},
    {KEY("http.model", "string", "", "", "backend http: the model name sent (empty: none sent)"),
     K_STR, F(http.model), 0, 0, 0},
    {KEY("http.api_key_env", "string", "", "",
         "backend http: name of the environment variable holding the API key (never the key)"),
     K_STR, F(http.api_key_env), 0, 0, 0},
    {KEY("http.endpoint", "enum", "completions|chat", "completions",
         "backend http: /v1/completions or /v1/chat/completions"),
     K_ENUM, F(http.endpoint), 0, 0, 0},
    {KEY("http.concurrency", "int", "1..4096", "1",
         "backend http: requests in flight (closed loop; the server's batch size)"),
     K_INT, F(http.concurrency), 1, 4096, 0},
    {KEY("http.rate", "number", "0..1000000", "0",
         "backend http: requests per second with Poisson arrivals (0: closed loop)"),
     K_NUM, F(http.rate), 0, 1000000, 0},
    {KEY("http.stream", "bool", "true|false", "true",
         "backend http: stream (TTFT and inter-token latency from the events)"),
     K_BOOL, F(http.stream), 0, 0, 0},
    {KEY("http.timeout_s", "number", "(0..86400]", "300",
         "backend http: a request taking longer fails"),
     K_NUM, F(http.timeout_s), 0, 86400, 1},
    {KEY("http.retries", "int", "0..10", "0",
         "backend http: more attempts of a request that failed (connection, 429, 5xx)"),
     K_INT, F(http.retries), 0, 10, 0},
    {KEY("server.command", "string", "", "",
         "backend http: a server to start and stop around the load ({model} {port} "
         "{concurrency} substituted; empty: use http.base_url)"),
     K_STR, F(server.command), 0, 0, 0},
    {KEY("server.ready_path", "string", "", "/health",
         "backend http: polled until it answers 200 before the load starts"),
     K_STR, F(server.ready_path), 0, 0, 0},
    {KEY("server.startup_timeout_s", "number", "(0..86400]", "120",
         "backend http: seconds the server may take to become ready"),
     K_NUM, F(server.startup_timeout_s), 0, 86400, 1},
    {KEY("server.grace_s", "number", "0..3600", "5",
         "backend http: seconds between SIGTERM and SIGKILL when stopping the server"),
     K_NUM, F(server.grace_s), 0, 3600, 0},
    {KEY("command.run", "string", "", "",
         "backend command: shell command run once per pass inside the measured window"),
     K_STR, F(command.run), 0, 0, 0},
};

/* Sections: a YAML mapping under one of these names holds "NAME.key" keys. */
static const char *const sections[] = {"decoding", "dataset", "protocol", "outputs",
                                       "http",     "server",  "command"};

/* --- presets -------------------------------------------------------------- */

struct preset {
    const char *name, *summary;
    const char *settings[16]; /* "key=value", NULL-terminated */
};

static const struct preset presets[] = {
    {"quick-test",
     "batch 1, 64 in, 32 out, 8 prompts, short windows: a first look in a minute",
     {"batch_size=1", "max_input_tokens=64", "max_output_tokens=32", "dataset.sample_size=8",
      "protocol.idle_s=5", "protocol.min_window_s=5", "protocol.cycles=3", NULL}},
    {"benchmark",
     "batch 1, 2048 in, 512 out, f16, fixed output length, 5 cycles",
     {"batch_size=1", "max_input_tokens=2048", "max_output_tokens=512", "precision=f16",
      "decoding.ignore_eos=true", "protocol.cycles=5", "protocol.min_window_s=20",
      "protocol.cooldown_s=5", NULL}},
    {"throughput",
     "batch 8, 512 in, 256 out, fixed output length: energy per token at load",
     {"batch_size=8", "max_input_tokens=512", "max_output_tokens=256", "decoding.ignore_eos=true",
      NULL}},
};

const char *joule_preset_name(size_t i, const char **summary)
{
    if (i >= JOULE_ARRAY_LEN(presets))
        return NULL;
    if (summary)
        *summary = presets[i].summary;
    return presets[i].name;
}

const struct joule_config_key *joule_config_key_at(size_t i)
{
    return i < JOULE_ARRAY_LEN(keys) ? &keys[i].pub : NULL;
}

/* --- did you mean --------------------------------------------------------- */

static const char *nearest_key(const char *word)
{
    const char *names[JOULE_ARRAY_LEN(keys)];
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++)
        names[i] = keys[i].pub.key;
    return joule_nearest(word, names, JOULE_ARRAY_LEN(keys));
}

/* The '|'-separated values of allowed into a list of at most 16 pointers
 * into buf. */
static size_t split_allowed(const char *allowed, char *buf, size_t size, const char **out)
{
    joule_strlcpy(buf, allowed, size);
    size_t n = 0;
    for (char *p = buf; p && *p && n < 16;) {
        out[n++] = p;
        char *bar = strchr(p, '|');
        if (bar)
            *bar++ = '\0';
        p = bar;
    }
    return n;
}

/* "a|b|c" as "a, b, c". */
static void list_allowed(char *out, size_t size, const char *allowed)
{
    size_t o = 0;
    for (const char *p = allowed; *p && o + 3 < size; p++) {
        if (*p == '|') {
            out[o++] = ',';
            out[o++] = ' ';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* --- values ------------------------------------------------------------- */

static const struct key_def *find_key(const char *key)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].pub.key, key) == 0)
            return &keys[i];
    return NULL;
}

static void unknown_key(const char *key, char *err, size_t err_size)
{
    const char *near = nearest_key(key);
    if (near)
        joule_fmt(err, err_size, "unknown key '%s' (did you mean '%s'?)", key, near);
    else
        joule_fmt(err, err_size, "unknown key '%s' (see `joule config keys`)", key);
}

static void *field(struct joule_config *c, const struct key_def *k)
{
    return (char *)c + k->offset;
}

static const void *cfield(const struct joule_config *c, const struct key_def *k)
{
    return (const char *)c + k->offset;
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 1;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 1;
    }
    return 0;
}

/* "0, 1,3" -> "0,1,3"; each an index below 1024. */
static int normalize_list(const char *v, char *out, size_t size)
{
    size_t o = 0;
    const char *p = v;
    if (size)
        out[0] = '\0';
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        char *end;
        errno = 0;
        unsigned long x = strtoul(p, &end, 10);
        if (errno || x >= 1024)
            return 0;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',')
            return 0;
        int w = snprintf(out + o, size - o, "%s%lu", o ? "," : "", x);
        if (w < 0 || (size_t)w >= size - o)
            return 0;
        o += (size_t)w;
        if (*p == ',' && !*++p)
            return 0;
    }
    return 1;
}

/* Sets key k of c from text v (NULL: the YAML null).  The message names the
 * key and what is allowed. */
static enum joule_status set_value(struct joule_config *c, const struct key_def *k, const char *v,
                                   char *err, size_t err_size)
{
    const char *key = k->pub.key;
    char text[512];
    if (v) {
        const char *s = v;
        size_t n = strlen(v);
        trim(&s, &n);
        if (n >= sizeof(text)) {
            joule_fmt(err, err_size, "%s: value longer than %zu bytes", key, sizeof(text) - 1);
            return JOULE_ERR_INVALID;
        }
        memcpy(text, s, n);
        text[n] = '\0';
    }
    if (k->kind == K_STR || k->kind == K_LIST || k->kind == K_ENUM) {
        char **dst = field(c, k);
        const char *val = v ? text : "";
        char list[512], buf[256]; /* val may point into either: keep them in scope */
        if (k->kind == K_LIST && *val) {
            if (!normalize_list(val, list, sizeof(list))) {
                joule_fmt(err, err_size, "%s: '%s' is not a list of GPU indices (allowed: %s)", key,
                          val, k->pub.allowed);
                return JOULE_ERR_INVALID;
            }
            val = list;
        }
        if (k->kind == K_ENUM && *val) {
            const char *vals[16];
            size_t nv = split_allowed(k->pub.allowed, buf, sizeof(buf), vals);
            size_t i = 0;
            while (i < nv && strcasecmp(vals[i], val) != 0)
                i++;
            if (i == nv) {
                const char *near = joule_nearest(val, vals, nv);
                char allowed[256];
                list_allowed(allowed, sizeof(allowed), k->pub.allowed);
                joule_fmt(err, err_size, "%s: '%s' is not allowed (allowed: %s)%s%s%s", key, val,
                          allowed, near ? "; did you mean '" : "", near ? near : "",
                          near ? "'?" : "");
                return JOULE_ERR_INVALID;
            }
            val = vals[i]; /* the canonical spelling */
        }
        char *copy = NULL;
        if (*val && !(copy = strdup(val)))
            return JOULE_ERR_NOMEM;
        free(*dst);
        *dst = copy;
        return JOULE_OK;
    }
    if (!v || !text[0]) {
        joule_fmt(err, err_size, "%s: a value is needed (allowed: %s)", key, k->pub.allowed);
        return JOULE_ERR_INVALID;
    }
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_BOOL: {
        int b;
        if (!parse_bool(text, &b)) {
            joule_fmt(err, err_size, "%s: '%s' is not a boolean (allowed: true, false)", key, text);
            return JOULE_ERR_INVALID;
        }
        *(int *)field(c, k) = b;
        return JOULE_OK;
    }
    case K_U64: {
        unsigned long long x = strtoull(text, &end, 10);
        if (text[0] == '-' || *end || errno) {
            joule_fmt(err, err_size, "%s: '%s' is not a whole number (allowed: %s)", key, text,
                      k->pub.allowed);
            return JOULE_ERR_INVALID;
        }
        *(uint64_t *)field(c, k) = (uint64_t)x;
        return JOULE_OK;
    }
    case K_INT: {
        long long x = strtoll(text, &end, 10);
        if (*end || errno) {
            joule_fmt(err, err_size, "%s: '%s' is not a whole number (allowed: %s)", key, text,
                      k->pub.allowed);
            return JOULE_ERR_INVALID;
        }
        if ((double)x < k->lo || (double)x > k->hi) {
            joule_fmt(err, err_size, "%s: %lld is out of range (allowed: %s)", key, x,
                      k->pub.allowed);
            return JOULE_ERR_INVALID;
        }
        *(int32_t *)field(c, k) = (int32_t)x;
        return JOULE_OK;
    }
    case K_NUM: {
        double x = strtod(text, &end);
        if (*end || errno || !isfinite(x)) {
            joule_fmt(err, err_size, "%s: '%s' is not a number (allowed: %s)", key, text,
                      k->pub.allowed);
            return JOULE_ERR_INVALID;
        }
        if (x < k->lo || x > k->hi || (k->lo_open && x == k->lo)) {
            joule_fmt(err, err_size, "%s: %s is out of range (allowed: %s)", key, text,
                      k->pub.allowed);
            return JOULE_ERR_INVALID;
        }
        *(double *)field(c, k) = x;
        return JOULE_OK;
    }
    default:
        JOULE_ASSERT(0);
    }
    return JOULE_ERR_INVALID;
}

/* The shortest text that reads back as the same double. */
static void format_number(double x, char *buf, size_t size)
{
    for (int prec = 6; prec <= 17; prec++) {
        joule_fmt(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static void value_text(const struct joule_config *c, const struct key_def *k, char *buf,
                       size_t size)
{
    const void *p = cfield(c, k);
    switch (k->kind) {
    case K_INT:
        joule_fmt(buf, size, "%d", (int)*(const int32_t *)p);
        break;
    case K_U64:
        joule_fmt(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case K_NUM:
        format_number(*(const double *)p, buf, size);
        break;
    case K_BOOL:
        joule_strlcpy(buf, *(const int *)p ? "true" : "false", size);
        break;
    default: {
        const char *s = *(char *const *)p;
        joule_strlcpy(buf, s ? s : "", size);
    }
    }
}

/* --- lifecycle -------------------------------------------------------------- */

static void clear_strings(struct joule_config *c)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++) {
        if (keys[i].kind == K_STR || keys[i].kind == K_ENUM || keys[i].kind == K_LIST) {
            char **s = field(c, &keys[i]);
            free(*s);
            *s = NULL;
        }
    }
}

static enum joule_status reset(struct joule_config *c)
{
    clear_strings(c);
    memset(c, 0, sizeof(*c));
    char err[256];
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++) {
        enum joule_status st = set_value(c, &keys[i], keys[i].pub.def, err, sizeof(err));
        if (st == JOULE_ERR_NOMEM)
            return st;
        JOULE_ASSERT(st == JOULE_OK); /* a default the table itself refuses */
    }
    return JOULE_OK;
}

enum joule_status joule_config_new(struct joule_config **out)
{
    *out = NULL;
    struct joule_config *c = joule_calloc(1, sizeof(*c));
    if (!c)
        return JOULE_ERR_NOMEM;
    if (reset(c) != JOULE_OK) {
        joule_config_free(c);
        return JOULE_ERR_NOMEM;
    }
    *out = c;
    return JOULE_OK;
}

void joule_config_free(struct joule_config *c)
{
    if (!c)
        return;
    clear_strings(c);
    free(c);
}

enum joule_status joule_config_copy(const struct joule_config *c, struct joule_config **out)
{
    *out = NULL;
    struct joule_config *d = joule_calloc(1, sizeof(*d));
    if (!d)
        return JOULE_ERR_NOMEM;
    memcpy(d, c, sizeof(*d));
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++) {
        if (keys[i].kind == K_STR || keys[i].kind == K_ENUM || keys[i].kind == K_LIST) {
            char **s = field(d, &keys[i]);
            *s = NULL;
        }
    }
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++) {
        if (keys[i].kind == K_STR || keys[i].kind == K_ENUM || keys[i].kind == K_LIST) {
            const char *src = *(char *const *)cfield(c, &keys[i]);
            char **dst = field(d, &keys[i]);
            if (src && !(*dst = strdup(src))) {
                joule_config_free(d);
                return JOULE_ERR_NOMEM;
            }
        }
    }
    *out = d;
    return JOULE_OK;
}

static const struct preset *find_preset(const char *name)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(presets); i++)
        if (strcasecmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

static enum joule_status apply_preset(struct joule_config *c, const char *name, char *err,
                                      size_t err_size)
{
    const struct preset *p = find_preset(name);
    if (!p) {
        const char *names[JOULE_ARRAY_LEN(presets)];
        for (size_t i = 0; i < JOULE_ARRAY_LEN(presets); i++)
            names[i] = presets[i].name;
        const char *near = joule_nearest(name, names, JOULE_ARRAY_LEN(presets));
        joule_fmt(err, err_size,
                  "unknown preset '%s' (allowed: quick-test, benchmark, throughput)%s%s%s", name,
                  near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
        return JOULE_ERR_NOT_FOUND;
    }
    for (size_t i = 0; p->settings[i]; i++) {
        char kv[128];
        joule_strlcpy(kv, p->settings[i], sizeof(kv));
        char *eq = strchr(kv, '=');
        JOULE_ASSERT(eq);
        *eq = '\0';
        const struct key_def *k = find_key(kv);
        JOULE_ASSERT(k);
        enum joule_status st = set_value(c, k, eq + 1, err, err_size);
        if (st != JOULE_OK)
            return st;
    }
    char *copy = strdup(p->name);
    if (!copy)
        return JOULE_ERR_NOMEM;
    free(c->preset);
    c->preset = copy;
    return JOULE_OK;
}

enum joule_status joule_config_set(struct joule_config *c, const char *key, const char *value,
                                   char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    const struct key_def *k = find_key(key);
    if (!k) {
        unknown_key(key, err, err_size);
        return JOULE_ERR_NOT_FOUND;
    }
    if (k->offset == F(preset)) {
        joule_fmt(err, err_size,
                  "preset: choose it with --preset or a file's `preset:` key (it sits under "
                  "the file's keys, so it cannot come after them)");
        return JOULE_ERR_INVALID;
    }
    return set_value(c, k, value, err, err_size);
}

enum joule_status joule_config_get(const struct joule_config *c, const char *key, char *buf,
                                   size_t size)
{
    const struct key_def *k = find_key(key);
    if (!k) {
        if (size)
            buf[0] = '\0';
        return JOULE_ERR_NOT_FOUND;
    }
    value_text(c, k, buf, size);
    return JOULE_OK;
}

enum joule_status joule_config_validate(const struct joule_config *c, char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    const int builtin = !c->backend || strcmp(c->backend, "builtin") == 0;
    if (!c->model && builtin) {
        joule_fmt(err, err_size,
                  "no model: set `model:` in the config or pass -m FILE (a GGUF file, or "
                  "synth:stories15m for a random-weight model)");
        return JOULE_ERR_INVALID;
    }
    if (!c->dataset.name) {
        joule_fmt(err, err_size,
                  "no dataset: set `dataset.name` (a built-in, see `joule datasets`, or a file)");
        return JOULE_ERR_INVALID;
    }
    if (!c->backend || !c->precision || !c->dataset.format) {
        joule_fmt(err, err_size, "%s: a value is needed",
                  !c->backend     ? "backend"
                  : !c->precision ? "precision"
                                  : "dataset.format");
        return JOULE_ERR_INVALID;
    }
    if (c->backend && strcmp(c->backend, "command") == 0 && !c->command.run) {
        joule_fmt(err, err_size,
                  "backend command: set `command.run` (a shell command; see docs/cli/joule-run.md)");
        return JOULE_ERR_INVALID;
    }
    if (c->backend && strcmp(c->backend, "http") == 0 && !c->server.command) {
        const char *u = c->http.base_url ? c->http.base_url : "";
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
            joule_fmt(err, err_size,
                      "http.base_url: '%s' is not an http:// or https:// URL (or set "
                      "server.command for a server joule starts)",
                      u);
            return JOULE_ERR_INVALID;
        }
    }
    if (c->backend && strcmp(c->backend, "http") == 0 && c->server.command &&
        !strstr(c->server.command, "{port}")) {
        joule_fmt(err, err_size,
                  "server.command: it must contain {port} (joule picks a free port and the "
                  "server must listen on it)");
        return JOULE_ERR_INVALID;
    }
    if ((int64_t)c->max_input_tokens + c->max_output_tokens > 1048576) {
        joule_fmt(err, err_size,
                  "max_input_tokens + max_output_tokens = %lld exceeds 1048576 tokens",
                  (long long)c->max_input_tokens + c->max_output_tokens);
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

/* --- YAML in -------------------------------------------------------------- */

/* One key of a file, read before any is applied (the preset goes first). */
struct item {
    char *key;   /* full dotted key */
    char *value; /* NULL: YAML null */
    size_t line, col;
};

struct reader {
    struct joule_yaml_in in;
    struct item *items;
    size_t n, cap;
};

static enum joule_status add_item(struct reader *r, const char *key, const char *value,
                                  const yaml_mark_t *m)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].key, key) == 0)
            return joule_yaml_error(&r->in, m, "'%s' is set twice (first on line %zu)", key,
                                    r->items[i].line);
    if (r->n == r->cap) {
        size_t cap;
        if (!joule_grow_cap(r->cap, r->n + 1, 16, &cap))
            return JOULE_ERR_NOMEM;
        struct item *p = joule_realloc_array(r->items, cap, sizeof(*p));
        if (!p)
            return JOULE_ERR_NOMEM;
        r->items = p;
        r->cap = cap;
    }
    struct item *it = &r->items[r->n];
    it->key = strdup(key);
    it->value = value ? strdup(value) : NULL;
    if (!it->key || (value && !it->value)) {
        free(it->key);
        free(it->value);
        return JOULE_ERR_NOMEM;
    }
    it->line = m->line + 1;
    it->col = m->column + 1;
    r->n++;
    return JOULE_OK;
}

/* A YAML sequence of scalars (a list key written as [0, 1]) joined by commas. */
static enum joule_status read_sequence(struct reader *r, const char *key, const yaml_mark_t *at)
{
    char joined[512] = "";
    size_t len = 0;
    for (;;) {
        yaml_event_t ev;
        enum joule_status st = joule_yaml_next(&r->in, &ev);
        if (st != JOULE_OK)
            return st;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            st = joule_yaml_error(&r->in, &ev.start_mark, "%s: a list of plain values is expected",
                                  key);
            yaml_event_delete(&ev);
            return st;
        }
        const char *v = (const char *)ev.data.scalar.value;
        size_t n = strlen(v);
        if (len + n + 2 >= sizeof(joined)) {
            yaml_event_delete(&ev);
            return joule_yaml_error(&r->in, at, "%s: list too long", key);
        }
        if (len)
            joined[len++] = ',';
        memcpy(joined + len, v, n + 1);
        len += n;
        yaml_event_delete(&ev);
    }
    return add_item(r, key, joined, at);
}

/* The pairs of a mapping (its MAPPING_START already read) under prefix
 * ("" at the top, "protocol." in a section). */
static enum joule_status read_mapping(struct reader *r, const char *prefix)
{
    for (;;) {
        yaml_event_t kev, vev;
        enum joule_status st = joule_yaml_next(&r->in, &kev);
        if (st != JOULE_OK)
            return st;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return JOULE_OK;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            st = joule_yaml_error(&r->in, &kev.start_mark, "keys must be plain names");
            yaml_event_delete(&kev);
            return st;
        }
        char key[160];
        joule_fmt(key, sizeof(key), "%s%s", prefix, (const char *)kev.data.scalar.value);
        yaml_mark_t at = kev.start_mark;
        yaml_event_delete(&kev);
        int section = 0;
        for (size_t i = 0; !prefix[0] && i < JOULE_ARRAY_LEN(sections); i++)
            section |= strcmp(key, sections[i]) == 0;
        const struct key_def *k = find_key(key);
        if (!k && !section) {
            char msg[400];
            unknown_key(key, msg, sizeof(msg));
            return joule_yaml_error(&r->in, &at, "%s", msg);
        }
        if ((st = joule_yaml_next(&r->in, &vev)) != JOULE_OK)
            return st;
        switch (vev.type) {
        case YAML_SCALAR_EVENT:
            if (section && strcmp(key, "dataset") == 0) {
                /* `dataset: NAME` is short for `dataset: {name: NAME}`. */
                st = add_item(r, "dataset.name", (const char *)vev.data.scalar.value, &at);
            } else if (section) {
                st = joule_yaml_error(&r->in, &at,
                                      "'%s' is a section: its keys go under it, indented", key);
            } else {
                st = add_item(r, key,
                              joule_yaml_is_null(&vev) ? NULL : (const char *)vev.data.scalar.value,
                              &at);
            }
            break;
        case YAML_MAPPING_START_EVENT:
            if (section) {
                char sub[64];
                joule_fmt(sub, sizeof(sub), "%s.", key);
                st = read_mapping(r, sub);
            } else {
                st = joule_yaml_error(&r->in, &vev.start_mark, "%s takes a value, not a mapping",
                                      key);
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (k && k->kind == K_LIST)
                st = read_sequence(r, key, &at);
            else
                st = joule_yaml_error(&r->in, &vev.start_mark,
                                      "%s takes a single value, not a list", key);
            break;
        case YAML_ALIAS_EVENT:
            st = joule_yaml_error(&r->in, &vev.start_mark,
                                  "aliases (*name) are not supported in configs");
            break;
        default:
            st = joule_yaml_error(&r->in, &vev.start_mark, "unexpected YAML for %s", key);
        }
        yaml_event_delete(&vev);
        if (st != JOULE_OK)
            return st;
    }
}

/* Reads every key of text into r->items, checking names and shapes but not
 * values (they are checked as they are applied, with their position). */
static enum joule_status read_items(struct reader *r, const char *text, size_t len)
{
    yaml_parser_set_input_string(&r->in.parser, (const unsigned char *)text, len);
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        enum joule_status st = joule_yaml_next(&r->in, &ev);
        if (st != JOULE_OK)
            return st;
        yaml_event_type_t type = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        switch (type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
            return JOULE_OK;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                return joule_yaml_error(&r->in, &at, "one YAML document expected, found a second");
            break;
        case YAML_MAPPING_START_EVENT:
            if ((st = read_mapping(r, "")) != JOULE_OK)
                return st;
            break;
        case YAML_SCALAR_EVENT:
            /* An empty document is a plain null scalar: no keys. */
            if (at.index == 0 && len == 0)
                break;
            return joule_yaml_error(&r->in, &at, "a config is a mapping of keys (key: value)");
        default:
            return joule_yaml_error(&r->in, &at, "a config is a mapping of keys (key: value)");
        }
    }
}

static enum joule_status apply_text(struct joule_config *c, const char *name, const char *text,
                                    size_t len, const char *preset, char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    struct reader r = {.in = {.name = name, .err = err, .err_size = err_size}};
    if (!yaml_parser_initialize(&r.in.parser))
        return JOULE_ERR_NOMEM;
    enum joule_status st = text ? read_items(&r, text, len) : JOULE_OK;
    yaml_parser_delete(&r.in.parser);
    if (st == JOULE_OK)
        st = reset(c);
    /* The preset: the argument, else the file's; it lies under the file. */
    const struct item *file_preset = NULL;
    for (size_t i = 0; st == JOULE_OK && i < r.n; i++)
        if (strcmp(r.items[i].key, "preset") == 0)
            file_preset = &r.items[i];
    if (st == JOULE_OK && preset && *preset) {
        st = apply_preset(c, preset, err, err_size);
    } else if (st == JOULE_OK && file_preset && file_preset->value && *file_preset->value) {
        char msg[512];
        if ((st = apply_preset(c, file_preset->value, msg, sizeof(msg))) != JOULE_OK)
            joule_fmt(err, err_size, "%s:%zu:%zu: %s", name, file_preset->line, file_preset->col,
                      msg);
    }
    for (size_t i = 0; st == JOULE_OK && i < r.n; i++) {
        if (&r.items[i] == file_preset)
            continue;
        char msg[512];
        st = set_value(c, find_key(r.items[i].key), r.items[i].value, msg, sizeof(msg));
        if (st != JOULE_OK && st != JOULE_ERR_NOMEM)
            joule_fmt(err, err_size, "%s:%zu:%zu: %s", name, r.items[i].line, r.items[i].col, msg);
        if (st != JOULE_OK && st != JOULE_ERR_NOMEM)
            st = JOULE_ERR_FORMAT;
    }
    for (size_t i = 0; i < r.n; i++) {
        free(r.items[i].key);
        free(r.items[i].value);
    }
    free(r.items);
    if (st == JOULE_ERR_NOMEM)
        joule_fmt(err, err_size, "%s: out of memory", name);
    return st;
}

enum joule_status joule_config_parse(struct joule_config *c, const char *name, const char *text,
                                     size_t len, const char *preset, char *err, size_t err_size)
{
    return apply_text(c, name ? name : "config", text ? text : "", text ? len : 0, preset, err,
                      err_size);
}

enum joule_status joule_config_load(struct joule_config *c, const char *path, const char *preset,
                                    char *err, size_t err_size)
{
    if (!path)
        return apply_text(c, "preset", NULL, 0, preset, err, err_size);
    char *text = NULL;
    size_t len = 0;
    enum joule_status st = joule_read_all(path, 4u << 20, &text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    st = apply_text(c, path, text, len, preset, err, err_size);
    free(text);
    return st;
}

/* --- YAML out ------------------------------------------------------------- */

/* A string as a YAML scalar: plain when it reads back as the same string,
 * else double-quoted with escapes. */
static void put_scalar(struct joule_buf *b, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || strchr("_./+-@=", *p) ||
                (*p == ':' && p[1] != ' ' && p[1] != '\0') || (*p == ' ' && p[1] != '\0');
    if (plain && (strchr("-.@", s[0]) || s[0] == ' ' || strcasecmp(s, "null") == 0))
        plain = 0;
    if (plain) {
        joule_buf_puts(b, s);
        return;
    }
    joule_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char esc[16];
        size_t n = 1;
        uint32_t cp = *p;
        /* Values came through libyaml, so they are valid UTF-8: decode to
         * escape the code points YAML does not allow raw (C1 controls, the
         * BOM, U+FFFE/U+FFFF); other text stays as it is. */
        if (*p >= 0xc0) {
            n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
            cp = *p & (0x3fu >> (n - 1));
            for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80) {
                    n = i;
                    break;
                }
                cp = cp << 6 | (p[i] & 0x3fu);
            }
        }
        if (cp == '"' || cp == '\\')
            joule_fmt(esc, sizeof(esc), "\\%c", (char)cp);
        else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            joule_fmt(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
        /* U+2028 and U+2029 are line breaks to a YAML reader: raw, they fold. */
        else if (cp == 0xfeff || cp == 0xfffe || cp == 0xffff || cp == 0x2028 || cp == 0x2029)
            joule_fmt(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
        else
            joule_fmt(esc, sizeof(esc), "%.*s", (int)n, (const char *)p);
        joule_buf_puts(b, esc);
        p += n;
    }
    joule_buf_puts(b, "\"");
}

/* Whether key has an effect for c's backend. */
static int key_applies(const struct joule_config *c, const char *key)
{
    const char *b = c->backend ? c->backend : "builtin";
    if (strncmp(key, "http.", 5) == 0 || strncmp(key, "server.", 7) == 0)
        return strcmp(b, "http") == 0;
    if (strncmp(key, "command.", 8) == 0)
        return strcmp(b, "command") == 0;
    return 1;
}

enum joule_status joule_config_to_yaml(const struct joule_config *c, int with_comments, char **out)
{
    struct joule_buf b = {0};
    char section[32] = ""; /* the section open ("protocol"), "" at the top */
    if (with_comments)
        joule_buf_puts(&b, "# joule experiment config: `joule config keys` explains every key.\n");
    for (size_t i = 0; i < JOULE_ARRAY_LEN(keys); i++) {
        const struct key_def *k = &keys[i];
        const char *key = k->pub.key;
        /* A setting with no effect on this config stays out of its
         * canonical form (and so of its hash). */
        if (!with_comments && k->offset == F(int8_threshold) &&
            (!c->precision || strcmp(c->precision, "int8-mixed") != 0))
            continue;
        /* So are the keys of a backend not selected: a builtin experiment
         * keeps the hash it had before those keys existed. */
        if (!with_comments && !key_applies(c, key))
            continue;
        const char *dot = strchr(key, '.');
        char sec[32];
        joule_fmt(sec, sizeof(sec), "%.*s", dot ? (int)(dot - key) : 0, key);
        if (strcmp(sec, section) != 0) {
            joule_strlcpy(section, sec, sizeof(section));
            joule_buf_puts(&b, sec);
            joule_buf_puts(&b, ":\n");
        }
        if (with_comments) {
            joule_buf_puts(&b, dot ? "  # " : "# ");
            joule_buf_puts(&b, k->pub.help);
            if (k->pub.allowed[0]) {
                joule_buf_puts(&b, " [");
                joule_buf_puts(&b, k->pub.allowed);
                joule_buf_puts(&b, "]");
            }
            joule_buf_puts(&b, "\n");
        }
        char v[512];
        value_text(c, k, v, sizeof(v));
        joule_buf_puts(&b, dot ? "  " : "");
        joule_buf_puts(&b, dot ? dot + 1 : key);
        joule_buf_puts(&b, ":");
        /* An unset string is the YAML null: "name:" alone. */
        if (v[0])
            joule_buf_puts(&b, " ");
        if (k->kind == K_STR || k->kind == K_ENUM || k->kind == K_LIST) {
            if (v[0])
                put_scalar(&b, v);
        } else {
            joule_buf_puts(&b, v);
        }
        joule_buf_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return JOULE_ERR_NOMEM;
    }
    *out = b.p;
    return JOULE_OK;
}
