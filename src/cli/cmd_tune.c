/* cmd_tune.c - `joule tune`: a search over a prompt space for accuracy
 * against energy (the EAPO seed done reproducibly), and `joule tune
 * evaluate`: one prompt configuration on a dataset, per example.  The work
 * is in src/tune/tune_run.c; this file parses, checks and prints. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"
#include "score.h"
#include "alloc.h"
#include "sha256.h"
#include "store.h"
#include "tune_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "tune"
#define CMD_EVAL "tune evaluate"

static const char *const usage[] = {
    "usage: joule tune -m MODEL [options]",
    "       joule tune evaluate (--prompt-config JSON | --config FILE) -m MODEL [options]",
    "",
    "Searches a prompt space (the built-in one: style, reasoning, format, brevity;",
    "108 combinations) for the configuration with the best value",
    "  accuracy_weight * Acc + tpj_weight * TPJ - energy_weight * Energy_kJ",
    "scoring the generated text only, with successive halving: each bracket of",
    "trials runs on --min-examples examples first and the best 1/eta go on to eta",
    "times more, up to --examples.  Writes OUT/trials.csv (one row per trial, as",
    "it ends) and OUT/best.json, prints the best and the Pareto front; the same",
    "command again continues an interrupted run (docs/cli/joule-tune.md).",
    "",
    "  -m, --model FILE         GGUF model (also synth:SHAPE)",
    "  --space FILE.yaml        prompt space (default: the built-in one)",
    "  -d, --dataset NAME|FILE  examples with references (default summaries)",
    "  --task T                 rouge (default), exact, numeric",
    "  --trials N               configurations to try (default 20)",
    "  --sampler S              tpe (default), random, grid",
    "  --search scalar|pareto   TPE ranks trials by the objective value (default, as",
    "                           the seed) or by Pareto rank of accuracy, energy and",
    "                           latency (multi-objective)",
    "  --seed S                 sampler seed (default 42)",
    "  --accuracy-weight W      (default 1)",
    "  --tpj-weight W           (default 1)",
    "  --energy-weight W        (default 1)",
    "  --examples N             examples of the full set (default 20; 0: all)",
    "  --min-examples N         examples of the first rung (default 2; >= --examples:",
    "                           no halving)",
    "  --eta N                  promotion ratio (default 3)",
    "  --max-tokens N           tokens generated per example (default 128)",
    "  -b, --batch N            examples generated together (default 8)",
    "  -t, --threads N          CPU threads (default: physical cores)",
    "  --ctx N                  context positions (default 2048, at most the model's)",
    "  --no-chat                plain prompts even when the model has a chat template",
    "  --out DIR                output folder (default tune-out)",
    "  --meter SOURCES          energy sources (auto, or a list: rapl,nvml,fake:FILE,...)",
    "  --interval MS            meter sampling interval",
    "  --fresh                  start over instead of continuing OUT/trials.csv",
    "  --db PATH|URL            results database the trials are kept in (also",
    "                           JOULE_DB; default joule-results/joule.db)",
    "  --no-store               keep the trials in OUT/ only",
    "  --json                   for machines",
    "  --quiet                  no progress",
    "",
    "evaluate: --per-example-output F.csv --summary-output S.json, --space, -d, --task,",
    "  --examples, --max-tokens, -b (default 1: one meter window per example),",
    "  -t, --ctx, --no-chat, --meter, --interval, --json, --quiet as above.",
    NULL,
};

struct tune_opts {
    const char *model, *space, *dataset, *task, *sampler, *out;
    const char *prompt_config, *config, *per_example, *summary;
    unsigned trials, examples, min_examples, eta, max_tokens, batch, threads, ctx;
    unsigned long long seed;
    struct joule_tune_weights w;
    struct joule_meter_params mp;
    bool fresh, json, quiet, help, no_chat, evaluate, no_store, pareto;
    const char *db;
};

static int parse(int argc, char **argv, struct tune_opts *o)
{
    const char *cmd = o->evaluate ? CMD_EVAL : CMD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        int m = cli_meter_option(cmd, argc, argv, &i, &o->mp);
        if (m < 0)
            return CLI_USAGE;
        if (m > 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--fresh") == 0 && !o->evaluate) {
            o->fresh = true;
        } else if (strcmp(a, "--no-chat") == 0) {
            o->no_chat = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "-m", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--model", &missing))) {
            o->model = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--space", &missing))) {
            o->space = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-d", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--dataset", &missing))) {
            o->dataset = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--task", &missing))) {
            o->task = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--meter", &missing))) {
            o->mp.sources = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--examples", &missing))) {
            if (!cli_parse_u32(cmd, "--examples", v, 0, 1000000, &o->examples))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-tokens", &missing))) {
            if (!cli_parse_u32(cmd, "--max-tokens", v, 1, 1 << 20, &o->max_tokens))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "-b", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--batch", &missing))) {
            if (!cli_parse_u32(cmd, "--batch", v, 1, 256, &o->batch))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "-t", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_u32(cmd, "--threads", v, 0, 512, &o->threads))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--ctx", &missing))) {
            if (!cli_parse_u32(cmd, "--ctx", v, 16, 1 << 20, &o->ctx))
                return CLI_USAGE;
        } else if (o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--prompt-config", &missing))) {
            o->prompt_config = v;
        } else if (o->evaluate && (v = cli_opt_value(argc, argv, &i, "--config", &missing))) {
            o->config = v;
        } else if (o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--per-example-output", &missing))) {
            o->per_example = v;
        } else if (o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--summary-output", &missing))) {
            o->summary = v;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--trials", &missing))) {
            if (!cli_parse_u32(cmd, "--trials", v, 1, 1000000, &o->trials))
                return CLI_USAGE;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--sampler", &missing))) {
            o->sampler = v;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--search", &missing))) {
            if (strcmp(v, "scalar") != 0 && strcmp(v, "pareto") != 0)
                return cli_usage_error(cmd, "--search: '%s' is not scalar or pareto", v);
            o->pareto = strcmp(v, "pareto") == 0;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-' || errno)
                return cli_usage_error(cmd, "--seed expects a whole number, got '%s'", v);
        } else if (!o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--accuracy-weight", &missing))) {
            if (!cli_parse_double(cmd, "--accuracy-weight", v, 0, 1e9, &o->w.accuracy))
                return CLI_USAGE;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--tpj-weight", &missing))) {
            if (!cli_parse_double(cmd, "--tpj-weight", v, 0, 1e9, &o->w.tpj))
                return CLI_USAGE;
        } else if (!o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--energy-weight", &missing))) {
            if (!cli_parse_double(cmd, "--energy-weight", v, 0, 1e9, &o->w.energy))
                return CLI_USAGE;
        } else if (!o->evaluate &&
                   (v = cli_opt_value(argc, argv, &i, "--min-examples", &missing))) {
            if (!cli_parse_u32(cmd, "--min-examples", v, 1, 1000000, &o->min_examples))
                return CLI_USAGE;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--eta", &missing))) {
            if (!cli_parse_u32(cmd, "--eta", v, 2, 1000, &o->eta))
                return CLI_USAGE;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--out", &missing))) {
            o->out = v;
        } else if (!o->evaluate && (v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
        } else if (!o->evaluate && strcmp(a, "--no-store") == 0) {
            o->no_store = true;
        } else if (missing) {
            return cli_usage_error(cmd, "%s needs a value", a);
        } else {
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
    }
    return CLI_OK;
}

/* Parses the options; true when the command is done (help printed, or a
 * usage error with its status in *rc). */
