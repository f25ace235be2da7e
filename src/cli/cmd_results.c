/* cmd_results.c - `joule results`: list, show, export, compare, remove and
 * push (merge into another database) the experiments of a results database. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "results"

static const char *const usage[] = {
    "usage: joule results [--db PATH|URL] <command> [options]",
    "",
    "The experiments of a results database (default ./joule-results/joule.db,",
    "or $JOULE_DB).",
    "",
    "  list [--json|--csv]                 one line per experiment",
    "  show ID [--raw] [--json|--csv]      metrics (mean +- 95% interval, std, CV)",
    "                                      and the experiment's facts; --raw adds",
    "                                      cycles, energy domains and requests",
    "  export ID [--csv|--json] [--what W] [-o FILE]",
    "                                      W: export (default: one row with the",
    "                                      seed tools' column names), summary,",
    "                                      cycles, requests, domains, info,",
    "                                      accuracy",
    "  compare A B [--json|--csv]          metrics of A and B side by side",
    "  tune [ID] [--json|--csv]            prompt tunings (joule tune); with ID, its",
    "                                      trials as trials.csv holds them",
    "  evals [--json|--csv]                every accuracy score: of experiments",
    "                                      (joule compare) and of joule eval",
    "  rm ID [--yes]                       delete an experiment (asks unless --yes)",
    "  push [--from SRC] --to DST          copy into DST the experiments (with their",
    "                                      cycles), sweeps, compares, tunings and",
    "                                      scores it lacks; SRC default: --db",
    "",
    "  --db PATH|URL                       the database (also JOULE_DB): an SQLite",
    "                                      file or postgresql://USER@HOST[:PORT]/DB",
    "",
    "Columns are described in docs/cli/joule-results.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

struct res_opts {
    const char *db;
    const char *sub;
    const char *pos[3];      /* positional arguments after the subcommand */
    int n_pos;
    enum cli_format fmt;
    bool raw, yes, help;
    const char *what;
    const char *out;
    const char *from, *to;
};

static bool parse_id(const char *s, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) {
        cli_usage_error(CMD, "'%s' is not an experiment id (a number that `joule results "
                             "list` shows)",
                        s);
        return false;
    }
    *id = v;
    return true;
}

static int store_error(struct joule_store *s, enum joule_status st)
{
    const char *m = joule_store_errmsg(s);
    fprintf(stderr, "joule results: %s\n", m[0] ? m : joule_status_str(st));
    return cli_exit_for(st);
}

static int query(struct joule_store *s, enum joule_query q, int64_t id, struct joule_table **t)
{
    enum joule_status st = joule_store_query(s, q, id, t);
    return st == JOULE_OK ? CLI_OK : store_error(s, st);
}

/* --- list -------------------------------------------------------------- */

/* list: every experiment; evals: every accuracy score, those of `joule
 * eval` without an experiment included. */
static int do_list(struct joule_store *s, const struct res_opts *o, enum joule_query q)
{
    struct joule_table *t = NULL;
    int code = query(s, q, 0, &t);
    if (code != CLI_OK)
        return code;
    if (o->fmt == CLI_TABLE && joule_table_rows(t) == 0)
        fprintf(stderr, "no %s in %s yet\n",
                q == JOULE_QUERY_EVALS ? "accuracy scores" : "experiments", joule_store_path(s));
    else
        cli_table_write(stdout, t, o->fmt);
    joule_table_free(t);
    return CLI_OK;
}

/* tune: the tunings, or the trials of one. */
static int do_tune(struct joule_store *s, const struct res_opts *o, int64_t id)
{
    struct joule_table *t = NULL;
    int code = query(s, JOULE_QUERY_TUNE, id, &t);
    if (code != CLI_OK)
        return code;
    if (o->fmt == CLI_TABLE && joule_table_rows(t) == 0)
        fprintf(stderr, "no %s in %s yet\n", id ? "trials" : "tunings", joule_store_path(s));
    else
        cli_table_write(stdout, t, o->fmt);
    joule_table_free(t);
    return CLI_OK;
}

