/*
 * chat.h - chat templates: a conversation rendered as the text a chat model
 * was trained on, for the families joule recognises.
 *
 * GGUF files carry the model's template as Jinja (tokenizer.chat_template).
 * joule does not run Jinja: it recognises the family by marker strings and
 * renders it with its own code.  Families and their markers:
 *   chatml   <|im_start|>role\ncontent<|im_end|>\n          (Qwen, SmolLM, Yi ...)
 *   llama-2  [INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer</s>
 *   llama-3  <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
 *   phi-3    <|role|>\ncontent<|end|>\n
 *   mistral  [INST] user [/INST] answer</s>                (no <<SYS>>)
 *   zephyr   <|role|>\ncontent</s>\n
 *   gemma    <start_of_turn>role\ncontent<end_of_turn>\n  (assistant is "model")
 * The rendered text starts without BOS: the tokenizer adds it when the
 * vocabulary says so (add_bos), as llama.cpp's templates leave it to it;
 * special-token text in it ("<|im_start|>") must be tokenized with
 * parse_special.  See docs/internals/sampling-and-chat.md.
 */
#ifndef JOULE_ENGINE_CHAT_H
#define JOULE_ENGINE_CHAT_H

#include "joule.h"

#include <stdbool.h>
#include <stddef.h>

enum joule_chat_template {
    JOULE_CHAT_NONE = 0,
    JOULE_CHAT_CHATML,
    JOULE_CHAT_LLAMA2,
    JOULE_CHAT_LLAMA3,
    JOULE_CHAT_PHI3,
    JOULE_CHAT_MISTRAL,
    JOULE_CHAT_ZEPHYR,
    JOULE_CHAT_GEMMA,
};

struct joule_chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content; /* NUL-terminated */
};

/* The family of a Jinja template (NULL: none), or JOULE_CHAT_NONE. */
enum joule_chat_template joule_chat_detect(const char *jinja);

/* "chatml", "llama-2" ...; "none" for JOULE_CHAT_NONE.  Static. */
const char *joule_chat_template_name(enum joule_chat_template t);

/* The family named `name`; JOULE_ERR_NOT_FOUND if none is. */
enum joule_status joule_chat_template_from_name(const char *name, enum joule_chat_template *out);

/* "chatml, llama-2, llama-3, phi-3, mistral, zephyr, gemma".  Static. */
const char *joule_chat_template_names(void);

/*
 * Renders msgs[0 .. n) in family t, ending with the assistant's opening
 * when add_generation_prompt.  *out is a new NUL-terminated string (the
 * caller frees it), *out_len its length.  JOULE_ERR_INVALID for
 * JOULE_CHAT_NONE, an unknown role or a NULL content (named in err);
 * JOULE_ERR_NOMEM.
 */
enum joule_status joule_chat_apply(enum joule_chat_template t, const struct joule_chat_msg *msgs,
                                   size_t n, bool add_generation_prompt, char **out,
                                   size_t *out_len, char *err, size_t err_size);

#endif /* JOULE_ENGINE_CHAT_H */
