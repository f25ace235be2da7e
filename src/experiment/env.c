/*
 * env.c - the environment a result was measured in (DESIGN.md §2 rule 8).
 * Read from /proc and uname(2); anything unreadable is left out rather
 * than guessed.
 */
#define _POSIX_C_SOURCE 200809L
#include "env.h"
#include "joule_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The value of the first "key<spaces>: value" line of a /proc file. */
static int proc_field(const char *path, const char *key, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (*p == ' ')
            p++;
        joule_strlcpy(out, p, size);
        out[strcspn(out, "\n")] = '\0';
        found = 1;
    }
    fclose(f);
    return found;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

char *joule_env_json(const char *backend, const char *isa, int threads)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char buf[256];
    if (gethostname(buf, sizeof(buf)) == 0) {
        buf[sizeof(buf) - 1] = '\0';
        set_str(o, "host", buf);
    }
    if (proc_field("/proc/cpuinfo", "model name", buf, sizeof(buf)))
        set_str(o, "cpu", buf);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu > 0)
        json_object_set_new(o, "logical_cpus", json_integer(ncpu));
    if (proc_field("/proc/meminfo", "MemTotal", buf, sizeof(buf))) {
        char *end = NULL;
        double kib = strtod(buf, &end);
        if (end != buf)
            json_object_set_new(o, "memory_gib", json_real(round(kib / 1048576.0 * 100) / 100));
    }
    struct utsname u;
    if (uname(&u) == 0) {
        joule_fmt(buf, sizeof(buf), "%s %s %s", u.sysname, u.release, u.machine);
        set_str(o, "kernel", buf);
    }
    set_str(o, "joule", joule_version());
    set_str(o, "backend", backend);
    set_str(o, "kernels", isa);
    json_object_set_new(o, "threads", json_integer(threads));
    /* Scheduler context, so results gathered on a cluster say where. */
    static const char *const slurm[][2] = {
        {"SLURM_JOB_ID", "slurm_job_id"},
        {"SLURM_ARRAY_JOB_ID", "slurm_array_job_id"},
        {"SLURM_ARRAY_TASK_ID", "slurm_array_task_id"},
        {"SLURMD_NODENAME", "slurm_node"},
    };
    for (size_t i = 0; i < JOULE_ARRAY_LEN(slurm); i++)
        set_str(o, slurm[i][1], getenv(slurm[i][0]));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    /* json_dumps allocates with malloc: joule_free releases it. */
    return text;
}

static void set_num(json_t *o, const char *k, double v)
{
    if (isfinite(v))
        json_object_set_new(o, k, json_real(v));
}

char *joule_env_meter_json(struct joule_meter *m)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    uint32_t n = joule_meter_domain_count(m);
    for (uint32_t i = 0; i < n; i++) {
        struct joule_domain_info d;
        if (joule_meter_domain_info(m, i, &d) != JOULE_OK)
            continue;
        json_t *o = json_object();
        if (!o)
            break;
        set_str(o, "name", d.name);
        set_str(o, "source", d.source);
        set_str(o, "kind", joule_domain_kind_str(d.kind));
        set_str(o, "provenance", joule_provenance_str(d.provenance));
        set_str(o, "note", d.note);
        set_str(o, "device", d.device);
        set_str(o, "uuid", d.uuid);
        set_str(o, "driver", d.driver);
        json_object_set_new(o, "in_total", json_boolean(d.in_total));
        set_num(o, "power_limit_w", d.power_limit_w);
        set_num(o, "sm_clock_mhz", d.sm_clock_mhz);
        set_num(o, "mem_clock_mhz", d.mem_clock_mhz);
        set_num(o, "temperature_c", d.temperature_c);
        set_num(o, "memory_total_mib", d.memory_total_mib);
        set_num(o, "update_period_s", d.update_period_s);
        json_array_append_new(a, o);
    }
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}