/* --- show -------------------------------------------------------------- */

/* The summary for people: metric, mean +- ci95, std, cv, n. */
static void print_summary(const struct joule_table *t)
{
    size_t nr = joule_table_rows(t);
    size_t wm = strlen("metric"), wv = strlen("mean +- ci95"), ws = strlen("std");
    char (*val)[80] = calloc(nr ? nr : 1, sizeof(*val));
    char (*sd)[32] = calloc(nr ? nr : 1, sizeof(*sd));
    if (!val || !sd) {
        free(val);
        free(sd);
        return;
    }
    for (size_t r = 0; r < nr; r++) {
        char m[32], c[32];
        cli_number_text(joule_table_number(t, r, 1), m, sizeof(m));
        double ci = joule_table_number(t, r, 3);
        if (isfinite(ci)) {
            cli_number_text(ci, c, sizeof(c));
            joule_fmt(val[r], sizeof(val[r]), "%s +- %s", m, c);
        } else {
            joule_strlcpy(val[r], m, sizeof(val[r]));
        }
        cli_number_text(joule_table_number(t, r, 2), sd[r], sizeof(sd[r]));
        size_t k = strlen(joule_table_text(t, r, 0));
        wm = k > wm ? k : wm;
        wv = strlen(val[r]) > wv ? strlen(val[r]) : wv;
        ws = strlen(sd[r]) > ws ? strlen(sd[r]) : ws;
    }
    printf("%-*s  %*s  %*s  %8s  %3s\n", (int)wm, "metric", (int)wv, "mean +- ci95", (int)ws,
           "std", "cv", "n");
    for (size_t r = 0; r < nr; r++) {
        double cv = joule_table_number(t, r, 4);
        char cvs[32] = "-";
        if (isfinite(cv))
            joule_fmt(cvs, sizeof(cvs), "%.2f%%", 100.0 * cv);
        printf("%-*s  %*s  %*s  %8s  %3.0f\n", (int)wm, joule_table_text(t, r, 0), (int)wv,
               val[r], (int)ws, sd[r], cvs, joule_table_number(t, r, 7));
    }
    free(val);
    free(sd);
}

