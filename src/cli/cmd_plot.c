/* cmd_plot.c - `joule plot`: a chart of stored results or of a tuning CSV
 * as PNG or SVG, with its text alternative on stdout. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "plot"
#define MAX_IDS 256

static const char *const usage[] = {
    "usage: joule plot (ID | --sweep IDS | --compare IDS | --csv FILE) [--kind K]",
    "                  -o FILE.png|FILE.svg [--db PATH|URL] [--title T]",
    "",
    "Draw stored results as a PNG or SVG picture (by the extension of -o), and",
    "print the chart's text alternative and the file written.",
    "",
    "  ID                 one experiment: --kind timeline (default) or latency",
    "  --sweep IDS        the experiments of a sweep, as `joule sweep` lists them",
    "                     (\"3-8\" or \"3,4,7\"): --kind sweep (default) or latency",
    "  --compare IDS      the experiments of a `joule compare`: --kind pareto",
    "                     (default), sweep or latency",
    "  --csv FILE         a tuning trials CSV (EAPO's columns): --kind pareto;",
    "                     with --x COL --y COL any two columns of any CSV:",
    "  --x COL, --y COL   the columns to plot against each other, with the",
    "                     Pareto frontier (better directions from the names)",
    "  --label COL        one series per value of COL (cfg_style, say)",
    "  --annotate-topk K  label the K best rows (by `value`, else by y)",
    "  --jitter-frac F    move markers by up to F of each axis (seeded) so",
    "                     equal points show; frontier and labels stay true",
    "  --kind K           timeline: power of each energy domain over time, cycles",
    "                     marked (the run needs --timeline); sweep: J/token and",
    "                     tokens/s against batch size, a line per precision, 95%",
    "                     CI bars; pareto: J per 1k tokens against accuracy with",
    "                     the Pareto frontier; latency: CDF of request latency",
    "  -o, --output FILE  the picture to write (.png or .svg; also --out)",
    "  --title T          the chart's title (default: made from the data)",
    "  --db PATH|URL      results database (also JOULE_DB)",
    "",
    "See docs/cli/joule-plot.md.",
    NULL,
};

static int print_usage(void)
{
    for (int k = 0; usage[k]; k++)
        printf("%s\n", usage[k]);
    return CLI_OK;
}

enum source { SRC_NONE, SRC_RUN, SRC_SWEEP, SRC_COMPARE, SRC_CSV };

static const char *const source_names[] = {"", "an experiment ID", "--sweep", "--compare", "--csv"};

/* Which kinds fit which source; the first is the default. */
static const int fits[][4] = {
    [SRC_RUN] = {JOULE_CHART_TIMELINE, JOULE_CHART_LATENCY, -1, -1},
    [SRC_SWEEP] = {JOULE_CHART_SWEEP, JOULE_CHART_LATENCY, -1, -1},
    [SRC_COMPARE] = {JOULE_CHART_PARETO, JOULE_CHART_SWEEP, JOULE_CHART_LATENCY, -1},
    [SRC_CSV] = {JOULE_CHART_PARETO, -1, -1, -1},
};

struct plot_opts {
    enum source src;
    const char *what; /* the ID, IDS or FILE */
    const char *kind, *out, *db, *title;
    struct joule_csv_xy xy; /* --x/--y: any two columns of the CSV */
    bool help;
};

static int set_source(struct plot_opts *o, enum source src, const char *what)
{
    if (o->src != SRC_NONE)
        return cli_usage_error(CMD, "one source only: %s and %s", source_names[o->src],
                               source_names[src]);
    o->src = src;
    o->what = what;
    return CLI_OK;
}

