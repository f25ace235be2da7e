/*
 * vocab.h - a tokenizer vocabulary: tokens, scores, token types, merges,
 * special ids and the pre-tokenizer, validated and indexed once.
 *
 * A vocabulary is built from plain arrays (struct joule_vocab_desc), so it
 * can come from a GGUF file (joule_vocab_from_gguf, vocab_gguf.c), from a
 * test, or from a fuzz target.  The builder copies everything it needs: the
 * arrays in the description are borrowed for the duration of the call only.
 *
 * A built vocabulary is immutable.  Every function taking a
 * `const struct joule_vocab *` may be called from several threads at once;
 * unless its comment says otherwise, that pointer must not be NULL.
 */
#ifndef JOULE_ENGINE_VOCAB_H
#define JOULE_ENGINE_VOCAB_H

#include "joule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct joule_vocab; /* opaque */

/* No token (an absent special id). */
#define JOULE_TOKEN_NULL (-1)
/* In a description: "use the default of the model kind" (llama.cpp's defaults). */
#define JOULE_VOCAB_DEFAULT_ID INT32_MIN
#define JOULE_VOCAB_DEFAULT_FLAG (-1)

/* Largest vocabulary and merge list accepted (ids are int32). */
#define JOULE_VOCAB_MAX_TOKENS (1u << 24)
#define JOULE_VOCAB_MAX_MERGES (1u << 24)
/* Longest token text accepted, in bytes. */
#define JOULE_VOCAB_MAX_TOKEN_BYTES 4096u

/* The tokenizer algorithm (tokenizer.ggml.model). */
enum joule_vocab_kind {
    JOULE_VOCAB_SPM = 1, /* "llama": SentencePiece BPE by score, byte fallback */
    JOULE_VOCAB_BPE = 2, /* "gpt2": byte-level BPE by merge rank, regex pre-tokenizer */
};

/* Token types as stored in tokenizer.ggml.token_type (llama.cpp's values). */
enum joule_token_type {
    JOULE_TOKEN_UNDEFINED = 0,
    JOULE_TOKEN_NORMAL = 1,
    JOULE_TOKEN_UNKNOWN = 2,
    JOULE_TOKEN_CONTROL = 3,
    JOULE_TOKEN_USER_DEFINED = 4,
    JOULE_TOKEN_UNUSED = 5,
    JOULE_TOKEN_BYTE = 6,
};

/* Whitespace stripping around a special token when it is cut out of the
 * text (llama.cpp's LSTRIP / RSTRIP token attributes). */
enum joule_token_strip {
    JOULE_TOKEN_LSTRIP = 1u << 0, /* drop whitespace before the token */
    JOULE_TOKEN_RSTRIP = 1u << 1, /* drop whitespace after the token */
};

/*
 * Everything a vocabulary is made of.  Fill with joule_vocab_desc_init(),
 * then set the fields.  All pointers are borrowed for the duration of
 * joule_vocab_build() only.
 */
struct joule_vocab_desc {
    const char *model;          /* "llama" (SPM) or "gpt2" (BPE); required */
    const char *pre;            /* pre-tokenizer name (tokenizer.ggml.pre); NULL = "default" */
    size_t n_tokens;            /* 1 .. JOULE_VOCAB_MAX_TOKENS */
    const char *const *tokens;  /* [n_tokens] token texts, UTF-8 */
    const size_t *token_lens;   /* [n_tokens] byte lengths, or NULL: tokens are NUL-terminated */
    const float *scores;        /* [n_tokens] or NULL (all 0) */
    const int32_t *token_types; /* [n_tokens] enum joule_token_type values, or NULL (all NORMAL) */
    const uint8_t *token_strip; /* [n_tokens] enum joule_token_strip bits, or NULL (none) */
    size_t n_merges;            /* BPE: required (> 0); SPM: ignored */
    const char *const *merges;  /* [n_merges] "left right", rank = index */
    const size_t *merge_lens;   /* [n_merges] byte lengths, or NULL: NUL-terminated */
    int32_t bos_id;             /* JOULE_VOCAB_DEFAULT_ID, JOULE_TOKEN_NULL or an id */
    int32_t eos_id;
    int32_t unk_id;
    int32_t pad_id;
    int add_bos;                /* JOULE_VOCAB_DEFAULT_FLAG, 0 or 1 */
    int add_eos;
    int add_space_prefix;       /* SPM: prefix a space to the text (default 1); BPE: must be 0 */
};

