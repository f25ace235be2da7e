/* cmd_config.c - `joule config` (validate, show, new, keys), `joule presets`
 * and `joule datasets`: what an experiment will run, before it runs. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "fileio.h"
#include "joule_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const config_usage[] = {
    "usage: joule config <command> [options]",
    "",
    "  validate CONFIG.yaml...      check files (keys, values, presets); exit 2 if any is bad",
    "  show [CONFIG.yaml]           the config a run would use, as canonical YAML",
    "  new [-o FILE]                a commented config to start from (defaults, or a preset)",
    "  keys [--json]                every key: type, allowed values, default, meaning",
    "",
    "  --preset P                   apply preset P under the file (see `joule presets`)",
    "  --set KEY=VALUE              override one key, as `joule run --set` does (repeatable)",
    "  --comments                   show: a comment line per key",
    "",
    "Precedence: --set > the file > the preset > defaults.  Keys: docs/config.md.",
    NULL,
};

static void print_lines(FILE *f, const char *const *lines)
{
    for (int k = 0; lines[k]; k++)
        fprintf(f, "%s\n", lines[k]);
}

struct cfg_opts {
    const char *sub, *preset, *out;
    const char *files[64];
    int n_files;
    const char *sets[64];
    int n_sets;
    bool comments, json, help;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct cfg_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--comments") == 0) {
            o->comments = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if ((v = cli_opt_value(argc, argv, &i, "--preset", &missing))) {
            o->preset = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--set", &missing))) {
            if (!strchr(v, '=') || v[0] == '=')
                return cli_usage_error(cmd, "--set wants KEY=VALUE, got '%s'", v);
            if (o->n_sets == (int)JOULE_ARRAY_LEN(o->sets))
                return cli_usage_error(cmd, "too many --set options");
            o->sets[o->n_sets++] = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--output", &missing))) {
            o->out = v;
        } else if (missing) {
            return cli_usage_error(cmd, "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (!o->sub) {
            o->sub = a;
        } else if (o->n_files < (int)JOULE_ARRAY_LEN(o->files)) {
            o->files[o->n_files++] = a;
        } else {
            return cli_usage_error(cmd, "too many files");
        }
    }
    return CLI_OK;
}

/* Defaults, preset, file, then every --set.  On failure the message is
 * printed and NULL returned with *code set. */
static struct joule_config *build(const struct cfg_opts *o, const char *path, int *code)
{
    char err[1024];
    struct joule_config *c = NULL;
    if (joule_config_new(&c) != JOULE_OK) {
        fprintf(stderr, "joule config: out of memory\n");
        *code = CLI_RUNTIME;
        return NULL;
    }
    enum joule_status st = joule_config_load(c, path, o->preset, err, sizeof(err));
    for (int i = 0; st == JOULE_OK && i < o->n_sets; i++) {
        char key[128];
        const char *eq = strchr(o->sets[i], '=');
        joule_fmt(key, sizeof(key), "%.*s", (int)(eq - o->sets[i]), o->sets[i]);
        st = joule_config_set(c, key, eq + 1, err, sizeof(err));
    }
    if (st != JOULE_OK) {
        fprintf(stderr, "joule config: %s\n", err);
        joule_config_free(c);
        *code = cli_exit_for(st);
        return NULL;
    }
    return c;
}

