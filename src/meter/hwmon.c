/*
 * hwmon.c - AMD GPUs through Linux hwmon (driver "amdgpu"):
 * ROOT/hwmonN/{name,energy1_input,power1_average,power1_input,power1_cap}.
 *
 * energy1_input (microjoules, cumulative) is a counter: measured.  Without
 * it, power1_average (or power1_input) in microwatts is sampled and
 * integrated.  GPUs are named amdgpu0, amdgpu1 ... in hwmon order.
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "joule_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* amdgpu does not document its sensor update period: 1 ms is assumed, so the
 * short-window correction applies only to windows under 2 ms. */
#define HWMON_UPDATE_S 0.001

struct hwmon_gpu {
    int fd;         /* energy1_input or power file */
    bool counter;   /* fd is energy1_input */
};

struct hwmon_state {
    struct hwmon_gpu gpu[JOULE_MAX_DOMAINS];
    uint32_t n;
};

static int hwmon_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long nx = strtol(x + 5, NULL, 10), ny = strtol(y + 5, NULL, 10);
    return nx < ny ? -1 : nx > ny;
}

static bool read_u64_at(int fd, uint64_t *v)
{
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return meter_parse_u64(buf, v);
}

static int open_in(const char *dir, const char *file)
{
    char path[1024];
    joule_fmt(path, sizeof(path), "%s/%s", dir, file);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Declare one GPU; false when the domain table is full. */
static bool add_gpu(struct meter_open_ctx *ctx, struct hwmon_state *st, const char *dir)
{
    char name[JOULE_NAME_MAX];
    joule_fmt(name, sizeof(name), "amdgpu%u", st->n);
    uint64_t v;
    int fd = open_in(dir, "energy1_input");
    bool counter = fd >= 0 && read_u64_at(fd, &v);
    if (!counter) {
        if (fd >= 0)
            close(fd);
        static const char *const power_files[] = {"power1_average", "power1_input"};
        fd = -1;
        for (size_t i = 0; i < JOULE_ARRAY_LEN(power_files) && fd < 0; i++) {
            fd = open_in(dir, power_files[i]);
            if (fd >= 0 && !read_u64_at(fd, &v)) {
                close(fd);
                fd = -1;
            }
        }
    }
    if (fd < 0) {
        if (!meter_add_unavailable(ctx, name, "hwmon", JOULE_DOMAIN_GPU, 1,
                                   "%s has no readable energy1_input or power1_average", dir))
            return false;
        st->gpu[st->n++].fd = -1;
        return true;
    }
    struct meter_domain_def def;
    meter_domain_def_init(&def, name, "hwmon", JOULE_DOMAIN_GPU,
                          counter ? METER_MODE_COUNTER : METER_MODE_POWER);
    joule_strlcpy(def.info.device, dir, sizeof(def.info.device));
    def.resolution_j = 1e-6;
    def.update_s = HWMON_UPDATE_S;
    if (!counter)
        joule_strlcpy(def.info.note, "no energy counter: power sampled and integrated",
                      sizeof(def.info.note));
    int cap_fd = open_in(dir, "power1_cap");
    if (cap_fd >= 0) {
        if (read_u64_at(cap_fd, &v))
            def.info.power_limit_w = (double)v * 1e-6;
        close(cap_fd);
    }
    if (!meter_add_domain(ctx, &def)) {
        close(fd);
        return false;
    }
    st->gpu[st->n].fd = fd;
    st->gpu[st->n].counter = counter;
    st->n++;
    return true;
}

static enum joule_status hwmon_open(struct meter_source *src, struct meter_open_ctx *ctx)
{
    struct hwmon_state *st = calloc(1, sizeof(*st));
    if (!st)
        return JOULE_ERR_NOMEM;
    src->state = st;
    const char *root = ctx->p->hwmon_root;
    DIR *d = opendir(root);
    char *dirs[256];
    size_t n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < JOULE_ARRAY_LEN(dirs)) {
            if (strncmp(e->d_name, "hwmon", 5) != 0 || e->d_name[5] < '0' || e->d_name[5] > '9')
                continue;
            char path[1024], drv[64];
            joule_fmt(path, sizeof(path), "%s/%s/name", root, e->d_name);
            if (meter_read_file(path, drv, sizeof(drv)) > 0 && strncmp(drv, "amdgpu", 6) == 0 &&
                (drv[6] == '\n' || drv[6] == '\0')) {
                dirs[n] = strdup(e->d_name);
                if (dirs[n])
                    n++;
            }
        }
        closedir(d);
    }
    qsort(dirs, n, sizeof(dirs[0]), hwmon_cmp);
    bool full = false;
    for (size_t i = 0; i < n && !full; i++) {
        char dir[1024];
        joule_fmt(dir, sizeof(dir), "%s/%s", root, dirs[i]);
        full = !add_gpu(ctx, st, dir);
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    if (full) {
        joule_fmt(ctx->err, ctx->err_size, "more than %d energy domains in all",
                  JOULE_MAX_DOMAINS);
        return JOULE_ERR_INVALID;
    }
    if (n == 0 && meter_add_unavailable(ctx, "amdgpu", "hwmon", JOULE_DOMAIN_GPU, 0,
                                        "no AMD GPU (hwmon driver amdgpu) under %s", root))
        st->gpu[st->n++].fd = -1;
    return JOULE_OK;
}

static enum joule_status hwmon_read(struct meter_source *src, uint32_t i, double t_s,
                                    struct meter_sample *out)
{
    (void)t_s;
    struct hwmon_state *st = src->state;
    if (i >= st->n || st->gpu[i].fd < 0)
        return JOULE_ERR_STATE;
    uint64_t v;
    if (!read_u64_at(st->gpu[i].fd, &v)) {
        out->error = "the hwmon file does not hold a number";
        return JOULE_ERR_IO;
    }
    if (st->gpu[i].counter) {
        out->counter_j = (double)v * 1e-6;
        out->has_counter = true;
    } else {
        out->power_w = (double)v * 1e-6;
        out->has_power = true;
    }
    return JOULE_OK;
}

static void hwmon_close(struct meter_source *src)
{
    struct hwmon_state *st = src->state;
    if (!st)
        return;
    for (uint32_t i = 0; i < st->n; i++)
        if (st->gpu[i].fd >= 0)
            close(st->gpu[i].fd);
    free(st);
    src->state = NULL;
}

const struct meter_source_ops joule_meter_hwmon_ops = {
    "hwmon", hwmon_open, hwmon_read, NULL, hwmon_close,
};
