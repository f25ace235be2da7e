/* cmd_sweep.c - `joule sweep`: one experiment per point of a grid of config
 * values, run in a seeded random order, then a comparison table. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const usage[] = {
    "usage: joule sweep BASE.yaml --vary KEY=V1,V2[,...] [--vary ...] [options]",
    "",
    "Run one experiment per point of the grid the --vary options span (every",
    "combination), one after another in a seeded random order (printed and",
    "recorded), so slow drifts of the machine do not line up with one axis.",
    "Then print one row per point.",
    "",
    "  --vary KEY=V1,V2       a config key and its values (see `joule config keys`)",
    "  --preset P             preset under the base config",
    "  --set KEY=VALUE        a fixed override for every point",
    "  -m, --model FILE       the model (same as --set model=FILE)",
    "  --seed S               seed of the run order (default 1)",
    "  --in-order             run the points in grid order instead",
    "  --dry-run              write the expanded configs and run nothing",
    "  --out-dir DIR          where --dry-run writes point-NNN.yaml (default sweep/)",
    "  --db PATH              results database",
    "  --fresh                measure every point anew (by default a point measured",
    "                         before is reused and an unfinished one resumed)",
    "  --json, --csv          print the table for machines",
    "  --quiet                no progress",
    "",
    "BASE.yaml may be '-' for the defaults.  See docs/cli/joule-sweep.md.",
    NULL,
};

#define MAX_AXES 8
#define MAX_VALUES 64
#define MAX_POINTS 4096

struct axis {
    const char *key;
    char *values_buf; /* the value list, split in place */
    const char *values[MAX_VALUES];
    size_t n;
};

struct sweep_opts {
    const char *base;
    const char *preset;
    const char *db;
    const char *out_dir;
    struct axis axes[MAX_AXES];
    size_t n_axes;
    const char **sets; /* "KEY=VALUE" */
    size_t n_sets;
    uint64_t seed;
    bool in_order, dry_run, fresh;
    enum cli_format format;
};

