/*
 * space.c - prompt spaces: the built-in space, the YAML reader, keys and
 * rendering (see space.h).
 *
 * The reader walks libyaml events (as config.c does) so that every refusal
 * names the line and column of the node at fault.  The built-in space is
 * itself YAML text read by the same reader, so it obeys the same rules as a
 * user's file and documents the format by example.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "space.h"

#include "alloc.h"
#include "buf.h"
#include "fileio.h"
#include "joule_int.h"
#include "suggest.h"
#include "yaml_in.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* The fragments are written for this project; the factors and levels are
 * those of the EAPO seed, so its results can be compared level by level. */
static const char default_space_yaml[] =
    "name: summaries\n"
    "template: \"{system}\\n\\n{instruction}\\n\\n{input}\"\n"
    "system: \"\"\n"
    "instruction: Summarize the following text.\n"
    "factors:\n"
    "  style:\n"
    "    slot: system\n"
    "    levels:\n"
    "      concise: You are a careful assistant who writes short, plain answers.\n"
    "      role: You are an experienced news editor who condenses articles for busy readers.\n"
    "      stepwise: Work through the text in order and keep only what matters.\n"
    "  reasoning:\n"
    "    slot: system\n"
    "    levels:\n"
    "      none: \"\"\n"
    "      brief: Think it over briefly before answering, and only if it helps.\n"
    "      bounded: If you need to reason, use no more than two short steps.\n"
    "  format:\n"
    "    slot: instruction\n"
    "    levels:\n"
    "      free: \"\"\n"
    "      bullets: Give the answer as three bullet points.\n"
    "      json: 'Give the answer as JSON of the form {\"summary\": \"...\"}.'\n"
    "  brevity:\n"
    "    slot: instruction\n"
    "    levels:\n"
    "      none: \"\"\n"
    "      1sent: Use one sentence at most.\n"
    "      3sent: Use three sentences at most.\n"
    "      word50: Stay under 50 words.\n";

static const char default_template[] = "{system}\n\n{instruction}\n\n{input}";

static const char *const top_keys[] = {"name", "template", "system", "instruction", "factors"};
static const char *const factor_keys[] = {"slot", "levels"};
static const char *const slot_names[] = {"system", "instruction"};

/* --- names and templates --------------------------------------------------- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= JOULE_TUNE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

enum placeholder { PH_NONE = -1, PH_SYSTEM = 0, PH_INSTRUCTION = 1, PH_INPUT = 2 };

/* The placeholder starting at t (which points at '{'), its length in *len;
 * PH_NONE when t is not one of the three. */
static enum placeholder placeholder_at(const char *t, size_t *len)
{
    static const char *const names[] = {"{system}", "{instruction}", "{input}"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(t, names[i], n) == 0) {
            *len = n;
            return (enum placeholder)i;
        }
    }
    return PH_NONE;
}

/* NULL when the template is usable, else what is wrong with it. */
static const char *check_template(const char *t, char *why, size_t why_size)
{
    int has_input = 0;
    for (size_t i = 0; t[i];) {
        if ((t[i] == '{' && t[i + 1] == '{') || (t[i] == '}' && t[i + 1] == '}')) {
            i += 2;
        } else if (t[i] == '{') {
            size_t len;
            enum placeholder ph = placeholder_at(t + i, &len);
            if (ph == PH_NONE) {
                joule_fmt(why, why_size,
                          "template: unknown slot at byte %zu (slots are {system}, "
                          "{instruction} and {input}; write {{ for a literal brace)",
                          i + 1);
                return why;
            }
            has_input |= ph == PH_INPUT;
            i += len;
        } else if (t[i] == '}') {
            joule_fmt(why, why_size,
                      "template: a lone '}' at byte %zu (write }} for a literal brace)", i + 1);
            return why;
        } else {
            i++;
        }
    }
    if (!has_input) {
        joule_fmt(why, why_size,
                  "template: it has no {input} slot, so the task text would be lost");
        return why;
    }
    return NULL;
}

