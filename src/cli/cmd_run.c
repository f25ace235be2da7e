/* cmd_run.c - `joule run`: a measured experiment from configs, a preset and
 * flags; its results go to the store and to stdout. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const usage[] = {
    "usage: joule run [CONFIG.yaml...] [--preset P] [-m MODEL] [options]",
    "",
    "Measure the energy of an LLM workload with the protocol of",
    "docs/methodology.md: model loaded and prompts tokenized first, idle",
    "baseline, warmup, then cycles of measured windows (prefill and decode",
    "apart).  Results go to the results database and are printed.",
    "Several configs run one after another, never at once.",
    "",
    "  --preset P             quick-test, benchmark, throughput (see `joule presets`)",
    "  -m, --model FILE       GGUF model",
    "  -d, --dataset NAME     built-in dataset or file (see `joule datasets`)",
    "  --format F             dataset format (default auto)",
    "  -n, --sample-size N    prompts taken from the dataset (0: all)",
    "  --shuffle, --skip-bad  shuffle the dataset (seeded); skip malformed records",
    "  -b, --batch-size B     requests per batch",
    "  --precision P          file (as stored) or a type to quantize to on load",
    "  --max-tokens N         output tokens at most per request",
    "  --max-input-tokens N   prompts are cut to their first N tokens",
    "  --temperature T, --top-p P, --top-k K, --seed S, --ignore-eos",
    "  -c, --cycles C         measured cycles, 1..10",
    "  --warmup N             unmeasured warmup runs",
    "  --min-window S         a cycle repeats its workload until it lasts S seconds",
    "  --idle S               idle baseline seconds (0: none)",
    "  --cooldown S           pause between cycles",
    "  --threads T            threads (default: the physical cores)",
    "  --gpu-list 0,1         GPUs to use and measure",
    "  --meter SOURCES        energy sources (auto, or a list: rapl,nvml,...)",
    "  --interval MS          meter sampling interval",
    "  --timeline             store the power timeline",
    "  --save-text            store each request's generated text",
    "  --name NAME            experiment name",
    "  --set KEY=VALUE        any config key (see `joule config keys`)",
    "  --db PATH|URL          results database (default $JOULE_DB or",
    "                         joule-results/joule.db)",
    "  --resume ID            continue experiment ID's missing cycles",
    "  --fresh                never resume an unfinished run of the same config",
    "  --parallel N           runs at once: only with disjoint GPUs per run",
    "  --nodes N              one experiment measured on N nodes: run the same",
    "                         command on each; rank 0 runs the workload, the",
    "                         others measure their own devices (docs/scale-out.md)",
    "  --join KEY             what the nodes share (default $SLURM_JOB_ID)",
    "  --rank R               this node's rank (default $SLURM_PROCID, else 0)",
    "  --node NAME            this node's name (default $SLURMD_NODENAME, else",
    "                         the host name)",
    "  --node-timeout S       longest wait for another node (default 600)",
    "  --json, --csv          print the summary for machines",
    "  --quiet                no progress, only the result",
    "",
    "Ctrl+C closes the current window, keeps every finished cycle and prints",
    "the command that resumes.  See docs/cli/joule-run.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

/* Flags that are config keys. */
static const struct {
    const char *flag, *alt, *key;
    bool is_switch; /* no value: sets "true" */
} key_flags[] = {
    {"--model", "-m", "model", false},
    {"--dataset", "-d", "dataset.name", false},
    {"--format", NULL, "dataset.format", false},
    {"--sample-size", "-n", "dataset.sample_size", false},
    {"--shuffle", NULL, "dataset.shuffle", true},
    {"--skip-bad", NULL, "dataset.skip_bad", true},
    {"--batch-size", "-b", "batch_size", false},
    {"--batch", NULL, "batch_size", false},
    {"--precision", NULL, "precision", false},
    {"--max-tokens", NULL, "max_output_tokens", false},
    {"--max-output-tokens", NULL, "max_output_tokens", false},
    {"--max-input-tokens", NULL, "max_input_tokens", false},
    {"--temperature", NULL, "decoding.temperature", false},
    {"--top-p", NULL, "decoding.top_p", false},
    {"--top-k", NULL, "decoding.top_k", false},
    {"--seed", NULL, "decoding.seed", false},
    {"--ignore-eos", NULL, "decoding.ignore_eos", true},
    {"--cycles", "-c", "protocol.cycles", false},
    {"--warmup", NULL, "protocol.warmup_runs", false},
    {"--min-window", NULL, "protocol.min_window_s", false},
    {"--idle", NULL, "protocol.idle_s", false},
    {"--cooldown", NULL, "protocol.cooldown_s", false},
    {"--threads", "-t", "threads", false},
    {"--gpu-list", NULL, "gpus", false},
    {"--meter", NULL, "protocol.meter_sources", false},
    {"--interval", NULL, "protocol.meter_interval_ms", false},
    {"--timeline", NULL, "outputs.timeline", true},
    {"--save-text", NULL, "outputs.save_text", true},
    {"--name", NULL, "name", false},
};

