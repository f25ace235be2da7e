/* cmd_generate.c - `joule generate`: text from the built-in engine, with
 * the accounting of every request. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "usage: joule generate -m FILE (-p TEXT | -f PROMPTS) [options]",
    "",
    "Generate text with the built-in engine.  One prompt streams its text to",
    "stdout; a file (one prompt per line) runs in batches of B prompts that",
    "decode in lockstep, and each result is printed as it finishes.",
    "",
    "  -m, --model FILE       GGUF model (llama, qwen2, phi3)",
    "  -p, --prompt TEXT      a prompt (may be repeated)",
    "  -f, --file PROMPTS     a file of prompts, one per line (empty lines skipped)",
    "  -n, --max-tokens N     tokens to generate at most per prompt (default 128)",
    "  --batch B              prompts running at once (default 1)",
    "  --continuous           a finished prompt's slot takes the next one at once",
    "                         (default: static batches, each runs to its end)",
    "  --threads T            threads (default: the physical cores)",
    "  --ctx N                positions per prompt, prompt + output (default: the",
    "                         longest prompt + N, at most the model's context)",
    "  --ubatch N             prompt tokens per prefill step (default 512)",
    "  --kv f16|f32           KV cache type (default f16)",
    "  --kernels K            auto, avx512, avx2, scalar (default auto)",
    "  --int8-threshold X     LLM.int8 mode on a Q8_0 (int8) file: activation",
    "                         columns with |x| >= X in 16-bit, the rest INT8; 0 is",
    "                         pure INT8 (default: off)",
    "  --temp X               temperature; 0 is greedy (default 0)",
    "  --top-k K, --top-p P, --min-p P, --repeat-penalty X, --repeat-last-n N",
    "  --seed S               sampling seed (default 42)",
    "  --stop TEXT            stop at this text (may be repeated, up to 8)",
    "  --ignore-eos           generate past end-of-generation tokens",
    "  --chat                 wrap each prompt in the model's chat template",
    "  --chat-template NAME   chatml, llama-2, llama-3, phi-3, mistral, zephyr, gemma",
    "  --system TEXT          system message (with --chat)",
    "  --json                 print the results and the accounting as JSON",
    "  --quiet                no statistics on stderr",
    "",
    "Accounting per prompt: input tokens (never padding), output tokens (the",
    "end-of-generation token included), queue, prefill, time to first token,",
    "inter-token latencies, decode.  See docs/cli/joule-generate.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

struct gen_opts {
    const char *model;
    const char **prompts;
    size_t n_prompts, cap_prompts;
    char *file_buf;          /* the prompts file, split in place */
    unsigned max_tokens, batch, threads, ctx, ubatch;
    bool continuous, json, ignore_eos, chat, kv_f32;
    float int8_threshold;    /* < 0: off */
    const char *kernels, *chat_template, *system;
    const char *stop[JOULE_MAX_STOP];
    size_t n_stop;
    struct joule_sampling sampling;
};

/* One finished request, kept for the JSON document. */
struct gen_result {
    bool done;
    struct joule_request_result r;
    char *text;
    double *itl;
};

struct gen_run {
    const struct gen_opts *o;
    struct cli *cli;
    struct gen_result *res;  /* [n_prompts] by prompt index */
    bool stream;             /* one prompt, text to stdout as it comes */
    /* Totals of the steps, per phase (from the on_phase hook). */
    double phase_s[3];
    int64_t phase_tokens[3];
    int64_t phase_steps[3];
};

static bool add_prompt(struct gen_opts *o, const char *p)
{
    if (o->n_prompts == o->cap_prompts) {
        size_t cap = o->cap_prompts ? o->cap_prompts * 2 : 16;
        const char **np = realloc(o->prompts, cap * sizeof(*np));
        if (!np)
            return false;
        o->prompts = np;
        o->cap_prompts = cap;
    }
    o->prompts[o->n_prompts++] = p;
    return true;
}

/* Reads the prompts file: one prompt per line, \r\n tolerated, empty lines
 * skipped. */
