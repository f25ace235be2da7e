/*
 * tokenizer.c - SPM and byte-level BPE tokenization, detokenization.
 *
 * The steps and their order follow llama.cpp's llama_vocab::impl::tokenize
 * so ids match it exactly (the test vectors in tests/unit/test_tokenizer.c
 * check this):
 *  1. special-token partition: the text of USER_DEFINED tokens (and, with
 *     PARSE_SPECIAL, CONTROL and UNKNOWN ones), longest first, is cut out of
 *     the raw text and becomes that token;
 *  2. each remaining raw fragment goes through the vocabulary's algorithm.
 */
#include "tokenizer.h"

#include "alloc.h"
#include "joule_int.h"
#include "unicode.h"
#include "vocab_int.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Output: ids are counted past the capacity so the caller learns the need.
 */

struct ids_out {
    int32_t *ids;
    size_t cap;
    size_t n;
};

static void emit(struct ids_out *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

/* ---------------------------------------------------------------------------
 * Merge queue shared by SPM (highest score first) and BPE (lowest rank
 * first): prio is the score or minus the rank; ties go to the leftmost pair.
 */

struct bigram {
    int32_t left;  /* symbol index */
    int32_t right;
    double prio;
    uint32_t size; /* bytes of left + right when queued; stale entries differ */
};

struct bigram_heap {
    struct bigram *a;
    size_t n, cap;
};

static bool bigram_before(const struct bigram *x, const struct bigram *y)
{
    return x->prio > y->prio || (x->prio == y->prio && x->left < y->left);
}

static bool heap_push(struct bigram_heap *h, struct bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct bigram *a = joule_realloc_array(h->a, cap, sizeof(*a));
        if (!a)
            return false;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
    return true;
}

static struct bigram heap_pop(struct bigram_heap *h)
{
    struct bigram top = h->a[0];
    struct bigram last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && bigram_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!bigram_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}

/* A symbol: a run of bytes of the working text, linked to its neighbours.
 * Working texts stay below 2^31 bytes (JOULE_TOKENIZE_MAX_BYTES x 8). */
struct symbol {
    int32_t prev, next; /* -1 at the ends */
    uint32_t off, n;    /* bytes; n == 0 once merged into its left neighbour */
};

/* Cuts text[0 .. n) into UTF-8 characters (llama.cpp's lead-byte lengths). */
static size_t split_chars(const char *text, size_t n, struct symbol *sym)
{
    size_t count = 0, off = 0;
    while (off < n) {
        size_t len = joule_utf8_seq_len((uint8_t)text[off]);
        if (len > n - off)
            len = n - off;
        sym[count] = (struct symbol){(int32_t)count - 1, off + len == n ? -1 : (int32_t)count + 1,
                                     (uint32_t)off, (uint32_t)len};
        off += len;
        count++;
    }
    return count;
}

/* Merges the popped bigram if it is still current; false if stale. */
static bool merge_bigram(struct symbol *sym, const struct bigram *b)
{
    struct symbol *l = &sym[b->left], *r = &sym[b->right];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b->size)
        return false;
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0)
        sym[r->next].prev = b->left;
    return true;
}

/* ---------------------------------------------------------------------------
 * SPM.
 */

struct spm_ctx {
    const struct joule_vocab *v;
    const char *text;
    struct symbol *sym;
    struct bigram_heap heap;
};

static bool spm_try_bigram(struct spm_ctx *c, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return true;
    const struct symbol *l = &c->sym[left], *r = &c->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = joule_vocab_find(c->v, c->text + l->off, size);
    if (id == JOULE_TOKEN_NULL)
        return true;
    struct bigram b = {left, right, (double)c->v->tok[id].score, size};
    return heap_push(&c->heap, b);
}

/* The token for one byte: <0xHH>, else the byte as a one-byte token, else
 * UNK (llama.cpp throws here; a vocabulary without byte tokens is legal). */
