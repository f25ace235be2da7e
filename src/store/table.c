/* table.c - struct joule_table: rows of named columns, number or text cells. */
#define _POSIX_C_SOURCE 200809L
#include "store_int.h"
#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct joule_cell {
    int kind;        /* 0 missing, 1 number, 2 text */
    double num;
    char *text;      /* owned: the text, or the text form of num */
};

struct joule_table {
    char **cols;
    size_t n_cols, cap_cols;
    struct joule_cell **rows;   /* [n_rows][n_cols] */
    size_t n_rows, cap_rows;
};

struct joule_table *joule_table_new(void)
{
    return joule_calloc(1, sizeof(struct joule_table));
}

void joule_table_free(struct joule_table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++)
            free(t->rows[r][c].text);
        free(t->rows[r]);
    }
    free(t->rows);
    for (size_t c = 0; c < t->n_cols; c++)
        free(t->cols[c]);
    free(t->cols);
    free(t);
}

enum joule_status joule_table_add_col(struct joule_table *t, const char *name)
{
    JOULE_ASSERT(t->n_rows == 0);
    if (t->n_cols == t->cap_cols) {
        size_t cap;
        if (!joule_grow_cap(t->cap_cols, t->n_cols + 1, 16, &cap))
            return JOULE_ERR_NOMEM;
        char **p = joule_realloc_array(t->cols, cap, sizeof(*p));
        if (!p)
            return JOULE_ERR_NOMEM;
        t->cols = p;
        t->cap_cols = cap;
    }
    char *s = strdup(name);
    if (!s)
        return JOULE_ERR_NOMEM;
    t->cols[t->n_cols++] = s;
    return JOULE_OK;
}

enum joule_status joule_table_add_row(struct joule_table *t, size_t *row)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap;
        if (!joule_grow_cap(t->cap_rows, t->n_rows + 1, 16, &cap))
            return JOULE_ERR_NOMEM;
        struct joule_cell **p = joule_realloc_array(t->rows, cap, sizeof(*p));
        if (!p)
            return JOULE_ERR_NOMEM;
        t->rows = p;
        t->cap_rows = cap;
    }
    struct joule_cell *cells = joule_calloc(t->n_cols ? t->n_cols : 1, sizeof(*cells));
    if (!cells)
        return JOULE_ERR_NOMEM;
    t->rows[t->n_rows] = cells;
    *row = t->n_rows++;
    return JOULE_OK;
}

static void cell_clear(struct joule_cell *c)
{
    free(c->text);
    c->text = NULL;
    c->kind = 0;
    c->num = NAN;
}

/* Integers whole; others the shortest %.Ng that reads back as exactly v,
 * with at most 15 significant digits (a measured number has no meaning in
 * a 16th digit, and 0.1 + 0.2 should print as 0.3). */
static void number_text(double v, char *buf, size_t size)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        joule_fmt(buf, size, "%.0f", v);
        if (strcmp(buf, "-0") == 0)
            joule_fmt(buf, size, "0");
        return;
    }
    for (int prec = 1; prec <= 15; prec++) {
        joule_fmt(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

enum joule_status joule_table_set_number(struct joule_table *t, size_t row, size_t col,
                                         double v)
{
    JOULE_ASSERT(row < t->n_rows && col < t->n_cols);
    struct joule_cell *c = &t->rows[row][col];
    cell_clear(c);
    if (!isfinite(v))
        return JOULE_OK;
    char buf[40];
    number_text(v, buf, sizeof(buf));
    c->text = strdup(buf);
    if (!c->text)
        return JOULE_ERR_NOMEM;
    c->kind = 1;
    c->num = v;
    return JOULE_OK;
}

enum joule_status joule_table_set_text(struct joule_table *t, size_t row, size_t col,
                                       const char *s)
{
    JOULE_ASSERT(row < t->n_rows && col < t->n_cols);
    struct joule_cell *c = &t->rows[row][col];
    cell_clear(c);
    if (!s)
        return JOULE_OK;
    c->text = strdup(s);
    if (!c->text)
        return JOULE_ERR_NOMEM;
    c->kind = 2;
    return JOULE_OK;
}

size_t joule_table_find_col(const struct joule_table *t, const char *name)
{
    for (size_t c = 0; c < t->n_cols; c++)
        if (strcmp(t->cols[c], name) == 0)
            return c;
    return (size_t)-1;
}

size_t joule_table_rows(const struct joule_table *t)
{
    return t ? t->n_rows : 0;
}

size_t joule_table_cols(const struct joule_table *t)
{
    return t ? t->n_cols : 0;
}

const char *joule_table_col_name(const struct joule_table *t, size_t col)
{
    return t && col < t->n_cols ? t->cols[col] : "";
}

int joule_table_is_number(const struct joule_table *t, size_t row, size_t col)
{
    return t && row < t->n_rows && col < t->n_cols && t->rows[row][col].kind == 1;
}

double joule_table_number(const struct joule_table *t, size_t row, size_t col)
{
    if (!joule_table_is_number(t, row, col))
        return NAN;
    return t->rows[row][col].num;
}

const char *joule_table_text(const struct joule_table *t, size_t row, size_t col)
{
    if (!t || row >= t->n_rows || col >= t->n_cols || !t->rows[row][col].text)
        return "";
    return t->rows[row][col].text;
}

void joule_free(void *p)
{
    free(p);
}
