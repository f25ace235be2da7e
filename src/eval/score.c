/*
 * score.c - ROUGE-1/2/L, the Porter stemmer, exact and numeric answers.
 *
 * ROUGE follows what the `rouge_score` package does by default, because
 * that is the number users compare with: tokens are runs of [a-z0-9] after
 * lowercasing, n-gram overlaps are clipped counts, ROUGE-L is the longest
 * common subsequence of the two token lists, F1 = 2PR / (P + R).  Its
 * optional stemming is NLTK's Porter stemmer in ORIGINAL_ALGORITHM mode,
 * i.e. the rules of Porter's 1980 paper, applied to tokens longer than 3.
 */
#include "score.h"

#include "alloc.h"
#include "joule_int.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* --- Porter (1980) ------------------------------------------------------- */

/* The word being stemmed: b[0 .. k) with the stem candidate b[0 .. j). */
struct word {
    char *b;
    size_t k;
};

/* Letter i is a consonant: not a vowel, and a 'y' only when it starts the
 * word or follows a vowel. */
static bool cons(const struct word *w, size_t i)
{
    switch (w->b[i]) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
        return false;
    case 'y':
        return i == 0 || !cons(w, i - 1);
    default:
        return true;
    }
}

/* m of b[0 .. n): the number of vowel-consonant sequences [C](VC)^m[V]. */
static int measure(const struct word *w, size_t n)
{
    int m = 0;
    size_t i = 0;
    while (i < n && cons(w, i))
        i++;
    while (i < n) {
        while (i < n && !cons(w, i))
            i++;
        if (i >= n)
            break;
        while (i < n && cons(w, i))
            i++;
        m++;
    }
    return m;
}

/* b[0 .. n) holds a vowel (*v*). */
static bool has_vowel(const struct word *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!cons(w, i))
            return true;
    return false;
}

/* b[0 .. n) ends with a double consonant (*d). */
static bool double_cons(const struct word *w, size_t n)
{
    return n >= 2 && w->b[n - 1] == w->b[n - 2] && cons(w, n - 1);
}

/* b[0 .. n) ends consonant-vowel-consonant, the last not w, x or y (*o). */
static bool cvc(const struct word *w, size_t n)
{
    if (n < 3 || !cons(w, n - 1) || cons(w, n - 2) || !cons(w, n - 3))
        return false;
    char c = w->b[n - 1];
    return c != 'w' && c != 'x' && c != 'y';
}

static bool ends(const struct word *w, const char *s)
{
    size_t n = strlen(s);
    return n <= w->k && memcmp(w->b + w->k - n, s, n) == 0;
}

/* Replaces the last n_old letters with s. */
static void set_to(struct word *w, size_t n_old, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->b + w->k - n_old, s, n);
    w->k = w->k - n_old + n;
}

struct rule {
    const char *suffix, *repl;
};

/* The rule of the longest matching suffix (rules are listed so the first
 * match is the longest) applies when the stem before it has m > min_m;
 * either way no other rule of the list is tried.  Returns the rule's index
 * when it applied, -1 otherwise. */
static int apply_rules(struct word *w, const struct rule *rules, size_t n, int min_m)
{
    for (size_t i = 0; i < n; i++) {
        if (!ends(w, rules[i].suffix))
            continue;
        size_t stem = w->k - strlen(rules[i].suffix);
        if (measure(w, stem) > min_m) {
            set_to(w, strlen(rules[i].suffix), rules[i].repl);
            return (int)i;
        }
        return -1;
    }
    return -1;
}

static void step1ab(struct word *w)
{
    if (ends(w, "sses"))
        set_to(w, 4, "ss");
    else if (ends(w, "ies"))
        set_to(w, 3, "i");
    else if (!ends(w, "ss") && ends(w, "s"))
        w->k--;

    if (ends(w, "eed")) {
        if (measure(w, w->k - 3) > 0)
            w->k--;
        return;
    }
    size_t cut = ends(w, "ed") ? 2 : ends(w, "ing") ? 3 : 0;
    if (!cut || !has_vowel(w, w->k - cut))
        return;
    w->k -= cut;
    if (ends(w, "at") || ends(w, "bl") || ends(w, "iz")) {
        w->b[w->k++] = 'e';
    } else if (double_cons(w, w->k)) {
        char c = w->b[w->k - 1];
        if (c != 'l' && c != 's' && c != 'z')
            w->k--;
    } else if (measure(w, w->k) == 1 && cvc(w, w->k)) {
        w->b[w->k++] = 'e';
    }
}

static void step1c(struct word *w)
{
    if (ends(w, "y") && has_vowel(w, w->k - 1))
        w->b[w->k - 1] = 'i';
}