static int32_t spm_byte_token(const struct joule_vocab *v, uint8_t byte)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[6] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>'};
    int32_t id = joule_vocab_find(v, buf, sizeof(buf));
    if (id == JOULE_TOKEN_NULL)
        id = joule_vocab_find(v, (const char *)&byte, 1);
    return id == JOULE_TOKEN_NULL ? v->unk : id;
}

static void spm_output(struct spm_ctx *c, struct ids_out *o)
{
    for (int32_t i = 0; i != -1; i = c->sym[i].next) {
        const struct symbol *s = &c->sym[i];
        int32_t id = joule_vocab_find(c->v, c->text + s->off, s->n);
        if (id != JOULE_TOKEN_NULL) {
            emit(o, id);
            continue;
        }
        for (size_t j = 0; j < s->n; j++) {
            int32_t b = spm_byte_token(c->v, (uint8_t)c->text[s->off + j]);
            if (b != JOULE_TOKEN_NULL)
                emit(o, b);
        }
    }
}

/* Escapes text (optionally with a leading space): ' ' -> U+2581. */
static char *spm_escape(const char *s, size_t n, bool prefix, size_t *out_n)
{
    size_t cap;
    if (!joule_mul_size(n, 3, &cap) || !joule_add_size(cap, 4, &cap))
        return NULL;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n + (prefix ? 1 : 0); i++) {
        char ch = (prefix && i == 0) ? ' ' : s[i - (prefix ? 1 : 0)];
        if (ch == ' ') {
            memcpy(buf + k, "\xE2\x96\x81", 3);
            k += 3;
        } else {
            buf[k++] = ch;
        }
    }
    *out_n = k;
    return buf;
}

static enum joule_status spm_fragment(const struct joule_vocab *v, const char *s, size_t n,
                                      bool prefix, struct ids_out *o)
{
    size_t tn = 0;
    char *text = spm_escape(s, n, prefix, &tn);
    if (!text)
        return JOULE_ERR_NOMEM;
    if (tn == 0) {
        free(text);
        return JOULE_OK;
    }
    struct spm_ctx c = {v, text, joule_calloc(tn, sizeof(struct symbol)), {NULL, 0, 0}};
    enum joule_status st = c.sym ? JOULE_OK : JOULE_ERR_NOMEM;
    size_t count = c.sym ? split_chars(text, tn, c.sym) : 0;
    for (size_t i = 1; st == JOULE_OK && i < count; i++) {
        if (!spm_try_bigram(&c, (int32_t)i - 1, (int32_t)i))
            st = JOULE_ERR_NOMEM;
    }
    while (st == JOULE_OK && c.heap.n > 0) {
        struct bigram b = heap_pop(&c.heap);
        if (!merge_bigram(c.sym, &b))
            continue;
        if (!spm_try_bigram(&c, c.sym[b.left].prev, b.left) ||
            !spm_try_bigram(&c, b.left, c.sym[b.left].next))
            st = JOULE_ERR_NOMEM;
    }
    if (st == JOULE_OK)
        spm_output(&c, o);
    free(c.heap.a);
    free(c.sym);
    free(text);
    return st;
}

/* ---------------------------------------------------------------------------
 * Byte-level BPE: pre-tokenize with the regexes, then merge each word.
 */

