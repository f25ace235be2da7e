/*
 * cli.h - the joule program: shared state, command prototypes, option and
 * output helpers.  The CLI uses only include/joule.h and src/common.
 */
#ifndef JOULE_CLI_H
#define JOULE_CLI_H

#include "joule.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes (DESIGN.md section 6). */
enum cli_exit {
    CLI_OK = 0,
    CLI_RUNTIME = 1, /* runtime failure */
    CLI_USAGE = 2,   /* usage or input error */
};

enum cli_format { CLI_TABLE = 0, CLI_JSON = 1, CLI_CSV = 2 };

/* Everything the program knows, passed down; no other CLI globals but the
 * child pid the signal handler needs. */
struct cli {
    const char *prog;   /* "joule" */
    bool quiet;
    bool progress;      /* stderr is a terminal and not --quiet */
};

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv, struct cli *cli);
    const char *summary;
};

int cmd_measure(int argc, char **argv, struct cli *cli);
int cmd_devices(int argc, char **argv, struct cli *cli);
int cmd_model(int argc, char **argv, struct cli *cli);
int cmd_quantize(int argc, char **argv, struct cli *cli);
int cmd_generate(int argc, char **argv, struct cli *cli);
int cmd_results(int argc, char **argv, struct cli *cli);
int cmd_run(int argc, char **argv, struct cli *cli);
int cmd_sweep(int argc, char **argv, struct cli *cli);
int cmd_config(int argc, char **argv, struct cli *cli);
int cmd_presets(int argc, char **argv, struct cli *cli);
int cmd_datasets(int argc, char **argv, struct cli *cli);
int cmd_eval(int argc, char **argv, struct cli *cli);
int cmd_compare(int argc, char **argv, struct cli *cli);
int cmd_plot(int argc, char **argv, struct cli *cli);
int cmd_report(int argc, char **argv, struct cli *cli);
int cmd_advise(int argc, char **argv, struct cli *cli);
int cmd_serve(int argc, char **argv, struct cli *cli);
int cmd_tune(int argc, char **argv, struct cli *cli);

/* --- options (args.c) ----------------------------------------------------- */

/* Print "joule CMD: MESSAGE" and a hint to run --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* If argv[*i] is `name` (takes a value) return the value and advance *i;
 * "--name=value" is accepted too.  Sets *missing when the value is absent. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

/* "3-8", "3,4,7" or "1,4-6" (the value of option opt) into ids[0 .. *n),
 * at most max; false, with a usage message of cmd printed, when bad. */
bool cli_parse_ids(const char *cmd, const char *opt, const char *s, int64_t *ids, size_t max,
                   size_t *n);

/* The results database (as cli_open_results) and the experiments a plot
 * or report names: one experiment ID (kind NULL), or a sweep or compare
 * (kind "sweep", "compare"): a stored one's id, or a list cli_parse_ids
 * reads.  NULL, the message printed and *code set, on error. */
struct joule_store;
struct joule_store *cli_open_experiments(const char *cmd, const char *db, const char *kind,
                                         const char *what, int64_t *ids, size_t max, size_t *n,
                                         int *code);

/* Parse a number for option `opt` in [min, max]; false (message printed) if
 * not. */
bool cli_parse_double(const char *cmd, const char *opt, const char *v, double min, double max,
                      double *out);
bool cli_parse_u32(const char *cmd, const char *opt, const char *v, unsigned min, unsigned max,
                   unsigned *out);

/* Apply the meter options every measuring command shares (--interval,
 * --sources, --cpu-tdp); returns 1 if argv[*i] was one of them, 0 if not,
 * -1 on a usage error (printed). */
int cli_meter_option(const char *cmd, int argc, char **argv, int *i,
                     struct joule_meter_params *p);

/* Open the meter, printing the error on failure: returns NULL and sets
 * *exit_code (2 for bad options or a malformed script, 1 otherwise). */
struct joule_meter *cli_meter_open(const char *cmd, const struct joule_meter_params *p,
                                   int *exit_code);

/* The text `joule eval --task ppl` scores: the bytes of the file at path,
 * or (path NULL) the documents of the built-in `summaries` joined by blank
 * lines; *text is malloc'd, label names it.  Prints the error and returns
 * an exit status on failure. */
int cli_ppl_text(const char *path, char **text, size_t *len, char *label, size_t label_size);

/* The exit status for a library status: 2 for what the input or the
 * options caused (invalid, format, unsupported, not found), 1 otherwise. */
int cli_exit_for(enum joule_status st);

/* Opens the results database of a reading command (--db, else JOULE_DB,
 * else joule-results/joule.db); a missing file is an error here (reading
 * commands never create one).  Prints the error and sets *code on failure. */
struct joule_store *cli_open_results(const char *cmd, const char *db, int *code);

/* Ctrl+C and SIGTERM set cli_stop (joule_run_options.stop: the window in
 * flight closes and finished cycles stay); a second one ends the program
 * at once, as the user means it. */
extern volatile int cli_stop;
void cli_catch_stop(void);

/* --- output (output.c) ---------------------------------------------------- */

/* JSON of a reading: every number with its provenance, NAN as null. */
json_t *cli_reading_json(const struct joule_reading *r);
json_t *cli_domain_info_json(const struct joule_domain_info *in);

/* Aligned table of a reading on f, with notes and the domains not measured. */
void cli_print_reading(FILE *f, const struct joule_reading *r);

/* CSV: one row per domain plus a total row; header when `header`. */
void cli_print_reading_csv(FILE *f, const struct joule_reading *r, bool header);

/* A JSON string of the bytes s[0 .. n): invalid UTF-8 (text of models with
 * random weights, byte tokens) becomes U+FFFD instead of failing. */
json_t *cli_json_text(const char *s, size_t n);

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
void cli_csv_field(FILE *f, const char *s);

/* Dump a JSON value to stdout with a newline; frees it. */
void cli_print_json(json_t *j);

/* --- tables (table_out.c) ------------------------------------------------ */

/* A number for people: integers whole, others with 6 significant digits,
 * "-" for NAN. */
void cli_number_text(double v, char *buf, size_t size);

/* Aligned text table: a header line, numbers right-aligned, text
 * left-aligned on one line, missing cells as "-". */
void cli_table_print(FILE *f, const struct joule_table *t);

/* CSV with RFC 4180 quoting (fields with commas, quotes or line breaks are
 * quoted, quotes doubled); numbers in their exact round-trip form, missing
 * cells empty.  A header line when `header`. */
void cli_table_csv(FILE *f, const struct joule_table *t, bool header);

/* JSON array of one object per row: numbers as JSON numbers, missing cells
 * as null. */
void cli_table_json(FILE *f, const struct joule_table *t);

/* One row as a JSON object (no newline). */
void cli_table_json_object(FILE *f, const struct joule_table *t, size_t row);

/* One of the three above by format (CSV with its header). */
void cli_table_write(FILE *f, const struct joule_table *t, enum cli_format fmt);

#endif /* JOULE_CLI_H */
