/* cmd_compare.c - `joule compare`: precisions (and batch sizes) of one model
 * side by side, each measured with the protocol of `joule run` and scored
 * with a task of `joule eval` on the very file that was measured, then one
 * recommendation by a stated rule. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "alloc.h"
#include "joule_int.h"
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "compare"
#define MAX_PREC 16
#define MAX_BATCH 8

static const char *const usage[] = {
    "usage: joule compare [BASE.yaml] -m MODEL --precisions P1,P2,... [options]",
    "",
    "Each precision (file, f32, f16, bf16, q8_0, q4_0, q4_k_m, q6_k, int8, int8-mixed),",
    "quantized once from MODEL, runs the measurement protocol of `joule run` at each",
    "batch size, then the accuracy task on the same file.  Prints one column per",
    "configuration and a recommendation: the lowest energy per 1k output tokens whose",
    "accuracy loss against the reference (the first precision) is within",
    "--max-accuracy-drop.  int8 and int8-mixed run one INT8 file as LLM.int8 does,",
    "without and with its 16-bit outlier columns (docs/cli/joule-compare.md).",
    "",
    "  -m, --model FILE         the model (also synth:SHAPE)",
    "  --precisions LIST        precisions to compare; the first is the reference",
    "  --batch LIST             batch sizes (default: the config's)",
    "  --task T                 ppl (default), mc, exact, numeric, rouge (see joule eval)",
    "  --eval-dataset D         the task's data (default: joule eval's)",
    "  --int8-threshold X       int8-mixed outlier threshold (default 6, as bitsandbytes)",
    "  --eval-samples N         samples scored (default 32; ppl: the whole text)",
    "  --max-accuracy-drop X    accuracy points (0.01 = 1 point) or, for ppl, relative",
    "                           perplexity increase (0.01 = 1%) allowed (default 0.01)",
    "  --preset P               preset under BASE (default quick-test without BASE)",
    "  --set KEY=VALUE          any config key for every run (repeatable)",
    "  --db PATH|URL            results database",
    "  --fresh                  measure again what was measured before",
    "  --json, --csv            for machines",
    "  --quiet                  no progress",
    NULL,
};

struct cmp_opts {
    const char *base, *model, *preset, *db, *task, *eval_dataset;
    char *prec[MAX_PREC];
    size_t n_prec;
    char *batch[MAX_BATCH];
    size_t n_batch;
    const char *sets[64];
    size_t n_sets;
    unsigned eval_samples;
    double max_drop;
    bool fresh, help;
    enum cli_format fmt;
    char *lists[2]; /* the copies split into prec and batch */
    char int8_set[64];
};

