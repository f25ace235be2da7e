/* cmd_sweep.c - `joule sweep`: one experiment per point of a grid of config
 * values, run in a seeded random order, then a comparison table. */
#define _XOPEN_SOURCE 700 /* realpath, popen */
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"

#include "sha256.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    "  --db PATH|URL          results database",
    "  --fresh                measure every point anew (by default a point measured",
    "                         before is reused and an unfinished one resumed)",
    "  --json, --csv          print the table for machines",
    "  --quiet                no progress",
    "",
    "On a Slurm cluster (see docs/cli/joule-sweep.md):",
    "  --slurm                submit the grid as a job array, one task per point,",
    "                         each running `joule run` against the shared --db",
    "  --partition P, --account A, --time HH:MM:SS, --gpus-per-task N,",
    "  --cpus-per-task N, --max-parallel N (tasks at once)",
    "  --print-only           write the configs and the sbatch script, submit nothing",
    "  --sweep-dir DIR        where sweeps are kept (default joule-sweeps/)",
    "  joule sweep status ID [--retry-failed]   each point's Slurm and result state;",
    "                         --retry-failed resubmits the failed points only",
    "  joule sweep collect ID the comparison table once every point is done",
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
    char *model_kv;    /* the "model=FILE" of -m, owned */
    uint64_t seed;
    bool in_order, dry_run, fresh;
    enum cli_format format;
    /* --slurm: a job array instead of running here */
    bool slurm, print_only;
    const char *partition, *account, *time, *sweep_dir;
    unsigned gpus_per_task, cpus_per_task, max_parallel;
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
    free(o->model_kv);
}

static int parse_args(int argc, char **argv, struct sweep_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->out_dir = "sweep";
    o->sweep_dir = "joule-sweeps";
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
        } else if (strcmp(a, "--slurm") == 0) {
            o->slurm = true;
        } else if (strcmp(a, "--print-only") == 0) {
            o->print_only = true;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--partition", &missing))) {
            o->partition = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--account", &missing))) {
            o->account = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--time", &missing))) {
            unsigned h, m, s;
            char end;
            if (sscanf(v, "%u:%u:%u%c", &h, &m, &s, &end) != 3 || m > 59 || s > 59)
                return cli_usage_error("sweep", "--time wants HH:MM:SS, got '%s'", v);
            o->time = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--sweep-dir", &missing))) {
            o->sweep_dir = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--gpus-per-task", &missing))) {
            if (!cli_parse_u32("sweep", "--gpus-per-task", v, 0, 64, &o->gpus_per_task))
                return CLI_USAGE;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--cpus-per-task", &missing))) {
            if (!cli_parse_u32("sweep", "--cpus-per-task", v, 0, 4096, &o->cpus_per_task))
                return CLI_USAGE;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--max-parallel", &missing))) {
            if (!cli_parse_u32("sweep", "--max-parallel", v, 1, 100000, &o->max_parallel))
                return CLI_USAGE;
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
            if (o->model_kv)
                return cli_usage_error("sweep", "one model only (-m given twice)");
            if (!(o->model_kv = malloc(strlen(v) + 7)))
                return CLI_RUNTIME;
            joule_fmt(o->model_kv, strlen(v) + 7, "model=%s", v);
            o->sets[o->n_sets++] = o->model_kv;
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
    if (!o->slurm && (o->print_only || o->partition || o->account || o->time ||
                      o->gpus_per_task || o->cpus_per_task || o->max_parallel))
        return cli_usage_error("sweep", "--print-only, --partition, --account, --time, "
                                        "--gpus-per-task, --cpus-per-task and --max-parallel "
                                        "go with --slurm");
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

/* group: the stored sweep's id (0: none, the report line lists the ids). */
static void print_rows(const struct sweep_opts *o, const struct row *rows, size_t n,
                       int64_t group)
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
    /* The report of these experiments, ready to paste. */
    char ids[2048] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids);
        if (rows[i].id > 0 && l + 24 < sizeof(ids))
            joule_fmt(ids + l, sizeof(ids) - l, "%s%lld", l ? "," : "", (long long)rows[i].id);
    }
    if (group > 0)
        printf("sweep %lld; report: joule report --sweep %lld -o sweep.html\n", (long long)group,
               (long long)group);
    else if (ids[0])
        printf("report: joule report --sweep %s -o sweep.html\n", ids);
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

