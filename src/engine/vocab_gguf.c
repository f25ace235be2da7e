/*
 * vocab_gguf.c - a vocabulary from the tokenizer.ggml.* keys of a GGUF
 * file, read only through the public reader of src/model/gguf.h.
 */
#include "vocab.h"

#include "alloc.h"
#include "joule_int.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* What the loader allocates for the description; freed in one place. */
struct gguf_arrays {
    const char **tokens;
    size_t *token_lens;
    float *scores;
    int32_t *types;
    const char **merges;
    size_t *merge_lens;
    uint8_t *strip;
    char *model; /* NUL-terminated copies of the two short strings */
    char *pre;
};

static void arrays_free(struct gguf_arrays *a)
{
    free(a->tokens);
    free(a->token_lens);
    free(a->scores);
    free(a->types);
    free(a->merges);
    free(a->merge_lens);
    free(a->strip);
    free(a->model);
    free(a->pre);
}

/* A NUL-terminated copy of a string key, or NULL in *out when absent. */
static enum joule_status get_cstr(const struct joule_gguf *g, const char *key, char **out,
                                  char *err, size_t err_size)
{
    const struct joule_gguf_value *val;
    const char *s;
    size_t len;
    *out = NULL;
    enum joule_status st = joule_gguf_get(g, key, JOULE_GGUF_TYPE_STRING, &val, err, err_size);
    if (st == JOULE_ERR_NOT_FOUND)
        return JOULE_OK;
    if (st == JOULE_OK)
        st = joule_gguf_value_str(val, &s, &len);
    if (st != JOULE_OK)
        return st;
    if (memchr(s, '\0', len)) {
        joule_fmt(err, err_size, "key '%s' contains a NUL byte", key);
        return JOULE_ERR_FORMAT;
    }
    *out = malloc(len + 1);
    if (!*out)
        return JOULE_ERR_NOMEM;
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return JOULE_OK;
}

/* The array `key` with `elem` elements and at least min_n of them (when
 * min_n > 0).  *out NULL when absent. */
static enum joule_status get_array(const struct joule_gguf *g, const char *key,
                                   enum joule_gguf_type elem, uint64_t min_n,
                                   const struct joule_gguf_value **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    enum joule_status st = joule_gguf_get(g, key, JOULE_GGUF_TYPE_ARRAY, out, err, err_size);
    if (st == JOULE_ERR_NOT_FOUND) {
        *out = NULL;
        return JOULE_OK;
    }
    if (st != JOULE_OK)
        return st;
    if ((*out)->elem_type != elem) {
        joule_fmt(err, err_size, "key '%s' is an array of %s (expected %s)", key,
                  joule_gguf_type_name((*out)->elem_type), joule_gguf_type_name(elem));
        return JOULE_ERR_FORMAT;
    }
    if (joule_gguf_array_len(*out) < min_n) {
        joule_fmt(err, err_size, "key '%s' has %llu entries (expected at least %llu)", key,
                  (unsigned long long)joule_gguf_array_len(*out), (unsigned long long)min_n);
        return JOULE_ERR_FORMAT;
    }
    return JOULE_OK;
}

/* All strings of a string array, as pointers into the file plus lengths. */
static enum joule_status read_strings(const struct joule_gguf_value *arr, size_t n,
                                      const char ***out, size_t **lens)
{
    *out = joule_calloc(n ? n : 1, sizeof(**out));
    *lens = joule_calloc(n ? n : 1, sizeof(**lens));
    if (!*out || !*lens)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct joule_gguf_value e;
        enum joule_status st = joule_gguf_array_get(arr, i, &e);
        if (st == JOULE_OK)
            st = joule_gguf_value_str(&e, &(*out)[i], &(*lens)[i]);
        if (st != JOULE_OK)
            return JOULE_ERR_FORMAT;
    }
    return JOULE_OK;
}