struct kv {
    const char *key;
    const char *value;
};

struct run_opts {
    const char **configs;
    size_t n_configs;
    struct kv *sets;
    size_t n_sets;
    const char *preset;
    const char *db;
    int64_t resume;
    bool fresh;
    unsigned parallel;
    enum cli_format format;
    /* several nodes */
    unsigned nodes;
    const char *join, *node;
    long rank; /* -1: not given */
    double node_timeout;
    char host[256];
};

static int parse_args(int argc, char **argv, struct run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->rank = -1;
    o->configs = calloc((size_t)argc, sizeof(char *));
    o->sets = calloc((size_t)argc, sizeof(struct kv));
    if (!o->configs || !o->sets) {
        fprintf(stderr, "joule run: out of memory\n");
        return CLI_RUNTIME;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool missing = false;
        const char *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            return -1;
        }
        if (strcmp(a, "--json") == 0) {
            o->format = CLI_JSON;
            continue;
        }
        if (strcmp(a, "--csv") == 0) {
            o->format = CLI_CSV;
            continue;
        }
        if (strcmp(a, "--fresh") == 0) {
            o->fresh = true;
            continue;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            continue; /* handled by the caller */
        if ((v = cli_opt_value(argc, argv, &i, "--preset", &missing))) {
            o->preset = v;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--db", &missing))) {
            o->db = v;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--resume", &missing))) {
            char *end = NULL;
            long long id = strtoll(v, &end, 10);
            if (!*v || *end || id < 1)
                return cli_usage_error("run", "--resume: '%s' is not an experiment id", v);
            o->resume = id;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--parallel", &missing))) {
            if (!cli_parse_u32("run", "--parallel", v, 1, 64, &o->parallel))
                return CLI_USAGE;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--nodes", &missing))) {
            if (!cli_parse_u32("run", "--nodes", v, 1, 64, &o->nodes))
                return CLI_USAGE;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--join", &missing))) {
            o->join = v;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--node", &missing))) {
            o->node = v;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--rank", &missing))) {
            unsigned rank;
            if (!cli_parse_u32("run", "--rank", v, 0, 63, &rank))
                return CLI_USAGE;
            o->rank = rank;
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--node-timeout", &missing))) {
            char *end = NULL;
            o->node_timeout = strtod(v, &end);
            if (!*v || *end || !(o->node_timeout > 0))
                return cli_usage_error("run", "--node-timeout: '%s' is not a number of seconds",
                                       v);
            continue;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--set", &missing))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v)
                return cli_usage_error("run", "--set wants KEY=VALUE, got '%s'", v);
            char *key = strndup(v, (size_t)(eq - v));
            if (!key)
                return CLI_RUNTIME;
            o->sets[o->n_sets++] = (struct kv){key, eq + 1};
            continue;
        }
        bool known = false;
        for (size_t k = 0; !missing && !known && k < JOULE_ARRAY_LEN(key_flags); k++) {
            if (key_flags[k].is_switch) {
                if (strcmp(a, key_flags[k].flag) == 0) {
                    o->sets[o->n_sets++] = (struct kv){key_flags[k].key, "true"};
                    known = true;
                }
                continue;
            }
            if ((v = cli_opt_value(argc, argv, &i, key_flags[k].flag, &missing)) ||
                (!missing && key_flags[k].alt &&
                 (v = cli_opt_value(argc, argv, &i, key_flags[k].alt, &missing)))) {
                o->sets[o->n_sets++] = (struct kv){key_flags[k].key, v};
                known = true;
            }
        }
        if (missing)
            return cli_usage_error("run", "%s needs a value", a);
        if (known)
            continue;
        if (a[0] == '-' && a[1])
            return cli_usage_error("run", "unknown option '%s'", a);
        o->configs[o->n_configs++] = a;
    }
    return CLI_OK;
}