static int config_validate(const struct cfg_opts *o)
{
    if (o->n_files == 0)
        return cli_usage_error("config", "validate needs at least one CONFIG.yaml");
    int worst = CLI_OK;
    for (int i = 0; i < o->n_files; i++) {
        int code = CLI_OK;
        char err[1024];
        struct joule_config *c = build(o, o->files[i], &code);
        if (c && joule_config_validate(c, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule config: %s: %s\n", o->files[i], err);
            code = CLI_USAGE;
        }
        if (c && code == CLI_OK)
            printf("%s: ok\n", o->files[i]);
        joule_config_free(c);
        if (code > worst)
            worst = code;
    }
    return worst;
}

static enum joule_status write_text(FILE *f, void *ctx)
{
    const char *text = ctx;
    return fputs(text, f) < 0 ? JOULE_ERR_IO : JOULE_OK;
}

/* show and new: canonical YAML on stdout or into -o FILE. */
static int config_print(const struct cfg_opts *o, bool is_new)
{
    if (o->n_files > (is_new ? 0 : 1))
        return cli_usage_error("config", "%s takes %s", o->sub,
                               is_new ? "no file (use --preset)" : "at most one file");
    int code = CLI_OK;
    struct joule_config *c = build(o, o->n_files ? o->files[0] : NULL, &code);
    if (!c)
        return code;
    char *yaml = NULL, err[1024];
    if (joule_config_to_yaml(c, is_new || o->comments, &yaml) != JOULE_OK) {
        joule_config_free(c);
        fprintf(stderr, "joule config: out of memory\n");
        return CLI_RUNTIME;
    }
    joule_config_free(c);
    if (o->out) {
        if (joule_write_atomic(o->out, write_text, yaml, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule config: %s\n", err);
            code = CLI_RUNTIME;
        }
    } else {
        fputs(yaml, stdout);
    }
    joule_free(yaml);
    return code;
}

static int config_keys(const struct cfg_opts *o)
{
    const struct joule_config_key *k;
    if (o->json) {
        json_t *a = json_array();
        for (size_t i = 0; (k = joule_config_key_at(i)); i++)
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "key", k->key, "type",
                                               k->type, "allowed", k->allowed, "default", k->def,
                                               "help", k->help));
        cli_print_json(a);
        return CLI_OK;
    }
    printf("%-28s %-7s %-26s %-13s %s\n", "key", "type", "allowed", "default", "meaning");
    for (size_t i = 0; (k = joule_config_key_at(i)); i++) {
        /* Long enumerations get a line of their own rather than a wide column. */
        bool wide = strlen(k->allowed) > 26;
        printf("%-28s %-7s %-26s %-13s %s\n", k->key, k->type, wide ? "(below)" : k->allowed,
               k->def[0] ? k->def : "-", k->help);
        if (wide)
            printf("%-28s allowed: %s\n", "", k->allowed);
    }
    return CLI_OK;
}

int cmd_config(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct cfg_opts o = {0};
    int code = parse_opts("config", argc, argv, &o);
    if (code != CLI_OK)
        return code;
    if (o.help) {
        print_lines(stdout, config_usage);
        return CLI_OK;
    }
    if (!o.sub) {
        print_lines(stderr, config_usage);
        return CLI_USAGE;
    }
    if (o.out && strcmp(o.sub, "new") != 0 && strcmp(o.sub, "show") != 0)
        return cli_usage_error("config", "-o is an option of 'new' and 'show'");
    if (strcmp(o.sub, "validate") == 0)
        return config_validate(&o);
    if (strcmp(o.sub, "show") == 0)
        return config_print(&o, false);
    if (strcmp(o.sub, "new") == 0)
        return config_print(&o, true);
    if (strcmp(o.sub, "keys") == 0)
        return config_keys(&o);
    return cli_usage_error("config", "unknown command '%s' (validate, show, new, keys)", o.sub);
}

/* --- joule presets ---------------------------------------------------------- */

