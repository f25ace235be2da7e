/*
 * vocab.c - validating and indexing a vocabulary; the pre-tokenizer table.
 *
 * Token texts and merges are copied into two arenas and indexed by
 * open-addressing hash tables (FNV-1a).  The pre-tokenizer regexes are
 * compiled once here with PCRE2 (UTF + UCP) and only read afterwards.
 */
#include "vocab.h"

#include "alloc.h"
#include "joule_int.h"
#include "unicode.h"
#include "vocab_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Pre-tokenizers.  The regexes are llama.cpp's (src/llama-vocab.cpp,
 * llm_tokenizer_bpe), applied in order: each one splits every piece the
 * previous ones left, and text between matches stays a piece of its own.
 * Written in PCRE2 syntax; \s and \S are rewritten at compile time (see
 * translate_regex) to llama.cpp's whitespace set.
 */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                             \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                            \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN35                                                                        \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"                      \
                    "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK Unified Ideographs (to U+9FA5), U+0800..U+4E00, Hangul syllables and Jamo. */
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* deepseek-llm's letter class: the cased letters of many scripts, as ranges. */
#define RE_DEEPSEEK_LETTERS                                                                     \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"         \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"      \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"               \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}" \
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"             \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"             \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"     \
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"    \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"             \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"     \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}"     \
    "\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"               \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"              \
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"             \
    "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"             \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"         \
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"     \
    "\\x{1E900}-\\x{1E943}]+"
/* Matched natively by tokenizer.c (see vocab_int.h). */
#define RE_TRAILING_SPACE "\\s+$"
#define RE_DEEPSEEK_PUNCT \
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"

static const char *const alias_none[] = {NULL};
static const char *const alias_llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", NULL};
static const char *const alias_gpt2[] = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat",
                                         "jina-v2-es", "jina-v2-de", "a.x-4.0", "exaone4",
                                         "mellum", "modern-bert", NULL};
static const char *const alias_mpt[] = {"mpt", "olmo", NULL};
static const char *const alias_starcoder[] = {"starcoder", "refact", "command-r", "smollm",
                                              "codeshell", "exaone", "minerva-7b", NULL};
static const char *const alias_qwen2[] = {"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez",
                                          NULL};
static const char *const alias_dbrx[] = {"dbrx", "smaug-bpe", NULL};

static const struct vocab_pre_family pre_families[] = {
    {"default", alias_none,
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL}, false, false},
    {"llama3", alias_llama3, {RE_LLAMA3, NULL}, true, true},
    {"dbrx", alias_dbrx, {RE_LLAMA3, NULL}, false, false},
    {"gpt-2", alias_gpt2, {RE_GPT2, NULL}, false, false},
    {"mpt", alias_mpt, {RE_GPT2, NULL}, false, false},
    {"starcoder", alias_starcoder, {"\\p{N}", RE_GPT2, NULL}, false, false},
    {"falcon", alias_none,
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL}, false, false},
    {"deepseek-llm", alias_none,
     {"[\\r\\n]", RE_DEEPSEEK_LETTERS, RE_DEEPSEEK_PUNCT, RE_TRAILING_SPACE, RE_CJK, "\\p{N}+",
      NULL},
     false, false},
    {"deepseek-coder", alias_none,
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}", NULL}, false, false},
    {"qwen2", alias_qwen2, {RE_QWEN2, NULL}, false, false},
    {"qwen35", alias_none, {RE_QWEN35, NULL}, false, false},
};

const char *joule_vocab_supported_pre(void)
{
    return "default, llama3 (llama-v3, llama-bpe, falcon3), dbrx (smaug-bpe), gpt-2 (phi-2, "
           "jina-es, jina-de, gigachat, jina-v2-es, jina-v2-de, a.x-4.0, exaone4, mellum, "
           "modern-bert), mpt (olmo), "
           "starcoder (refact, command-r, smollm, codeshell, exaone, minerva-7b), falcon, "
           "deepseek-llm, deepseek-coder, qwen2 (deepseek-r1-qwen, stablelm2, megrez), qwen35";
}