/* llama.cpp's non-ASCII whitespace, which its regexes see as \v. */
static bool is_wide_space(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

struct span {
    uint32_t start, len; /* in code points */
};

/* Working memory of one BPE fragment.  Offsets are uint32_t: a fragment
 * has at most JOULE_TOKENIZE_MAX_BYTES bytes, so subj below 2^30. */
struct bpe_ctx {
    const struct joule_vocab *v;
    uint32_t *cp;        /* [ncp] code points (invalid input -> U+FFFD) */
    size_t ncp;
    char *subj;          /* what the regexes see: valid UTF-8 */
    uint32_t *boff;      /* [ncp + 1] byte offset of code point i in subj */
    uint32_t *cpi;       /* [subj bytes + 1] code point index at a byte offset */
    struct span *seg, *seg2; /* [ncp] pieces, and the next round's */
    size_t nseg;
    pcre2_match_data *md;
    char *word;          /* one piece, byte-encoded: [word_cap] */
    struct symbol *sym;  /* [word_cap] */
    size_t word_cap;
    struct bigram_heap heap;
};

static void bpe_ctx_free(struct bpe_ctx *c)
{
    free(c->cp);
    free(c->subj);
    free(c->boff);
    free(c->cpi);
    free(c->seg);
    free(c->seg2);
    pcre2_match_data_free(c->md);
    free(c->word);
    free(c->sym);
    free(c->heap.a);
}

/* Room for a word of `bytes` bytes (and as many symbols). */
static bool bpe_word_room(struct bpe_ctx *c, size_t bytes)
{
    if (bytes <= c->word_cap)
        return true;
    size_t cap = c->word_cap ? c->word_cap : 64;
    while (cap < bytes)
        cap *= 2;
    char *w = realloc(c->word, cap);
    if (!w)
        return false;
    c->word = w;
    struct symbol *sym = joule_realloc_array(c->sym, cap, sizeof(*sym));
    if (!sym)
        return false;
    c->sym = sym;
    c->word_cap = cap;
    return true;
}

static enum joule_status bpe_ctx_init(struct bpe_ctx *c, const char *s, size_t n)
{
    /* Each input byte becomes at most 3 bytes of subj (U+FFFD). */
    c->cp = joule_calloc(n + 1, sizeof(uint32_t));
    c->subj = joule_calloc(3 * n + 1, 1);
    c->boff = joule_calloc(n + 1, sizeof(uint32_t));
    c->cpi = joule_calloc(3 * n + 1, sizeof(uint32_t));
    c->seg = joule_calloc(n + 1, sizeof(struct span));
    c->seg2 = joule_calloc(n + 1, sizeof(struct span));
    c->md = pcre2_match_data_create(1, NULL);
    if (!c->cp || !c->subj || !c->boff || !c->cpi || !c->seg || !c->seg2 || !c->md)
        return JOULE_ERR_NOMEM;
    size_t i = 0, b = 0;
    while (i < n) {
        uint32_t cp = joule_utf8_decode((const uint8_t *)s, n, &i);
        uint32_t seen = cp;
        if (cp > 0x7F && is_wide_space(cp))
            seen = 0x0B;
        else if (cp >= 0xD800 && cp <= 0xDFFF)
            seen = JOULE_CP_REPLACEMENT; /* PCRE2 cannot take surrogates */
        c->boff[c->ncp] = (uint32_t)b;
        c->cpi[b] = (uint32_t)c->ncp;
        c->cp[c->ncp++] = cp;
        b += joule_utf8_encode(seen, (uint8_t *)c->subj + b);
    }
    c->boff[c->ncp] = (uint32_t)b;
    c->cpi[b] = (uint32_t)c->ncp;
    c->seg[0] = (struct span){0, (uint32_t)c->ncp};
    c->nseg = c->ncp ? 1 : 0;
    return JOULE_OK;
}

static void push_span(struct span *out, size_t *n, uint32_t start, uint32_t end)
{
    if (end > start)
        out[(*n)++] = (struct span){start, end - start};
}

/* The regex "\s+$" natively: a piece's trailing whitespace (as the
 * regexes see it: [\t-\r ]) becomes a piece of its own. */
static void bpe_split_trailing_space(struct bpe_ctx *c)
{
    size_t n2 = 0;
    for (size_t k = 0; k < c->nseg; k++) {
        uint32_t start = c->seg[k].start, end = start + c->seg[k].len, ws = end;
        while (ws > start) {
            char ch = c->subj[c->boff[ws - 1]];
            if (c->boff[ws] - c->boff[ws - 1] != 1 || !(ch == ' ' || (ch >= '\t' && ch <= '\r')))
                break;
            ws--;
        }
        push_span(c->seg2, &n2, start, ws);
        push_span(c->seg2, &n2, ws, end);
    }
    struct span *t = c->seg;
    c->seg = c->seg2;
    c->seg2 = t;
    c->nseg = n2;
}

/* Splits every piece with one regex: matches and the text between them. */
static enum joule_status bpe_split(struct bpe_ctx *c, const pcre2_code *re)
{
    size_t n2 = 0;
    if (!re) {
        bpe_split_trailing_space(c);
        return JOULE_OK;
    }
    for (size_t k = 0; k < c->nseg; k++) {
        size_t base = c->boff[c->seg[k].start];
        size_t slen = c->boff[c->seg[k].start + c->seg[k].len] - base;
        PCRE2_SPTR subj = (PCRE2_SPTR)(c->subj + base);
        size_t pos = 0, last = 0;
        while (pos < slen) {
            int rc = pcre2_match(re, subj, slen, pos, PCRE2_NO_UTF_CHECK, c->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0)
                return JOULE_ERR_FORMAT;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
            if (ov[1] == ov[0]) { /* empty match: step over one character */
                pos = ov[0] + joule_utf8_seq_len(subj[ov[0]]);
                continue;
            }
            push_span(c->seg2, &n2, c->cpi[base + last], c->cpi[base + ov[0]]);
            push_span(c->seg2, &n2, c->cpi[base + ov[0]], c->cpi[base + ov[1]]);
            last = pos = ov[1];
        }
        push_span(c->seg2, &n2, c->cpi[base + last], c->cpi[base + slen]);
    }
    struct span *t = c->seg;
    c->seg = c->seg2;
    c->seg2 = t;
    c->nseg = n2;
    return JOULE_OK;
}

/* The piece's code points as UTF-8 bytes, each byte as its GPT-2 character
 * (at most 8 bytes per code point). */
static size_t bpe_encode_word(const struct bpe_ctx *c, const struct span *sp, char *out)
{
    size_t k = 0;
    for (size_t i = sp->start; i < sp->start + sp->len; i++) {
        uint8_t raw[4];
        size_t nb = joule_utf8_encode(c->cp[i], raw);
        for (size_t j = 0; j < nb; j++)
            k += joule_utf8_encode(joule_bpe_byte_to_cp(raw[j]), (uint8_t *)out + k);
    }
    return k;
}

static bool bpe_try_bigram(struct bpe_ctx *c, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return true;
    const struct symbol *l = &c->sym[left], *r = &c->sym[right];
    int32_t rank = vocab_merge_rank(c->v, c->word + l->off, l->n, c->word + r->off, r->n);
    if (rank < 0)
        return true;
    struct bigram b = {left, right, -(double)rank, l->n + r->n};
    return heap_push(&c->heap, b);
}

static void bpe_output(struct bpe_ctx *c, size_t count, struct ids_out *o)
{
    for (size_t i = 0; i < count; i++) {
        const struct symbol *s = &c->sym[i];
        if (s->n == 0)
            continue;
        const char *t = c->word + s->off;
        int32_t id = joule_vocab_find(c->v, t, s->n);
        if (id != JOULE_TOKEN_NULL) {
            emit(o, id);
            continue;
        }
        /* llama.cpp's fallback: whichever single bytes are tokens. */
        for (size_t j = 0; j < s->n; j++) {
            id = joule_vocab_find(c->v, t + j, 1);
            if (id != JOULE_TOKEN_NULL)
                emit(o, id);
        }
    }
}

static enum joule_status bpe_word(struct bpe_ctx *c, const struct span *sp, struct ids_out *o)
{
    if (!bpe_word_room(c, (size_t)sp->len * 8))
        return JOULE_ERR_NOMEM;
    size_t wn = bpe_encode_word(c, sp, c->word);
    if (wn == 0)
        return JOULE_OK;
    if (c->v->pre->ignore_merges) {
        int32_t id = joule_vocab_find(c->v, c->word, wn);
        if (id != JOULE_TOKEN_NULL) {
            emit(o, id);
            return JOULE_OK;
        }
    }
    size_t count = split_chars(c->word, wn, c->sym);
    c->heap.n = 0;
    for (size_t i = 1; i < count; i++) {
        if (!bpe_try_bigram(c, (int32_t)i - 1, (int32_t)i))
            return JOULE_ERR_NOMEM;
    }
    while (c->heap.n > 0) {
        struct bigram b = heap_pop(&c->heap);
        if (!merge_bigram(c->sym, &b))
            continue;
        if (!bpe_try_bigram(c, c->sym[b.left].prev, b.left) ||
            !bpe_try_bigram(c, b.left, c->sym[b.left].next))
            return JOULE_ERR_NOMEM;
    }
    bpe_output(c, count, o);
    return JOULE_OK;
}

static enum joule_status bpe_fragment(const struct joule_vocab *v, const char *s, size_t n,
                                      struct ids_out *o)
{
    struct bpe_ctx c;
    memset(&c, 0, sizeof(c));
    c.v = v;
    enum joule_status st = bpe_ctx_init(&c, s, n);
    for (size_t r = 0; st == JOULE_OK && r < v->n_re; r++)
        st = bpe_split(&c, v->re[r]);
    for (size_t k = 0; st == JOULE_OK && k < c.nseg; k++)
        st = bpe_word(&c, &c.seg[k], o);
    bpe_ctx_free(&c);
    return st;
}

/* ---------------------------------------------------------------------------
 * Special-token partition.
 */

struct frag {
    size_t off, len; /* raw text, when id < 0 */
    int32_t id;      /* a special token, or -1 */
};

struct frag_list {
    struct frag *a;
    size_t n, cap;
};

static bool frag_push(struct frag_list *l, struct frag f)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct frag *a = joule_realloc_array(l->a, cap, sizeof(*a));
        if (!a)
            return false;
        l->a = a;
        l->cap = cap;
    }
    l->a[l->n++] = f;
    return true;
}

