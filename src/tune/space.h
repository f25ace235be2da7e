/*
 * space.h - prompt spaces for `joule tune`: factors, each with levels and a
 * text fragment per level, and a template that puts the chosen fragments
 * and the task input together into one prompt.
 *
 * A configuration picks one level of every factor.  Its fragments go into
 * the slot their factor names (`system` or `instruction`), joined by single
 * spaces after the space's own base text of that slot; empty fragments add
 * nothing.  The template then replaces {system}, {instruction} and {input}
 * ("{{" and "}}" stand for literal braces).
 *
 * YAML form (docs/internals/tune.md):
 *
 *   name: summaries
 *   template: "{system}\n\n{instruction}\n\n{input}"
 *   system: ""                       # base text of {system}
 *   instruction: Summarize the text.  # base text of {instruction}
 *   factors:
 *     style:
 *       slot: system                   # default: system
 *       levels:
 *         concise: Write plainly.
 *         role: You are an editor.
 *
 * Factor and level names are 1-31 bytes of [A-Za-z0-9_.-] (factor names
 * also become CSV columns cfg_<factor>), at most JOULE_TUNE_MAX_FACTORS
 * factors and JOULE_TUNE_MAX_LEVELS levels a factor, and at most
 * JOULE_TUNE_MAX_COMBOS combinations in all.
 */
#ifndef JOULE_TUNE_SPACE_H
#define JOULE_TUNE_SPACE_H

#include "joule.h"

#include <stddef.h>
#include <stdint.h>

#define JOULE_TUNE_MAX_FACTORS 16
#define JOULE_TUNE_MAX_LEVELS 64
#define JOULE_TUNE_MAX_COMBOS (1u << 24)
#define JOULE_TUNE_NAME_MAX 32

enum joule_tune_slot {
    JOULE_TUNE_SLOT_SYSTEM = 0,
    JOULE_TUNE_SLOT_INSTRUCTION = 1,
};

struct joule_tune_level {
    char name[JOULE_TUNE_NAME_MAX];
    char *text; /* owned; "" for no text */
};

struct joule_tune_factor {
    char name[JOULE_TUNE_NAME_MAX];
    enum joule_tune_slot slot;
    struct joule_tune_level *levels; /* owned, [n_levels] */
    size_t n_levels;
};

struct joule_tune_space {
    char *name;        /* owned */
    char *template_;   /* owned; has {input} */
    char *system;      /* owned base text of {system}, may be "" */
    char *instruction; /* owned base text of {instruction}, may be "" */
    struct joule_tune_factor factors[JOULE_TUNE_MAX_FACTORS];
    size_t n_factors;
};

/* One configuration: the level index of each factor of its space (entries
 * past n_factors are 0).  A value type: copy and compare it freely. */
struct joule_tune_cfg {
    uint8_t level[JOULE_TUNE_MAX_FACTORS];
};

/* The built-in space of the EAPO seed: style (concise, role, stepwise),
 * reasoning (none, brief, bounded), format (free, bullets, json), brevity
 * (none, 1sent, 3sent, word50): 108 combinations, for summarizing a text.
 * *out is freed with joule_tune_space_free. */
enum joule_status joule_tune_space_default(struct joule_tune_space **out);

/* A space from YAML text; name is the file name used in messages.  Bad
 * input gives JOULE_ERR_FORMAT and "NAME:LINE:COL: what is wrong" in err
 * (unknown keys with a did-you-mean); JOULE_ERR_NOMEM. */
enum joule_status joule_tune_space_parse(const char *name, const char *text, size_t len,
                                         struct joule_tune_space **out, char *err, size_t err_size);

/* joule_tune_space_parse of the file at path (at most 1 MiB); JOULE_ERR_IO. */
enum joule_status joule_tune_space_load(const char *path, struct joule_tune_space **out, char *err,
                                        size_t err_size);

void joule_tune_space_free(struct joule_tune_space *s);

/* The number of combinations (product of the level counts; >= 1). */
uint32_t joule_tune_space_size(const struct joule_tune_space *s);

/* Configuration number i (0 <= i < size) in the fixed grid order: the last
 * factor changes fastest, each factor's levels in their file order. */
struct joule_tune_cfg joule_tune_cfg_at(const struct joule_tune_space *s, uint32_t i);

/* The grid number of c (the inverse of joule_tune_cfg_at). */
uint32_t joule_tune_cfg_index(const struct joule_tune_space *s, const struct joule_tune_cfg *c);

/* The canonical key of c: "factor=level,factor=level,..." in factor order,
 * into buf.  The same configuration always has the same key, so it names a
 * trial for resume and de-duplication.  JOULE_ERR_INVALID if buf is too
 * small (JOULE_TUNE_MAX_FACTORS * 2 * JOULE_TUNE_NAME_MAX always fits). */
enum joule_status joule_tune_cfg_key(const struct joule_tune_space *s,
                                     const struct joule_tune_cfg *c, char *buf, size_t size);

/* The level index of the level named `level` of factor f, or -1. */
int joule_tune_level_find(const struct joule_tune_space *s, size_t f, const char *level);

/* The factor named `name`, or -1. */
int joule_tune_factor_find(const struct joule_tune_space *s, const char *name);

/* Sets factor `factor` of *c to level `level`.  JOULE_ERR_NOT_FOUND with
 * "unknown factor 'x' (did you mean 'y'?)" or "factor: unknown level ..."
 * in err. */
enum joule_status joule_tune_cfg_set(const struct joule_tune_space *s, struct joule_tune_cfg *c,
                                     const char *factor, const char *level, char *err,
                                     size_t err_size);

/* Parses a canonical key (every factor exactly once, any order) into *c.
 * JOULE_ERR_FORMAT with the reason in err. */
enum joule_status joule_tune_cfg_parse(const struct joule_tune_space *s, const char *key,
                                       struct joule_tune_cfg *c, char *err, size_t err_size);

/* The text of one slot for c (base text and fragments), malloc'd into
 * *out (free with free()).  JOULE_ERR_NOMEM. */
enum joule_status joule_tune_render_slot(const struct joule_tune_space *s,
                                         const struct joule_tune_cfg *c, enum joule_tune_slot slot,
                                         char **out);

/* The whole prompt for c and input: the template with its slots filled,
 * malloc'd into *out (free with free()).  JOULE_ERR_NOMEM. */
enum joule_status joule_tune_render(const struct joule_tune_space *s,
                                    const struct joule_tune_cfg *c, const char *input, char **out);

/* The user message of the chat form: the template with {system} left
 * empty (its text goes to the system message, joule_tune_render_slot), the
 * rest filled as joule_tune_render does.  JOULE_ERR_NOMEM. */
enum joule_status joule_tune_render_user(const struct joule_tune_space *s,
                                         const struct joule_tune_cfg *c, const char *input,
                                         char **out);

#endif /* JOULE_TUNE_SPACE_H */
