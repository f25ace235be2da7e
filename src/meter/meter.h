/*
 * meter.h - the meter module's API for other modules.
 *
 * The meter's functions are public (include/joule.h: joule_meter_*); other
 * modules (experiment, serve, api) use exactly those.  This header exists so
 * that a module includes its dependency by the module's own name.
 */
#ifndef JOULE_METER_H
#define JOULE_METER_H

#include "joule.h"

#endif /* JOULE_METER_H */
