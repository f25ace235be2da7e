/* command.h - the `command` backend's table: a user's command run once per
 * pass inside the measured window. */
#ifndef JOULE_BACKEND_COMMAND_H
#define JOULE_BACKEND_COMMAND_H

#include "backend.h"

extern const struct joule_backend_ops joule_backend_command;

/* Token counts from the last line of out that is a JSON object with
 * tokens_in and tokens_out (non-negative integers).  0 when found, else -1. */
int joule_command_tokens(const char *out, size_t len, int32_t *tokens_in, int32_t *tokens_out);

#endif
