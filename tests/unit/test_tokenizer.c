/*
 * test_tokenizer.c - vocabularies, SPM and byte-level BPE tokenization.
 *
 * Synthesized vocabularies check the mechanics (merge order, byte
 * fallback, special tokens, flags, buffer sizes, validation, round trips,
 * hostile input).  The real vocabularies of $JOULE_SHARED_TESTDATA/tokenizer
 * (llama.cpp's ggml-vocab-*.gguf with .inp/.out vectors) check the ids
 * exactly, one pass count per family.
 */
#include "test.h"

#include "model.h"
#include "tokenizer.h"
#include "vocab.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's space */
#define JOULE_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static size_t tokenize(const struct joule_vocab *v, const char *text, unsigned flags,
                       int32_t *ids, size_t cap)
{
    size_t n = 0;
    enum joule_status st = joule_tokenize(v, text, strlen(text), flags, ids, cap, &n);
    CHECK(st == JOULE_OK);
    return st == JOULE_OK ? n : 0;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof(int32_t)) == 0);
}

/* detokenize(tokenize(text)) == text */
static void check_round_trip(const struct joule_vocab *v, const char *text)
{
    size_t len = strlen(text), n = 0, m = 0;
    int32_t *ids = malloc((4 * len + 8) * sizeof(int32_t));
    char *back = malloc(4 * len + 8);
    CHECK(ids && back);
    if (ids && back) {
        CHECK(joule_tokenize(v, text, len, 0, ids, 4 * len + 8, &n) == JOULE_OK);
        CHECK(joule_detokenize(v, ids, n, 0, back, 4 * len + 8, &m) == JOULE_OK);
        CHECK(m == len && memcmp(back, text, len) == 0);
        if (m != len || memcmp(back, text, len) != 0)
            fprintf(stderr, "  round trip: \"%s\" -> \"%.*s\"\n", text, (int)m, back);
    }
    free(ids);
    free(back);
}

/* ---------------------------------------------------------------------------
 * A small SPM vocabulary.
 */

enum {
    SPM_UNK = 0,
    SPM_BOS = 1,
    SPM_EOS = 2,
    SPM_BYTE0 = 3, /* <0x00> .. <0xFF> at 3 .. 258 */
};

static struct joule_vocab *make_spm(void)
{
    static const struct {
        const char *text;
        float score;
        int32_t type;
    } pieces[] = {
        {SP, -1.0f, JOULE_TOKEN_NORMAL},       {"h", -2.0f, JOULE_TOKEN_NORMAL},
        {"e", -2.0f, JOULE_TOKEN_NORMAL},      {"l", -2.0f, JOULE_TOKEN_NORMAL},
        {"o", -2.0f, JOULE_TOKEN_NORMAL},      {"w", -2.0f, JOULE_TOKEN_NORMAL},
        {"r", -2.0f, JOULE_TOKEN_NORMAL},      {"d", -2.0f, JOULE_TOKEN_NORMAL},
        {"ll", -3.0f, JOULE_TOKEN_NORMAL},     {"he", -4.0f, JOULE_TOKEN_NORMAL},
        {"hell", -5.0f, JOULE_TOKEN_NORMAL},   {"hello", -6.0f, JOULE_TOKEN_NORMAL},
        {SP "hello", -7.0f, JOULE_TOKEN_NORMAL}, {"or", -3.5f, JOULE_TOKEN_NORMAL},
        {"ld", -3.5f, JOULE_TOKEN_NORMAL},     {"orld", -4.5f, JOULE_TOKEN_NORMAL},
        {SP "w", -4.0f, JOULE_TOKEN_NORMAL},   {SP "world", -8.0f, JOULE_TOKEN_NORMAL},
        {"<|user|>", 0.0f, JOULE_TOKEN_USER_DEFINED},
        {"<ctl>", 0.0f, JOULE_TOKEN_CONTROL},
        {"<unused0>", 0.0f, JOULE_TOKEN_UNUSED},
    };
    size_t n = 3 + 256 + JOULE_ARRAY_LEN_T(pieces);
    const char **tokens = calloc(n, sizeof(*tokens));
    float *scores = calloc(n, sizeof(float));
    int32_t *types = calloc(n, sizeof(int32_t));
    char(*bytes)[8] = calloc(256, sizeof(*bytes));
    struct joule_vocab *v = NULL;
    if (tokens && scores && types && bytes) {
        tokens[0] = "<unk>";
        types[0] = JOULE_TOKEN_UNKNOWN;
        tokens[1] = "<s>";
        types[1] = JOULE_TOKEN_CONTROL;
        tokens[2] = "</s>";
        types[2] = JOULE_TOKEN_CONTROL;
        for (int b = 0; b < 256; b++) {
            snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
            tokens[SPM_BYTE0 + b] = bytes[b];
            types[SPM_BYTE0 + b] = JOULE_TOKEN_BYTE;
        }
        for (size_t i = 0; i < JOULE_ARRAY_LEN_T(pieces); i++) {
            tokens[259 + i] = pieces[i].text;
            scores[259 + i] = pieces[i].score;
            types[259 + i] = pieces[i].type;
        }
        struct joule_vocab_desc d;
        joule_vocab_desc_init(&d);
        d.model = "llama";
        d.n_tokens = n;
        d.tokens = tokens;
        d.scores = scores;
        d.token_types = types;
        char err[256];
        enum joule_status st = joule_vocab_build(&d, &v, err, sizeof(err));
        CHECK(st == JOULE_OK);
        if (st != JOULE_OK)
            fprintf(stderr, "  spm build: %s\n", err);
    }
    free(tokens);
    free(scores);
    free(types);
    free(bytes);
    return v;
}

