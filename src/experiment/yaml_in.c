/* yaml_in.c - libyaml events with FILE:LINE:COL errors (see yaml_in.h). */
#include "yaml_in.h"

#include "joule_int.h"

#include <string.h>
#include <strings.h> /* strcasecmp */

enum joule_status joule_yaml_error(struct joule_yaml_in *in, const yaml_mark_t *m, const char *fmt,
                                   ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    joule_fmt(in->err, in->err_size, "%s:%zu:%zu: %s", in->name, m->line + 1, m->column + 1, msg);
    return JOULE_ERR_FORMAT;
}

enum joule_status joule_yaml_next(struct joule_yaml_in *in, yaml_event_t *ev)
{
    if (yaml_parser_parse(&in->parser, ev))
        return JOULE_OK;
    const yaml_mark_t *m = &in->parser.problem_mark;
    if (in->parser.error == YAML_MEMORY_ERROR)
        return JOULE_ERR_NOMEM;
    return joule_yaml_error(
        in, m, "YAML syntax: %s%s%s", in->parser.problem ? in->parser.problem : "error",
        in->parser.context ? " " : "", in->parser.context ? in->parser.context : "");
}

int joule_yaml_is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)ev->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}