/* --- the YAML reader ----------------------------------------------------- */

struct sreader {
    struct joule_yaml_in in;
    struct joule_tune_space *s;
};

static void unknown_key(struct sreader *r, const yaml_mark_t *at, const char *where,
                        const char *key, const char *const *keys, size_t n_keys,
                        enum joule_status *st)
{
    const char *near = joule_nearest(key, keys, n_keys);
    char allowed[160] = "";
    for (size_t i = 0; i < n_keys; i++) {
        size_t o = strlen(allowed);
        joule_fmt(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "", keys[i]);
    }
    if (near)
        *st = joule_yaml_error(&r->in, at, "unknown key '%s'%s (did you mean '%s'?)", key, where,
                               near);
    else
        *st = joule_yaml_error(&r->in, at, "unknown key '%s'%s (allowed: %s)", key, where, allowed);
}

/* The next event, which must be a scalar: its text strdup'd into *out
 * (a plain null reads as ""). */
static enum joule_status read_text(struct sreader *r, const char *key, char **out)
{
    yaml_event_t ev;
    enum joule_status st = joule_yaml_next(&r->in, &ev);
    if (st != JOULE_OK)
        return st;
    if (ev.type != YAML_SCALAR_EVENT) {
        st = joule_yaml_error(&r->in, &ev.start_mark, "%s takes text, not a %s", key,
                              ev.type == YAML_MAPPING_START_EVENT    ? "mapping"
                              : ev.type == YAML_SEQUENCE_START_EVENT ? "list"
                                                                     : "YAML node of this kind");
        yaml_event_delete(&ev);
        return st;
    }
    const char *v = joule_yaml_is_null(&ev) ? "" : (const char *)ev.data.scalar.value;
    free(*out);
    *out = strdup(v);
    yaml_event_delete(&ev);
    return *out ? JOULE_OK : JOULE_ERR_NOMEM;
}

/* The next event must open a mapping. */
static enum joule_status expect_mapping(struct sreader *r, const char *what)
{
    yaml_event_t ev;
    enum joule_status st = joule_yaml_next(&r->in, &ev);
    if (st != JOULE_OK)
        return st;
    if (ev.type != YAML_MAPPING_START_EVENT)
        st = joule_yaml_error(&r->in, &ev.start_mark, "%s must be a mapping (name: ...)", what);
    yaml_event_delete(&ev);
    return st;
}

/* The next key of a mapping into key[JOULE_TUNE_NAME_MAX * 2] with its
 * position; *end = 1 at the end of the mapping. */
static enum joule_status next_key(struct sreader *r, char *key, size_t key_size, yaml_mark_t *at,
                                  int *end)
{
    yaml_event_t ev;
    enum joule_status st = joule_yaml_next(&r->in, &ev);
    if (st != JOULE_OK)
        return st;
    *end = ev.type == YAML_MAPPING_END_EVENT;
    *at = ev.start_mark;
    if (!*end && ev.type != YAML_SCALAR_EVENT)
        st = joule_yaml_error(&r->in, &ev.start_mark, "keys must be plain names");
    else if (!*end && joule_strlcpy(key, (const char *)ev.data.scalar.value, key_size) >= key_size)
        st = joule_yaml_error(&r->in, &ev.start_mark, "name too long (at most %d bytes)",
                              JOULE_TUNE_NAME_MAX - 1);
    yaml_event_delete(&ev);
    return st;
}

/* next_key for the name of a factor or level (kind), which must be a
 * valid name; owner is the factor of a level, for the message. */
static enum joule_status next_name(struct sreader *r, const char *kind, const char *owner,
                                   char *name, size_t name_size, yaml_mark_t *at, int *end)
{
    enum joule_status st = next_key(r, name, name_size, at, end);
    if (st != JOULE_OK || *end || valid_name(name))
        return st;
    return joule_yaml_error(&r->in, at, "%s '%s'%s%s: names are 1-%d of A-Z a-z 0-9 _ . -", kind,
                            name, owner ? " of " : "", owner ? owner : "", JOULE_TUNE_NAME_MAX - 1);
}