static int32_t id_of(const struct joule_vocab *v, const char *text)
{
    return joule_vocab_find(v, text, strlen(text));
}

static void test_spm_merges(void)
{
    struct joule_vocab *v = make_spm();
    if (!v)
        return;
    int32_t ids[64];
    size_t n = tokenize(v, "hello world", 0, ids, 64);
    int32_t want[] = {id_of(v, SP "hello"), id_of(v, SP "world")};
    CHECK(ids_equal(ids, n, want, 2));

    /* "hello" without a leading space is not reachable: the prefix is added. */
    n = tokenize(v, "hellohe", 0, ids, 64);
    int32_t want2[] = {id_of(v, SP "hello"), id_of(v, "he")};
    CHECK(ids_equal(ids, n, want2, 2));

    /* Byte fallback: 'é' is C3 A9, 'z' is not in the vocabulary. */
    n = tokenize(v, "z\xC3\xA9", 0, ids, 64);
    int32_t want3[] = {id_of(v, SP), SPM_BYTE0 + 'z', SPM_BYTE0 + 0xC3, SPM_BYTE0 + 0xA9};
    CHECK(ids_equal(ids, n, want3, 4));

    /* Several spaces: each one is U+2581. */
    n = tokenize(v, "  w", 0, ids, 64);
    int32_t want4[] = {id_of(v, SP), id_of(v, SP), id_of(v, SP "w")};
    CHECK(ids_equal(ids, n, want4, 3));
    joule_vocab_free(v);
}

static void test_spm_special(void)
{
    struct joule_vocab *v = make_spm();
    if (!v)
        return;
    int32_t ids[64];
    /* Empty input: nothing, or BOS alone with add_special. */
    size_t n = tokenize(v, "", 0, ids, 64);
    CHECK(n == 0);
    n = tokenize(v, "", JOULE_TOKENIZE_ADD_SPECIAL, ids, 64);
    CHECK(n == 1 && ids[0] == SPM_BOS);
    CHECK(joule_vocab_add_bos(v) && !joule_vocab_add_eos(v));

    n = tokenize(v, "hello", JOULE_TOKENIZE_ADD_SPECIAL, ids, 64);
    int32_t want[] = {SPM_BOS, id_of(v, SP "hello")};
    CHECK(ids_equal(ids, n, want, 2));

    /* USER_DEFINED text is always a token; a space prefix follows it. */
    n = tokenize(v, "hello<|user|>hello", 0, ids, 64);
    int32_t want2[] = {id_of(v, SP "hello"), id_of(v, "<|user|>"), id_of(v, SP "hello")};
    CHECK(ids_equal(ids, n, want2, 3));

    /* CONTROL text only with PARSE_SPECIAL; otherwise plain characters. */
    n = tokenize(v, "<s>", JOULE_TOKENIZE_PARSE_SPECIAL, ids, 64);
    CHECK(n == 1 && ids[0] == SPM_BOS);
    n = tokenize(v, "<s>", 0, ids, 64);
    CHECK(n > 1);
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] != SPM_BOS);

    /* Detokenize: control tokens only when rendered; BOS removal. */
    int32_t in[] = {SPM_BOS, id_of(v, SP "hello"), id_of(v, "<ctl>"), id_of(v, "<unused0>"),
                    SPM_BYTE0 + 'z'};
    char out[64];
    size_t len = 0;
    CHECK(joule_detokenize(v, in, 5, 0, out, sizeof(out), &len) == JOULE_OK);
    CHECK_STR(out, " helloz"); /* BOS renders nothing but takes the strip */
    CHECK(joule_detokenize(v, in, 5, JOULE_DETOKENIZE_RENDER_SPECIAL, out, sizeof(out), &len) ==
          JOULE_OK);
    CHECK_STR(out, "<s> hello<ctl>z");
    CHECK(joule_detokenize(v, in + 1, 4, 0, out, sizeof(out), &len) == JOULE_OK);
    CHECK_STR(out, "helloz");
    joule_vocab_free(v);
}

/* LSTRIP / RSTRIP drop the whitespace next to a special token. */
static void test_spm_strip(void)
{
    static const char *const toks[] = {"<unk>", "<s>", "</s>", SP, "a", SP "a", "<|u|>"};
    int32_t types[] = {2, 3, 3, 1, 1, 1, 4};
    uint8_t strip[] = {0, 0, 0, 0, 0, 0, JOULE_TOKEN_LSTRIP | JOULE_TOKEN_RSTRIP};
    struct joule_vocab_desc d;
    struct joule_vocab *v = NULL;
    char err[256];
    joule_vocab_desc_init(&d);
    d.model = "llama";
    d.tokens = toks;
    d.n_tokens = 7;
    d.token_types = types;
    d.token_strip = strip;
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_OK);
    if (!v)
        return;
    int32_t ids[16];
    size_t n = tokenize(v, "a \n <|u|>\t\r\n a", 0, ids, 16);
    int32_t want[] = {5, 6, 5};
    CHECK(ids_equal(ids, n, want, 3));
    n = tokenize(v, "<|u|>   ", 0, ids, 16); /* nothing left after the token */
    CHECK(n == 1 && ids[0] == 6);
    joule_vocab_free(v);
    strip[6] = 4;
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_ERR_INVALID && !v);
}

static void test_spm_round_trip(void)
{
    struct joule_vocab *v = make_spm();
    if (!v)
        return;
    check_round_trip(v, "hello world");
    check_round_trip(v, "  hello   world  ");
    check_round_trip(v, "\xC3\x84pfel \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87 x\ty\nz");
    check_round_trip(v, "hello<|user|>");
    /* As llama.cpp: a space prefix follows every special token, so the text
     * after one comes back with one space more. */
    int32_t ids[16];
    char out[64];
    size_t len = 0, n = tokenize(v, "<|user|>world", 0, ids, 16);
    CHECK(joule_detokenize(v, ids, n, 0, out, sizeof(out), &len) == JOULE_OK);
    CHECK_STR(out, "<|user|> world");
    joule_vocab_free(v);
}

