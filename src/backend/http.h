/* http.h - the `http` backend's table (an OpenAI-compatible server), and
 * its arrival generator (exposed for the tests). */
#ifndef JOULE_BACKEND_HTTP_H
#define JOULE_BACKEND_HTTP_H

#include "backend.h"

#include <stddef.h>
#include <stdint.h>

extern const struct joule_backend_ops joule_backend_http;

/* Arrival times of n requests of a Poisson process of rate per second
 * (exponential gaps), from 0, reproducible for seed: out[0] = first gap. */
void joule_http_arrivals(double rate, uint64_t seed, size_t n, double *out);

#endif