static int add_axis(struct sweep_opts *o, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return cli_usage_error("sweep", "--vary wants KEY=V1,V2,..., got '%s'", spec);
    if (o->n_axes == MAX_AXES)
        return cli_usage_error("sweep", "at most %d --vary options", MAX_AXES);
    struct axis *a = &o->axes[o->n_axes];
    a->key = strndup(spec, (size_t)(eq - spec));
    a->values_buf = strdup(eq + 1);
    if (!a->key || !a->values_buf)
        return CLI_RUNTIME;
    for (size_t i = 0; i < o->n_axes; i++)
        if (strcmp(o->axes[i].key, a->key) == 0)
            return cli_usage_error("sweep", "--vary %s is given twice", a->key);
    o->n_axes++;
    for (char *p = a->values_buf;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return cli_usage_error("sweep", "--vary %s: an empty value", a->key);
        if (a->n == MAX_VALUES)
            return cli_usage_error("sweep", "--vary %s: at most %d values", a->key, MAX_VALUES);
        a->values[a->n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    return CLI_OK;
}

static void opts_free(struct sweep_opts *o)
{
    for (size_t i = 0; i < o->n_axes; i++) {
        free((char *)o->axes[i].key);
        free(o->axes[i].values_buf);
    }
    free(o->sets);
}

static int parse_args(int argc, char **argv, struct sweep_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->out_dir = "sweep";
    o->sets = calloc((size_t)argc, sizeof(char *));
    if (!o->sets)
        return CLI_RUNTIME;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        int rc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            for (int k = 0; usage[k]; k++)
                printf("%s\n", usage[k]);
            return -1;
        } else if (strcmp(a, "--json") == 0) {
            o->format = CLI_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o->format = CLI_CSV;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = true;
        } else if (strcmp(a, "--in-order") == 0) {
            o->in_order = true;
        } else if (strcmp(a, "--fresh") == 0) {
            o->fresh = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            continue;
        } else if ((v = cli_opt_value(argc, argv, &i, "--vary", &missing))) {
            if ((rc = add_axis(o, v)) != CLI_OK)
                return rc;
        } else if ((v = cli_opt_value(argc, argv, &i, "--set", &missing))) {
            if (!strchr(v, '=') || v[0] == '=')
                return cli_usage_error("sweep", "--set wants KEY=VALUE, got '%s'", v);
            o->sets[o->n_sets++] = v;
        } else if (!missing &&
                   ((v = cli_opt_value(argc, argv, &i, "--model", &missing)) ||
                    (!missing && (v = cli_opt_value(argc, argv, &i, "-m", &missing))))) {
            char *kv = malloc(strlen(v) + 7);
            if (!kv)
                return CLI_RUNTIME;
            joule_fmt(kv, strlen(v) + 7, "model=%s", v);
            o->sets[o->n_sets++] = kv; /* leaked until exit: one per run */
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--preset", &missing))) {
            o->preset = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--out-dir", &missing))) {
            o->out_dir = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (!*v || *end || errno)
                return cli_usage_error("sweep", "--seed: '%s' is not a number", v);
            o->seed = s;
        } else if (missing) {
            return cli_usage_error("sweep", "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("sweep", "unknown option '%s'", a);
        } else if (!o->base) {
            o->base = a;
        } else {
            return cli_usage_error("sweep", "one base config only ('%s' and '%s')", o->base, a);
        }
        if (missing)
            return cli_usage_error("sweep", "%s needs a value", a);
    }
    if (!o->base)
        return cli_usage_error("sweep", "no base config (give a file, or '-' for the defaults)");
    if (o->n_axes == 0)
        return cli_usage_error("sweep", "nothing to vary: give --vary KEY=V1,V2");
    return CLI_OK;
}

/* Point p's value index on axis a: the grid in odometer order, the last
 * axis fastest. */
static size_t value_index(const struct sweep_opts *o, size_t p, size_t a)
{
    for (size_t k = o->n_axes; k-- > a + 1;)
        p /= o->axes[k].n;
    return p % o->axes[a].n;
}

/* splitmix64: a documented, portable generator, so an order is the same on
 * every machine for a seed. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void point_label(const struct sweep_opts *o, size_t p, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t a = 0; a < o->n_axes; a++) {
        size_t len = strlen(out);
        joule_fmt(out + len, size - len, "%s%s=%s", a ? " " : "", o->axes[a].key,
                  o->axes[a].values[value_index(o, p, a)]);
    }
}

/* The config of point p: base (and preset), fixed --set, then the point's
 * values; named after the point unless the base names it. */
static int point_config(const struct sweep_opts *o, size_t p, struct joule_config **out)
{
    char err[1024];
    struct joule_config *c = NULL;
    if (joule_config_new(&c) != JOULE_OK)
        return CLI_RUNTIME;
    const char *path = strcmp(o->base, "-") == 0 ? NULL : o->base;
    enum joule_status st = joule_config_load(c, path, o->preset, err, sizeof(err));
    for (size_t i = 0; st == JOULE_OK && i < o->n_sets; i++) {
        const char *eq = strchr(o->sets[i], '=');
        char key[128];
        joule_fmt(key, sizeof(key), "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
        st = joule_config_set(c, key, eq + 1, err, sizeof(err));
    }
    for (size_t a = 0; st == JOULE_OK && a < o->n_axes; a++)
        st = joule_config_set(c, o->axes[a].key, o->axes[a].values[value_index(o, p, a)], err,
                              sizeof(err));
    if (st == JOULE_OK) {
        char name[512], label[400], base_name[256];
        joule_config_get(c, "name", base_name, sizeof(base_name));
        point_label(o, p, label, sizeof(label));
        joule_fmt(name, sizeof(name), "%s%s%s", base_name, base_name[0] ? " " : "", label);
        st = joule_config_set(c, "name", name, err, sizeof(err));
    }
    if (st == JOULE_OK && !o->dry_run)
        st = joule_config_validate(c, err, sizeof(err));
    if (st != JOULE_OK) {
        char label[400];
        point_label(o, p, label, sizeof(label));
        fprintf(stderr, "joule sweep: point %s: %s\n", label, err);
        joule_config_free(c);
        return st == JOULE_ERR_IO ? CLI_RUNTIME : CLI_USAGE;
    }
    *out = c;
    return CLI_OK;
}

static int dry_run(const struct sweep_opts *o, struct joule_config **cfg, size_t n)
{
    char err[512];
    if (joule_mkdirs(o->out_dir, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule sweep: %s\n", err);
        return CLI_RUNTIME;
    }
    for (size_t p = 0; p < n; p++) {
        char *yaml = NULL, path[4096];
        if (joule_config_to_yaml(cfg[p], 1, &yaml) != JOULE_OK)
            return CLI_RUNTIME;
        joule_fmt(path, sizeof(path), "%s/point-%03zu.yaml", o->out_dir, p + 1);
        FILE *f = fopen(path, "w");
        int bad = !f || fputs(yaml, f) < 0;
        if (f && fclose(f) != 0)
            bad = 1;
        joule_free(yaml);
        if (bad) {
            fprintf(stderr, "joule sweep: %s: %s\n", path, strerror(errno));
            return CLI_RUNTIME;
        }
        char label[400];
        point_label(o, p, label, sizeof(label));
        printf("%s  %s\n", path, label);
    }
    return CLI_OK;
}

/* --- the comparison table ------------------------------------------------ */

static const struct {
    const char *metric, *column;
} cols[] = {
    {"ept_out_j_per_tok", "ept_out_j_per_tok"},
    {"ept_in_j_per_tok", "ept_in_j_per_tok"},
    {"energy_per_request_j", "j_per_request"},
    {"tokens_per_joule", "tokens_per_joule"},
    {"throughput_tok_s", "tokens_per_s"},
    {"latency_p90_s", "latency_p90_s"},
    {"power_avg_w", "power_w"},
};
#define N_COLS (sizeof(cols) / sizeof(cols[0]))

struct row {
    size_t point;
    int64_t id;
    char status[16];
    double mean[N_COLS], ci[N_COLS];
};

static void fill_row(struct joule_store *s, struct row *r)
{
    for (size_t k = 0; k < N_COLS; k++)
        r->mean[k] = r->ci[k] = NAN;
    if (!r->id)
        return;
    struct joule_table *t = NULL;
    if (joule_store_query(s, JOULE_QUERY_SUMMARY, r->id, &t) != JOULE_OK)
        return;
    size_t cm = SIZE_MAX, cmean = SIZE_MAX, cci = SIZE_MAX;
    for (size_t j = 0; j < joule_table_cols(t); j++) {
        const char *n = joule_table_col_name(t, j);
        if (strcmp(n, "metric") == 0)
            cm = j;
        else if (strcmp(n, "mean") == 0)
            cmean = j;
        else if (strcmp(n, "ci95") == 0)
            cci = j;
    }
    for (size_t i = 0; cm != SIZE_MAX && cmean != SIZE_MAX && i < joule_table_rows(t); i++)
        for (size_t k = 0; k < N_COLS; k++)
            if (strcmp(joule_table_text(t, i, cm), cols[k].metric) == 0) {
                r->mean[k] = joule_table_number(t, i, cmean);
                r->ci[k] = cci != SIZE_MAX ? joule_table_number(t, i, cci) : NAN;
            }
    joule_table_free(t);
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void print_rows(const struct sweep_opts *o, const struct row *rows, size_t n)
{
    if (o->format == CLI_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *r = json_object();
            json_object_set_new(r, "point", json_integer((json_int_t)rows[i].point + 1));
            for (size_t ax = 0; ax < o->n_axes; ax++)
                json_object_set_new(
                    r, o->axes[ax].key,
                    json_string(o->axes[ax].values[value_index(o, rows[i].point, ax)]));
            json_object_set_new(r, "experiment_id",
                                rows[i].id ? json_integer(rows[i].id) : json_null());
            json_object_set_new(r, "status", json_string(rows[i].status));
            for (size_t k = 0; k < N_COLS; k++) {
                char ci[64];
                joule_fmt(ci, sizeof(ci), "%s_ci95", cols[k].column);
                json_object_set_new(r, cols[k].column, num_or_null(rows[i].mean[k]));
                json_object_set_new(r, ci, num_or_null(rows[i].ci[k]));
            }
            json_array_append_new(a, r);
        }
        cli_print_json(a);
        return;
    }
    if (o->format == CLI_CSV) {
        printf("point");
        for (size_t ax = 0; ax < o->n_axes; ax++)
            printf(",%s", o->axes[ax].key);
        printf(",experiment_id,status");
        for (size_t k = 0; k < N_COLS; k++)
            printf(",%s,%s_ci95", cols[k].column, cols[k].column);
        printf("\n");
        for (size_t i = 0; i < n; i++) {
            printf("%zu", rows[i].point + 1);
            for (size_t ax = 0; ax < o->n_axes; ax++)
                printf(",%s", o->axes[ax].values[value_index(o, rows[i].point, ax)]);
            printf(",%lld,%s", (long long)rows[i].id, rows[i].status);
            for (size_t k = 0; k < N_COLS; k++) {
                for (int w = 0; w < 2; w++) {
                    double v = w ? rows[i].ci[k] : rows[i].mean[k];
                    if (isfinite(v))
                        printf(",%.6g", v);
                    else
                        printf(",");
                }
            }
            printf("\n");
        }
        return;
    }
    printf("\n%-5s", "point");
    for (size_t ax = 0; ax < o->n_axes; ax++)
        printf(" %-12s", o->axes[ax].key);
    printf(" %5s %-11s", "id", "status");
    for (size_t k = 0; k < N_COLS; k++)
        printf(" %20s", cols[k].column);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf("%-5zu", rows[i].point + 1);
        for (size_t ax = 0; ax < o->n_axes; ax++)
            printf(" %-12s", o->axes[ax].values[value_index(o, rows[i].point, ax)]);
        printf(" %5lld %-11s", (long long)rows[i].id, rows[i].status);
        for (size_t k = 0; k < N_COLS; k++) {
            char cell[48];
            if (!isfinite(rows[i].mean[k]))
                joule_fmt(cell, sizeof(cell), "-");
            else if (isfinite(rows[i].ci[k]))
                joule_fmt(cell, sizeof(cell), "%.4g +- %.2g", rows[i].mean[k], rows[i].ci[k]);
            else
                joule_fmt(cell, sizeof(cell), "%.4g", rows[i].mean[k]);
            printf(" %20s", cell);
        }
        printf("\n");
    }
    printf("\nmeans over cycles, +- the 95%% confidence interval; details: joule results "
           "show ID\n");
}

/* --- progress ------------------------------------------------------------ */

struct sweep_progress {
    bool on;
    size_t k, n; /* point k of n */
    const char *label;
};

static void on_progress(void *user, const struct joule_progress *p)
{
    struct sweep_progress *sp = user;
    if (!sp->on)
        return;
    if (strcmp(p->stage, "cycle") == 0 && p->total > 0)
        fprintf(stderr, "\r\033[K[point %zu/%zu %s] cycle %d/%d  %lld/%lld requests", sp->k, sp->n,
                sp->label, p->cycle, p->n_cycles, (long long)p->done, (long long)p->total);
    else
        fprintf(stderr, "\r\033[K[point %zu/%zu %s] %s", sp->k, sp->n, sp->label, p->stage);
    fflush(stderr);
}

int cmd_sweep(int argc, char **argv, struct cli *cli)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0)
            cli->quiet = true, cli->progress = false;
    struct sweep_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != CLI_OK) {
        opts_free(&o);
        return rc == -1 ? CLI_OK : rc;
    }
    size_t n = 1;
    for (size_t a = 0; a < o.n_axes; a++) {
        if (n * o.axes[a].n > MAX_POINTS) {
            opts_free(&o);
            return cli_usage_error("sweep", "the grid has more than %d points", MAX_POINTS);
        }
        n *= o.axes[a].n;
    }
    /* Every point's config first: a bad value fails before anything runs. */
    struct joule_config **cfg = calloc(n, sizeof(*cfg));
    size_t *order = calloc(n, sizeof(size_t));
    struct row *rows = calloc(n, sizeof(struct row));
    if (!cfg || !order || !rows) {
        rc = CLI_RUNTIME;
        goto out;
    }
    for (size_t p = 0; p < n && rc == CLI_OK; p++)
        rc = point_config(&o, p, &cfg[p]);
    if (rc != CLI_OK)
        goto out;
    if (o.dry_run) {
        rc = dry_run(&o, cfg, n);
        goto out;
    }
    for (size_t p = 0; p < n; p++)
        order[p] = p;
    if (!o.in_order) {
        uint64_t s = o.seed;
        for (size_t p = n; p > 1; p--) {
            size_t j = (size_t)(splitmix64(&s) % p);
            size_t t = order[p - 1];
            order[p - 1] = order[j];
            order[j] = t;
        }
    }
    if (!cli->quiet) {
        fprintf(stderr, "joule sweep: %zu points, order %s (seed %llu):", n,
                o.in_order ? "as the grid" : "shuffled", (unsigned long long)o.seed);
        for (size_t p = 0; p < n; p++)
            fprintf(stderr, "%s%zu", p ? "," : " ", order[p] + 1);
        fprintf(stderr, "\n");
    }
    char err[1024];
    struct joule_store *s = NULL;
    if (joule_store_open(o.db, &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule sweep: %s\n", err);
        rc = CLI_RUNTIME;
        goto out;
    }
    cli_catch_stop();
    size_t done = 0;
    for (size_t k = 0; k < n && !cli_stop; k++) {
        size_t p = order[k];
        char label[400];
        point_label(&o, p, label, sizeof(label));
        struct sweep_progress sp = {cli->progress, k + 1, n, label};
        /* A point measured before (same config, same model file) is reused:
         * re-running a sweep after an interruption measures only the rest. */
        int reused = 0;
        struct joule_run_options ro = {.fresh = o.fresh,
                                       .skip_completed = !o.fresh,
                                       .reused = &reused,
                                       .stop = &cli_stop,
                                       .on_progress = on_progress,
                                       .user = &sp};
        rows[k].point = p;
        enum joule_status st = joule_experiment_run(cfg[p], s, &ro, &rows[k].id, err, sizeof(err));
        if (sp.on)
            fputs("\r\033[K", stderr);
        joule_strlcpy(rows[k].status,
                      st != JOULE_OK ? "failed"
                      : cli_stop     ? "interrupted"
                                     : "completed",
                      sizeof(rows[k].status));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule sweep: point %s: %s\n", label, err);
            rc = CLI_RUNTIME;
        } else if (!cli->quiet) {
            fprintf(stderr, "joule sweep: point %zu/%zu %s: experiment %lld%s\n", k + 1, n, label,
                    (long long)rows[k].id, reused ? " (measured before, reused)" : "");
        }
        fill_row(s, &rows[k]);
        done = k + 1;
    }
    /* The table in grid order, whatever order the points ran in. */
    for (size_t i = 1; i < done; i++)
        for (size_t j = i; j > 0 && rows[j - 1].point > rows[j].point; j--) {
            struct row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    print_rows(&o, rows, done);
    if (cli_stop) {
        fprintf(stderr,
                "joule sweep: interrupted after %zu of %zu points; run the same command again "
                "to resume (finished points are found by their config)\n",
                done, n);
        rc = CLI_RUNTIME;
    }
    joule_store_close(s);
out:
    for (size_t p = 0; cfg && p < n; p++)
        joule_config_free(cfg[p]);
    free(cfg);
    free(order);
    free(rows);
    opts_free(&o);
    return rc;
}