/* ---------------------------------------------------------------------------
 * A small byte-level BPE vocabulary: the 256 GPT-2 characters, then merges.
 */

/* The GPT-2 character of byte b, as UTF-8 into out (NUL-terminated). */
static void gpt2_char(int b, char out[4])
{
    unsigned cp;
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
        cp = (unsigned)b;
    } else {
        unsigned k = 0;
        for (int c = 0; c < b; c++) {
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) ||
                  (c >= 0xAE && c <= 0xFF)))
                k++;
        }
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static const char *const bpe_merges[] = {
    "h e",    "l l",    "he ll",  "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or",
    "\xC4\xA0wor ld", "l d",  "1 2",    "12 3",   "' s",    "\xC4\xA0 t", "\xC4\xA0t he",
    "h e",    /* repeated pair: keeps rank 0 */
};

static const char *const bpe_extra_tokens[] = {
    "he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "\xC4\xA0world",
    "ld", "12", "123", "'s", "\xC4\xA0t", "\xC4\xA0the", "<|endoftext|>", "<|im_start|>",
};

static struct joule_vocab *make_bpe(const char *pre, int add_bos)
{
    size_t n_extra = JOULE_ARRAY_LEN_T(bpe_extra_tokens);
    size_t n = 256 + n_extra;
    const char **tokens = calloc(n, sizeof(*tokens));
    int32_t *types = calloc(n, sizeof(int32_t));
    char(*chars)[4] = calloc(256, sizeof(*chars));
    struct joule_vocab *v = NULL;
    if (tokens && types && chars) {
        for (int b = 0; b < 256; b++) {
            gpt2_char(b, chars[b]);
            tokens[b] = chars[b];
            types[b] = JOULE_TOKEN_NORMAL;
        }
        for (size_t i = 0; i < n_extra; i++) {
            tokens[256 + i] = bpe_extra_tokens[i];
            types[256 + i] = JOULE_TOKEN_NORMAL;
        }
        types[256 + n_extra - 2] = JOULE_TOKEN_CONTROL;      /* <|endoftext|> */
        types[256 + n_extra - 1] = JOULE_TOKEN_USER_DEFINED; /* <|im_start|> */
        struct joule_vocab_desc d;
        joule_vocab_desc_init(&d);
        d.model = "gpt2";
        d.pre = pre;
        d.n_tokens = n;
        d.tokens = tokens;
        d.token_types = types;
        d.n_merges = JOULE_ARRAY_LEN_T(bpe_merges);
        d.merges = bpe_merges;
        d.bos_id = (int32_t)(256 + n_extra - 2);
        d.eos_id = (int32_t)(256 + n_extra - 2);
        d.add_bos = add_bos;
        char err[512];
        enum joule_status st = joule_vocab_build(&d, &v, err, sizeof(err));
        CHECK(st == JOULE_OK);
        if (st != JOULE_OK)
            fprintf(stderr, "  bpe build: %s\n", err);
    }
    free(tokens);
    free(types);
    free(chars);
    return v;
}

static void test_bpe_merges(void)
{
    struct joule_vocab *v = make_bpe("gpt-2", JOULE_VOCAB_DEFAULT_FLAG);
    if (!v)
        return;
    int32_t ids[64];
    size_t n = tokenize(v, "hello world", 0, ids, 64);
    int32_t want[] = {id_of(v, "hello"), id_of(v, "\xC4\xA0world")};
    CHECK(ids_equal(ids, n, want, 2));

    /* Contractions split off ('s), digits stay one piece for gpt-2. */
    n = tokenize(v, "he's 123", 0, ids, 64);
    /* " 123" is one piece; "\xC4\xA0" + "123" since no merge joins them. */
    int32_t want3[] = {id_of(v, "he"), id_of(v, "'s"), id_of(v, "\xC4\xA0"), id_of(v, "123")};
    CHECK(ids_equal(ids, n, want3, 4));

    /* Whitespace: "a  b": "a", " " (the run minus one), " b". */
    n = tokenize(v, "a  b", 0, ids, 64);
    int32_t want4[] = {'a', id_of(v, "\xC4\xA0"), id_of(v, "\xC4\xA0"), 'b'};
    CHECK(ids_equal(ids, n, want4, 4));

    /* Special tokens: USER_DEFINED always, CONTROL only when parsing. */
    n = tokenize(v, "<|im_start|>the", 0, ids, 64);
    CHECK(n >= 1 && ids[0] == id_of(v, "<|im_start|>"));
    n = tokenize(v, "<|endoftext|>", 0, ids, 64);
    CHECK(n > 1);
    n = tokenize(v, "<|endoftext|>", JOULE_TOKENIZE_PARSE_SPECIAL, ids, 64);
    CHECK(n == 1 && ids[0] == id_of(v, "<|endoftext|>"));
    /* gpt-2 does not add BOS by default. */
    n = tokenize(v, "the", JOULE_TOKENIZE_ADD_SPECIAL, ids, 64);
    CHECK(n == 2 && ids[0] == 't' && ids[1] == id_of(v, "he"));
    joule_vocab_free(v);

    v = make_bpe("gpt-2", 1);
    if (!v)
        return;
    n = tokenize(v, "the", JOULE_TOKENIZE_ADD_SPECIAL, ids, 64);
    CHECK(n == 3 && ids[0] == id_of(v, "<|endoftext|>"));
    joule_vocab_free(v);
}

