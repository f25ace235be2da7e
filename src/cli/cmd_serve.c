/* cmd_serve.c - `joule serve`: an OpenAI-compatible server on the built-in
 * engine, with the energy of every request. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage[] = {
    "usage: joule serve -m FILE [options]",
    "",
    "Serve a GGUF model over HTTP with OpenAI's API (/v1/completions,",
    "/v1/chat/completions, streamed or not, /v1/models), plus /health and",
    "/metrics (Prometheus).  Concurrent requests join the engine's batch at step",
    "boundaries; each response's usage adds the energy of the request.",
    "",
    "  -m, --model FILE       GGUF model (llama, qwen2, phi3)",
    "  --host ADDR            address to listen on (default 127.0.0.1); a",
    "                         non-loopback one needs --api-key or --insecure",
    "  --port N               port (default 8080; 0: a free one, printed)",
    "  --parallel N           requests decoding at once, the batch (default 4)",
    "  --threads T            engine threads (default: the physical cores)",
    "  --ctx N                positions per request, prompt + output (default 2048,",
    "                         at most the model's context)",
    "  --name NAME            model id in the API (default: the file's name)",
    "  --chat-template NAME   chat family for /v1/chat/completions: chatml, llama-2,",
    "                         llama-3, phi-3, mistral, zephyr, gemma (default: the",
    "                         model's own)",
    "  --api-key KEY          require 'Authorization: Bearer KEY' on every endpoint",
    "                         but /health (default: $JOULE_API_KEY)",
    "  --insecure             allow a non-loopback --host without a key",
    "  --max-body BYTES       largest request body (default 1048576; 413 above)",
    "  --max-tokens N         most output tokens a request may ask for, and the",
    "                         default (default 512; 400 above)",
    "  --timeout S            time limit per request, queue included (default 600;",
    "                         504 after it)",
    "  --queue N              requests waiting beyond the batch (default 64; 429",
    "                         above)",
    "  --grace S              at SIGINT/SIGTERM, time running requests get to",
    "                         finish before they are cancelled (default 10)",
    "  --kernels K            auto, avx512, avx2, scalar (default auto)",
    "  --meter SOURCES        energy sources (auto, or a list: rapl,nvml,estimate,",
    "                         fake:FILE); --sources is the same",
    "  --interval MS          meter sampling interval (default 100)",
    "  --cpu-tdp W            watts of the CPU for the estimate",
    "  --quiet                no start and stop lines on stderr",
    "",
    "The bound address goes to stdout as 'listening on http://HOST:PORT'.",
    "SIGINT or SIGTERM stops the server and prints a summary; exit status 0.",
    "See docs/cli/joule-serve.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

struct serve_opts {
    const char *model, *name, *kernels;
    unsigned parallel, threads, ctx, port, queue, max_tokens;
    double max_body, timeout, grace;
    struct joule_server_params sp;
    struct joule_meter_params mp;
};

/* Returns -1 when argv[*i] was consumed, else an exit code. */
static int parse_one(struct serve_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    bool miss = false;
    const int meter = cli_meter_option("serve", argc, argv, i, &o->mp);
    if (meter < 0)
        return CLI_USAGE;
    if (meter > 0)
        return -1;
    if ((v = cli_opt_value(argc, argv, i, "-m", &miss)) ||
        (v = cli_opt_value(argc, argv, i, "--model", &miss)))
        o->model = v;
    else if ((v = cli_opt_value(argc, argv, i, "--host", &miss)))
        o->sp.host = v;
    else if ((v = cli_opt_value(argc, argv, i, "--port", &miss))) {
        if (!cli_parse_u32("serve", "--port", v, 0, 65535, &o->port))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--parallel", &miss))) {
        if (!cli_parse_u32("serve", "--parallel", v, 1, 1024, &o->parallel))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--threads", &miss))) {
        if (!cli_parse_u32("serve", "--threads", v, 1, 512, &o->threads))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--ctx", &miss))) {
        if (!cli_parse_u32("serve", "--ctx", v, 16, 1u << 24, &o->ctx))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--name", &miss)))
        o->name = v;
    else if ((v = cli_opt_value(argc, argv, i, "--chat-template", &miss)))
        o->sp.chat_template = v;
    else if ((v = cli_opt_value(argc, argv, i, "--api-key", &miss))) {
        if (!*v)
            return cli_usage_error("serve", "--api-key needs a non-empty key");
        o->sp.api_key = v;
    } else if ((v = cli_opt_value(argc, argv, i, "--max-body", &miss))) {
        if (!cli_parse_double("serve", "--max-body", v, 64, 1u << 30, &o->max_body))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--max-tokens", &miss))) {
        if (!cli_parse_u32("serve", "--max-tokens", v, 1, 1u << 20, &o->max_tokens))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--timeout", &miss))) {
        if (!cli_parse_double("serve", "--timeout", v, 0.001, 86400 * 7, &o->timeout))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--queue", &miss))) {
        if (!cli_parse_u32("serve", "--queue", v, 0, 1u << 20, &o->queue))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--grace", &miss))) {
        if (!cli_parse_double("serve", "--grace", v, 0, 3600, &o->grace))
            return CLI_USAGE;
    } else if ((v = cli_opt_value(argc, argv, i, "--kernels", &miss)))
        o->kernels = v;
    else if ((v = cli_opt_value(argc, argv, i, "--meter", &miss)))
        o->mp.sources = v;
    else if (miss)
        return cli_usage_error("serve", "%s needs a value", a);
    else if (strcmp(a, "--insecure") == 0)
        o->sp.insecure = 1;
    else if (a[0] == '-')
        return cli_usage_error("serve", "unknown option '%s'", a);
    else
        return cli_usage_error("serve", "unexpected argument '%s'", a);
    return -1;
}

/* The model id: the file name without its folder and .gguf. */
static void model_id(const char *path, char *out, size_t size)
{
    const char *b = strrchr(path, '/');
    joule_strlcpy(out, b ? b + 1 : path, size);
    const size_t n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, ".gguf") == 0)
        out[n - 5] = '\0';
}

