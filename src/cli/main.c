/*
 * main.c - the joule program: global options and the command table.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"

#include <string.h>
#include <unistd.h>

static const struct cli_command commands[] = {
    {"measure", cmd_measure, "energy of a command or of the built-in CPU workload"},
    {"devices", cmd_devices, "energy sources found or missing, with device facts"},
    {"model", cmd_model, "model files: info, tokenize, synth"},
    {"quantize", cmd_quantize, "re-encode a GGUF model as another type"},
    {"generate", cmd_generate, "generate text with the built-in engine, with accounting"},
    {"results", cmd_results, "stored results: list, show, export, compare, rm, evals, tune, push"},
    {"run", cmd_run, "a measured experiment: configs, presets, datasets, cycles"},
    {"sweep", cmd_sweep, "one experiment per point of a grid of config values"},
    {"config", cmd_config, "experiment configs: validate, show, new, keys"},
    {"presets", cmd_presets, "the presets of joule run and what they set"},
    {"datasets", cmd_datasets, "built-in datasets, and the samples a run takes from one"},
    {"eval", cmd_eval, "accuracy of a model: perplexity, multiple choice, exact, numeric, ROUGE"},
    {"compare", cmd_compare, "precisions side by side: energy, speed, memory, accuracy, a pick"},
    {"plot", cmd_plot, "charts of runs, sweeps, comparisons and tuning CSVs as PNG or SVG"},
    {"tune", cmd_tune, "prompt search for accuracy against energy; tune evaluate: one prompt"},
    {"report", cmd_report, "one self-contained HTML report of a run, sweep, compare or tuning"},
    {"advise", cmd_advise, "deployment advice: precision, batch, monthly kWh/$/CO2, pitfalls"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with the energy of each request"},
};

static void print_help(void)
{
    printf("usage: joule [--version] [--help] <command> [options]\n\n"
           "joule measures the energy of LLM inference: joules, with their provenance\n"
           "(measured, sampled, estimated) and an error bound.\n\ncommands:\n");
    for (size_t i = 0; i < JOULE_ARRAY_LEN(commands); i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\n'joule <command> --help' describes a command.  Exit status: 0 success,\n"
           "1 runtime failure, 2 usage or input error; joule measure exits with the\n"
           "command's status.\n");
}

int main(int argc, char **argv)
{
    struct cli cli = {"joule", false, isatty(2) != 0};
    if (argc < 2) {
        print_help();
        return CLI_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--version") == 0 || strcmp(c, "-V") == 0) {
        printf("joule %s\n", joule_version());
        return CLI_OK;
    }
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        print_help();
        return CLI_OK;
    }
    for (size_t i = 0; i < JOULE_ARRAY_LEN(commands); i++)
        if (strcmp(c, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1, &cli);
    fprintf(stderr, "joule: unknown command '%s'\nTry 'joule --help'.\n", c);
    return CLI_USAGE;
}