/* Pre-tokenizer names for which llama.cpp turns clean_spaces off (BPE has
 * it on by default, SPM off). */
static const char *const no_clean_spaces[] = {"deepseek-llm", "deepseek-coder", "qwen2",
                                              "deepseek-r1-qwen", "qwen35", "command-r",
                                              "smollm"};

static bool pre_cleans_spaces(const char *name)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(no_clean_spaces); i++) {
        if (strcmp(no_clean_spaces[i], name) == 0)
            return false;
    }
    return true;
}

static const struct vocab_pre_family *find_pre(const char *name)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(pre_families); i++) {
        const struct vocab_pre_family *f = &pre_families[i];
        if (strcmp(f->name, name) == 0)
            return f;
        for (const char *const *a = f->aliases; *a; a++) {
            if (strcmp(*a, name) == 0)
                return f;
        }
    }
    return NULL;
}

/*
 * llama.cpp's whitespace (the Unicode White_Space set) reaches its regexes
 * as ASCII: every non-ASCII whitespace code point is replaced by \v before
 * matching (tokenizer.c does the same), so \s is exactly [\t-\r ] here.
 * PCRE2's own \s would differ on U+180E and friends.
 */
#define WS_CLASS_BODY "\\t-\\r\\x20"

/* Writes the rewritten pattern into out[cap]; false if it does not fit or
 * uses \S inside a class (no family does). */
static bool translate_regex(const char *re, char *out, size_t cap)
{
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; re[i]; i++) {
        const char *piece = NULL;
        char one[3] = {re[i], 0, 0};
        if (re[i] == '\\' && re[i + 1]) {
            char c = re[i + 1];
            if (c == 's')
                piece = in_class ? WS_CLASS_BODY : "[" WS_CLASS_BODY "]";
            else if (c == 'S' && !in_class)
                piece = "[^" WS_CLASS_BODY "]";
            else if (c == 'S')
                return false;
            else
                one[1] = c;
            i++;
        } else if (re[i] == '[' && !in_class) {
            in_class = true;
        } else if (re[i] == ']' && in_class) {
            in_class = false;
        }
        if (!piece)
            piece = one;
        size_t n = strlen(piece);
        if (o + n >= cap)
            return false;
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = '\0';
    return true;
}

