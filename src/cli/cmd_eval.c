/* cmd_eval.c - `joule eval`: the accuracy of a model file on a task
 * (perplexity, multiple choice, exact, numeric, ROUGE), the figure that
 * stands next to its energy when precisions are compared. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "fileio.h"
#include "sha256.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CMD "eval"

static const char *const usage[] = {
    "usage: joule eval -m MODEL --task TASK [-d DATASET] [options]",
    "",
    "Tasks (greedy decoding; see docs/cli/joule-eval.md):",
    "  ppl       perplexity of a text file (-d FILE), sliding windows",
    "            (default text: the documents of the built-in `summaries`)",
    "  mc        multiple choice: the option letter the model finds likeliest",
    "            (-d FILE in the mmlu format)",
    "  exact     the generated line equals the answer (default -d questions)",
    "  numeric   the generated number equals the answer (default -d arithmetic)",
    "  rouge     ROUGE-1/2/L F1 of the generated text (default -d summaries)",
    "",
    "  -m, --model FILE       GGUF model",
    "  -d, --dataset NAME     built-in dataset or file (see `joule datasets`)",
    "  --format F             dataset format (default auto)",
    "  -n, --sample-size N    samples scored (0: all; default all)",
    "  --shuffle, --seed S    seeded shuffle before sampling",
    "  --max-tokens N         tokens generated per sample",
    "  --stem                 rouge: Porter stemming",
    "  --window N, --stride N ppl: tokens per window and per step",
    "  -b, --batch N          generations run together (default 8)",
    "  -t, --threads N        CPU threads (default: physical cores)",
    "  --ctx N                context positions (default: the model's, at most 2048)",
    "  --int8-threshold X     score a Q8_0 (int8) file in LLM.int8 mode, as measured",
    "                         by precision int8 (X = 0) or int8-mixed",
    "  --raw                  one line per sample too",
    "  --db PATH|URL          results database the score is stored in (also JOULE_DB)",
    "  --no-store             do not store the score",
    "  --json, --csv          for machines",
    NULL,
};

struct eval_opts {
    const char *model, *task, *dataset, *format, *db;
    unsigned sample_size, max_tokens, window, stride, batch, threads, ctx;
    unsigned long long seed;
    double int8_threshold; /* < 0: off */
    bool shuffle, stem, raw, help, max_tokens_set, no_store;
    enum cli_format fmt;
};

static int parse(int argc, char **argv, struct eval_opts *o)
{
    o->batch = 8;
    o->seed = 42;
    o->int8_threshold = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--json") == 0) {
            o->fmt = CLI_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o->fmt = CLI_CSV;
        } else if (strcmp(a, "--raw") == 0) {
            o->raw = true;
        } else if (strcmp(a, "--no-store") == 0) {
            o->no_store = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
        } else if (strcmp(a, "--stem") == 0) {
            o->stem = true;
        } else if (strcmp(a, "--shuffle") == 0) {
            o->shuffle = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "-m", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--model", &missing))) {
            o->model = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--task", &missing))) {
            o->task = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-d", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--dataset", &missing))) {
            o->dataset = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--format", &missing))) {
            o->format = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-n", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--sample-size", &missing))) {
            if (!cli_parse_u32(CMD, "-n", v, 0, 1000000000, &o->sample_size))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-')
                return cli_usage_error(CMD, "--seed expects a whole number, got '%s'", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-tokens", &missing))) {
            if (!cli_parse_u32(CMD, "--max-tokens", v, 1, 1 << 20, &o->max_tokens))
                return CLI_USAGE;
            o->max_tokens_set = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "--window", &missing))) {
            if (!cli_parse_u32(CMD, "--window", v, 2, 1 << 20, &o->window))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--stride", &missing))) {
            if (!cli_parse_u32(CMD, "--stride", v, 1, 1 << 20, &o->stride))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "-b", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--batch", &missing))) {
            if (!cli_parse_u32(CMD, "--batch", v, 1, 256, &o->batch))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "-t", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_u32(CMD, "--threads", v, 0, 512, &o->threads))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--int8-threshold", &missing))) {
            if (!cli_parse_double(CMD, "--int8-threshold", v, 0, 1000, &o->int8_threshold))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--ctx", &missing))) {
            if (!cli_parse_u32(CMD, "--ctx", v, 16, 1 << 20, &o->ctx))
                return CLI_USAGE;
        } else if (missing) {
            return cli_usage_error(CMD, "%s needs a value", a);
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
    }
    return CLI_OK;
}