/* (field, value) lines; a value of several lines is indented below. */
static void print_info(const struct joule_table *t)
{
    for (size_t r = 0; r < joule_table_rows(t); r++) {
        const char *f = joule_table_text(t, r, 0);
        const char *v = joule_table_text(t, r, 1);
        if (!strchr(v, '\n')) {
            printf("%-15s %s\n", f, v[0] ? v : "-");
            continue;
        }
        printf("%s:\n", f);
        const char *p = v;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            printf("  %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
}

static int do_show(struct joule_store *s, const struct res_opts *o, int64_t id)
{
    static const enum joule_query raw_q[] = {JOULE_QUERY_CYCLES, JOULE_QUERY_DOMAINS,
                                             JOULE_QUERY_REQUESTS};
    static const char *const raw_names[] = {"cycles", "domains", "requests"};
    struct joule_table *sum = NULL, *info = NULL, *evals = NULL, *raw[3] = {NULL, NULL, NULL};
    int code = query(s, JOULE_QUERY_SUMMARY, id, &sum);
    if (code == CLI_OK)
        code = query(s, JOULE_QUERY_INFO, id, &info);
    if (code == CLI_OK)
        code = query(s, JOULE_QUERY_EVALS, id, &evals);
    for (int k = 0; code == CLI_OK && o->raw && k < 3; k++)
        code = query(s, raw_q[k], id, &raw[k]);
    if (code != CLI_OK)
        goto done;
    if (o->fmt == CLI_JSON) {
        printf("{\"summary\": ");
        cli_table_json(stdout, sum);
        printf(", \"info\": {");
        for (size_t r = 0; r < joule_table_rows(info); r++) {
            json_t *k = json_string(joule_table_text(info, r, 0));
            char *ks = json_dumps(k, JSON_ENCODE_ANY);
            printf("%s%s: ", r ? ", " : "", ks ? ks : "\"\"");
            free(ks);
            json_decref(k);
            const char *v = joule_table_text(info, r, 1);
            if (joule_table_is_number(info, r, 1)) {
                fputs(v, stdout);
            } else if (!v[0]) {
                fputs("null", stdout);
            } else {
                json_t *j = cli_json_text(v, strlen(v));
                char *d = json_dumps(j, JSON_ENCODE_ANY);
                fputs(d ? d : "null", stdout);
                free(d);
                json_decref(j);
            }
        }
        printf("}, \"accuracy\": ");
        cli_table_json(stdout, evals);
        for (int k = 0; o->raw && k < 3; k++) {
            printf(", \"%s\": ", raw_names[k]);
            cli_table_json(stdout, raw[k]);
        }
        printf("}\n");
    } else if (o->fmt == CLI_CSV) {
        cli_table_csv(stdout, sum, true);
        for (int k = 0; o->raw && k < 3; k++) {
            printf("\n");
            cli_table_csv(stdout, raw[k], true);
        }
    } else {
        printf("experiment %lld\n\n", (long long)id);
        if (joule_table_rows(sum) == 0)
            printf("(no cycles stored yet)\n");
        else
            print_summary(sum);
        printf("\n");
        print_info(info);
        if (joule_table_rows(evals) > 0) {
            printf("\naccuracy of the measured file (joule eval, joule compare):\n");
            cli_table_print(stdout, evals);
        }
        for (int k = 0; o->raw && k < 3; k++) {
            printf("\n%s:\n", raw_names[k]);
            cli_table_print(stdout, raw[k]);
        }
    }
done:
    joule_table_free(sum);
    joule_table_free(info);
    joule_table_free(evals);
    for (int k = 0; k < 3; k++)
        joule_table_free(raw[k]);
    return code;
}

/* --- export ------------------------------------------------------------ */

struct export_ctx {
    const struct joule_table *t;
    enum cli_format fmt;
};

static enum joule_status write_export(FILE *f, void *ctx)
{
    const struct export_ctx *x = ctx;
    cli_table_write(f, x->t, x->fmt);
    return ferror(f) ? JOULE_ERR_IO : JOULE_OK;
}

static int do_export(struct joule_store *s, const struct res_opts *o, int64_t id)
{
    static const struct {
        const char *name;
        enum joule_query q;
    } whats[] = {
        {"export", JOULE_QUERY_EXPORT},   {"summary", JOULE_QUERY_SUMMARY},
        {"cycles", JOULE_QUERY_CYCLES},   {"requests", JOULE_QUERY_REQUESTS},
        {"domains", JOULE_QUERY_DOMAINS}, {"info", JOULE_QUERY_INFO},
        {"accuracy", JOULE_QUERY_EVALS},
    };
    enum joule_query q = JOULE_QUERY_EXPORT;
    if (o->what) {
        size_t k = 0;
        while (k < JOULE_ARRAY_LEN(whats) && strcmp(whats[k].name, o->what) != 0)
            k++;
        if (k == JOULE_ARRAY_LEN(whats))
            return cli_usage_error(CMD, "--what expects export, summary, cycles, requests, "
                                        "domains, info or accuracy, got '%s'",
                                   o->what);
        q = whats[k].q;
    }
    struct joule_table *t = NULL;
    int code = query(s, q, id, &t);
    if (code != CLI_OK)
        return code;
    struct export_ctx x = {t, o->fmt == CLI_JSON ? CLI_JSON : CLI_CSV};
    if (o->out && strcmp(o->out, "-") != 0) {
        char err[512];
        enum joule_status st = joule_write_atomic(o->out, write_export, &x, err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule results: %s\n", err[0] ? err : joule_status_str(st));
            code = CLI_RUNTIME;
        }
    } else {
        write_export(stdout, &x);
    }
    joule_table_free(t);
    return code;
}

/* --- compare ----------------------------------------------------------- */

static int do_compare(struct joule_store *s, const struct res_opts *o, int64_t a, int64_t b)
{
    struct joule_table *t = NULL;
    enum joule_status st = joule_store_compare(s, a, b, &t);
    if (st != JOULE_OK)
        return store_error(s, st);
    if (o->fmt == CLI_TABLE)
        printf("a = experiment %lld, b = experiment %lld; overlap: do the 95%% intervals "
               "overlap\n\n",
               (long long)a, (long long)b);
    cli_table_write(stdout, t, o->fmt);
    joule_table_free(t);
    return CLI_OK;
}

/* --- rm ---------------------------------------------------------------- */

static int do_rm(struct joule_store *s, const struct res_opts *o, int64_t id)
{
    struct joule_table *info = NULL;
    int code = query(s, JOULE_QUERY_INFO, id, &info);
    if (code != CLI_OK)
        return code;
    char name[256] = "";
    for (size_t r = 0; r < joule_table_rows(info); r++)
        if (strcmp(joule_table_text(info, r, 0), "name") == 0)
            joule_strlcpy(name, joule_table_text(info, r, 1), sizeof(name));
    joule_table_free(info);
    if (!o->yes) {
        if (!isatty(0)) {
            fprintf(stderr,
                    "joule results rm: not deleting experiment %lld without confirmation: "
                    "stdin is not a terminal (add --yes)\n",
                    (long long)id);
            return CLI_USAGE;
        }
        fprintf(stderr, "Delete experiment %lld%s%s%s and all its cycles from %s? [y/N] ",
                (long long)id, name[0] ? " (" : "", name, name[0] ? ")" : "",
                joule_store_path(s));
        char line[64];
        if (!fgets(line, sizeof(line), stdin) || (strcmp(line, "y\n") != 0 &&
                                                  strcmp(line, "yes\n") != 0 &&
                                                  strcmp(line, "Y\n") != 0)) {
            fprintf(stderr, "not deleted\n");
            return CLI_OK;
        }
    }
    enum joule_status st = joule_store_remove(s, id);
    if (st != JOULE_OK)
        return store_error(s, st);
    fprintf(stderr, "deleted experiment %lld\n", (long long)id);
    return CLI_OK;
}

/* --- push --------------------------------------------------------------- */

/* push: the results of --from (default --db) merged into --to. */
static int do_push(const struct res_opts *o)
{
    int code = CLI_OK;
    struct joule_store *from = cli_open_results(CMD, o->from ? o->from : o->db, &code);
    if (!from)
        return code;
    struct joule_store *to = NULL;
    char err[1024];
    enum joule_status st = joule_store_open(o->to, &to, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule results: %s\n", err[0] ? err : joule_status_str(st));
        joule_store_close(from);
        return cli_exit_for(st);
    }
    if (strcmp(joule_store_path(from), joule_store_path(to)) == 0) {
        joule_store_close(from);
        joule_store_close(to);
        return cli_usage_error(CMD, "--from and --to name the same database");
    }
    struct joule_push_counts n;
    st = joule_store_push(from, to, &n);
    if (st != JOULE_OK) {
        code = store_error(to, st);
    } else {
        printf("pushed %lld experiment%s (%lld cycle%s), %lld already there\n",
               (long long)n.experiments, n.experiments == 1 ? "" : "s", (long long)n.cycles,
               n.cycles == 1 ? "" : "s", (long long)n.already);
        if (n.groups || n.tunings || n.evals)
            printf("and %lld sweeps or compares, %lld tunings, %lld scores without an "
                   "experiment\n",
                   (long long)n.groups, (long long)n.tunings, (long long)n.evals);
    }
    joule_store_close(from);
    joule_store_close(to);
    return code;
}

/* --- dispatch ------------------------------------------------------------ */

static int parse(int argc, char **argv, struct res_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool missing = false;
        const char *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing)) || missing) {
            if (missing)
                return cli_usage_error(CMD, "--db needs a path");
            o->db = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--from", &missing)) || missing) {
            if (missing)
                return cli_usage_error(CMD, "--from needs a database");
            o->from = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--to", &missing)) || missing) {
            if (missing)
                return cli_usage_error(CMD, "--to needs a database");
            o->to = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--what", &missing)) || missing) {
            if (missing)
                return cli_usage_error(CMD, "--what needs a value");
            o->what = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &missing)) || missing ||
                   (v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing) {
            if (missing)
                return cli_usage_error(CMD, "-o needs a file");
            o->out = v;
        } else if (strcmp(a, "--json") == 0) {
            o->fmt = CLI_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o->fmt = CLI_CSV;
        } else if (strcmp(a, "--raw") == 0) {
            o->raw = true;
        } else if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            o->yes = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!o->sub) {
            o->sub = a;
        } else if (o->n_pos < 3) {
            o->pos[o->n_pos++] = a;
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
    }
    return CLI_OK;
}