static const char *find_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return NULL;
    const char *end = hay + (hn - nn) + 1;
    for (const char *p = hay; p < end;) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p)
            return NULL;
        if (memcmp(p, needle, nn) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* isspace() of the C locale, which llama.cpp's stripping uses. */
static bool is_c_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Splits the raw fragments of *in at every occurrence of token id, dropping
 * the whitespace its strip bits ask for. */
static bool partition_one(const struct joule_vocab *v, const char *text, int32_t id,
                          struct frag_list *in, struct frag_list *out)
{
    const char *tt = vocab_text(v, id);
    size_t tn = v->tok[id].len;
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        struct frag f = in->a[i];
        if (f.id >= 0) {
            if (!frag_push(out, f))
                return false;
            continue;
        }
        size_t off = f.off, end = f.off + f.len;
        const char *m;
        while ((m = find_bytes(text + off, end - off, tt, tn)) != NULL) {
            size_t at = (size_t)(m - text), left_end = at;
            if (v->tok[id].strip & JOULE_TOKEN_LSTRIP) {
                while (left_end > off && is_c_space(text[left_end - 1]))
                    left_end--;
            }
            if (left_end > off && !frag_push(out, (struct frag){off, left_end - off, -1}))
                return false;
            if (!frag_push(out, (struct frag){0, 0, id}))
                return false;
            off = at + tn;
            if (v->tok[id].strip & JOULE_TOKEN_RSTRIP) {
                while (off < end && is_c_space(text[off]))
                    off++;
            }
        }
        if (end > off && !frag_push(out, (struct frag){off, end - off, -1}))
            return false;
    }
    return true;
}