static void run_opts_free(struct run_opts *o)
{
    for (size_t i = 0; o->sets && i < o->n_sets; i++) {
        /* --set keys were duplicated; flag keys are static. */
        bool is_static = false;
        for (size_t k = 0; k < JOULE_ARRAY_LEN(key_flags); k++)
            is_static |= o->sets[i].key == key_flags[k].key;
        if (!is_static)
            free((char *)o->sets[i].key);
    }
    free(o->sets);
    free(o->configs);
}

/* --- progress ------------------------------------------------------------ */

struct progress_state {
    bool on;    /* a terminal, not --quiet */
    bool dirty; /* a progress line is on the screen */
    const char *last_stage;
};

static void on_progress(void *user, const struct joule_progress *p)
{
    struct progress_state *ps = user;
    if (!ps->on) {
        if (p->message[0] && strcmp(p->stage, "done") != 0)
            fprintf(stderr, "joule run: %s\n", p->message);
        return;
    }
    char line[160];
    if (strcmp(p->stage, "cycle") == 0 && p->total > 0)
        joule_fmt(line, sizeof(line), "cycle %d/%d  %lld/%lld requests", p->cycle, p->n_cycles,
                  (long long)p->done, (long long)p->total);
    else if (strcmp(p->stage, "done") == 0)
        joule_fmt(line, sizeof(line), "done (%s)", p->message);
    else
        joule_fmt(line, sizeof(line), "%s%s%s", p->stage, p->message[0] ? ": " : "", p->message);
    fprintf(stderr, "\r\033[K[%6.1f s] %s", p->elapsed_s, line);
    ps->dirty = true;
    if (strcmp(p->stage, "done") == 0) {
        fputc('\n', stderr);
        ps->dirty = false;
    }
    fflush(stderr);
}

/* --- the summary --------------------------------------------------------- */

/* The headline metrics, in the order people read them. */
static const struct {
    const char *metric, *label, *unit;
} headline[] = {
    {"ept_out_j_per_tok", "energy per output token", "J/token"},
    {"ept_in_j_per_tok", "energy per input token", "J/token"},
    {"ept_total_j_per_tok", "energy per token (in+out)", "J/token"},
    {"energy_per_request_j", "energy per request", "J"},
    {"j_per_1k_out_tokens", "energy per 1k output tokens", "J"},
    {"tokens_per_joule", "output tokens per joule", "tok/J"},
    {"energy_total_j", "energy of the workload", "J"},
    {"energy_net_j", "  net of idle", "J"},
    {"energy_prefill_j", "  prefill", "J"},
    {"energy_decode_j", "  decode", "J"},
    {"power_avg_w", "average power", "W"},
    {"throughput_tok_s", "output throughput", "tok/s"},
    {"throughput_req_s", "request throughput", "req/s"},
    {"latency_mean_s", "latency mean", "s"},
    {"latency_p90_s", "latency p90", "s"},
    {"ttft_mean_s", "time to first token", "s"},
    {"itl_mean_s", "inter-token latency", "s"},
    {"tokens_in", "input tokens per pass", ""},
    {"tokens_out", "output tokens per pass", ""},
    {"repeats", "passes per cycle", ""},
    {"flops_per_joule", "FLOPs per joule", "FLOP/J"},
};

static long col_of(const struct joule_table *t, const char *name)
{
    for (size_t j = 0; j < joule_table_cols(t); j++)
        if (strcmp(joule_table_col_name(t, j), name) == 0)
            return (long)j;
    return -1;
}

static const char *info_field(const struct joule_table *info, const char *field)
{
    long f = col_of(info, "field"), v = col_of(info, "value");
    if (f < 0 || v < 0)
        return NULL;
    for (size_t i = 0; i < joule_table_rows(info); i++)
        if (strcmp(joule_table_text(info, i, (size_t)f), field) == 0)
            return joule_table_text(info, i, (size_t)v);
    return NULL;
}