/* Scores: f32 (or i32, which llama.cpp also accepts). */
static enum joule_status read_scores(const struct joule_gguf *g, size_t n, float **out,
                                     char *err, size_t err_size)
{
    const char *key = "tokenizer.ggml.scores";
    const struct joule_gguf_value *arr;
    enum joule_status st = joule_gguf_get(g, key, JOULE_GGUF_TYPE_ARRAY, &arr, err, err_size);
    *out = NULL;
    if (st == JOULE_ERR_NOT_FOUND)
        return JOULE_OK;
    if (st != JOULE_OK)
        return st;
    if (arr->elem_type != JOULE_GGUF_TYPE_FLOAT32 && arr->elem_type != JOULE_GGUF_TYPE_INT32) {
        joule_fmt(err, err_size, "key '%s' is an array of %s (expected f32)", key,
                  joule_gguf_type_name(arr->elem_type));
        return JOULE_ERR_FORMAT;
    }
    if (joule_gguf_array_len(arr) < n) {
        joule_fmt(err, err_size, "key '%s' has %llu entries for %zu tokens", key,
                  (unsigned long long)joule_gguf_array_len(arr), n);
        return JOULE_ERR_FORMAT;
    }
    *out = joule_calloc(n, sizeof(float));
    if (!*out)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct joule_gguf_value e;
        int32_t iv;
        st = joule_gguf_array_get(arr, i, &e);
        if (st == JOULE_OK && arr->elem_type == JOULE_GGUF_TYPE_FLOAT32) {
            st = joule_gguf_value_f32(&e, &(*out)[i]);
        } else if (st == JOULE_OK) {
            st = joule_gguf_value_i32(&e, &iv);
            (*out)[i] = (float)iv;
        }
        if (st != JOULE_OK)
            return JOULE_ERR_FORMAT;
    }
    return JOULE_OK;
}

static enum joule_status read_types(const struct joule_gguf *g, size_t n, int32_t **out,
                                    char *err, size_t err_size)
{
    const struct joule_gguf_value *arr;
    *out = NULL;
    enum joule_status st = get_array(g, "tokenizer.ggml.token_type", JOULE_GGUF_TYPE_INT32, n,
                                     &arr, err, err_size);
    if (st != JOULE_OK || !arr)
        return st;
    *out = joule_calloc(n, sizeof(int32_t));
    if (!*out)
        return JOULE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct joule_gguf_value e;
        st = joule_gguf_array_get(arr, i, &e);
        if (st == JOULE_OK)
            st = joule_gguf_value_i32(&e, &(*out)[i]);
        if (st != JOULE_OK)
            return JOULE_ERR_FORMAT;
    }
    return JOULE_OK;
}

/* An optional id: any non-negative integer type; out of range is ignored. */
static enum joule_status read_id(const struct joule_gguf *g, const char *key, size_t n,
                                 int32_t *out, char *err, size_t err_size)
{
    int64_t k = joule_gguf_find_key(g, key);
    uint64_t id;
    if (k < 0)
        return JOULE_OK;
    if (joule_gguf_value_uint(joule_gguf_kv_value(g, (uint64_t)k), &id) != JOULE_OK) {
        joule_fmt(err, err_size, "key '%s' is not a non-negative integer", key);
        return JOULE_ERR_FORMAT;
    }
    if (id < n)
        *out = (int32_t)id;
    return JOULE_OK;
}

static enum joule_status read_flag(const struct joule_gguf *g, const char *key, int *out,
                                   char *err, size_t err_size)
{
    bool b;
    enum joule_status st = joule_gguf_get_bool(g, key, &b);
    if (st == JOULE_ERR_NOT_FOUND)
        return JOULE_OK;
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "key '%s' is not a bool", key);
        return st;
    }
    *out = b ? 1 : 0;
    return JOULE_OK;
}

static bool token_is(const struct gguf_arrays *a, size_t i, const char *text)
{
    size_t n = strlen(text);
    return a->token_lens[i] == n && memcmp(a->tokens[i], text, n) == 0;
}