int cmd_presets(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct cfg_opts o = {0};
    int code = parse_opts("presets", argc, argv, &o);
    if (code != CLI_OK)
        return code;
    if (o.help || o.sub) {
        fprintf(o.help ? stdout : stderr,
                "usage: joule presets [--json]\n\nThe presets of `joule run --preset P`, each "
                "with the keys it sets\n(under a config file's own keys and the flags).\n");
        return o.help ? CLI_OK : CLI_USAGE;
    }
    json_t *all = o.json ? json_array() : NULL;
    const char *name, *summary;
    for (size_t i = 0; (name = joule_preset_name(i, &summary)); i++) {
        struct joule_config *base = NULL, *c = NULL;
        char err[512];
        if (joule_config_new(&base) != JOULE_OK || joule_config_new(&c) != JOULE_OK ||
            joule_config_load(c, NULL, name, err, sizeof(err)) != JOULE_OK) {
            joule_config_free(base);
            joule_config_free(c);
            json_decref(all);
            fprintf(stderr, "joule presets: out of memory\n");
            return CLI_RUNTIME;
        }
        json_t *sets = all ? json_object() : NULL;
        if (!all)
            printf("%s%s\n  %s\n", i ? "\n" : "", name, summary);
        const struct joule_config_key *k;
        for (size_t j = 0; (k = joule_config_key_at(j)); j++) {
            char a[512], b[512];
            joule_config_get(c, k->key, a, sizeof(a));
            joule_config_get(base, k->key, b, sizeof(b));
            if (strcmp(a, b) == 0 || strcmp(k->key, "preset") == 0)
                continue;
            if (sets)
                json_object_set_new(sets, k->key, json_string(a));
            else
                printf("    %-28s %s\n", k->key, a);
        }
        if (all)
            json_array_append_new(
                all, json_pack("{s:s, s:s, s:o}", "name", name, "summary", summary, "sets", sets));
        joule_config_free(base);
        joule_config_free(c);
    }
    if (all)
        cli_print_json(all);
    return CLI_OK;
}

/* --- joule datasets --------------------------------------------------------- */

static const char *const datasets_usage[] = {
    "usage: joule datasets [--json]",
    "       joule datasets show NAME|FILE [--format F] [-n N] [--shuffle] [--seed S]",
    "                                     [--skip-bad] [--json]",
    "",
    "Lists the built-in datasets, or shows the samples a run would take from one",
    "(a built-in or a file: JSONL, JSON, CSV, TXT; formats prompt, doc-ref, alpaca,",
    "dolly, gsm8k, mmlu, sharegpt, txt).  See docs/cli/joule-datasets.md.",
    NULL,
};

static json_t *sample_json(const struct joule_sample *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s->id ? s->id : ""));
    json_object_set_new(o, "line", json_integer(s->line));
    json_object_set_new(o, "prompt", cli_json_text(s->prompt, strlen(s->prompt)));
    if (s->system)
        json_object_set_new(o, "system", cli_json_text(s->system, strlen(s->system)));
    if (s->reference)
        json_object_set_new(o, "reference", cli_json_text(s->reference, strlen(s->reference)));
    if (s->answer)
        json_object_set_new(o, "answer", cli_json_text(s->answer, strlen(s->answer)));
    if (s->n_choices > 0) {
        json_t *ch = json_array();
        for (int32_t k = 0; k < s->n_choices; k++)
            json_array_append_new(ch, cli_json_text(s->choices[k], strlen(s->choices[k])));
        json_object_set_new(o, "choices", ch);
        json_object_set_new(o, "correct", json_integer(s->correct));
    }
    return o;
}

/* A field on one line, cut to width, with line breaks shown as "\n". */
static void print_short(const char *label, const char *s, size_t width)
{
    printf("  %-10s ", label);
    size_t n = 0;
    for (; *s && n < width; s++, n++) {
        if (*s == '\n')
            fputs("\\n", stdout);
        else if ((unsigned char)*s >= 0x20 || *s == '\t')
            putchar(*s == '\t' ? ' ' : *s);
    }
    puts(*s ? "..." : "");
}

