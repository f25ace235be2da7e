/* cmd_quantize.c - `joule quantize IN OUT --type TYPE`. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const usage[] = {
    "usage: joule quantize IN OUT --type TYPE [--threads N]",
    "",
    "Re-encode the GGUF model IN as TYPE into OUT, keeping every metadata key",
    "(general.file_type is set to the new type).  TYPE: f32 f16 bf16 q8_0",
    "q4_0 q6_k, q4_k_m (Q4_K with attn_v and ffn_down of some blocks and",
    "output.weight in Q6_K), or int8 (LLM.int8: Q8_0 matrices with one scale",
    "per row, F16 embedding and output).  Norms and biases stay F32.",
    "--threads: default all online CPUs.  See docs/cli/joule-quantize.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

int cmd_quantize(int argc, char **argv, struct cli *cli)
{
    const char *in = NULL, *out = NULL, *type = NULL;
    unsigned threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if ((v = cli_opt_value(argc, argv, &i, "--type", &missing)) != NULL)
            type = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) != NULL) {
            if (!cli_parse_u32("quantize", "--threads", v, 1, 64, &threads))
                return CLI_USAGE;
        } else if (missing)
            return cli_usage_error("quantize", "%s needs a value", a);
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        } else if (a[0] == '-' && a[1] != '\0')
            return cli_usage_error("quantize", "unknown option '%s'", a);
        else if (!in)
            in = a;
        else if (!out)
            out = a;
        else
            return cli_usage_error("quantize", "unexpected argument '%s'", a);
    }
    if (!in || !out)
        return cli_usage_error("quantize", "give IN and OUT files");
    if (!type)
        return cli_usage_error("quantize", "give --type TYPE");
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)(n < 64 ? n : 64) : 1;
    }
    char err[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum joule_status st = joule_model_quantize(in, out, type, threads, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule quantize: %s\n", err);
        return st == JOULE_ERR_INVALID || st == JOULE_ERR_FORMAT ||
                       st == JOULE_ERR_UNSUPPORTED
                   ? CLI_USAGE
                   : CLI_RUNTIME;
    }
    if (!cli->quiet) {
        struct stat si, so;
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        double mi = stat(in, &si) == 0 ? (double)si.st_size / 1e6 : 0.0;
        double mo = stat(out, &so) == 0 ? (double)so.st_size / 1e6 : 0.0;
        printf("wrote %s: %.1f MB from %.1f MB in %.2f s (%.0f MB/s read, %u threads)\n", out, mo,
               mi, secs, secs > 0 ? mi / secs : 0.0, threads);
    }
    return CLI_OK;
}
