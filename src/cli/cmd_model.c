/* cmd_model.c - `joule model <subcommand>`: model files. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static const char *const usage[] = {
    "usage: joule model info FILE [--json]",
    "       joule model tokenize -m FILE [--ids | --count] [--no-bos] [--special]",
    "                            (TEXT | --file F)",
    "       joule model synth (--shape NAME | --arch A --dim N --layers N --heads N",
    "                         [--kv-heads N] --ffn N --vocab N [--ctx N]) [--layers N]",
    "                         [--vocab N] [--type T] [--tokenizer spm|bpe] [--seed N]",
    "                         [--threads N] -o FILE",
    "       joule model synth --list-shapes",
    "",
    "  info      what a GGUF model file holds: architecture, parameters,",
    "            hyper-parameters, RoPE, tensor types and bits per weight,",
    "            tokenizer, special tokens, chat template",
    "  tokenize  the model's tokens for TEXT, or for each line of F (one output",
    "            line per input line): id:'piece' pairs, only ids (--ids) or",
    "            only the count (--count).  BOS/EOS are added as the model says",
    "            unless --no-bos; --special recognises special-token text",
    "            such as <|im_end|> in the input.",
    "  synth     write a GGUF model of a real shape with seeded random weights",
    "            (std 0.02, norms near 1) and a synthetic tokenizer, to benchmark",
    "            a shape without downloading it.  --shape takes a built-in shape",
    "            (--list-shapes); --layers and --vocab given with it override",
    "            the shape's.  Types: f32 f16 bf16 q8_0 q4_0 q4_k_m q6_k int8",
    "            (default f16).  --threads: default all online CPUs.",
    "",
    "See docs/cli/joule-model.md.",
    NULL,
};

static void print_usage(FILE *f)
{
    for (int k = 0; usage[k]; k++)
        fprintf(f, "%s\n", usage[k]);
}

static json_t *id_or_null(int64_t id)
{
    return id >= 0 ? json_integer(id) : json_null();
}

static json_t *flag_or_null(int32_t f)
{
    return f < 0 ? json_null() : json_boolean(f);
}

static json_t *info_json(const char *path, const struct joule_model_info *in)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)in->file_bytes));
    json_object_set_new(o, "gguf_version", json_integer(in->gguf_version));
    json_object_set_new(o, "architecture", json_string(in->arch));
    json_object_set_new(o, "name", json_string(in->name));
    json_object_set_new(o, "parameters", json_integer((json_int_t)in->n_params));
    json_object_set_new(o, "tensors", json_integer(in->n_tensors));
    json_object_set_new(o, "bits_per_weight",
                        isfinite(in->bits_per_weight) ? json_real(in->bits_per_weight)
                                                      : json_null());
    json_object_set_new(o, "file_type", id_or_null(in->file_type));
    json_t *h = json_object();
    json_object_set_new(h, "context_length", json_integer(in->n_ctx));
    json_object_set_new(h, "embedding_length", json_integer(in->n_embd));
    json_object_set_new(h, "block_count", json_integer(in->n_layer));
    json_object_set_new(h, "feed_forward_length", json_integer(in->n_ff));
    json_object_set_new(h, "head_count", json_integer(in->n_head));
    json_object_set_new(h, "head_count_kv", json_integer(in->n_head_kv));
    json_object_set_new(h, "head_dim", json_integer(in->head_dim));
    json_object_set_new(h, "norm_eps", isfinite(in->norm_eps) ? json_real(in->norm_eps)
                                                              : json_null());
    json_object_set_new(h, "tied_output", json_boolean(in->tied_output));
    json_object_set_new(o, "hyperparameters", h);
    json_t *r = json_object();
    json_object_set_new(r, "dimension_count", json_integer(in->n_rot));
    json_object_set_new(r, "freq_base", json_real(in->rope_freq_base));
    json_object_set_new(r, "scaling", json_string(in->rope_scaling));
    json_object_set_new(r, "scaling_factor", isfinite(in->rope_scaling_factor)
                                                 ? json_real(in->rope_scaling_factor)
                                                 : json_null());
    json_object_set_new(o, "rope", r);
    json_t *types = json_array();
    for (uint32_t t = 0; t < JOULE_TYPE_LIMIT; t++) {
        if (!in->type_tensors[t])
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string(joule_type_name(t)));
        json_object_set_new(e, "tensors", json_integer(in->type_tensors[t]));
        json_object_set_new(e, "parameters", json_integer((json_int_t)in->type_params[t]));
        json_object_set_new(e, "bytes", json_integer((json_int_t)in->type_bytes[t]));
        json_array_append_new(types, e);
    }
    json_object_set_new(o, "tensor_types", types);
    json_t *tk = json_object();
    json_object_set_new(tk, "model", json_string(in->tokenizer));
    json_object_set_new(tk, "pre", json_string(in->tokenizer_pre));
    json_object_set_new(tk, "vocab_size", json_integer(in->n_vocab));
    json_object_set_new(tk, "bos_id", id_or_null(in->bos_id));
    json_object_set_new(tk, "eos_id", id_or_null(in->eos_id));
    json_object_set_new(tk, "unk_id", id_or_null(in->unk_id));
    json_object_set_new(tk, "pad_id", id_or_null(in->pad_id));
    json_object_set_new(tk, "add_bos", flag_or_null(in->add_bos));
    json_object_set_new(tk, "add_eos", flag_or_null(in->add_eos));
    json_object_set_new(tk, "chat_template", json_boolean(in->has_chat_template));
    json_object_set_new(o, "tokenizer", tk);
    return o;
}

static void print_id(const char *label, int64_t id)
{
    if (id >= 0)
        printf(" %s %lld", label, (long long)id);
}

static void print_info(const char *path, const struct joule_model_info *in)
{
    printf("file           %s (%.1f MiB, GGUF v%u)\n", path, (double)in->file_bytes / 1048576.0,
           in->gguf_version);
    printf("architecture   %s%s%s%s\n", in->arch[0] ? in->arch : "(none)",
           in->name[0] ? " (" : "", in->name, in->name[0] ? ")" : "");
    printf("parameters     %llu in %u tensors, %.2f bits per weight\n",
           (unsigned long long)in->n_params, in->n_tensors, in->bits_per_weight);
    printf("shape          %u layers, embedding %u, FFN %u, %u heads (%u KV, dim %u), "
           "context %u%s\n",
           in->n_layer, in->n_embd, in->n_ff, in->n_head, in->n_head_kv, in->head_dim, in->n_ctx,
           in->tied_output ? ", tied output" : "");
    printf("rope           %u dims, base %g, scaling %s", in->n_rot, in->rope_freq_base,
           in->rope_scaling);
    if (isfinite(in->rope_scaling_factor))
        printf(" x%g", in->rope_scaling_factor);
    printf("\n");
    if (isfinite(in->norm_eps))
        printf("norm eps       %g\n", in->norm_eps);
    printf("tensor types  ");
    for (uint32_t t = 0; t < JOULE_TYPE_LIMIT; t++)
        if (in->type_tensors[t])
            printf(" %s x%u (%.1f%%)", joule_type_name(t), in->type_tensors[t],
                   in->n_params ? 100.0 * (double)in->type_params[t] / (double)in->n_params : 0);
    printf("\n");
    printf("tokenizer      %s%s%s%s, %u tokens", in->tokenizer[0] ? in->tokenizer : "(none)",
           in->tokenizer_pre[0] ? " (pre " : "", in->tokenizer_pre,
           in->tokenizer_pre[0] ? ")" : "", in->n_vocab);
    print_id("bos", in->bos_id);
    print_id("eos", in->eos_id);
    print_id("unk", in->unk_id);
    print_id("pad", in->pad_id);
    if (in->add_bos >= 0)
        printf(" add_bos %s", in->add_bos ? "yes" : "no");
    printf("\nchat template  %s\n", in->has_chat_template ? "yes" : "no");
}

static int model_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        } else if (argv[i][0] == '-')
            return cli_usage_error("model info", "unknown option '%s'", argv[i]);
        else if (path)
            return cli_usage_error("model info", "one file at a time ('%s' and '%s')", path,
                                   argv[i]);
        else
            path = argv[i];
    }
    if (!path)
        return cli_usage_error("model info", "no model file given");
    struct joule_model_info info;
    char err[512];
    enum joule_status s = joule_model_inspect(path, &info, err, sizeof(err));
    if (s != JOULE_OK) {
        fprintf(stderr, "joule model info: %s\n", err);
        return s == JOULE_ERR_FORMAT ? CLI_USAGE : CLI_RUNTIME;
    }
    if (json)
        cli_print_json(info_json(path, &info));
    else
        print_info(path, &info);
    return CLI_OK;
}

enum tok_output { TOK_PIECES, TOK_IDS, TOK_COUNT };

/* Print one piece quoted, escaping what would break the line. */
static void print_piece(const char *p, size_t len)
{
    putchar('\'');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\'' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\'');
}