/* Per-sample lines (--raw), as they are scored. */
struct raw_out {
    enum cli_format fmt;
    enum joule_eval_task task;
    json_t *rows; /* JSON: collected */
};

static void on_sample(void *user, const struct joule_eval_sample *s)
{
    struct raw_out *r = user;
    const char *out = s->output ? s->output : "";
    if (r->fmt == CLI_JSON) {
        json_t *o = json_pack("{s:I, s:s, s:f}", "index", (json_int_t)s->index, "id",
                              s->id ? s->id : "", "score", s->score);
        if (s->choice >= 0)
            json_object_set_new(o, "choice", json_integer(s->choice));
        if (s->output)
            json_object_set_new(o, "output", cli_json_text(out, strlen(out)));
        json_array_append_new(r->rows, o);
        return;
    }
    if (r->fmt == CLI_CSV) {
        if (s->index == 0)
            printf("index,id,score,choice,output\n");
        printf("%zu,", s->index);
        cli_csv_field(stdout, s->id ? s->id : "");
        printf(",%.6g,%d,", s->score, (int)s->choice);
        cli_csv_field(stdout, out);
        printf("\n");
        return;
    }
    printf("  %-8s %8.4g  ", s->id ? s->id : "", s->score);
    if (s->choice >= 0)
        printf("chose %c", 'A' + s->choice);
    for (const char *p = out; *p && p - out < 70; p++)
        putchar(*p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
    printf("%s\n", strlen(out) > 70 ? "..." : "");
}

int cli_ppl_text(const char *path, char **text, size_t *len, char *label, size_t label_size)
{
    char err[1024];
    if (path) {
        if (joule_read_all(path, 256u << 20, text, len, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule eval: %s\n", err);
            return CLI_USAGE;
        }
        joule_strlcpy(label, path, label_size);
        return CLI_OK;
    }
    struct joule_dataset_params p = joule_dataset_default_params();
    p.source = "summaries";
    struct joule_dataset *d = NULL;
    if (joule_dataset_load(&p, &d, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        return CLI_RUNTIME;
    }
    size_t total = 0;
    for (size_t i = 0; i < joule_dataset_count(d); i++)
        total += strlen(joule_dataset_get(d, i)->input) + 2;
    char *t = malloc(total + 1);
    if (!t) {
        joule_dataset_free(d);
        return CLI_RUNTIME;
    }
    size_t at = 0;
    for (size_t i = 0; i < joule_dataset_count(d); i++) {
        const char *doc = joule_dataset_get(d, i)->input;
        size_t n = strlen(doc);
        memcpy(t + at, doc, n);
        at += n;
        memcpy(t + at, "\n\n", 2);
        at += 2;
    }
    t[at] = '\0';
    joule_dataset_free(d);
    *text = t;
    *len = at;
    joule_strlcpy(label, "summaries (documents)", label_size);
    return CLI_OK;
}

static void print_result(const struct eval_opts *o, const struct joule_eval_result *r,
                         const char *model, const char *weight_type, const char *source,
                         double seconds, json_t *raw)
{
    const char *task = joule_eval_task_name(r->task);
    if (o->fmt == CLI_JSON) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:f}", "task", task, "model", model, "weight_type",
                      weight_type, "dataset", source, "n", (json_int_t)r->n, "seconds", seconds);
        json_object_set_new(j, "score", isfinite(r->score) ? json_real(r->score) : json_null());
        if (r->task == JOULE_EVAL_PPL) {
            json_object_set_new(j, "perplexity", json_real(r->score));
            json_object_set_new(j, "nll_per_token", json_real(r->nll));
            json_object_set_new(j, "windows", json_integer(r->n_windows));
        } else if (r->task == JOULE_EVAL_ROUGE) {
            json_object_set_new(j, "rouge1", json_real(r->rouge1));
            json_object_set_new(j, "rouge2", json_real(r->rouge2));
            json_object_set_new(j, "rougeL", json_real(r->rougeL));
        } else {
            json_object_set_new(j, "accuracy", json_real(r->score));
            json_object_set_new(j, "correct", json_integer(r->n_correct));
        }
        if (r->task >= JOULE_EVAL_EXACT)
            json_object_set_new(j, "tokens_generated", json_integer(r->n_generated));
        if (raw)
            json_object_set_new(j, "samples", raw);
        cli_print_json(j);
        return;
    }
    if (o->fmt == CLI_CSV) {
        if (o->raw)
            printf("\n");
        printf("task,model,weight_type,dataset,n,score,correct,perplexity,nll_per_token,"
               "rouge1,rouge2,rougeL,tokens_generated,seconds\n");
        printf("%s,", task);
        cli_csv_field(stdout, model);
        printf(",%s,", weight_type);
        cli_csv_field(stdout, source);
        char b[8][32];
        const double v[] = {r->score,  r->task == JOULE_EVAL_PPL ? r->score : NAN,
                            r->nll,    r->rouge1,
                            r->rouge2, r->rougeL};
        for (size_t k = 0; k < 6; k++) {
            if (isfinite(v[k]))
                joule_fmt(b[k], sizeof(b[k]), "%.17g", v[k]);
            else
                b[k][0] = '\0';
        }
        printf(",%lld,%s,", (long long)r->n, b[0]);
        if (r->task == JOULE_EVAL_MC || r->task == JOULE_EVAL_EXACT ||
            r->task == JOULE_EVAL_NUMERIC)
            printf("%lld", (long long)r->n_correct);
        printf(",%s,%s,%s,%s,%s,%lld,%.3f\n", b[1], b[2], b[3], b[4], b[5],
               (long long)r->n_generated, seconds);
        return;
    }
    printf("%seval %s  %s (%s)  on %s\n\n", o->raw ? "\n" : "", task, model, weight_type, source);
    switch (r->task) {
    case JOULE_EVAL_PPL:
        printf("  perplexity            %.4f\n", r->score);
        printf("  NLL per token         %.5f nats\n", r->nll);
        printf("  tokens scored         %lld in %lld window%s\n", (long long)r->n,
               (long long)r->n_windows, r->n_windows == 1 ? "" : "s");
        break;
    case JOULE_EVAL_ROUGE:
        printf("  ROUGE-1 F1            %.4f\n", r->rouge1);
        printf("  ROUGE-2 F1            %.4f\n", r->rouge2);
        printf("  ROUGE-L F1            %.4f\n", r->rougeL);
        printf("  samples               %lld\n", (long long)r->n);
        break;
    default:
        printf("  accuracy              %.4f  (%lld of %lld)\n", r->score, (long long)r->n_correct,
               (long long)r->n);
    }
    if (r->task >= JOULE_EVAL_EXACT)
        printf("  tokens generated      %lld\n", (long long)r->n_generated);
    printf("  time                  %.2f s\n", seconds);
}