static int parse(int argc, char **argv, struct plot_opts *o)
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
        } else if ((v = cli_opt_value(argc, argv, &i, "--csv", &missing))) {
            rc = set_source(o, SRC_CSV, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--kind", &missing))) {
            o->kind = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--output", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--out", &missing))) {
            o->out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--x", &missing))) {
            o->xy.x = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--y", &missing))) {
            o->xy.y = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--label", &missing))) {
            o->xy.label = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--annotate-topk", &missing))) {
            unsigned k;
            if (!cli_parse_u32(CMD, "--annotate-topk", v, 0, 1000, &k))
                return CLI_USAGE;
            o->xy.annotate_topk = k;
        } else if ((v = cli_opt_value(argc, argv, &i, "--jitter-frac", &missing))) {
            if (!cli_parse_double(CMD, "--jitter-frac", v, 0, 0.5, &o->xy.jitter_frac))
                return CLI_USAGE;
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

static int pick_kind(const struct plot_opts *o, enum joule_chart_kind *k)
{
    const int *ok = fits[o->src];
    if (!o->kind) {
        *k = (enum joule_chart_kind)ok[0];
        return CLI_OK;
    }
    int parsed = joule_chart_kind_parse(o->kind);
    if (parsed < 0)
        return cli_usage_error(CMD, "--kind: '%s' is not timeline, sweep, pareto or latency",
                               o->kind);
    char list[96] = "";
    for (size_t i = 0; i < 4 && ok[i] >= 0; i++) {
        if (ok[i] == parsed) {
            *k = (enum joule_chart_kind)ok[i];
            return CLI_OK;
        }
        size_t len = strlen(list);
        joule_fmt(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
                  joule_chart_kind_name((enum joule_chart_kind)ok[i]));
    }
    return cli_usage_error(CMD, "a %s chart does not fit %s (it fits: %s)", o->kind,
                           source_names[o->src], list);
}

static int build(const struct plot_opts *o, enum joule_chart_kind k, struct joule_chart **c)
{
    char err[1024] = "";
    enum joule_status st;
    if (o->src == SRC_CSV) {
        if (access(o->what, R_OK) != 0) {
            fprintf(stderr, "joule plot: %s: %s\n", o->what, strerror(errno));
            return CLI_USAGE;
        }
        if (o->xy.x) {
            struct joule_csv_xy q = o->xy;
            q.path = o->what;
            st = joule_chart_from_csv_xy(&q, o->title, c, err, sizeof(err));
        } else {
            st = joule_chart_from_trials_csv(o->what, o->title, c, err, sizeof(err));
        }
    } else {
        int64_t ids[MAX_IDS];
        size_t n = 0;
        const char *kind = o->src == SRC_SWEEP     ? "sweep"
                           : o->src == SRC_COMPARE ? "compare"
                                                   : NULL;
        int code = CLI_OK;
        struct joule_store *s =
            cli_open_experiments(CMD, o->db, kind, o->what, ids, MAX_IDS, &n, &code);
        if (!s)
            return code;
        st = joule_chart_from_store(s, k, ids, n, o->title, c, err, sizeof(err));
        joule_store_close(s);
    }
    if (st != JOULE_OK) {
        fprintf(stderr, "joule plot: %s\n", err[0] ? err : joule_status_str(st));
        return cli_exit_for(st);
    }
    return CLI_OK;
}

int cmd_plot(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct plot_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help)
        return print_usage();
    if (o.src == SRC_NONE)
        return cli_usage_error(CMD, "what to plot: an experiment ID, --sweep IDS, --compare IDS "
                                    "or --csv FILE");
    if (!o.out)
        return cli_usage_error(CMD, "no output file: give -o FILE.png or -o FILE.svg");
    if (!joule_plot_format(o.out))
        return cli_usage_error(CMD, "-o %s: unknown picture format; name the file .png or .svg",
                               o.out);
    if (!o.xy.x != !o.xy.y)
        return cli_usage_error(CMD, "--x and --y go together (the two columns to plot)");
    if (o.xy.x && o.src != SRC_CSV)
        return cli_usage_error(CMD, "--x and --y choose columns of a --csv FILE");
    if ((o.xy.label || o.xy.annotate_topk || o.xy.jitter_frac > 0) && !o.xy.x)
        return cli_usage_error(CMD, "--label, --annotate-topk and --jitter-frac go with --x "
                                    "and --y");
    enum joule_chart_kind k = JOULE_CHART_TIMELINE;
    if ((rc = pick_kind(&o, &k)) != CLI_OK)
        return rc;
    struct joule_chart *c = NULL;
    if ((rc = build(&o, k, &c)) != CLI_OK)
        return rc;
    if (joule_chart_note(c)[0])
        fprintf(stderr, "joule plot: note: %s\n", joule_chart_note(c));
    char err[1024];
    enum joule_status st = joule_plot_render(joule_chart_plot(c), o.out, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule plot: %s\n", err);
        joule_chart_free(c);
        return st == JOULE_ERR_IO ? CLI_RUNTIME : cli_exit_for(st);
    }
    size_t need = joule_plot_alt_text(joule_chart_plot(c), NULL, 0);
    char *alt = malloc(need + 1);
    if (alt) {
        joule_plot_alt_text(joule_chart_plot(c), alt, need + 1);
        printf("%s\n", alt);
        free(alt);
    }
    printf("wrote %s\n", o.out);
    joule_chart_free(c);
    return CLI_OK;
}