/* argv[0] is "show". */
static int datasets_show(int argc, char **argv, bool json)
{
    struct joule_dataset_params p = joule_dataset_default_params();
    p.sample_size = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        unsigned n;
        if (strcmp(a, "--shuffle") == 0) {
            p.shuffle = 1;
        } else if (strcmp(a, "--skip-bad") == 0) {
            p.skip_bad = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--format", &missing))) {
            p.format = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-n", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--sample-size", &missing))) {
            if (!cli_parse_u32("datasets", "-n", v, 0, 1000000000, &n))
                return CLI_USAGE;
            p.sample_size = (int32_t)n;
        } else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            char *end;
            p.seed = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-')
                return cli_usage_error("datasets", "--seed expects a whole number, got '%s'", v);
        } else if (missing) {
            return cli_usage_error("datasets", "%s needs a value", a);
        } else if (strcmp(a, "--json") == 0) {
            continue;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("datasets", "unknown option '%s'", a);
        } else if (!p.source) {
            p.source = a;
        } else {
            return cli_usage_error("datasets", "show takes one dataset, got '%s' too", a);
        }
    }
    if (!p.source)
        return cli_usage_error("datasets", "show needs a built-in name or a file");
    struct joule_dataset *d = NULL;
    char err[1024];
    enum joule_status st = joule_dataset_load(&p, &d, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule datasets: %s\n", err);
        return cli_exit_for(st);
    }
    size_t n = joule_dataset_count(d);
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, sample_json(joule_dataset_get(d, i)));
        cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:o}", "source", joule_dataset_source(d),
                                 "format", joule_dataset_format(d), "samples", (json_int_t)n,
                                 "skipped", (json_int_t)joule_dataset_skipped(d), "sample", a));
    } else {
        printf("%s  format %s  %zu sample%s", joule_dataset_source(d), joule_dataset_format(d), n,
               n == 1 ? "" : "s");
        if (joule_dataset_skipped(d))
            printf("  (%zu malformed skipped)", joule_dataset_skipped(d));
        printf("\n");
        for (size_t i = 0; i < n; i++) {
            const struct joule_sample *s = joule_dataset_get(d, i);
            printf("\n[%s]\n", s->id ? s->id : "");
            if (s->system)
                print_short("system", s->system, 100);
            print_short("prompt", s->prompt, 300);
            if (s->reference)
                print_short("reference", s->reference, 100);
            if (s->answer)
                print_short("answer", s->answer, 100);
        }
    }
    joule_dataset_free(d);
    return CLI_OK;
}

int cmd_datasets(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_lines(stdout, datasets_usage);
            return CLI_OK;
        }
        json |= strcmp(argv[i], "--json") == 0;
    }
    int first = 1;
    while (first < argc && strcmp(argv[first], "--json") == 0)
        first++;
    if (first < argc) {
        if (strcmp(argv[first], "show") != 0)
            return cli_usage_error("datasets", "unknown command '%s' (show)", argv[first]);
        return datasets_show(argc - first, argv + first, json);
    }
    const char *name, *summary;
    json_t *a = json ? json_array() : NULL;
    if (!json)
        printf("%-14s %-8s %7s  %s\n", "name", "format", "samples", "what it is");
    for (size_t i = 0; (name = joule_dataset_builtin(i, &summary)); i++) {
        struct joule_dataset_params p = joule_dataset_default_params();
        struct joule_dataset *d = NULL;
        char err[512];
        p.source = name;
        if (joule_dataset_load(&p, &d, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "joule datasets: %s\n", err);
            json_decref(a);
            return CLI_RUNTIME;
        }
        if (a)
            json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:s}", "name", name, "format",
                                               joule_dataset_format(d), "samples",
                                               (json_int_t)joule_dataset_count(d), "summary",
                                               summary));
        else
            printf("%-14s %-8s %7zu  %s\n", name, joule_dataset_format(d), joule_dataset_count(d),
                   summary);
        joule_dataset_free(d);
    }
    if (a)
        cli_print_json(a);
    else
        printf("\nFiles: joule run -d FILE (JSONL, JSON, CSV, TXT); see `joule datasets "
               "--help`.\n");
    return CLI_OK;
}
