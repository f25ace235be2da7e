/*
 * chat.c - see chat.h.
 */
#include "chat.h"

#include "alloc.h"
#include "joule_int.h"

static const char *const names[] = {
    [JOULE_CHAT_NONE] = "none",      [JOULE_CHAT_CHATML] = "chatml",
    [JOULE_CHAT_LLAMA2] = "llama-2", [JOULE_CHAT_LLAMA3] = "llama-3",
    [JOULE_CHAT_PHI3] = "phi-3",     [JOULE_CHAT_MISTRAL] = "mistral",
    [JOULE_CHAT_ZEPHYR] = "zephyr",  [JOULE_CHAT_GEMMA] = "gemma",
};

const char *joule_chat_template_name(enum joule_chat_template t)
{
    return (size_t)t < JOULE_ARRAY_LEN(names) ? names[t] : "none";
}

const char *joule_chat_template_names(void)
{
    return "chatml, llama-2, llama-3, phi-3, mistral, zephyr, gemma";
}

enum joule_status joule_chat_template_from_name(const char *name, enum joule_chat_template *out)
{
    for (size_t i = 1; name && i < JOULE_ARRAY_LEN(names); i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (enum joule_chat_template)i;
            return JOULE_OK;
        }
    return JOULE_ERR_NOT_FOUND;
}

enum joule_chat_template joule_chat_detect(const char *j)
{
    if (!j || !*j)
        return JOULE_CHAT_NONE;
    if (strstr(j, "<|im_start|>"))
        return JOULE_CHAT_CHATML;
    if (strstr(j, "<|start_header_id|>"))
        return JOULE_CHAT_LLAMA3;
    if (strstr(j, "<start_of_turn>"))
        return JOULE_CHAT_GEMMA;
    if (strstr(j, "<|user|>")) /* phi-3 closes turns with <|end|>, zephyr with EOS */
        return strstr(j, "<|end|>") ? JOULE_CHAT_PHI3 : JOULE_CHAT_ZEPHYR;
    if (strstr(j, "[INST]"))
        return strstr(j, "<<SYS>>") ? JOULE_CHAT_LLAMA2 : JOULE_CHAT_MISTRAL;
    return JOULE_CHAT_NONE;
}

/* A growing string; a failed allocation sticks (ok false). */
struct sbuf {
    char *s;
    size_t len, cap;
    bool ok;
};

static void put(struct sbuf *b, const char *t)
{
    const size_t n = strlen(t);
    if (!b->ok)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap;
        char *ns;
        if (!joule_grow_cap(b->cap, b->len + n + 1, 256, &cap) || !(ns = realloc(b->s, cap))) {
            b->ok = false;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, t, n + 1);
    b->len += n;
}

enum role { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT };

/* The families with <|role|> or role-name headers. */
static void render_headed(enum joule_chat_template t, struct sbuf *b, enum role r,
                          const char *role, const char *content)
{
    switch (t) {
    case JOULE_CHAT_CHATML:
        put(b, "<|im_start|>"), put(b, role), put(b, "\n"), put(b, content), put(b, "<|im_end|>\n");
        break;
    case JOULE_CHAT_LLAMA3:
        put(b, "<|start_header_id|>"), put(b, role), put(b, "<|end_header_id|>\n\n");
        put(b, content), put(b, "<|eot_id|>");
        break;
    case JOULE_CHAT_PHI3:
    case JOULE_CHAT_ZEPHYR:
        put(b, "<|"), put(b, role), put(b, "|>\n"), put(b, content);
        put(b, t == JOULE_CHAT_PHI3 ? "<|end|>\n" : "</s>\n");
        break;
    case JOULE_CHAT_GEMMA:
        put(b, "<start_of_turn>"), put(b, r == ROLE_ASSISTANT ? "model" : "user"), put(b, "\n");
        put(b, content), put(b, "<end_of_turn>\n");
        break;
    default:
        break;
    }
}

