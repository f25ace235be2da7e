/*
 * trials.c - trials.csv out and in (see trials.h).  One table of columns
 * drives both directions, so the writer and the reader cannot drift apart.
 */
#include "trials.h"

#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum col_kind { C_U32, C_U64, C_INT, C_DBL, C_CFG, C_STATE, C_SOURCE };

struct col {
    const char *name; /* NULL for the cfg_<factor> columns */
    enum col_kind kind;
    size_t offset;
};

#define COL(name, kind, field)                                                                     \
    {                                                                                              \
        name, kind, offsetof(struct joule_tune_trial, field)                                       \
    }

static const struct col cols[] = {
    COL("number", C_U32, number),
    COL("value", C_DBL, value),
    {NULL, C_CFG, 0},
    COL("metric_rougeL", C_DBL, rouge_l),
    COL("metric_energy_total_J", C_DBL, energy_total_j),
    COL("metric_tpj", C_DBL, tpj),
    COL("metric_latency_s", C_DBL, latency_s),
    COL("metric_tokens_total", C_U64, tokens_total),
    COL("metric_energy_J_per_ex", C_DBL, energy_j_per_ex),
    COL("metric_exact", C_DBL, exact),
    COL("metric_numeric", C_DBL, numeric),
    COL("n_examples", C_U32, n_examples),
    COL("state", C_STATE, state),
    COL("pareto_rank", C_INT, pareto_rank),
    COL("energy_source", C_SOURCE, energy_source),
};

static const char *const state_names[] = {"COMPLETE", "PRUNED", "FAIL"};

struct joule_tune_trial joule_tune_trial_init(void)
{
    struct joule_tune_trial t;
    memset(&t, 0, sizeof(t));
    t.value = t.rouge_l = t.energy_total_j = t.tpj = t.latency_s = NAN;
    t.energy_j_per_ex = t.exact = t.numeric = NAN;
    t.state = JOULE_TUNE_COMPLETE;
    return t;
}

const char *joule_tune_state_name(enum joule_tune_state st)
{
    return (unsigned)st < JOULE_ARRAY_LEN(state_names) ? state_names[st] : "?";
}

