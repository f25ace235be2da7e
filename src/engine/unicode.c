/* unicode.c - UTF-8 decoding and encoding, GPT-2 byte mapping. */
#include "unicode.h"

#include "joule_int.h"

static bool is_cont(uint8_t b)
{
    return (b & 0xC0u) == 0x80u;
}

uint32_t joule_utf8_decode(const uint8_t *s, size_t n, size_t *i)
{
    size_t k = *i;
    uint8_t b0 = s[k];
    size_t need;
    uint32_t cp;

    if (b0 < 0x80u) {
        *i = k + 1;
        return b0;
    }
    if ((b0 & 0x40u) == 0) { /* a continuation byte where a lead belongs */
        *i = k + 1;
        return JOULE_CP_REPLACEMENT;
    }
    if ((b0 & 0x20u) == 0) {
        need = 1;
        cp = b0 & 0x1Fu;
    } else if ((b0 & 0x10u) == 0) {
        need = 2;
        cp = b0 & 0x0Fu;
    } else if ((b0 & 0x08u) == 0) {
        need = 3;
        cp = b0 & 0x07u;
    } else {
        *i = k + 1;
        return JOULE_CP_REPLACEMENT;
    }
    if (n - k <= need) {
        *i = k + 1;
        return JOULE_CP_REPLACEMENT;
    }
    for (size_t j = 1; j <= need; j++) {
        if (!is_cont(s[k + j])) {
            *i = k + 1;
            return JOULE_CP_REPLACEMENT;
        }
        cp = (cp << 6) | (s[k + j] & 0x3Fu);
    }
    *i = k + need + 1;
    /* llama.cpp reads these as one code point and then fails to encode it;
     * one replacement character for the whole sequence keeps going. */
    return cp > 0x10FFFFu ? JOULE_CP_REPLACEMENT : cp;
}

size_t joule_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp <= 0x7Fu) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp <= 0x7FFu) {
        out[0] = (uint8_t)(0xC0u | (cp >> 6));
        out[1] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp <= 0xFFFFu) {
        out[0] = (uint8_t)(0xE0u | (cp >> 12));
        out[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    if (cp <= 0x10FFFFu) {
        out[0] = (uint8_t)(0xF0u | (cp >> 18));
        out[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3Fu));
        out[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        out[3] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 4;
    }
    return 0;
}

bool joule_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b0 = s[i];
        size_t need;
        uint32_t cp, min;
        if (b0 < 0x80u) {
            i++;
            continue;
        }
        if (b0 >= 0xC2u && b0 <= 0xDFu) {
            need = 1;
            cp = b0 & 0x1Fu;
            min = 0x80u;
        } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
            need = 2;
            cp = b0 & 0x0Fu;
            min = 0x800u;
        } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
            need = 3;
            cp = b0 & 0x07u;
            min = 0x10000u;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t j = 1; j <= need; j++) {
            if (!is_cont(s[i + j]))
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu))
            return false;
        i += need + 1;
    }
    return true;
}

/*
 * The 188 printable bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for
 * themselves.  The remaining 68 are numbered in byte order from U+0100:
 * 0x00..0x20 -> 0..32, 0x7F..0xA0 -> 33..66, 0xAD -> 67.
 */
uint32_t joule_bpe_byte_to_cp(uint8_t b)
{
    if (b <= 0x20u)
        return 0x100u + b;
    if (b >= 0x7Fu && b <= 0xA0u)
        return 0x100u + 33u + (uint32_t)(b - 0x7Fu);
    if (b == 0xADu)
        return 0x100u + 67u;
    return b;
}

int joule_bpe_cp_to_byte(uint32_t cp)
{
    if ((cp >= 0x21u && cp <= 0x7Eu) || (cp >= 0xA1u && cp <= 0xACu) ||
        (cp >= 0xAEu && cp <= 0xFFu))
        return (int)cp;
    if (cp >= 0x100u && cp <= 0x120u)
        return (int)(cp - 0x100u);
    if (cp >= 0x121u && cp <= 0x142u)
        return (int)(0x7Fu + (cp - 0x121u));
    if (cp == 0x143u)
        return 0xAD;
    return -1;
}
