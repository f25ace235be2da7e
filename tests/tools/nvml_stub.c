/*
 * nvml_stub.c - a stand-in for NVIDIA's libnvidia-ml.so.1, built as
 * libnvidia-ml-stub.so and loaded by the meter through its real dlopen path.
 *
 * It exports the NVML functions joule calls, with NVML's signatures, and is
 * scripted by environment variables read at every nvmlInit_v2:
 *   NVML_STUB_COUNT=N            GPUs (default 1)
 *   NVML_STUB_POWER_MW=P         power of every GPU (default 150000)
 *   NVML_STUB_ENERGY_START_MJ=E  counter at init (default 123456789)
 *   NVML_STUB_NO_ENERGY=1        no energy counter (a pre-Volta GPU)
 *   NVML_STUB_NO_POWER=1         no power reading
 *   NVML_STUB_INIT_FAIL=1        nvmlInit_v2 returns DRIVER_NOT_LOADED
 *   NVML_STUB_MIG=1              MIG mode on
 *   NVML_STUB_RESET_AFTER_S=S    the counter drops to 0 S seconds after init
 *                                and counts up again (a driver reload)
 * The counter is power x time since init (CLOCK_MONOTONIC), in mJ, moving in
 * steps of 100 ms like the real one.
 *
 * Test code, not library code: like the real NVML it keeps its state in
 * globals, and it does not include joule's headers.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STUB_SUCCESS 0
#define STUB_ERROR_UNINITIALIZED 1
#define STUB_ERROR_INVALID_ARGUMENT 2
#define STUB_ERROR_NOT_SUPPORTED 3
#define STUB_ERROR_INSUFFICIENT_SIZE 7
#define STUB_ERROR_DRIVER_NOT_LOADED 9
#define STUB_MAX_GPUS 16
#define STUB_STEP_NS 100000000ull /* the real counter moves about every 100 ms */

typedef int nvmlReturn_t;

/* A device handle points at one of these. */
struct stub_device {
    unsigned int index;
};
typedef struct stub_device *nvmlDevice_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

/* Exported API (declared here so the definitions have prototypes). */
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy);
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power);
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit);
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock);
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization);
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                  unsigned int *pendingMode);

static struct {
    int refs; /* nvmlInit_v2 calls not yet shut down */
    unsigned int count;
    unsigned int power_mw;
    unsigned long long start_mj;
    int no_energy;
    int no_power;
    int mig;
    double reset_after_s; /* < 0: never */
    unsigned long long t_init_ns;
    struct stub_device dev[STUB_MAX_GPUS];
} stub;

/* Nanoseconds on CLOCK_MONOTONIC.  Integer time keeps libm out of the stub. */
static unsigned long long mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static double env_num(const char *name, double dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    double d = strtod(v, &end);
    return *end == '\0' ? d : dflt;
}

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "1") == 0;
}

/* Copy s into buf[length] like NVML: INSUFFICIENT_SIZE when it does not fit. */
static nvmlReturn_t put_string(char *buf, unsigned int length, const char *s)
{
    if (!buf)
        return STUB_ERROR_INVALID_ARGUMENT;
    size_t n = strlen(s);
    if (n + 1 > length)
        return STUB_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, n + 1);
    return STUB_SUCCESS;
}

