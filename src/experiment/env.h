/*
 * env.h - what a result records about where it was measured: the machine,
 * the software, the scheduler job, and the meter's sources.
 */
#ifndef JOULE_ENV_H
#define JOULE_ENV_H

#include "joule.h"

/* JSON text (free with joule_free): host, CPU model, logical CPUs, memory,
 * kernel, joule version and commit, the backend's kernels and threads,
 * Slurm job ids when present.  NULL when out of memory. */
char *joule_env_json(const char *backend, const char *isa, int threads);

/* JSON text of the meter's domains (name, source, kind, provenance, note,
 * device, driver, power limit, clocks, temperature, update period). */
char *joule_env_meter_json(struct joule_meter *m);

#endif /* JOULE_ENV_H */
