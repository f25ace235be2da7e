/*
 * bench_engine.c - the built-in engine's speed: prompt processing (pp) and
 * generation (tg) at batch 1, 4 and 16, on synthesized models of a
 * built-in shape in several weight types.
 *
 *   build/bench/bench_engine [--shape tinyllama-1.1b] [--types f16,q8_0,q4_0,q4_k_m]
 *                            [--threads 2] [--pp 128] [--tg 64] [--batches 1,4,16]
 *                            [--reps 3] [--models DIR] [--kernels auto|avx512|avx2|scalar]
 *                            [--repack on|off] [--json] [--synth-only]
 *
 * Models are synthesized once into DIR (default ./bench-models) and reused.
 * pp: one sequence, the whole prompt in one forward pass (tokens/s).
 * tg B: B sequences, each with a 16-token prompt (not timed), then `tg`
 * decode steps of B tokens in lockstep (aggregate tokens/s).  Each figure
 * is the median of --reps runs, with min and max in the JSON.  Peak
 * resident memory is reported per type (each runs in its own process).
 * CPU-seconds per token: the user + system CPU time of the process (all
 * its threads) over a run, per token processed (pp) or generated (tg, all
 * B sequences): the energy proxy where there are no energy counters.
 * --repack off keeps the weights row-major (JOULE_LM_NO_REPACK, for
 * before/after comparisons of the packed tiles of pack.h).
 * --synth-only synthesizes the missing model files of --types, prints their
 * paths one a line and exits (bench/compare runs llama.cpp on them).
 * Results: docs/performance.md.
 */
#define _POSIX_C_SOURCE 200809L
#include "joule.h"
#include "kernels.h"
#include "lm.h"
#include "model.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#define MAX_LIST 16

struct opts {
    const char *shape, *models, *kernels;
    char types_buf[256], batches_buf[128];
    const char *types[MAX_LIST];
    int n_types;
    int batches[MAX_LIST];
    int n_batches;
    int threads, pp, tg, reps;
    int json;
    int synth_only;
    int no_repack;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* User + system CPU seconds of this process so far (all threads). */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The tokens/s and CPU-seconds per token of one run. */
struct speed {
    double tok_s;
    double cpu_s_tok;
};

static int split(char *s, const char **out, int cap)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < cap; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min, median, max of v[0 .. n) (sorted in place). */
static void stats(double *v, int n, double out[3])
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    out[0] = v[0];
    out[1] = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    out[2] = v[n - 1];
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_engine: %s: %s\n", what, err);
    exit(1);
}

/* The model file of `type`, synthesized when absent. */
static void model_path(const struct opts *o, const char *type, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s-%s.gguf", o->models, o->shape, type);
    struct stat st;
    if (stat(path, &st) == 0)
        return;
    mkdir(o->models, 0755);
    struct joule_synth_params p = joule_synth_default_params();
    char err[512];
    if (joule_synth_shape(o->shape, &p) != JOULE_OK)
        die(o->shape, "unknown shape (see joule model synth --list-shapes)");
    p.type = type;
    p.seed = 1;
    p.n_threads = (uint32_t)o->threads;
    fprintf(stderr, "bench_engine: synthesizing %s ...\n", path);
    if (joule_model_synth(&p, path, err, sizeof(err)) != JOULE_OK)
        die(path, err);
}

/* Tokens of sequence s: a fixed pseudo-random walk over the vocabulary. */
static int32_t token_at(int32_t n_vocab, int s, int i)
{
    uint32_t x = (uint32_t)(s * 7919 + i * 104729 + 17);
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (int32_t)(3 + x % (uint32_t)(n_vocab - 3));
}

struct runner {
    const struct joule_lm *m;
    struct joule_lm_ctx *c;
    int32_t *tok, *seq;
    uint8_t *lg;
};

static void forward(struct runner *r, int32_t n)
{
    char err[256];
    const struct joule_lm_batch b = {n, r->tok, r->seq, r->lg};
    if (joule_lm_forward(r->c, &b, err, sizeof(err)) != JOULE_OK)
        die("forward", err);
}

/* Prompt processing: one n-token forward pass. */
static struct speed run_pp(struct runner *r, int n)
{
    joule_lm_ctx_reset(r->c);
    for (int i = 0; i < n; i++) {
        r->tok[i] = token_at(r->m->hp.n_vocab, 0, i);
        r->seq[i] = 0;
        r->lg[i] = i == n - 1;
    }
    const double t0 = now_s(), c0 = cpu_s();
    forward(r, n);
    const struct speed sp = {n / (now_s() - t0), (cpu_s() - c0) / n};
    return sp;
}