/* name lower-cased into low[256] (truncated). */
static void lower(const char *name, char low[256])
{
    size_t n = strlen(name);
    if (n > 255)
        n = 255;
    for (size_t i = 0; i < n; i++)
        low[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    low[n] = '\0';
}

/* Sets bits on the token whose text is `text`, if there is one. */
static void strip_token(struct gguf_arrays *a, size_t n, const char *text, uint8_t bits)
{
    for (size_t i = 0; i < n; i++) {
        if (token_is(a, i, text))
            a->strip[i] = bits;
    }
}

/*
 * llama.cpp sets per-token attributes by name, since GGUF has no key for
 * them: jina-v2 and nomic-bert-moe / jina-bert-v3 strip whitespace before
 * <mask>, Phi-3 strips whitespace after its special tokens (chat templates
 * put "\n" there), modern-bert strips whitespace before [MASK].
 */
static enum joule_status set_strip(const struct joule_gguf *g, struct joule_vocab_desc *d,
                                   struct gguf_arrays *a, char *err, size_t err_size)
{
    char *name = NULL, *arch = NULL;
    char lname[256], larch[256];
    enum joule_status st = get_cstr(g, "general.name", &name, err, err_size);
    if (st == JOULE_OK)
        st = get_cstr(g, "general.architecture", &arch, err, err_size);
    if (st == JOULE_ERR_FORMAT)
        st = JOULE_OK; /* an odd name is no reason to refuse the vocabulary */
    lower(name ? name : "", lname);
    lower(arch ? arch : "", larch);
    free(name);
    free(arch);
    if (st != JOULE_OK)
        return st;
    const char *pre = a->pre ? a->pre : "";
    bool mask = strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") ||
                strstr(pre, "jina-v2-code") || strstr(larch, "nomic-bert-moe") ||
                strstr(larch, "jina-bert-v3");
    bool phi3 = !mask && (strstr(lname, "phi-3") || strstr(lname, "phi3"));
    bool modern = !mask && !phi3 && strstr(lname, "modern-bert");
    if (!mask && !phi3 && !modern)
        return JOULE_OK;
    a->strip = joule_calloc(d->n_tokens, 1);
    if (!a->strip)
        return JOULE_ERR_NOMEM;
    d->token_strip = a->strip;
    if (mask) {
        strip_token(a, d->n_tokens, "<mask>", JOULE_TOKEN_LSTRIP);
    } else if (modern) {
        strip_token(a, d->n_tokens, "[MASK]", JOULE_TOKEN_LSTRIP);
    } else {
        for (size_t i = 0; i < d->n_tokens; i++) {
            int32_t t = a->types ? a->types[i] : JOULE_TOKEN_NORMAL;
            if (t == JOULE_TOKEN_CONTROL || t == JOULE_TOKEN_USER_DEFINED ||
                t == JOULE_TOKEN_UNKNOWN || token_is(a, i, "</s>"))
                a->strip[i] = JOULE_TOKEN_RSTRIP;
        }
        strip_token(a, d->n_tokens, "<unk>", 0);
        strip_token(a, d->n_tokens, "<s>", 0);
        strip_token(a, d->n_tokens, "<|endoftext|>", 0);
    }
    return JOULE_OK;
}

/* Special ids and the add-BOS/EOS/space-prefix flags. */
static enum joule_status read_specials(const struct joule_gguf *g, struct joule_vocab_desc *d,
                                       const char *model, char *err, size_t err_size)
{
    size_t n = d->n_tokens;
    enum joule_status st = read_id(g, "tokenizer.ggml.bos_token_id", n, &d->bos_id, err,
                                   err_size);
    if (st == JOULE_OK)
        st = read_id(g, "tokenizer.ggml.eos_token_id", n, &d->eos_id, err, err_size);
    if (st == JOULE_OK)
        st = read_id(g, "tokenizer.ggml.unknown_token_id", n, &d->unk_id, err, err_size);
    if (st == JOULE_OK)
        st = read_id(g, "tokenizer.ggml.padding_token_id", n, &d->pad_id, err, err_size);
    if (st == JOULE_OK)
        st = read_flag(g, "tokenizer.ggml.add_bos_token", &d->add_bos, err, err_size);
    if (st == JOULE_OK)
        st = read_flag(g, "tokenizer.ggml.add_eos_token", &d->add_eos, err, err_size);
    /* Only SPM uses the space prefix; llama.cpp ignores the key for BPE. */
    if (st == JOULE_OK && strcmp(model, "llama") == 0)
        st = read_flag(g, "tokenizer.ggml.add_space_prefix", &d->add_space_prefix, err,
                       err_size);
    return st;
}

static enum joule_status read_desc(const struct joule_gguf *g, struct joule_vocab_desc *d,
                                   struct gguf_arrays *a, char *err, size_t err_size)
{
    const struct joule_gguf_value *toks, *merges;
    enum joule_status st = get_cstr(g, "tokenizer.ggml.model", &a->model, err, err_size);
    if (st == JOULE_OK && !a->model) {
        joule_fmt(err, err_size, "no tokenizer.ggml.model key: the file has no vocabulary");
        return JOULE_ERR_NOT_FOUND;
    }
    if (st == JOULE_OK)
        st = get_cstr(g, "tokenizer.ggml.pre", &a->pre, err, err_size);
    if (st == JOULE_OK)
        st = get_array(g, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_STRING, 0, &toks, err,
                       err_size);
    if (st != JOULE_OK)
        return st;
    if (!toks) {
        joule_fmt(err, err_size, "no tokenizer.ggml.tokens key");
        return JOULE_ERR_NOT_FOUND;
    }
    uint64_t n64 = joule_gguf_array_len(toks);
    if (n64 == 0 || n64 > JOULE_VOCAB_MAX_TOKENS) {
        joule_fmt(err, err_size, "tokenizer.ggml.tokens has %llu entries (need 1..%u)",
                  (unsigned long long)n64, JOULE_VOCAB_MAX_TOKENS);
        return JOULE_ERR_FORMAT;
    }
    size_t n = (size_t)n64;
    d->model = a->model;
    d->pre = a->pre;
    d->n_tokens = n;
    st = read_strings(toks, n, &a->tokens, &a->token_lens);
    if (st == JOULE_OK)
        st = read_scores(g, n, &a->scores, err, err_size);
    if (st == JOULE_OK)
        st = read_types(g, n, &a->types, err, err_size);
    if (st == JOULE_OK)
        st = get_array(g, "tokenizer.ggml.merges", JOULE_GGUF_TYPE_STRING, 0, &merges, err,
                       err_size);
    if (st == JOULE_OK && merges) {
        uint64_t m = joule_gguf_array_len(merges);
        if (m > JOULE_VOCAB_MAX_MERGES) {
            joule_fmt(err, err_size, "tokenizer.ggml.merges has %llu entries",
                      (unsigned long long)m);
            return JOULE_ERR_FORMAT;
        }
        d->n_merges = (size_t)m;
        st = read_strings(merges, d->n_merges, &a->merges, &a->merge_lens);
    }
    if (st != JOULE_OK)
        return st;
    d->tokens = a->tokens;
    d->token_lens = a->token_lens;
    d->scores = a->scores;
    d->token_types = a->types;
    d->merges = a->merges;
    d->merge_lens = a->merge_lens;
    st = read_specials(g, d, a->model, err, err_size);
    if (st == JOULE_OK)
        st = set_strip(g, d, a, err, err_size);
    return st;
}

enum joule_status joule_vocab_from_gguf(const struct joule_gguf *g, struct joule_vocab **out,
                                        char *err, size_t err_size)
{
    struct joule_vocab_desc d;
    struct gguf_arrays a;
    if (err && err_size)
        err[0] = '\0';
    if (!out)
        return JOULE_ERR_INVALID;
    *out = NULL;
    if (!g) {
        joule_fmt(err, err_size, "no GGUF file");
        return JOULE_ERR_INVALID;
    }
    memset(&a, 0, sizeof(a));
    joule_vocab_desc_init(&d);
    enum joule_status st = read_desc(g, &d, &a, err, err_size);
    if (st == JOULE_OK)
        st = joule_vocab_build(&d, out, err, err_size);
    else if (st == JOULE_ERR_NOMEM && err && err_size && !err[0])
        joule_fmt(err, err_size, "out of memory reading the vocabulary");
    else if (err && err_size && !err[0])
        joule_fmt(err, err_size, "malformed tokenizer.ggml.* keys");
    arrays_free(&a);
    return st;
}
