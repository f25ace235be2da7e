/* table_out.c - struct joule_table printed as an aligned text table, as
 * CSV (RFC 4180 quoting) or as a JSON array of objects. */
#include "cli.h"
#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_number_text(double v, char *buf, size_t size)
{
    if (!isfinite(v))
        joule_fmt(buf, size, "-");
    else if (v == floor(v) && fabs(v) < 1e15)
        joule_fmt(buf, size, "%.0f", v);
    else
        joule_fmt(buf, size, "%.6g", v);
}

/* The text a cell shows in an aligned table: one line, numbers short. */
static void display_text(const struct joule_table *t, size_t r, size_t c, char *buf,
                         size_t size)
{
    if (joule_table_is_number(t, r, c)) {
        cli_number_text(joule_table_number(t, r, c), buf, size);
        return;
    }
    const char *s = joule_table_text(t, r, c);
    joule_strlcpy(buf, s[0] ? s : "-", size);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* Cell c of nc, padded to its column: numbers to the right, text to the
 * left (the last column unpadded, so lines carry no trailing blanks). */
static void put_cell(FILE *f, const char *text, int pad, size_t c, size_t nc, bool number)
{
    fputs(c ? "  " : "", f);
    if (number)
        fprintf(f, "%*s%s", pad, "", text);
    else if (c + 1 < nc)
        fprintf(f, "%s%*s", text, pad, "");
    else
        fputs(text, f);
}

void cli_table_print(FILE *f, const struct joule_table *t)
{
    size_t nc = joule_table_cols(t), nr = joule_table_rows(t);
    size_t *w = joule_calloc(nc ? nc : 1, sizeof(size_t));
    if (!w)
        return;
    char buf[256];
    for (size_t c = 0; c < nc; c++) {
        w[c] = text_width(joule_table_col_name(t, c));
        for (size_t r = 0; r < nr; r++) {
            display_text(t, r, c, buf, sizeof(buf));
            size_t k = text_width(buf);
            if (k > w[c])
                w[c] = k;
        }
    }
    /* A header sits over its column's side: right for numbers. */
    for (size_t c = 0; c < nc; c++) {
        const char *h = joule_table_col_name(t, c);
        put_cell(f, h, (int)(w[c] - text_width(h)), c, nc,
                 nr > 0 && joule_table_is_number(t, 0, c));
    }
    fputc('\n', f);
    for (size_t r = 0; r < nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            display_text(t, r, c, buf, sizeof(buf));
            put_cell(f, buf, (int)(w[c] - text_width(buf)), c, nc,
                     joule_table_is_number(t, r, c));
        }
        fputc('\n', f);
    }
    free(w);
}

void cli_table_csv(FILE *f, const struct joule_table *t, bool header)
{
    size_t nc = joule_table_cols(t), nr = joule_table_rows(t);
    if (header) {
        for (size_t c = 0; c < nc; c++) {
            fputs(c ? "," : "", f);
            cli_csv_field(f, joule_table_col_name(t, c));
        }
        fputc('\n', f);
    }
    for (size_t r = 0; r < nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            fputs(c ? "," : "", f);
            cli_csv_field(f, joule_table_text(t, r, c));
        }
        fputc('\n', f);
    }
}

static void json_str(FILE *f, const char *s)
{
    json_t *j = cli_json_text(s, strlen(s));
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(d ? d : "null", f);
    free(d);
    json_decref(j);
}

/* A missing text cell and an empty one look the same: null. */
static void json_cell(FILE *f, const struct joule_table *t, size_t r, size_t c)
{
    const char *s = joule_table_text(t, r, c);
    if (joule_table_is_number(t, r, c))
        fputs(s, f);
    else if (s[0])
        json_str(f, s);
    else
        fputs("null", f);
}

void cli_table_json(FILE *f, const struct joule_table *t)
{
    size_t nc = joule_table_cols(t), nr = joule_table_rows(t);
    fputc('[', f);
    for (size_t r = 0; r < nr; r++) {
        fputs(r ? ",\n {" : "\n {", f);
        for (size_t c = 0; c < nc; c++) {
            fputs(c ? ", " : "", f);
            json_str(f, joule_table_col_name(t, c));
            fputs(": ", f);
            json_cell(f, t, r, c);
        }
        fputc('}', f);
    }
    fputs(nr ? "\n]\n" : "]\n", f);
}

void cli_table_json_object(FILE *f, const struct joule_table *t, size_t row)
{
    size_t nc = joule_table_cols(t);
    fputc('{', f);
    for (size_t c = 0; c < nc; c++) {
        fputs(c ? ", " : "", f);
        json_str(f, joule_table_col_name(t, c));
        fputs(": ", f);
        json_cell(f, t, row, c);
    }
    fputc('}', f);
}

void cli_table_write(FILE *f, const struct joule_table *t, enum cli_format fmt)
{
    if (fmt == CLI_JSON)
        cli_table_json(f, t);
    else if (fmt == CLI_CSV)
        cli_table_csv(f, t, true);
    else
        cli_table_print(f, t);
}
