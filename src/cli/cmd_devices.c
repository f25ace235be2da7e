/* cmd_devices.c - `joule devices`: every energy source, found or missing. */
#include "cli.h"
#include "joule_int.h"

#include <math.h>
#include <string.h>

static const char *const usage[] = {
    "usage: joule devices [--json] [--sources LIST] [--cpu-tdp W]",
    "",
    "List every energy domain joule can see (GPUs, CPU packages, DRAM, an",
    "estimated CPU), how its energy would be obtained (measured, sampled,",
    "estimated) or why it cannot be (unavailable, with the fix when one",
    "exists), and the device facts: model, UUID, driver, power limit, clocks,",
    "temperature, memory, utilisation, MIG mode.  See docs/cli/joule-devices.md.",
    NULL,
};

static void print_gpu_facts(const struct joule_domain_info *in)
{
    if (in->uuid[0])
        printf("    uuid %s", in->uuid);
    if (in->index >= 0)
        printf("  index %d", in->index);
    if (in->driver[0])
        printf("  driver %s", in->driver);
    printf("\n   ");
    if (isfinite(in->power_w))
        printf(" power %.1f W", in->power_w);
    if (isfinite(in->power_limit_w))
        printf(" limit %.0f W", in->power_limit_w);
    if (isfinite(in->sm_clock_mhz))
        printf(" sm %.0f MHz", in->sm_clock_mhz);
    if (isfinite(in->mem_clock_mhz))
        printf(" mem %.0f MHz", in->mem_clock_mhz);
    if (isfinite(in->temperature_c))
        printf(" %.0f C", in->temperature_c);
    if (isfinite(in->memory_used_mib))
        printf(" memory %.0f/%.0f MiB", in->memory_used_mib, in->memory_total_mib);
    if (isfinite(in->utilization_pct))
        printf(" util %.0f%%", in->utilization_pct);
    if (in->mig_mode >= 0)
        printf(" MIG %s", in->mig_mode ? "on" : "off");
    printf("\n");
}

int cmd_devices(int argc, char **argv, struct cli *cli)
{
    (void)cli;
    struct joule_meter_params p = joule_meter_default_params();
    p.interval_ms = 0; /* a listing needs no sampler */
    p.timeline_max = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        int r = cli_meter_option("devices", argc, argv, &i, &p);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            for (int k = 0; usage[k]; k++)
                puts(usage[k]);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            return cli_usage_error("devices", "unknown argument '%s'", argv[i]);
        }
    }
    int open_rc = CLI_RUNTIME;
    struct joule_meter *m = cli_meter_open("devices", &p, &open_rc);
    if (!m)
        return open_rc;
    uint32_t n = joule_meter_domain_count(m);
    json_t *arr = json ? json_array() : NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct joule_domain_info in;
        if (joule_meter_domain_info(m, i, &in) != JOULE_OK)
            continue;
        if (json) {
            json_array_append_new(arr, cli_domain_info_json(&in));
            continue;
        }
        printf("%-16s %-8s %-8s %-11s %s\n", in.name, in.source, joule_domain_kind_str(in.kind),
               joule_provenance_str(in.provenance), in.device);
        if (in.kind == JOULE_DOMAIN_GPU && in.provenance != JOULE_PROV_UNAVAILABLE)
            print_gpu_facts(&in);
        /* Counter facts, for hardware counters only (the estimate's
         * "counter" is a model). */
        bool hw = in.provenance == JOULE_PROV_MEASURED;
        if (hw && isfinite(in.counter_range_j))
            printf("    counter wraps at %.6g J", in.counter_range_j);
        if (hw && isfinite(in.update_period_s))
            printf("%s updates every %g ms\n", isfinite(in.counter_range_j) ? "," : "    counter",
                   in.update_period_s * 1000);
        else if (hw && isfinite(in.counter_range_j))
            printf("\n");
        if (in.note[0])
            printf("    %s\n", in.note);
    }
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "version", json_string(joule_version()));
        json_object_set_new(o, "domains", arr);
        cli_print_json(o);
    }
    joule_meter_close(m);
    return CLI_OK;
}