static enum joule_status partition(const struct joule_vocab *v, const char *text, size_t len,
                                   bool parse_special, struct frag_list *out)
{
    struct frag_list tmp = {NULL, 0, 0};
    if (len == 0)
        return JOULE_OK;
    if (!frag_push(out, (struct frag){0, len, -1}))
        return JOULE_ERR_NOMEM;
    for (size_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        int32_t type = v->tok[id].type;
        if (!parse_special && type != JOULE_TOKEN_USER_DEFINED)
            continue;
        if (!partition_one(v, text, id, out, &tmp)) {
            free(tmp.a);
            return JOULE_ERR_NOMEM;
        }
        struct frag_list t = *out;
        *out = tmp;
        tmp = t;
    }
    free(tmp.a);
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * Entry points.
 */

enum joule_status joule_tokenize(const struct joule_vocab *v, const char *text, size_t len,
                                 unsigned flags, int32_t *ids, size_t cap, size_t *n_out)
{
    if (n_out)
        *n_out = 0;
    if (!v || !n_out || (!text && len) || (!ids && cap) || len > JOULE_TOKENIZE_MAX_BYTES)
        return JOULE_ERR_INVALID;
    bool add_special = (flags & JOULE_TOKENIZE_ADD_SPECIAL) != 0;
    struct ids_out o = {ids, cap, 0};
    struct frag_list frags = {NULL, 0, 0};
    enum joule_status st = partition(v, text, len, (flags & JOULE_TOKENIZE_PARSE_SPECIAL) != 0,
                                     &frags);
    if (add_special && v->add_bos)
        emit(&o, v->bos);
    /* SPM prefixes a space to the first raw fragment and to each one that
     * follows a special token. */
    bool prev_special = true;
    for (size_t i = 0; st == JOULE_OK && i < frags.n; i++) {
        const struct frag *f = &frags.a[i];
        if (f->id >= 0) {
            emit(&o, f->id);
            prev_special = true;
            continue;
        }
        if (v->kind == JOULE_VOCAB_SPM)
            st = spm_fragment(v, text + f->off, f->len, v->add_space_prefix && prev_special, &o);
        else
            st = bpe_fragment(v, text + f->off, f->len, &o);
        prev_special = false;
    }
    if (add_special && v->add_eos)
        emit(&o, v->eos);
    free(frags.a);
    if (st != JOULE_OK)
        return st;
    *n_out = o.n;
    return o.n <= cap ? JOULE_OK : JOULE_ERR_INVALID;
}

struct text_out {
    char *out;
    size_t cap;
    size_t n;
};

static void put(struct text_out *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t->n < t->cap)
            t->out[t->n] = s[i];
        t->n++;
    }
}

