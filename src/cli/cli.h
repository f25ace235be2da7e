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
int cmd_run(int argc, char **argv, struct cli *cli);
int cmd_sweep(int argc, char **argv, struct cli *cli);

/* --- options (args.c) ----------------------------------------------------- */

/* Print "joule CMD: MESSAGE" and a hint to run --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* If argv[*i] is `name` (takes a value) return the value and advance *i;
 * "--name=value" is accepted too.  Sets *missing when the value is absent. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

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

/* A table from the results store: aligned text, CSV (RFC 4180) or JSON (an
 * array of objects, missing cells null). */
void cli_print_table(FILE *f, const struct joule_table *t, enum cli_format fmt);

/* Dump a JSON value to stdout with a newline; frees it. */
void cli_print_json(json_t *j);

#endif /* JOULE_CLI_H */