static bool parsed_or_done(int argc, char **argv, struct tune_opts *o, struct cli *cli, int *rc)
{
    *rc = parse(argc, argv, o);
    if (*rc != CLI_OK)
        return true;
    if (o->help) {
        for (int k = 0; usage[k]; k++)
            printf("%s\n", usage[k]);
        return true;
    }
    cli->quiet = o->quiet;
    return false;
}

/* --- what both commands open ------------------------------------------------ */

struct setup {
    struct joule_tune_space *space;
    struct joule_dataset *data;
    struct joule_engine *engine;
    struct joule_meter *meter;
    enum joule_eval_task task;
    char model_path[4096];
    int chat;
};

static void setup_close(struct setup *s)
{
    joule_engine_close(s->engine);
    joule_meter_close(s->meter);
    joule_dataset_free(s->data);
    joule_tune_space_free(s->space);
}

static void announce_synth(void *user, const char *path)
{
    const struct tune_opts *o = user;
    if (!o->quiet)
        fprintf(stderr, "joule tune: making a random-weight model once: %s\n", path);
}

/* The space, the task and the data: everything a typo can break, before the
 * model is loaded. */
static int open_inputs(const struct tune_opts *o, const char *cmd, struct setup *s)
{
    char err[1024];
    enum joule_status st = o->space ? joule_tune_space_load(o->space, &s->space, err, sizeof(err))
                                    : joule_tune_space_default(&s->space);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, o->space ? err : joule_status_str(st));
        return cli_exit_for(st);
    }
    if (joule_eval_task_parse(o->task, &s->task) != JOULE_OK ||
        (s->task != JOULE_EVAL_ROUGE && s->task != JOULE_EVAL_EXACT &&
         s->task != JOULE_EVAL_NUMERIC))
        return cli_usage_error(cmd, "--task: '%s' is not rouge, exact or numeric", o->task);
    struct joule_dataset_params dp = joule_dataset_default_params();
    dp.source = o->dataset;
    dp.sample_size = (int32_t)o->examples;
    if ((st = joule_dataset_load(&dp, &s->data, err, sizeof(err))) != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, err);
        return cli_exit_for(st);
    }
    struct joule_tune_exec x = {.data = s->data, .task = s->task};
    if ((st = joule_tune_check_data(&x, err, sizeof(err))) != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, err);
        return cli_exit_for(st);
    }
    return CLI_OK;
}