static void print_summary(const struct joule_server_stats *st)
{
    char energy[64];
    if (isfinite(st->energy_j))
        joule_fmt(energy, sizeof(energy), "%.3f J (%s)", st->energy_j,
                  joule_provenance_str(st->provenance));
    else
        joule_fmt(energy, sizeof(energy), "unavailable");
    fprintf(stderr,
            "joule serve: stopped: %lld HTTP requests (%lld errors), %lld completions, "
            "%lld prompt + %lld generated tokens, %lld steps in %.3f s, energy %s, "
            "largest batch %d\n",
            (long long)st->http_requests, (long long)st->errors, (long long)st->completions,
            (long long)st->prompt_tokens, (long long)st->completion_tokens, (long long)st->steps,
            st->busy_s, energy, st->max_batch);
}

int cmd_serve(int argc, char **argv, struct cli *cli)
{
    struct serve_opts o;
    memset(&o, 0, sizeof(o));
    joule_server_default_params(&o.sp);
    o.mp = joule_meter_default_params();
    o.parallel = 4;
    o.port = o.sp.port;
    o.queue = (unsigned)o.sp.max_queue;
    o.max_tokens = (unsigned)o.sp.max_tokens;
    o.max_body = (double)o.sp.max_body_bytes;
    o.timeout = o.sp.timeout_s;
    o.grace = o.sp.grace_s;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            cli->quiet = true;
            continue;
        }
        const int r = parse_one(&o, argc, argv, &i);
        if (r >= 0)
            return r;
    }
    if (!o.model)
        return cli_usage_error("serve", "give a model with -m FILE");
    if (!o.sp.api_key) {
        const char *k = getenv("JOULE_API_KEY");
        o.sp.api_key = k && *k ? k : NULL;
    }
    char name[128];
    model_id(o.model, name, sizeof(name));
    o.sp.model_name = o.name ? o.name : name;
    o.sp.port = (uint16_t)o.port;
    o.sp.max_queue = (int32_t)o.queue;
    o.sp.max_tokens = (int32_t)o.max_tokens;
    o.sp.max_body_bytes = (size_t)o.max_body;
    o.sp.timeout_s = o.timeout;
    o.sp.grace_s = o.grace;

    struct joule_engine_params ep;
    joule_engine_default_params(&ep);
    ep.n_threads = (int32_t)o.threads;
    ep.n_seq = (int32_t)o.parallel;
    ep.n_ctx = (int32_t)o.ctx;
    ep.isa = o.kernels;
    char err[512];
    struct joule_engine *e = NULL;
    enum joule_status st = joule_engine_open(o.model, &ep, &e, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule serve: %s\n", err);
        return cli_exit_for(st);
    }
    int rc = CLI_OK;
    struct joule_meter *m = cli_meter_open("serve", &o.mp, &rc);
    if (!m) {
        joule_engine_close(e);
        return rc;
    }
    struct joule_server *s = NULL;
    st = joule_server_open(e, m, &o.sp, &s, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule serve: %s\n", err);
        joule_meter_close(m);
        joule_engine_close(e);
        return cli_exit_for(st);
    }
    struct joule_engine_info in;
    joule_engine_get_info(e, &in);
    const char *host = o.sp.host && *o.sp.host ? o.sp.host : "127.0.0.1";
    const bool v6 = strchr(host, ':') != NULL;
    printf("listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
           (unsigned)joule_server_port(s));
    fflush(stdout);
    if (!cli->quiet) {
        struct joule_domain_info di;
        fprintf(stderr,
                "joule serve: model %s (%s %s), %s kernels, %d threads, parallel %d, ctx %d, "
                "%s\n",
                o.sp.model_name, in.arch, in.weight_type, in.isa, in.n_threads, in.n_seq, in.n_ctx,
                o.sp.api_key ? "API key required" : "no API key");
        for (uint32_t i = 0; i < joule_meter_domain_count(m); i++)
            if (joule_meter_domain_info(m, i, &di) == JOULE_OK)
                fprintf(stderr, "joule serve: energy domain %s: %s%s%s\n", di.name,
                        joule_provenance_str(di.provenance), di.note[0] ? " - " : "", di.note);
    }
    /* A write to a client that left must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    cli_catch_stop();
    st = joule_server_run(s, &cli_stop, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule serve: %s\n", err);
        rc = CLI_RUNTIME;
    }
    struct joule_server_stats stats;
    joule_server_get_stats(s, &stats);
    joule_server_close(s);
    if (!cli->quiet)
        print_summary(&stats);
    joule_meter_close(m);
    joule_engine_close(e);
    return rc;
}
