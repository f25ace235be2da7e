/* builtin.h - the `builtin` backend's table (joule's own engine). */
#ifndef JOULE_BACKEND_BUILTIN_H
#define JOULE_BACKEND_BUILTIN_H

#include "backend.h"

extern const struct joule_backend_ops joule_backend_builtin;

#endif