/* Common checks of a device call. */
static nvmlReturn_t check_dev(nvmlDevice_t device, const void *out)
{
    if (stub.refs <= 0)
        return STUB_ERROR_UNINITIALIZED;
    if (!device || !out || device < stub.dev || device >= stub.dev + stub.count)
        return STUB_ERROR_INVALID_ARGUMENT;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void)
{
    if (env_flag("NVML_STUB_INIT_FAIL"))
        return STUB_ERROR_DRIVER_NOT_LOADED;
    double count = env_num("NVML_STUB_COUNT", 1);
    if (count < 0)
        count = 0;
    if (count > STUB_MAX_GPUS)
        count = STUB_MAX_GPUS;
    stub.count = (unsigned int)count;
    stub.power_mw = (unsigned int)env_num("NVML_STUB_POWER_MW", 150000);
    stub.start_mj = (unsigned long long)env_num("NVML_STUB_ENERGY_START_MJ", 123456789);
    stub.no_energy = env_flag("NVML_STUB_NO_ENERGY");
    stub.no_power = env_flag("NVML_STUB_NO_POWER");
    stub.mig = env_flag("NVML_STUB_MIG");
    stub.reset_after_s = env_num("NVML_STUB_RESET_AFTER_S", -1);
    for (unsigned int i = 0; i < STUB_MAX_GPUS; i++)
        stub.dev[i].index = i;
    stub.t_init_ns = mono_ns();
    stub.refs++;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
    if (stub.refs <= 0)
        return STUB_ERROR_UNINITIALIZED;
    stub.refs--;
    return STUB_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case STUB_SUCCESS:
        return "Success";
    case STUB_ERROR_UNINITIALIZED:
        return "Uninitialized";
    case STUB_ERROR_INVALID_ARGUMENT:
        return "Invalid Argument";
    case STUB_ERROR_NOT_SUPPORTED:
        return "Not Supported";
    case STUB_ERROR_INSUFFICIENT_SIZE:
        return "Insufficient Size";
    case STUB_ERROR_DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    default:
        return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (stub.refs <= 0)
        return STUB_ERROR_UNINITIALIZED;
    return put_string(version, length, "999.99");
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (stub.refs <= 0)
        return STUB_ERROR_UNINITIALIZED;
    if (!count)
        return STUB_ERROR_INVALID_ARGUMENT;
    *count = stub.count;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (stub.refs <= 0)
        return STUB_ERROR_UNINITIALIZED;
    if (!device || index >= stub.count)
        return STUB_ERROR_INVALID_ARGUMENT;
    *device = &stub.dev[index];
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    nvmlReturn_t rc = check_dev(device, name);
    if (rc != STUB_SUCCESS)
        return rc;
    char buf[64];
    snprintf(buf, sizeof(buf), "Stub GPU %u", device->index);
    return put_string(name, length, buf);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    nvmlReturn_t rc = check_dev(device, uuid);
    if (rc != STUB_SUCCESS)
        return rc;
    char buf[64];
    snprintf(buf, sizeof(buf), "GPU-00000000-0000-0000-0000-%012u", device->index);
    return put_string(uuid, length, buf);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    nvmlReturn_t rc = check_dev(device, energy);
    if (rc != STUB_SUCCESS)
        return rc;
    if (stub.no_energy)
        return STUB_ERROR_NOT_SUPPORTED;
    unsigned long long t_ns = mono_ns() - stub.t_init_ns;
    unsigned long long base = stub.start_mj;
    if (stub.reset_after_s >= 0 && (double)t_ns >= stub.reset_after_s * 1e9) {
        /* A driver reload: the counter restarts from 0. */
        t_ns -= (unsigned long long)(stub.reset_after_s * 1e9);
        base = 0;
    }
    unsigned long long steps = t_ns / STUB_STEP_NS;
    /* mW x 0.1 s = mJ / 10 */
    *energy = base + (unsigned long long)stub.power_mw * steps / 10u;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    nvmlReturn_t rc = check_dev(device, power);
    if (rc != STUB_SUCCESS)
        return rc;
    if (stub.no_power)
        return STUB_ERROR_NOT_SUPPORTED;
    *power = stub.power_mw;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    nvmlReturn_t rc = check_dev(device, limit);
    if (rc != STUB_SUCCESS)
        return rc;
    *limit = 300000;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
    nvmlReturn_t rc = check_dev(device, clock);
    if (rc != STUB_SUCCESS)
        return rc;
    switch (type) {
    case 1: /* NVML_CLOCK_SM */
        *clock = 1410;
        return STUB_SUCCESS;
    case 2: /* NVML_CLOCK_MEM */
        *clock = 1215;
        return STUB_SUCCESS;
    default:
        return STUB_ERROR_NOT_SUPPORTED;
    }
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp)
{
    nvmlReturn_t rc = check_dev(device, temp);
    if (rc != STUB_SUCCESS)
        return rc;
    if (sensor != 0) /* NVML_TEMPERATURE_GPU */
        return STUB_ERROR_INVALID_ARGUMENT;
    *temp = 45;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    nvmlReturn_t rc = check_dev(device, memory);
    if (rc != STUB_SUCCESS)
        return rc;
    memory->total = 80ull << 30;
    memory->used = 1ull << 30;
    memory->free = memory->total - memory->used;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    nvmlReturn_t rc = check_dev(device, utilization);
    if (rc != STUB_SUCCESS)
        return rc;
    if (stub.mig) /* as on real GPUs: no utilization in MIG mode */
        return STUB_ERROR_NOT_SUPPORTED;
    utilization->gpu = 37;
    utilization->memory = 12;
    return STUB_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                  unsigned int *pendingMode)
{
    nvmlReturn_t rc = check_dev(device, currentMode);
    if (rc != STUB_SUCCESS)
        return rc;
    if (!pendingMode)
        return STUB_ERROR_INVALID_ARGUMENT;
    *currentMode = *pendingMode = stub.mig ? 1u : 0u;
    return STUB_SUCCESS;
}
