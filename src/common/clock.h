/* clock.h - monotonic time for windows, wall time for records. */
#ifndef JOULE_CLOCK_H
#define JOULE_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC: only differences mean anything. */
uint64_t joule_clock_ns(void);

/* Seconds since the Unix epoch (CLOCK_REALTIME), for timestamps in records. */
double joule_wall_s(void);

/* Sleep for `seconds` (>= 0), resuming after signals. */
void joule_sleep_s(double seconds);

#endif /* JOULE_CLOCK_H */