static int open_engine(struct tune_opts *o, const char *cmd, struct setup *s)
{
    char err[1024];
    enum joule_status st =
        joule_model_resolve(o->model, o->threads, announce_synth, o, s->model_path,
                            sizeof(s->model_path), err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, err);
        return cli_exit_for(st);
    }
    struct stat sb;
    if (stat(s->model_path, &sb) != 0)
        return cli_usage_error(cmd,
                               "%s: no such model file (a GGUF file, or synth:SHAPE for a "
                               "random-weight model)",
                               s->model_path);
    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = (int32_t)o->threads;
    ep.n_seq = (int32_t)o->batch;
    ep.n_ctx = (int32_t)o->ctx;
    if ((st = joule_engine_open(s->model_path, &ep, &s->engine, err, sizeof(err))) != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, err);
        return cli_exit_for(st);
    }
    struct joule_engine_info info;
    joule_engine_get_info(s->engine, &info);
    s->chat = info.chat_template && !o->no_chat;
    int code = CLI_OK;
    if (!(s->meter = cli_meter_open(cmd, &o->mp, &code)))
        return code;
    return CLI_OK;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static const char *model_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* --- joule tune evaluate ----------------------------------------------------- */

/* A flat YAML mapping, one `factor: level` a line (comments and blank lines
 * allowed), into *c. */