/* "0.0123" with 4 significant digits, or "-" for a missing cell. */
static void fmt_num(char *out, size_t size, double v)
{
    if (!isfinite(v))
        joule_fmt(out, size, "-");
    else
        joule_fmt(out, size, "%.4g", v);
}

static void print_summary(struct joule_store *s, int64_t id)
{
    struct joule_table *sum = NULL, *info = NULL, *dom = NULL;
    if (joule_store_query(s, JOULE_QUERY_SUMMARY, id, &sum) != JOULE_OK ||
        joule_store_query(s, JOULE_QUERY_INFO, id, &info) != JOULE_OK) {
        fprintf(stderr, "joule run: %s\n", joule_store_errmsg(s));
        joule_table_free(sum);
        joule_table_free(info);
        return;
    }
    const char *name = info_field(info, "name"), *status = info_field(info, "status");
    const char *flags = info_field(info, "flags");
    printf("experiment %lld  %s  [%s]\n", (long long)id, name ? name : "", status ? status : "?");
    const char *nodes = info_field(info, "nodes");
    if (nodes)
        printf("nodes: %s (energy summed over them)\n", nodes);
    long cm = col_of(sum, "metric"), cmean = col_of(sum, "mean"), cci = col_of(sum, "ci95"),
         ccv = col_of(sum, "cv"), cn = col_of(sum, "n");
    printf("\n  %-30s %12s %10s %7s %3s  %s\n", "metric", "mean", "+-95% CI", "CV", "n", "unit");
    for (size_t h = 0; cm >= 0 && h < JOULE_ARRAY_LEN(headline); h++)
        for (size_t i = 0; i < joule_table_rows(sum); i++) {
            if (strcmp(joule_table_text(sum, i, (size_t)cm), headline[h].metric) != 0)
                continue;
            char mean[32], ci[32], cv[32];
            fmt_num(mean, sizeof(mean), joule_table_number(sum, i, (size_t)cmean));
            fmt_num(ci, sizeof(ci), cci >= 0 ? joule_table_number(sum, i, (size_t)cci) : NAN);
            double cvv = ccv >= 0 ? joule_table_number(sum, i, (size_t)ccv) : NAN;
            if (isfinite(cvv))
                joule_fmt(cv, sizeof(cv), "%.1f%%", 100 * cvv);
            else
                joule_fmt(cv, sizeof(cv), "-");
            printf("  %-30s %12s %10s %7s %3s  %s\n", headline[h].label, mean, ci, cv,
                   cn >= 0 ? joule_table_text(sum, i, (size_t)cn) : "", headline[h].unit);
        }
    /* Where the joules came from: the domains of the first cycle's run window. */
    if (joule_store_query(s, JOULE_QUERY_DOMAINS, id, &dom) == JOULE_OK) {
        long cw = col_of(dom, "window"), cc = col_of(dom, "cycle"), cd = col_of(dom, "domain"),
             cs = col_of(dom, "source"), cp = col_of(dom, "provenance"),
             cnote = col_of(dom, "note");
        printf("\n  energy measured by:\n");
        const char *first_cycle = NULL;
        for (size_t i = 0; cw >= 0 && cc >= 0 && i < joule_table_rows(dom); i++) {
            if (strcmp(joule_table_text(dom, i, (size_t)cw), "run") != 0)
                continue;
            const char *cyc = joule_table_text(dom, i, (size_t)cc);
            if (!first_cycle)
                first_cycle = cyc;
            if (strcmp(cyc, first_cycle) != 0)
                continue;
            printf("    %-16s %-9s %-11s %s\n", cd >= 0 ? joule_table_text(dom, i, (size_t)cd) : "",
                   cs >= 0 ? joule_table_text(dom, i, (size_t)cs) : "",
                   cp >= 0 ? joule_table_text(dom, i, (size_t)cp) : "",
                   cnote >= 0 ? joule_table_text(dom, i, (size_t)cnote) : "");
        }
        joule_table_free(dom);
    }
    if (flags && *flags)
        printf("\n  flags: %s (see docs/methodology.md, \"Validation flags\")\n", flags);
    printf("\n  more: joule results show %lld --raw   export: joule results export %lld --csv\n",
           (long long)id, (long long)id);
    joule_table_free(sum);
    joule_table_free(info);
}