static void step2(struct word *w)
{
    static const struct rule rules[] = {
        {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},   {"anci", "ance"},
        {"izer", "ize"},    {"abli", "able"},   {"alli", "al"},     {"entli", "ent"},
        {"eli", "e"},       {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
        {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"}, {"fulness", "ful"},
        {"ousness", "ous"}, {"aliti", "al"},    {"iviti", "ive"},   {"biliti", "ble"},
    };
    /* "ational" is listed before "tional" and "ization" before "ation":
     * the first match is then the longest, as the paper asks. */
    apply_rules(w, rules, JOULE_ARRAY_LEN(rules), 0);
}

static void step3(struct word *w)
{
    static const struct rule rules[] = {
        {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
        {"ical", "ic"},  {"ful", ""},   {"ness", ""},
    };
    apply_rules(w, rules, JOULE_ARRAY_LEN(rules), 0);
}

static void step4(struct word *w)
{
    static const char *const suffixes[] = {
        "al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement", "ment",
        "ent", "ion",  "ou",   "ism", "ate", "iti",  "ous",  "ive", "ize",
    };
    for (size_t i = 0; i < JOULE_ARRAY_LEN(suffixes); i++) {
        if (!ends(w, suffixes[i]))
            continue;
        size_t stem = w->k - strlen(suffixes[i]);
        /* "ion" goes only after s or t. */
        if (strcmp(suffixes[i], "ion") == 0 &&
            (stem == 0 || (w->b[stem - 1] != 's' && w->b[stem - 1] != 't')))
            return;
        if (measure(w, stem) > 1)
            w->k = stem;
        return;
    }
}

static void step5(struct word *w)
{
    if (ends(w, "e")) {
        int m = measure(w, w->k - 1);
        if (m > 1 || (m == 1 && !cvc(w, w->k - 1)))
            w->k--;
    }
    if (w->k >= 2 && w->b[w->k - 1] == 'l' && double_cons(w, w->k) && measure(w, w->k) > 1)
        w->k--;
}

size_t joule_eval_porter(const char *word, size_t n, char *out)
{
    memcpy(out, word, n);
    out[n] = '\0';
    /* Steps only shorten a word or add one letter after removing two or
     * more ("at" + "e" after "ed"), so out[n + 1] is always enough. */
    struct word w = {out, n};
    if (n > 2) {
        step1ab(&w);
        if (w.k > 0) {
            step1c(&w);
            step2(&w);
            step3(&w);
            step4(&w);
            step5(&w);
        }
    }
    out[w.k] = '\0';
    return w.k;
}

/* --- tokens ----------------------------------------------------------------- */

#define MAX_TOKENS (1u << 20)

/* Tokens as offsets into one lowercase, stemmed copy of the text. */
struct tokens {
    char *text;    /* NUL-separated tokens */
    size_t *start; /* [n] */
    size_t n;
};

static void tokens_free(struct tokens *t)
{
    free(t->text);
    free(t->start);
}

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static enum joule_status tokenize(const char *s, int stem, struct tokens *t)
{
    memset(t, 0, sizeof(*t));
    size_t len = strlen(s);
    t->text = malloc(len + 2);
    if (!t->text)
        return JOULE_ERR_NOMEM;
    size_t cap = 0, at = 0;
    for (size_t i = 0; i < len;) {
        char c = (char)tolower((unsigned char)s[i]);
        if (!is_token_char(c)) {
            i++;
            continue;
        }
        size_t begin = at;
        while (i < len && is_token_char((char)tolower((unsigned char)s[i])))
            t->text[at++] = (char)tolower((unsigned char)s[i++]);
        t->text[at] = '\0';
        char buf[256];
        /* Longer "words" than the buffer are no words: kept unstemmed. */
        if (stem && at - begin > 3 && at - begin < sizeof(buf) - 1) {
            size_t n = joule_eval_porter(t->text + begin, at - begin, buf);
            memcpy(t->text + begin, buf, n + 1);
            at = begin + n;
        }
        at++;
        if (t->n == MAX_TOKENS) {
            tokens_free(t);
            return JOULE_ERR_INVALID;
        }
        if (t->n == cap) {
            size_t nc;
            size_t *p;
            if (!joule_grow_cap(cap, t->n + 1, 64, &nc) ||
                !(p = joule_realloc_array(t->start, nc, sizeof(*p)))) {
                tokens_free(t);
                return JOULE_ERR_NOMEM;
            }
            t->start = p;
            cap = nc;
        }
        t->start[t->n++] = begin;
    }
    return JOULE_OK;
}

static const char *tok(const struct tokens *t, size_t i)
{
    return t->text + t->start[i];
}

/* --- ROUGE -------------------------------------------------------------- */

static struct joule_eval_rouge prf(double overlap, double n_cand, double n_ref)
{
    struct joule_eval_rouge r;
    r.p = n_cand > 0 ? overlap / n_cand : 0;
    r.r = n_ref > 0 ? overlap / n_ref : 0;
    r.f = r.p + r.r > 0 ? 2 * r.p * r.r / (r.p + r.r) : 0;
    return r;
}

/* n-gram i of t equals n-gram j of u. */
static bool gram_eq(const struct tokens *t, size_t i, const struct tokens *u, size_t j, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(tok(t, i + k), tok(u, j + k)) != 0)
            return false;
    return true;
}

static int gram_cmp(const struct tokens *t, size_t i, size_t j, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int c = strcmp(tok(t, i + k), tok(t, j + k));
        if (c)
            return c;
    }
    return 0;
}

/* The n-grams of one token list, for sorting. */
struct gram_sort {
    const struct tokens *t;
    size_t n;
};

static void sort_grams(size_t *idx, size_t count, const struct gram_sort *g, size_t *tmp)
{
    /* Bottom-up merge sort: O(count log count) comparisons, stable. */
    for (size_t width = 1; width < count; width *= 2) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = lo + width < count ? lo + width : count;
            size_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                tmp[o++] = gram_cmp(g->t, idx[a], idx[b], g->n) <= 0 ? idx[a++] : idx[b++];
            while (a < mid)
                tmp[o++] = idx[a++];
            while (b < hi)
                tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, count * sizeof(*idx));
    }
}