static int config_file(const char *path, const struct joule_tune_space *sp,
                       struct joule_tune_cfg *c)
{
    char *text = NULL, err[1024];
    size_t len = 0;
    if (joule_read_all(path, 1u << 20, &text, &len, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", CMD_EVAL, err);
        return CLI_USAGE;
    }
    int rc = CLI_OK;
    size_t line = 0;
    for (char *p = text, *nl; rc == CLI_OK && p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        line++;
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        char *k = p + strspn(p, " \t\r");
        if (!*k)
            continue;
        char *colon = strchr(k, ':');
        if (!colon) {
            fprintf(stderr, "joule %s: %s:%zu: expected `factor: level`\n", CMD_EVAL, path, line);
            rc = CLI_USAGE;
            break;
        }
        *colon = '\0';
        char *v = colon + 1 + strspn(colon + 1, " \t\"'");
        for (char *e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
            e[-1] = '\0';
        for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
                                                e[-1] == '"' || e[-1] == '\'');
             e--)
            e[-1] = '\0';
        if (joule_tune_cfg_set(sp, c, k, v, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule %s: %s:%zu: %s\n", CMD_EVAL, path, line, err);
            rc = CLI_USAGE;
        }
    }
    free(text);
    return rc;
}

static int prompt_config(const char *js, const struct joule_tune_space *sp,
                         struct joule_tune_cfg *c)
{
    json_error_t je;
    json_t *j = json_loads(js, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return cli_usage_error(CMD_EVAL, "--prompt-config: not a JSON object of factor: level (%s)",
                               j ? "not an object" : je.text);
    }
    const char *k;
    json_t *v;
    int rc = CLI_OK;
    json_object_foreach(j, k, v)
    {
        char err[1024];
        if (!json_is_string(v)) {
            rc = cli_usage_error(CMD_EVAL, "--prompt-config: the level of '%s' is not a string", k);
            break;
        }
        if (joule_tune_cfg_set(sp, c, k, json_string_value(v), err, sizeof(err)) != JOULE_OK) {
            rc = cli_usage_error(CMD_EVAL, "--prompt-config: %s", err);
            break;
        }
    }
    json_decref(j);
    return rc;
}

struct summary_ctx {
    json_t *j;
};

static enum joule_status write_json(FILE *f, void *ctx)
{
    const struct summary_ctx *s = ctx;
    if (json_dumpf(s->j, f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0 || fputc('\n', f) < 0)
        return JOULE_ERR_IO;
    return JOULE_OK;
}

struct per_example_ctx {
    const struct joule_dataset *d;
    const struct joule_tune_example *ex;
    const double *rouge;
    size_t n;
    enum joule_eval_task task;
};

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.17g", v);
    else
        fputc(',', f);
}

static enum joule_status write_per_example(FILE *f, void *ctx)
{
    const struct per_example_ctx *c = ctx;
    fprintf(f, "doc,ref,pred,rougeL,energy_J,latency_s,tokens_gen%s\n",
            c->task == JOULE_EVAL_ROUGE ? "" : ",score");
    for (size_t i = 0; i < c->n; i++) {
        const struct joule_sample *s = joule_dataset_get(c->d, i);
        const char *ref = c->task == JOULE_EVAL_ROUGE || !s->answer ? s->reference : s->answer;
        cli_csv_field(f, s->input ? s->input : s->prompt);
        fputc(',', f);
        cli_csv_field(f, ref ? ref : "");
        fputc(',', f);
        /* Valid UTF-8 (as in JSON): a random-weight model writes any bytes. */
        const char *pred = c->ex[i].text ? c->ex[i].text : "";
        json_t *valid = cli_json_text(pred, strlen(pred));
        cli_csv_field(f, json_is_string(valid) ? json_string_value(valid) : "");
        json_decref(valid);
        csv_num(f, c->rouge[i]);
        csv_num(f, c->ex[i].energy_j);
        csv_num(f, c->ex[i].latency_s);
        fprintf(f, ",%d", (int)c->ex[i].n_output);
        if (c->task != JOULE_EVAL_ROUGE)
            csv_num(f, c->ex[i].score);
        fputc('\n', f);
    }
    return ferror(f) ? JOULE_ERR_IO : JOULE_OK;
}

static int cmd_evaluate(int argc, char **argv, struct cli *cli)
{
    struct tune_opts o = {0};
    o.evaluate = true;
    o.dataset = "summaries";
    o.task = "rouge";
    o.max_tokens = 128;
    o.batch = 1;
    o.mp = joule_meter_default_params();
    int rc = CLI_OK;
    if (parsed_or_done(argc, argv, &o, cli, &rc))
        return rc;
    if (!o.model)
        return cli_usage_error(CMD_EVAL, "no model: pass -m FILE (a GGUF file, or synth:SHAPE)");
    if (!o.prompt_config == !o.config)
        return cli_usage_error(CMD_EVAL, "pass one of --prompt-config JSON and --config FILE");
    if (!o.per_example || !o.summary)
        return cli_usage_error(CMD_EVAL,
                               "pass --per-example-output F.csv and --summary-output S.json");
    struct setup s = {0};
    struct joule_tune_cfg cfg = {{0}};
    rc = open_inputs(&o, CMD_EVAL, &s);
    if (rc == CLI_OK)
        rc = o.prompt_config ? prompt_config(o.prompt_config, s.space, &cfg)
                             : config_file(o.config, s.space, &cfg);
    if (rc == CLI_OK)
        rc = open_engine(&o, CMD_EVAL, &s);
    const size_t n = s.data ? joule_dataset_count(s.data) : 0;
    struct joule_tune_example *ex = rc == CLI_OK ? calloc(n, sizeof(*ex)) : NULL;
    double *rouge = rc == CLI_OK ? calloc(n, sizeof(*rouge)) : NULL;
    if (rc == CLI_OK && (!ex || !rouge))
        rc = CLI_RUNTIME;
    char err[1024], key[1024] = "";
    if (rc == CLI_OK) {
        joule_tune_cfg_key(s.space, &cfg, key, sizeof(key));
        if (!o.quiet)
            fprintf(stderr, "joule tune evaluate: %s on %zu examples\n", key, n);
        cli_catch_stop();
        struct joule_tune_exec x = {
            s.engine, s.meter, s.space, s.data, s.task, (int32_t)o.max_tokens, s.chat, &cli_stop};
        int stopped = 0;
        enum joule_status st = joule_tune_generate(&x, &cfg, 0, n, ex, &stopped, err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule tune evaluate: %s\n", err);
            rc = cli_exit_for(st);
        } else if (stopped) {
            fprintf(stderr, "joule tune evaluate: interrupted; nothing written\n");
            rc = CLI_RUNTIME;
        }
    }
    if (rc == CLI_OK) {
        double sum_r = 0, sum_e = 0, sum_l = 0, sum_s = 0;
        long long tokens = 0;
        enum joule_provenance worst = JOULE_PROV_MEASURED;
        for (size_t i = 0; i < n; i++) {
            const struct joule_sample *sm = joule_dataset_get(s.data, i);
            struct joule_eval_rouge r[3];
            rouge[i] = sm->reference && joule_eval_rouge(ex[i].text ? ex[i].text : "",
                                                         sm->reference, 0, r) == JOULE_OK
                           ? r[2].f
                           : NAN;
            sum_r += rouge[i];
            sum_e += ex[i].energy_j;
            sum_l += ex[i].latency_s;
            sum_s += ex[i].score;
            tokens += ex[i].n_output;
            if (ex[i].provenance > worst)
                worst = ex[i].provenance;
        }
        json_t *cj = json_object();
        for (size_t f = 0; f < s.space->n_factors; f++)
            json_object_set_new(cj, s.space->factors[f].name,
                                json_string(s.space->factors[f].levels[cfg.level[f]].name));
        json_t *j = json_object();
        json_object_set_new(j, "mean_rougeL", num(sum_r / (double)n));
        json_object_set_new(j, "mean_energy_J", num(sum_e / (double)n));
        json_object_set_new(j, "total_energy_J", num(sum_e));
        json_object_set_new(j, "total_tokens", json_integer(tokens));
        json_object_set_new(j, "tpj", num(sum_e > 0 ? (double)tokens / sum_e : NAN));
        json_object_set_new(j, "mean_latency_s", num(sum_l / (double)n));
        json_object_set_new(j, "energy_provenance", json_string(joule_provenance_str(worst)));
        json_object_set_new(j, "task", json_string(joule_eval_task_name(s.task)));
        json_object_set_new(j, "mean_score", num(sum_s / (double)n));
        json_object_set_new(j, "n_examples", json_integer((json_int_t)n));
        json_object_set_new(j, "batch", json_integer(o.batch));
        json_object_set_new(j, "energy_split",
                            json_string(o.batch == 1 ? "one window per example"
                                                     : "batch window shared by tokens processed"));
        json_object_set_new(j, "prompt_config", cj);
        json_object_set_new(j, "key", json_string(key));
        json_object_set_new(j, "model", json_string(model_name(s.model_path)));
        json_object_set_new(j, "dataset", json_string(joule_dataset_source(s.data)));
        struct per_example_ctx pc = {s.data, ex, rouge, n, s.task};
        struct summary_ctx sc = {j};
        if (joule_write_atomic(o.per_example, write_per_example, &pc, err, sizeof(err)) !=
                JOULE_OK ||
            joule_write_atomic(o.summary, write_json, &sc, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule tune evaluate: %s\n", err);
            rc = CLI_RUNTIME;
        } else if (o.json) {
            json_incref(j);
            cli_print_json(j);
        } else {
            printf("tune evaluate  %s  on %s (%zu examples)\n\n", key, joule_dataset_source(s.data),
                   n);
            printf("  mean ROUGE-L F1       %.4f\n", sum_r / (double)n);
            if (s.task != JOULE_EVAL_ROUGE)
                printf("  %-21s %.4f\n", joule_eval_task_name(s.task), sum_s / (double)n);
            printf("  total energy          %.4g J (%s)\n", sum_e, joule_provenance_str(worst));
            printf("  mean energy/example   %.4g J\n", sum_e / (double)n);
            printf("  tokens generated      %lld (%.4g per joule)\n", tokens,
                   sum_e > 0 ? (double)tokens / sum_e : NAN);
            printf("  mean latency          %.3f s\n", sum_l / (double)n);
            printf("\nwrote %s and %s\n", o.per_example, o.summary);
        }
        json_decref(j);
    }
    joule_tune_examples_clear(ex, ex ? n : 0);
    free(ex);
    free(rouge);
    setup_close(&s);
    return rc;
}

/* --- joule tune ------------------------------------------------------------- */

/* The settings that decide which trials a run makes: a resumed run must
 * have the same, or its trials.csv would mix two searches. */
static json_t *settings_json(const struct tune_opts *o, const struct setup *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "space", json_string(s->space->name));
    json_object_set_new(j, "space_file", json_string(o->space ? o->space : ""));
    json_object_set_new(j, "model", json_string(s->model_path));
    json_object_set_new(j, "dataset", json_string(o->dataset));
    json_object_set_new(j, "examples", json_integer((json_int_t)joule_dataset_count(s->data)));
    json_object_set_new(j, "task", json_string(joule_eval_task_name(s->task)));
    json_object_set_new(j, "sampler", json_string(o->sampler));
    json_object_set_new(j, "search", json_string(o->pareto ? "pareto" : "scalar"));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "accuracy_weight", json_real(o->w.accuracy));
    json_object_set_new(j, "tpj_weight", json_real(o->w.tpj));
    json_object_set_new(j, "energy_weight", json_real(o->w.energy));
    json_object_set_new(j, "min_examples", json_integer(o->min_examples));
    json_object_set_new(j, "eta", json_integer(o->eta));
    json_object_set_new(j, "max_tokens", json_integer(o->max_tokens));
    json_object_set_new(j, "chat", json_boolean(s->chat));
    return j;
}

