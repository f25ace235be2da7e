#include "chat.h"
#include "joule_int.h"
enum joule_chat_template joule_chat_detect(const char *j) { return j && strstr(j, "<|im_start|>") ? JOULE_CHAT_CHATML : JOULE_CHAT_NONE; }
const char *joule_chat_template_name(enum joule_chat_template t) { return t == JOULE_CHAT_CHATML ? "chatml" : "none"; }
enum joule_status joule_chat_template_from_name(const char *n, enum joule_chat_template *o) { if (strcmp(n, "chatml")) return JOULE_ERR_NOT_FOUND; *o = JOULE_CHAT_CHATML; return JOULE_OK; }
const char *joule_chat_template_names(void) { return "chatml"; }
enum joule_status joule_chat_apply(enum joule_chat_template t, const struct joule_chat_msg *m, size_t n, bool g, char **out, size_t *len, char *err, size_t es)
{ (void)t; (void)m; (void)n; (void)g; (void)err; (void)es; *out = malloc(1); if (!*out) return JOULE_ERR_NOMEM; (*out)[0] = 0; *len = 0; return JOULE_OK; }