/* Generation: `steps` decode steps of B sequences (aggregate tokens/s). */
static struct speed run_tg(struct runner *r, int B, int steps)
{
    enum { PROMPT = 16 };
    joule_lm_ctx_reset(r->c);
    int n = 0;
    for (int s = 0; s < B; s++)
        for (int i = 0; i < PROMPT; i++, n++) {
            r->tok[n] = token_at(r->m->hp.n_vocab, s, i);
            r->seq[n] = s;
            r->lg[n] = i == PROMPT - 1;
        }
    forward(r, n);
    const int32_t V = r->m->hp.n_vocab;
    int32_t next[64];
    for (int s = 0; s < B; s++)
        next[s] = joule_lm_argmax(joule_lm_logits(r->c, s * PROMPT + PROMPT - 1), V);
    const double t0 = now_s(), c0 = cpu_s();
    for (int k = 0; k < steps; k++) {
        for (int s = 0; s < B; s++) {
            r->tok[s] = next[s];
            r->seq[s] = s;
            r->lg[s] = 1;
        }
        forward(r, B);
        for (int s = 0; s < B; s++)
            next[s] = joule_lm_argmax(joule_lm_logits(r->c, s), V);
    }
    const double tokens = (double)B * steps;
    const struct speed sp = {tokens / (now_s() - t0), (cpu_s() - c0) / tokens};
    return sp;
}