static void generation_prompt(enum joule_chat_template t, struct sbuf *b)
{
    switch (t) {
    case JOULE_CHAT_CHATML: put(b, "<|im_start|>assistant\n"); break;
    case JOULE_CHAT_LLAMA3: put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
    case JOULE_CHAT_PHI3:
    case JOULE_CHAT_ZEPHYR: put(b, "<|assistant|>\n"); break;
    case JOULE_CHAT_GEMMA: put(b, "<start_of_turn>model\n"); break;
    default: break; /* [INST] families: the answer follows [/INST] directly */
    }
}

enum joule_status joule_chat_apply(enum joule_chat_template t, const struct joule_chat_msg *msgs,
                                   size_t n, bool add_generation_prompt, char **out,
                                   size_t *out_len, char *err, size_t err_size)
{
    JOULE_ASSERT(out && out_len);
    *out = NULL;
    *out_len = 0;
    if (t == JOULE_CHAT_NONE || (size_t)t >= JOULE_ARRAY_LEN(names)) {
        joule_fmt(err, err_size, "no chat template to apply");
        return JOULE_ERR_INVALID;
    }
    enum role roles[64];
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content) {
            joule_fmt(err, err_size, "message %zu has no role or no content", i + 1);
            return JOULE_ERR_INVALID;
        }
        enum role rr = strcmp(r, "system") == 0 ? ROLE_SYSTEM
                       : strcmp(r, "user") == 0 ? ROLE_USER
                       : strcmp(r, "assistant") == 0 ? ROLE_ASSISTANT
                                                      : (enum role)-1;
        if ((int)rr < 0) {
            joule_fmt(err, err_size,
                      "message %zu has role '%s' (expected system, user or assistant)", i + 1, r);
            return JOULE_ERR_INVALID;
        }
        if (i < JOULE_ARRAY_LEN(roles))
            roles[i] = rr;
    }
    if (n > JOULE_ARRAY_LEN(roles)) {
        joule_fmt(err, err_size, "%zu messages: at most %zu", n, JOULE_ARRAY_LEN(roles));
        return JOULE_ERR_INVALID;
    }
    struct sbuf b = {NULL, 0, 0, true};
    put(&b, "");
    /* Families without a system role fold it into the next user message. */
    const char *pending_system = NULL;
    bool in_turn = false; /* [INST] families: inside an open [INST] */
    for (size_t i = 0; i < n; i++) {
        const char *c = msgs[i].content;
        const enum role r = roles[i];
        if (t == JOULE_CHAT_LLAMA2 || t == JOULE_CHAT_MISTRAL) {
            if (r == ROLE_ASSISTANT) {
                put(&b, " "), put(&b, c), put(&b, "</s>");
                in_turn = false;
                continue;
            }
            if (!in_turn) {
                put(&b, b.len ? "<s>[INST] " : "[INST] "); /* BOS of later turns */
                in_turn = true;
            }
            if (r == ROLE_SYSTEM) {
                if (t == JOULE_CHAT_LLAMA2)
                    put(&b, "<<SYS>>\n"), put(&b, c), put(&b, "\n<</SYS>>\n\n");
                else
                    put(&b, c), put(&b, "\n\n");
            } else {
                put(&b, c), put(&b, " [/INST]");
            }
            continue;
        }
        if (t == JOULE_CHAT_GEMMA && r == ROLE_SYSTEM) {
            pending_system = c;
            continue;
        }
        if (pending_system && r == ROLE_USER) {
            struct sbuf u = {NULL, 0, 0, true};
            put(&u, pending_system), put(&u, "\n\n"), put(&u, c);
            if (u.ok)
                render_headed(t, &b, r, "user", u.s);
            b.ok &= u.ok;
            free(u.s);
            pending_system = NULL;
            continue;
        }
        render_headed(t, &b, r, msgs[i].role, c);
    }
    if (add_generation_prompt)
        generation_prompt(t, &b);
    if (!b.ok) {
        free(b.s);
        joule_fmt(err, err_size, "out of memory rendering the chat");
        return JOULE_ERR_NOMEM;
    }
    *out = b.s;
    *out_len = b.len;
    return JOULE_OK;
}
