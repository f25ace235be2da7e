/*
 * suggest.h - "did you mean": the nearest of a list of names to a word that
 * matched none of them, for error messages about typos in keys and values.
 */
#ifndef JOULE_SUGGEST_H
#define JOULE_SUGGEST_H

#include <stddef.h>

/* Edit distance (Levenshtein) of a and b, case-insensitive and with '-'
 * and '_' alike; 99 when either is longer than 64 bytes. */
size_t joule_edit_distance(const char *a, const char *b);

/* The candidate of cand[0 .. n) nearest to word, or NULL when none is near
 * enough to be a typo: at most a third of the word's length in edits (2 to
 * 3).  A candidate that starts with the word (3 bytes or more) counts as 1
 * edit away, and a dotted candidate is also compared by its part after the
 * last '.' ("cycles" finds "protocol.cycles").  Returns one of cand. */
const char *joule_nearest(const char *word, const char *const *cand, size_t n);

#endif /* JOULE_SUGGEST_H */
