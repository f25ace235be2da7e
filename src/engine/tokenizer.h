/*
 * tokenizer.h - text to token ids and back, with a struct joule_vocab.
 *
 * Two algorithms, chosen by the vocabulary, both following llama.cpp
 * (src/llama-vocab.cpp) so that ids match it exactly:
 *  - SPM ("llama"): spaces become U+2581, a leading space is added, adjacent
 *    symbols merge by highest token score, leftovers fall back to <0xHH>
 *    byte tokens.
 *  - byte-level BPE ("gpt2"): the pre-tokenizer regexes split the text, each
 *    piece is mapped through GPT-2's byte-to-unicode table and merged by
 *    lowest merge rank.
 * See docs/internals/tokenizer.md.
 *
 * Both functions are thread-safe for a shared const vocabulary: all working
 * memory is allocated per call.
 */
#ifndef JOULE_ENGINE_TOKENIZER_H
#define JOULE_ENGINE_TOKENIZER_H

#include "joule.h"
#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest input accepted by joule_tokenize, in bytes. */
#define JOULE_TOKENIZE_MAX_BYTES (1u << 28)

/* Flags: enum joule_tokenize_flags and enum joule_detokenize_flags, in
 * include/joule.h (the public tokenizer API shares them). */

/*
 * Tokenizes text[0 .. len) (any bytes: invalid UTF-8 is tokenized the way
 * llama.cpp does, never rejected) into ids[0 .. cap).
 *
 * *n_out is always set to the number of ids the text needs.  Returns
 * JOULE_OK when they all fit in cap; JOULE_ERR_INVALID when cap is too
 * small (the first cap ids are written; call again with cap >= *n_out) or
 * when an argument is bad (v or n_out NULL, text NULL with len > 0, ids
 * NULL with cap > 0, len > JOULE_TOKENIZE_MAX_BYTES); JOULE_ERR_NOMEM; or
 * JOULE_ERR_FORMAT if the regex engine fails (match limit).
 * text and ids are borrowed for the call only.
 */
enum joule_status joule_tokenize(const struct joule_vocab *v, const char *text, size_t len,
                                 unsigned flags, int32_t *ids, size_t cap, size_t *n_out);

/*
 * Writes the text of ids[0 .. n) into out[0 .. cap).
 *
 * NORMAL tokens give their text (SPM: U+2581 back to spaces; BPE: GPT-2
 * characters back to bytes), BYTE tokens their byte, USER_DEFINED tokens
 * their text verbatim, CONTROL / UNKNOWN tokens their text only with
 * JOULE_DETOKENIZE_RENDER_SPECIAL, UNUSED and UNDEFINED tokens nothing.  For
 * SPM the first token loses one leading space (the one tokenizing added).
 * Without JOULE_DETOKENIZE_CLEAN_SPACES, tokenize then detokenize gives
 * the input back for valid UTF-8 text without special tokens.
 *
 * *len_out is always set to the bytes the text needs (without a NUL).
 * When it is < cap a NUL is written after the text.  Returns JOULE_OK when
 * the text fit (*len_out <= cap), JOULE_ERR_INVALID when cap is too small
 * or an id is out of range or an argument is NULL.  ids and out are
 * borrowed for the call only.
 */
enum joule_status joule_detokenize(const struct joule_vocab *v, const int32_t *ids, size_t n,
                                   unsigned flags, char *out, size_t cap, size_t *len_out);

/* Longest text one token can give (joule_token_piece). */
#define JOULE_TOKEN_PIECE_MAX (JOULE_VOCAB_MAX_TOKEN_BYTES + 8)

/*
 * The text token id contributes in the middle of a generated text (no
 * leading space removed, CONTROL tokens empty unless render_special) into
 * buf[JOULE_TOKEN_PIECE_MAX]; returns its length.  id must be in range.
 */
size_t joule_token_piece(const struct joule_vocab *v, int32_t id, bool render_special,
                         char *buf);

/* The public handle of joule.h's tokenizer API: a vocabulary, owned or
 * lent by an engine (joule_engine_tokenizer). */
struct joule_tokenizer {
    struct joule_vocab *vocab;
};

#endif /* JOULE_ENGINE_TOKENIZER_H */
