/*
 * calib.c - the user's measurements as the advisor reads them: the
 * completed experiments of a results database that ran on a given device,
 * with what the analytic model predicts for each.
 *
 * An experiment ran on device d when one of d's name patterns occurs in
 * its meter description (NVML device names) or its environment (CPU
 * model); a pattern "!x" excludes names containing x.  CPU classes have no
 * patterns: they describe no particular machine, so nothing calibrates
 * them.
 */
#include "advise.h"

#include "alloc.h"
#include "joule_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void lower(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; s && s[n] && n + 1 < size; n++)
        out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
}

/* Whether text matches the '|'-separated patterns of dev. */
static int device_matches(const struct joule_hw *dev, const char *text)
{
    if (!dev->match || !dev->match[0])
        return 0;
    char low[4096], pat[64];
    lower(text, low, sizeof(low));
    int hit = 0;
    for (const char *p = dev->match; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        joule_fmt(pat, sizeof(pat), "%.*s", (int)n, p);
        if (pat[0] == '!' && strstr(low, pat + 1))
            return 0;
        if (pat[0] != '!' && pat[0] && strstr(low, pat))
            hit = 1;
        p += n + (bar ? 1 : 0);
    }
    return hit;
}

static long col_of(const struct joule_table *t, const char *name)
{
    for (size_t j = 0; j < joule_table_cols(t); j++)
        if (strcmp(joule_table_col_name(t, j), name) == 0)
            return (long)j;
    return -1;
}

static const char *info(const struct joule_table *t, const char *field)
{
    for (size_t i = 0; i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, 0), field) == 0)
            return joule_table_text(t, i, 1);
    return "";
}

static double mean_of(const struct joule_table *t, const char *metric)
{
    long m = col_of(t, "mean");
    for (size_t i = 0; m >= 0 && i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, 0), metric) == 0 &&
            joule_table_is_number(t, i, (size_t)m))
            return joule_table_number(t, i, (size_t)m);
    return NAN;
}

/* One experiment as a calibration point; 0 when it cannot be one. */
static int point_of(struct joule_store *s, const struct joule_hw *dev, int64_t id,
                    struct joule_calib_point *pt)
{
    struct joule_table *ti = NULL, *ts = NULL;
    int ok = 0;
    if (joule_store_query(s, JOULE_QUERY_INFO, id, &ti) != JOULE_OK ||
        joule_store_query(s, JOULE_QUERY_SUMMARY, id, &ts) != JOULE_OK)
        goto out;
    if (strcmp(info(ti, "status"), "completed") != 0)
        goto out;
    char where[8192];
    joule_fmt(where, sizeof(where), "%s %s", info(ti, "meter"), info(ti, "environment"));
    if (!device_matches(dev, where))
        goto out;
    const struct joule_prec *p = joule_prec_find(info(ti, "precision"));
    struct joule_shape sh;
    char err[256];
    if (!p || (joule_shape_resolve(info(ti, "model_path"), &sh, err, sizeof(err)) != JOULE_OK &&
               joule_shape_resolve(info(ti, "model_name"), &sh, err, sizeof(err)) != JOULE_OK))
        goto out;
    const double req = mean_of(ts, "requests");
    const double tin = mean_of(ts, "tokens_in"), tout = mean_of(ts, "tokens_out");
    struct joule_workload w = {(int32_t)strtol(info(ti, "batch_size"), NULL, 10),
                               req > 0 ? (int32_t)lround(tin / req) : 0,
                               req > 0 ? (int32_t)lround(tout / req) : 0};
    pt->measured = mean_of(ts, "j_per_1k_out_tokens");
    pt->throughput = mean_of(ts, "throughput_tok_s");
    if (w.batch < 1 || w.n_in < 1 || w.n_out < 1 || !(pt->measured > 0))
        goto out;
    struct joule_prediction pr;
    joule_model_predict(dev, &sh, p, &w, 1.0, &pr);
    pt->id = id;
    joule_strlcpy(pt->precision, p->id, sizeof(pt->precision));
    pt->batch = w.batch;
    pt->predicted = pr.j_per_1k_out;
    ok = 1;
out:
    joule_table_free(ti);
    joule_table_free(ts);
    return ok;
}

enum joule_status joule_calib_points(struct joule_store *s, const struct joule_hw *dev,
                                     struct joule_calib_point **pts, size_t *n)
{
    *pts = NULL;
    *n = 0;
    struct joule_table *t = NULL;
    enum joule_status st = joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t);
    if (st != JOULE_OK)
        return st;
    long cid = col_of(t, "id");
    size_t rows = joule_table_rows(t);
    struct joule_calib_point *out = joule_calloc(rows ? rows : 1, sizeof(*out));
    if (!out || cid < 0) {
        joule_table_free(t);
        free(out);
        return out ? JOULE_ERR_FORMAT : JOULE_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < rows; i++) {
        int64_t id = (int64_t)joule_table_number(t, i, (size_t)cid);
        if (point_of(s, dev, id, &out[k]))
            k++;
    }
    joule_table_free(t);
    *pts = out;
    *n = k;
    return JOULE_OK;
}