/* Sets every field to "absent" / "model default". d must not be NULL. */
void joule_vocab_desc_init(struct joule_vocab_desc *d);

/*
 * Validates desc and builds a vocabulary.
 *
 * Checks: the model kind and pre-tokenizer are supported; every token is
 * valid UTF-8, non-empty (an empty token becomes "[EMPTY_<id>]" as in
 * llama.cpp) and unique; token types are 0..6; scores are not NaN; every
 * merge is "left right" with both sides non-empty; special ids are in range
 * (a default id outside the vocabulary becomes JOULE_TOKEN_NULL, an explicit
 * one is an error); add_bos / add_eos name an existing id.
 *
 * On success returns JOULE_OK and *out owns a new vocabulary (release with
 * joule_vocab_free).  On failure returns JOULE_ERR_INVALID (bad description),
 * JOULE_ERR_UNSUPPORTED (unknown model kind or pre-tokenizer; the message
 * lists the supported ones) or JOULE_ERR_NOMEM, sets *out to NULL and writes
 * a message into err[err_size] (err may be NULL when err_size is 0).
 */
enum joule_status joule_vocab_build(const struct joule_vocab_desc *desc, struct joule_vocab **out,
                                    char *err, size_t err_size);

/* Releases a vocabulary.  NULL is a no-op. */
void joule_vocab_free(struct joule_vocab *v);

/* The algorithm of v. */
enum joule_vocab_kind joule_vocab_kind(const struct joule_vocab *v);

/* The canonical pre-tokenizer name ("default", "gpt-2", "llama3", ...); for
 * SPM always "default".  Static string. */
const char *joule_vocab_pre(const struct joule_vocab *v);

/* Number of tokens (ids are 0 .. n-1). */
size_t joule_vocab_n_tokens(const struct joule_vocab *v);

/* Text of token id and its length in *len (may be NULL); NULL if id is out
 * of range.  Borrowed from v: valid until joule_vocab_free(v).  Not
 * NUL-terminated as far as callers may rely on: use *len. */
const char *joule_vocab_token_text(const struct joule_vocab *v, int32_t id, size_t *len);

/* Type and score of token id (JOULE_TOKEN_UNDEFINED / 0 when out of range). */
enum joule_token_type joule_vocab_token_type(const struct joule_vocab *v, int32_t id);
float joule_vocab_token_score(const struct joule_vocab *v, int32_t id);

/* The id of a token text, JOULE_TOKEN_NULL if absent.  text is borrowed. */
int32_t joule_vocab_find(const struct joule_vocab *v, const char *text, size_t len);

/* Special ids (JOULE_TOKEN_NULL when absent) and add flags. */
int32_t joule_vocab_bos(const struct joule_vocab *v);
int32_t joule_vocab_eos(const struct joule_vocab *v);
int32_t joule_vocab_unk(const struct joule_vocab *v);
int32_t joule_vocab_pad(const struct joule_vocab *v);
bool joule_vocab_add_bos(const struct joule_vocab *v);
bool joule_vocab_add_eos(const struct joule_vocab *v);

/* Comma-separated list of supported pre-tokenizer names.  Static string. */
const char *joule_vocab_supported_pre(void);

struct joule_gguf; /* src/model/gguf.h */

/*
 * Builds a vocabulary from the tokenizer.ggml.* keys of an open GGUF file
 * (model, pre, tokens, scores, token_type, merges, bos/eos/unknown/padding
 * token ids, add_bos_token, add_eos_token, add_space_prefix).  As llama.cpp
 * does, strip attributes come from names: a model whose general.name
 * contains "phi-3" or "phi3" gets RSTRIP on its special tokens except
 * <unk>, <s> and <|endoftext|>; jina-v2 / nomic-bert-moe / jina-bert-v3 get
 * LSTRIP on <mask>, modern-bert on [MASK].  Keys with
 * the wrong type are errors; a special id outside the vocabulary is ignored
 * (the kind's default stands), as llama.cpp does.  g is borrowed for the
 * call only: the vocabulary copies what it keeps.
 *
 * Returns what joule_vocab_build() returns, plus JOULE_ERR_NOT_FOUND when
 * tokenizer.ggml.model or tokenizer.ggml.tokens is missing and
 * JOULE_ERR_FORMAT for a key of the wrong type or a short array; the
 * message is in err[err_size].  *out is NULL on failure.
 */
enum joule_status joule_vocab_from_gguf(const struct joule_gguf *g, struct joule_vocab **out,
                                        char *err, size_t err_size);

#endif /* JOULE_ENGINE_VOCAB_H */