/* Families differ in how they split digits, punctuation and newlines. */
static void test_bpe_families(void)
{
    int32_t ids[64];
    struct joule_vocab *v = make_bpe("starcoder", JOULE_VOCAB_DEFAULT_FLAG); /* every digit alone */
    if (v) {
        size_t n = tokenize(v, "123", 0, ids, 64);
        int32_t want[] = {'1', '2', '3'};
        CHECK(ids_equal(ids, n, want, 3));
        joule_vocab_free(v);
    }
    v = make_bpe("llama-bpe", JOULE_VOCAB_DEFAULT_FLAG); /* digits in threes, whole words first */
    if (v) {
        size_t n = tokenize(v, "1234", 0, ids, 64);
        int32_t want[] = {id_of(v, "123"), '4'};
        CHECK(ids_equal(ids, n, want, 2));
        CHECK(joule_vocab_add_bos(v)); /* llama3 adds BOS by default */
        CHECK_STR(joule_vocab_pre(v), "llama3");
        joule_vocab_free(v);
    }
    v = make_bpe("qwen2", 0); /* digits one by one */
    if (v) {
        size_t n = tokenize(v, "12", 0, ids, 64);
        int32_t want[] = {'1', '2'};
        CHECK(ids_equal(ids, n, want, 2));
        joule_vocab_free(v);
    }
    v = make_bpe("deepseek-coder", 0); /* newlines alone, letters, digits alone */
    if (v) {
        size_t n = tokenize(v, "ab\n12", 0, ids, 64);
        int32_t want[] = {'a', 'b', id_of(v, "\xC4\x8A") /* '\n' is U+010A */, '1', '2'};
        CHECK(ids_equal(ids, n, want, 5));
        joule_vocab_free(v);
    }
    v = make_bpe("falcon", 0); /* [0-9]{3} after the punctuation split */
    if (v) {
        size_t n = tokenize(v, "1234", 0, ids, 64);
        int32_t want[] = {id_of(v, "123"), '4'};
        CHECK(ids_equal(ids, n, want, 2));
        joule_vocab_free(v);
    }
}

/* llama.cpp's clean_up_tokenization_spaces, opt-in, only where it applies. */
static void test_clean_spaces(void)
{
    static const char text[] = "a , b 's c ' d ? x 're y 't";
    const char *pres[] = {"gpt-2", "deepseek-coder"};
    const char *want[] = {"a, b's c'd? x're y 't", text};
    for (size_t k = 0; k < 2; k++) {
        struct joule_vocab *v = make_bpe(pres[k], JOULE_VOCAB_DEFAULT_FLAG);
        if (!v)
            continue;
        int32_t ids[64];
        char out[64];
        size_t len = 0, n = tokenize(v, text, 0, ids, 64);
        CHECK(joule_detokenize(v, ids, n, JOULE_DETOKENIZE_CLEAN_SPACES, out, sizeof(out),
                               &len) == JOULE_OK);
        CHECK_STR(out, want[k]);
        CHECK(len == strlen(want[k]));
        CHECK(joule_detokenize(v, ids, n, 0, out, sizeof(out), &len) == JOULE_OK);
        CHECK_STR(out, text);
        CHECK(joule_detokenize(v, ids, n, JOULE_DETOKENIZE_CLEAN_SPACES, out, 4, &len) ==
              JOULE_ERR_INVALID);
        CHECK(len == strlen(want[k]));
        joule_vocab_free(v);
    }
}

static void test_bpe_round_trip(void)
{
    static const char *const pres[] = {"gpt-2", "llama3", "qwen2", "deepseek-llm",
                                       "deepseek-coder", "falcon", "starcoder", "default"};
    for (size_t i = 0; i < JOULE_ARRAY_LEN_T(pres); i++) {
        struct joule_vocab *v = make_bpe(pres[i], 0);
        if (!v)
            continue;
        check_round_trip(v, "hello world, he's 1234567 'LL \n\n\t x");
        check_round_trip(v, "\xC3\x84pfel \xF0\x9F\x98\x80\xE2\x80\x8D \xE4\xB8\xAD\xE6\x96\x87"
                            " \xE3\x80\x80 caf\xC3\xA9 e\xCC\x81 \xD9\xA3\xD9\xA4");
        check_round_trip(v, "   ");
        check_round_trip(v, "<|im_start|>hi<|im_start|>");
        joule_vocab_free(v);
    }
}

/* Invalid UTF-8, NULs and every byte value must tokenize without harm. */
static void test_hostile_input(void)
{
    struct joule_vocab *spm = make_spm();
    struct joule_vocab *bpe = make_bpe("deepseek-llm", 0);
    struct joule_vocab *gpt = make_bpe("gpt-2", 0);
    static const char bad[] = "\xFF\xFE\xC3\x28\xE2\x82\xF0\x9F\x98\xC0\x80\xED\xA0\x80"
                              "\xF4\x90\x80\x80\xF7\xBF\xBF\xBF\x80 a\0b\xE3\x80";
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    struct joule_vocab *vs[] = {spm, bpe, gpt};
    for (size_t k = 0; k < 3; k++) {
        if (!vs[k])
            continue;
        int32_t ids[1024];
        size_t n = 0;
        CHECK(joule_tokenize(vs[k], bad, sizeof(bad) - 1, 0, ids, 1024, &n) == JOULE_OK);
        CHECK(n > 0);
        CHECK(joule_tokenize(vs[k], all, sizeof(all), 0, ids, 1024, &n) == JOULE_OK);
        CHECK(n > 0);
        char out[4096];
        size_t len = 0;
        CHECK(joule_detokenize(vs[k], ids, n, JOULE_DETOKENIZE_RENDER_SPECIAL, out, sizeof(out),
                               &len) == JOULE_OK);
        if (k == 0) {
            /* SPM keeps every byte (byte fallback). */
            CHECK(len == 256 && memcmp(out, all, 256) == 0);
        } else {
            /* BPE, as llama.cpp: each invalid byte becomes U+FFFD first. */
            CHECK(len == 128 + 128 * 3 && memcmp(out, all, 128) == 0);
            for (size_t i = 128; i + 3 <= len; i += 3)
                CHECK(memcmp(out + i, "\xEF\xBF\xBD", 3) == 0);
        }
    }
    joule_vocab_free(spm);
    joule_vocab_free(bpe);
    joule_vocab_free(gpt);
}