/* A plain word: [a-z0-9_-]*, shorter than JOULE_TUNE_SOURCE_MAX. */
static int plain_word(const char *s, size_t n)
{
    if (n >= JOULE_TUNE_SOURCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* --- out ----------------------------------------------------------------- */

/* sep and the shortest of %.15g, %.16g, %.17g that reads back as v: the
 * file stays exact and "0.5" stays "0.5". */
static void shortest(char *at, size_t room, const char *sep, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        joule_fmt(at, room, "%s%.*g", sep, prec, v);
        if (strtod(at + strlen(sep), NULL) == v)
            return;
    }
}

enum joule_status joule_tune_trials_header(FILE *f, const struct joule_tune_space *s)
{
    for (size_t c = 0; c < JOULE_ARRAY_LEN(cols); c++) {
        if (cols[c].kind == C_CFG) {
            for (size_t k = 0; k < s->n_factors; k++)
                fprintf(f, ",cfg_%s", s->factors[k].name);
        } else {
            fprintf(f, "%s%s", c ? "," : "", cols[c].name);
        }
    }
    fputc('\n', f);
    return ferror(f) ? JOULE_ERR_IO : JOULE_OK;
}

enum joule_status joule_tune_trials_row(FILE *f, const struct joule_tune_space *s,
                                        const struct joule_tune_trial *t)
{
    if (!plain_word(t->energy_source, strlen(t->energy_source)) ||
        (unsigned)t->state >= JOULE_ARRAY_LEN(state_names))
        return JOULE_ERR_INVALID;
    /* The line is built whole and written with one call, so a reader after
     * an interrupt sees whole lines or a cut last line, never a mix. */
    char line[2048];
    size_t o = 0;
    for (size_t c = 0; c < JOULE_ARRAY_LEN(cols); c++) {
        const void *p = (const char *)t + cols[c].offset;
        const char *sep = c ? "," : "";
        char *at = line + o;
        size_t room = sizeof(line) - o;
        switch (cols[c].kind) {
        case C_U32:
            joule_fmt(at, room, "%s%u", sep, (unsigned)*(const uint32_t *)p);
            break;
        case C_U64:
            joule_fmt(at, room, "%s%llu", sep, (unsigned long long)*(const uint64_t *)p);
            break;
        case C_INT:
            joule_fmt(at, room, "%s%d", sep, *(const int *)p);
            break;
        case C_DBL: {
            double v = *(const double *)p;
            if (isfinite(v))
                shortest(at, room, sep, v);
            else
                joule_fmt(at, room, "%s", sep);
            break;
        }
        case C_CFG:
            at[0] = '\0';
            for (size_t k = 0; k < s->n_factors; k++) {
                size_t used = strlen(at);
                JOULE_ASSERT(t->cfg.level[k] < s->factors[k].n_levels);
                joule_fmt(at + used, room - used, ",%s",
                          s->factors[k].levels[t->cfg.level[k]].name);
            }
            break;
        case C_STATE:
            joule_fmt(at, room, "%s%s", sep, state_names[t->state]);
            break;
        case C_SOURCE:
            joule_fmt(at, room, "%s%s", sep, (const char *)p);
            break;
        }
        o += strlen(at);
    }
    JOULE_ASSERT(o + 1 < sizeof(line)); /* 16 factors of 31-byte names fit */
    line[o++] = '\n';
    if (fwrite(line, 1, o, f) != o || fflush(f) != 0)
        return JOULE_ERR_IO;
    return JOULE_OK;
}

struct write_ctx {
    const struct joule_tune_space *s;
    const struct joule_tune_trial *trials;
    size_t n;
};

static enum joule_status write_all(FILE *f, void *ctx)
{
    const struct write_ctx *w = ctx;
    enum joule_status st = joule_tune_trials_header(f, w->s);
    for (size_t i = 0; st == JOULE_OK && i < w->n; i++)
        st = joule_tune_trials_row(f, w->s, &w->trials[i]);
    return st;
}

enum joule_status joule_tune_trials_write(const char *path, const struct joule_tune_space *s,
                                          const struct joule_tune_trial *trials, size_t n,
                                          char *err, size_t err_size)
{
    struct write_ctx w = {s, trials, n};
    return joule_write_atomic(path, write_all, &w, err, err_size);
}

/* --- in -------------------------------------------------------------------- */

struct field {
    const char *p;
    size_t n;
};

static int parse_u64(const struct field *f, uint64_t max, uint64_t *out)
{
    if (f->n == 0 || f->n > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < f->n; i++) {
        unsigned d = (unsigned)(f->p[i] - '0');
        if (d > 9 || v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* A finite decimal number, or NAN for an empty field. */
static int parse_double(const struct field *f, double *out)
{
    if (f->n == 0) {
        *out = NAN;
        return 1;
    }
    char buf[64];
    if (f->n >= sizeof(buf))
        return 0;
    memcpy(buf, f->p, f->n);
    buf[f->n] = '\0';
    for (size_t i = 0; i < f->n; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'))
            return 0; /* no hex, no "nan", no "inf", no spaces */
    }
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static enum joule_status line_error(const char *name, size_t line, char *err, size_t err_size,
                                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum joule_status line_error(const char *name, size_t line, char *err, size_t err_size,
                                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    joule_fmt(err, err_size, "%s:%zu: %s", name, line, msg);
    return JOULE_ERR_FORMAT;
}

/* The expected header of the space's file, into buf. */
static void header_text(const struct joule_tune_space *s, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t c = 0; c < JOULE_ARRAY_LEN(cols); c++) {
        size_t o = strlen(buf);
        if (cols[c].kind != C_CFG) {
            joule_fmt(buf + o, size - o, "%s%s", c ? "," : "", cols[c].name);
            continue;
        }
        for (size_t k = 0; k < s->n_factors; k++) {
            o = strlen(buf);
            joule_fmt(buf + o, size - o, ",cfg_%s", s->factors[k].name);
        }
    }
}

/* Splits line[0 .. n) at commas into f[cap]; the count (cap + 1 when
 * there are more). */
static size_t split(const char *line, size_t n, struct field *f, size_t cap)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == ',') {
            if (k == cap)
                return cap + 1;
            f[k].p = line + start;
            f[k].n = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

static enum joule_status parse_row(const char *name, size_t ln, const struct field *f,
                                   const struct joule_tune_space *s, struct joule_tune_trial *t,
                                   char *err, size_t err_size)
{
    *t = joule_tune_trial_init();
    size_t i = 0;
    for (size_t c = 0; c < JOULE_ARRAY_LEN(cols); c++) {
        void *p = (char *)t + cols[c].offset;
        const char *col = cols[c].name;
        uint64_t u;
        int ok = 1;
        switch (cols[c].kind) {
        case C_U32:
            ok = parse_u64(&f[i], UINT32_MAX, &u);
            if (ok)
                *(uint32_t *)p = (uint32_t)u;
            break;
        case C_U64:
            ok = parse_u64(&f[i], UINT64_MAX, &u);
            if (ok)
                *(uint64_t *)p = u;
            break;
        case C_INT:
            ok = parse_u64(&f[i], INT32_MAX, &u);
            if (ok)
                *(int *)p = (int)u;
            break;
        case C_DBL:
            ok = parse_double(&f[i], (double *)p);
            break;
        case C_CFG:
            for (size_t k = 0; k < s->n_factors; k++, i++) {
                char level[JOULE_TUNE_NAME_MAX];
                if (f[i].n >= sizeof(level))
                    return line_error(name, ln, err, err_size, "cfg_%s: '%.*s...' is too long",
                                      s->factors[k].name, 20, f[i].p);
                memcpy(level, f[i].p, f[i].n);
                level[f[i].n] = '\0';
                char msg[256];
                if (joule_tune_cfg_set(s, &t->cfg, s->factors[k].name, level, msg, sizeof(msg)) !=
                    JOULE_OK)
                    return line_error(name, ln, err, err_size, "cfg_%s", msg);
            }
            continue; /* i is past the cfg columns */
        case C_STATE: {
            size_t k = 0;
            while (
                k < JOULE_ARRAY_LEN(state_names) &&
                !(strlen(state_names[k]) == f[i].n && memcmp(state_names[k], f[i].p, f[i].n) == 0))
                k++;
            ok = k < JOULE_ARRAY_LEN(state_names);
            if (ok)
                t->state = (enum joule_tune_state)k;
            else
                return line_error(name, ln, err, err_size,
                                  "state: '%.*s' is not COMPLETE, PRUNED or FAIL",
                                  (int)(f[i].n > 40 ? 40 : f[i].n), f[i].p);
            break;
        }
        case C_SOURCE:
            ok = plain_word(f[i].p, f[i].n);
            if (ok) {
                memcpy(p, f[i].p, f[i].n);
                ((char *)p)[f[i].n] = '\0';
            }
            break;
        }
        if (!ok)
            return line_error(name, ln, err, err_size, "%s: '%.*s' is not a valid value", col,
                              (int)(f[i].n > 40 ? 40 : f[i].n), f[i].p);
        i++;
    }
    return JOULE_OK;
}

enum joule_status joule_tune_trials_parse(const char *name, const char *text, size_t len,
                                          const struct joule_tune_space *s,
                                          struct joule_tune_trial **out, size_t *n, char *err,
                                          size_t err_size)
{
    *out = NULL;
    *n = 0;
    if (err && err_size)
        err[0] = '\0';
    size_t n_cols = JOULE_ARRAY_LEN(cols) - 1 + s->n_factors;
    struct field f[JOULE_ARRAY_LEN(cols) + JOULE_TUNE_MAX_FACTORS];
    char header[1024];
    header_text(s, header, sizeof(header));
    struct joule_tune_trial *t = NULL;
    size_t nt = 0, cap = 0;
    enum joule_status st = JOULE_OK;
    size_t ln = 0;
    for (size_t pos = 0; pos < len && st == JOULE_OK;) {
        ln++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) {
            st = line_error(name, ln, err, err_size,
                            "the line is cut short (no end of line: the run was interrupted while "
                            "writing it?); delete the line to resume");
            break;
        }
        const char *line = text + pos;
        size_t ll = (size_t)(nl - line);
        pos += ll + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ln == 1) {
            if (ll != strlen(header) || memcmp(line, header, ll) != 0)
                st = line_error(name, ln, err, err_size,
                                "the header does not match the space '%s' (expected %s)", s->name,
                                header);
            continue;
        }
        if (ll == 0 && pos == len)
            break; /* a blank last line */
        size_t k = split(line, ll, f, JOULE_ARRAY_LEN(f));
        if (k != n_cols) {
            st = line_error(name, ln, err, err_size, "%zu fields, the header has %zu", k, n_cols);
            break;
        }
        if (nt == cap) {
            size_t c2;
            struct joule_tune_trial *p = NULL;
            if (joule_grow_cap(cap, nt + 1, 64, &c2))
                p = joule_realloc_array(t, c2, sizeof(*t));
            if (!p) {
                st = JOULE_ERR_NOMEM;
                break;
            }
            t = p;
            cap = c2;
        }
        st = parse_row(name, ln, f, s, &t[nt], err, err_size);
        for (size_t j = 0; st == JOULE_OK && j < nt; j++)
            if (t[j].number == t[nt].number)
                st = line_error(name, ln, err, err_size, "trial number %u appears twice",
                                (unsigned)t[nt].number);
        nt += st == JOULE_OK;
    }
    if (st == JOULE_OK && ln == 0)
        st = line_error(name, 1, err, err_size, "empty file (no header)");
    if (st == JOULE_ERR_NOMEM)
        joule_fmt(err, err_size, "%s: out of memory", name);
    if (st != JOULE_OK) {
        free(t);
        return st;
    }
    *out = t;
    *n = nt;
    return JOULE_OK;
}

enum joule_status joule_tune_trials_load(const char *path, const struct joule_tune_space *s,
                                         struct joule_tune_trial **out, size_t *n, char *err,
                                         size_t err_size)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    enum joule_status st = joule_read_all(path, 256u << 20, &text, &len, err, err_size);
    if (st != JOULE_OK)
        return st;
    st = joule_tune_trials_parse(path, text, len, s, out, n, err, err_size);
    free(text);
    return st;
}
