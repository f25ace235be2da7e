/*
 * pack.c - the packed layouts of pack.h.
 *
 * A block of a type is described as fields (offset, bytes, unit), placed
 * in the group in the order listed: field f of the group's block b holds
 * the bytes of field f of the 16 rows' blocks b, unit bytes at a time,
 * unit i of row r at (16 i + r) * unit.  So a unit-2 field of one F16 is
 * 16 scales side by side; a unit-1 field of 12 bytes is those bytes
 * transposed (byte i of every row together); a unit-4 field of 128 quant
 * bytes is 32 lines of 64 bytes, line q holding bytes 4q .. 4q + 3 of
 * every row.
 *
 *   F16, BF16 (2 bytes)                     -> element e of rows 0..15
 *   Q4_0 (18 bytes: d, qs[16])              -> d[16] | qs lines 0..3
 *        line k, lane r: row r's elements 4k .. 4k + 3 (low nibbles) and
 *        16 + 4k .. (high nibbles)
 *   Q8_0 (34: d, qs[32])                    -> d[16] | qs lines 0..7, each
 *        byte XOR 0x80 (q + 128: vpdpbusd wants the weights unsigned)
 *   Q4_K (144: d, dmin, scales[12], qs[128]) -> d[16] | dmin[16] |
 *        scales[12][16] | qs lines 0..31; line 8c + k: elements
 *        64c + 4k .. (low nibbles, sub-block 2c), 64c + 32 + 4k .. (high)
 *   Q6_K (210: ql[128], qh[64], scales[16], d) -> d[16] | scales[16][16] |
 *        then per half h and quarter kk (12 lines): ql bytes 64h + 16kk ..
 *        (4 lines), ql 64h + 32 + 16kk .. (4), qh 32h + 16kk .. (4)
 */
#include "pack.h"

#include "joule_int.h"

#include <string.h>

struct pack_field {
    uint16_t off, bytes, unit;
    uint8_t flip; /* bytes stored XOR 0x80: int8 quants as unsigned 0..255 */
};

struct pack_layout {
    uint32_t type;
    uint32_t block_bytes;
    int n_fields;
    struct pack_field f[14];
};

/* clang-format off */
static const struct pack_layout layouts[] = {
    /* one element a block: element e of the 16 rows side by side */
    {JOULE_QUANT_F16, 2, 1, {{0, 2, 2, 0}}},
    {JOULE_QUANT_BF16, 2, 1, {{0, 2, 2, 0}}},
    {JOULE_QUANT_Q4_0, 18, 2, {{0, 2, 2, 0}, {2, 16, 4, 0}}},
    /* the u8 side of vpdpbusd: q + 128, corrected by 128 sum(a) per block */
    {JOULE_QUANT_Q8_0, 34, 2, {{0, 2, 2, 0}, {2, 32, 4, 1}}},
    {JOULE_QUANT_Q4_K, 144, 4, {{0, 2, 2, 0}, {2, 2, 2, 0}, {4, 12, 1, 0}, {16, 128, 4, 0}}},
    /* ql and qh in the order the tile reads them: per (half h, quarter kk)
     * 4 lines of ql at 64h + 16kk, 4 at 64h + 32 + 16kk, 4 of qh at
     * 32h + 16kk, so the stream stays sequential */
    {JOULE_QUANT_Q6_K, 210, 14,
     {{208, 2, 2, 0}, {192, 16, 1, 0},
      {0, 16, 4, 0}, {32, 16, 4, 0}, {128, 16, 4, 0},
      {16, 16, 4, 0}, {48, 16, 4, 0}, {144, 16, 4, 0},
      {64, 16, 4, 0}, {96, 16, 4, 0}, {160, 16, 4, 0},
      {80, 16, 4, 0}, {112, 16, 4, 0}, {176, 16, 4, 0}}},
};
/* clang-format on */

static const struct pack_layout *find_layout(uint32_t type)
{
    for (size_t i = 0; i < JOULE_ARRAY_LEN(layouts); i++)
        if (layouts[i].type == type)
            return &layouts[i];
    return NULL;
}