/* --- Slurm: the grid as a job array ------------------------------------------
 *
 * `--slurm` writes the points' configs, a manifest and an sbatch script into
 * SWEEP_DIR/ID/ and submits the script (or prints it with --print-only):
 * array task i runs `joule run point-00i.yaml` against the shared store.
 * `joule sweep status ID` joins what Slurm says (squeue, sacct) with what
 * the store holds; `joule sweep collect ID` prints the comparison table once
 * every point is done; `status --retry-failed` resubmits the failed points.
 * Each result's environment records the Slurm job, array task and node
 * (src/experiment/env.c). */

/* A program's output lines (stdout), or NULL when it could not run. */
static char *run_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
    }
    int st = pclose(p);
    if (status)
        *status = st;
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Single-quoted for /bin/sh. */
static void sh_quote(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (n + 1 < size)
        out[n++] = '\'';
    for (; *s && n + 5 < size; s++) {
        if (*s == '\'') {
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *s;
        }
    }
    if (n + 1 < size)
        out[n++] = '\'';
    out[n] = '\0';
}

static void config_hash(const struct joule_config *c, char out[65])
{
    char *yaml = NULL;
    out[0] = '\0';
    if (joule_config_to_yaml(c, 0, &yaml) != JOULE_OK)
        return;
    struct joule_sha256 h;
    joule_sha256_init(&h);
    joule_sha256_update(&h, yaml, strlen(yaml));
    joule_sha256_hex(&h, out);
    joule_free(yaml);
}

static const char *default_db(const char *db)
{
    const char *env = getenv("JOULE_DB");
    return db ? db : env && env[0] ? env : "joule-results/joule.db";
}

/* The absolute form of path (whose directory must exist). */
static void absolute(const char *path, char *out, size_t size)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    joule_fmt(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    char real[PATH_MAX];
    if (!dir[0])
        joule_strlcpy(dir, "/", sizeof(dir));
    if (realpath(dir, real))
        joule_fmt(out, size, "%s/%s", real, slash ? slash + 1 : path);
    else
        joule_strlcpy(out, path, size);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(text, f) < 0;
    if (f && fclose(f) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "joule sweep: %s: %s\n", path, strerror(errno));
    return bad ? CLI_RUNTIME : CLI_OK;
}

/* The sbatch script of a sweep; array is "1-N%M" or "2,5". */
static void sbatch_script(const struct sweep_opts *o, const char *id, const char *dir,
                          const char *db, const char *joule, char *out, size_t size)
{
    char qdir[4200], qdb[4200], qj[4200];
    sh_quote(dir, qdir, sizeof(qdir));
    sh_quote(db, qdb, sizeof(qdb));
    sh_quote(joule, qj, sizeof(qj));
    size_t n = 0;
#define LINE(...)                                                                                  \
    do {                                                                                           \
        joule_fmt(out + n, size - n, __VA_ARGS__);                                                 \
        n = strlen(out);                                                                           \
    } while (0)
    LINE("#!/bin/bash\n");
    LINE("# joule sweep %s: one array task per grid point (point-NNN.yaml).\n", id);
    LINE("#SBATCH --job-name=joule-%s\n", id);
    /* sbatch splits #SBATCH lines at blanks outside quotes. */
    LINE("#SBATCH --output=\"%s/logs/point-%%a.out\"\n", dir);
    if (o->partition)
        LINE("#SBATCH --partition=%s\n", o->partition);
    if (o->account)
        LINE("#SBATCH --account=%s\n", o->account);
    if (o->time)
        LINE("#SBATCH --time=%s\n", o->time);
    if (o->gpus_per_task)
        LINE("#SBATCH --gpus-per-task=%u\n", o->gpus_per_task);
    if (o->cpus_per_task)
        LINE("#SBATCH --cpus-per-task=%u\n", o->cpus_per_task);
    LINE("set -uo pipefail\n");
    LINE("point=$(printf '%%03d' \"$SLURM_ARRAY_TASK_ID\")\n");
    /* How the task ended, for `joule sweep status` where sacct keeps no
     * record (a cluster without accounting): "JOB STATE NODE EXIT".  A task
     * killed before its end leaves RUNNING. */
    LINE("state=%s/logs/point-\"$point\".state\n", qdir);
    LINE("record() {\n"
         "    printf '%%s %%s %%s %%s\\n' \"$SLURM_ARRAY_JOB_ID\" \"$1\" "
         "\"${SLURMD_NODENAME:-?}\" \"$2\" \\\n"
         "        >\"$state.$SLURM_JOB_ID\" && mv -f \"$state.$SLURM_JOB_ID\" \"$state\"\n"
         "}\n");
    LINE("record RUNNING -\n");
    LINE("rc=0\n");
    LINE("%s run %s/point-\"$point\".yaml --db %s --quiet || rc=$?\n", qj, qdir, qdb);
    LINE("if [ \"$rc\" -eq 0 ]; then record COMPLETED 0; else record FAILED \"$rc\"; fi\n");
    LINE("exit \"$rc\"\n");
#undef LINE
}