/* Clipped n-gram overlap: for every distinct n-gram, the smaller of its
 * counts in a and b.  Both lists sorted, then walked together. */
static enum joule_status ngram_overlap(const struct tokens *a, const struct tokens *b, size_t n,
                                       double *overlap)
{
    *overlap = 0;
    if (a->n < n || b->n < n)
        return JOULE_OK;
    size_t na = a->n - n + 1, nb = b->n - n + 1;
    size_t *ia = joule_calloc(na, sizeof(size_t)), *ib = joule_calloc(nb, sizeof(size_t));
    size_t *tmp = joule_calloc(na > nb ? na : nb, sizeof(size_t));
    if (!ia || !ib || !tmp) {
        free(ia);
        free(ib);
        free(tmp);
        return JOULE_ERR_NOMEM;
    }
    for (size_t i = 0; i < na; i++)
        ia[i] = i;
    for (size_t i = 0; i < nb; i++)
        ib[i] = i;
    struct gram_sort ga = {a, n}, gb = {b, n};
    sort_grams(ia, na, &ga, tmp);
    sort_grams(ib, nb, &gb, tmp);
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        int c = 0;
        for (size_t k = 0; k < n && !c; k++)
            c = strcmp(tok(a, ia[i] + k), tok(b, ib[j] + k));
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            size_t ca = 0, cb = 0;
            size_t i0 = i, j0 = j;
            while (i < na && gram_eq(a, ia[i], a, ia[i0], n))
                i++, ca++;
            while (j < nb && gram_eq(b, ib[j], b, ib[j0], n))
                j++, cb++;
            *overlap += (double)(ca < cb ? ca : cb);
        }
    }
    free(ia);
    free(ib);
    free(tmp);
    return JOULE_OK;
}

/* Length of the longest common subsequence, one row of the table kept. */
static enum joule_status lcs_length(const struct tokens *a, const struct tokens *b, size_t *out)
{
    *out = 0;
    if (a->n == 0 || b->n == 0)
        return JOULE_OK;
    const struct tokens *row = a->n < b->n ? a : b, *col = row == a ? b : a;
    size_t *prev = joule_calloc(row->n + 1, sizeof(size_t));
    size_t *cur = joule_calloc(row->n + 1, sizeof(size_t));
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return JOULE_ERR_NOMEM;
    }
    for (size_t i = 1; i <= col->n; i++) {
        for (size_t j = 1; j <= row->n; j++)
            cur[j] = strcmp(tok(col, i - 1), tok(row, j - 1)) == 0
                         ? prev[j - 1] + 1
                         : (prev[j] > cur[j - 1] ? prev[j] : cur[j - 1]);
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    *out = prev[row->n];
    free(prev);
    free(cur);
    return JOULE_OK;
}