/* The bytes one token stands for, into buf (>= token length + 1). */
static size_t token_piece(const struct joule_vocab *v, int32_t id, bool render_special,
                          char *buf)
{
    const struct vocab_token *t = &v->tok[id];
    const char *s = vocab_text(v, id);
    switch (t->type) {
    case JOULE_TOKEN_CONTROL:
    case JOULE_TOKEN_UNKNOWN:
        if (!render_special)
            return 0;
        /* fall through */
    case JOULE_TOKEN_USER_DEFINED:
        memcpy(buf, s, t->len);
        return t->len;
    case JOULE_TOKEN_BYTE:
        buf[0] = (char)t->byte;
        return 1;
    case JOULE_TOKEN_NORMAL:
        break;
    default:
        return 0;
    }
    size_t k = 0;
    if (v->kind == JOULE_VOCAB_SPM) {
        for (size_t i = 0; i < t->len; i++) {
            if (i + 2 < t->len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                buf[k++] = ' ';
                i += 2;
            } else {
                buf[k++] = s[i];
            }
        }
        return k;
    }
    /* Token texts are valid UTF-8 (checked at build): each character is one
     * byte of the original, or itself when it is not a GPT-2 character. */
    size_t i = 0;
    while (i < t->len) {
        size_t start = i;
        uint32_t cp = joule_utf8_decode((const uint8_t *)s, t->len, &i);
        int b = joule_bpe_cp_to_byte(cp);
        if (b >= 0) {
            buf[k++] = (char)b;
        } else {
            memcpy(buf + k, s + start, i - start);
            k += i - start;
        }
    }
    return k;
}