static void test_buffers(void)
{
    struct joule_vocab *v = make_spm();
    if (!v)
        return;
    int32_t ids[2];
    size_t n = 99;
    /* Too small: the first ids are written, *n says how many are needed. */
    CHECK(joule_tokenize(v, "z z z", 5, 0, ids, 2, &n) == JOULE_ERR_INVALID);
    CHECK(n == 6);
    CHECK(joule_tokenize(v, "z z z", 5, 0, NULL, 0, &n) == JOULE_ERR_INVALID && n == 6);
    CHECK(joule_tokenize(v, NULL, 3, 0, ids, 2, &n) == JOULE_ERR_INVALID);
    CHECK(joule_tokenize(NULL, "a", 1, 0, ids, 2, &n) == JOULE_ERR_INVALID);
    CHECK(joule_tokenize(v, NULL, 0, 0, NULL, 0, &n) == JOULE_OK && n == 0);
    int32_t in[] = {id_of(v, SP "hello")};
    char out[4];
    size_t len = 0;
    CHECK(joule_detokenize(v, in, 1, 0, out, sizeof(out), &len) == JOULE_ERR_INVALID);
    CHECK(len == 5);
    int32_t bad[] = {-1};
    CHECK(joule_detokenize(v, bad, 1, 0, out, sizeof(out), &len) == JOULE_ERR_INVALID);
    int32_t big[] = {(int32_t)joule_vocab_n_tokens(v)};
    CHECK(joule_detokenize(v, big, 1, 0, out, sizeof(out), &len) == JOULE_ERR_INVALID);
    joule_vocab_free(v);
}

/* ---------------------------------------------------------------------------
 * Builder validation.
 */

static enum joule_status build_with(const char *model, const char *pre, const char *const *toks,
                                    size_t n, const char *const *merges, size_t nm,
                                    int32_t bos, char *err, size_t err_size)
{
    struct joule_vocab_desc d;
    struct joule_vocab *v = (struct joule_vocab *)&d; /* must be reset to NULL */
    joule_vocab_desc_init(&d);
    d.model = model;
    d.pre = pre;
    d.tokens = toks;
    d.n_tokens = n;
    d.merges = merges;
    d.n_merges = nm;
    d.bos_id = bos;
    enum joule_status st = joule_vocab_build(&d, &v, err, err_size);
    CHECK((st == JOULE_OK) == (v != NULL));
    joule_vocab_free(v);
    return st;
}

