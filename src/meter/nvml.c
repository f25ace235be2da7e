/*
 * nvml.c - NVIDIA GPU energy through NVML, loaded at run time with dlopen.
 *
 * NVML is never linked at build time: the binary runs on machines without an
 * NVIDIA driver, and tests point ctx->p->nvml_lib at a stub.  Every function
 * is resolved through one table; the five that everything needs are required,
 * the rest are optional and a missing one reads as NVML_ERROR_NOT_SUPPORTED.
 *
 * Per GPU (in CUDA_VISIBLE_DEVICES order when that is set):
 *  - Volta and newer: the total-energy counter (mJ, 64 bits, never wraps; a
 *    decrease is a driver reload, which the meter flags as a reset).
 *  - Older GPUs: instantaneous power, sampled and integrated by the meter.
 *  - Neither: an unavailable domain with NVML's reasons.
 * A missing driver is not a gap in the total (in_total 0); a driver that is
 * present but fails is (in_total 1).
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "joule_int.h"

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The few NVML definitions we use, from NVIDIA's documented ABI: no NVIDIA
 * header at build time.  Enum parameters are passed as int (same ABI). */
#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_TEMPERATURE_GPU 0
#define NVML_DEVICE_MIG_ENABLE 1
#define NVML_NAME_BUFFER 96   /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_UUID_BUFFER 96   /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_DRIVER_BUFFER 80 /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */

#define NVML_UPDATE_S 0.1      /* the energy counter moves about every 100 ms */
#define NVML_RESOLUTION_J 1e-3 /* the counter counts millijoules */

struct nvml_device; /* nvmlDevice_t: opaque, never defined */

struct nvml_memory { /* nvmlMemory_t, bytes */
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};

struct nvml_utilization { /* nvmlUtilization_t, percent */
    unsigned int gpu;
    unsigned int memory;
};

/* Every function we call.  Optional ones stay NULL when the library lacks
 * them; call those through NVML_OPT. */
struct nvml_api {
    int (*init)(void);
    int (*shutdown)(void);
    const char *(*error_string)(int rc);
    int (*device_count)(unsigned int *count);
    int (*device_by_index)(unsigned int index, struct nvml_device **dev);
    int (*driver_version)(char *buf, unsigned int size);
    int (*device_name)(struct nvml_device *dev, char *buf, unsigned int size);
    int (*device_uuid)(struct nvml_device *dev, char *buf, unsigned int size);
    int (*total_energy_mj)(struct nvml_device *dev, unsigned long long *mj);
    int (*power_mw)(struct nvml_device *dev, unsigned int *mw);
    int (*power_limit_mw)(struct nvml_device *dev, unsigned int *mw);
    int (*clock_mhz)(struct nvml_device *dev, int clock_type, unsigned int *mhz);
    int (*temperature_c)(struct nvml_device *dev, int sensor, unsigned int *c);
    int (*memory)(struct nvml_device *dev, struct nvml_memory *mem);
    int (*utilization)(struct nvml_device *dev, struct nvml_utilization *u);
    int (*mig_mode)(struct nvml_device *dev, unsigned int *current, unsigned int *pending);
};

/* Call an optional function: a symbol the library lacks is "not supported". */
#define NVML_OPT(api, fn, ...) ((api)->fn ? (api)->fn(__VA_ARGS__) : NVML_ERROR_NOT_SUPPORTED)

/* dlsym returns void *; POSIX guarantees it converts to a function pointer.
 * We store it by memcpy into the slot at `off`, which ISO C allows, so the
 * sizes must agree. */
_Static_assert(sizeof(void *) == sizeof(int (*)(void)),
               "dlsym results are stored into function pointer slots");

