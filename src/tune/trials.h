/*
 * trials.h - trials.csv, the record of a `joule tune` run: one row a trial,
 * written as each trial ends (so an interrupted run loses at most the trial
 * it was in) and read back to resume.
 *
 * Columns, in this order: the EAPO seed's
 *   number, value, cfg_<factor> (one per factor of the space, in its
 *   order), metric_rougeL, metric_energy_total_J, metric_tpj,
 *   metric_latency_s, metric_tokens_total, metric_energy_J_per_ex
 * then joule's own
 *   metric_exact, metric_numeric, n_examples, state, pareto_rank,
 *   energy_source
 * A number that is not known (NAN) is an empty field, as pandas writes it.
 * No field ever needs quoting: level names and states are plain words.
 */
#ifndef JOULE_TUNE_TRIALS_H
#define JOULE_TUNE_TRIALS_H

#include "joule.h"
#include "space.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum joule_tune_state {
    JOULE_TUNE_COMPLETE = 0, /* scored on all the examples it was given */
    JOULE_TUNE_PRUNED = 1,   /* stopped by successive halving on a subset */
    JOULE_TUNE_FAIL = 2,     /* generation or scoring failed; value NAN */
};

#define JOULE_TUNE_SOURCE_MAX 16

struct joule_tune_trial {
    uint32_t number; /* 0, 1, ... in the order trials started */
    double value;    /* the scalar objective; NAN when failed */
    struct joule_tune_cfg cfg;
    double rouge_l;         /* mean ROUGE-L F1 of the generated text; NAN: not scored */
    double energy_total_j;  /* energy of all its examples, J */
    double tpj;             /* generated tokens per joule */
    double latency_s;       /* mean latency of one example, s */
    uint64_t tokens_total;  /* generated tokens */
    double energy_j_per_ex; /* energy_total_j / n_examples */
    double exact;           /* exact-match rate; NAN: not scored */
    double numeric;         /* numeric-answer rate; NAN: not scored */
    uint32_t n_examples;    /* examples scored (the fidelity) */
    enum joule_tune_state state;
    int pareto_rank;                           /* 1: on the front; 0: not ranked */
    char energy_source[JOULE_TUNE_SOURCE_MAX]; /* "measured", "sampled", "estimated", ... */
};

/* A trial with every metric NAN, counts 0 and state COMPLETE. */
struct joule_tune_trial joule_tune_trial_init(void);

/* "COMPLETE", "PRUNED", "FAIL". */
const char *joule_tune_state_name(enum joule_tune_state st);

/* The header line of the space's trials.csv to f.  JOULE_ERR_IO. */
enum joule_status joule_tune_trials_header(FILE *f, const struct joule_tune_space *s);

/* One trial as a line to f.  JOULE_ERR_INVALID when energy_source is not a
 * plain word; JOULE_ERR_IO. */
enum joule_status joule_tune_trials_row(FILE *f, const struct joule_tune_space *s,
                                        const struct joule_tune_trial *t);

/* The whole file at path, atomically (header and trials[0 .. n)). */
enum joule_status joule_tune_trials_write(const char *path, const struct joule_tune_space *s,
                                          const struct joule_tune_trial *trials, size_t n,
                                          char *err, size_t err_size);

/* Reads trials.csv text written for the space s into *out (malloc'd, free
 * with free(); NULL when there are none) and *n.  A header that does not
 * match the space, or a bad line, gives JOULE_ERR_FORMAT and
 * "NAME:LINE: what is wrong" in err.  JOULE_ERR_NOMEM. */
enum joule_status joule_tune_trials_parse(const char *name, const char *text, size_t len,
                                          const struct joule_tune_space *s,
                                          struct joule_tune_trial **out, size_t *n, char *err,
                                          size_t err_size);

/* joule_tune_trials_parse of the file at path; JOULE_ERR_IO. */
enum joule_status joule_tune_trials_load(const char *path, const struct joule_tune_space *s,
                                         struct joule_tune_trial **out, size_t *n, char *err,
                                         size_t err_size);

#endif /* JOULE_TUNE_TRIALS_H */