static enum joule_status read_levels(struct sreader *r, struct joule_tune_factor *f)
{
    enum joule_status st = expect_mapping(r, "levels");
    while (st == JOULE_OK) {
        char name[JOULE_TUNE_NAME_MAX * 2];
        yaml_mark_t at;
        int end;
        if ((st = next_name(r, "level", f->name, name, sizeof(name), &at, &end)) != JOULE_OK || end)
            break;
        for (size_t i = 0; i < f->n_levels; i++)
            if (strcmp(f->levels[i].name, name) == 0)
                return joule_yaml_error(&r->in, &at, "level '%s' of %s is listed twice", name,
                                        f->name);
        if (f->n_levels == JOULE_TUNE_MAX_LEVELS)
            return joule_yaml_error(&r->in, &at, "%s has more than %d levels", f->name,
                                    JOULE_TUNE_MAX_LEVELS);
        struct joule_tune_level *lv =
            joule_realloc_array(f->levels, f->n_levels + 1, sizeof(*f->levels));
        if (!lv)
            return JOULE_ERR_NOMEM;
        f->levels = lv;
        struct joule_tune_level *l = &f->levels[f->n_levels++];
        joule_strlcpy(l->name, name, sizeof(l->name));
        l->text = NULL;
        char what[JOULE_TUNE_NAME_MAX * 3];
        joule_fmt(what, sizeof(what), "%s.%s", f->name, name);
        st = read_text(r, what, &l->text);
    }
    return st;
}

static enum joule_status read_factor(struct sreader *r, struct joule_tune_factor *f,
                                     const yaml_mark_t *f_at)
{
    enum joule_status st = expect_mapping(r, f->name);
    int has_levels = 0;
    int seen[2] = {0, 0};
    while (st == JOULE_OK) {
        char key[JOULE_TUNE_NAME_MAX * 2];
        yaml_mark_t at;
        int end;
        if ((st = next_key(r, key, sizeof(key), &at, &end)) != JOULE_OK || end)
            break;
        char where[JOULE_TUNE_NAME_MAX + 16];
        joule_fmt(where, sizeof(where), " in factor %s", f->name);
        int k = strcmp(key, "slot") == 0 ? 0 : strcmp(key, "levels") == 0 ? 1 : -1;
        if (k < 0) {
            unknown_key(r, &at, where, key, factor_keys, JOULE_ARRAY_LEN(factor_keys), &st);
            break;
        }
        if (seen[k]++)
            return joule_yaml_error(&r->in, &at, "%s.%s is set twice", f->name, key);
        if (k == 0) {
            char *slot = NULL;
            if ((st = read_text(r, "slot", &slot)) != JOULE_OK) {
                free(slot);
                break;
            }
            int found = -1;
            for (int i = 0; i < 2; i++)
                if (strcmp(slot, slot_names[i]) == 0)
                    found = i;
            if (found < 0) {
                const char *near = joule_nearest(slot, slot_names, 2);
                st = joule_yaml_error(&r->in, &at,
                                      "%s.slot: '%s' is not a slot (allowed: system, "
                                      "instruction)%s%s%s",
                                      f->name, slot, near ? "; did you mean '" : "",
                                      near ? near : "", near ? "'?" : "");
            }
            free(slot);
            f->slot = found == 1 ? JOULE_TUNE_SLOT_INSTRUCTION : JOULE_TUNE_SLOT_SYSTEM;
        } else {
            has_levels = 1;
            st = read_levels(r, f);
        }
    }
    if (st == JOULE_OK && (!has_levels || f->n_levels == 0))
        st = joule_yaml_error(&r->in, f_at, "factor %s has no levels (add levels: {name: text})",
                              f->name);
    return st;
}