/* Tokenize one input and print its line.  JOULE_OK or the failure. */
static enum joule_status tokenize_line(const struct joule_tokenizer *t, const char *text,
                                       size_t len, unsigned flags, enum tok_output mode,
                                       int32_t **ids, size_t *cap)
{
    size_t n = 0;
    enum joule_status s = joule_tokenizer_encode(t, text, len, flags, *ids, *cap, &n);
    if (s == JOULE_ERR_INVALID && n > *cap) {
        int32_t *grown = realloc(*ids, n * sizeof(**ids));
        if (!grown)
            return JOULE_ERR_NOMEM;
        *ids = grown;
        *cap = n;
        s = joule_tokenizer_encode(t, text, len, flags, *ids, *cap, &n);
    }
    if (s != JOULE_OK)
        return s;
    if (mode == TOK_COUNT) {
        printf("%zu\n", n);
        return JOULE_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(' ');
        printf("%d", (*ids)[i]);
        if (mode == TOK_PIECES) {
            size_t plen = 0;
            const char *p = joule_tokenizer_piece(t, (*ids)[i], &plen);
            putchar(':');
            print_piece(p ? p : "", p ? plen : 0);
        }
    }
    putchar('\n');
    return JOULE_OK;
}

static int model_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *text = NULL;
    enum tok_output mode = TOK_PIECES;
    unsigned flags = JOULE_TOKENIZE_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if ((v = cli_opt_value(argc, argv, &i, "-m", &missing)) != NULL ||
            (v = cli_opt_value(argc, argv, &i, "--model", &missing)) != NULL)
            model = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--file", &missing)) != NULL)
            file = v;
        else if (missing)
            return cli_usage_error("model tokenize", "%s needs a value", a);
        else if (strcmp(a, "--ids") == 0)
            mode = TOK_IDS;
        else if (strcmp(a, "--count") == 0)
            mode = TOK_COUNT;
        else if (strcmp(a, "--no-bos") == 0)
            flags &= ~(unsigned)JOULE_TOKENIZE_ADD_SPECIAL;
        else if (strcmp(a, "--special") == 0)
            flags |= JOULE_TOKENIZE_PARSE_SPECIAL;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        } else if (a[0] == '-' && a[1] != '\0')
            return cli_usage_error("model tokenize", "unknown option '%s'", a);
        else if (text)
            return cli_usage_error("model tokenize", "one TEXT at a time (quote it)");
        else
            text = a;
    }
    if (!model)
        return cli_usage_error("model tokenize", "no model: give -m FILE");
    if (!text == !file)
        return cli_usage_error("model tokenize", "give either TEXT or --file F");
    char err[512];
    struct joule_tokenizer *t = NULL;
    enum joule_status s = joule_tokenizer_open(model, &t, err, sizeof(err));
    if (s != JOULE_OK) {
        fprintf(stderr, "joule model tokenize: %s\n", err);
        return s == JOULE_ERR_FORMAT ? CLI_USAGE : CLI_RUNTIME;
    }
    int32_t *ids = NULL;
    size_t cap = 0;
    int rc = CLI_OK;
    if (text) {
        s = tokenize_line(t, text, strlen(text), flags, mode, &ids, &cap);
        if (s != JOULE_OK) {
            fprintf(stderr, "joule model tokenize: %s\n", joule_status_str(s));
            rc = CLI_RUNTIME;
        }
    } else {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "joule model tokenize: %s: %s\n", file, strerror(errno));
            rc = CLI_USAGE;
        }
        char *line = NULL;
        size_t line_cap = 0;
        unsigned long lineno = 0;
        ssize_t got;
        while (f && rc == CLI_OK && (got = getline(&line, &line_cap, f)) >= 0) {
            lineno++;
            size_t len = (size_t)got;
            if (len && line[len - 1] == '\n')
                len--;
            s = tokenize_line(t, line, len, flags, mode, &ids, &cap);
            if (s != JOULE_OK) {
                fprintf(stderr, "joule model tokenize: %s:%lu: %s\n", file, lineno,
                        joule_status_str(s));
                rc = CLI_RUNTIME;
            }
        }
        free(line);
        if (f && f != stdin)
            fclose(f);
    }
    free(ids);
    joule_tokenizer_close(t);
    return rc;
}