int cmd_results(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct res_opts o = {0};
    int code = parse(argc, argv, &o);
    if (code != CLI_OK)
        return code;
    if (o.help) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (!o.sub) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    static const struct {
        const char *name;
        int n_ids;
    } subs[] = {{"list", 0},  {"show", 1},  {"export", 1}, {"compare", 2},
                {"rm", 1},    {"evals", 0}, {"tune", -1},  {"push", 0}};
    size_t k = 0;
    while (k < JOULE_ARRAY_LEN(subs) && strcmp(subs[k].name, o.sub) != 0)
        k++;
    if (k == JOULE_ARRAY_LEN(subs))
        return cli_usage_error(CMD,
                               "unknown command '%s' (list, show, export, compare, rm, evals, "
                               "tune, push)",
                               o.sub);
    if (subs[k].n_ids < 0 && o.n_pos > 1)
        return cli_usage_error(CMD, "'%s' takes one tuning id at most", o.sub);
    if (subs[k].n_ids >= 0 && o.n_pos != subs[k].n_ids)
        return cli_usage_error(CMD, "'%s' expects %d experiment id%s, got %d", o.sub,
                               subs[k].n_ids, subs[k].n_ids == 1 ? "" : "s", o.n_pos);
    if ((o.what || o.out) && k != 2)
        return cli_usage_error(CMD, "--what and -o are options of 'export'");
    if (o.raw && k != 1)
        return cli_usage_error(CMD, "--raw is an option of 'show'");
    if (o.yes && k != 4)
        return cli_usage_error(CMD, "--yes is an option of 'rm'");
    if ((o.from || o.to) && k != 7)
        return cli_usage_error(CMD, "--from and --to are options of 'push'");
    if (k == 7 && !o.to)
        return cli_usage_error(CMD, "push needs --to DATABASE (a file or a postgresql:// URL)");
    int64_t ids[2] = {0, 0};
    for (int i = 0; i < o.n_pos; i++)
        if (!parse_id(o.pos[i], &ids[i]))
            return CLI_USAGE;
    if (k == 7)
        return do_push(&o);
    struct joule_store *s = cli_open_results(CMD, o.db, &code);
    if (!s)
        return code;
    switch (k) {
    case 0: code = do_list(s, &o, JOULE_QUERY_EXPERIMENTS); break;
    case 5: code = do_list(s, &o, JOULE_QUERY_EVALS); break;
    case 6: code = do_tune(s, &o, ids[0]); break;
    case 1: code = do_show(s, &o, ids[0]); break;
    case 2: code = do_export(s, &o, ids[0]); break;
    case 3: code = do_compare(s, &o, ids[0], ids[1]); break;
    default: code = do_rm(s, &o, ids[0]); break;
    }
    if (fflush(stdout) != 0 && code == CLI_OK) {
        fprintf(stderr, "joule results: writing the output failed\n");
        code = CLI_RUNTIME;
    }
    joule_store_close(s);
    return code;
}