static void test_validation(void)
{
    static const char *const toks[] = {"a", "b", "ab", "<0x41>"};
    static const char *const dup[] = {"a", "b", "a"};
    static const char *const bad_utf8[] = {"a", "\xC3\x28"};
    static const char *const merges[] = {"a b"};
    static const char *const bad_merge[] = {"ab"};
    static const char *const lead_space[] = {" a"};
    char err[1024];

    CHECK(build_with("llama", NULL, toks, 4, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_OK);
    CHECK(build_with("gpt2", "gpt-2", toks, 4, merges, 1, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_OK);
    CHECK(build_with("gpt2", NULL, toks, 4, merges, 1, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_OK);

    CHECK(build_with("gpt2", "no-such-pre", toks, 4, merges, 1, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(err, "no-such-pre") && strstr(err, "deepseek-coder") && strstr(err, "qwen2"));
    CHECK(build_with("bert", NULL, toks, 4, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(err, "bert") != NULL);
    CHECK(build_with(NULL, NULL, toks, 4, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    CHECK(build_with("llama", NULL, dup, 3, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK(build_with("llama", NULL, bad_utf8, 2, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "UTF-8") != NULL);
    CHECK(build_with("llama", NULL, toks, 0, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(build_with("gpt2", "gpt-2", toks, 4, NULL, 0, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(build_with("gpt2", "gpt-2", toks, 4, bad_merge, 1, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(build_with("gpt2", "gpt-2", toks, 4, lead_space, 1, JOULE_VOCAB_DEFAULT_ID, err,
                     sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(build_with("llama", NULL, toks, 4, NULL, 0, 4, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "out of range") != NULL);
    CHECK(build_with("llama", NULL, toks, 4, NULL, 0, -5, err, sizeof(err)) == JOULE_ERR_INVALID);
    /* SPM adds BOS by default: no BOS id is an error then. */
    CHECK(build_with("llama", NULL, toks, 4, NULL, 0, JOULE_TOKEN_NULL, err, sizeof(err)) ==
          JOULE_ERR_INVALID);

    /* Types and scores. */
    struct joule_vocab_desc d;
    struct joule_vocab *v = NULL;
    int32_t types[] = {1, 1, 1, 9};
    float scores[] = {0.0f, NAN, 0.0f, 0.0f};
    joule_vocab_desc_init(&d);
    d.model = "llama";
    d.tokens = toks;
    d.n_tokens = 4;
    d.token_types = types;
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_ERR_INVALID && !v);
    types[3] = JOULE_TOKEN_BYTE; /* "<0x41>" parses */
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_OK && v);
    CHECK(joule_vocab_token_type(v, 3) == JOULE_TOKEN_BYTE);
    joule_vocab_free(v);
    v = NULL;
    types[0] = JOULE_TOKEN_BYTE; /* "a" is not <0xHH> */
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_ERR_INVALID && !v);
    types[0] = 1;
    d.scores = scores;
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_ERR_INVALID && !v);
    CHECK(joule_vocab_build(NULL, &v, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(joule_vocab_build(&d, NULL, err, sizeof(err)) == JOULE_ERR_INVALID);

    /* Empty token texts become [EMPTY_<id>] as in llama.cpp. */
    static const char *const empty[] = {"a", "", "b"};
    d.tokens = empty;
    d.n_tokens = 3;
    d.scores = NULL;
    d.token_types = NULL;
    CHECK(joule_vocab_build(&d, &v, err, sizeof(err)) == JOULE_OK);
    if (v) {
        size_t len = 0;
        const char *t = joule_vocab_token_text(v, 1, &len);
        CHECK(t && len == 9 && memcmp(t, "[EMPTY_1]", 9) == 0);
        CHECK(joule_vocab_token_text(v, 3, &len) == NULL);
        joule_vocab_free(v);
    }
    joule_vocab_free(NULL);
}

/* ---------------------------------------------------------------------------
 * GGUF loader, on files written in memory with the model module's writer.
 */

/* What to put into a synthesized vocab GGUF. */
struct gguf_spec {
    const char *model;            /* NULL: no tokenizer.ggml.model */
    const char *pre;              /* NULL: no key */
    bool tokens_as_u32;           /* tokens key with the wrong type */
    size_t n_scores;              /* 0: no key */
    bool scores_f64;              /* scores with the wrong element type */
    bool with_types;
    uint32_t bos_id;              /* UINT32_MAX: no key */
    bool add_bos_as_u8;           /* add_bos_token with the wrong type */
    const char *name;             /* general.name, or NULL */
};

static const char *const g_tokens[] = {"<unk>", "<s>", "</s>", SP, "a", "b", SP "a", "ab",
                                       "<0x41>", "<0x42>"};
#define G_N 10

static enum joule_status load_spec(const struct gguf_spec *sp, struct joule_vocab **v,
                                   char *err, size_t err_size)
{
    static const char *const merges[] = {"a b"};
    struct joule_gguf_writer *w = NULL;
    uint8_t *buf = NULL;
    size_t size = 0;
    struct joule_gguf *g = NULL;
    float scores[G_N] = {0, 0, 0, -1, -2, -2, -1.5f, -3, 0, 0};
    double scores64[G_N] = {0};
    int32_t types[G_N] = {2, 3, 3, 1, 1, 1, 1, 1, 6, 6};
    uint32_t u32s[G_N] = {0};
    *v = NULL;
    CHECK(joule_gguf_writer_open(&w) == JOULE_OK);
    if (!w)
        return JOULE_ERR_NOMEM;
    CHECK(joule_gguf_writer_set_str(w, "general.architecture", "llama") == JOULE_OK);
    if (sp->name)
        CHECK(joule_gguf_writer_set_str(w, "general.name", sp->name) == JOULE_OK);
    if (sp->model)
        CHECK(joule_gguf_writer_set_str(w, "tokenizer.ggml.model", sp->model) == JOULE_OK);
    if (sp->pre)
        CHECK(joule_gguf_writer_set_str(w, "tokenizer.ggml.pre", sp->pre) == JOULE_OK);
    if (sp->tokens_as_u32)
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_UINT32,
                                          u32s, G_N) == JOULE_OK);
    else
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_STRING,
                                          g_tokens, G_N) == JOULE_OK);
    if (sp->n_scores && sp->scores_f64)
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.scores", JOULE_GGUF_TYPE_FLOAT64,
                                          scores64, sp->n_scores) == JOULE_OK);
    else if (sp->n_scores)
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.scores", JOULE_GGUF_TYPE_FLOAT32,
                                          scores, sp->n_scores) == JOULE_OK);
    if (sp->with_types)
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.token_type", JOULE_GGUF_TYPE_INT32,
                                          types, G_N) == JOULE_OK);
    if (sp->model && strcmp(sp->model, "gpt2") == 0)
        CHECK(joule_gguf_writer_set_array(w, "tokenizer.ggml.merges", JOULE_GGUF_TYPE_STRING,
                                          merges, 1) == JOULE_OK);
    if (sp->bos_id != UINT32_MAX)
        CHECK(joule_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", sp->bos_id) ==
              JOULE_OK);
    CHECK(joule_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) == JOULE_OK);
    if (sp->add_bos_as_u8)
        CHECK(joule_gguf_writer_set_u8(w, "tokenizer.ggml.add_bos_token", 1) == JOULE_OK);
    else
        CHECK(joule_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true) == JOULE_OK);
    CHECK(joule_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true) == JOULE_OK);
    CHECK(joule_gguf_writer_write_buffer(w, &buf, &size) == JOULE_OK);
    joule_gguf_writer_close(w);
    enum joule_status st = JOULE_ERR_IO;
    if (buf && joule_gguf_open_buffer(buf, size, &g, err, err_size) == JOULE_OK) {
        st = joule_vocab_from_gguf(g, v, err, err_size);
        joule_gguf_close(g); /* the vocabulary must not need the file any more */
    }
    free(buf);
    return st;
}

static void test_gguf_loader(void)
{
    struct gguf_spec good = {"llama", NULL, false, G_N, false, true, 1, false, NULL};
    struct joule_vocab *v = NULL;
    char err[512];
    CHECK(load_spec(&good, &v, err, sizeof(err)) == JOULE_OK);
    if (v) {
        int32_t ids[16];
        size_t n = tokenize(v, "ab", JOULE_TOKENIZE_ADD_SPECIAL, ids, 16);
        /* BOS, "▁a" (score -1.5 beats "ab" at -3), "b", EOS */
        int32_t want[] = {1, 6, 5, 2};
        CHECK(ids_equal(ids, n, want, 4));
        n = tokenize(v, "A", 0, ids, 16); /* byte fallback to <0x41> */
        int32_t want2[] = {3, 8};
        CHECK(ids_equal(ids, n, want2, 2));
        CHECK(joule_vocab_eos(v) == 2 && joule_vocab_unk(v) == 0 && joule_vocab_add_eos(v));
        CHECK(joule_vocab_token_score(v, 7) == -3.0f);
        CHECK(joule_vocab_token_type(v, 8) == JOULE_TOKEN_BYTE);
        joule_vocab_free(v);
    }

    struct gguf_spec s = good;
    s.model = NULL;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_NOT_FOUND && !v);
    s = good;
    s.model = "bert";
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_UNSUPPORTED && !v);
    CHECK(strstr(err, "bert") != NULL);
    s = good;
    s.model = "gpt2";
    s.pre = "klingon";
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_UNSUPPORTED && !v);
    CHECK(strstr(err, "klingon") && strstr(err, "starcoder"));
    s.pre = "refact";
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_OK && v);
    if (v) {
        CHECK_STR(joule_vocab_pre(v), "starcoder"); /* same regexes */
        CHECK(joule_vocab_kind(v) == JOULE_VOCAB_BPE);
        joule_vocab_free(v);
        v = NULL;
    }
    s = good;
    s.tokens_as_u32 = true;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_FORMAT && !v);
    s = good;
    s.n_scores = G_N - 1;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_FORMAT && !v);
    s = good;
    s.scores_f64 = true;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_FORMAT && !v);
    s = good;
    s.add_bos_as_u8 = true;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_ERR_FORMAT && !v);
    /* An out-of-range special id is ignored (llama.cpp): the default stands. */
    s = good;
    s.bos_id = 999;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_OK && v);
    if (v) {
        CHECK(joule_vocab_bos(v) == 1);
        joule_vocab_free(v);
        v = NULL;
    }
    /* No scores, no types: every token NORMAL with score 0 still works. */
    s = good;
    s.n_scores = 0;
    s.with_types = false;
    CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_OK && v);
    if (v) {
        CHECK(joule_vocab_token_type(v, 8) == JOULE_TOKEN_NORMAL);
        joule_vocab_free(v);
    }
    CHECK(joule_vocab_from_gguf(NULL, &v, err, sizeof(err)) == JOULE_ERR_INVALID && !v);

    /* Phi-3 by name: whitespace after special tokens (but <s>) is dropped. */
    const char *names[] = {"Some Model", "Phi-3 mini"};
    size_t counts[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        s = good;
        s.name = names[k];
        v = NULL;
        CHECK(load_spec(&s, &v, err, sizeof(err)) == JOULE_OK && v);
        if (!v)
            continue;
        int32_t ids[16];
        counts[k] = tokenize(v, "a</s>  b<s> a", JOULE_TOKENIZE_PARSE_SPECIAL, ids, 16);
        joule_vocab_free(v);
    }
    /* plain: ▁a </s> ▁ ▁ ▁ b <s> ▁ ▁a; phi-3: ▁a </s> ▁ b <s> ▁ ▁a */
    CHECK(counts[0] == 9 && counts[1] == 7);
}