struct synth_opt {
    const char *name;
    uint32_t *field;
    unsigned min, max;
    bool set;
};

static int model_synth(int argc, char **argv, struct cli *cli)
{
    struct joule_synth_params p = joule_synth_default_params();
    p.type = "f16";
    const char *shape = NULL, *out = NULL, *arch = NULL, *type = NULL, *tok = NULL;
    unsigned long long seed = 0;
    unsigned threads = 0;
    struct synth_opt num[] = {
        {"--dim", &p.n_embd, 32, 65536, false},     {"--layers", &p.n_layer, 1, 1024, false},
        {"--heads", &p.n_head, 1, 4096, false},     {"--kv-heads", &p.n_head_kv, 1, 4096, false},
        {"--ffn", &p.n_ff, 32, 1u << 20, false},    {"--vocab", &p.n_vocab, 300, 1u << 22, false},
        {"--ctx", &p.n_ctx, 1, 1u << 24, false},
    };
    const size_t n_num = sizeof(num) / sizeof(num[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false, done = false;
        for (size_t k = 0; k < n_num && !done; k++) {
            if ((v = cli_opt_value(argc, argv, &i, num[k].name, &missing)) != NULL) {
                unsigned x;
                if (!cli_parse_u32("model synth", num[k].name, v, num[k].min, num[k].max, &x))
                    return CLI_USAGE;
                *num[k].field = x;
                num[k].set = true;
                done = true;
            } else if (missing) {
                return cli_usage_error("model synth", "%s needs a value", a);
            }
        }
        if (done)
            continue;
        if ((v = cli_opt_value(argc, argv, &i, "--shape", &missing)) != NULL)
            shape = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--arch", &missing)) != NULL)
            arch = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--type", &missing)) != NULL)
            type = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--tokenizer", &missing)) != NULL)
            tok = v;
        else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) != NULL ||
                 (v = cli_opt_value(argc, argv, &i, "--output", &missing)) != NULL)
            out = v;
        else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing)) != NULL) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (!*v || *end || errno || v[0] == '-')
                return cli_usage_error("model synth", "--seed expects a whole number, got '%s'",
                                       v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) != NULL) {
            if (!cli_parse_u32("model synth", "--threads", v, 1, 64, &threads))
                return CLI_USAGE;
        } else if (missing)
            return cli_usage_error("model synth", "%s needs a value", a);
        else if (strcmp(a, "--list-shapes") == 0) {
            for (size_t k = 0; joule_synth_shape_name(k); k++)
                printf("%s\n", joule_synth_shape_name(k));
            return CLI_OK;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        } else
            return cli_usage_error("model synth", "unknown option '%s'", a);
    }
    if (!out)
        return cli_usage_error("model synth", "no output: give -o FILE");
    if (shape) {
        if (arch)
            return cli_usage_error("model synth", "give --shape or --arch, not both");
        struct joule_synth_params s = p;
        if (joule_synth_shape(shape, &s) != JOULE_OK)
            return cli_usage_error("model synth", "unknown shape '%s' (see --list-shapes)",
                                   shape);
        /* Options given beside --shape override it. */
        for (size_t k = 0; k < n_num; k++) {
            size_t off = (size_t)((char *)num[k].field - (char *)&p);
            if (!num[k].set)
                *num[k].field = *(uint32_t *)((char *)&s + off);
        }
        p.arch = s.arch;
        p.name = s.name;
        p.rope_freq_base = s.rope_freq_base;
        p.norm_eps = s.norm_eps;
        p.tied_output = s.tied_output;
        p.tokenizer = s.tokenizer;
        p.tokenizer_pre = s.tokenizer_pre;
    } else {
        if (!arch)
            return cli_usage_error("model synth", "give --shape NAME or --arch llama|qwen2|phi3");
        p.arch = arch;
        if (!num[0].set || !num[1].set || !num[2].set || !num[4].set || !num[5].set)
            return cli_usage_error("model synth",
                                   "--arch needs --dim, --layers, --heads, --ffn and --vocab");
        if (!num[3].set)
            p.n_head_kv = p.n_head;
        if (!num[6].set)
            p.n_ctx = 4096;
        p.tied_output = 0;
        p.rope_freq_base = strcmp(arch, "qwen2") == 0 ? 1000000.0 : 10000.0;
        p.norm_eps = strcmp(arch, "qwen2") == 0 ? 1e-6 : 1e-5;
        p.tokenizer = strcmp(arch, "qwen2") == 0 ? "bpe" : "spm";
    }
    if (type)
        p.type = type;
    if (tok) {
        p.tokenizer = tok;
        p.tokenizer_pre = NULL;
    }
    p.seed = seed;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)(n < 64 ? n : 64) : 1;
    }
    p.n_threads = threads;
    char err[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum joule_status st = joule_model_synth(&p, out, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule model synth: %s\n", err);
        return st == JOULE_ERR_INVALID ? CLI_USAGE : CLI_RUNTIME;
    }
    if (!cli->quiet) {
        struct stat sb;
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        double mb = stat(out, &sb) == 0 ? (double)sb.st_size / 1e6 : 0.0;
        printf("wrote %s: %.1f MB in %.2f s (%.0f MB/s, %u threads)\n", out, mb, secs,
               secs > 0 ? mb / secs : 0.0, threads);
    }
    return CLI_OK;
}

int cmd_model(int argc, char **argv, struct cli *cli)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "info") == 0)
        return model_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "tokenize") == 0)
        return model_tokenize(argc - 1, argv + 1);
    if (strcmp(argv[1], "synth") == 0)
        return model_synth(argc - 1, argv + 1, cli);
    return cli_usage_error("model", "unknown subcommand '%s' (expected: info, tokenize, synth)",
                           argv[1]);
}