static size_t split_list(char *s, char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static int parse(int argc, char **argv, struct cmp_opts *o)
{
    o->task = "ppl";
    o->eval_samples = 32;
    o->max_drop = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--json") == 0) {
            o->fmt = CLI_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o->fmt = CLI_CSV;
        } else if (strcmp(a, "--fresh") == 0) {
            o->fresh = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            continue; /* read by cmd_compare */
        } else if ((v = cli_opt_value(argc, argv, &i, "-m", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--model", &missing))) {
            o->model = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--precisions", &missing))) {
            free(o->lists[0]);
            if (!(o->lists[0] = strdup(v)))
                return CLI_RUNTIME;
            o->n_prec = split_list(o->lists[0], o->prec, MAX_PREC);
        } else if ((v = cli_opt_value(argc, argv, &i, "--batch", &missing))) {
            free(o->lists[1]);
            if (!(o->lists[1] = strdup(v)))
                return CLI_RUNTIME;
            o->n_batch = split_list(o->lists[1], o->batch, MAX_BATCH);
        } else if ((v = cli_opt_value(argc, argv, &i, "--task", &missing))) {
            o->task = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--eval-dataset", &missing))) {
            o->eval_dataset = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--int8-threshold", &missing))) {
            /* The config key, checked by the config as a --set would be. */
            if (o->n_sets == JOULE_ARRAY_LEN(o->sets))
                return cli_usage_error(CMD, "too many --set options");
            joule_fmt(o->int8_set, sizeof(o->int8_set), "int8_threshold=%s", v);
            o->sets[o->n_sets++] = o->int8_set;
        } else if ((v = cli_opt_value(argc, argv, &i, "--eval-samples", &missing))) {
            if (!cli_parse_u32(CMD, "--eval-samples", v, 0, 1000000000, &o->eval_samples))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-accuracy-drop", &missing))) {
            if (!cli_parse_double(CMD, "--max-accuracy-drop", v, 0, 1e6, &o->max_drop))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--preset", &missing))) {
            o->preset = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--set", &missing))) {
            if (!strchr(v, '=') || v[0] == '=')
                return cli_usage_error(CMD, "--set wants KEY=VALUE, got '%s'", v);
            if (o->n_sets == JOULE_ARRAY_LEN(o->sets))
                return cli_usage_error(CMD, "too many --set options");
            o->sets[o->n_sets++] = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!o->base) {
            o->base = a;
        } else {
            return cli_usage_error(CMD, "one BASE.yaml at most, got '%s' too", a);
        }
    }
    return CLI_OK;
}

/* One configuration: a precision at a batch size. */
struct column {
    const char *precision, *batch; /* batch: the --batch value, or NULL */
    char batch_size[16];           /* the batch size run (from the config) */
    int64_t id;
    bool ok;
    double tok_s, tok_s_std, j_1k, j_1k_ci, tpj, rss_mib, model_mib, latency_s, power_w;
    char provenance[16];
    double accuracy; /* task score: accuracy, or perplexity */
    double loss;     /* accuracy loss vs the reference; NAN when unknown */
    float int8_thr;  /* the engine's int8 mode: threshold, < 0 off */
    double int8_share; /* its outlier columns / all, from the cycles */
    double d_energy; /* energy vs the reference, relative */
    int rank;
};

static int build_config(const struct cmp_opts *o, struct column *col, struct joule_config **out)
{
    char err[1024];
    struct joule_config *c = NULL;
    if (joule_config_new(&c) != JOULE_OK)
        return CLI_RUNTIME;
    const char *preset = o->preset ? o->preset : o->base ? NULL : "quick-test";
    enum joule_status st = joule_config_load(c, o->base, preset, err, sizeof(err));
    if (st == JOULE_OK && o->model)
        st = joule_config_set(c, "model", o->model, err, sizeof(err));
    for (size_t i = 0; st == JOULE_OK && i < o->n_sets; i++) {
        const char *eq = strchr(o->sets[i], '=');
        char key[128];
        joule_fmt(key, sizeof(key), "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
        st = joule_config_set(c, key, eq + 1, err, sizeof(err));
    }
    if (st == JOULE_OK)
        st = joule_config_set(c, "precision", col->precision, err, sizeof(err));
    if (st == JOULE_OK && col->batch)
        st = joule_config_set(c, "batch_size", col->batch, err, sizeof(err));
    col->int8_thr = -1.0f;
    if (st == JOULE_OK && strcmp(col->precision, "int8") == 0) {
        col->int8_thr = 0.0f;
    } else if (st == JOULE_OK && strcmp(col->precision, "int8-mixed") == 0) {
        char thr[64];
        joule_config_get(c, "int8_threshold", thr, sizeof(thr));
        col->int8_thr = strtof(thr, NULL);
    }
    if (st == JOULE_OK) {
        char name[256], model[1024], batch[32];
        joule_config_get(c, "model", model, sizeof(model));
        joule_config_get(c, "batch_size", batch, sizeof(batch));
        joule_strlcpy(col->batch_size, batch, sizeof(col->batch_size));
        const char *slash = strrchr(model, '/');
        joule_fmt(name, sizeof(name), "compare %s %s b%s", slash ? slash + 1 : model,
                  col->precision, batch);
        st = joule_config_set(c, "name", name, err, sizeof(err));
    }
    if (st == JOULE_OK)
        st = joule_config_validate(c, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule compare: %s: %s\n", col->precision, err);
        joule_config_free(c);
        return cli_exit_for(st);
    }
    *out = c;
    return CLI_OK;
}

/* mean (and std, ci95) of metric in a summary table; NAN when absent. */
static void metric(const struct joule_table *t, const char *name, double *mean, double *std,
                   double *ci)
{
    *mean = NAN;
    if (std)
        *std = NAN;
    if (ci)
        *ci = NAN;
    for (size_t i = 0; i < joule_table_rows(t); i++) {
        if (strcmp(joule_table_text(t, i, 0), name) != 0)
            continue;
        for (size_t j = 1; j < joule_table_cols(t); j++) {
            const char *c = joule_table_col_name(t, j);
            double v = joule_table_is_number(t, i, j) ? joule_table_number(t, i, j) : NAN;
            if (strcmp(c, "mean") == 0)
                *mean = v;
            else if (strcmp(c, "std") == 0 && std)
                *std = v;
            else if (strcmp(c, "ci95") == 0 && ci)
                *ci = v;
        }
        return;
    }
}

static const char *info_text(const struct joule_table *t, const char *field)
{
    for (size_t i = 0; i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, 0), field) == 0)
            return joule_table_text(t, i, 1);
    return "";
}