static const struct nvml_sym {
    const char *name;
    size_t off;
    bool required;
} nvml_syms[] = {
    {"nvmlInit_v2", offsetof(struct nvml_api, init), true},
    {"nvmlShutdown", offsetof(struct nvml_api, shutdown), true},
    {"nvmlErrorString", offsetof(struct nvml_api, error_string), true},
    {"nvmlDeviceGetCount_v2", offsetof(struct nvml_api, device_count), true},
    {"nvmlDeviceGetHandleByIndex_v2", offsetof(struct nvml_api, device_by_index), true},
    {"nvmlSystemGetDriverVersion", offsetof(struct nvml_api, driver_version), false},
    {"nvmlDeviceGetName", offsetof(struct nvml_api, device_name), false},
    {"nvmlDeviceGetUUID", offsetof(struct nvml_api, device_uuid), false},
    {"nvmlDeviceGetTotalEnergyConsumption", offsetof(struct nvml_api, total_energy_mj), false},
    {"nvmlDeviceGetPowerUsage", offsetof(struct nvml_api, power_mw), false},
    {"nvmlDeviceGetEnforcedPowerLimit", offsetof(struct nvml_api, power_limit_mw), false},
    {"nvmlDeviceGetClockInfo", offsetof(struct nvml_api, clock_mhz), false},
    {"nvmlDeviceGetTemperature", offsetof(struct nvml_api, temperature_c), false},
    {"nvmlDeviceGetMemoryInfo", offsetof(struct nvml_api, memory), false},
    {"nvmlDeviceGetUtilizationRates", offsetof(struct nvml_api, utilization), false},
    {"nvmlDeviceGetMigMode", offsetof(struct nvml_api, mig_mode), false},
};

/* One local domain.  dev is NULL for an unavailable one. */
struct nvml_gpu {
    struct nvml_device *dev;
    enum meter_mode mode;
    bool power_ok; /* nvmlDeviceGetPowerUsage worked at open */
};

struct nvml_state {
    void *lib;        /* dlopen handle, NULL when not loaded */
    bool initialized; /* nvmlInit succeeded: nvmlShutdown at close */
    struct nvml_api api;
    struct nvml_gpu gpu[JOULE_MAX_DOMAINS]; /* parallel to the source's domains */
    uint32_t n;
};

/* What CUDA_VISIBLE_DEVICES selects. */
struct nvml_visible {
    unsigned int index[JOULE_MAX_DOMAINS]; /* NVML indices, in visible order */
    uint32_t n;
    char why[160]; /* why parsing stopped early, "" when it did not */
};

