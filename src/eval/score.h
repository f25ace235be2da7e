/*
 * score.h - scoring generated text against references: ROUGE as the
 * `rouge_score` package computes it, exact match, numeric answers.  Pure
 * functions of their strings; the definitions, with worked examples, are in
 * docs/internals/eval-scoring.md.
 */
#ifndef JOULE_EVAL_SCORE_H
#define JOULE_EVAL_SCORE_H

#include "joule.h"

#include <stddef.h>

/* Precision, recall and F1 of one ROUGE variant. */
struct joule_eval_rouge {
    double p, r, f;
};

/* ROUGE-1, ROUGE-2 and ROUGE-L of candidate against reference, into
 * out[0], out[1], out[2].  Tokens: lowercase ASCII letters and digits, any
 * other byte a separator; with stem, tokens longer than 3 letters are
 * reduced by the original Porter (1980) stemmer.  F1 is 0 when P + R is 0.
 * JOULE_ERR_NOMEM; JOULE_ERR_INVALID beyond 1<<20 tokens a side. */
enum joule_status joule_eval_rouge(const char *candidate, const char *reference, int stem,
                                   struct joule_eval_rouge out[3]);

/* The Porter (1980) stem of the lowercase ASCII word w[0 .. n) into out
 * (at least n + 1 bytes); returns the stem's length. */
size_t joule_eval_porter(const char *w, size_t n, char *out);

/* 1 when the first line of prediction equals answer once both are
 * normalized (lowercase ASCII, punctuation dropped, the articles a, an and
 * the dropped, runs of white space made one space, trimmed), else 0. */
int joule_eval_exact(const char *prediction, const char *answer);

/* The answer number of text: the first number after its last "####" when
 * it has one, else its last number.  Numbers are an optional '-', digits
 * with optional thousands commas ("1,234") and an optional decimal part;
 * '$' and '%' around them are ignored.  1 and *out when found, else 0. */
int joule_eval_number(const char *text, double *out);

/* 1 when the numbers of prediction and answer (joule_eval_number) are
 * equal to 1e-6 relative (or 1e-9 absolute), else 0. */
int joule_eval_numeric_match(const char *prediction, const char *answer);

#endif /* JOULE_EVAL_SCORE_H */
