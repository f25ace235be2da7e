/*
 * yaml_in.h - reading YAML files with libyaml's event API and reporting
 * problems as FILE:LINE:COL: message.  Shared by the experiment config
 * (config.c) and the prompt spaces of tune/ (space.c).
 */
#ifndef JOULE_YAML_IN_H
#define JOULE_YAML_IN_H

#include "joule.h"

#include <stddef.h>
#include <yaml.h>

struct joule_yaml_in {
    yaml_parser_t parser;
    const char *name; /* file name used in messages */
    char *err;        /* message buffer of the caller */
    size_t err_size;
};

/* "NAME:LINE:COL: message" (1-based, from m) into in->err; returns
 * JOULE_ERR_FORMAT. */
enum joule_status joule_yaml_error(struct joule_yaml_in *in, const yaml_mark_t *m, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

/* The next event into *ev (the caller deletes it); a syntax error becomes
 * JOULE_ERR_FORMAT with "NAME:LINE:COL: YAML syntax: ...", and a failed
 * allocation JOULE_ERR_NOMEM. */
enum joule_status joule_yaml_next(struct joule_yaml_in *in, yaml_event_t *ev);

/* 1 when the scalar event is a plain null ("", "~", "null"). */
int joule_yaml_is_null(const yaml_event_t *ev);

#endif /* JOULE_YAML_IN_H */