static void parse(int argc, char **argv, struct opts *o)
{
    o->shape = "tinyllama-1.1b";
    o->models = "bench-models";
    o->kernels = "auto";
    snprintf(o->types_buf, sizeof(o->types_buf), "f16,q8_0,q4_0,q4_k_m");
    snprintf(o->batches_buf, sizeof(o->batches_buf), "1,4,16");
    o->threads = 2;
    o->pp = 128;
    o->tg = 64;
    o->reps = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--synth-only") == 0) {
            o->synth_only = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_engine: %s needs a value (see the header of bench_engine.c)\n",
                    a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--shape") == 0)
            o->shape = v;
        else if (strcmp(a, "--types") == 0)
            snprintf(o->types_buf, sizeof(o->types_buf), "%s", v);
        else if (strcmp(a, "--batches") == 0)
            snprintf(o->batches_buf, sizeof(o->batches_buf), "%s", v);
        else if (strcmp(a, "--models") == 0)
            o->models = v;
        else if (strcmp(a, "--kernels") == 0)
            o->kernels = v;
        else if (strcmp(a, "--repack") == 0 && (!strcmp(v, "on") || !strcmp(v, "off")))
            o->no_repack = strcmp(v, "off") == 0;
        else if (strcmp(a, "--threads") == 0)
            o->threads = atoi(v);
        else if (strcmp(a, "--pp") == 0)
            o->pp = atoi(v);
        else if (strcmp(a, "--tg") == 0)
            o->tg = atoi(v);
        else if (strcmp(a, "--reps") == 0)
            o->reps = atoi(v);
        else {
            fprintf(stderr, "bench_engine: unknown option %s\n", a);
            exit(2);
        }
    }
    o->n_types = split(o->types_buf, o->types, MAX_LIST);
    const char *b[MAX_LIST];
    o->n_batches = split(o->batches_buf, b, MAX_LIST);
    for (int i = 0; i < o->n_batches; i++)
        o->batches[i] = atoi(b[i]);
    if (o->threads < 1 || o->pp < 1 || o->pp > 4096 || o->tg < 1 || o->reps < 1 || o->reps > 64 ||
        o->n_types < 1) {
        fprintf(stderr, "bench_engine: bad --threads, --pp, --tg, --reps or --types\n");
        exit(2);
    }
    for (int i = 0; i < o->n_batches; i++)
        if (o->batches[i] < 1 || o->batches[i] > 64) {
            fprintf(stderr, "bench_engine: batch sizes are 1..64\n");
            exit(2);
        }
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    parse(argc, argv, &o);
    int isa = JOULE_ISA_AVX512;
    if (strcmp(o.kernels, "avx2") == 0)
        isa = JOULE_ISA_AVX2;
    else if (strcmp(o.kernels, "scalar") == 0)
        isa = JOULE_ISA_SCALAR;
    char err[512];
    if (o.synth_only) {
        for (int t = 0; t < o.n_types; t++) {
            char path[1024];
            model_path(&o, o.types[t], path, sizeof(path));
            printf("%s\n", path);
        }
        return 0;
    }

    int max_b = 1;
    for (int i = 0; i < o.n_batches; i++)
        max_b = o.batches[i] > max_b ? o.batches[i] : max_b;
    const int n_batch = o.pp > max_b * 16 ? o.pp : max_b * 16;
    if (o.json)
        printf("{\"shape\": \"%s\", \"threads\": %d, \"pp\": %d, \"tg\": %d, \"reps\": %d, "
               "\"results\": [",
               o.shape, o.threads, o.pp, o.tg, o.reps);
    else {
        printf("%s, %d threads, median of %d (tokens/s)\n\n| type | kernels | pp%d |", o.shape,
               o.threads, o.reps, o.pp);
        for (int i = 0; i < o.n_batches; i++)
            printf(" tg%d B=%d |", o.tg, o.batches[i]);
        printf(" peak RSS MB | CPU-ms/token pp%d |", o.pp);
        for (int i = 0; i < o.n_batches; i++)
            printf(" CPU-ms/token B=%d |", o.batches[i]);
        printf("\n|---|---|---:|");
        for (int i = 0; i < 2 * o.n_batches + 2; i++)
            printf("---:|");
        printf("\n");
    }
    for (int t = 0; t < o.n_types; t++) {
        char path[1024];
        model_path(&o, o.types[t], path, sizeof(path));
        /* Each type in its own process, so its peak memory is its own. */
        fflush(stdout);
        const pid_t pid = fork();
        if (pid < 0)
            die("fork", "failed");
        if (pid > 0) {
            int status = 0;
            waitpid(pid, &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die(path, "the measuring process failed");
            continue;
        }
        /* Threads do not survive fork: the child makes its own pool. */
        struct joule_pool *pool = NULL;
        if (joule_pool_create(o.threads, &pool, err, sizeof(err)) != JOULE_OK)
            die("pool", err);
        struct joule_gguf *g = NULL;
        struct joule_lm *m = NULL;
        if (joule_gguf_open_file(path, &g, err, sizeof(err)) != JOULE_OK ||
            joule_lm_load_ex(g, o.no_repack ? JOULE_LM_NO_REPACK : 0, &m, err, sizeof(err)) !=
                JOULE_OK)
            die(path, err);
        struct joule_lm_ctx_params cp;
        joule_lm_ctx_params_init(&cp);
        const int tg_ctx = 16 + (o.tg > 4 ? o.tg : 4); /* the warm-up decodes 4 */
        cp.n_ctx = (o.pp > tg_ctx ? o.pp : tg_ctx) + 1;
        cp.n_seq = max_b;
        cp.n_batch = n_batch;
        cp.isa = isa;
        cp.pool = pool;
        struct runner r = {m, NULL, NULL, NULL, NULL};
        if (joule_lm_ctx_open(m, &cp, &r.c, err, sizeof(err)) != JOULE_OK)
            die(path, err);
        r.tok = calloc((size_t)n_batch, sizeof(int32_t));
        r.seq = calloc((size_t)n_batch, sizeof(int32_t));
        r.lg = calloc((size_t)n_batch, 1);
        if (!r.tok || !r.seq || !r.lg)
            die("memory", "out of memory");
        /* [0]: tokens/s, [1]: CPU-seconds per token; each min, median, max */
        double v[2][64], pp[2][3], tg[MAX_LIST][2][3];
        run_tg(&r, 1, 4); /* warm the weights into the page cache */
        for (int k = 0; k < o.reps; k++) {
            const struct speed sp = run_pp(&r, o.pp);
            v[0][k] = sp.tok_s;
            v[1][k] = sp.cpu_s_tok;
        }
        stats(v[0], o.reps, pp[0]);
        stats(v[1], o.reps, pp[1]);
        for (int b = 0; b < o.n_batches; b++) {
            for (int k = 0; k < o.reps; k++) {
                const struct speed sp = run_tg(&r, o.batches[b], o.tg);
                v[0][k] = sp.tok_s;
                v[1][k] = sp.cpu_s_tok;
            }
            stats(v[0], o.reps, tg[b][0]);
            stats(v[1], o.reps, tg[b][1]);
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        const double rss_mb = (double)ru.ru_maxrss / 1024.0;
        if (o.json) {
            printf("%s\n  {\"type\": \"%s\", \"kernels\": \"%s\", \"pp\": [%.2f, %.2f, %.2f], "
                   "\"tg\": {",
                   t ? "," : "", o.types[t], joule_lm_ctx_isa(r.c), pp[0][0], pp[0][1], pp[0][2]);
            for (int b = 0; b < o.n_batches; b++)
                printf("%s\"%d\": [%.2f, %.2f, %.2f]", b ? ", " : "", o.batches[b], tg[b][0][0],
                       tg[b][0][1], tg[b][0][2]);
            printf("}, \"peak_rss_mb\": %.1f,\n   \"cpu_s_per_token\": {\"pp\": [%.5f, %.5f, %.5f], "
                   "\"tg\": {",
                   rss_mb, pp[1][0], pp[1][1], pp[1][2]);
            for (int b = 0; b < o.n_batches; b++)
                printf("%s\"%d\": [%.5f, %.5f, %.5f]", b ? ", " : "", o.batches[b], tg[b][1][0],
                       tg[b][1][1], tg[b][1][2]);
            printf("}}}");
        } else {
            printf("| %s | %s | %.1f |", o.types[t], joule_lm_ctx_isa(r.c), pp[0][1]);
            for (int b = 0; b < o.n_batches; b++)
                printf(" %.1f |", tg[b][0][1]);
            printf(" %.0f | %.1f |", rss_mb, 1e3 * pp[1][1]);
            for (int b = 0; b < o.n_batches; b++)
                printf(" %.1f |", 1e3 * tg[b][1][1]);
            printf("\n");
        }
        fflush(stdout);
        free(r.tok);
        free(r.seq);
        free(r.lg);
        joule_lm_ctx_free(r.c);
        joule_lm_free(m);
        joule_gguf_close(g);
        joule_pool_free(pool);
        exit(0);
    }
    if (o.json)
        printf("\n]}\n");
    return 0;
}