static void read_column(struct joule_store *s, struct column *c, char *model_path, size_t size,
                        char *digest, size_t digest_size)
{
    digest[0] = '\0';
    struct joule_table *t = NULL;
    double dummy;
    model_path[0] = '\0';
    if (joule_store_query(s, JOULE_QUERY_SUMMARY, c->id, &t) == JOULE_OK) {
        metric(t, "throughput_tok_s", &c->tok_s, &c->tok_s_std, NULL);
        metric(t, "j_per_1k_out_tokens", &c->j_1k, NULL, &c->j_1k_ci);
        metric(t, "tokens_per_joule", &c->tpj, NULL, NULL);
        metric(t, "peak_rss_mib", &c->rss_mib, NULL, NULL);
        metric(t, "model_bytes", &c->model_mib, NULL, NULL);
        c->model_mib /= 1048576.0;
        metric(t, "latency_mean_s", &c->latency_s, NULL, NULL);
        metric(t, "power_avg_w", &c->power_w, NULL, &dummy);
        metric(t, "int8_outlier_share", &c->int8_share, NULL, NULL);
        joule_table_free(t);
    }
    if (joule_store_query(s, JOULE_QUERY_EXPORT, c->id, &t) == JOULE_OK) {
        for (size_t j = 0; j < joule_table_cols(t); j++)
            if (strcmp(joule_table_col_name(t, j), "energy_provenance") == 0)
                joule_strlcpy(c->provenance, joule_table_text(t, 0, j), sizeof(c->provenance));
        joule_table_free(t);
    }
    if (joule_store_query(s, JOULE_QUERY_INFO, c->id, &t) == JOULE_OK) {
        joule_strlcpy(model_path, info_text(t, "model_path"), size);
        joule_strlcpy(digest, info_text(t, "model_digest"), digest_size);
        joule_table_free(t);
    }
}