static enum joule_status read_factors(struct sreader *r)
{
    struct joule_tune_space *s = r->s;
    enum joule_status st = expect_mapping(r, "factors");
    uint64_t combos = 1;
    while (st == JOULE_OK) {
        char name[JOULE_TUNE_NAME_MAX * 2];
        yaml_mark_t at;
        int end;
        if ((st = next_name(r, "factor", NULL, name, sizeof(name), &at, &end)) != JOULE_OK || end)
            break;
        if (joule_tune_factor_find(s, name) >= 0)
            return joule_yaml_error(&r->in, &at, "factor '%s' is listed twice", name);
        if (s->n_factors == JOULE_TUNE_MAX_FACTORS)
            return joule_yaml_error(&r->in, &at, "more than %d factors", JOULE_TUNE_MAX_FACTORS);
        struct joule_tune_factor *f = &s->factors[s->n_factors++];
        joule_strlcpy(f->name, name, sizeof(f->name));
        if ((st = read_factor(r, f, &at)) != JOULE_OK)
            break;
        combos *= f->n_levels; /* <= 2^24 * 64 before the check: no overflow */
        if (combos > JOULE_TUNE_MAX_COMBOS)
            return joule_yaml_error(&r->in, &at,
                                    "the space has more than %u combinations with factor %s; "
                                    "use fewer factors or levels",
                                    (unsigned)JOULE_TUNE_MAX_COMBOS, name);
    }
    return st;
}

static enum joule_status read_space(struct sreader *r)
{
    struct joule_tune_space *s = r->s;
    yaml_event_t ev;
    enum joule_status st;
    int seen[JOULE_ARRAY_LEN(top_keys)] = {0};
    yaml_mark_t template_at = {0};
    /* STREAM_START, DOCUMENT_START, then the top mapping; anything else
     * (an empty file, a scalar, a list) is not a space. */
    for (int i = 0; i < 3; i++) {
        if ((st = joule_yaml_next(&r->in, &ev)) != JOULE_OK)
            return st;
        yaml_event_type_t type = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        static const yaml_event_type_t want[3] = {
            YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT, YAML_MAPPING_START_EVENT};
        if (type != want[i])
            return joule_yaml_error(&r->in, &at,
                                    "a prompt space is a mapping with the keys name, template, "
                                    "system, instruction and factors");
    }
    for (;;) {
        char key[JOULE_TUNE_NAME_MAX * 2];
        yaml_mark_t at;
        int end;
        if ((st = next_key(r, key, sizeof(key), &at, &end)) != JOULE_OK)
            return st;
        if (end)
            break;
        size_t k = 0;
        while (k < JOULE_ARRAY_LEN(top_keys) && strcmp(key, top_keys[k]) != 0)
            k++;
        if (k == JOULE_ARRAY_LEN(top_keys)) {
            unknown_key(r, &at, "", key, top_keys, JOULE_ARRAY_LEN(top_keys), &st);
            return st;
        }
        if (seen[k]++)
            return joule_yaml_error(&r->in, &at, "'%s' is set twice", key);
        switch (k) {
        case 0:
            st = read_text(r, key, &s->name);
            break;
        case 1:
            template_at = at;
            st = read_text(r, key, &s->template_);
            break;
        case 2:
            st = read_text(r, key, &s->system);
            break;
        case 3:
            st = read_text(r, key, &s->instruction);
            break;
        default:
            st = read_factors(r);
        }
        if (st != JOULE_OK)
            return st;
    }
    /* DOCUMENT_END, then STREAM_END: a second document is refused. */
    if ((st = joule_yaml_next(&r->in, &ev)) != JOULE_OK)
        return st;
    yaml_event_delete(&ev);
    if ((st = joule_yaml_next(&r->in, &ev)) != JOULE_OK)
        return st;
    if (ev.type != YAML_STREAM_END_EVENT)
        st = joule_yaml_error(&r->in, &ev.start_mark, "one YAML document expected, found a second");
    yaml_event_delete(&ev);
    if (st != JOULE_OK)
        return st;
    if (s->n_factors == 0) {
        yaml_mark_t top = {0};
        return joule_yaml_error(&r->in, &top, "the space has no factors (add factors: ...)");
    }
    if (s->template_) {
        char why[256];
        if (check_template(s->template_, why, sizeof(why)))
            return joule_yaml_error(&r->in, &template_at, "%s", why);
    }
    return JOULE_OK;
}

