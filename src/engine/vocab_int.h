/*
 * vocab_int.h - private to src/engine: the layout of struct joule_vocab,
 * shared by vocab.c (which builds it) and tokenizer.c (which reads it).
 */
#ifndef JOULE_ENGINE_VOCAB_INT_H
#define JOULE_ENGINE_VOCAB_INT_H

#include "vocab.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most regexes one pre-tokenizer applies in sequence. */
#define VOCAB_MAX_REGEX 6

struct vocab_token {
    uint32_t off;   /* text in joule_vocab.text, bytes */
    uint32_t len;   /* bytes */
    float score;
    int32_t type;   /* enum joule_token_type */
    int16_t byte;   /* BYTE tokens "<0xHH>": the byte; else -1 */
    uint8_t strip;  /* enum joule_token_strip bits */
};

struct vocab_merge {
    uint32_t off;       /* "left right" in joule_vocab.merge_text */
    uint32_t left_len;  /* bytes of left; right starts at off + left_len + 1 */
    uint32_t right_len;
};

/* One pre-tokenizer family (see the table in vocab.c). */
struct vocab_pre_family {
    const char *name;                       /* canonical name */
    const char *const *aliases;             /* NULL-terminated */
    const char *regex[VOCAB_MAX_REGEX + 1]; /* applied in order; NULL-terminated */
    bool ignore_merges;                     /* whole word first if it is a token (llama3) */
    bool add_bos;                           /* default add_bos */
};

struct joule_vocab {
    enum joule_vocab_kind kind;
    const struct vocab_pre_family *pre;  /* BPE only; NULL for SPM */

    size_t n_tokens;
    struct vocab_token *tok;  /* [n_tokens] */
    char *text;               /* all token texts, each NUL-terminated */
    uint32_t *tok_index;      /* open addressing: id + 1, 0 = empty */
    size_t tok_mask;          /* table size - 1 (power of two) */

    size_t n_merges;
    struct vocab_merge *merge; /* [n_merges], rank = index */
    char *merge_text;
    uint32_t *merge_index;     /* rank + 1, 0 = empty */
    size_t merge_mask;

    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
    bool clean_spaces; /* llama.cpp's clean_up_tokenization_spaces default */

    int32_t *special;  /* CONTROL, USER_DEFINED, UNKNOWN ids, longest text first */
    size_t n_special;

    /* The pre-tokenizer's regexes in order.  re[i] == NULL marks "\\s+$",
     * split natively: PCRE2 tries it at every start position of a long
     * whitespace run, which is quadratic. */
    pcre2_code *re[VOCAB_MAX_REGEX];
    size_t n_re;
};

/* Text of a token (NUL-terminated, length v->tok[id].len). id must be valid. */
static inline const char *vocab_text(const struct joule_vocab *v, int32_t id)
{
    return v->text + v->tok[id].off;
}

/* Rank of the merge (left, right), or -1. */
int32_t vocab_merge_rank(const struct joule_vocab *v, const char *left, size_t left_len,
                         const char *right, size_t right_len);

#endif /* JOULE_ENGINE_VOCAB_INT_H */
