/* TEMPORARY stub until the chat branch lands */
#ifndef JOULE_ENGINE_CHAT_H
#define JOULE_ENGINE_CHAT_H
#include "joule.h"
#include <stdbool.h>
#include <stddef.h>
enum joule_chat_template { JOULE_CHAT_NONE = 0, JOULE_CHAT_CHATML = 1 };
struct joule_chat_msg { const char *role; const char *content; };
enum joule_chat_template joule_chat_detect(const char *jinja);
const char *joule_chat_template_name(enum joule_chat_template t);
enum joule_status joule_chat_template_from_name(const char *name, enum joule_chat_template *out);
const char *joule_chat_template_names(void);
enum joule_status joule_chat_apply(enum joule_chat_template t, const struct joule_chat_msg *m, size_t n, bool add_gen, char **out, size_t *out_len, char *err, size_t err_size);
#endif