/* Compares with OUT/settings.json of an earlier run (a resume), or writes
 * it (a new run). */
static int check_settings(const struct tune_opts *o, const struct setup *s, const char *dir,
                          bool resuming)
{
    char path[4096], err[1024];
    joule_fmt(path, sizeof(path), "%s/settings.json", dir);
    json_t *now = settings_json(o, s);
    int rc = CLI_OK;
    json_t *before = resuming ? json_load_file(path, 0, NULL) : NULL;
    if (before) {
        const char *k;
        json_t *v;
        json_object_foreach(now, k, v)
        {
            json_t *b = json_object_get(before, k);
            if (!b || !json_equal(b, v)) {
                char *was = b ? json_dumps(b, JSON_ENCODE_ANY) : NULL;
                char *is = json_dumps(v, JSON_ENCODE_ANY);
                fprintf(stderr,
                        "joule tune: %s was made with %s %s, this run has %s: pass --fresh "
                        "to start over, or choose another --out\n",
                        path, k, was ? was : "(none)", is ? is : "?");
                free(was);
                free(is);
                rc = CLI_USAGE;
                break;
            }
        }
        json_decref(before);
    } else {
        struct summary_ctx sc = {now};
        if (joule_write_atomic(path, write_json, &sc, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule tune: %s\n", err);
            rc = CLI_RUNTIME;
        }
    }
    json_decref(now);
    return rc;
}

struct progress {
    const struct tune_opts *o;
    const struct joule_tune_space *space;
    enum joule_eval_task task;
};

static void on_event(void *user, const struct joule_tune_event *ev)
{
    const struct progress *p = user;
    if (p->o->quiet)
        return;
    if (!ev->trial) {
        fprintf(stderr, "joule tune: bracket %u rung %u: %u trial%s on %u examples\n", ev->bracket,
                ev->rung, ev->n_running, ev->n_running == 1 ? "" : "s", ev->rung_examples);
        return;
    }
    const struct joule_tune_trial *t = ev->trial;
    char key[1024];
    joule_tune_cfg_key(p->space, &t->cfg, key, sizeof(key));
    fprintf(stderr,
            "joule tune: trial %u %s%s (%u examples) value %.6g acc %.4f energy %.4g J %s\n",
            t->number, joule_tune_state_name(t->state), ev->resumed ? " (from trials.csv)" : "",
            t->n_examples, t->value, joule_tune_trial_accuracy(t, p->task), t->energy_total_j, key);
}

static json_t *trial_json(const struct joule_tune_space *sp, enum joule_eval_task task,
                          const struct joule_tune_trial *t)
{
    char key[1024];
    joule_tune_cfg_key(sp, &t->cfg, key, sizeof(key));
    json_t *cj = json_object();
    for (size_t f = 0; f < sp->n_factors; f++)
        json_object_set_new(cj, sp->factors[f].name,
                            json_string(sp->factors[f].levels[t->cfg.level[f]].name));
    json_t *j = json_object();
    json_object_set_new(j, "number", json_integer(t->number));
    json_object_set_new(j, "key", json_string(key));
    json_object_set_new(j, "config", cj);
    json_object_set_new(j, "value", num(t->value));
    json_object_set_new(j, "state", json_string(joule_tune_state_name(t->state)));
    json_object_set_new(j, "accuracy", num(joule_tune_trial_accuracy(t, task)));
    json_object_set_new(j, "metric_rougeL", num(t->rouge_l));
    json_object_set_new(j, "metric_energy_total_J", num(t->energy_total_j));
    json_object_set_new(j, "metric_tpj", num(t->tpj));
    json_object_set_new(j, "metric_latency_s", num(t->latency_s));
    json_object_set_new(j, "metric_tokens_total", json_integer((json_int_t)t->tokens_total));
    json_object_set_new(j, "metric_energy_J_per_ex", num(t->energy_j_per_ex));
    json_object_set_new(j, "n_examples", json_integer(t->n_examples));
    json_object_set_new(j, "pareto_rank", json_integer(t->pareto_rank));
    json_object_set_new(j, "energy_source", json_string(t->energy_source));
    return j;
}

static void print_front(const struct joule_tune_outcome *out, const struct joule_tune_space *sp,
                        enum joule_eval_task task)
{
    printf("\nPareto front (complete trials; %s up, energy per example down, latency down):\n",
           joule_eval_task_name(task));
    printf("  %6s %10s %8s %11s %10s %7s  %s\n", "trial", "value", "acc", "J/example", "latency_s",
           "tokens", "configuration");
    for (size_t i = 0; i < out->n_trials; i++) {
        const struct joule_tune_trial *t = &out->trials[i];
        if (t->pareto_rank != 1)
            continue;
        char key[1024];
        joule_tune_cfg_key(sp, &t->cfg, key, sizeof(key));
        printf("  %6u %10.4g %8.4f %11.4g %10.4g %7llu  %s\n", t->number, t->value,
               joule_tune_trial_accuracy(t, task), t->energy_j_per_ex, t->latency_s,
               (unsigned long long)t->tokens_total, key);
    }
}

/* The tuning and its trials into the results database (table tune_trials,
 * `joule results tune`), mirroring trials.csv. */
static int store_trials(const struct tune_opts *o, const struct setup *s, const char *trials_path,
                        const struct joule_tune_outcome *out)
{
    const char *env = getenv("JOULE_DB");
    const char *db = o->db ? o->db : env && env[0] ? env : "joule-results/joule.db";
    char err[1024], dir[4096], abs_trials[PATH_MAX], digest[65] = "";
    const char *slash = strrchr(db, '/');
    joule_fmt(dir, sizeof(dir), "%.*s",
              slash && !joule_store_is_server(db) ? (int)(slash - db) : 0, db);
    struct joule_store *st = NULL;
    if ((dir[0] && joule_mkdirs(dir, err, sizeof(err)) != JOULE_OK) ||
        joule_store_open(db, &st, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule tune: %s\n", err);
        return CLI_RUNTIME;
    }
    if (!realpath(trials_path, abs_trials))
        joule_strlcpy(abs_trials, trials_path, sizeof(abs_trials));
    joule_sha256_file(s->model_path, digest, err, sizeof(err));
    struct joule_store_tune_trial *t = joule_calloc(out->n_trials, sizeof(*t));
    char(*keys)[512] = joule_calloc(out->n_trials, sizeof(*keys));
    int rc = t && keys ? CLI_OK : CLI_RUNTIME;
    for (size_t i = 0; rc == CLI_OK && i < out->n_trials; i++) {
        const struct joule_tune_trial *x = &out->trials[i];
        joule_tune_cfg_key(s->space, &x->cfg, keys[i], sizeof(keys[i]));
        t[i] = (struct joule_store_tune_trial){
            .number = x->number,
            .config = keys[i],
            .state = joule_tune_state_name(x->state),
            .value = x->value,
            .accuracy = joule_tune_trial_accuracy(x, s->task),
            .rouge_l = x->rouge_l,
            .exact = x->exact,
            .numeric = x->numeric,
            .energy_j = x->energy_total_j,
            .tpj = x->tpj,
            .latency_s = x->latency_s,
            .tokens = (int64_t)x->tokens_total,
            .n_examples = x->n_examples,
            .pareto_rank = x->pareto_rank,
            .energy_provenance = x->energy_source[0] ? x->energy_source : NULL,
        };
    }
    char settings[512];
    joule_fmt(settings, sizeof(settings),
              "{\"sampler\": \"%s\", \"seed\": %llu, \"trials\": %u, \"examples\": %u, "
              "\"min_examples\": %u, \"eta\": %u, \"max_tokens\": %u}",
              o->sampler, (unsigned long long)o->seed, o->trials, o->examples, o->min_examples,
              o->eta, o->max_tokens);
    const struct joule_store_tune_run run = {
        abs_trials,
        s->model_path,
        digest,
        joule_eval_task_name(s->task),
        joule_dataset_source(s->data),
        settings,
        out->tuning.total_energy_j,
        isfinite(out->tuning.total_energy_j)
            ? joule_provenance_str(out->tuning.total_provenance)
            : NULL,
    };
    int64_t id = 0;
    if (rc == CLI_OK && joule_store_tune_save(st, &run, t, out->n_trials, &id) != JOULE_OK) {
        fprintf(stderr, "joule tune: %s\n", joule_store_errmsg(st));
        rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK && !o->quiet && !o->json)
        fprintf(stderr, "joule tune: trials stored as tuning %lld in %s (joule results tune %lld)\n",
                (long long)id, db, (long long)id);
    free(t);
    free(keys);
    joule_store_close(st);
    return rc;
}

static int cmd_tune_run(int argc, char **argv, struct cli *cli)
{
    struct tune_opts o = {0};
    o.dataset = "summaries";
    o.task = "rouge";
    o.sampler = "tpe";
    o.seed = 42;
    o.trials = 20;
    o.examples = 20;
    o.min_examples = 2;
    o.eta = 3;
    o.max_tokens = 128;
    o.batch = 8;
    o.out = "tune-out";
    o.w = joule_tune_weights_default();
    o.mp = joule_meter_default_params();
    int rc = CLI_OK;
    if (parsed_or_done(argc, argv, &o, cli, &rc))
        return rc;
    enum joule_tune_sampler_kind kind;
    if (!o.model)
        return cli_usage_error(CMD, "no model: pass -m FILE (a GGUF file, or synth:SHAPE)");
    if (joule_tune_sampler_kind_parse(o.sampler, &kind) != JOULE_OK)
        return cli_usage_error(CMD, "--sampler: '%s' is not tpe, random or grid", o.sampler);
    struct setup s = {0};
    rc = open_inputs(&o, CMD, &s);
    char err[1024], trials_path[4096];
    joule_fmt(trials_path, sizeof(trials_path), "%s/trials.csv", o.out);
    const bool resuming = !o.fresh && access(trials_path, F_OK) == 0;
    if (rc == CLI_OK && joule_mkdirs(o.out, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule tune: %s\n", err);
        rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK)
        rc = open_engine(&o, CMD, &s);
    if (rc == CLI_OK)
        rc = check_settings(&o, &s, o.out, resuming);
    struct joule_tune_outcome out;
    memset(&out, 0, sizeof(out));
    if (rc == CLI_OK) {
        cli_catch_stop();
        struct joule_tune_exec x = {
            s.engine, s.meter, s.space, s.data, s.task, (int32_t)o.max_tokens, s.chat, &cli_stop};
        struct joule_tune_params p = {kind,  o.seed,      o.w,     o.trials, o.min_examples,
                                      o.eta, trials_path, o.fresh, o.pareto};
        struct progress pg = {&o, s.space, s.task};
        if (!o.quiet)
            fprintf(stderr, "joule tune: %s, %u trials of %u configurations, %zu examples%s%s\n",
                    model_name(s.model_path), o.trials, joule_tune_space_size(s.space),
                    joule_dataset_count(s.data), s.chat ? ", chat template" : "",
                    resuming ? ", continuing trials.csv" : "");
        enum joule_status st = joule_tune_run(&x, &p, on_event, &pg, &out, err, sizeof(err));
        if (st != JOULE_OK) {
            fprintf(stderr, "joule tune: %s\n", err);
            rc = cli_exit_for(st);
        }
        /* What trials.csv holds, also after an interrupt or a failure. */
        if (!o.no_store && out.n_trials > 0 && store_trials(&o, &s, trials_path, &out) != CLI_OK &&
            rc == CLI_OK)
            rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK) {
        size_t n_state[3] = {0, 0, 0};
        for (size_t i = 0; i < out.n_trials; i++)
            n_state[out.trials[i].state]++;
        const struct joule_tune_trial *best = out.best >= 0 ? &out.trials[out.best] : NULL;
        char best_path[4096];
        joule_fmt(best_path, sizeof(best_path), "%s/best.json", o.out);
        json_t *bj = best ? trial_json(s.space, s.task, best) : json_null();
        if (best) {
            json_object_set_new(bj, "model", json_string(model_name(s.model_path)));
            json_object_set_new(bj, "task", json_string(joule_eval_task_name(s.task)));
            json_object_set_new(bj, "dataset", json_string(joule_dataset_source(s.data)));
            struct summary_ctx sc = {bj};
            if (joule_write_atomic(best_path, write_json, &sc, err, sizeof(err)) != JOULE_OK) {
                fprintf(stderr, "joule tune: %s\n", err);
                rc = CLI_RUNTIME;
            }
        }
        const double tuning_j = out.tuning.total_energy_j;
        const char *tprov = joule_provenance_str(out.tuning.total_provenance);
        if (o.json) {
            json_t *front = json_array(), *rungs = json_array();
            for (size_t i = 0; i < out.n_trials; i++)
                if (out.trials[i].pareto_rank == 1)
                    json_array_append_new(front, trial_json(s.space, s.task, &out.trials[i]));
            for (uint32_t r = 0; r < out.n_rungs; r++)
                json_array_append_new(rungs, json_integer(out.rungs[r]));
            json_t *j = json_object();
            json_object_set_new(j, "trials", json_integer((json_int_t)out.n_trials));
            json_object_set_new(j, "complete", json_integer((json_int_t)n_state[0]));
            json_object_set_new(j, "pruned", json_integer((json_int_t)n_state[1]));
            json_object_set_new(j, "failed", json_integer((json_int_t)n_state[2]));
            json_object_set_new(j, "resumed", json_integer((json_int_t)out.n_resumed));
            json_object_set_new(j, "interrupted", json_boolean(out.interrupted));
            json_object_set_new(j, "rungs", rungs);
            json_object_set_new(j, "bracket_size", json_integer(out.bracket_size));
            json_object_set_new(j, "best", json_incref(bj));
            json_object_set_new(j, "pareto_front", front);
            json_object_set_new(j, "trials_energy_J", num(out.trials_energy_j));
            json_object_set_new(j, "tuning_energy_J", num(tuning_j));
            json_object_set_new(j, "tuning_s", num(out.tuning_s));
            json_object_set_new(j, "tuning_energy_provenance", json_string(tprov));
            json_object_set_new(j, "tuning_reading", cli_reading_json(&out.tuning));
            json_object_set_new(j, "trials_csv", json_string(trials_path));
            json_object_set_new(j, "best_json", json_string(best ? best_path : ""));
            cli_print_json(j);
        } else {
            printf("joule tune: %zu trials (%zu complete, %zu pruned, %zu failed; %zu from an "
                   "earlier run) on %s, task %s, %zu examples, rungs",
                   out.n_trials, n_state[0], n_state[1], n_state[2], out.n_resumed,
                   model_name(s.model_path), joule_eval_task_name(s.task),
                   joule_dataset_count(s.data));
            for (uint32_t r = 0; r < out.n_rungs; r++)
                printf("%s%u", r ? ", " : " ", out.rungs[r]);
            printf("\n");
            if (best) {
                char key[1024];
                joule_tune_cfg_key(s.space, &best->cfg, key, sizeof(key));
                printf("\nbest: trial %u, value %.6g: %s\n", best->number, best->value, key);
                printf("  %s %.4f, energy %.4g J (%s), %.4g tokens/J, latency %.3f s, "
                       "%llu tokens\n",
                       joule_eval_task_name(s.task), joule_tune_trial_accuracy(best, s.task),
                       best->energy_total_j, best->energy_source, best->tpj, best->latency_s,
                       (unsigned long long)best->tokens_total);
            } else {
                printf("\nbest: none (no trial completed)\n");
            }
            print_front(&out, s.space, s.task);
            printf("\nenergy: trials %.4g J; the tuning itself %.4g J (%s) in %.2f s, of which "
                   "%.4g J outside the trials' windows\n",
                   out.trials_energy_j, tuning_j, tprov, out.tuning_s,
                   tuning_j - out.trials_energy_j);
            printf("wrote %s%s%s\n", trials_path, best ? " and " : "", best ? best_path : "");
        }
        json_decref(bj);
        if (out.interrupted) {
            fprintf(stderr,
                    "joule tune: interrupted; %s keeps the %zu finished trials: run the same "
                    "command again to continue\n",
                    trials_path, out.n_trials);
            rc = CLI_RUNTIME;
        }
    }
    joule_tune_outcome_free(&out);
    setup_close(&s);
    return rc;
}

int cmd_tune(int argc, char **argv, struct cli *cli)
{
    if (argc >= 2 && strcmp(argv[1], "evaluate") == 0)
        return cmd_evaluate(argc - 1, argv + 1, cli);
    return cmd_tune_run(argc, argv, cli);
}