enum joule_status joule_eval_rouge(const char *candidate, const char *reference, int stem,
                                   struct joule_eval_rouge out[3])
{
    memset(out, 0, 3 * sizeof(*out));
    struct tokens c, r;
    enum joule_status st = tokenize(candidate, stem, &c);
    if (st != JOULE_OK)
        return st;
    if ((st = tokenize(reference, stem, &r)) != JOULE_OK) {
        tokens_free(&c);
        return st;
    }
    for (size_t n = 1; n <= 2 && st == JOULE_OK; n++) {
        double ov = 0;
        st = ngram_overlap(&c, &r, n, &ov);
        double nc = c.n >= n ? (double)(c.n - n + 1) : 0, nr = r.n >= n ? (double)(r.n - n + 1) : 0;
        out[n - 1] = prf(ov, nc, nr);
    }
    size_t lcs = 0;
    if (st == JOULE_OK && (st = lcs_length(&c, &r, &lcs)) == JOULE_OK)
        out[2] = prf((double)lcs, (double)c.n, (double)r.n);
    tokens_free(&c);
    tokens_free(&r);
    return st;
}

/* --- exact match ----------------------------------------------------------- */

/* SQuAD's normalization of s[0 .. n) into out (n + 1 bytes). */
static void normalize(const char *s, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        /* A word: a run of bytes that are neither space nor punctuation. */
        while (i < n && (isspace((unsigned char)s[i]) || ispunct((unsigned char)s[i])))
            i++;
        size_t w0 = o;
        while (i < n && !isspace((unsigned char)s[i])) {
            if (!ispunct((unsigned char)s[i]))
                out[o++] = (char)tolower((unsigned char)s[i]);
            i++;
        }
        size_t wl = o - w0;
        bool article = (wl == 1 && out[w0] == 'a') || (wl == 2 && memcmp(out + w0, "an", 2) == 0) ||
                       (wl == 3 && memcmp(out + w0, "the", 3) == 0);
        if (article || wl == 0) {
            o = w0;
        } else {
            out[o++] = ' ';
        }
    }
    if (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

int joule_eval_exact(const char *prediction, const char *answer)
{
    size_t np = strcspn(prediction, "\n");
    size_t na = strlen(answer);
    char *a = malloc(np + 1), *b = malloc(na + 1);
    int same = 0;
    if (a && b) {
        normalize(prediction, np, a);
        normalize(answer, na, b);
        same = strcmp(a, b) == 0;
    }
    free(a);
    free(b);
    return same;
}

/* --- numbers ------------------------------------------------------------ */

/* The number starting at s[i] (a digit, or '-' before one), its value in
 * *v and the index after it in *end.  Commas count only between groups of
 * three digits, so "1,234" is one number and "3, 4" two. */
static void read_number(const char *s, size_t i, double *v, size_t *end)
{
    char buf[128];
    size_t o = 0;
    if (s[i] == '-')
        buf[o++] = s[i++];
    while (o < sizeof(buf) - 2) {
        if (isdigit((unsigned char)s[i])) {
            buf[o++] = s[i++];
        } else if (s[i] == ',' && isdigit((unsigned char)s[i + 1]) &&
                   isdigit((unsigned char)s[i + 2]) && isdigit((unsigned char)s[i + 3]) &&
                   !isdigit((unsigned char)s[i + 4])) {
            i++;
        } else {
            break;
        }
    }
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        buf[o++] = s[i++];
        while (o < sizeof(buf) - 1 && isdigit((unsigned char)s[i]))
            buf[o++] = s[i++];
    }
    while (isdigit((unsigned char)s[i]))
        i++; /* digits past the buffer: no answer is that long */
    buf[o] = '\0';
    *v = strtod(buf, NULL);
    *end = i;
}

static bool number_starts(const char *s, size_t i)
{
    if (isdigit((unsigned char)s[i]))
        return i == 0 || !(isdigit((unsigned char)s[i - 1]) || s[i - 1] == '.');
    return s[i] == '-' && isdigit((unsigned char)s[i + 1]) &&
           (i == 0 || !isalnum((unsigned char)s[i - 1]));
}

int joule_eval_number(const char *text, double *out)
{
    const char *from = text, *mark = text;
    while ((mark = strstr(mark, "####")) != NULL)
        from = mark, mark += 4;
    const bool after_mark = from != text || strncmp(text, "####", 4) == 0;
    bool found = false;
    for (size_t i = 0; from[i];) {
        if (!number_starts(from, i)) {
            i++;
            continue;
        }
        double v;
        size_t end;
        read_number(from, i, &v, &end);
        *out = v;
        found = true;
        if (after_mark)
            break;
        i = end;
    }
    return found;
}

int joule_eval_numeric_match(const char *prediction, const char *answer)
{
    double p, a;
    if (!joule_eval_number(prediction, &p) || !joule_eval_number(answer, &a))
        return 0;
    return fabs(p - a) <= 1e-9 || fabs(p - a) <= 1e-6 * fabs(a);
}