/* Fills the defaults of keys the file left out. */
static enum joule_status finish(struct joule_tune_space *s)
{
    if (!s->name)
        s->name = strdup("custom");
    if (!s->template_)
        s->template_ = strdup(default_template);
    if (!s->system)
        s->system = strdup("");
    if (!s->instruction)
        s->instruction = strdup("");
    return s->name && s->template_ && s->system && s->instruction ? JOULE_OK : JOULE_ERR_NOMEM;
}

enum joule_status joule_tune_space_parse(const char *name, const char *text, size_t len,
                                         struct joule_tune_space **out, char *err, size_t err_size)
{
    *out = NULL;
    if (err && err_size)
        err[0] = '\0';
    struct joule_tune_space *s = joule_calloc(1, sizeof(*s));
    if (!s)
        return JOULE_ERR_NOMEM;
    struct sreader r = {.in = {.name = name ? name : "space", .err = err, .err_size = err_size},
                        .s = s};
    if (!yaml_parser_initialize(&r.in.parser)) {
        free(s);
        return JOULE_ERR_NOMEM;
    }
    yaml_parser_set_input_string(&r.in.parser, (const unsigned char *)(text ? text : ""),
                                 text ? len : 0);
    enum joule_status st = read_space(&r);
    yaml_parser_delete(&r.in.parser);
    if (st == JOULE_OK)
        st = finish(s);
    if (st == JOULE_ERR_NOMEM)
        joule_fmt(err, err_size, "%s: out of memory", r.in.name);
    if (st != JOULE_OK) {
        joule_tune_space_free(s);
        return st;
    }
    *out = s;
    return JOULE_OK;
}

enum joule_status joule_tune_space_load(const char *path, struct joule_tune_space **out, char *err,
                                        size_t err_size)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    enum joule_status st = joule_read_all(path, 1u << 20, &text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    st = joule_tune_space_parse(path, text, len, out, err, err_size);
    free(text);
    return st;
}

enum joule_status joule_tune_space_default(struct joule_tune_space **out)
{
    char err[256];
    enum joule_status st =
        joule_tune_space_parse("built-in space", default_space_yaml, sizeof(default_space_yaml) - 1,
                               out, err, sizeof(err));
    JOULE_ASSERT(st == JOULE_OK || st == JOULE_ERR_NOMEM);
    return st;
}

void joule_tune_space_free(struct joule_tune_space *s)
{
    if (!s)
        return;
    for (size_t f = 0; f < s->n_factors; f++) {
        for (size_t l = 0; l < s->factors[f].n_levels; l++)
            free(s->factors[f].levels[l].text);
        free(s->factors[f].levels);
    }
    free(s->name);
    free(s->template_);
    free(s->system);
    free(s->instruction);
    free(s);
}

/* --- configurations -------------------------------------------------------- */

uint32_t joule_tune_space_size(const struct joule_tune_space *s)
{
    uint32_t n = 1;
    for (size_t f = 0; f < s->n_factors; f++)
        n *= (uint32_t)s->factors[f].n_levels; /* bounded by the reader */
    return n;
}

struct joule_tune_cfg joule_tune_cfg_at(const struct joule_tune_space *s, uint32_t i)
{
    struct joule_tune_cfg c;
    memset(&c, 0, sizeof(c));
    for (size_t f = s->n_factors; f-- > 0;) {
        uint32_t n = (uint32_t)s->factors[f].n_levels;
        c.level[f] = (uint8_t)(i % n);
        i /= n;
    }
    return c;
}