/*
 * llama.cpp's three clean-up passes, in place on t[0 .. n); each returns
 * the new length.  They read t[i - 1] after earlier writes exactly as
 * llama.cpp's loops do, so the results agree byte for byte.
 */
static size_t clean_punct(char *t, size_t n)
{
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            k--; /* " ?" -> "?" */
        t[k++] = x;
    }
    return k;
}

static size_t clean_lone_apostrophe(char *t, size_t n)
{
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            k--;          /* " ' " -> "'" */
            t[++i] = '\0';
        }
        t[k++] = x;
    }
    return k;
}

static size_t clean_contractions(char *t, size_t n)
{
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            char x2 = i + 2 < n ? t[i + 2] : '\0';
            if (x1 == 's' || x1 == 'm')
                k--; /* " 's" " 'm" */
            else if (x1 != 't' && x1 != 'd' && i + 2 < n &&
                     ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')))
                k--; /* " 're" " 've" */
        }
        t[k++] = x;
    }
    return k;
}

size_t joule_token_piece(const struct joule_vocab *v, int32_t id, bool render_special,
                         char *buf)
{
    JOULE_ASSERT(id >= 0 && (size_t)id < v->n_tokens);
    return token_piece(v, id, render_special, buf);
}

/* The text of ids (already range-checked) into t, counting past its cap. */
static void detokenize_into(const struct joule_vocab *v, const int32_t *ids, size_t n,
                            unsigned flags, struct text_out *t)
{
    bool remove_space = v->add_space_prefix;
    if ((flags & JOULE_DETOKENIZE_REMOVE_SPECIAL) && v->add_bos && n > 0 && ids[0] == v->bos) {
        remove_space = false; /* as llama.cpp: the space after BOS stays */
        ids++;
        n--;
    }
    if ((flags & JOULE_DETOKENIZE_REMOVE_SPECIAL) && v->add_eos && n > 0 && ids[n - 1] == v->eos)
        n--;
    char buf[JOULE_VOCAB_MAX_TOKEN_BYTES + 8];
    for (size_t i = 0; i < n; i++) {
        size_t k = token_piece(v, ids[i], (flags & JOULE_DETOKENIZE_RENDER_SPECIAL) != 0, buf);
        const char *p = buf;
        if (remove_space && k > 0 && p[0] == ' ') {
            p++;
            k--;
        }
        remove_space = false;
        put(t, p, k);
    }
}

enum joule_status joule_detokenize(const struct joule_vocab *v, const int32_t *ids, size_t n,
                                   unsigned flags, char *out, size_t cap, size_t *len_out)
{
    if (len_out)
        *len_out = 0;
    if (!v || !len_out || (!ids && n) || (!out && cap))
        return JOULE_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= v->n_tokens)
            return JOULE_ERR_INVALID;
    }
    struct text_out t = {out, cap, 0};
    if ((flags & JOULE_DETOKENIZE_CLEAN_SPACES) && v->clean_spaces) {
        /* The passes need the whole text: measure, build, clean, copy. */
        struct text_out m = {NULL, 0, 0};
        detokenize_into(v, ids, n, flags, &m);
        char *full = malloc(m.n ? m.n : 1);
        if (!full)
            return JOULE_ERR_NOMEM;
        struct text_out f = {full, m.n, 0};
        detokenize_into(v, ids, n, flags, &f);
        size_t k = clean_contractions(full, clean_lone_apostrophe(full, clean_punct(full, f.n)));
        put(&t, full, k);
        free(full);
    } else {
        detokenize_into(v, ids, n, flags, &t);
    }
    *len_out = t.n;
    if (t.n < cap)
        out[t.n] = '\0';
    return t.n <= cap ? JOULE_OK : JOULE_ERR_INVALID;
}