bool joule_pack_has_layout(uint32_t type)
{
    return find_layout(type) != NULL;
}

/* Moves one group between the two layouts: to_group picks the direction. */
static void permute(const struct pack_layout *L, int64_t n, uint8_t *group, uint8_t *rows,
                    size_t row_stride, bool to_group)
{
    const struct joule_quant_traits *tr = joule_quant_traits(L->type);
    const int64_t nb = n / tr->block_size;
    if (L->block_bytes == 2) { /* F16, BF16: a plain transposition, billions of elements */
        for (int r = 0; r < JOULE_PACK_ROWS; r++) {
            uint8_t *row = rows + (size_t)r * row_stride;
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *gp = group + ((size_t)b * JOULE_PACK_ROWS + (size_t)r) * 2;
                memcpy(to_group ? gp : row + 2 * b, to_group ? row + 2 * b : gp, 2);
            }
        }
        return;
    }
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *g = group + (size_t)b * JOULE_PACK_ROWS * L->block_bytes;
        for (int fi = 0; fi < L->n_fields; fi++) {
            const struct pack_field *f = &L->f[fi];
            const int units = f->bytes / f->unit;
            for (int r = 0; r < JOULE_PACK_ROWS; r++) {
                uint8_t *row = rows + (size_t)r * row_stride + (size_t)b * L->block_bytes + f->off;
                uint8_t *gr = g + (size_t)r * f->unit;
                const uint32_t x = f->flip ? 0x80808080u : 0;
                /* unit a constant in each loop: 1, 2 or 4-byte moves, no calls */
#define MOVE_UNITS(U, T)                                                                           \
    for (int i = 0; i < units; i++) {                                                              \
        uint8_t *gp = gr + (size_t)JOULE_PACK_ROWS * i * (U), *rp = row + (size_t)i * (U);         \
        T v;                                                                                       \
        memcpy(&v, to_group ? rp : gp, U);                                                         \
        v ^= (T)x;                                                                                 \
        memcpy(to_group ? gp : rp, &v, U);                                                         \
    }
                if (f->unit == 4) {
                    MOVE_UNITS(4, uint32_t)
                } else if (f->unit == 2) {
                    MOVE_UNITS(2, uint16_t)
                } else {
                    MOVE_UNITS(1, uint8_t)
                }
#undef MOVE_UNITS
            }
            g += (size_t)JOULE_PACK_ROWS * f->bytes;
        }
    }
}

void joule_pack_group(uint32_t type, int64_t n, const void *rows, size_t row_stride, void *dst)
{
    const struct pack_layout *L = find_layout(type);
    JOULE_ASSERT(L);
    permute(L, n, dst, (uint8_t *)(uintptr_t)rows, row_stride, true);
}

void joule_unpack_group(uint32_t type, int64_t n, const void *src, void *rows, size_t row_stride)
{
    const struct pack_layout *L = find_layout(type);
    JOULE_ASSERT(L);
    permute(L, n, (uint8_t *)(uintptr_t)src, rows, row_stride, false);
}

size_t joule_pack_locate(uint32_t type, int lane, size_t byte, bool *flipped)
{
    const struct pack_layout *L = find_layout(type);
    JOULE_ASSERT(L && lane >= 0 && lane < JOULE_PACK_ROWS);
    const size_t b = byte / L->block_bytes, off = byte % L->block_bytes;
    size_t start = 0; /* of the field in a block of the group */
    for (int fi = 0; fi < L->n_fields; fi++) {
        const struct pack_field *f = &L->f[fi];
        if (off >= f->off && off < (size_t)f->off + f->bytes) {
            const size_t i = (off - f->off) / f->unit, u = (off - f->off) % f->unit;
            *flipped = f->flip;
            return b * JOULE_PACK_ROWS * L->block_bytes + start +
                   (JOULE_PACK_ROWS * i + (size_t)lane) * f->unit + u;
        }
        start += (size_t)JOULE_PACK_ROWS * f->bytes;
    }
    JOULE_ASSERT(!"a layout covers every byte of its block");
    return 0;
}
