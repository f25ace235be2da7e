/*
 * pack.h - weight matrices re-laid at load for the packed tiles.
 *
 * A row-major quantized matrix makes a tile that keeps several rows in
 * registers read several streams at once, one per row, and combine every
 * row's products with its own block scales: at batch 1 that tile ran at a
 * third of the memory bandwidth (docs/performance.md).  Packed, 16
 * consecutive rows become one group in which, block after block, the 16
 * rows' fields sit side by side:
 *
 *   - scalar fields (a block's F16 scale, a K-quant's 6-bit scale bytes)
 *     are transposed: field element i of rows 0..15 are neighbours, so one
 *     load gives a vector with one lane per row;
 *   - quant bytes are interleaved 4 bytes at a time: bytes 4q .. 4q + 3 of
 *     rows 0..15 fill one 64-byte line, lane r holding row r's, so one
 *     vpdpbusd against 4 activation bytes broadcast to all lanes advances
 *     the 16 dot products together.
 *
 * A tile then reads one sequential stream, and per block the scales are
 * applied to 16 rows at once with no horizontal sums.  The layout is a
 * permutation of the rows' bytes (Q8_0's quants also have their sign bit
 * flipped): a group takes exactly the bytes of its 16 rows, and packed row
 * r0 (a multiple of 16) starts where row r0 did.
 * Rows past the last whole group stay row-major.
 *
 * The layout of each type is in pack.c.  It does not depend on the ISA:
 * kernels.h's packed tiles of every level read it (the scalar twin by
 * unpacking a group and calling the reference tile).
 */
#ifndef JOULE_ENGINE_PACK_H
#define JOULE_ENGINE_PACK_H

#include "quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOULE_PACK_ROWS 16

/* Whether weights of this type have a packed layout. */
bool joule_pack_has_layout(uint32_t type);

/* Packs the 16 rows at rows (row_stride bytes apart, n elements each, n a
 * multiple of the block size) into the group dst (16 row-bytes). */
void joule_pack_group(uint32_t type, int64_t n, const void *rows, size_t row_stride, void *dst);

/* The inverse: group src back to 16 rows at rows, row_stride apart. */
void joule_unpack_group(uint32_t type, int64_t n, const void *src, void *rows, size_t row_stride);

/* Where byte `byte` of row `lane` (0..15) of a group went: its offset in
 * the packed group; *flipped when it is stored XOR 0x80.  For the few
 * readers of single weights (the int8 mode's outlier columns). */
size_t joule_pack_locate(uint32_t type, int lane, size_t byte, bool *flipped);

#endif /* JOULE_ENGINE_PACK_H */