/* The task's score on the file that was measured. */
static enum joule_status accuracy(const struct cmp_opts *o, enum joule_eval_task task,
                                  const char *path, float int8_thr, struct joule_eval_result *res,
                                  char *err, size_t err_size)
{
    res->score = NAN;
    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.int8_threshold = int8_thr; /* scored in the mode that was measured */
    ep.n_seq = task >= JOULE_EVAL_EXACT ? 8 : 1;
    struct joule_engine *e = NULL;
    enum joule_status st = joule_engine_open(path, &ep, &e, err, err_size);
    if (st != JOULE_OK)
        return st;
    struct joule_eval_params p = joule_eval_default_params(task);
    struct joule_eval_result r;
    if (task == JOULE_EVAL_PPL) {
        char *text = NULL, label[1024];
        size_t len = 0;
        if (cli_ppl_text(o->eval_dataset, &text, &len, label, sizeof(label)) != CLI_OK) {
            joule_fmt(err, err_size, "no text to score (see above)");
            st = JOULE_ERR_INVALID;
        } else {
            st = joule_eval_perplexity(e, text, len, &p, &r, err, err_size);
            free(text);
        }
    } else {
        struct joule_dataset_params dp = joule_dataset_default_params();
        dp.source = o->eval_dataset              ? o->eval_dataset
                    : task == JOULE_EVAL_EXACT   ? "questions"
                    : task == JOULE_EVAL_NUMERIC ? "arithmetic"
                                                 : "summaries";
        dp.sample_size = (int32_t)o->eval_samples;
        struct joule_dataset *d = NULL;
        if ((st = joule_dataset_load(&dp, &d, err, err_size)) == JOULE_OK)
            st = joule_eval_dataset(e, d, &p, NULL, NULL, &r, err, err_size);
        joule_dataset_free(d);
    }
    if (st == JOULE_OK)
        *res = r;
    joule_engine_close(e);
    return st;
}

/* What the stored scores are matched by: the task's data and settings. */
static void eval_key(const struct cmp_opts *o, char *dataset, size_t dsize, char *params,
                     size_t psize)
{
    joule_fmt(dataset, dsize, "%s", o->eval_dataset ? o->eval_dataset : "default");
    joule_fmt(params, psize, "{\"samples\": %u}", o->eval_samples);
}

/* A score stored before for experiment id with the same task, data and
 * settings; NAN when none. */
static double stored_score(struct joule_store *s, int64_t id, const char *task, const char *dataset,
                           const char *params)
{
    struct joule_table *t = NULL;
    double v = NAN;
    if (joule_store_query(s, JOULE_QUERY_EVALS, id, &t) != JOULE_OK)
        return v;
    size_t ct = SIZE_MAX, cd = SIZE_MAX, cp = SIZE_MAX, cs = SIZE_MAX;
    for (size_t j = 0; j < joule_table_cols(t); j++) {
        const char *n = joule_table_col_name(t, j);
        ct = strcmp(n, "task") == 0 ? j : ct;
        cd = strcmp(n, "dataset") == 0 ? j : cd;
        cp = strcmp(n, "params") == 0 ? j : cp;
        cs = strcmp(n, "score") == 0 ? j : cs;
    }
    for (size_t i = 0; cs != SIZE_MAX && i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, ct), task) == 0 &&
            strcmp(joule_table_text(t, i, cd), dataset) == 0 &&
            strcmp(joule_table_text(t, i, cp), params) == 0 && joule_table_is_number(t, i, cs))
            v = joule_table_number(t, i, cs);
    joule_table_free(t);
    return v;
}

/* Loss against the reference: points of accuracy lost, or for perplexity
 * its relative increase. */
static double loss_of(enum joule_eval_task task, double score, double ref)
{
    if (!isfinite(score) || !isfinite(ref))
        return NAN;
    return task == JOULE_EVAL_PPL ? (score - ref) / ref : ref - score;
}

