/*
 * report.h - charts of stored results (`joule plot`, `joule report`) and
 * the HTML report: each chart builder reads the results store (or a tuning CSV) and
 * returns a chart of plot.h that owns its data.
 *
 * Kinds and what they read:
 *  - timeline: the stored power samples of one experiment (outputs.timeline),
 *    one line per energy domain, watts against seconds since the first
 *    measured window opened; each cycle's window start and end are
 *    vertical markers, and the line breaks between windows.
 *  - sweep: experiments measured at several batch sizes and precisions; two
 *    panels in one picture: energy per output token (J/token) and output
 *    tokens per second against batch size, one line per precision, error
 *    bars the 95% confidence interval over cycles.
 *  - pareto: energy per 1000 output tokens against the accuracy score
 *    stored with each experiment (joule compare, joule eval), one series per
 *    precision, with the Pareto frontier (no other point is at least as
 *    accurate for less energy); or the trials of a tuning CSV with EAPO's
 *    columns (metric_rougeL, metric_energy_total_J with metric_tokens_total,
 *    or metric_tpj).
 *  - latency: the empirical CDF of request latency, one step line per
 *    experiment.
 */
#ifndef JOULE_REPORT_H
#define JOULE_REPORT_H

#include "joule.h"
#include "plot.h"

#include <stdint.h>

enum joule_chart_kind {
    JOULE_CHART_TIMELINE = 0,
    JOULE_CHART_SWEEP = 1,
    JOULE_CHART_PARETO = 2,
    JOULE_CHART_LATENCY = 3,
};

/* "timeline", "sweep", "pareto", "latency"; -1 from parse for others. */
const char *joule_chart_kind_name(enum joule_chart_kind k);
int joule_chart_kind_parse(const char *name);

/* A series is drawn with markers up to this many points (beyond, only its
 * line: markers would hide it). */
#define JOULE_CHART_MARK_MAX 120

struct joule_chart;

/* The chart of kind k over experiments ids[0 .. n) of s (timeline: exactly
 * one).  title NULL: a title made from the kind and the ids.  Errors with
 * one sentence in err: JOULE_ERR_NOT_FOUND for an unknown experiment or
 * data the experiments lack (no timeline stored, no accuracy score, no
 * measured cycle), JOULE_ERR_INVALID for a kind that does not fit. */
enum joule_status joule_chart_from_store(struct joule_store *s, enum joule_chart_kind k,
                                         const int64_t *ids, size_t n_ids, const char *title,
                                         struct joule_chart **out, char *err, size_t err_size);

/* The Pareto chart of a tuning trials CSV (EAPO's columns).  Errors name
 * the file and line: JOULE_ERR_IO (unreadable), JOULE_ERR_FORMAT (a
 * missing column, a cell that is not a number, a broken quote). */
enum joule_status joule_chart_from_trials_csv(const char *path, const char *title,
                                              struct joule_chart **out, char *err, size_t err_size);

/* A scatter of two columns of any CSV (`joule plot --csv F --x C --y C`):
 * one series per distinct value of label (NULL: one series), the Pareto
 * frontier (each column's better direction from its name: energy, latency,
 * time, tokens and cost are lower-better, the rest higher-better), the
 * top annotate_topk rows by the `value` column (else by y) labelled with
 * their `number`, and markers moved by up to jitter_frac of each axis's
 * range (seeded; the frontier and labels keep the true values). */
struct joule_csv_xy {
    const char *path, *x, *y, *label;
    size_t annotate_topk;
    double jitter_frac;
};

enum joule_status joule_chart_from_csv_xy(const struct joule_csv_xy *q, const char *title,
                                          struct joule_chart **out, char *err, size_t err_size);

/* The chart to render (owned by c), and a remark worth telling the user
 * ("2 trials without energy were left out"), or "". */
const struct joule_plot_chart *joule_chart_plot(const struct joule_chart *c);
const char *joule_chart_note(const struct joule_chart *c);
void joule_chart_free(struct joule_chart *c);

/* --- CSV files (the tuning trials) ------------------------------------- */

/* A CSV file read whole (RFC 4180: quoted fields, doubled quotes, line
 * breaks inside quotes; a UTF-8 byte order mark skipped; blank lines
 * dropped).  Row 0 is the header; a row shorter than the header reads ""
 * for its missing fields, fields past the header's count are dropped. */
struct joule_csv {
    char *text;   /* the file, split in place */
    char **cells; /* rows * cols pointers into text (or to "") */
    size_t rows, cols;
};

/* Reads path into *out (free with joule_csv_free).  JOULE_ERR_IO
 * (unreadable), JOULE_ERR_FORMAT with "FILE:LINE: what" in err (an
 * unclosed quote, no header). */
enum joule_status joule_csv_read(const char *path, struct joule_csv *out, char *err,
                                 size_t err_size);
const char *joule_csv_cell(const struct joule_csv *c, size_t row, size_t col);
/* The column named name, or -1. */
long joule_csv_col(const struct joule_csv *c, const char *name);
void joule_csv_free(struct joule_csv *c);

/* --- HTML reports (`joule report`) ------------------------------------- */

enum joule_report_kind {
    JOULE_REPORT_RUN = 0,     /* one experiment */
    JOULE_REPORT_SWEEP = 1,   /* experiments at several batch sizes and precisions */
    JOULE_REPORT_COMPARE = 2, /* the experiments of `joule compare`, scored */
    JOULE_REPORT_TUNE = 3,    /* a tuning trials CSV */
};

struct joule_report_opts {
    enum joule_report_kind kind;
    const int64_t *ids; /* RUN: one; SWEEP, COMPARE: the experiments */
    size_t n_ids;
    const char *csv_path; /* TUNE */
    const char *title;    /* NULL: made from the kind and the ids */
    const char *source;   /* shown as where the data came from (the database), or NULL */
};

/* Writes one self-contained HTML file to path (atomically): a summary of
 * the headline figures with their 95% CI and provenance (for several
 * experiments: the one with the least energy per output token, and its
 * cost in latency, throughput and accuracy against the others), the
 * methodology, the environment, then the charts of this module as inline
 * SVG (each in a <figure> with its text alternative as the SVG's <title>)
 * and a table of the figures behind each.  Inline CSS, no script, no
 * network reference; every text from the store or the CSV is escaped.
 * Charts are drawn through temporary files beside path.  s may be NULL for
 * TUNE.  *n_charts (may be NULL) gets the number of charts embedded.
 * Errors as joule_chart_from_store, plus JOULE_ERR_IO for path. */
enum joule_status joule_report_write(struct joule_store *s, const struct joule_report_opts *o,
                                     const char *path, size_t *n_charts, char *err,
                                     size_t err_size);

#endif /* JOULE_REPORT_H */