/* ---------------------------------------------------------------------------
 * Real vocabularies and llama.cpp's test vectors.
 */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* Cuts .inp into cases (llama.cpp's test-tokenizer-0 rule). */
static size_t split_cases(char *inp, size_t len, char **cases, size_t *lens, size_t max)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t n = 0, off = 0, sl = sizeof(sep) - 1;
    while (n < max) {
        char *m = NULL;
        for (size_t i = off; i + sl <= len; i++) {
            if (memcmp(inp + i, sep, sl) == 0) {
                m = inp + i;
                break;
            }
        }
        if (!m) {
            if (len > off) {
                cases[n] = inp + off;
                lens[n++] = len - off;
            }
            break;
        }
        cases[n] = inp + off;
        lens[n++] = (size_t)(m - (inp + off));
        off = (size_t)(m - inp) + sl;
    }
    return n;
}

/* One line of .out: ids separated by spaces. */
static size_t parse_ids(const char *line, size_t len, int32_t *ids, size_t max)
{
    size_t n = 0, i = 0;
    while (i < len && n < max) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i >= len)
            break;
        long v = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9')
            v = v * 10 + (line[i++] - '0');
        ids[n++] = (int32_t)v;
        while (i < len && line[i] != ' ')
            i++;
    }
    return n;
}

/* detokenize(ids) == text. */
static bool round_trips(const struct joule_vocab *v, const int32_t *ids, size_t n,
                        const char *text, size_t len)
{
    char *back = malloc(4 * len + 16);
    size_t m = 0;
    bool ok = back && joule_detokenize(v, ids, n, 0, back, 4 * len + 16, &m) == JOULE_OK &&
              m == len && memcmp(back, text, len) == 0;
    if (!ok && back && getenv("JOULE_TOKENIZER_VERBOSE"))
        fprintf(stderr, "  round trip \"%.*s\" -> \"%.*s\"\n", (int)len, text, (int)m, back);
    free(back);
    return ok;
}

#define MAX_CASES 128
#define MAX_IDS 4096