uint32_t joule_tune_cfg_index(const struct joule_tune_space *s, const struct joule_tune_cfg *c)
{
    uint32_t i = 0;
    for (size_t f = 0; f < s->n_factors; f++)
        i = i * (uint32_t)s->factors[f].n_levels + c->level[f];
    return i;
}

enum joule_status joule_tune_cfg_key(const struct joule_tune_space *s,
                                     const struct joule_tune_cfg *c, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t f = 0; f < s->n_factors; f++) {
        const struct joule_tune_factor *fa = &s->factors[f];
        JOULE_ASSERT(c->level[f] < fa->n_levels);
        int n = snprintf(buf + o, size - o, "%s%s=%s", f ? "," : "", fa->name,
                         fa->levels[c->level[f]].name);
        if (n < 0 || (size_t)n >= size - o)
            return JOULE_ERR_INVALID;
        o += (size_t)n;
    }
    return JOULE_OK;
}

int joule_tune_factor_find(const struct joule_tune_space *s, const char *name)
{
    for (size_t f = 0; f < s->n_factors; f++)
        if (strcmp(s->factors[f].name, name) == 0)
            return (int)f;
    return -1;
}

int joule_tune_level_find(const struct joule_tune_space *s, size_t f, const char *level)
{
    for (size_t l = 0; l < s->factors[f].n_levels; l++)
        if (strcmp(s->factors[f].levels[l].name, level) == 0)
            return (int)l;
    return -1;
}

