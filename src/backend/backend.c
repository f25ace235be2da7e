/*
 * backend.c - the table of backends, and what all of them share.
 */
#include "backend.h"
#include "builtin.h"
#include "joule_int.h"

#include <stdlib.h>
#include <string.h>

const struct joule_backend_ops *joule_backend_find(const char *name)
{
    static const struct joule_backend_ops *const all[] = {&joule_backend_builtin};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(all); i++)
        if (name && strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void joule_backend_prompt_free(struct joule_backend_prompt *p)
{
    free(p->tokens);
    p->tokens = NULL;
    p->n_tokens = 0;
}

void joule_backend_result_free(struct joule_backend_result *r)
{
    free(r->text);
    free(r->itl_s);
    r->text = NULL;
    r->itl_s = NULL;
}