/* Runs one family; returns false if it could not run (missing files). */
static bool run_family(const char *dir, const char *name, int *passed, int *total, int *trips)
{
    char path[1200], err[512];
    size_t inp_len = 0, out_len = 0;
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = read_file(path, &inp_len);
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *out = read_file(path, &out_len);
    bool own_vectors = inp && out;
    if (!own_vectors) {
        /* No expected ids: still load it and round-trip gpt-2's inputs. */
        free(inp);
        free(out);
        snprintf(path, sizeof(path), "%s/ggml-vocab-gpt-2.gguf.inp", dir);
        inp = read_file(path, &inp_len);
        out = calloc(1, 1);
    }
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf", dir, name);
    struct joule_gguf *g = NULL;
    struct joule_vocab *v = NULL;
    *passed = *total = *trips = 0;
    if (!inp || !out || joule_gguf_open_file(path, &g, err, sizeof(err)) != JOULE_OK) {
        free(inp);
        free(out);
        return false;
    }
    enum joule_status st = joule_vocab_from_gguf(g, &v, err, sizeof(err));
    joule_gguf_close(g);
    if (st != JOULE_OK) {
        printf("tokenizer %-16s unsupported: %s\n", name, err);
        free(inp);
        free(out);
        return true;
    }
    char *cases[MAX_CASES];
    size_t lens[MAX_CASES];
    size_t n = split_cases(inp, inp_len, cases, lens, MAX_CASES);
    int32_t *want = malloc(MAX_IDS * sizeof(int32_t));
    int32_t *got = malloc(MAX_IDS * sizeof(int32_t));
    const char *line = out;
    for (size_t c = 0; c < n && want && got; c++) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        size_t nw = parse_ids(line, ll, want, MAX_IDS);
        line = eol ? eol + 1 : line + ll;
        size_t ng = 0;
        st = joule_tokenize(v, cases[c], lens[c], 0, got, MAX_IDS, &ng);
        (*total)++;
        if (st == JOULE_OK && round_trips(v, got, ng, cases[c], lens[c]))
            (*trips)++;
        if (st == JOULE_OK && !own_vectors)
            continue;
        if (st == JOULE_OK && ids_equal(got, ng, want, nw)) {
            (*passed)++;
        } else if (getenv("JOULE_TOKENIZER_VERBOSE")) {
            fprintf(stderr, "  %s case %zu \"%.*s\":\n    want", name, c, (int)lens[c], cases[c]);
            for (size_t i = 0; i < nw; i++)
                fprintf(stderr, " %d", (int)want[i]);
            fprintf(stderr, "\n    got ");
            for (size_t i = 0; i < ng && i < MAX_IDS; i++)
                fprintf(stderr, " %d", (int)got[i]);
            fprintf(stderr, "\n");
        }
    }
    if (strcmp(name, "phi-3") == 0 && got) {
        /* llama.cpp's Phi-3 RSTRIP: the newlines after chat tokens go. */
        static const char chat[] = "<|user|>\nHi<|end|>\n<|assistant|>";
        static const int32_t chat_ids[] = {32010, 6324, 32007, 32001};
        size_t ng = 0;
        CHECK(joule_tokenize(v, chat, sizeof(chat) - 1, JOULE_TOKENIZE_PARSE_SPECIAL, got,
                             MAX_IDS, &ng) == JOULE_OK);
        CHECK(ids_equal(got, ng, chat_ids, 4));
    }
    free(want);
    free(got);
    joule_vocab_free(v);
    free(inp);
    free(out);
    if (!own_vectors)
        *passed = -1;
    return true;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Families with a .gguf and vectors; bert-bge (WPM) is reported unsupported. */
static void test_real_vectors(void)
{
    const char *root = getenv("JOULE_SHARED_TESTDATA");
    if (!root || !root[0]) {
        printf("skipped: real tokenizer vectors (JOULE_SHARED_TESTDATA is not set)\n");
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/tokenizer", root);
    DIR *d = opendir(dir);
    if (!d) {
        printf("skipped: real tokenizer vectors (%s not found)\n", dir);
        return;
    }
    struct dirent *e;
    char names[64][64];
    size_t nn = 0;
    while ((e = readdir(d)) != NULL && nn < 64) {
        const char *s = e->d_name;
        size_t l = strlen(s);
        if (l > 15 && strncmp(s, "ggml-vocab-", 11) == 0 && strcmp(s + l - 5, ".gguf") == 0 &&
            l - 16 < sizeof(names[0])) {
            memcpy(names[nn], s + 11, l - 16);
            names[nn++][l - 16] = '\0';
        }
    }
    closedir(d);
    qsort(names, nn, sizeof(names[0]), cmp_name);
    int families = 0;
    for (size_t i = 0; i < nn; i++) {
        int passed = 0, total = 0, trips = 0;
        if (!run_family(dir, names[i], &passed, &total, &trips))
            continue; /* unreadable: nothing to report */
        if (total == 0)
            continue; /* unsupported, already reported */
        if (passed < 0) { /* loaded, but no vectors of its own */
            printf("tokenizer %-16s no vectors; %d/%d round trips of gpt-2's inputs\n",
                   names[i], trips, total);
            CHECK(trips == total);
            continue;
        }
        families++;
        printf("tokenizer %-16s %d/%d cases pass, %d/%d round trips\n", names[i], passed, total,
               trips, total);
        CHECK(passed == total);
        CHECK(trips == total);
    }
    CHECK(families > 0);
}

int main(void)
{
    RUN(test_spm_merges);
    RUN(test_spm_special);
    RUN(test_spm_strip);
    RUN(test_spm_round_trip);
    RUN(test_bpe_merges);
    RUN(test_bpe_families);
    RUN(test_bpe_round_trip);
    RUN(test_clean_spaces);
    RUN(test_hostile_input);
    RUN(test_buffers);
    RUN(test_validation);
    RUN(test_gguf_loader);
    RUN(test_real_vectors);
    TEST_MAIN_END();
}
