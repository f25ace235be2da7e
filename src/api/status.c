/* status.c - fixed strings for the public enums, and the version. */
#include "joule.h"
#include "joule_int.h"

#ifndef JOULE_GIT_COMMIT
#define JOULE_GIT_COMMIT "unknown"
#endif

#define JOULE_STR2(x) #x
#define JOULE_STR(x) JOULE_STR2(x)

const char *joule_version(void)
{
    return JOULE_STR(JOULE_VERSION_MAJOR) "." JOULE_STR(JOULE_VERSION_MINOR) "." JOULE_STR(
        JOULE_VERSION_PATCH) " (commit " JOULE_GIT_COMMIT ")";
}

const char *joule_status_str(enum joule_status s)
{
    switch (s) {
    case JOULE_OK: return "ok";
    case JOULE_ERR_INVALID: return "invalid argument";
    case JOULE_ERR_NOMEM: return "out of memory";
    case JOULE_ERR_IO: return "input/output error";
    case JOULE_ERR_FORMAT: return "malformed input";
    case JOULE_ERR_UNSUPPORTED: return "not supported";
    case JOULE_ERR_NOT_FOUND: return "not found";
    case JOULE_ERR_STATE: return "call out of order";
    case JOULE_ERR_THREAD: return "thread error";
    }
    return "unknown status";
}

const char *joule_provenance_str(enum joule_provenance p)
{
    switch (p) {
    case JOULE_PROV_MEASURED: return "measured";
    case JOULE_PROV_SAMPLED: return "sampled";
    case JOULE_PROV_ESTIMATED: return "estimated";
    case JOULE_PROV_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

const char *joule_domain_kind_str(enum joule_domain_kind k)
{
    switch (k) {
    case JOULE_DOMAIN_GPU: return "gpu";
    case JOULE_DOMAIN_PACKAGE: return "package";
    case JOULE_DOMAIN_CORE: return "core";
    case JOULE_DOMAIN_UNCORE: return "uncore";
    case JOULE_DOMAIN_DRAM: return "dram";
    case JOULE_DOMAIN_PSYS: return "psys";
    case JOULE_DOMAIN_CPU: return "cpu";
    case JOULE_DOMAIN_OTHER: return "other";
    }
    return "unknown";
}

const char *joule_flag_str(uint32_t flag)
{
    static const char *const names[] = {
        "short-window", "negative-net", "meter-gap", "counter-reset",
        "coarse-sampling", "estimated-only", "mixed-provenance", "partial",
    };
    for (unsigned i = 0; i < JOULE_ARRAY_LEN(names); i++)
        if (flag & (1u << i))
            return names[i];
    return "";
}