/* --- one config ---------------------------------------------------------- */

/* Builds the config: the experiment's own when resuming by id alone, else
 * preset, file, flags. */
static int build_config(const char *path, const struct run_opts *o, struct joule_store *s,
                        struct joule_config **out)
{
    char err[1024];
    struct joule_config *c = NULL;
    if (joule_config_new(&c) != JOULE_OK) {
        fprintf(stderr, "joule run: out of memory\n");
        return CLI_RUNTIME;
    }
    enum joule_status st = JOULE_OK;
    if (!path && o->resume && !o->preset && s) {
        struct joule_table *info = NULL;
        if (joule_store_query(s, JOULE_QUERY_INFO, o->resume, &info) != JOULE_OK) {
            fprintf(stderr, "joule run: %s\n", joule_store_errmsg(s));
            joule_config_free(c);
            return CLI_USAGE;
        }
        const char *yaml = info_field(info, "config");
        char name[64];
        joule_fmt(name, sizeof(name), "experiment %lld's config", (long long)o->resume);
        st = joule_config_parse(c, name, yaml ? yaml : "", yaml ? strlen(yaml) : 0, NULL, err,
                                sizeof(err));
        joule_table_free(info);
    } else {
        st = joule_config_load(c, path, o->preset, err, sizeof(err));
    }
    for (size_t i = 0; st == JOULE_OK && i < o->n_sets; i++)
        st = joule_config_set(c, o->sets[i].key, o->sets[i].value, err, sizeof(err));
    /* Another node of a multi-node run only measures: it needs no model. */
    const bool measures_only = o->nodes > 1 && o->rank > 0;
    if (st == JOULE_OK && !measures_only)
        st = joule_config_validate(c, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule run: %s\n", err);
        joule_config_free(c);
        return st == JOULE_ERR_IO ? CLI_RUNTIME : CLI_USAGE;
    }
    *out = c;
    return CLI_OK;
}

static int run_one(const char *path, const struct run_opts *o, struct cli *cli)
{
    char err[1024], db[4096] = "";
    if (o->db)
        joule_strlcpy(db, o->db, sizeof(db));
    struct joule_store *s = NULL;
    struct joule_config *c = NULL;
    /* The database: --db, else the config's outputs.db, else the default. */
    if (!o->resume || path || o->preset) {
        int rc = build_config(path, o, NULL, &c);
        if (rc != CLI_OK)
            return rc;
        if (!db[0])
            joule_config_get(c, "outputs.db", db, sizeof(db));
    }
    if (joule_store_open(db[0] ? db : NULL, &s, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "joule run: %s\n", err);
        joule_config_free(c);
        return CLI_RUNTIME;
    }
    if (!c) {
        int rc = build_config(NULL, o, s, &c);
        if (rc != CLI_OK) {
            joule_store_close(s);
            return rc;
        }
    }
    struct progress_state ps = {cli->progress, false, NULL};
    struct joule_run_options ro = {
        .resume_id = o->resume,
        .fresh = o->fresh,
        .stop = &cli_stop,
        .on_progress = on_progress,
        .user = &ps,
        .nodes = (int32_t)o->nodes,
        .join_key = o->join,
        .rank = (int32_t)o->rank,
        .node = o->node,
        .node_timeout_s = o->node_timeout,
    };
    int64_t id = 0;
    enum joule_status st = joule_experiment_run(c, s, &ro, &id, err, sizeof(err));
    if (ps.dirty)
        fputs("\n", stderr);
    int rc = CLI_OK;
    if (st != JOULE_OK) {
        fprintf(stderr, "joule run: %s\n", err);
        if (id)
            fprintf(stderr,
                    "joule run: experiment %lld failed; cycles finished before the failure "
                    "are kept (joule results show %lld)\n",
                    (long long)id, (long long)id);
        rc = st == JOULE_ERR_INVALID || st == JOULE_ERR_FORMAT || st == JOULE_ERR_NOT_FOUND ||
                     st == JOULE_ERR_UNSUPPORTED
                 ? CLI_USAGE
                 : CLI_RUNTIME;
    } else if (cli_stop) {
        fprintf(stderr,
                "joule run: interrupted; experiment %lld keeps its finished cycles.\n"
                "Resume with: %s run --resume %lld%s%s\n",
                (long long)id, cli->prog, (long long)id, o->db ? " --db " : "", o->db ? o->db : "");
        rc = CLI_RUNTIME;
    }
    if (id && (st == JOULE_OK || rc == CLI_RUNTIME)) {
        if (o->format == CLI_TABLE) {
            print_summary(s, id);
        } else {
            struct joule_table *t = NULL;
            if (joule_store_query(s, JOULE_QUERY_EXPORT, id, &t) == JOULE_OK)
                cli_table_write(stdout, t, o->format);
            joule_table_free(t);
        }
    }
    joule_store_close(s);
    joule_config_free(c);
    return rc;
}

