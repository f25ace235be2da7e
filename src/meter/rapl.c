/*
 * rapl.c - CPU package, core, uncore, DRAM and platform energy from Linux
 * powercap (RAPL) sysfs: ROOT/intel-rapl:N[:M]/{name,energy_uj,max_energy_range_uj}.
 *
 * Counters wrap at max_energy_range_uj; the meter folds wraps in.  Zones
 * inside another (core and uncore inside their package, psys around it) are
 * listed but not summed, so nothing is counted twice.  The MMIO interface
 * (intel-rapl-mmio) duplicates the package zone and is skipped.
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "joule_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAPL_UPDATE_S 0.001       /* RAPL counters update about every 1 ms */
#define RAPL_RESOLUTION_J 61e-6   /* 2^-14 J, the common energy status unit */

struct rapl_zone {
    int fd; /* energy_uj, kept open: pread is the cheap read */
};

struct rapl_state {
    struct rapl_zone zone[JOULE_MAX_DOMAINS];
    uint32_t n;
};

/* "intel-rapl:3" -> (3, -1); "intel-rapl:3:1" -> (3, 1); false otherwise. */
static bool parse_zone_dir(const char *name, long *pkg, long *sub)
{
    const char *prefix = "intel-rapl:";
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0)
        return false;
    char *end;
    const char *p = name + plen;
    if (*p < '0' || *p > '9')
        return false;
    *pkg = strtol(p, &end, 10);
    *sub = -1;
    if (*end == ':') {
        p = end + 1;
        if (*p < '0' || *p > '9')
            return false;
        *sub = strtol(p, &end, 10);
    }
    return *end == '\0' && *pkg >= 0 && *pkg < 1024 && *sub < 1024;
}

static int zone_cmp(const void *a, const void *b)
{
    long pa, sa, pb, sb;
    parse_zone_dir(*(char *const *)a, &pa, &sa);
    parse_zone_dir(*(char *const *)b, &pb, &sb);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return sa < sb ? -1 : sa > sb;
}

static enum joule_domain_kind kind_of(const char *zone_name)
{
    if (strncmp(zone_name, "package", 7) == 0)
        return JOULE_DOMAIN_PACKAGE;
    if (strcmp(zone_name, "core") == 0)
        return JOULE_DOMAIN_CORE;
    if (strcmp(zone_name, "uncore") == 0)
        return JOULE_DOMAIN_UNCORE;
    if (strcmp(zone_name, "dram") == 0)
        return JOULE_DOMAIN_DRAM;
    if (strcmp(zone_name, "psys") == 0)
        return JOULE_DOMAIN_PSYS;
    return JOULE_DOMAIN_OTHER;
}