/* Submits the script for the array spec; the job id into job. */
static int submit(const char *script, const char *array, char *job, size_t size)
{
    char qs[4200], cmd[4400];
    sh_quote(script, qs, sizeof(qs));
    joule_fmt(cmd, sizeof(cmd), "sbatch --parsable --array=%s %s", array, qs);
    int status = 0;
    char *out = run_capture(cmd, &status);
    if (!out || status != 0 || !out[0]) {
        fprintf(stderr,
                "joule sweep: sbatch failed (%s)%s\n"
                "Is this a Slurm login node? --print-only writes the script without "
                "submitting it.\n",
                cmd, out && out[0] ? "" : ": no job id");
        free(out);
        return CLI_RUNTIME;
    }
    /* --parsable prints "jobid" or "jobid;cluster". */
    size_t k = strcspn(out, ";\n");
    joule_fmt(job, size, "%.*s", (int)k, out);
    free(out);
    if (!job[0] || strspn(job, "0123456789") != strlen(job)) {
        fprintf(stderr, "joule sweep: sbatch printed '%s', not a job id\n", job);
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

static int slurm_sweep(const struct sweep_opts *o, struct joule_config **cfg, size_t n)
{
    char err[1024], id[32], dir[4096], sub[4200];
    /* The id: time and process, short enough to type. */
    joule_fmt(id, sizeof(id), "%lx%04lx", (unsigned long)time(NULL) & 0xffffff,
              (unsigned long)getpid() & 0xffff);
    joule_fmt(dir, sizeof(dir), "%s/%s", o->sweep_dir, id);
    joule_fmt(sub, sizeof(sub), "%s/logs", dir);
    if (joule_mkdirs(sub, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule sweep: %s\n", err);
        return CLI_RUNTIME;
    }
    char adir[4096], db[4096], joule[4096], script[4200];
    absolute(sub, adir, sizeof(adir));
    adir[strlen(adir) - strlen("/logs")] = '\0';
    /* The folder goes into the script's #SBATCH --output="...", where '%'
     * would start one of Slurm's filename patterns. */
    if (strpbrk(adir, "%\"\n")) {
        fprintf(stderr, "joule sweep: %s: Slurm cannot take a log folder with '%%', '\"' or a "
                        "line break; choose another --sweep-dir\n", adir);
        return CLI_USAGE;
    }
    const char *dbp = default_db(o->db);
    if (joule_store_is_server(dbp))
        joule_strlcpy(db, dbp, sizeof(db));
    else
        absolute(dbp, db, sizeof(db));
    if (!realpath("/proc/self/exe", joule))
        joule_strlcpy(joule, "joule", sizeof(joule));
    json_t *m = json_pack("{s:s, s:s, s:s, s:i}", "id", id, "db", db, "joule", joule,
                          "max_parallel", (int)o->max_parallel);
    json_t *axes = json_array(), *pts = json_array();
    for (size_t a = 0; a < o->n_axes; a++) {
        json_t *v = json_array();
        for (size_t k = 0; k < o->axes[a].n; k++)
            json_array_append_new(v, json_string(o->axes[a].values[k]));
        json_array_append_new(axes, json_pack("{s:s, s:o}", "key", o->axes[a].key, "values", v));
    }
    int rc = CLI_OK;
    for (size_t p = 0; p < n && rc == CLI_OK; p++) {
        char *yaml = NULL, path[4400], hash[65], label[400];
        if (joule_config_to_yaml(cfg[p], 1, &yaml) != JOULE_OK) {
            rc = CLI_RUNTIME;
            break;
        }
        joule_fmt(path, sizeof(path), "%s/point-%03zu.yaml", adir, p + 1);
        rc = write_text(path, yaml);
        joule_free(yaml);
        config_hash(cfg[p], hash);
        point_label(o, p, label, sizeof(label));
        json_array_append_new(pts, json_pack("{s:i, s:s, s:s, s:s}", "point", (int)p + 1,
                                             "label", label, "config", path, "config_hash",
                                             hash));
    }
    json_object_set_new(m, "axes", axes);
    json_object_set_new(m, "points", pts);
    char array[64], text[16384];
    joule_fmt(array, sizeof(array), "1-%zu", n);
    if (o->max_parallel) {
        size_t l = strlen(array);
        joule_fmt(array + l, sizeof(array) - l, "%%%u", o->max_parallel);
    }
    sbatch_script(o, id, adir, db, joule, text, sizeof(text));
    joule_fmt(script, sizeof(script), "%s/sweep.sbatch", adir);
    if (rc == CLI_OK)
        rc = write_text(script, text);
    json_t *jobs = json_array();
    if (rc == CLI_OK && o->print_only) {
        printf("%s", text);
        fprintf(stderr,
                "joule sweep: %zu points written to %s; submit with: sbatch --array=%s %s\n"
                "then: joule sweep status %s --sweep-dir %s\n",
                n, adir, array, script, id, o->sweep_dir);
    } else if (rc == CLI_OK) {
        char job[64];
        rc = submit(script, array, job, sizeof(job));
        if (rc == CLI_OK) {
            json_array_append_new(jobs, json_string(job));
            printf("submitted sweep %s: job %s, %zu array tasks (%s)\n", id, job, n, array);
            printf("status: joule sweep status %s%s%s\n", id,
                   strcmp(o->sweep_dir, "joule-sweeps") ? " --sweep-dir " : "",
                   strcmp(o->sweep_dir, "joule-sweeps") ? o->sweep_dir : "");
        }
    }
    json_object_set_new(m, "jobs", jobs);
    char mpath[4400];
    joule_fmt(mpath, sizeof(mpath), "%s/manifest.json", adir);
    if (json_dump_file(m, mpath, JSON_INDENT(2)) != 0 && rc == CLI_OK) {
        fprintf(stderr, "joule sweep: %s: cannot write the manifest\n", mpath);
        rc = CLI_RUNTIME;
    }
    json_decref(m);
    return rc;
}

/* --- status and collect -------------------------------------------------- */

struct point_state {
    char slurm[32], node[64];
    int64_t id;
    char status[16]; /* the store's, "" when no experiment yet */
};

/* One line of a Slurm listing, "JOB_TASK|STATE|NODE", into got[] and st[]
 * when it is a task of job within 1 .. n. */
static void slurm_line(const char *job, char *line, struct point_state *st, bool *got, size_t n)
{
    char *us = strchr(line, '_'), *bar = strchr(line, '|');
    if (!us || !bar || us > bar || strncmp(line, job, (size_t)(us - line)) != 0 ||
        strlen(job) != (size_t)(us - line))
        return;
    long task = strtol(us + 1, NULL, 10);
    char *bar2 = strchr(bar + 1, '|');
    if (task < 1 || (size_t)task > n || !bar2)
        return;
    struct point_state *p = &st[task - 1];
    joule_fmt(p->slurm, sizeof(p->slurm), "%.*s", (int)(bar2 - bar - 1), bar + 1);
    char *sp = strchr(p->slurm, ' '); /* "CANCELLED by 123" */
    if (sp)
        *sp = '\0';
    joule_strlcpy(p->node, bar2 + 1, sizeof(p->node));
    got[task - 1] = true;
}

/* Slurm's state of each array task of job into st[0 .. n) (1-based task
 * ids): sacct for finished tasks, squeue for waiting and running ones.  A
 * task neither lists (no accounting, or it has forgotten the job) is
 * looked up in the record the sbatch script keeps in dir/logs: how it
 * ended, or, when it started and left squeue without recording an end,
 * KILLED (scancel, time limit, a node gone: the script died before it could
 * write its exit status). */
static void slurm_states(const char *job, const char *dir, struct point_state *st, size_t n)
{
    if (!job || !job[0] || strspn(job, "0123456789") != strlen(job))
        return; /* it goes into a command line: digits only */
    struct point_state *now = calloc(n ? n : 1, sizeof(*now));
    bool *got = calloc(n ? n : 1, sizeof(*got));
    bool queue_ok = false;
    for (int c = 0; now && got && c < 2; c++) {
        char cmd[256];
        if (c == 0)
            joule_fmt(cmd, sizeof(cmd),
                      "sacct -j %s -X -n -P --format=JobID,State,NodeList 2>/dev/null", job);
        else
            joule_fmt(cmd, sizeof(cmd), "squeue -j %s -r -h -o '%%i|%%T|%%N' 2>&1", job);
        int status = -1;
        char *out = run_capture(cmd, &status);
        /* squeue fails for a job it has forgotten: "Invalid job id". */
        if (c == 1 && out && (status == 0 || strstr(out, "Invalid job id")))
            queue_ok = true;
        for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
            slurm_line(job, line, now, got, n);
        free(out);
    }
    /* Read after squeue: a task missing from it had ended before, so its
     * record is final. */
    for (size_t k = 0; now && got && k < n; k++) {
        if (got[k])
            continue;
        char path[4400], text[256] = "", rjob[32], rstate[32], rnode[64];
        joule_fmt(path, sizeof(path), "%s/logs/point-%03zu.state", dir, k + 1);
        FILE *f = fopen(path, "r");
        bool line = f && fgets(text, sizeof(text), f);
        if (f)
            fclose(f);
        if (!line || sscanf(text, "%31s %31s %63s", rjob, rstate, rnode) != 3 ||
            strcmp(rjob, job) != 0)
            continue;
        if (strcmp(rstate, "RUNNING") == 0) {
            if (!queue_ok)
                continue; /* squeue did not answer: it may be running */
            joule_strlcpy(rstate, "KILLED", sizeof(rstate));
        }
        joule_strlcpy(now[k].slurm, rstate, sizeof(now[k].slurm));
        joule_strlcpy(now[k].node, rnode, sizeof(now[k].node));
        got[k] = true;
    }
    for (size_t k = 0; now && got && k < n; k++)
        if (got[k]) {
            memcpy(st[k].slurm, now[k].slurm, sizeof(st[k].slurm));
            memcpy(st[k].node, now[k].node, sizeof(st[k].node));
        }
    free(now);
    free(got);
}

/* The newest experiment of each config hash: id and status. */
static void store_states(struct joule_store *s, json_t *points, struct point_state *st)
{
    struct joule_table *t = NULL;
    if (joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t) != JOULE_OK)
        return;
    for (size_t i = 0; i < joule_table_rows(t); i++) {
        int64_t id = (int64_t)joule_table_number(t, i, 0);
        struct joule_table *info = NULL;
        if (joule_store_query(s, JOULE_QUERY_INFO, id, &info) != JOULE_OK)
            continue;
        const char *hash = "", *status = "";
        for (size_t r = 0; r < joule_table_rows(info); r++) {
            if (strcmp(joule_table_text(info, r, 0), "config_hash") == 0)
                hash = joule_table_text(info, r, 1);
            else if (strcmp(joule_table_text(info, r, 0), "status") == 0)
                status = joule_table_text(info, r, 1);
        }
        size_t k;
        json_t *p;
        json_array_foreach(points, k, p)
        {
            const char *h = json_string_value(json_object_get(p, "config_hash"));
            if (h && strcmp(h, hash) == 0 && id > st[k].id) {
                st[k].id = id;
                joule_strlcpy(st[k].status, status, sizeof(st[k].status));
            }
        }
        joule_table_free(info);
    }
    joule_table_free(t);
}

static bool failed_state(const struct point_state *p)
{
    static const char *const bad[] = {"FAILED",    "CANCELLED",     "TIMEOUT",
                                      "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                                      "DEADLINE",  "PREEMPTED",     "KILLED"};
    if (strcmp(p->status, "completed") == 0)
        return false;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strcmp(p->slurm, bad[i]) == 0)
            return true;
    /* Slurm says done but the store has no complete result: it failed. */
    return strcmp(p->slurm, "COMPLETED") == 0 && strcmp(p->status, "completed") != 0;
}

static int sweep_status(int argc, char **argv, bool collect)
{
    const char *id = NULL, *dir = "joule-sweeps";
    bool retry = false;
    enum cli_format fmt = CLI_TABLE;
    for (int i = 2; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (strcmp(argv[i], "--retry-failed") == 0 && !collect)
            retry = true;
        else if (strcmp(argv[i], "--json") == 0)
            fmt = CLI_JSON;
        else if (strcmp(argv[i], "--csv") == 0)
            fmt = CLI_CSV;
        else if ((v = cli_opt_value(argc, argv, &i, "--sweep-dir", &missing)))
            dir = v;
        else if (missing)
            return cli_usage_error("sweep", "%s needs a value", argv[i]);
        else if (argv[i][0] == '-')
            return cli_usage_error("sweep", "unknown option '%s'", argv[i]);
        else if (!id)
            id = argv[i];
        else
            return cli_usage_error("sweep", "one sweep id, not '%s' too", argv[i]);
    }
    if (!id)
        return cli_usage_error("sweep", "%s needs the sweep id that --slurm printed",
                               collect ? "collect" : "status");
    char mpath[4400];
    joule_fmt(mpath, sizeof(mpath), "%s/%s/manifest.json", dir, id);
    json_error_t je;
    json_t *m = json_load_file(mpath, 0, &je);
    if (!m) {
        fprintf(stderr, "joule sweep: %s: %s (a sweep submitted with --slurm writes it)\n",
                mpath, je.text);
        return CLI_USAGE;
    }
    json_t *points = json_object_get(m, "points"), *jobs = json_object_get(m, "jobs");
    char sdir[4200];
    joule_fmt(sdir, sizeof(sdir), "%s/%s", dir, id);
    const char *db = json_string_value(json_object_get(m, "db"));
    size_t n = json_array_size(points);
    struct point_state *st = calloc(n ? n : 1, sizeof(*st));
    int rc = st && db ? CLI_OK : CLI_RUNTIME;
    /* Later submissions (retries) override earlier ones. */
    for (size_t j = 0; rc == CLI_OK && j < json_array_size(jobs); j++)
        slurm_states(json_string_value(json_array_get(jobs, j)), sdir, st, n);
    struct joule_store *s = NULL;
    char err[1024];
    /* A SQLite file no task has written yet: nothing stored so far. */
    if (rc == CLI_OK && (strstr(db, "://") || access(db, F_OK) == 0)) {
        if (joule_store_open(db, &s, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule sweep: %s\n", err);
            rc = CLI_RUNTIME;
        } else {
            store_states(s, points, st);
        }
    }
    size_t done = 0, failed = 0;
    for (size_t k = 0; k < n && rc == CLI_OK; k++) {
        done += strcmp(st[k].status, "completed") == 0;
        failed += failed_state(&st[k]);
    }
    if (rc == CLI_OK && !collect) {
        if (fmt == CLI_JSON) {
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++) {
                json_t *p = json_array_get(points, k);
                json_array_append_new(
                    a, json_pack("{s:O, s:O, s:s, s:s, s:o, s:s}", "point",
                                 json_object_get(p, "point"), "label", json_object_get(p, "label"),
                                 "slurm_state", st[k].slurm[0] ? st[k].slurm : "UNKNOWN", "node",
                                 st[k].node, "experiment_id",
                                 st[k].id ? json_integer(st[k].id) : json_null(), "status",
                                 st[k].status[0] ? st[k].status : "none"));
            }
            cli_print_json(a);
        } else {
            printf("%-5s %-12s %-12s %6s %-12s %s\n", "point", "slurm", "node", "id", "result",
                   "label");
            for (size_t k = 0; k < n; k++) {
                json_t *p = json_array_get(points, k);
                printf("%-5lld %-12s %-12s %6lld %-12s %s\n",
                       (long long)json_integer_value(json_object_get(p, "point")),
                       st[k].slurm[0] ? st[k].slurm : "UNKNOWN", st[k].node[0] ? st[k].node : "-",
                       (long long)st[k].id, st[k].status[0] ? st[k].status : "none",
                       json_string_value(json_object_get(p, "label")));
            }
            printf("%zu of %zu points completed, %zu failed\n", done, n, failed);
        }
        if (retry && failed) {
            char array[4096] = "", job[64], script[4400];
            for (size_t k = 0; k < n; k++)
                if (failed_state(&st[k])) {
                    size_t l = strlen(array);
                    joule_fmt(array + l, sizeof(array) - l, "%s%zu", l ? "," : "", k + 1);
                }
            joule_fmt(script, sizeof(script), "%s/%s/sweep.sbatch", dir, id);
            rc = submit(script, array, job, sizeof(job));
            if (rc == CLI_OK) {
                json_array_append_new(jobs, json_string(job));
                if (json_dump_file(m, mpath, JSON_INDENT(2)) != 0)
                    rc = CLI_RUNTIME;
                printf("resubmitted points %s: job %s\n", array, job);
            }
        } else if (retry) {
            printf("no failed point to resubmit\n");
        }
    }
    if (rc == CLI_OK && collect) {
        if (done < n) {
            fprintf(stderr,
                    "joule sweep: %zu of %zu points completed; see `joule sweep status %s`\n",
                    done, n, id);
            rc = CLI_RUNTIME;
        } else {
            /* The table of a sweep, from the manifest's axes. */
            struct sweep_opts o;
            memset(&o, 0, sizeof(o));
            o.format = fmt;
            json_t *axes = json_object_get(m, "axes");
            for (size_t a = 0; a < json_array_size(axes) && a < MAX_AXES; a++) {
                json_t *ax = json_array_get(axes, a), *v = json_object_get(ax, "values");
                o.axes[a].key = json_string_value(json_object_get(ax, "key"));
                for (size_t k = 0; k < json_array_size(v) && k < MAX_VALUES; k++)
                    o.axes[a].values[o.axes[a].n++] = json_string_value(json_array_get(v, k));
                o.n_axes++;
            }
            struct row *rows = calloc(n, sizeof(*rows));
            for (size_t k = 0; rows && k < n; k++) {
                rows[k].point = k;
                rows[k].id = st[k].id;
                joule_strlcpy(rows[k].status, st[k].status, sizeof(rows[k].status));
                fill_row(s, &rows[k]);
            }
            if (rows)
                print_rows(&o, rows, n, 0);
            free(rows);
        }
    }
    joule_store_close(s);
    free(st);
    json_decref(m);
    return rc;
}

int cmd_sweep(int argc, char **argv, struct cli *cli)
{
    if (argc >= 2 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "collect") == 0))
        return sweep_status(argc, argv, strcmp(argv[1], "collect") == 0);
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
    if (o.slurm) {
        rc = slurm_sweep(&o, cfg, n);
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
    /* The sweep's experiments, so reports and plots can name it by one id. */
    int64_t group = 0;
    int64_t *gids = calloc(done ? done : 1, sizeof(int64_t));
    size_t ng = 0;
    for (size_t i = 0; gids && i < done; i++)
        if (rows[i].id > 0)
            gids[ng++] = rows[i].id;
    if (ng > 1) {
        char label[512] = "";
        for (size_t a = 0; a < o.n_axes; a++) {
            size_t l = strlen(label);
            joule_fmt(label + l, sizeof(label) - l, "%s%s", a ? " x " : "", o.axes[a].key);
        }
        if (joule_store_group_add(s, "sweep", label, gids, ng, &group) != JOULE_OK)
            fprintf(stderr, "joule sweep: %s\n", joule_store_errmsg(s));
    }
    free(gids);
    print_rows(&o, rows, done, group);
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