/* ",value", empty when it does not exist. */
static void csv_num(double v)
{
    if (isfinite(v))
        printf(",%.9g", v);
    else
        printf(",");
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Table cells, 18 wide, "-" for what does not exist. */
static void cell_text(const char *t)
{
    printf(" %18s", t);
}

static void cell_g(double v)
{
    char b[32];
    joule_fmt(b, sizeof(b), "%.4g", v);
    cell_text(isfinite(v) ? b : "-");
}

static void cell_f1(double v)
{
    char b[32];
    joule_fmt(b, sizeof(b), "%.1f", v);
    cell_text(isfinite(v) ? b : "-");
}

static void cell_pct(double v, int digits)
{
    char b[32];
    joule_fmt(b, sizeof(b), "%+.*f%%", digits, v);
    cell_text(isfinite(v) ? b : "-");
}

static void cell_share(double v)
{
    char b[32];
    joule_fmt(b, sizeof(b), "%.3f%%", 100 * v);
    cell_text(isfinite(v) ? b : "-");
}

static void cell_pm(double v, double pm)
{
    char b[48];
    if (isfinite(pm))
        joule_fmt(b, sizeof(b), "%.4g +-%.2g", v, pm);
    else
        joule_fmt(b, sizeof(b), "%.4g", v);
    cell_text(isfinite(v) ? b : "-");
}

static void print_table(const struct cmp_opts *o, enum joule_eval_task task, const struct column *c,
                        size_t n, int best)
{
    const bool ppl = task == JOULE_EVAL_PPL;
    printf("%-26s", "metric");
    for (size_t i = 0; i < n; i++) {
        char h[40];
        joule_fmt(h, sizeof(h), "%s b%s", c[i].precision, c[i].batch_size);
        printf(" %18s", h);
    }
    printf("\n");
#define ROW(label, expr)                                                                           \
    do {                                                                                           \
        printf("%-26s", label);                                                                    \
        for (size_t i = 0; i < n; i++)                                                             \
            expr;                                                                                  \
        printf("\n");                                                                              \
    } while (0)
    ROW("experiment", printf(" %18lld", (long long)c[i].id));
    ROW("throughput (tok/s)", cell_pm(c[i].tok_s, c[i].tok_s_std));
    ROW("energy (J/1k tok)", cell_pm(c[i].j_1k, c[i].j_1k_ci));
    ROW("delta energy vs ref", cell_pct(100 * c[i].d_energy, 1));
    ROW("tokens per joule", cell_g(c[i].tpj));
    ROW("peak memory (MiB)", cell_f1(c[i].rss_mib));
    ROW("model size (MiB)", cell_f1(c[i].model_mib));
    ROW("latency (ms/req)", cell_f1(1000 * c[i].latency_s));
    ROW("power (W avg)", cell_g(c[i].power_w));
    bool int8 = false;
    for (size_t i = 0; i < n; i++)
        int8 |= c[i].int8_thr >= 0;
    if (int8)
        ROW("int8 outlier columns", cell_share(c[i].int8_share));
    ROW(ppl ? "perplexity" : "accuracy", cell_g(c[i].accuracy));
    if (ppl)
        ROW("perplexity increase", cell_pct(100 * c[i].loss, 2));
    else
        ROW("accuracy loss (points)", cell_f1(100 * c[i].loss));
    ROW("rank (energy)", printf(" %18d", c[i].rank));
    ROW("energy provenance", printf(" %18s", c[i].provenance[0] ? c[i].provenance : "-"));
#undef ROW
    printf("\nrule: the lowest energy per 1k output tokens whose %s is within %g%s of %s b%s\n",
           ppl ? "perplexity increase" : "accuracy loss", 100 * o->max_drop, ppl ? "%" : " points",
           c[0].precision, c[0].batch_size);
    if (best < 0) {
        printf("recommendation: none (no configuration was measured and scored)\n");
        return;
    }
    const struct column *b = &c[best];
    printf("recommendation: %s at batch %s: %.4g J per 1k output tokens", b->precision,
           b->batch_size, b->j_1k);
    if (best != 0 && isfinite(b->d_energy))
        printf(" (%.1f%% %s than %s)", fabs(100 * b->d_energy), b->d_energy < 0 ? "less" : "more",
               c[0].precision);
    printf(", %s %.4g\n", ppl ? "perplexity" : "accuracy", b->accuracy);
    if (b->provenance[0] && strcmp(b->provenance, "measured") != 0)
        printf("note: energy is %s here, not measured: ranks between precisions still hold "
               "only as far as the model does (see joule devices)\n",
               b->provenance);
}

int cmd_compare(int argc, char **argv, struct cli *cli)
{
    struct cmp_opts o = {0};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0)
            cli->quiet = true;
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK || o.help) {
        if (o.help)
            for (int k = 0; usage[k]; k++)
                printf("%s\n", usage[k]);
        free(o.lists[0]);
        free(o.lists[1]);
        return rc;
    }
    enum joule_eval_task task = JOULE_EVAL_PPL;
    if (o.n_prec == 0)
        rc = cli_usage_error(CMD, "--precisions is needed (for example f16,q8_0,q4_0)");
    else if (!o.model && !o.base)
        rc = cli_usage_error(CMD, "no model: pass -m FILE or a BASE.yaml with model:");
    else if (joule_eval_task_parse(o.task, &task) != JOULE_OK)
        rc = cli_usage_error(CMD, "unknown task '%s' (ppl, mc, exact, numeric, rouge)", o.task);
    else if (task == JOULE_EVAL_MC && !o.eval_dataset)
        rc = cli_usage_error(CMD, "task mc needs --eval-dataset FILE (mmlu format)");
    /* The task's data is read once now, so a typo fails before any run. */
    if (rc == CLI_OK && o.eval_dataset) {
        if (task == JOULE_EVAL_PPL) {
            char *text = NULL, label[16];
            size_t len = 0;
            rc = cli_ppl_text(o.eval_dataset, &text, &len, label, sizeof(label));
            free(text);
        } else {
            struct joule_dataset_params dp = joule_dataset_default_params();
            struct joule_dataset *d = NULL;
            char err[1024];
            dp.source = o.eval_dataset;
            enum joule_status st = joule_dataset_load(&dp, &d, err, sizeof(err));
            if (st != JOULE_OK) {
                fprintf(stderr, "joule compare: %s\n", err);
                rc = cli_exit_for(st);
            }
            joule_dataset_free(d);
        }
    }
    size_t n = o.n_prec * (o.n_batch ? o.n_batch : 1);
    struct column *col = rc == CLI_OK ? joule_calloc(n, sizeof(*col)) : NULL;
    struct joule_config **cfg = rc == CLI_OK ? joule_calloc(n, sizeof(*cfg)) : NULL;
    if (rc == CLI_OK && (!col || !cfg))
        rc = CLI_RUNTIME;
    /* Every config is built (and checked) before anything is measured. */
    for (size_t i = 0; rc == CLI_OK && i < n; i++) {
        col[i].precision = o.prec[i / (o.n_batch ? o.n_batch : 1)];
        col[i].batch = o.n_batch ? o.batch[i % o.n_batch] : NULL;
        rc = build_config(&o, &col[i], &cfg[i]);
    }
    char err[1024];
    struct joule_store *s = NULL;
    if (rc == CLI_OK && joule_store_open(o.db, &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule compare: %s\n", err);
        rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK)
        cli_catch_stop();
    double *score_of_prec = rc == CLI_OK ? joule_calloc(o.n_prec, sizeof(double)) : NULL;
    for (size_t p = 0; score_of_prec && p < o.n_prec; p++)
        score_of_prec[p] = NAN;
    struct joule_eval_result *res_of_prec =
        rc == CLI_OK ? joule_calloc(o.n_prec, sizeof(*res_of_prec)) : NULL;
    bool *have_res = rc == CLI_OK ? joule_calloc(o.n_prec, sizeof(bool)) : NULL;
    if (rc == CLI_OK && (!score_of_prec || !res_of_prec || !have_res))
        rc = CLI_RUNTIME;
    for (size_t i = 0; rc == CLI_OK && i < n && !cli_stop; i++) {
        struct joule_run_options ro = {
            .fresh = o.fresh, .skip_completed = !o.fresh, .stop = &cli_stop};
        if (!cli->quiet)
            fprintf(stderr, "joule compare: %zu/%zu %s batch %s: measuring\n", i + 1, n,
                    col[i].precision, col[i].batch_size);
        enum joule_status st = joule_experiment_run(cfg[i], s, &ro, &col[i].id, err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule compare: %s: %s\n", col[i].precision, err);
            rc = cli_exit_for(st);
            break;
        }
        char path[4096], digest[72], dataset[1024], params[64];
        read_column(s, &col[i], path, sizeof(path), digest, sizeof(digest));
        col[i].ok = !cli_stop;
        eval_key(&o, dataset, sizeof(dataset), params, sizeof(params));
        /* Accuracy depends on the file, not the batch: scored once per
         * precision, kept with every experiment of that file, and taken
         * from the store when this experiment was scored before. */
        size_t p = i / (o.n_batch ? o.n_batch : 1);
        double before = o.fresh ? NAN : stored_score(s, col[i].id, o.task, dataset, params);
        if (col[i].ok && !isfinite(score_of_prec[p]) && isfinite(before)) {
            score_of_prec[p] = before;
        } else if (col[i].ok && !isfinite(score_of_prec[p]) && path[0]) {
            if (!cli->quiet)
                fprintf(stderr, "joule compare: %s: task %s\n", col[i].precision, o.task);
            st = accuracy(&o, task, path, col[i].int8_thr, &res_of_prec[p], err, sizeof(err));
            if (st != JOULE_OK) {
                fprintf(stderr, "joule compare: %s: %s\n", col[i].precision, err);
                rc = cli_exit_for(st);
                break;
            }
            score_of_prec[p] = res_of_prec[p].score;
            have_res[p] = true;
        }
        if (col[i].ok && have_res[p] && !isfinite(before)) {
            struct joule_store_eval e = {col[i].id, path,    digest, col[i].precision,
                                         o.task,    dataset, params, res_of_prec[p]};
            if (joule_store_eval_add(s, &e, NULL) != JOULE_OK)
                fprintf(stderr, "joule compare: %s\n", joule_store_errmsg(s));
        }
        col[i].accuracy = score_of_prec[p];
    }
    int best = -1;
    if (col && n > 0) {
        size_t done = 0;
        while (done < n && col[done].ok)
            done++;
        for (size_t i = 0; i < done; i++) {
            col[i].loss = loss_of(task, col[i].accuracy, col[0].accuracy);
            col[i].d_energy = col[0].j_1k > 0 ? col[i].j_1k / col[0].j_1k - 1 : NAN;
            col[i].rank = 1;
            for (size_t j = 0; j < done; j++)
                col[i].rank += col[j].j_1k < col[i].j_1k;
            /* The rule: within the accuracy tolerance, the least energy. */
            if (isfinite(col[i].j_1k) && isfinite(col[i].loss) &&
                col[i].loss <= o.max_drop + 1e-12 && (best < 0 || col[i].j_1k < col[best].j_1k))
                best = (int)i;
        }
        /* The compare's experiments, so a report or plot names them by one id. */
        int64_t gids[MAX_PREC * MAX_BATCH], group = 0;
        for (size_t i = 0; i < done && i < JOULE_ARRAY_LEN(gids); i++)
            gids[i] = col[i].id;
        if (done > 1 && joule_store_group_add(s, "compare", "compare", gids, done, &group) != JOULE_OK)
            fprintf(stderr, "joule compare: %s\n", joule_store_errmsg(s));
        if (done > 0) {
            if (o.fmt == CLI_JSON) {
                json_t *a = json_array();
                for (size_t i = 0; i < done; i++) {
                    json_t *r = json_pack("{s:s, s:I}", "precision", col[i].precision,
                                          "experiment_id", (json_int_t)col[i].id);
                    json_object_set_new(r, "batch_size",
                                        json_integer(strtol(col[i].batch_size, NULL, 10)));
                    json_object_set_new(r, "throughput_tok_s", num(col[i].tok_s));
                    json_object_set_new(r, "throughput_tok_s_std", num(col[i].tok_s_std));
                    json_object_set_new(r, "j_per_1k_tokens", num(col[i].j_1k));
                    json_object_set_new(r, "j_per_1k_tokens_ci95", num(col[i].j_1k_ci));
                    json_object_set_new(r, "delta_energy_vs_ref", num(col[i].d_energy));
                    json_object_set_new(r, "tokens_per_joule", num(col[i].tpj));
                    json_object_set_new(r, "peak_rss_mib", num(col[i].rss_mib));
                    json_object_set_new(r, "model_mib", num(col[i].model_mib));
                    json_object_set_new(r, "latency_s", num(col[i].latency_s));
                    json_object_set_new(r, "power_w", num(col[i].power_w));
                    json_object_set_new(r, "int8_outlier_share", num(col[i].int8_share));
                    json_object_set_new(r, "task", json_string(o.task));
                    json_object_set_new(r, "accuracy", num(col[i].accuracy));
                    json_object_set_new(r, "accuracy_loss", num(col[i].loss));
                    json_object_set_new(r, "rank_energy", json_integer(col[i].rank));
                    json_object_set_new(r, "energy_provenance", json_string(col[i].provenance));
                    json_array_append_new(a, r);
                }
                json_t *top =
                    json_pack("{s:o, s:f}", "configurations", a, "max_accuracy_drop", o.max_drop);
                json_object_set_new(top, "recommended",
                                    best >= 0 ? json_integer(best) : json_null());
                json_object_set_new(top, "compare_id", group ? json_integer(group) : json_null());
                cli_print_json(top);
            } else if (o.fmt == CLI_CSV) {
                printf("precision,batch_size,experiment_id,throughput_tok_s,throughput_tok_s_std,"
                       "j_per_1k_tokens,j_per_1k_tokens_ci95,delta_energy_vs_ref,"
                       "tokens_per_joule,peak_rss_mib,model_mib,latency_s,power_w,"
                       "int8_outlier_share,task,"
                       "accuracy,accuracy_loss,rank_energy,energy_provenance,recommended\n");
                for (size_t i = 0; i < done; i++) {
                    const struct column *c = &col[i];
                    printf("%s,%s,%lld", c->precision, c->batch_size, (long long)c->id);
                    const double v[] = {c->tok_s,     c->tok_s_std, c->j_1k,    c->j_1k_ci,
                                        c->d_energy,  c->tpj,       c->rss_mib, c->model_mib,
                                        c->latency_s, c->power_w,   c->int8_share};
                    for (size_t k = 0; k < JOULE_ARRAY_LEN(v); k++)
                        csv_num(v[k]);
                    printf(",%s", o.task);
                    csv_num(c->accuracy);
                    csv_num(c->loss);
                    printf(",%d,%s,%d\n", c->rank, c->provenance, (int)i == best);
                }
            } else {
                print_table(&o, task, col, done, best);
                if (group > 0)
                    printf("compare %lld; report: joule report --compare %lld -o compare.html\n",
                           (long long)group, (long long)group);
            }
        }
        if (cli_stop) {
            fprintf(stderr,
                    "joule compare: interrupted after %zu of %zu configurations; run "
                    "the same command again to measure the rest\n",
                    done, n);
            rc = CLI_RUNTIME;
        }
    }
    for (size_t i = 0; cfg && i < n; i++)
        joule_config_free(cfg[i]);
    free(cfg);
    free(col);
    free(score_of_prec);
    free(res_of_prec);
    free(have_res);
    joule_store_close(s);
    free(o.lists[0]);
    free(o.lists[1]);
    return rc;
}