static const char *nvml_errstr(const struct nvml_api *api, int rc)
{
    const char *s = api->error_string ? api->error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

/* Append text to a note with "; " between parts (truncates, never overflows). */
static void note_append(char *note, size_t size, const char *text)
{
    size_t len = strlen(note);
    if (len > 0 && len + 2 < size) {
        note[len++] = ';';
        note[len++] = ' ';
        note[len] = '\0';
    }
    if (len + 1 < size)
        joule_strlcpy(note + len, text, size - len);
}

/* Fill api from lib.  Returns NULL, or the name of a missing required symbol. */
static const char *resolve_symbols(void *lib, struct nvml_api *api)
{
    memset(api, 0, sizeof(*api));
    for (size_t i = 0; i < JOULE_ARRAY_LEN(nvml_syms); i++) {
        const struct nvml_sym *s = &nvml_syms[i];
        void *p = dlsym(lib, s->name);
        if (!p) {
            if (s->required)
                return s->name;
            continue;
        }
        memcpy((char *)api + s->off, &p, sizeof(p));
    }
    return NULL;
}

/* Record a declared domain in the parallel table; fail when the meter's table
 * is full (dropping a GPU silently would undercount the total). */
static enum joule_status declared(struct meter_open_ctx *ctx, struct nvml_state *st, bool added,
                                  struct nvml_device *dev, enum meter_mode mode, bool power_ok)
{
    if (!added || st->n >= JOULE_MAX_DOMAINS) {
        joule_fmt(ctx->err, ctx->err_size,
                  "too many energy domains (at most %d): hide GPUs with CUDA_VISIBLE_DEVICES",
                  JOULE_MAX_DOMAINS);
        return JOULE_ERR_INVALID;
    }
    struct nvml_gpu *g = &st->gpu[st->n++];
    g->dev = dev;
    g->mode = mode;
    g->power_ok = power_ok;
    return JOULE_OK;
}

/* Declare the one domain "gpu" that stands for the whole source. */
static enum joule_status source_unavailable(struct meter_open_ctx *ctx, struct nvml_state *st,
                                            int in_total, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum joule_status source_unavailable(struct meter_open_ctx *ctx, struct nvml_state *st,
                                            int in_total, const char *fmt, ...)
{
    char note[JOULE_NOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(note, sizeof(note), fmt, ap);
    va_end(ap);
    bool added = meter_add_unavailable(ctx, "gpu", "nvml", JOULE_DOMAIN_GPU, in_total, "%s", note);
    return declared(ctx, st, added, NULL, METER_MODE_NONE, false);
}

/* ---------------------------------------------------------------------------
 * CUDA_VISIBLE_DEVICES
 */

/* NVML index of the one GPU whose UUID starts with prefix; false when none
 * or several match (CUDA accepts any unique prefix). */
static bool find_by_uuid(const struct nvml_state *st, unsigned int count, const char *prefix,
                         unsigned int *index, bool *ambiguous)
{
    size_t plen = strlen(prefix);
    uint32_t matches = 0;
    *ambiguous = false;
    for (unsigned int i = 0; i < count; i++) {
        struct nvml_device *dev = NULL;
        char uuid[NVML_UUID_BUFFER];
        if (st->api.device_by_index(i, &dev) != NVML_SUCCESS ||
            NVML_OPT(&st->api, device_uuid, dev, uuid, sizeof(uuid)) != NVML_SUCCESS)
            continue;
        uuid[sizeof(uuid) - 1] = '\0';
        if (strncmp(uuid, prefix, plen) == 0) {
            *index = i;
            matches++;
        }
    }
    *ambiguous = matches > 1;
    return matches == 1;
}

/* One entry (spaces trimmed) to an NVML index; false with a reason when it
 * is not a valid, present, new GPU. */
static bool parse_entry(const struct nvml_state *st, unsigned int count, const char *entry,
                        const struct nvml_visible *vis, unsigned int *index, char *why,
                        size_t why_size)
{
    bool ambiguous = false;
    if (entry[0] == '\0') {
        joule_fmt(why, why_size, "an empty entry");
        return false;
    }
    if (strncmp(entry, "MIG-", 4) == 0) {
        joule_fmt(why, why_size,
                  "'%s' is a MIG instance, which joule does not map to its GPU (name the GPU "
                  "by index or GPU- UUID)",
                  entry);
        return false;
    }
    if (strncmp(entry, "GPU-", 4) == 0) {
        if (!find_by_uuid(st, count, entry, index, &ambiguous)) {
            joule_fmt(why, why_size, "'%s' %s", entry,
                      ambiguous ? "matches several GPUs" : "matches no GPU UUID");
            return false;
        }
    } else {
        if (strspn(entry, "0123456789") != strlen(entry)) {
            joule_fmt(why, why_size, "'%s' is neither an index nor a GPU- UUID", entry);
            return false;
        }
        char *end;
        unsigned long v = strtoul(entry, &end, 10);
        if (*end != '\0' || v >= count) {
            joule_fmt(why, why_size, "no GPU %s (NVML sees %u)", entry, count);
            return false;
        }
        *index = (unsigned int)v;
    }
    for (uint32_t k = 0; k < vis->n; k++) {
        if (vis->index[k] == *index) {
            joule_fmt(why, why_size, "'%s' names GPU %u a second time", entry, *index);
            return false;
        }
    }
    return true;
}

/*
 * Parse CUDA_VISIBLE_DEVICES as CUDA does: a comma list of indices or GPU
 * UUID prefixes, read up to the first invalid or absent entry.  Indices are
 * NVML's (PCI bus order), i.e. CUDA's with CUDA_DEVICE_ORDER=PCI_BUS_ID.
 */
static void parse_visible(const struct nvml_state *st, unsigned int count, const char *cvd,
                          struct nvml_visible *vis)
{
    memset(vis, 0, sizeof(*vis));
    const char *p = cvd;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *b = p, *e = p + len;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
            e--;
        char entry[NVML_UUID_BUFFER];
        char why[sizeof(vis->why) - 48];
        unsigned int index = 0;
        if (b == e && p[len] == '\0' && p != cvd)
            return; /* a trailing comma */
        if (vis->n == JOULE_MAX_DOMAINS) {
            joule_fmt(why, sizeof(why), "GPU %d: a meter holds at most %d domains",
                      JOULE_MAX_DOMAINS, JOULE_MAX_DOMAINS);
        } else if ((size_t)(e - b) >= sizeof(entry)) {
            joule_fmt(why, sizeof(why), "an entry of %zu bytes", (size_t)(e - b));
        } else {
            memcpy(entry, b, (size_t)(e - b));
            entry[e - b] = '\0';
            if (parse_entry(st, count, entry, vis, &index, why, sizeof(why))) {
                vis->index[vis->n++] = index;
                if (p[len] == '\0')
                    return;
                p += len + 1;
                continue;
            }
        }
        /* An empty variable hides everything without being a mistake. */
        if (cvd[0] != '\0')
            joule_fmt(vis->why, sizeof(vis->why), "CUDA_VISIBLE_DEVICES stops at %s", why);
        return;
    }
}

/* ---------------------------------------------------------------------------
 * Open
 */

/* Static facts of a GPU into info. */
static void describe_static(const struct nvml_api *api, struct nvml_device *dev,
                            struct joule_domain_info *info)
{
    char buf[NVML_NAME_BUFFER > NVML_UUID_BUFFER ? NVML_NAME_BUFFER : NVML_UUID_BUFFER];
    if (NVML_OPT(api, device_name, dev, buf, sizeof(buf)) == NVML_SUCCESS) {
        buf[sizeof(buf) - 1] = '\0';
        joule_strlcpy(info->device, buf, sizeof(info->device));
    }
    if (NVML_OPT(api, device_uuid, dev, buf, sizeof(buf)) == NVML_SUCCESS) {
        buf[sizeof(buf) - 1] = '\0';
        joule_strlcpy(info->uuid, buf, sizeof(info->uuid));
    }
    unsigned int mw = 0;
    if (NVML_OPT(api, power_limit_mw, dev, &mw) == NVML_SUCCESS)
        info->power_limit_w = mw / 1000.0;
    /* A GPU without MIG support (NOT_SUPPORTED, or a driver older than MIG)
     * certainly runs without it: 0, not unknown. */
    unsigned int cur = 0, pending = 0;
    int rc = NVML_OPT(api, mig_mode, dev, &cur, &pending);
    if (rc == NVML_SUCCESS)
        info->mig_mode = cur == NVML_DEVICE_MIG_ENABLE ? 1 : 0;
    else if (rc == NVML_ERROR_NOT_SUPPORTED)
        info->mig_mode = 0;
}

/* Declare the GPU at NVML index `index` as domain gpu<vis_pos>. */
static enum joule_status add_gpu(struct meter_open_ctx *ctx, struct nvml_state *st,
                                 uint32_t vis_pos, unsigned int index, const char *driver,
                                 const char *cvd_why)
{
    const struct nvml_api *api = &st->api;
    char name[JOULE_NAME_MAX];
    joule_fmt(name, sizeof(name), "gpu%u", (unsigned)vis_pos);
    struct meter_domain_def def;

    struct nvml_device *dev = NULL;
    int rc = api->device_by_index(index, &dev);
    if (rc != NVML_SUCCESS || !dev) {
        meter_domain_def_init(&def, name, "nvml", JOULE_DOMAIN_GPU, METER_MODE_NONE);
        def.info.index = (int32_t)index;
        joule_strlcpy(def.info.driver, driver, sizeof(def.info.driver));
        joule_fmt(def.info.note, sizeof(def.info.note),
                  "nvmlDeviceGetHandleByIndex(%u) failed: %s (check nvidia-smi)", index,
                  nvml_errstr(api, rc));
        return declared(ctx, st, meter_add_domain(ctx, &def), NULL, METER_MODE_NONE, false);
    }

    unsigned long long mj = 0;
    unsigned int mw = 0;
    int rc_e = NVML_OPT(api, total_energy_mj, dev, &mj);
    int rc_p = NVML_OPT(api, power_mw, dev, &mw);
    enum meter_mode mode = rc_e == NVML_SUCCESS   ? METER_MODE_COUNTER
                           : rc_p == NVML_SUCCESS ? METER_MODE_POWER
                                                  : METER_MODE_NONE;
    meter_domain_def_init(&def, name, "nvml", JOULE_DOMAIN_GPU, mode);
    struct joule_domain_info *info = &def.info;
    info->index = (int32_t)index;
    joule_strlcpy(info->driver, driver, sizeof(info->driver));
    describe_static(api, dev, info);
    if (rc_p == NVML_SUCCESS)
        info->power_w = mw / 1000.0;

    if (mode == METER_MODE_COUNTER) {
        /* 64-bit mJ: never wraps in practice; a decrease is a driver reload. */
        def.resolution_j = NVML_RESOLUTION_J;
        def.range_j = 0;
        def.update_s = NVML_UPDATE_S;
        info->update_period_s = NVML_UPDATE_S;
    } else if (mode == METER_MODE_POWER) {
        joule_strlcpy(info->note, "no energy counter (pre-Volta GPU): power sampled and integrated",
                      sizeof(info->note));
    } else {
        joule_fmt(info->note, sizeof(info->note),
                  "neither an energy counter (%s) nor power (%s) is readable on this GPU",
                  nvml_errstr(api, rc_e), nvml_errstr(api, rc_p));
    }
    if (info->mig_mode == 1)
        note_append(info->note, sizeof(info->note),
                    "MIG enabled: energy is whole-GPU, not per MIG instance");
    if (cvd_why[0])
        note_append(info->note, sizeof(info->note), cvd_why);
    return declared(ctx, st, meter_add_domain(ctx, &def), mode == METER_MODE_NONE ? NULL : dev,
                    mode, rc_p == NVML_SUCCESS);
}

/* Load the library and start NVML.  false after declaring why not. */
static bool load(struct meter_open_ctx *ctx, struct nvml_state *st, enum joule_status *s)
{
    const char *path = ctx->p->nvml_lib;
    st->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!st->lib) {
        const char *e = dlerror();
        *s = source_unavailable(ctx, st, 0, "no NVIDIA driver: %s not loadable (%s)", path,
                                e ? e : "unknown error");
        return false;
    }
    const char *missing = resolve_symbols(st->lib, &st->api);
    if (missing) {
        /* Unload first, then forget the handle (never the other way round). */
        dlclose(st->lib);
        st->lib = NULL;
        memset(&st->api, 0, sizeof(st->api));
        *s = source_unavailable(ctx, st, 1,
                                "%s is not a usable NVML: it lacks %s (update the NVIDIA driver)",
                                path, missing);
        return false;
    }
    int rc = st->api.init();
    if (rc != NVML_SUCCESS) {
        /* The text lives in the library: format it before unloading. */
        *s = source_unavailable(ctx, st, 1,
                                "nvmlInit failed: %s (NVML error %d); is the NVIDIA driver "
                                "loaded? check with nvidia-smi",
                                nvml_errstr(&st->api, rc), rc);
        dlclose(st->lib);
        st->lib = NULL;
        memset(&st->api, 0, sizeof(st->api));
        return false;
    }
    st->initialized = true;
    return true;
}

static enum joule_status nvml_open(struct meter_source *src, struct meter_open_ctx *ctx)
{
    struct nvml_state *st = calloc(1, sizeof(*st));
    if (!st)
        return JOULE_ERR_NOMEM;
    src->state = st;
    enum joule_status s = JOULE_OK;
    if (!load(ctx, st, &s))
        return s;

    const struct nvml_api *api = &st->api;
    unsigned int count = 0;
    int rc = api->device_count(&count);
    if (rc != NVML_SUCCESS)
        return source_unavailable(ctx, st, 1, "nvmlDeviceGetCount failed: %s",
                                  nvml_errstr(api, rc));
    if (count == 0)
        return source_unavailable(ctx, st, 0, "NVML found no GPU");

    char driver[NVML_DRIVER_BUFFER] = "";
    if (NVML_OPT(api, driver_version, driver, sizeof(driver)) != NVML_SUCCESS)
        driver[0] = '\0';
    driver[sizeof(driver) - 1] = '\0';

    struct nvml_visible vis;
    /* The caller's list (`gpus:` of an experiment) wins over the
     * environment: runs of one process may measure different GPUs. */
    const char *cvd = ctx->p->gpus && ctx->p->gpus[0] ? ctx->p->gpus
                                                       : getenv("CUDA_VISIBLE_DEVICES");
    if (cvd) {
        parse_visible(st, count, cvd, &vis);
    } else {
        memset(&vis, 0, sizeof(vis));
        for (unsigned int i = 0; i < count && vis.n < JOULE_MAX_DOMAINS; i++)
            vis.index[vis.n++] = i;
        if (count > JOULE_MAX_DOMAINS)
            joule_fmt(vis.why, sizeof(vis.why),
                      "NVML sees %u GPUs, a meter holds at most %d: select some with "
                      "CUDA_VISIBLE_DEVICES",
                      count, JOULE_MAX_DOMAINS);
    }
    if (vis.n == 0)
        return source_unavailable(ctx, st, 0, "CUDA_VISIBLE_DEVICES hides every GPU%s%s",
                                  vis.why[0] ? ": " : "", vis.why);
    for (uint32_t k = 0; k < vis.n; k++) {
        s = add_gpu(ctx, st, k, vis.index[k], driver, vis.why);
        if (s != JOULE_OK)
            return s;
    }
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * Read, describe, close
 */

static const struct nvml_gpu *gpu_of(const struct meter_source *src, uint32_t d)
{
    const struct nvml_state *st = src->state;
    if (!st || d >= st->n || !st->gpu[d].dev || st->gpu[d].mode == METER_MODE_NONE)
        return NULL;
    return &st->gpu[d];
}

static enum joule_status nvml_read(struct meter_source *src, uint32_t d, double t_s,
                                   struct meter_sample *out)
{
    (void)t_s;
    const struct nvml_gpu *g = gpu_of(src, d);
    if (!g)
        return JOULE_ERR_STATE;
    const struct nvml_api *api = &((const struct nvml_state *)src->state)->api;
    if (g->mode == METER_MODE_COUNTER) {
        unsigned long long mj = 0;
        int rc = NVML_OPT(api, total_energy_mj, g->dev, &mj);
        if (rc != NVML_SUCCESS) {
            out->error = nvml_errstr(api, rc);
            return JOULE_ERR_IO;
        }
        out->counter_j = (double)mj * 1e-3;
        out->has_counter = true;
    }
    if (g->power_ok) {
        unsigned int mw = 0;
        int rc = NVML_OPT(api, power_mw, g->dev, &mw);
        if (rc == NVML_SUCCESS) {
            out->power_w = mw / 1000.0;
            out->has_power = true;
        } else if (g->mode == METER_MODE_POWER) {
            out->error = nvml_errstr(api, rc);
            return JOULE_ERR_IO;
        }
        /* With a counter, power is only a help (short windows): go on. */
    }
    return JOULE_OK;
}

/* unsigned NVML value, or NAN when the call fails. */
static double val_or_nan(int rc, double v)
{
    return rc == NVML_SUCCESS ? v : NAN;
}

static void nvml_describe(struct meter_source *src, uint32_t d, struct joule_domain_info *info)
{
    const struct nvml_gpu *g = gpu_of(src, d);
    if (!g)
        return;
    const struct nvml_api *api = &((const struct nvml_state *)src->state)->api;
    struct nvml_device *dev = g->dev;
    unsigned int v = 0;
    int rc = NVML_OPT(api, power_mw, dev, &v);
    info->power_w = val_or_nan(rc, v / 1000.0);
    rc = NVML_OPT(api, power_limit_mw, dev, &v);
    info->power_limit_w = val_or_nan(rc, v / 1000.0);
    rc = NVML_OPT(api, clock_mhz, dev, NVML_CLOCK_SM, &v);
    info->sm_clock_mhz = val_or_nan(rc, v);
    rc = NVML_OPT(api, clock_mhz, dev, NVML_CLOCK_MEM, &v);
    info->mem_clock_mhz = val_or_nan(rc, v);
    rc = NVML_OPT(api, temperature_c, dev, NVML_TEMPERATURE_GPU, &v);
    info->temperature_c = val_or_nan(rc, v);
    struct nvml_memory mem = {0, 0, 0};
    rc = NVML_OPT(api, memory, dev, &mem);
    info->memory_used_mib = val_or_nan(rc, (double)mem.used / 1048576.0);
    info->memory_total_mib = val_or_nan(rc, (double)mem.total / 1048576.0);
    struct nvml_utilization u = {0, 0};
    rc = NVML_OPT(api, utilization, dev, &u);
    info->utilization_pct = val_or_nan(rc, u.gpu);
}

static void nvml_close(struct meter_source *src)
{
    struct nvml_state *st = src->state;
    if (!st)
        return;
    /* Nothing to do about a failing shutdown or unload at close: the
     * process keeps a mapping at worst. */
    if (st->initialized && st->api.shutdown)
        (void)st->api.shutdown();
    if (st->lib)
        (void)dlclose(st->lib);
    free(st);
    src->state = NULL;
}

const struct meter_source_ops joule_meter_nvml_ops = {
    "nvml", nvml_open, nvml_read, nvml_describe, nvml_close,
};