static enum joule_status compile_pre(struct joule_vocab *v, char *err, size_t err_size)
{
    char buf[4096];
    for (size_t i = 0; i < VOCAB_MAX_REGEX && v->pre->regex[i]; i++) {
        int code;
        PCRE2_SIZE at;
        v->n_re = i + 1;
        if (strcmp(v->pre->regex[i], RE_TRAILING_SPACE) == 0)
            continue; /* re[i] stays NULL */
        if (!translate_regex(v->pre->regex[i], buf, sizeof(buf))) {
            joule_fmt(err, err_size, "pre-tokenizer %s: regex %zu cannot be translated",
                      v->pre->name, i);
            return JOULE_ERR_INVALID;
        }
        v->re[i] = pcre2_compile((PCRE2_SPTR)buf, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &at, NULL);
        if (!v->re[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof(msg));
            joule_fmt(err, err_size, "pre-tokenizer %s: regex %zu at %zu: %s", v->pre->name, i,
                      (size_t)at, (const char *)msg);
            return JOULE_ERR_INVALID;
        }
    }
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * Hashing.
 */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_SEED 0xcbf29ce484222325ull

/* Power-of-two table size with load <= 1/2; 0 on overflow. */
static size_t table_size(size_t n)
{
    size_t s = 16;
    while (s < n * 2) {
        if (s > SIZE_MAX / 4)
            return 0;
        s *= 2;
    }
    return s;
}

int32_t joule_vocab_find(const struct joule_vocab *v, const char *text, size_t len)
{
    if (!v || (!text && len))
        return JOULE_TOKEN_NULL;
    size_t h = (size_t)fnv1a(FNV_SEED, text, len) & v->tok_mask;
    for (;;) {
        uint32_t e = v->tok_index[h];
        if (e == 0)
            return JOULE_TOKEN_NULL;
        const struct vocab_token *t = &v->tok[e - 1];
        if (t->len == len && memcmp(v->text + t->off, text, len) == 0)
            return (int32_t)(e - 1);
        h = (h + 1) & v->tok_mask;
    }
}

static uint64_t merge_hash(const char *l, size_t ll, const char *r, size_t rl)
{
    uint64_t h = fnv1a(FNV_SEED, l, ll);
    h = fnv1a(h, " ", 1);
    return fnv1a(h, r, rl);
}

int32_t vocab_merge_rank(const struct joule_vocab *v, const char *left, size_t left_len,
                         const char *right, size_t right_len)
{
    if (v->n_merges == 0)
        return -1;
    size_t h = (size_t)merge_hash(left, left_len, right, right_len) & v->merge_mask;
    for (;;) {
        uint32_t e = v->merge_index[h];
        if (e == 0)
            return -1;
        const struct vocab_merge *m = &v->merge[e - 1];
        const char *mt = v->merge_text + m->off;
        if (m->left_len == left_len && m->right_len == right_len &&
            memcmp(mt, left, left_len) == 0 && memcmp(mt + left_len + 1, right, right_len) == 0)
            return (int32_t)(e - 1);
        h = (h + 1) & v->merge_mask;
    }
}

/* ---------------------------------------------------------------------------
 * Building.
 */

void joule_vocab_desc_init(struct joule_vocab_desc *d)
{
    memset(d, 0, sizeof(*d));
    d->bos_id = JOULE_VOCAB_DEFAULT_ID;
    d->eos_id = JOULE_VOCAB_DEFAULT_ID;
    d->unk_id = JOULE_VOCAB_DEFAULT_ID;
    d->pad_id = JOULE_VOCAB_DEFAULT_ID;
    d->add_bos = JOULE_VOCAB_DEFAULT_FLAG;
    d->add_eos = JOULE_VOCAB_DEFAULT_FLAG;
    d->add_space_prefix = JOULE_VOCAB_DEFAULT_FLAG;
}

static size_t token_len(const struct joule_vocab_desc *d, size_t i)
{
    return d->token_lens ? d->token_lens[i] : strlen(d->tokens[i]);
}

/* "<0xHH>" with upper-case or lower-case hex: the byte, else -1. */
static int parse_byte_token(const char *s, size_t n)
{
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Checks the score, type and strip bits of token i; parses BYTE tokens. */
static enum joule_status check_token(struct joule_vocab *v, size_t i, char *err, size_t err_size)
{
    struct vocab_token *t = &v->tok[i];
    if (t->strip & ~(JOULE_TOKEN_LSTRIP | JOULE_TOKEN_RSTRIP)) {
        joule_fmt(err, err_size, "token %zu has strip bits 0x%x (valid: 0..3)", i,
                  (unsigned)t->strip);
        return JOULE_ERR_INVALID;
    }
    if (isnan(t->score)) {
        joule_fmt(err, err_size, "token %zu has a NaN score", i);
        return JOULE_ERR_INVALID;
    }
    if (t->type < JOULE_TOKEN_UNDEFINED || t->type > JOULE_TOKEN_BYTE) {
        joule_fmt(err, err_size, "token %zu has type %d (valid: 0..6)", i, (int)t->type);
        return JOULE_ERR_INVALID;
    }
    if (t->type == JOULE_TOKEN_BYTE) {
        int b = parse_byte_token(v->text + t->off, t->len);
        if (b < 0) {
            joule_fmt(err, err_size, "token %zu has type BYTE but its text is not <0xHH>", i);
            return JOULE_ERR_INVALID;
        }
        t->byte = (int16_t)b;
    }
    return JOULE_OK;
}

/* Copies token texts into the arena (empty ones become "[EMPTY_<id>]"). */
static enum joule_status copy_tokens(struct joule_vocab *v, const struct joule_vocab_desc *d,
                                     char *err, size_t err_size)
{
    size_t total = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        if (!d->tokens[i]) {
            joule_fmt(err, err_size, "token %zu is NULL", i);
            return JOULE_ERR_INVALID;
        }
        size_t n = token_len(d, i);
        if (n > JOULE_VOCAB_MAX_TOKEN_BYTES) {
            joule_fmt(err, err_size, "token %zu is %zu bytes long (limit %u)", i, n,
                      JOULE_VOCAB_MAX_TOKEN_BYTES);
            return JOULE_ERR_INVALID;
        }
        if (!joule_utf8_valid((const uint8_t *)d->tokens[i], n)) {
            joule_fmt(err, err_size, "token %zu is not valid UTF-8", i);
            return JOULE_ERR_INVALID;
        }
        /* Room for "[EMPTY_16777215]" in case it is empty, and a NUL. */
        total += (n ? n : 24) + 1;
        if (total > UINT32_MAX) {
            joule_fmt(err, err_size, "token texts exceed 4 GiB");
            return JOULE_ERR_INVALID;
        }
    }
    v->text = malloc(total ? total : 1);
    v->tok = joule_calloc(d->n_tokens, sizeof(*v->tok));
    if (!v->text || !v->tok)
        return JOULE_ERR_NOMEM;
    size_t off = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        size_t n = token_len(d, i);
        struct vocab_token *t = &v->tok[i];
        t->off = (uint32_t)off;
        if (n == 0) {
            joule_fmt(v->text + off, 24, "[EMPTY_%zu]", i);
            n = strlen(v->text + off);
        } else {
            memcpy(v->text + off, d->tokens[i], n);
            v->text[off + n] = '\0';
        }
        t->len = (uint32_t)n;
        t->score = d->scores ? d->scores[i] : 0.0f;
        t->type = d->token_types ? d->token_types[i] : JOULE_TOKEN_NORMAL;
        t->byte = -1;
        t->strip = d->token_strip ? d->token_strip[i] : 0;
        off += n + 1;
        enum joule_status st = check_token(v, i, err, err_size);
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

static enum joule_status index_tokens(struct joule_vocab *v, char *err, size_t err_size)
{
    size_t size = table_size(v->n_tokens);
    if (!size)
        return JOULE_ERR_NOMEM;
    v->tok_index = joule_calloc(size, sizeof(uint32_t));
    if (!v->tok_index)
        return JOULE_ERR_NOMEM;
    v->tok_mask = size - 1;
    for (size_t i = 0; i < v->n_tokens; i++) {
        const struct vocab_token *t = &v->tok[i];
        const char *s = v->text + t->off;
        size_t h = (size_t)fnv1a(FNV_SEED, s, t->len) & v->tok_mask;
        while (v->tok_index[h]) {
            const struct vocab_token *o = &v->tok[v->tok_index[h] - 1];
            if (o->len == t->len && memcmp(v->text + o->off, s, t->len) == 0) {
                joule_fmt(err, err_size, "duplicate token \"%.64s\": ids %u and %zu", s,
                          v->tok_index[h] - 1, i);
                return JOULE_ERR_INVALID;
            }
            h = (h + 1) & v->tok_mask;
        }
        v->tok_index[h] = (uint32_t)(i + 1);
    }
    return JOULE_OK;
}

static size_t merge_len(const struct joule_vocab_desc *d, size_t i)
{
    return d->merge_lens ? d->merge_lens[i] : strlen(d->merges[i]);
}

/* Merge "left right": split at the first space after the first byte, as
 * llama.cpp does; the rank of a repeated pair is its first position. */
static enum joule_status index_merges(struct joule_vocab *v, const struct joule_vocab_desc *d,
                                      char *err, size_t err_size)
{
    size_t total = 0;
    for (size_t i = 0; i < d->n_merges; i++) {
        if (!d->merges[i]) {
            joule_fmt(err, err_size, "merge %zu is NULL", i);
            return JOULE_ERR_INVALID;
        }
        size_t n = merge_len(d, i);
        if (n > 2 * JOULE_VOCAB_MAX_TOKEN_BYTES + 1) {
            joule_fmt(err, err_size, "merge %zu is %zu bytes long", i, n);
            return JOULE_ERR_INVALID;
        }
        total += n + 1;
        if (total > UINT32_MAX) {
            joule_fmt(err, err_size, "merge texts exceed 4 GiB");
            return JOULE_ERR_INVALID;
        }
    }
    size_t size = table_size(d->n_merges);
    if (!size)
        return JOULE_ERR_NOMEM;
    v->merge_text = malloc(total ? total : 1);
    v->merge = joule_calloc(d->n_merges ? d->n_merges : 1, sizeof(*v->merge));
    v->merge_index = joule_calloc(size, sizeof(uint32_t));
    if (!v->merge_text || !v->merge || !v->merge_index)
        return JOULE_ERR_NOMEM;
    v->merge_mask = size - 1;
    size_t off = 0;
    for (size_t i = 0; i < d->n_merges; i++) {
        const char *s = d->merges[i];
        size_t n = merge_len(d, i);
        const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp || (size_t)(sp - s) + 1 >= n) {
            joule_fmt(err, err_size, "merge %zu (\"%.64s\") is not \"left right\"", i, s);
            return JOULE_ERR_INVALID;
        }
        struct vocab_merge *m = &v->merge[i];
        m->off = (uint32_t)off;
        m->left_len = (uint32_t)(sp - s);
        m->right_len = (uint32_t)(n - m->left_len - 1);
        memcpy(v->merge_text + off, s, n);
        v->merge_text[off + n] = '\0';
        off += n + 1;
        v->n_merges = i + 1;
        const char *l = v->merge_text + m->off;
        const char *r = l + m->left_len + 1;
        if (vocab_merge_rank(v, l, m->left_len, r, m->right_len) >= 0)
            continue; /* repeated pair: the first rank stands */
        size_t h = (size_t)merge_hash(l, m->left_len, r, m->right_len) & v->merge_mask;
        while (v->merge_index[h])
            h = (h + 1) & v->merge_mask;
        v->merge_index[h] = (uint32_t)(i + 1);
    }
    return JOULE_OK;
}

/* Resolves one special id: explicit ids must be in range; a default that
 * is not (a tiny test vocabulary) becomes JOULE_TOKEN_NULL, as in llama.cpp. */
static enum joule_status resolve_id(const char *what, int32_t given, int32_t dflt, size_t n,
                                    int32_t *out, char *err, size_t err_size)
{
    if (given == JOULE_VOCAB_DEFAULT_ID) {
        *out = (dflt >= 0 && (size_t)dflt < n) ? dflt : JOULE_TOKEN_NULL;
        return JOULE_OK;
    }
    if (given == JOULE_TOKEN_NULL || (given >= 0 && (size_t)given < n)) {
        *out = given;
        return JOULE_OK;
    }
    joule_fmt(err, err_size, "%s token id %d is out of range (vocabulary has %zu tokens)", what,
              (int)given, n);
    return JOULE_ERR_INVALID;
}

static enum joule_status resolve_specials(struct joule_vocab *v, const struct joule_vocab_desc *d,
                                          char *err, size_t err_size)
{
    bool spm = v->kind == JOULE_VOCAB_SPM;
    /* llama.cpp's defaults: SPM 1/2/0; gpt2 BOS = EOS = 11, no UNK. */
    int32_t dbos = spm ? 1 : 11, deos = spm ? 2 : 11, dunk = spm ? 0 : JOULE_TOKEN_NULL;
    size_t n = v->n_tokens;
    enum joule_status st = resolve_id("bos", d->bos_id, dbos, n, &v->bos, err, err_size);
    if (st == JOULE_OK)
        st = resolve_id("eos", d->eos_id, deos, n, &v->eos, err, err_size);
    if (st == JOULE_OK)
        st = resolve_id("unk", d->unk_id, dunk, n, &v->unk, err, err_size);
    if (st == JOULE_OK)
        st = resolve_id("pad", d->pad_id, JOULE_TOKEN_NULL, n, &v->pad, err, err_size);
    if (st != JOULE_OK)
        return st;

    bool dflt_bos = spm ? true : v->pre->add_bos;
    v->add_bos = d->add_bos == JOULE_VOCAB_DEFAULT_FLAG ? dflt_bos : d->add_bos != 0;
    v->add_eos = d->add_eos == JOULE_VOCAB_DEFAULT_FLAG ? false : d->add_eos != 0;
    if (d->add_space_prefix == JOULE_VOCAB_DEFAULT_FLAG)
        v->add_space_prefix = spm;
    else
        v->add_space_prefix = d->add_space_prefix != 0;
    if (v->add_space_prefix && !spm) {
        joule_fmt(err, err_size, "add_space_prefix is only supported for SPM (llama) vocabularies");
        return JOULE_ERR_UNSUPPORTED;
    }
    if (v->add_bos && v->bos == JOULE_TOKEN_NULL) {
        joule_fmt(err, err_size, "add_bos is true but there is no bos token id");
        return JOULE_ERR_INVALID;
    }
    if (v->add_eos && v->eos == JOULE_TOKEN_NULL) {
        joule_fmt(err, err_size, "add_eos is true but there is no eos token id");
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

/* Sorting context-free: qsort cannot pass v, so sort (length, id) pairs. */
struct special_key {
    uint32_t len;
    int32_t id;
};

static int cmp_special(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1; /* longest first */
    return (x->id > y->id) - (x->id < y->id);
}

static enum joule_status collect_specials(struct joule_vocab *v)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_tokens; i++) {
        int32_t t = v->tok[i].type;
        if (t == JOULE_TOKEN_CONTROL || t == JOULE_TOKEN_USER_DEFINED || t == JOULE_TOKEN_UNKNOWN)
            n++;
    }
    if (n == 0)
        return JOULE_OK;
    struct special_key *keys = joule_calloc(n, sizeof(*keys));
    v->special = joule_calloc(n, sizeof(int32_t));
    if (!keys || !v->special) {
        free(keys);
        return JOULE_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < v->n_tokens; i++) {
        int32_t t = v->tok[i].type;
        if (t == JOULE_TOKEN_CONTROL || t == JOULE_TOKEN_USER_DEFINED || t == JOULE_TOKEN_UNKNOWN)
            keys[k++] = (struct special_key){v->tok[i].len, (int32_t)i};
    }
    qsort(keys, n, sizeof(*keys), cmp_special);
    for (size_t i = 0; i < n; i++)
        v->special[i] = keys[i].id;
    v->n_special = n;
    free(keys);
    return JOULE_OK;
}

static enum joule_status check_kind(struct joule_vocab *v, const struct joule_vocab_desc *d,
                                    char *err, size_t err_size)
{
    if (!d->model) {
        joule_fmt(err, err_size, "no tokenizer model (tokenizer.ggml.model)");
        return JOULE_ERR_INVALID;
    }
    if (strcmp(d->model, "llama") == 0) {
        v->kind = JOULE_VOCAB_SPM;
    } else if (strcmp(d->model, "gpt2") == 0) {
        v->kind = JOULE_VOCAB_BPE;
        const char *pre = d->pre && d->pre[0] ? d->pre : "default";
        v->pre = find_pre(pre);
        v->clean_spaces = pre_cleans_spaces(pre);
        if (!v->pre) {
            joule_fmt(err, err_size, "unsupported pre-tokenizer \"%.64s\"; supported: %s", pre,
                      joule_vocab_supported_pre());
            return JOULE_ERR_UNSUPPORTED;
        }
    } else {
        joule_fmt(err, err_size,
                  "unsupported tokenizer model \"%.32s\"; supported: llama (SPM), gpt2 (BPE)",
                  d->model);
        return JOULE_ERR_UNSUPPORTED;
    }
    if (d->n_tokens == 0 || d->n_tokens > JOULE_VOCAB_MAX_TOKENS || !d->tokens) {
        joule_fmt(err, err_size, "vocabulary has %zu tokens (need 1..%u)", d->n_tokens,
                  JOULE_VOCAB_MAX_TOKENS);
        return JOULE_ERR_INVALID;
    }
    if (v->kind == JOULE_VOCAB_BPE &&
        (d->n_merges == 0 || !d->merges || d->n_merges > JOULE_VOCAB_MAX_MERGES)) {
        joule_fmt(err, err_size, "BPE vocabulary has %zu merges (need 1..%u)", d->n_merges,
                  JOULE_VOCAB_MAX_MERGES);
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

enum joule_status joule_vocab_build(const struct joule_vocab_desc *desc, struct joule_vocab **out,
                                    char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    if (!out)
        return JOULE_ERR_INVALID;
    *out = NULL;
    if (!desc) {
        joule_fmt(err, err_size, "no vocabulary description");
        return JOULE_ERR_INVALID;
    }
    struct joule_vocab *v = calloc(1, sizeof(*v));
    if (!v)
        return JOULE_ERR_NOMEM;
    v->n_tokens = desc->n_tokens;
    enum joule_status st = check_kind(v, desc, err, err_size);
    if (st == JOULE_OK)
        st = copy_tokens(v, desc, err, err_size);
    if (st == JOULE_OK)
        st = index_tokens(v, err, err_size);
    if (st == JOULE_OK && v->kind == JOULE_VOCAB_BPE)
        st = index_merges(v, desc, err, err_size);
    if (st == JOULE_OK)
        st = resolve_specials(v, desc, err, err_size);
    if (st == JOULE_OK)
        st = collect_specials(v);
    if (st == JOULE_OK && v->kind == JOULE_VOCAB_BPE)
        st = compile_pre(v, err, err_size);
    if (st != JOULE_OK) {
        if (st == JOULE_ERR_NOMEM && err && err_size && !err[0])
            joule_fmt(err, err_size, "out of memory building the vocabulary");
        joule_vocab_free(v);
        return st;
    }
    *out = v;
    return JOULE_OK;
}

void joule_vocab_free(struct joule_vocab *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < VOCAB_MAX_REGEX; i++)
        pcre2_code_free(v->re[i]);
    free(v->special);
    free(v->merge_index);
    free(v->merge);
    free(v->merge_text);
    free(v->tok_index);
    free(v->tok);
    free(v->text);
    free(v);
}

/* ---------------------------------------------------------------------------
 * Accessors.
 */

enum joule_vocab_kind joule_vocab_kind(const struct joule_vocab *v)
{
    return v->kind;
}

const char *joule_vocab_pre(const struct joule_vocab *v)
{
    return v->pre ? v->pre->name : "default";
}

size_t joule_vocab_n_tokens(const struct joule_vocab *v)
{
    return v->n_tokens;
}

const char *joule_vocab_token_text(const struct joule_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= v->n_tokens)
        return NULL;
    if (len)
        *len = v->tok[id].len;
    return vocab_text(v, id);
}

enum joule_token_type joule_vocab_token_type(const struct joule_vocab *v, int32_t id)
{
    if (id < 0 || (size_t)id >= v->n_tokens)
        return JOULE_TOKEN_UNDEFINED;
    return (enum joule_token_type)v->tok[id].type;
}

float joule_vocab_token_score(const struct joule_vocab *v, int32_t id)
{
    if (id < 0 || (size_t)id >= v->n_tokens)
        return 0.0f;
    return v->tok[id].score;
}

int32_t joule_vocab_bos(const struct joule_vocab *v)
{
    return v->bos;
}

int32_t joule_vocab_eos(const struct joule_vocab *v)
{
    return v->eos;
}

int32_t joule_vocab_unk(const struct joule_vocab *v)
{
    return v->unk;
}

int32_t joule_vocab_pad(const struct joule_vocab *v)
{
    return v->pad;
}

bool joule_vocab_add_bos(const struct joule_vocab *v)
{
    return v->add_bos;
}

bool joule_vocab_add_eos(const struct joule_vocab *v)
{
    return v->add_eos;
}