/* --nodes: the join key, rank and node name from the flags, else from
 * Slurm's environment (srun gives every task the same job id), else the
 * host. */
static int check_nodes(struct run_opts *o)
{
    if (o->nodes <= 1) {
        if (o->join || o->rank >= 0)
            return cli_usage_error("run", "--join and --rank need --nodes N (N > 1)");
        return CLI_OK;
    }
    const char *env;
    if (!o->join && (env = getenv("SLURM_JOB_ID")) && *env)
        o->join = env;
    if (!o->join)
        return cli_usage_error("run", "--nodes %u needs --join KEY: the same key on every "
                               "node (under Slurm it defaults to the job id)",
                               o->nodes);
    if (o->rank < 0) {
        env = getenv("SLURM_PROCID");
        o->rank = env && *env ? strtol(env, NULL, 10) : 0;
    }
    if (o->rank >= (long)o->nodes)
        return cli_usage_error("run", "--rank %ld is out of range for --nodes %u (0..%u)",
                               o->rank, o->nodes, o->nodes - 1);
    if (!o->node && (env = getenv("SLURMD_NODENAME")) && *env)
        o->node = env;
    if (!o->node) {
        if (gethostname(o->host, sizeof(o->host) - 1) != 0 || !o->host[0])
            joule_fmt(o->host, sizeof(o->host), "rank%ld", o->rank);
        o->node = o->host;
    }
    if (o->n_configs > 1 || o->parallel > 1)
        return cli_usage_error("run", "--nodes runs one config, not several at once");
    return CLI_OK;
}

/* Concurrent runs corrupt each other's energy when they share a device:
 * allowed only when every run names its own GPUs. */
static int check_parallel(const struct run_opts *o)
{
    if (o->parallel <= 1)
        return CLI_OK;
    return cli_usage_error(
        "run",
        "--parallel %u refused: runs at once share the CPUs and their energy counters, so "
        "each would be charged for the others' work.  The builtin backend runs on the CPUs; "
        "parallel runs need a GPU backend with disjoint --gpu-list per config",
        o->parallel);
}

int cmd_run(int argc, char **argv, struct cli *cli)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0)
            cli->quiet = true, cli->progress = false;
    struct run_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc == -1) {
        run_opts_free(&o);
        return CLI_OK;
    }
    if (rc == CLI_OK && o.resume && o.n_configs > 1)
        rc = cli_usage_error("run", "--resume takes at most one config");
    if (rc == CLI_OK)
        rc = check_parallel(&o);
    if (rc == CLI_OK)
        rc = check_nodes(&o);
    if (rc != CLI_OK) {
        run_opts_free(&o);
        return rc;
    }
    cli_catch_stop();
    size_t n = o.n_configs ? o.n_configs : 1;
    int worst = CLI_OK;
    for (size_t i = 0; i < n && !cli_stop; i++) {
        if (n > 1 && !cli->quiet)
            fprintf(stderr, "joule run: config %zu of %zu: %s\n", i + 1, n, o.configs[i]);
        rc = run_one(o.n_configs ? o.configs[i] : NULL, &o, cli);
        if (rc > worst)
            worst = rc;
        if (n > 1 && i + 1 < n)
            printf("\n");
    }
    run_opts_free(&o);
    return worst;
}