enum joule_status joule_tune_cfg_set(const struct joule_tune_space *s, struct joule_tune_cfg *c,
                                     const char *factor, const char *level, char *err,
                                     size_t err_size)
{
    const char *names[JOULE_TUNE_MAX_LEVELS];
    int f = joule_tune_factor_find(s, factor);
    if (f < 0) {
        for (size_t i = 0; i < s->n_factors; i++)
            names[i] = s->factors[i].name;
        const char *near = joule_nearest(factor, names, s->n_factors);
        joule_fmt(err, err_size, "unknown factor '%s'%s%s%s", factor,
                  near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return JOULE_ERR_NOT_FOUND;
    }
    int l = joule_tune_level_find(s, (size_t)f, level);
    if (l < 0) {
        const struct joule_tune_factor *fa = &s->factors[f];
        for (size_t i = 0; i < fa->n_levels; i++)
            names[i] = fa->levels[i].name;
        const char *near = joule_nearest(level, names, fa->n_levels);
        joule_fmt(err, err_size, "%s: unknown level '%s'%s%s%s", factor, level,
                  near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return JOULE_ERR_NOT_FOUND;
    }
    c->level[f] = (uint8_t)l;
    return JOULE_OK;
}

enum joule_status joule_tune_cfg_parse(const struct joule_tune_space *s, const char *key,
                                       struct joule_tune_cfg *c, char *err, size_t err_size)
{
    int set[JOULE_TUNE_MAX_FACTORS] = {0};
    memset(c, 0, sizeof(*c));
    for (const char *p = key; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        char fac[JOULE_TUNE_NAME_MAX], lev[JOULE_TUNE_NAME_MAX];
        if (!eq || (size_t)(eq - p) >= sizeof(fac) || n - (size_t)(eq - p) - 1 >= sizeof(lev)) {
            joule_fmt(err, err_size, "'%.*s' is not factor=level", (int)(n > 64 ? 64 : n), p);
            return JOULE_ERR_FORMAT;
        }
        memcpy(fac, p, (size_t)(eq - p));
        fac[eq - p] = '\0';
        memcpy(lev, eq + 1, n - (size_t)(eq - p) - 1);
        lev[n - (size_t)(eq - p) - 1] = '\0';
        if (joule_tune_cfg_set(s, c, fac, lev, err, err_size) != JOULE_OK)
            return JOULE_ERR_FORMAT;
        int f = joule_tune_factor_find(s, fac);
        if (set[f]++) {
            joule_fmt(err, err_size, "factor %s is given twice", fac);
            return JOULE_ERR_FORMAT;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    for (size_t f = 0; f < s->n_factors; f++) {
        if (!set[f]) {
            joule_fmt(err, err_size, "factor %s has no level", s->factors[f].name);
            return JOULE_ERR_FORMAT;
        }
    }
    return JOULE_OK;
}

/* --- rendering --------------------------------------------------------- */

static void slot_text(const struct joule_tune_space *s, const struct joule_tune_cfg *c,
                      enum joule_tune_slot slot, struct joule_buf *b)
{
    const char *base = slot == JOULE_TUNE_SLOT_SYSTEM ? s->system : s->instruction;
    joule_buf_put(b, "", 0);
    joule_buf_put(b, base, strlen(base));
    for (size_t f = 0; f < s->n_factors; f++) {
        const struct joule_tune_factor *fa = &s->factors[f];
        const char *t = fa->levels[c->level[f]].text;
        if (fa->slot != slot || !*t)
            continue;
        if (b->n)
            joule_buf_put(b, " ", 1);
        joule_buf_put(b, t, strlen(t));
    }
}

enum joule_status joule_tune_render_slot(const struct joule_tune_space *s,
                                         const struct joule_tune_cfg *c, enum joule_tune_slot slot,
                                         char **out)
{
    struct joule_buf b = {0};
    slot_text(s, c, slot, &b);
    if (b.oom) {
        free(b.p);
        return JOULE_ERR_NOMEM;
    }
    *out = b.p;
    return JOULE_OK;
}

/* A slot that renders empty also takes the white space after it in the
 * template, so an empty {system} leaves no blank lines at the top.  With
 * no_system the {system} slot renders empty (the chat form's user message). */
static enum joule_status render(const struct joule_tune_space *s, const struct joule_tune_cfg *c,
                                const char *input, int no_system, char **out)
{
    struct joule_buf b = {0}, part[2] = {{0}, {0}};
    if (no_system)
        joule_buf_put(&part[0], "", 0);
    else
        slot_text(s, c, JOULE_TUNE_SLOT_SYSTEM, &part[0]);
    slot_text(s, c, JOULE_TUNE_SLOT_INSTRUCTION, &part[1]);
    joule_buf_put(&b, "", 0);
    const char *t = s->template_;
    for (size_t i = 0; t[i];) {
        size_t len;
        enum placeholder ph = t[i] == '{' ? placeholder_at(t + i, &len) : PH_NONE;
        if ((t[i] == '{' || t[i] == '}') && t[i + 1] == t[i]) {
            joule_buf_put(&b, t + i, 1);
            i += 2;
        } else if (ph == PH_NONE) {
            joule_buf_put(&b, t + i, 1);
            i++;
        } else {
            const char *v = ph == PH_INPUT ? input : part[ph].p ? part[ph].p : "";
            joule_buf_put(&b, v, strlen(v));
            i += len;
            if (!*v)
                while (t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r')
                    i++;
        }
    }
    int oom = b.oom || part[0].oom || part[1].oom;
    free(part[0].p);
    free(part[1].p);
    if (oom) {
        free(b.p);
        return JOULE_ERR_NOMEM;
    }
    *out = b.p;
    return JOULE_OK;
}

enum joule_status joule_tune_render(const struct joule_tune_space *s,
                                    const struct joule_tune_cfg *c, const char *input, char **out)
{
    return render(s, c, input, 0, out);
}

enum joule_status joule_tune_render_user(const struct joule_tune_space *s,
                                         const struct joule_tune_cfg *c, const char *input,
                                         char **out)
{
    return render(s, c, input, 1, out);
}
