/*
 * unicode.h - private to src/engine: the UTF-8 and GPT-2 byte-mapping
 * helpers the tokenizers share.  Pure functions, no state.
 */
#ifndef JOULE_ENGINE_UNICODE_H
#define JOULE_ENGINE_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOULE_CP_REPLACEMENT 0xFFFDu

/* Bytes a UTF-8 sequence claims from its first byte alone, 1..4: the table
 * llama.cpp uses to cut text into symbols (a stray continuation byte or an
 * invalid lead counts as one byte).  The caller clamps to what is left. */
static inline size_t joule_utf8_seq_len(uint8_t lead)
{
    static const uint8_t len_by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                   1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_high_nibble[lead >> 4];
}

/*
 * Decodes one code point from s[*i .. n) the lenient way llama.cpp does:
 * lead and continuation bits are checked, overlong forms and surrogates are
 * accepted, anything else yields U+FFFD and consumes one byte.  Code points
 * above U+10FFFF (which llama.cpp cannot re-encode) also yield U+FFFD.
 * Advances *i by the bytes consumed (>= 1).  Requires *i < n.
 */
uint32_t joule_utf8_decode(const uint8_t *s, size_t n, size_t *i);

/* Encodes cp (<= 0x10FFFF; surrogates allowed) into out[4]; returns 1..4,
 * or 0 for a code point above 0x10FFFF. */
size_t joule_utf8_encode(uint32_t cp, uint8_t out[4]);

/* True when s[0 .. n) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool joule_utf8_valid(const uint8_t *s, size_t n);

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order. */
uint32_t joule_bpe_byte_to_cp(uint8_t b);

/* The inverse: the byte a code point stands for, or -1 if none. */
int joule_bpe_cp_to_byte(uint32_t cp);

#endif /* JOULE_ENGINE_UNICODE_H */
