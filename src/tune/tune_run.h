/*
 * tune_run.h - running prompt configurations on the built-in engine and tuning
 * a prompt space: what `joule tune` and `joule tune evaluate` do, without
 * the printing.
 *
 * One configuration on a set of examples (joule_tune_generate): every
 * example's prompt is rendered with the configuration, the requests are
 * submitted (tokenized) up to the engine's n_seq at a time, and one meter
 * window is wrapped around the engine steps of each such batch alone (no
 * tokenizing, no I/O inside it).  The generated text only is scored against
 * the reference.  A batch's energy is shared among its examples in
 * proportion to the tokens each one put through the model (prompt plus
 * generated); with n_seq 1 every example has its own window.
 *
 * A tuning (joule_tune_run): successive halving (halving.h) over brackets of
 * configurations asked from a seeded sampler, every finished trial told to
 * it and appended to trials.csv (trials.h); a meter window around the whole
 * run gives the energy of the tuning itself.  Resuming from trials.csv
 * replays the finished trials and completes the same set of trials as an
 * uninterrupted run (docs/internals/tune.md).
 */
#ifndef JOULE_TUNE_TUNE_RUN_H
#define JOULE_TUNE_TUNE_RUN_H

#include "joule.h"
#include "objective.h"
#include "space.h"
#include "trials.h"
#include "tune_sampler.h"

#include <stddef.h>
#include <stdint.h>

/* What configurations are run with; everything is borrowed. */
struct joule_tune_exec {
    struct joule_engine *engine; /* idle; its n_seq is the batch */
    struct joule_meter *meter;   /* NULL: no energy figures (NAN) */
    const struct joule_tune_space *space;
    const struct joule_dataset *data; /* samples with input (else prompt) and a reference */
    enum joule_eval_task task;        /* JOULE_EVAL_ROUGE, _EXACT or _NUMERIC */
    int32_t max_tokens;               /* generated tokens per example, >= 1 */
    int chat;           /* non-zero: the system slot as the system message, the rest of the
                           template as the user message of the model's chat template */
    volatile int *stop; /* may be NULL; non-zero: abandon at the next engine step */
};

/* One example's outcome. */
struct joule_tune_example {
    char *text;                       /* generated text, owned (joule_tune_examples_clear) */
    double score;                     /* ROUGE-L F1, or 1/0 for exact and numeric */
    double energy_j;                  /* its share of its batch's window; NAN without a meter */
    double latency_s;                 /* admitted to a slot .. finished */
    int32_t n_input;                  /* prompt tokens */
    int32_t n_output;                 /* generated tokens */
    enum joule_provenance provenance; /* of its window's total */
};

/* Checks that every sample of x->data has what x->task scores against (a
 * reference; exact and numeric also take the short answer).
 * JOULE_ERR_INVALID naming the first sample without one. */
enum joule_status joule_tune_check_data(const struct joule_tune_exec *x, char *err,
                                        size_t err_size);

/* Runs examples [from, to) of x->data with configuration c into
 * out[0 .. to - from) (zeroed first).  *stopped is set when x->stop ended it
 * early: out is then incomplete (clear it and discard it).  A prompt the
 * engine refuses (too long for the context) gives JOULE_ERR_INVALID with its
 * message; JOULE_ERR_NOMEM.  The engine's callbacks are replaced during the
 * call and cleared after it. */
enum joule_status joule_tune_generate(const struct joule_tune_exec *x,
                                      const struct joule_tune_cfg *c, size_t from, size_t to,
                                      struct joule_tune_example *out, int *stopped, char *err,
                                      size_t err_size);

/* Frees the texts of ex[0 .. n) and zeroes the entries. */
void joule_tune_examples_clear(struct joule_tune_example *ex, size_t n);

/* The metrics of a trial from its examples ex[0 .. n): the task's accuracy
 * (rouge_l, exact or numeric; the others NAN), energy_total_j (sum),
 * tokens_total, tpj, latency_s (mean), energy_j_per_ex, n_examples,
 * energy_source (the weakest provenance) and value (objective.h).  Number,
 * configuration, state and rank are left alone. */
void joule_tune_trial_metrics(struct joule_tune_trial *t, enum joule_eval_task task,
                              const struct joule_tune_example *ex, size_t n,
                              const struct joule_tune_weights *w);

/* The accuracy of t for task (rouge_l, exact or numeric). */
double joule_tune_trial_accuracy(const struct joule_tune_trial *t, enum joule_eval_task task);

struct joule_tune_params {
    enum joule_tune_sampler_kind sampler;
    uint64_t seed;
    struct joule_tune_weights weights;
    uint32_t n_trials;       /* configurations to try (capped by the space's size) */
    uint32_t min_examples;   /* the first rung; >= the data's count: no halving */
    uint32_t eta;            /* promotion ratio, >= 2 */
    const char *trials_path; /* trials.csv: appended to, read back to resume */
    int fresh;               /* non-zero: ignore (overwrite) an existing trials.csv */
    int pareto;              /* non-zero: TPE splits by Pareto rank of accuracy, energy per
                                example (with a meter) and latency, not by value alone */
};

/* Progress: a trial finished (resumed: read back from trials.csv), or a
 * rung of a bracket is about to run (trial NULL). */
struct joule_tune_event {
    const struct joule_tune_trial *trial;
    int resumed;
    uint32_t bracket;
    uint32_t rung;          /* 0-based */
    uint32_t rung_examples; /* the rung's subset */
    uint32_t n_running;     /* trials in the rung */
};
typedef void (*joule_tune_event_fn)(void *user, const struct joule_tune_event *ev);

struct joule_tune_outcome {
    struct joule_tune_trial *trials; /* every finished trial, by number; pareto_rank set */
    size_t n_trials;
    size_t n_resumed; /* of which read back from trials.csv */
    int interrupted;  /* x->stop ended the run; trials.csv keeps what finished */
    long best;        /* index in trials of the best COMPLETE trial by value, -1 */
    uint32_t n_rungs;
    uint32_t rungs[32];    /* the rungs' subset sizes */
    uint32_t bracket_size; /* trials a bracket starts with */
    /* The meter window around this invocation's whole run (every trial's
     * windows and the work between them), and the sum of this invocation's
     * trial windows; NAN without a meter. */
    struct joule_reading tuning;
    double trials_energy_j;
    double tuning_s;
};

/* Tunes x->space on x->data (its first count examples are the full set,
 * nested subsets of its order the rungs).  Ranks: the Pareto ranks of the
 * COMPLETE trials by accuracy (up), energy per example (down) and latency
 * (down), or the two others when no trial has an energy figure; PRUNED
 * and FAIL trials get 0.  trials.csv is rewritten with the
 * ranks at the end (atomically), also after an interruption.  A trials.csv
 * that does not fit (another space, configurations this seed and sampler
 * would not have proposed): JOULE_ERR_FORMAT with the reason; JOULE_ERR_IO;
 * JOULE_ERR_NOMEM.  out is filled also on failure (free it). */
enum joule_status joule_tune_run(const struct joule_tune_exec *x, const struct joule_tune_params *p,
                                 joule_tune_event_fn on_event, void *user,
                                 struct joule_tune_outcome *out, char *err, size_t err_size);

void joule_tune_outcome_free(struct joule_tune_outcome *o);

#endif /* JOULE_TUNE_TUNE_RUN_H */