/* Keeps the score in the results database, with the model file's digest so
 * that it can be matched with the experiments measured on the same file. */
static int store_score(const struct eval_opts *o, const struct joule_eval_params *p,
                       const struct joule_eval_result *r, const char *weight_type,
                       const char *source, const struct cli *cli)
{
    char err[1024], digest[65] = "", params[256];
    if (joule_sha256_file(o->model, digest, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        return CLI_RUNTIME;
    }
    joule_fmt(params, sizeof(params),
              "{\"max_tokens\": %d, \"stem\": %s, \"window\": %d, \"stride\": %d",
              (int)p->max_tokens, p->stem ? "true" : "false", (int)p->window, (int)p->stride);
    size_t len = strlen(params);
    if (o->int8_threshold >= 0)
        joule_fmt(params + len, sizeof(params) - len, ", \"int8_threshold\": %g}",
                  o->int8_threshold);
    else
        joule_fmt(params + len, sizeof(params) - len, "}");
    struct joule_store *s = NULL;
    if (joule_store_open(o->db, &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        return CLI_RUNTIME;
    }
    struct joule_store_eval e = {
        0, o->model, digest, weight_type, joule_eval_task_name(r->task), source, params, *r};
    int64_t id = 0;
    int rc = CLI_OK;
    if (joule_store_eval_add(s, &e, &id) != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", joule_store_errmsg(s));
        rc = CLI_RUNTIME;
    } else if (!cli->quiet) {
        fprintf(stderr, "joule eval: score %lld stored in %s\n", (long long)id,
                joule_store_path(s));
    }
    joule_store_close(s);
    return rc;
}

static void announce_synth(void *user, const char *path)
{
    const struct cli *cli = user;
    if (!cli->quiet)
        fprintf(stderr, "joule eval: making a random-weight model once: %s\n", path);
}

int cmd_eval(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct eval_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.help) {
        for (int k = 0; usage[k]; k++)
            printf("%s\n", usage[k]);
        return CLI_OK;
    }
    if (!o.model)
        return cli_usage_error(CMD, "no model: pass -m FILE (a GGUF file)");
    if (!o.task)
        return cli_usage_error(CMD, "no task: pass --task ppl, mc, exact, numeric or rouge");
    enum joule_eval_task task;
    if (joule_eval_task_parse(o.task, &task) != JOULE_OK)
        return cli_usage_error(CMD, "unknown task '%s' (ppl, mc, exact, numeric, rouge)", o.task);
    if (task == JOULE_EVAL_MC && !o.dataset)
        return cli_usage_error(CMD, "task mc needs -d FILE: a multiple-choice dataset in the "
                                    "mmlu format (question, A, B, C, D, answer)");
    struct joule_eval_params p = joule_eval_default_params(task);
    if (o.max_tokens_set)
        p.max_tokens = (int32_t)o.max_tokens;
    p.stem = o.stem;
    p.window = (int32_t)o.window;
    p.stride = (int32_t)o.stride;

    char err[1024], model_path[4096];
    enum joule_status st = joule_model_resolve(o.model, o.threads, announce_synth, cli, model_path,
                                               sizeof(model_path), err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        return cli_exit_for(st);
    }
    o.model = model_path;
    struct stat sb;
    if (stat(o.model, &sb) != 0)
        return cli_usage_error(CMD,
                               "%s: no such model file (a GGUF file, or synth:SHAPE for a "
                               "random-weight model)",
                               o.model);
    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = (int32_t)o.threads;
    ep.n_seq = task >= JOULE_EVAL_EXACT ? (int32_t)o.batch : 1;
    ep.n_ctx = (int32_t)o.ctx;
    ep.int8_threshold = (float)o.int8_threshold;
    struct joule_engine *e = NULL;
    st = joule_engine_open(o.model, &ep, &e, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        return cli_exit_for(st);
    }
    struct joule_engine_info info;
    joule_engine_get_info(e, &info);
    /* Named as joule run names the precision measured. */
    const char *weight_type = info.int8_threshold > 0    ? "int8-mixed"
                              : info.int8_threshold == 0 ? "int8"
                                                         : info.weight_type;
    const char *slash = strrchr(o.model, '/');
    const char *model = slash ? slash + 1 : o.model;
    struct joule_eval_result r;
    struct raw_out raw = {o.fmt, task, o.raw && o.fmt == CLI_JSON ? json_array() : NULL};
    const double t0 = joule_engine_now(e);
    char source[1024];
    if (task == JOULE_EVAL_PPL) {
        char *text = NULL;
        size_t len = 0;
        rc = cli_ppl_text(o.dataset, &text, &len, source, sizeof(source));
        if (rc == CLI_OK) {
            st = joule_eval_perplexity(e, text, len, &p, &r, err, sizeof(err));
            free(text);
        }
    } else {
        struct joule_dataset_params dp = joule_dataset_default_params();
        dp.source = o.dataset                    ? o.dataset
                    : task == JOULE_EVAL_EXACT   ? "questions"
                    : task == JOULE_EVAL_NUMERIC ? "arithmetic"
                                                 : "summaries";
        dp.format = o.format;
        dp.sample_size = (int32_t)o.sample_size;
        dp.shuffle = o.shuffle;
        dp.seed = o.seed;
        struct joule_dataset *d = NULL;
        st = joule_dataset_load(&dp, &d, err, sizeof(err));
        if (st == JOULE_OK) {
            joule_fmt(source, sizeof(source), "%s (%zu samples)", joule_dataset_source(d),
                      joule_dataset_count(d));
            st = joule_eval_dataset(e, d, &p, o.raw ? on_sample : NULL, &raw, &r, err, sizeof(err));
        }
        joule_dataset_free(d);
    }
    const double seconds = joule_engine_now(e) - t0;
    if (rc == CLI_OK && st != JOULE_OK) {
        fprintf(stderr, "joule eval: %s\n", err);
        rc = cli_exit_for(st);
    }
    if (rc == CLI_OK) {
        print_result(&o, &r, model, weight_type, source, seconds, raw.rows);
        raw.rows = NULL;
        if (!o.no_store)
            rc = store_score(&o, &p, &r, weight_type, source, cli);
    }
    json_decref(raw.rows);
    joule_engine_close(e);
    return rc;
}
