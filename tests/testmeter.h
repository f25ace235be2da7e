/* testmeter.h - a virtual clock and small helpers for meter tests. */
#ifndef JOULE_TESTMETER_H
#define JOULE_TESTMETER_H

#include "meter_int.h"

#include <stdio.h>
#include <string.h>

/* Time that moves only when a test moves it (or the meter "sleeps"). */
struct vclock {
    double t;
};

static inline double vclock_now(void *ctx)
{
    return ((struct vclock *)ctx)->t;
}

static inline void vclock_sleep(void *ctx, double s)
{
    ((struct vclock *)ctx)->t += s;
}

/* Open a meter on the virtual clock (p->interval_ms should be 0: tests tick
 * by hand).  NULL, with the reason on stderr, when the open fails. */
static inline struct joule_meter *open_virtual(const struct joule_meter_params *p,
                                               struct vclock *vc)
{
    struct meter_clock clock = {vclock_now, vclock_sleep, vc};
    struct joule_meter *m = NULL;
    if (meter_open_with_clock(p, &clock, &m) != JOULE_OK) {
        fprintf(stderr, "meter open failed: %s\n", m ? joule_meter_errmsg(m) : "no memory");
        joule_meter_close(m);
        return NULL;
    }
    return m;
}

/* The reading of domain `name` in r, or NULL. */
static inline const struct joule_domain_reading *domain_of(const struct joule_reading *r,
                                                           const char *name)
{
    for (uint32_t i = 0; i < r->n_domains; i++)
        if (strcmp(r->domains[i].name, name) == 0)
            return &r->domains[i];
    return NULL;
}

#endif /* JOULE_TESTMETER_H */