static int read_prompts(struct gen_opts *o, const char *path)
{
    size_t len = 0;
    char err[256];
    if (joule_read_all(path, (size_t)1 << 30, &o->file_buf, &len, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule generate: %s\n", err);
        return CLI_USAGE;
    }
    char *s = o->file_buf;
    size_t line = 0;
    while (s && *s) {
        char *nl = strchr(s, '\n');
        line++;
        if (nl)
            *nl = '\0';
        size_t n = strlen(s);
        if (n > 0 && s[n - 1] == '\r')
            s[--n] = '\0';
        if (n > 0 && !add_prompt(o, s)) {
            fprintf(stderr, "joule generate: out of memory at %s:%zu\n", path, line);
            return CLI_RUNTIME;
        }
        s = nl ? nl + 1 : NULL;
    }
    if (o->n_prompts == 0) {
        fprintf(stderr, "joule generate: %s: no prompts (one per line; empty lines are skipped)\n",
                path);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Parses a float option into *out within [min, max]. */
static bool opt_float(const char *opt, const char *v, double min, double max, float *out)
{
    double d;
    if (!cli_parse_double("generate", opt, v, min, max, &d))
        return false;
    *out = (float)d;
    return true;
}

/* Returns -1 when argv[*i] was consumed, else an exit code. */
static int parse_one(struct gen_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    bool miss = false;
    unsigned u;
    if ((v = cli_opt_value(argc, argv, i, "-m", &miss)) ||
        (v = cli_opt_value(argc, argv, i, "--model", &miss)))
        o->model = v;
    else if ((v = cli_opt_value(argc, argv, i, "-p", &miss)) ||
             (v = cli_opt_value(argc, argv, i, "--prompt", &miss))) {
        if (!add_prompt(o, v))
            return CLI_RUNTIME;
    } else if ((v = cli_opt_value(argc, argv, i, "-f", &miss)) ||
               (v = cli_opt_value(argc, argv, i, "--file", &miss))) {
        int rc = read_prompts(o, v);
        if (rc != CLI_OK)
            return rc;
    } else if ((v = cli_opt_value(argc, argv, i, "-n", &miss)) ||
               (v = cli_opt_value(argc, argv, i, "--max-tokens", &miss))) {
        if (!cli_parse_u32("generate", "-n", v, 1, 1u << 20, &o->max_tokens))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--batch", &miss))) {
        if (!cli_parse_u32("generate", "--batch", v, 1, 4096, &o->batch))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--threads", &miss))) {
        if (!cli_parse_u32("generate", "--threads", v, 1, 512, &o->threads))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--ctx", &miss))) {
        if (!cli_parse_u32("generate", "--ctx", v, 1, 1u << 24, &o->ctx))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--ubatch", &miss))) {
        if (!cli_parse_u32("generate", "--ubatch", v, 1, 65536, &o->ubatch))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--kv", &miss))) {
        if (strcmp(v, "f16") != 0 && strcmp(v, "f32") != 0)
            return cli_usage_error("generate", "--kv must be f16 or f32, not '%s'", v);
        o->kv_f32 = strcmp(v, "f32") == 0;
    } else if ((v = cli_opt_value(argc, argv, i, "--kernels", &miss)))
        o->kernels = v;
    else if ((v = cli_opt_value(argc, argv, i, "--int8-threshold", &miss))) {
        if (!opt_float("--int8-threshold", v, 0.0, 1e30, &o->int8_threshold))
            return CLI_USAGE;
    }
    else if ((v = cli_opt_value(argc, argv, i, "--temp", &miss))) {
        if (!opt_float("--temp", v, 0.0, 100.0, &o->sampling.temperature))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--top-k", &miss))) {
        if (!cli_parse_u32("generate", "--top-k", v, 0, 1u << 24, &u))
            return CLI_USAGE;
        o->sampling.top_k = (int32_t)u;
    } else if ((v = cli_opt_value(argc, argv, i, "--top-p", &miss))) {
        if (!opt_float("--top-p", v, 0.0, 1.0, &o->sampling.top_p))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--min-p", &miss))) {
        if (!opt_float("--min-p", v, 0.0, 1.0, &o->sampling.min_p))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--repeat-penalty", &miss))) {
        if (!opt_float("--repeat-penalty", v, 0.0, 100.0, &o->sampling.repeat_penalty))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--repeat-last-n", &miss))) {
        if (!cli_parse_u32("generate", "--repeat-last-n", v, 0, 1u << 20, &u))
            return CLI_USAGE;
        o->sampling.repeat_last_n = (int32_t)u;
    } else if ((v = cli_opt_value(argc, argv, i, "--seed", &miss))) {
        char *end = NULL;
        unsigned long long s = strtoull(v, &end, 10);
        if (!*v || *end || v[0] == '-')
            return cli_usage_error("generate", "--seed needs a non-negative integer, not '%s'", v);
        o->sampling.seed = s;
    } else if ((v = cli_opt_value(argc, argv, i, "--stop", &miss))) {
        if (o->n_stop == JOULE_MAX_STOP)
            return cli_usage_error("generate", "at most %d --stop strings", JOULE_MAX_STOP);
        if (!*v)
            return cli_usage_error("generate", "--stop needs a non-empty text");
        o->stop[o->n_stop++] = v;
    } else if ((v = cli_opt_value(argc, argv, i, "--chat-template", &miss))) {
        o->chat_template = v;
        o->chat = true;
    } else if ((v = cli_opt_value(argc, argv, i, "--system", &miss)))
        o->system = v;
    else if (miss)
        return cli_usage_error("generate", "%s needs a value", a);
    else if (strcmp(a, "--continuous") == 0)
        o->continuous = true;
    else if (strcmp(a, "--ignore-eos") == 0)
        o->ignore_eos = true;
    else if (strcmp(a, "--chat") == 0)
        o->chat = true;
    else if (strcmp(a, "--json") == 0)
        o->json = true;
    else if (a[0] == '-')
        return cli_usage_error("generate", "unknown option '%s'", a);
    else
        return cli_usage_error("generate", "unexpected argument '%s' (prompts go after -p)", a);
    return -1;
}

/* --- callbacks ------------------------------------------------------------ */

static void on_phase(void *user, int begin, const struct joule_step_info *s)
{
    struct gen_run *g = user;
    if (begin)
        return;
    g->phase_s[s->phase] += s->t_end - s->t_begin;
    g->phase_tokens[s->phase] += s->n_tokens;
    g->phase_steps[s->phase]++;
}

static void on_text(void *user, uint64_t id, void *req_user, const char *text, size_t len)
{
    struct gen_run *g = user;
    (void)id;
    (void)req_user;
    if (g->stream) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
}

static void on_done(void *user, const struct joule_request_result *r)
{
    struct gen_run *g = user;
    const size_t idx = (size_t)(uintptr_t)r->user;
    struct gen_result *out = &g->res[idx];
    out->done = true;
    out->r = *r;
    out->text = malloc(r->text_len + 1);
    if (out->text) {
        memcpy(out->text, r->text, r->text_len);
        out->text[r->text_len] = '\0';
    }
    out->r.text = out->text;
    out->r.tokens = NULL; /* borrowed: gone after the call */
    const size_t n_itl = r->n_output > 1 ? (size_t)r->n_output - 1 : 0;
    out->itl = n_itl ? malloc(n_itl * sizeof(double)) : NULL;
    if (out->itl)
        memcpy(out->itl, r->itl_s, n_itl * sizeof(double));
    out->r.itl_s = out->itl;
    if (g->stream) {
        putchar('\n');
        fflush(stdout);
    } else if (!g->o->json) {
        printf("[%zu] %d in, %d out, %s, ttft %.3f s, total %.3f s\n%s\n\n", idx + 1,
               r->n_input, r->n_output, joule_finish_str(r->finish), r->ttft_s, r->total_s,
               out->text ? out->text : "");
        fflush(stdout);
    }
}

/* --- output --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0 .. n) by nearest rank; NAN when n is 0. */
static double quantile(const double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double *s = malloc(n * sizeof(double));
    if (!s)
        return NAN;
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    size_t k = (size_t)ceil(q * (double)n);
    double x = s[k == 0 ? 0 : k - 1];
    free(s);
    return x;
}

static json_t *num_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *result_json(size_t idx, const char *prompt, const struct gen_result *g)
{
    const struct joule_request_result *r = &g->r;
    json_t *o = json_object();
    const size_t n_itl = r->n_output > 1 ? (size_t)r->n_output - 1 : 0;
    json_object_set_new(o, "index", json_integer((json_int_t)idx));
    json_object_set_new(o, "prompt", cli_json_text(prompt, strlen(prompt)));
    json_object_set_new(o, "text", g->text ? cli_json_text(g->text, r->text_len) : json_null());
    json_object_set_new(o, "finish", json_string(joule_finish_str(r->finish)));
    json_object_set_new(o, "input_tokens", json_integer(r->n_input));
    json_object_set_new(o, "output_tokens", json_integer(r->n_output));
    json_object_set_new(o, "queue_s", num_or_null(r->queue_s));
    json_object_set_new(o, "prefill_s", num_or_null(r->prefill_s));
    json_object_set_new(o, "ttft_s", num_or_null(r->ttft_s));
    json_object_set_new(o, "decode_s", num_or_null(r->decode_s));
    json_object_set_new(o, "total_s", num_or_null(r->total_s));
    json_object_set_new(o, "decode_tokens_per_s",
                        num_or_null(n_itl && r->decode_s > 0 ? (double)n_itl / r->decode_s : NAN));
    json_object_set_new(o, "itl_p50_s", num_or_null(quantile(g->itl, n_itl, 0.5)));
    json_object_set_new(o, "itl_p90_s", num_or_null(quantile(g->itl, n_itl, 0.9)));
    json_object_set_new(o, "itl_max_s", num_or_null(quantile(g->itl, n_itl, 1.0)));
    json_t *itl = json_array();
    for (size_t i = 0; i < n_itl && g->itl; i++)
        json_array_append_new(itl, json_real(g->itl[i]));
    json_object_set_new(o, "itl_s", itl);
    return o;
}

static json_t *engine_json(const struct joule_engine_info *in)
{
    json_t *o = json_object();
    json_object_set_new(o, "arch", json_string(in->arch));
    json_object_set_new(o, "weight_type", json_string(in->weight_type));
    json_object_set_new(o, "n_params", json_integer(in->n_params));
    json_object_set_new(o, "kernels", json_string(in->isa));
    json_object_set_new(o, "kv_type", json_string(in->kv_type));
    json_object_set_new(o, "threads", json_integer(in->n_threads));
    json_object_set_new(o, "batch", json_integer(in->n_seq));
    json_object_set_new(o, "ctx", json_integer(in->n_ctx));
    json_object_set_new(o, "ubatch", json_integer(in->n_batch));
    json_object_set_new(o, "state_bytes", json_integer(in->state_bytes));
    json_object_set_new(o, "chat_template",
                        in->chat_template ? json_string(in->chat_template) : json_null());
    if (in->int8_threshold >= 0) {
        json_object_set_new(o, "int8_threshold", json_real(in->int8_threshold));
        json_object_set_new(o, "int8_columns", json_integer(in->int8_columns));
        json_object_set_new(o, "int8_outlier_columns", json_integer(in->int8_outliers));
    }
    return o;
}

static json_t *phases_json(const struct gen_run *g)
{
    json_t *o = json_object();
    static const char *const names[3] = {NULL, "prefill", "decode"};
    for (int p = JOULE_PHASE_PREFILL; p <= JOULE_PHASE_DECODE; p++) {
        json_t *ph = json_object();
        json_object_set_new(ph, "steps", json_integer(g->phase_steps[p]));
        json_object_set_new(ph, "tokens", json_integer(g->phase_tokens[p]));
        json_object_set_new(ph, "seconds", json_real(g->phase_s[p]));
        json_object_set_new(ph, "tokens_per_s",
                            num_or_null(g->phase_s[p] > 0
                                            ? (double)g->phase_tokens[p] / g->phase_s[p]
                                            : NAN));
        json_object_set_new(o, names[p], ph);
    }
    return o;
}

static void print_stats(const struct gen_run *g, const struct joule_engine_info *in)
{
    fprintf(stderr,
            "joule generate: %s %s, %s kernels, %d threads, batch %d\n"
            "  prefill %lld tokens in %.3f s (%.1f tokens/s), decode %lld tokens in %.3f s "
            "(%.1f tokens/s)\n",
            in->arch, in->weight_type, in->isa, in->n_threads, in->n_seq,
            (long long)g->phase_tokens[1], g->phase_s[1],
            g->phase_s[1] > 0 ? (double)g->phase_tokens[1] / g->phase_s[1] : 0.0,
            (long long)g->phase_tokens[2], g->phase_s[2],
            g->phase_s[2] > 0 ? (double)g->phase_tokens[2] / g->phase_s[2] : 0.0);
    if (in->int8_threshold >= 0)
        fprintf(stderr,
                "  int8 threshold %g: %lld of %lld input columns (%.3f%%) were outliers "
                "multiplied in 16-bit\n",
                in->int8_threshold, (long long)in->int8_outliers, (long long)in->int8_columns,
                in->int8_columns ? 100.0 * (double)in->int8_outliers / (double)in->int8_columns
                                 : 0.0);
}

/* --- the command ---------------------------------------------------------- */

static int engine_error(const char *what, enum joule_status st, const char *err)
{
    fprintf(stderr, "joule generate: %s%s\n", what, err);
    return st == JOULE_ERR_NOMEM || st == JOULE_ERR_THREAD ? CLI_RUNTIME : CLI_USAGE;
}

/* Submits prompts [from, to) (their index is the request's user pointer). */
static int submit_range(struct joule_engine *e, const struct gen_opts *o, size_t from, size_t to)
{
    char err[512];
    for (size_t i = from; i < to; i++) {
        struct joule_request r;
        joule_request_default(&r);
        r.prompt = o->prompts[i];
        r.prompt_len = strlen(o->prompts[i]);
        r.max_tokens = (int32_t)o->max_tokens;
        r.ignore_eos = o->ignore_eos;
        r.chat = o->chat;
        r.chat_template = o->chat_template;
        r.system = o->system;
        r.sampling = o->sampling;
        for (size_t k = 0; k < o->n_stop; k++)
            r.stop[k] = o->stop[k];
        r.user = (void *)(uintptr_t)i;
        enum joule_status st = joule_engine_submit(e, &r, NULL, err, sizeof(err));
        if (st != JOULE_OK) {
            char what[64];
            joule_fmt(what, sizeof(what), "prompt %zu: ", i + 1);
            const int rc = engine_error(what, st, err);
            if (st == JOULE_ERR_UNSUPPORTED && o->chat)
                fprintf(stderr, "joule generate: give the family with --chat-template NAME\n");
            else if (strstr(err, "context"))
                fprintf(stderr, "joule generate: raise the context with --ctx N\n");
            return rc;
        }
    }
    return CLI_OK;
}

/* The context each prompt needs: its tokens plus the output, at most the
 * model's training context. */
static unsigned auto_ctx(const struct gen_opts *o, const char *model)
{
    struct joule_tokenizer *t = NULL;
    char err[256];
    size_t longest = 0;
    if (joule_tokenizer_open(model, &t, err, sizeof(err)) == JOULE_OK) {
        for (size_t i = 0; i < o->n_prompts; i++) {
            size_t n = 0;
            joule_tokenizer_encode(t, o->prompts[i], strlen(o->prompts[i]),
                                   JOULE_TOKENIZE_ADD_SPECIAL | JOULE_TOKENIZE_PARSE_SPECIAL, NULL,
                                   0, &n);
            longest = n > longest ? n : longest;
        }
        joule_tokenizer_close(t);
    }
    /* Chat templates add a few dozen tokens; round up generously. */
    size_t need = longest + (o->chat ? 64 : 0) + o->max_tokens;
    need = (need + 63) / 64 * 64;
    return need > (1u << 24) ? 1u << 24 : (unsigned)need;
}

int cmd_generate(int argc, char **argv, struct cli *cli)
{
    struct gen_opts o;
    memset(&o, 0, sizeof(o));
    o.int8_threshold = -1.0f;
    o.max_tokens = 128;
    o.batch = 1;
    joule_sampling_default(&o.sampling);
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            goto out;
        }
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            cli->quiet = true;
            continue;
        }
        int r = parse_one(&o, argc, argv, &i);
        rc = r < 0 ? CLI_OK : r;
    }
    if (rc != CLI_OK)
        goto out;
    if (!o.model) {
        rc = cli_usage_error("generate", "give a model with -m FILE");
        goto out;
    }
    if (o.n_prompts == 0) {
        rc = cli_usage_error("generate", "give a prompt with -p TEXT or a file with -f FILE");
        goto out;
    }

    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = (int32_t)o.threads;
    ep.n_seq = (int32_t)(o.batch < o.n_prompts ? o.batch : o.n_prompts);
    ep.n_ctx = (int32_t)(o.ctx ? o.ctx : auto_ctx(&o, o.model));
    if (o.ubatch)
        ep.n_batch = (int32_t)o.ubatch;
    ep.kv_f32 = o.kv_f32;
    ep.isa = o.kernels;
    ep.int8_threshold = o.int8_threshold;
    char err[512];
    struct joule_engine *e = NULL;
    enum joule_status st = joule_engine_open(o.model, &ep, &e, err, sizeof(err));
    if (st != JOULE_OK) {
        rc = engine_error("", st, err);
        goto out;
    }
    struct joule_engine_info info;
    joule_engine_get_info(e, &info);
    if (!o.ctx && info.n_ctx < ep.n_ctx && !cli->quiet)
        fprintf(stderr, "joule generate: context capped at the model's %d positions\n",
                info.n_ctx);

    struct gen_run g;
    memset(&g, 0, sizeof(g));
    g.o = &o;
    g.cli = cli;
    g.stream = o.n_prompts == 1 && !o.json;
    g.res = calloc(o.n_prompts, sizeof(*g.res));
    if (!g.res) {
        joule_engine_close(e);
        fprintf(stderr, "joule generate: out of memory\n");
        rc = CLI_RUNTIME;
        goto out;
    }
    const struct joule_engine_callbacks cb = {on_phase, on_text, on_done, &g};
    joule_engine_set_callbacks(e, &cb);

    /* Static batches: B prompts run to their end before the next B join.
     * Continuous: all are queued, a freed slot takes the next at once. */
    const size_t step = o.continuous ? o.n_prompts : (size_t)info.n_seq;
    for (size_t from = 0; from < o.n_prompts && rc == CLI_OK; from += step) {
        const size_t to = from + step < o.n_prompts ? from + step : o.n_prompts;
        rc = submit_range(e, &o, from, to);
        if (rc == CLI_OK && (st = joule_engine_run(e, err, sizeof(err))) != JOULE_OK)
            rc = engine_error("", st, err);
    }
    joule_engine_get_info(e, &info); /* the int8 counters after the run */
    if (o.json) {
        /* Whatever finished is printed, even after an error. */
        json_t *doc = json_object();
        json_object_set_new(doc, "model", cli_json_text(o.model, strlen(o.model)));
        json_object_set_new(doc, "engine", engine_json(&info));
        json_object_set_new(doc, "max_tokens", json_integer(o.max_tokens));
        json_object_set_new(doc, "batching", json_string(o.continuous ? "continuous" : "static"));
        json_object_set_new(doc, "phases", phases_json(&g));
        json_t *arr = json_array();
        for (size_t i = 0; i < o.n_prompts; i++)
            if (g.res[i].done)
                json_array_append_new(arr, result_json(i, o.prompts[i], &g.res[i]));
        json_object_set_new(doc, "requests", arr);
        cli_print_json(doc);
    }
    if (!cli->quiet && !o.json)
        print_stats(&g, &info);
    for (size_t i = 0; i < o.n_prompts; i++) {
        free(g.res[i].text);
        free(g.res[i].itl);
    }
    free(g.res);
    joule_engine_close(e);
out:
    free(o.prompts);
    free(o.file_buf);
    return rc;
}