static void read_text(const char *dir, const char *file, char *buf, size_t size)
{
    char path[1024];
    joule_fmt(path, sizeof(path), "%s/%s", dir, file);
    if (meter_read_file(path, buf, size) < 0)
        buf[0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* Keep the zone table parallel to the source's domains: slot i is local
 * domain i (fd -1 for an unavailable one). */
static bool declared(struct rapl_state *st, bool added, int fd)
{
    if (!added || st->n >= JOULE_MAX_DOMAINS) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    st->zone[st->n++].fd = fd;
    return true;
}

/* Declare one zone.  parent_name is NULL for a top-level zone. */
static bool add_zone(struct meter_open_ctx *ctx, struct rapl_state *st, const char *dir,
                     const char *zone_name, const char *parent_name, bool have_package)
{
    char name[JOULE_NAME_MAX];
    if (parent_name)
        joule_fmt(name, sizeof(name), "%s/%s", parent_name, zone_name);
    else
        joule_strlcpy(name, zone_name, sizeof(name));
    enum joule_domain_kind kind = kind_of(zone_name);
    /* Core and uncore are inside their package; psys contains the package. */
    int in_total = 1;
    if (kind == JOULE_DOMAIN_CORE || kind == JOULE_DOMAIN_UNCORE)
        in_total = 0;
    if (kind == JOULE_DOMAIN_PSYS && have_package)
        in_total = 0;

    char path[1024];
    joule_fmt(path, sizeof(path), "%s/energy_uj", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[64];
    uint64_t uj = 0;
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (e == EACCES || e == EPERM)
            return declared(st,
                            meter_add_unavailable(
                                ctx, name, "rapl", kind, in_total,
                                "%s is root-only (Linux >= 5.10): run `sudo chmod o+r %s` "
                                "(or add a udev rule, see docs/methodology.md)",
                                path, path),
                            -1);
        return declared(st,
                        meter_add_unavailable(ctx, name, "rapl", kind, in_total,
                                              "%s unreadable: %s", path, strerror(e)),
                        -1);
    }
    buf[n] = '\0';
    if (!meter_parse_u64(buf, &uj)) {
        close(fd);
        return declared(st,
                        meter_add_unavailable(ctx, name, "rapl", kind, in_total,
                                              "%s does not hold a number", path),
                        -1);
    }
    char range_txt[64];
    uint64_t range_uj = 0;
    read_text(dir, "max_energy_range_uj", range_txt, sizeof(range_txt));
    struct meter_domain_def def;
    meter_domain_def_init(&def, name, "rapl", kind, METER_MODE_COUNTER);
    def.info.in_total = in_total;
    def.resolution_j = RAPL_RESOLUTION_J;
    def.update_s = RAPL_UPDATE_S;
    if (meter_parse_u64(range_txt, &range_uj) && range_uj > 0) {
        def.range_j = (double)range_uj * 1e-6;
    } else {
        joule_fmt(def.info.note, sizeof(def.info.note),
                  "no max_energy_range_uj: a wrap would read as a counter reset");
    }
    joule_strlcpy(def.info.device, dir, sizeof(def.info.device));
    if (kind == JOULE_DOMAIN_CORE || kind == JOULE_DOMAIN_UNCORE)
        joule_fmt(def.info.note, sizeof(def.info.note), "inside %s: not added to the total",
                  parent_name ? parent_name : "the package");
    else if (kind == JOULE_DOMAIN_PSYS && have_package)
        joule_fmt(def.info.note, sizeof(def.info.note),
                  "whole platform, contains the packages: not added to the total");
    return declared(st, st->n < JOULE_MAX_DOMAINS && meter_add_domain(ctx, &def), fd);
}

static enum joule_status rapl_open(struct meter_source *src, struct meter_open_ctx *ctx)
{
    struct rapl_state *st = calloc(1, sizeof(*st));
    if (!st)
        return JOULE_ERR_NOMEM;
    src->state = st;
    const char *root = ctx->p->powercap_root;
    DIR *d = opendir(root);
    if (!d) {
        declared(st,
                 meter_add_unavailable(ctx, "package", "rapl", JOULE_DOMAIN_PACKAGE, 1,
                                       "no powercap at %s (%s): this kernel or machine exposes "
                                       "no RAPL (common in VMs)",
                                       root, strerror(errno)),
                 -1);
        return JOULE_OK;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < JOULE_ARRAY_LEN(names)) {
        long pkg, sub;
        if (parse_zone_dir(e->d_name, &pkg, &sub)) {
            names[n] = strdup(e->d_name);
            if (names[n])
                n++;
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), zone_cmp);

    /* Zone names first: whether any package exists decides psys's role. */
    char zname[256][JOULE_NAME_MAX];
    bool have_package = false;
    for (size_t i = 0; i < n; i++) {
        char dir[1024];
        joule_fmt(dir, sizeof(dir), "%s/%s", root, names[i]);
        read_text(dir, "name", zname[i], JOULE_NAME_MAX);
        if (!zname[i][0])
            joule_strlcpy(zname[i], names[i], JOULE_NAME_MAX);
        if (kind_of(zname[i]) == JOULE_DOMAIN_PACKAGE)
            have_package = true;
    }
    bool full = false;
    for (size_t i = 0; i < n && !full; i++) {
        long pkg, sub;
        parse_zone_dir(names[i], &pkg, &sub);
        const char *parent = NULL;
        if (sub >= 0) {
            for (size_t j = 0; j < n; j++) {
                long pj, sj;
                parse_zone_dir(names[j], &pj, &sj);
                if (pj == pkg && sj < 0)
                    parent = zname[j];
            }
        }
        char dir[1024];
        joule_fmt(dir, sizeof(dir), "%s/%s", root, names[i]);
        full = !add_zone(ctx, st, dir, zname[i], sub >= 0 ? (parent ? parent : "package") : NULL,
                         have_package);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    if (full) {
        joule_fmt(ctx->err, ctx->err_size, "more than %d energy domains in all",
                  JOULE_MAX_DOMAINS);
        return JOULE_ERR_INVALID;
    }
    if (n == 0)
        declared(st,
                 meter_add_unavailable(ctx, "package", "rapl", JOULE_DOMAIN_PACKAGE, 1,
                                       "no RAPL zones under %s: this CPU or VM exposes none",
                                       root),
                 -1);
    return JOULE_OK;
}

static enum joule_status rapl_read(struct meter_source *src, uint32_t d, double t_s,
                                   struct meter_sample *out)
{
    (void)t_s;
    struct rapl_state *st = src->state;
    if (d >= st->n || st->zone[d].fd < 0)
        return JOULE_ERR_STATE;
    char buf[64];
    ssize_t n = pread(st->zone[d].fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        out->error = n < 0 ? strerror(errno) : "energy_uj is empty";
        return JOULE_ERR_IO;
    }
    buf[n] = '\0';
    uint64_t uj;
    if (!meter_parse_u64(buf, &uj)) {
        out->error = "energy_uj does not hold a number";
        return JOULE_ERR_FORMAT;
    }
    out->counter_j = (double)uj * 1e-6;
    out->has_counter = true;
    return JOULE_OK;
}

static void rapl_close(struct meter_source *src)
{
    struct rapl_state *st = src->state;
    if (!st)
        return;
    for (uint32_t i = 0; i < st->n; i++)
        if (st->zone[i].fd >= 0)
            close(st->zone[i].fd);
    free(st);
    src->state = NULL;
}

const struct meter_source_ops joule_meter_rapl_ops = {
    "rapl", rapl_open, rapl_read, NULL, rapl_close,
};
