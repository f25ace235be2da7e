/*
 * dataset.h - the built-in datasets' text (dataset_builtin.c) as the
 * loader (dataset.c) reads it.  The public API is joule_dataset_* in
 * joule.h; nothing here is exported.
 */
#ifndef JOULE_DATASET_H
#define JOULE_DATASET_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

/* splitmix64 (Steele, Lea, Flood 2014): one 64-bit add and a mix per draw.
 * Written out here rather than taken from libc so that a seed names the same
 * sequence on every platform and every libc: shuffles and the arithmetic
 * problems must not change with the machine. */
static inline uint64_t joule_ds_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Two strings of a built-in record; which two depends on the set. */
struct joule_ds_pair {
    const char *a;
    const char *b;
};

/* summaries: {doc, ref}. */
extern const struct joule_ds_pair joule_ds_summaries[];
extern const size_t joule_ds_n_summaries;

/* questions: {question, short answer}. */
extern const struct joule_ds_pair joule_ds_questions[];
extern const size_t joule_ds_n_questions;

/* instructions: {instruction, input or NULL}. */
extern const struct joule_ds_pair joule_ds_instructions[];
extern const size_t joule_ds_n_instructions;

/* arithmetic: problem i of JOULE_DS_N_ARITHMETIC, generated from a fixed
 * seed so it is the same in every build.  question and reference (a worked
 * solution ending "#### N") are written into the buffers; *answer gets N. */
#define JOULE_DS_N_ARITHMETIC 64
void joule_ds_arithmetic(size_t i, char *question, size_t question_size, char *reference,
                         size_t reference_size, int64_t *answer);

#endif /* JOULE_DATASET_H */
