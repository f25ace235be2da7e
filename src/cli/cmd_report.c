/* cmd_report.c - `joule report`: one self-contained HTML report of a run, a
 * sweep, a comparison or a tuning CSV (the work is in src/report/html.c). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"
#include "report.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "report"
#define MAX_IDS 256

static const char *const usage[] = {
    "usage: joule report (ID | --sweep IDS | --compare IDS | --tune FILE|ID)",
    "                    -o FILE.html [--db PATH|URL] [--title T]",
    "",
    "Write one self-contained HTML report (inline SVG charts and CSS, no script,",
    "no network): a summary with the headline figures, their 95% CI and",
    "provenance, the methodology, the environment, then charts and the tables",
    "of their figures.  Readable on a phone and printable.",
    "",
    "  ID                 one experiment: power timeline, latency CDF, windows",
    "  --sweep IDS        the experiments of a sweep (\"3-8\" or \"3,4,7\"): which",
    "                     uses the least energy per token, and its cost; J/token",
    "                     and tokens/s against batch size per precision",
    "  --compare IDS      the experiments of a `joule compare`: as --sweep, with",
    "                     J per 1k tokens against accuracy and the Pareto frontier",
    "  --tune FILE|ID     a tuning trials CSV, or a tuning of `joule results tune`:",
    "                     the trials and their Pareto chart",
    "  -o, --output FILE  the report to write (.html)",
    "  --title T          the report's title (default: made from the data)",
    "  --db PATH|URL      results database (also JOULE_DB)",
    "",
    "See docs/cli/joule-report.md.",
    NULL,
};

enum source { SRC_NONE, SRC_RUN, SRC_SWEEP, SRC_COMPARE, SRC_TUNE };

static const char *const source_names[] = {"", "an experiment ID", "--sweep", "--compare",
                                           "--tune"};

struct report_opts {
    enum source src;
    const char *what;
    const char *out, *db, *title;
    bool help;
};

static int set_source(struct report_opts *o, enum source src, const char *what)
{
    if (o->src != SRC_NONE)
        return cli_usage_error(CMD, "one source only: %s and %s", source_names[o->src],
                               source_names[src]);
    o->src = src;
    o->what = what;
    return CLI_OK;
}

static int parse(int argc, char **argv, struct report_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        int rc = CLI_OK;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            continue;
        } else if ((v = cli_opt_value(argc, argv, &i, "--sweep", &missing))) {
            rc = set_source(o, SRC_SWEEP, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--compare", &missing))) {
            rc = set_source(o, SRC_COMPARE, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--tune", &missing))) {
            rc = set_source(o, SRC_TUNE, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--output", &missing))) {
            o->out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--title", &missing))) {
            o->title = v;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else {
            rc = set_source(o, SRC_RUN, a);
        }
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

int cmd_report(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct report_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help) {
        for (int k = 0; usage[k]; k++)
            printf("%s\n", usage[k]);
        return CLI_OK;
    }
    if (o.src == SRC_NONE)
        return cli_usage_error(CMD, "what to report: an experiment ID, --sweep IDS, "
                                    "--compare IDS or --tune FILE|ID");
    if (!o.out)
        return cli_usage_error(CMD, "no output file: give -o FILE.html");
    static const enum joule_report_kind kinds[] = {[SRC_RUN] = JOULE_REPORT_RUN,
                                                   [SRC_SWEEP] = JOULE_REPORT_SWEEP,
                                                   [SRC_COMPARE] = JOULE_REPORT_COMPARE,
                                                   [SRC_TUNE] = JOULE_REPORT_TUNE};
    struct joule_report_opts ro = {kinds[o.src], NULL, 0, NULL, o.title, NULL};
    int64_t ids[MAX_IDS];
    size_t n = 0;
    struct joule_store *s = NULL;
    char tuned[4096];
    if (o.src == SRC_TUNE && strspn(o.what, "0123456789") == strlen(o.what) &&
        access(o.what, F_OK) != 0) {
        /* A tuning of the results database (joule results tune): its
         * trials.csv, which the database mirrors. */
        int code = CLI_OK;
        struct joule_store *ts = cli_open_results(CMD, o.db, &code);
        if (!ts)
            return code;
        struct joule_table *t = NULL;
        enum joule_status qs = joule_store_query(ts, JOULE_QUERY_TUNE, 0, &t);
        tuned[0] = '\0';
        for (size_t r = 0; qs == JOULE_OK && r < joule_table_rows(t); r++)
            if (strcmp(joule_table_text(t, r, 0), o.what) == 0)
                joule_strlcpy(tuned, joule_table_text(t, r, 2), sizeof(tuned));
        joule_table_free(t);
        joule_store_close(ts);
        if (!tuned[0])
            return cli_usage_error(CMD, "--tune %s: no such tuning in the results database "
                                        "(joule results tune lists them)",
                                   o.what);
        o.what = tuned;
    }
    if (o.src == SRC_TUNE) {
        if (access(o.what, R_OK) != 0) {
            fprintf(stderr, "joule report: %s: %s\n", o.what, strerror(errno));
            return CLI_USAGE;
        }
        ro.csv_path = o.what;
        ro.source = o.what;
    } else {
        const char *kind = o.src == SRC_SWEEP     ? "sweep"
                           : o.src == SRC_COMPARE ? "compare"
                                                  : NULL;
        int code = CLI_OK;
        s = cli_open_experiments(CMD, o.db, kind, o.what, ids, MAX_IDS, &n, &code);
        if (!s)
            return code;
        ro.ids = ids;
        ro.n_ids = n;
        ro.source = joule_store_path(s);
    }
    char err[1024] = "";
    size_t n_charts = 0;
    enum joule_status st = joule_report_write(s, &ro, o.out, &n_charts, err, sizeof(err));
    if (s)
        joule_store_close(s);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule report: %s\n", err[0] ? err : joule_status_str(st));
        return st == JOULE_ERR_IO ? CLI_RUNTIME : cli_exit_for(st);
    }
    struct stat sb;
    long long kib = stat(o.out, &sb) == 0 ? (long long)(sb.st_size + 1023) / 1024 : 0;
    printf("wrote %s (%zu chart%s, %lld KiB)\n", o.out, n_charts, n_charts == 1 ? "" : "s", kib);
    return CLI_OK;
}
