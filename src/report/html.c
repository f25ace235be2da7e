/*
 * html.c - `joule report`: one self-contained HTML file of a run, a sweep,
 * a comparison or a tuning CSV (report.h).  Charts come from charts.c,
 * drawn as SVG by plot.c and inlined; every text from the store or a CSV
 * goes through esc().
 */
#define _POSIX_C_SOURCE 200809L
#include "report.h"
#include "alloc.h"
#include "buf.h"
#include "fileio.h"
#include "joule_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXPS 256
#define BIG_TABLE 40 /* rows beyond which a data table is folded in <details> */

struct out {
    struct joule_buf b;
    const char *path; /* the report file: charts are drawn beside it */
    int n_charts;
    char *err;
    size_t err_size;
};

/* --- writing ------------------------------------------------------------- */

static void put(struct out *o, const char *s)
{
    joule_buf_puts(&o->b, s);
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        joule_buf_put(&o->b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        o->b.oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    joule_buf_put(&o->b, big, (size_t)n);
    free(big);
}

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 2 && s[0] < 0xc2)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* s as HTML text or attribute value: markup characters as entities,
 * control characters and broken UTF-8 as U+FFFD (so the file is also
 * well-formed XML). */
static void esc(struct out *o, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        const char *e = NULL;
        switch (*p) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            break;
        }
        if (e) {
            put(o, e);
            p++;
            continue;
        }
        if (*p < 0x20 && *p != '\n' && *p != '\t') {
            put(o, "\xef\xbf\xbd");
            p++;
            continue;
        }
        size_t n = utf8_len(p);
        if (n == 0) {
            put(o, "\xef\xbf\xbd");
            p++;
            continue;
        }
        joule_buf_put(&o->b, (const char *)p, n);
        p += n;
    }
}

/* A number with 4 significant digits, "-" when not available. */
static const char *num(double v, char *buf, size_t size)
{
    if (!isfinite(v))
        joule_fmt(buf, size, "-");
    else
        joule_fmt(buf, size, "%.4g", v);
    return buf;
}

static void put_num_cell(struct out *o, double v)
{
    char b[48];
    putf(o, "<td class=\"num\">%s</td>", num(v, b, sizeof(b)));
}

/* "12.3 ± 0.41": the interval to 2 significant digits. */
static void put_mean_ci(struct out *o, double mean, double ci)
{
    char a[48];
    put(o, num(mean, a, sizeof(a)));
    if (isfinite(ci))
        putf(o, " \xc2\xb1 %.2g", ci);
}

/* --- the page ------------------------------------------------------------ */

static const char css[] =
    ":root{color-scheme:light}"
    "*{box-sizing:border-box}"
    "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0 auto;max-width:62rem;padding:1rem 1.2rem;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem;line-height:1.25;margin:.3rem 0}"
    "h2{font-size:1.25rem;border-bottom:2px solid #0072b2;padding-bottom:.15rem;margin-top:2.2rem}"
    "h3{font-size:1.05rem;margin-top:1.4rem}"
    ".meta{color:#555;font-size:.9rem}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));"
    "gap:.6rem;margin:1rem 0}"
    ".card{border:1px solid #ccc;border-left:5px solid #0072b2;border-radius:4px;padding:.45rem "
    ".7rem}"
    ".card .v{display:block;font-size:1.3rem;font-weight:600;font-variant-numeric:tabular-nums}"
    ".card .v small{font-size:.8rem;font-weight:400}"
    ".card .l{display:block;font-size:.85rem}.card .p{display:block;font-size:.78rem;color:#444}"
    ".verdict{background:#eef6fb;border-left:5px solid #0072b2;padding:.6rem .9rem;margin:1rem 0}"
    ".verdict p{margin:.3rem 0}"
    ".warn{background:#fff4e5;border-left:5px solid #d55e00;padding:.4rem .9rem;margin:1rem 0}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}"
    "caption{text-align:left;font-weight:600;padding:.2rem 0}"
    "th,td{border-bottom:1px solid #ddd;padding:.25rem .55rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "tr.best td,tr.best th{background:#e3f2ec;font-weight:600}"
    "td.note{min-width:14rem}"
    "figure{margin:1.4rem 0}"
    "figure svg{display:block;width:100%;max-width:100%;height:auto}"
    "figcaption{font-size:.9rem;color:#333;margin-top:.3rem}"
    "code{font-size:.85em;overflow-wrap:anywhere}"
    "footer{margin-top:2.5rem;font-size:.8rem;color:#555;border-top:1px solid #ddd}"
    "@media (max-width:600px){body{padding:.5rem;font-size:15px}h1{font-size:1.3rem}"
    "th,td{padding:.2rem .35rem}}"
    "@media print{body{max-width:none;padding:0;font-size:10pt}h2{break-after:avoid}"
    "figure,table,.card,.verdict{break-inside:avoid}.scroll{overflow:visible}"
    "a{color:inherit;text-decoration:none}}";

static void page_start(struct out *o, const char *title, const char *what, const char *source)
{
    put(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
           "<meta name=\"generator\" content=\"joule ");
    esc(o, joule_version());
    put(o, "\"/>\n<title>");
    esc(o, title);
    putf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n<h1>", css);
    esc(o, title);
    put(o, "</h1>\n<p class=\"meta\">");
    esc(o, what);
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    put(o, ". Made by joule ");
    esc(o, joule_version());
    putf(o, " on %s", when);
    if (source) {
        put(o, " from <code>");
        esc(o, source);
        put(o, "</code>");
    }
    put(o, ".</p>\n<nav class=\"meta\">Sections: <a href=\"#summary\">summary</a> \xc2\xb7 "
           "<a href=\"#methodology\">methodology</a> \xc2\xb7 <a href=\"#environment\">"
           "environment</a> \xc2\xb7 <a href=\"#charts\">charts and data</a></nav>\n"
           "</header>\n<main>\n");
}

static void page_end(struct out *o)
{
    put(o, "</main>\n<footer>\n<p>Means are over measured cycles; \xc2\xb1 is the 95% "
           "confidence interval (Student t, n \xe2\x88\x92 1 degrees of freedom; none for one "
           "cycle). Provenance says how each energy figure was obtained: <em>measured</em> "
           "(an energy counter), <em>sampled</em> (integrated power), <em>estimated</em> (a "
           "model). Charts use the Okabe\xe2\x80\x93Ito colours and a marker shape per series; "
           "each has a text alternative and a table of its figures. The formulas are in "
           "docs/methodology.md of joule.</p>\n</footer>\n</body>\n</html>\n");
}

/* --- tables of the store ------------------------------------------------- */

static size_t col(const struct joule_table *t, const char *name)
{
    for (size_t j = 0; t && j < joule_table_cols(t); j++)
        if (strcmp(joule_table_col_name(t, j), name) == 0)
            return j;
    return (size_t)-1;
}

static double tnum(const struct joule_table *t, size_t row, size_t c)
{
    return t && c != (size_t)-1 && row < joule_table_rows(t) && joule_table_is_number(t, row, c)
               ? joule_table_number(t, row, c)
               : NAN;
}

static const char *ttext(const struct joule_table *t, size_t row, size_t c)
{
    return t && c != (size_t)-1 && row < joule_table_rows(t) ? joule_table_text(t, row, c) : "";
}

struct metric {
    double mean, ci, cv, n;
    const char *prov;
};

struct exp {
    int64_t id;
    struct joule_table *info, *sum, *evals, *dom;
    json_t *env, *meter;
    /* the newest accuracy score */
    const char *task;
    double score;
};

static const char *info(const struct exp *e, const char *field)
{
    for (size_t i = 0; e->info && i < joule_table_rows(e->info); i++)
        if (strcmp(joule_table_text(e->info, i, 0), field) == 0)
            return joule_table_text(e->info, i, 1);
    return "";
}

static struct metric metric(const struct exp *e, const char *name)
{
    struct metric m = {NAN, NAN, NAN, NAN, ""};
    const struct joule_table *t = e->sum;
    for (size_t i = 0; t && i < joule_table_rows(t); i++)
        if (strcmp(joule_table_text(t, i, 0), name) == 0) {
            m.mean = tnum(t, i, col(t, "mean"));
            m.ci = tnum(t, i, col(t, "ci95"));
            m.cv = tnum(t, i, col(t, "cv"));
            m.n = tnum(t, i, col(t, "n"));
            m.prov = ttext(t, i, col(t, "provenance"));
            break;
        }
    return m;
}

/* The value of key in section of a canonical config YAML ("protocol",
 * "idle_s"), or "" (joule writes the config: two-space indents, one key a
 * line). */
static void yaml_get(const char *yaml, const char *section, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    size_t sl = strlen(section), kl = strlen(key);
    bool in = false;
    for (const char *p = yaml; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && p[0] != ' ')
            in = n == sl + 1 && strncmp(p, section, sl) == 0 && p[sl] == ':';
        else if (in && n > kl + 3 && strncmp(p, "  ", 2) == 0 && strncmp(p + 2, key, kl) == 0 &&
                 p[2 + kl] == ':') {
            const char *v = p + 3 + kl;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + n - v);
            joule_fmt(out, size, "%.*s", (int)vl, v);
            return;
        }
        p = nl ? nl + 1 : p + n;
    }
}

static void exp_free(struct exp *e)
{
    joule_table_free(e->info);
    joule_table_free(e->sum);
    joule_table_free(e->evals);
    joule_table_free(e->dom);
    json_decref(e->env);
    json_decref(e->meter);
}

static enum joule_status exp_load(struct joule_store *s, int64_t id, struct exp *e, char *err,
                                  size_t err_size)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->score = NAN;
    e->task = "";
    static const enum joule_query q[] = {JOULE_QUERY_INFO, JOULE_QUERY_SUMMARY, JOULE_QUERY_EVALS,
                                         JOULE_QUERY_DOMAINS};
    struct joule_table **t[] = {&e->info, &e->sum, &e->evals, &e->dom};
    for (size_t k = 0; k < JOULE_ARRAY_LEN(q); k++) {
        enum joule_status st = joule_store_query(s, q[k], id, t[k]);
        if (st != JOULE_OK) {
            const char *m = joule_store_errmsg(s);
            joule_fmt(err, err_size, "%s", m && m[0] ? m : joule_status_str(st));
            return st;
        }
    }
    if (joule_table_rows(e->sum) == 0) {
        joule_fmt(err, err_size,
                  "experiment %lld has no measured cycle (see `joule results show %lld`)",
                  (long long)id, (long long)id);
        return JOULE_ERR_NOT_FOUND;
    }
    e->env = json_loads(info(e, "environment"), 0, NULL);
    e->meter = json_loads(info(e, "meter"), 0, NULL);
    size_t n = joule_table_rows(e->evals);
    if (n > 0) {
        e->task = ttext(e->evals, n - 1, col(e->evals, "task"));
        e->score = tnum(e->evals, n - 1, col(e->evals, "score"));
    }
    return JOULE_OK;
}

/* --- charts -------------------------------------------------------------- */

static bool starts(const char *p, const char *s)
{
    return strncmp(p, s, strlen(s)) == 0;
}

/* The SVG markup of a PLplot file made fit to inline as chart k: the XML
 * prolog dropped, the root's fixed size replaced by its viewBox (CSS
 * scales it), the text alternative as its <title>, and every id (cairo's
 * glyphs and clips) prefixed so that charts do not share them. */
static void inline_svg(struct out *o, const char *svg, int k, const char *alt)
{
    const char *root = strstr(svg, "<svg");
    const char *end = root ? strchr(root, '>') : NULL;
    if (!end)
        return;
    char vb[64] = "0 0 800 500";
    const char *v = strstr(root, "viewBox=\"");
    if (v && v < end) {
        v += 9;
        const char *q = strchr(v, '"');
        if (q && (size_t)(q - v) < sizeof(vb))
            joule_fmt(vb, sizeof(vb), "%.*s", (int)(q - v), v);
    }
    putf(o,
         "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
         "viewBox=\"%s\" role=\"img\" aria-labelledby=\"c%d-title\">\n<title id=\"c%d-title\">",
         vb, k, k);
    esc(o, alt);
    put(o, "</title>");
    const char *p = end + 1;
    char pre[16];
    joule_fmt(pre, sizeof(pre), "c%d-", k);
    while (*p) {
        static const char *const refs[] = {"id=\"", "href=\"#", "url(#"};
        size_t r = 0;
        while (r < JOULE_ARRAY_LEN(refs) && !starts(p, refs[r]))
            r++;
        if (r < JOULE_ARRAY_LEN(refs)) {
            put(o, refs[r]);
            put(o, pre);
            p += strlen(refs[r]);
            continue;
        }
        const char *next = p + 1;
        while (*next && *next != 'i' && *next != 'h' && *next != 'u')
            next++;
        joule_buf_put(&o->b, p, (size_t)(next - p));
        p = next;
    }
    /* drop trailing white space after </svg> */
    while (o->b.n > 0 && (o->b.p[o->b.n - 1] == '\n' || o->b.p[o->b.n - 1] == ' '))
        o->b.p[--o->b.n] = '\0';
    put(o, "\n");
}

/* The figures behind a chart: one row a point, per panel. */
static void chart_table(struct out *o, const struct joule_plot_chart *c, int k)
{
    for (size_t pi = 0; pi < c->n_panels; pi++) {
        const struct joule_plot_panel *p = &c->panels[pi];
        size_t rows = 0;
        bool err = false;
        for (size_t s = 0; s < p->n_series; s++) {
            for (size_t i = 0; i < p->series[s].n; i++)
                rows += isfinite(p->series[s].x[i]) && isfinite(p->series[s].y[i]);
            err = err || p->series[s].y_err;
        }
        bool fold = rows > BIG_TABLE;
        if (fold && c->n_panels > 1)
            putf(o, "<details><summary>The %zu figures behind figure %d, panel %zu</summary>\n",
                 rows, k, pi + 1);
        else if (fold)
            putf(o, "<details><summary>The %zu figures behind figure %d</summary>\n", rows, k);
        put(o, "<div class=\"scroll\"><table class=\"data\">\n<caption>");
        if (c->n_panels > 1)
            putf(o, "Figure %d, panel %zu: ", k, pi + 1);
        else
            putf(o, "Figure %d: ", k);
        esc(o, p->title ? p->title : "data");
        put(o, "</caption>\n<thead><tr><th scope=\"col\">series</th><th scope=\"col\">");
        esc(o, p->x_label);
        put(o, "</th><th scope=\"col\">");
        esc(o, p->y_label);
        put(o, "</th>");
        if (err)
            put(o, "<th scope=\"col\">\xc2\xb1 95% CI</th>");
        put(o, "</tr></thead>\n<tbody>\n");
        for (size_t s = 0; s < p->n_series; s++) {
            const struct joule_plot_series *se = &p->series[s];
            for (size_t i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
                    continue;
                put(o, "<tr><td>");
                esc(o, se->label && se->label[0] ? se->label : "-");
                put(o, "</td>");
                put_num_cell(o, se->x[i]);
                put_num_cell(o, se->y[i]);
                if (err)
                    put_num_cell(o, se->y_err ? se->y_err[i] : NAN);
                put(o, "</tr>\n");
            }
        }
        put(o, "</tbody></table></div>\n");
        if (fold)
            put(o, "</details>\n");
    }
}

/* Draws chart c as SVG beside the report, inlines it in a <figure> with
 * its caption, then its data table. */
static enum joule_status put_chart(struct out *o, struct joule_chart *ch, const char *caption)
{
    const struct joule_plot_chart *c = joule_chart_plot(ch);
    int k = ++o->n_charts;
    size_t need = joule_plot_alt_text(c, NULL, 0);
    char *alt = malloc(need + 1);
    size_t tlen = strlen(o->path) + 64;
    char *tmp = malloc(tlen);
    char *svg = NULL;
    size_t len = 0;
    enum joule_status st = alt && tmp ? JOULE_OK : JOULE_ERR_NOMEM;
    if (st == JOULE_OK) {
        joule_plot_alt_text(c, alt, need + 1);
        joule_fmt(tmp, tlen, "%s.chart%d.%ld.svg", o->path, k, (long)getpid());
        st = joule_plot_render(c, tmp, o->err, o->err_size);
    }
    if (st == JOULE_OK) {
        st = joule_read_all(tmp, 64u << 20, &svg, &len, o->err, o->err_size);
        unlink(tmp);
    }
    if (st == JOULE_OK) {
        putf(o, "<figure id=\"fig-%d\">\n", k);
        inline_svg(o, svg, k, alt);
        putf(o, "<figcaption><strong>Figure %d.</strong> ", k);
        esc(o, caption);
        if (joule_chart_note(ch)[0]) {
            put(o, " Note: ");
            esc(o, joule_chart_note(ch));
            put(o, ".");
        }
        put(o, "</figcaption>\n</figure>\n");
        chart_table(o, c, k);
    }
    free(svg);
    free(tmp);
    free(alt);
    return st;
}

/* A chart of the store, or a paragraph saying why there is none (data the
 * experiments lack is not an error of the report). */
static enum joule_status store_chart(struct out *o, struct joule_store *s, enum joule_chart_kind k,
                                     const int64_t *ids, size_t n, const char *caption)
{
    char why[512] = "";
    struct joule_chart *ch = NULL;
    enum joule_status st = joule_chart_from_store(s, k, ids, n, NULL, &ch, why, sizeof(why));
    if (st == JOULE_ERR_NOT_FOUND) {
        putf(o, "<p class=\"meta\">No %s chart: ", joule_chart_kind_name(k));
        esc(o, why);
        put(o, ".</p>\n");
        return JOULE_OK;
    }
    if (st != JOULE_OK) {
        joule_fmt(o->err, o->err_size, "%s", why);
        return st;
    }
    st = put_chart(o, ch, caption);
    joule_chart_free(ch);
    return st;
}

/* --- summary of one run -------------------------------------------------- */

struct headline {
    const char *metric, *label, *unit;
};

static const struct headline headlines[] = {
    {"ept_out_j_per_tok", "energy per output token", "J/token"},
    {"j_per_1k_out_tokens", "energy per 1000 output tokens", "J/1k tokens"},
    {"tokens_per_joule", "output tokens per joule", "tokens/J"},
    {"throughput_tok_s", "output throughput", "tokens/s"},
    {"latency_mean_s", "request latency, mean", "s"},
    {"latency_p90_s", "request latency, 90th percentile", "s"},
    {"ttft_mean_s", "time to first token, mean", "s"},
    {"power_avg_w", "average power", "W"},
    {"ept_in_j_per_tok", "energy per input token", "J/token"},
    {"energy_total_j", "energy of the workload, gross", "J"},
    {"energy_net_j", "energy of the workload, net of idle", "J"},
};

#define N_CARDS 6 /* the first headlines, shown as cards */

static void put_cards(struct out *o, const struct exp *e)
{
    put(o, "<div class=\"cards\">\n");
    for (size_t h = 0; h < N_CARDS; h++) {
        struct metric m = metric(e, headlines[h].metric);
        char a[48];
        putf(o,
             "<div class=\"card\" data-metric=\"%s\" data-mean=\"%.17g\"><span class=\"v\">%s "
             "<small>%s</small></span><span class=\"l\">%s</span><span class=\"p\">",
             headlines[h].metric, m.mean, num(m.mean, a, sizeof(a)), headlines[h].unit,
             headlines[h].label);
        if (isfinite(m.ci))
            putf(o, "\xc2\xb1 %.2g (95%% CI), ", m.ci);
        if (m.prov[0]) {
            esc(o, m.prov);
            put(o, ", ");
        }
        putf(o, "%.0f cycles</span></div>\n", m.n);
    }
    put(o, "</div>\n");
}

static void put_flags(struct out *o, const struct exp *e)
{
    const char *f = info(e, "flags");
    if (!f[0])
        return;
    putf(o, "<p class=\"warn\">Validation flags of experiment %lld: <strong>", (long long)e->id);
    esc(o, f);
    put(o, "</strong>. They mark figures to read with care (a window shorter than the meter's "
           "update period, a negative net energy, failed requests ...); see "
           "docs/methodology.md, \xe2\x80\x9cValidation flags\xe2\x80\x9d.</p>\n");
}

static void run_summary(struct out *o, const struct exp *e)
{
    put(o, "<section id=\"summary\">\n<h2>Summary</h2>\n<p>Experiment ");
    putf(o, "%lld, <strong>", (long long)e->id);
    esc(o, info(e, "name"));
    put(o, "</strong>: ");
    esc(o, info(e, "model_name"));
    put(o, ", ");
    esc(o, info(e, "precision"));
    put(o, ", batch ");
    esc(o, info(e, "batch_size"));
    put(o, ", dataset ");
    esc(o, info(e, "dataset"));
    put(o, "; ");
    esc(o, info(e, "cycles_done"));
    put(o, " of ");
    esc(o, info(e, "cycles_planned"));
    put(o, " cycles measured, status ");
    esc(o, info(e, "status"));
    put(o, ".</p>\n");
    put_cards(o, e);
    put_flags(o, e);
    put(o, "<div class=\"scroll\"><table id=\"headline\">\n<caption>Headline figures (mean over "
           "cycles \xc2\xb1 95% confidence interval)</caption>\n<thead><tr><th scope=\"col\">"
           "figure</th><th scope=\"col\">mean \xc2\xb1 95% CI</th><th scope=\"col\">CV</th>"
           "<th scope=\"col\">cycles</th><th scope=\"col\">unit</th><th scope=\"col\">"
           "provenance</th></tr></thead>\n<tbody>\n");
    for (size_t h = 0; h < JOULE_ARRAY_LEN(headlines); h++) {
        struct metric m = metric(e, headlines[h].metric);
        if (!isfinite(m.mean) && !isfinite(m.n))
            continue;
        putf(o,
             "<tr><th scope=\"row\">%s</th><td class=\"num\" data-metric=\"%s\" "
             "data-mean=\"%.17g\" data-ci=\"%.17g\">",
             headlines[h].label, headlines[h].metric, m.mean, m.ci);
        put_mean_ci(o, m.mean, m.ci);
        char cv[32] = "-";
        if (isfinite(m.cv))
            joule_fmt(cv, sizeof(cv), "%.1f%%", 100 * m.cv);
        putf(o, "</td><td class=\"num\">%s</td><td class=\"num\">%.0f</td><td>%s</td><td>", cv, m.n,
             headlines[h].unit);
        esc(o, m.prov[0] ? m.prov : "-");
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table></div>\n");
    if (joule_table_rows(e->evals) > 0) {
        putf(o, "<p>Accuracy of the measured file: ");
        esc(o, e->task);
        char b[48];
        putf(o, " score <strong>%s</strong>.</p>\n", num(e->score, b, sizeof(b)));
    }
    put(o, "</section>\n");
}

/* --- methodology and environment ----------------------------------------- */

/* "pkg (fake, package): measured, update 1 ms; ..." */
static void put_meters(struct out *o, const struct exp *e)
{
    size_t i;
    json_t *m;
    bool any = false;
    json_array_foreach(e->meter, i, m)
    {
        if (!json_is_object(m))
            continue;
        put(o, any ? "; " : "");
        any = true;
        esc(o, json_string_value(json_object_get(m, "name")));
        put(o, " (");
        esc(o, json_string_value(json_object_get(m, "source")));
        put(o, ", ");
        esc(o, json_string_value(json_object_get(m, "kind")));
        put(o, "): <strong>");
        esc(o, json_string_value(json_object_get(m, "provenance")));
        put(o, "</strong>");
        double u = json_number_value(json_object_get(m, "update_period_s"));
        if (u > 0)
            putf(o, ", counter update %.3g ms", 1000 * u);
        if (json_is_false(json_object_get(m, "in_total")))
            put(o, ", not in the total");
        const char *why = json_string_value(json_object_get(m, "reason"));
        if (why) {
            put(o, ", ");
            esc(o, why);
        }
    }
    if (!any)
        put(o, "-");
}

/* Idle power of each domain (from the first cycle's run window). */
static void put_idle(struct out *o, const struct exp *e, const char *idle_s)
{
    const struct joule_table *d = e->dom;
    size_t cw = col(d, "window"), cc = col(d, "cycle"), cd = col(d, "domain"),
           ci = col(d, "idle_power_w");
    const char *first = NULL;
    bool any = false;
    for (size_t r = 0; r < joule_table_rows(d); r++) {
        if (strcmp(ttext(d, r, cw), "run") != 0)
            continue;
        if (!first)
            first = ttext(d, r, cc);
        if (strcmp(ttext(d, r, cc), first) != 0)
            continue;
        double w = tnum(d, r, ci);
        if (!isfinite(w))
            continue;
        char b[48];
        put(o, any ? ", " : "");
        esc(o, ttext(d, r, cd));
        putf(o, " %s W", num(w, b, sizeof(b)));
        any = true;
    }
    if (!any)
        put(o, idle_s[0] && strtod(idle_s, NULL) > 0 ? "not stored" : "none measured");
    if (idle_s[0]) {
        put(o, " (");
        esc(o, idle_s);
        put(o, " s of idle before the experiment)");
    }
}

/* Windows measured: the distinct window names and the sampler interval. */
static void put_windows(struct out *o, const struct exp *e)
{
    const struct joule_table *d = e->dom;
    size_t cw = col(d, "window");
    const char *seen[8];
    size_t n = 0;
    for (size_t r = 0; r < joule_table_rows(d) && n < 8; r++) {
        const char *w = ttext(d, r, cw);
        size_t k = 0;
        while (k < n && strcmp(seen[k], w) != 0)
            k++;
        if (k == n)
            seen[n++] = w;
    }
    for (size_t k = 0; k < n; k++) {
        put(o, k ? ", " : "");
        esc(o, seen[k]);
    }
    if (!n)
        put(o, "-");
}

/* One row of the methodology table: label, then a cell per experiment. */
enum fact {
    F_CYCLES,
    F_ORDER,
    F_WARMUP,
    F_MINWIN,
    F_REPEATS,
    F_COOLDOWN,
    F_INTERVAL,
    F_IDLE,
    F_METERS,
    F_WINDOWS,
    F_STATUS,
    F_FLAGS,
    N_FACTS
};

static const char *const fact_names[N_FACTS] = {
    "cycles measured / planned",
    "cycle order",
    "warmup runs (not measured)",
    "minimum window (s)",
    "workload repeats per cycle (mean)",
    "cooldown between cycles (s)",
    "sampling interval (ms)",
    "idle baseline (power per domain)",
    "meter sources and provenance",
    "windows measured",
    "status",
    "validation flags",
};

static void put_fact(struct out *o, const struct exp *e, enum fact f)
{
    const char *cfg = info(e, "config");
    char v[128];
    switch (f) {
    case F_CYCLES:
        esc(o, info(e, "cycles_done"));
        put(o, " / ");
        esc(o, info(e, "cycles_planned"));
        return;
    case F_ORDER:
        esc(o, info(e, "cycle_order"));
        return;
    case F_WARMUP:
        yaml_get(cfg, "protocol", "warmup_runs", v, sizeof(v));
        break;
    case F_MINWIN:
        yaml_get(cfg, "protocol", "min_window_s", v, sizeof(v));
        break;
    case F_REPEATS:
        num(metric(e, "repeats").mean, v, sizeof(v));
        break;
    case F_COOLDOWN:
        yaml_get(cfg, "protocol", "cooldown_s", v, sizeof(v));
        break;
    case F_INTERVAL:
        yaml_get(cfg, "protocol", "meter_interval_ms", v, sizeof(v));
        break;
    case F_IDLE:
        yaml_get(cfg, "protocol", "idle_s", v, sizeof(v));
        put_idle(o, e, v);
        return;
    case F_METERS:
        put_meters(o, e);
        return;
    case F_WINDOWS:
        put_windows(o, e);
        return;
    case F_STATUS:
        esc(o, info(e, "status"));
        return;
    default:
        esc(o, info(e, "flags")[0] ? info(e, "flags") : "none");
        return;
    }
    esc(o, v[0] ? v : "-");
}

static void methodology(struct out *o, const struct exp *e, size_t n)
{
    put(o, "<section id=\"methodology\">\n<h2>Methodology</h2>\n"
           "<p>Energy comes from counters first (NVML, RAPL), then integrated power samples "
           "(trapezoid rule), then a named estimate; each figure carries that provenance. An idle "
           "baseline is measured before the experiment and every energy is reported gross and "
           "net of idle power \xc3\x97 duration. Warmup runs are not measured; a workload shorter "
           "than the minimum window is repeated inside one window and divided back out; "
           "prefill and decode are separate windows. Each cycle repeats the whole workload and "
           "the figures above are means over cycles with a 95% Student-t interval.</p>\n");
    put(o, "<div class=\"scroll\"><table id=\"protocol\">\n<caption>Measurement protocol"
           "</caption>\n<thead><tr><th scope=\"col\">fact</th>");
    for (size_t i = 0; i < n; i++)
        putf(o, "<th scope=\"col\">experiment %lld</th>", (long long)e[i].id);
    put(o, "</tr></thead>\n<tbody>\n");
    for (int f = 0; f < N_FACTS; f++) {
        putf(o, "<tr><th scope=\"row\">%s</th>", fact_names[f]);
        for (size_t i = 0; i < n; i++) {
            put(o, "<td>");
            put_fact(o, &e[i], (enum fact)f);
            put(o, "</td>");
        }
        put(o, "</tr>\n");
    }
    put(o, "</tbody></table></div>\n</section>\n");
}

/* The windows of one run: per cycle, window and domain. */
static void windows_table(struct out *o, const struct exp *e)
{
    const struct joule_table *d = e->dom;
    static const char *const cols[] = {"cycle",        "window",     "domain",       "provenance",
                                       "energy_j",     "bound_j",    "net_energy_j", "avg_power_w",
                                       "idle_power_w", "interval_s", "n_samples",    "flags",
                                       "note"};
    static const char *const heads[] = {"cycle",
                                        "window",
                                        "domain",
                                        "provenance",
                                        "energy (J)",
                                        "\xc2\xb1 bound (J)",
                                        "net of idle (J)",
                                        "average power (W)",
                                        "idle power (W)",
                                        "interval (s)",
                                        "samples",
                                        "flags",
                                        "note"};
    size_t rows = joule_table_rows(d);
    if (!rows)
        return;
    bool fold = rows > BIG_TABLE;
    put(o, "<h3>Measured windows</h3>\n");
    if (fold)
        putf(o, "<details><summary>The %zu windows</summary>\n", rows);
    put(o, "<div class=\"scroll\"><table id=\"windows\">\n<caption>Each cycle's windows and "
           "energy domains</caption>\n<thead><tr>");
    for (size_t j = 0; j < JOULE_ARRAY_LEN(heads); j++)
        putf(o, "<th scope=\"col\">%s</th>", heads[j]);
    put(o, "</tr></thead>\n<tbody>\n");
    for (size_t r = 0; r < rows; r++) {
        put(o, "<tr>");
        for (size_t j = 0; j < JOULE_ARRAY_LEN(cols); j++) {
            size_t c = col(d, cols[j]);
            bool number = j >= 4 && j <= 10;
            if (number) {
                put_num_cell(o, tnum(d, r, c));
            } else {
                put(o, j == JOULE_ARRAY_LEN(cols) - 1 ? "<td class=\"note\">" : "<td>");
                esc(o, ttext(d, r, c));
                put(o, "</td>");
            }
        }
        put(o, "</tr>\n");
    }
    put(o, "</tbody></table></div>\n");
    if (fold)
        put(o, "</details>\n");
}

static void put_json_value(struct out *o, json_t *v)
{
    if (json_is_string(v)) {
        esc(o, json_string_value(v));
    } else if (json_is_integer(v)) {
        putf(o, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        char b[48];
        put(o, num(json_real_value(v), b, sizeof(b)));
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        esc(o, d ? d : "");
        free(d);
    }
}

static void environment(struct out *o, const struct exp *e, size_t n)
{
    put(o, "<section id=\"environment\">\n<h2>Environment</h2>\n");
    put(o, "<div class=\"scroll\"><table id=\"env\">\n<caption>Hardware and software of "
           "experiment ");
    putf(o, "%lld</caption>\n<tbody>\n", (long long)e[0].id);
    const char *key;
    json_t *v;
    json_object_foreach(e[0].env, key, v)
    {
        put(o, "<tr><th scope=\"row\">");
        esc(o, key);
        put(o, "</th><td>");
        put_json_value(o, v);
        put(o, "</td></tr>\n");
    }
    static const char *const fields[] = {"model_name", "model_path", "model_digest", "precision",
                                         "batch_size", "backend",    "dataset",      "config_hash",
                                         "created",    "finished"};
    for (size_t k = 0; k < JOULE_ARRAY_LEN(fields); k++) {
        if (n > 1 && (strcmp(fields[k], "precision") == 0 || strcmp(fields[k], "batch_size") == 0))
            continue; /* in the table of configurations */
        putf(o, "<tr><th scope=\"row\">%s</th><td>", fields[k]);
        esc(o, info(&e[0], fields[k])[0] ? info(&e[0], fields[k]) : "-");
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table></div>\n");
    if (n > 1) {
        size_t same = 0;
        put(o, "<p>");
        for (size_t i = 1; i < n; i++)
            same += strcmp(info(&e[i], "environment"), info(&e[0], "environment")) == 0;
        if (same == n - 1)
            putf(o, "All %zu experiments ran in this environment.", n);
        else {
            put(o, "<strong>The environment differs</strong> for experiment(s)");
            for (size_t i = 1; i < n; i++)
                if (strcmp(info(&e[i], "environment"), info(&e[0], "environment")) != 0)
                    putf(o, " %lld", (long long)e[i].id);
            put(o, " (see <code>joule results show ID</code>): compare their figures with care.");
        }
        put(o, "</p>\n");
    }
    put(o, "</section>\n");
}

/* --- sweeps and comparisons ---------------------------------------------- */

static bool lower_better(const char *task)
{
    return strcmp(task, "ppl") == 0;
}

static const char *task_name(const char *task)
{
    return strcmp(task, "ppl") == 0     ? "perplexity (lower is better)"
           : strcmp(task, "rouge") == 0 ? "ROUGE-L F1"
                                        : "accuracy";
}

static void exp_label(struct out *o, const struct exp *e)
{
    putf(o, "experiment %lld (", (long long)e->id);
    esc(o, info(e, "precision"));
    put(o, ", batch ");
    esc(o, info(e, "batch_size"));
    put(o, ")");
}

/* 100 * (a - b) / b as "+12%" */
static const char *pct(double a, double b, char *buf, size_t size)
{
    if (!isfinite(a) || !isfinite(b) || b == 0)
        joule_fmt(buf, size, "-");
    else
        joule_fmt(buf, size, "%+.3g%%", 100.0 * (a - b) / fabs(b));
    return buf;
}

static void verdict(struct out *o, const struct exp *e, size_t n, size_t best)
{
    struct metric eb = metric(&e[best], "ept_out_j_per_tok");
    size_t worst = best, fast = best, quick = best, acc = n;
    for (size_t i = 0; i < n; i++) {
        if (metric(&e[i], "ept_out_j_per_tok").mean > metric(&e[worst], "ept_out_j_per_tok").mean)
            worst = i;
        if (metric(&e[i], "latency_p90_s").mean < metric(&e[fast], "latency_p90_s").mean)
            fast = i;
        if (metric(&e[i], "throughput_tok_s").mean > metric(&e[quick], "throughput_tok_s").mean)
            quick = i;
        if (isfinite(e[i].score) &&
            (acc == n ||
             (lower_better(e[i].task) ? e[i].score < e[acc].score : e[i].score > e[acc].score)))
            acc = i;
    }
    char a[48], b[48], c[48];
    put(o, "<div class=\"verdict\" id=\"verdict\">\n<p><strong>Least energy per output token: ");
    exp_label(o, &e[best]);
    putf(o, "</strong>, <span data-metric=\"ept_out_j_per_tok\" data-mean=\"%.17g\">", eb.mean);
    put_mean_ci(o, eb.mean, eb.ci);
    struct metric j1k = metric(&e[best], "j_per_1k_out_tokens");
    putf(o, " J/token</span> (95%% CI), %s J per 1000 output tokens", num(j1k.mean, a, sizeof(a)));
    if (worst != best) {
        double most = metric(&e[worst], "ept_out_j_per_tok").mean;
        putf(o, ": %.3g%% less than the most energy per token, ",
             isfinite(most) && most > 0 ? 100.0 * (most - eb.mean) / most : NAN);
        exp_label(o, &e[worst]);
        putf(o, " at %s J/token", num(metric(&e[worst], "ept_out_j_per_tok").mean, c, sizeof(c)));
    }
    put(o, ".</p>\n");
    /* Is the lead beyond the intervals? */
    bool overlap = false;
    for (size_t i = 0; i < n; i++) {
        struct metric m = metric(&e[i], "ept_out_j_per_tok");
        if (i == best || !isfinite(m.mean))
            continue;
        double ci_b = isfinite(eb.ci) ? eb.ci : 0, ci_i = isfinite(m.ci) ? m.ci : 0;
        if (m.mean - ci_i <= eb.mean + ci_b) {
            putf(o, "%s%lld", overlap ? ", " : "<p>Its 95% interval overlaps those of experiments ",
                 (long long)e[i].id);
            overlap = true;
        }
    }
    if (overlap)
        put(o, ": the ranking against those is not established at 95% (more cycles would "
               "narrow the intervals).</p>\n");
    else if (n > 1)
        put(o, "<p>Its lead is beyond the 95% intervals of all the others.</p>\n");
    /* Cost in latency and throughput. */
    struct metric lb = metric(&e[best], "latency_p90_s"), tb = metric(&e[best], "throughput_tok_s");
    putf(o, "<p>Latency: its 90th-percentile request latency is %s s", num(lb.mean, a, sizeof(a)));
    if (fast == best)
        put(o, ", the lowest of all");
    else {
        putf(o, ", %s against the lowest, %s s of ",
             pct(lb.mean, metric(&e[fast], "latency_p90_s").mean, b, sizeof(b)),
             num(metric(&e[fast], "latency_p90_s").mean, c, sizeof(c)));
        exp_label(o, &e[fast]);
    }
    putf(o, ". Throughput: %s tokens/s", num(tb.mean, a, sizeof(a)));
    if (quick == best)
        put(o, ", the highest of all");
    else {
        putf(o, ", %s against the highest, %s tokens/s of ",
             pct(tb.mean, metric(&e[quick], "throughput_tok_s").mean, b, sizeof(b)),
             num(metric(&e[quick], "throughput_tok_s").mean, c, sizeof(c)));
        exp_label(o, &e[quick]);
    }
    put(o, ".</p>\n<p>Accuracy: ");
    if (acc == n) {
        put(o, "no score is stored with these experiments (<code>joule compare</code> scores "
               "each configuration; <code>joule eval</code> scores a model file).");
    } else if (!isfinite(e[best].score)) {
        put(o, "the least-energy configuration has no score stored.");
    } else {
        putf(o, "%s %s", task_name(e[best].task), num(e[best].score, a, sizeof(a)));
        if (acc == best || e[acc].score == e[best].score)
            put(o, ", the best of all");
        else {
            putf(o, ", against the best %s of ", num(e[acc].score, b, sizeof(b)));
            exp_label(o, &e[acc]);
            putf(o, " (%s)", pct(e[best].score, e[acc].score, c, sizeof(c)));
        }
        put(o, ".");
    }
    put(o, "</p>\n</div>\n");
}

static void configs_table(struct out *o, const struct exp *e, size_t n, size_t best)
{
    bool scored = false;
    for (size_t i = 0; i < n; i++)
        scored = scored || isfinite(e[i].score);
    put(o, "<div class=\"scroll\"><table id=\"configs\">\n<caption>The configurations (mean "
           "\xc2\xb1 95% CI over cycles; \xe2\x98\x85 least energy per output token)</caption>\n"
           "<thead><tr><th scope=\"col\">experiment</th><th scope=\"col\">precision</th>"
           "<th scope=\"col\">batch</th><th scope=\"col\">energy per output token (J/token)</th>"
           "<th scope=\"col\">energy per 1k output tokens (J)</th><th scope=\"col\">tokens per "
           "joule</th><th scope=\"col\">throughput (tokens/s)</th><th scope=\"col\">latency p90 "
           "(s)</th><th scope=\"col\">average power (W)</th>");
    if (scored)
        put(o, "<th scope=\"col\">accuracy score</th>");
    put(o, "<th scope=\"col\">energy vs least</th><th scope=\"col\">latency p90 vs least-energy"
           "</th><th scope=\"col\">provenance</th><th scope=\"col\">flags</th></tr></thead>\n"
           "<tbody>\n");
    struct metric eb = metric(&e[best], "ept_out_j_per_tok"),
                  lb = metric(&e[best], "latency_p90_s");
    for (size_t i = 0; i < n; i++) {
        static const char *const ms[] = {"ept_out_j_per_tok", "j_per_1k_out_tokens",
                                         "tokens_per_joule",  "throughput_tok_s",
                                         "latency_p90_s",     "power_avg_w"};
        putf(o, "<tr data-id=\"%lld\"%s><th scope=\"row\">%s%lld</th><td>", (long long)e[i].id,
             i == best ? " class=\"best\"" : "", i == best ? "\xe2\x98\x85 " : "",
             (long long)e[i].id);
        esc(o, info(&e[i], "precision"));
        put(o, "</td><td class=\"num\">");
        esc(o, info(&e[i], "batch_size"));
        put(o, "</td>");
        for (size_t k = 0; k < JOULE_ARRAY_LEN(ms); k++) {
            struct metric m = metric(&e[i], ms[k]);
            putf(o, "<td class=\"num\" data-metric=\"%s\" data-mean=\"%.17g\">", ms[k], m.mean);
            put_mean_ci(o, m.mean, k == 2 || k == 5 ? NAN : m.ci);
            put(o, "</td>");
        }
        char a[48];
        if (scored) {
            put(o, "<td class=\"num\">");
            if (isfinite(e[i].score)) {
                esc(o, e[i].task);
                putf(o, " %s", num(e[i].score, a, sizeof(a)));
            } else {
                put(o, "-");
            }
            put(o, "</td>");
        }
        putf(o, "<td class=\"num\">%s</td>",
             pct(metric(&e[i], "ept_out_j_per_tok").mean, eb.mean, a, sizeof(a)));
        putf(o, "<td class=\"num\">%s</td><td>",
             pct(metric(&e[i], "latency_p90_s").mean, lb.mean, a, sizeof(a)));
        esc(o, metric(&e[i], "ept_out_j_per_tok").prov);
        put(o, "</td><td>");
        esc(o, info(&e[i], "flags"));
        put(o, "</td></tr>\n");
    }
    put(o, "</tbody></table></div>\n");
}

static size_t least_energy(const struct exp *e, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++) {
        double a = metric(&e[i], "ept_out_j_per_tok").mean,
               b = metric(&e[best], "ept_out_j_per_tok").mean;
        if (isfinite(a) && (!isfinite(b) || a < b))
            best = i;
    }
    return best;
}

static enum joule_status multi_report(struct out *o, struct joule_store *s,
                                      const struct joule_report_opts *op, const struct exp *e)
{
    size_t n = op->n_ids, best = least_energy(e, n);
    bool compare = op->kind == JOULE_REPORT_COMPARE;
    put(o, "<section id=\"summary\">\n<h2>Summary</h2>\n");
    putf(o, "<p>%zu configurations of ", n);
    esc(o, info(&e[0], "model_name"));
    put(o, " measured with the same protocol; which uses the least energy per output token, "
           "and at what cost in latency and accuracy:</p>\n");
    verdict(o, e, n, best);
    put_cards(o, &e[best]);
    configs_table(o, e, n, best);
    for (size_t i = 0; i < n; i++)
        if (info(&e[i], "flags")[0]) {
            put(o, "<p class=\"warn\">Some experiments carry validation flags (last column): "
                   "read their figures with care; see docs/methodology.md, \xe2\x80\x9cValidation "
                   "flags\xe2\x80\x9d.</p>\n");
            break;
        }
    put(o, "</section>\n");
    methodology(o, e, n);
    environment(o, e, n);
    put(o, "<section id=\"charts\">\n<h2>Charts and data</h2>\n");
    bool scored = true;
    for (size_t i = 0; i < n; i++)
        scored = scored && isfinite(e[i].score);
    enum joule_status st = JOULE_OK;
    const char *pareto_cap = "Energy per 1000 output tokens against the accuracy score, a marker "
                             "shape per precision; the dashed line is the Pareto frontier (no "
                             "other configuration is at least as accurate for less energy).";
    const char *sweep_cap = "Energy per output token and output throughput against batch size, "
                            "a line per precision; error bars are the 95% confidence intervals "
                            "over cycles.";
    if (scored)
        st = store_chart(o, s, JOULE_CHART_PARETO, op->ids, n, pareto_cap);
    else if (compare)
        put(o, "<p class=\"meta\">No Pareto chart: not every experiment has an accuracy "
               "score.</p>\n");
    if (st == JOULE_OK)
        st = store_chart(o, s, JOULE_CHART_SWEEP, op->ids, n, sweep_cap);
    if (st == JOULE_OK)
        st = store_chart(o, s, JOULE_CHART_LATENCY, op->ids, n,
                         "Distribution of request latency: the fraction of requests (over "
                         "every cycle) finished within a time, a step line per configuration.");
    put(o, "</section>\n");
    return st;
}

/* --- one run ------------------------------------------------------------- */

static enum joule_status run_report(struct out *o, struct joule_store *s, const struct exp *e)
{
    run_summary(o, e);
    methodology(o, e, 1);
    put(o, "<section id=\"windows-section\">\n");
    windows_table(o, e);
    put(o, "</section>\n");
    environment(o, e, 1);
    put(o, "<section id=\"charts\">\n<h2>Charts and data</h2>\n");
    enum joule_status st = store_chart(
        o, s, JOULE_CHART_TIMELINE, &e->id, 1,
        "Power of each energy domain during the measured windows; dashed vertical lines mark "
        "each cycle's window start (labelled) and end. Only measured windows are stored, so the "
        "line breaks between cycles.");
    if (st == JOULE_OK)
        st = store_chart(o, s, JOULE_CHART_LATENCY, &e->id, 1,
                         "Distribution of request latency: the fraction of requests (over "
                         "every cycle) finished within a time.");
    put(o, "</section>\n");
    return st;
}

/* --- a tuning CSV -------------------------------------------------------- */

static double cell_num(const struct joule_csv *c, size_t r, long j)
{
    if (j < 0)
        return NAN;
    const char *s = joule_csv_cell(c, r, (size_t)j);
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end && isfinite(v) ? v : NAN;
}

/* J per 1000 output tokens of trial row r, as charts.c computes it. */
static double trial_j1k(const struct joule_csv *c, size_t r)
{
    double e = cell_num(c, r, joule_csv_col(c, "metric_energy_total_J")),
           t = cell_num(c, r, joule_csv_col(c, "metric_tokens_total")),
           tpj = cell_num(c, r, joule_csv_col(c, "metric_tpj"));
    if (isfinite(e) && t > 0)
        return 1000.0 * e / t;
    return tpj > 0 ? 1000.0 / tpj : NAN;
}

static void trial_name(struct out *o, const struct joule_csv *c, size_t r)
{
    long jn = joule_csv_col(c, "number");
    if (jn < 0)
        jn = joule_csv_col(c, "trial");
    put(o, "trial ");
    esc(o, jn >= 0 ? joule_csv_cell(c, r, (size_t)jn) : "?");
}

static enum joule_status tune_report(struct out *o, const struct joule_report_opts *op)
{
    struct joule_csv c;
    enum joule_status st = joule_csv_read(op->csv_path, &c, o->err, o->err_size);
    if (st != JOULE_OK)
        return st;
    struct joule_chart *ch = NULL;
    st = joule_chart_from_trials_csv(op->csv_path, NULL, &ch, o->err, o->err_size);
    if (st != JOULE_OK) {
        joule_csv_free(&c);
        return st;
    }
    long jr = joule_csv_col(&c, "metric_rougeL"), js = joule_csv_col(&c, "energy_source"),
         jl = joule_csv_col(&c, "metric_latency_s"), jstate = joule_csv_col(&c, "state");
    size_t best = 0, acc = 0, usable = 0;
    for (size_t r = 1; r < c.rows; r++) {
        double j = trial_j1k(&c, r), a = cell_num(&c, r, jr);
        if (!isfinite(j) || !isfinite(a))
            continue;
        if (!usable++ || j < trial_j1k(&c, best))
            best = r;
        if (usable == 1 || a > cell_num(&c, acc, jr))
            acc = r;
    }
    /* The frontier: no other trial at least as accurate for less energy. */
    bool *front = joule_calloc(c.rows, sizeof(bool));
    if (!front) {
        joule_chart_free(ch);
        joule_csv_free(&c);
        return JOULE_ERR_NOMEM;
    }
    for (size_t r = 1; r < c.rows; r++) {
        double j = trial_j1k(&c, r), a = cell_num(&c, r, jr);
        if (!isfinite(j) || !isfinite(a))
            continue;
        front[r] = true;
        for (size_t q = 1; q < c.rows && front[r]; q++) {
            double jq = trial_j1k(&c, q), aq = cell_num(&c, q, jr);
            if (q != r && isfinite(jq) && isfinite(aq) && aq >= a && jq <= j && (aq > a || jq < j))
                front[r] = false;
        }
    }
    char a[48], b[48], x[48];
    put(o, "<section id=\"summary\">\n<h2>Summary</h2>\n");
    putf(o, "<p>%zu trials in <code>", c.rows - 1);
    esc(o, op->csv_path);
    putf(o, "</code>; %zu with both an accuracy (ROUGE-L F1) and an energy figure.</p>\n", usable);
    if (usable) {
        put(o, "<div class=\"verdict\" id=\"verdict\">\n<p><strong>Least energy: ");
        trial_name(o, &c, best);
        putf(o,
             "</strong>, <span data-metric=\"j_per_1k_out_tokens\" data-mean=\"%.17g\">%s J per "
             "1000 output tokens</span>, ROUGE-L F1 %s.</p>\n<p>Accuracy: ",
             trial_j1k(&c, best), num(trial_j1k(&c, best), a, sizeof(a)),
             num(cell_num(&c, best, jr), b, sizeof(b)));
        if (cell_num(&c, acc, jr) <= cell_num(&c, best, jr))
            put(o, "it is also the most accurate trial.");
        else {
            put(o, "the most accurate is ");
            trial_name(o, &c, acc);
            putf(o, " with ROUGE-L F1 %s at %s J per 1000 tokens (%s energy).",
                 num(cell_num(&c, acc, jr), a, sizeof(a)), num(trial_j1k(&c, acc), b, sizeof(b)),
                 pct(trial_j1k(&c, acc), trial_j1k(&c, best), x, sizeof(x)));
        }
        if (jl >= 0 && isfinite(cell_num(&c, best, jl)))
            putf(o, " Latency of the least-energy trial: %s s per example.",
                 num(cell_num(&c, best, jl), a, sizeof(a)));
        put(o, "</p>\n</div>\n");
    }
    /* All the trials, the CSV's columns escaped, the computed energy added. */
    put(o, "<div class=\"scroll\"><table id=\"trials\">\n<caption>The trials (\xe2\x98\x85 least "
           "energy; frontier: on the Pareto frontier of accuracy against energy)</caption>\n"
           "<thead><tr>");
    for (size_t j = 0; j < c.cols; j++) {
        put(o, "<th scope=\"col\">");
        esc(o, joule_csv_cell(&c, 0, j));
        put(o, "</th>");
    }
    put(o, "<th scope=\"col\">energy per 1k output tokens (J)</th><th scope=\"col\">frontier</th>"
           "</tr></thead>\n<tbody>\n");
    for (size_t r = 1; r < c.rows; r++) {
        putf(o, "<tr%s>", r == best && usable ? " class=\"best\"" : "");
        for (size_t j = 0; j < c.cols; j++) {
            put(o, "<td>");
            if (j == 0 && r == best && usable)
                put(o, "\xe2\x98\x85 ");
            esc(o, joule_csv_cell(&c, r, j));
            put(o, "</td>");
        }
        putf(o, "<td class=\"num\">%s</td><td>%s</td></tr>\n", num(trial_j1k(&c, r), a, sizeof(a)),
             front[r] ? "yes" : "");
    }
    put(o, "</tbody></table></div>\n</section>\n");
    put(o, "<section id=\"methodology\">\n<h2>Methodology</h2>\n<p>Each trial ran one prompt "
           "configuration on its examples; accuracy is the mean ROUGE-L F1 "
           "(<code>metric_rougeL</code>); energy per 1000 output tokens is "
           "<code>metric_energy_total_J</code> \xc3\x97 1000 / <code>metric_tokens_total</code>, "
           "or 1000 / <code>metric_tpj</code> when those are absent. Trials without both are "
           "left out of the chart.");
    if (js >= 0) {
        put(o, " Energy sources recorded:");
        for (size_t r = 1; r < c.rows; r++) {
            bool dup = false;
            for (size_t q = 1; q < r && !dup; q++)
                dup = strcmp(joule_csv_cell(&c, q, (size_t)js),
                             joule_csv_cell(&c, r, (size_t)js)) == 0;
            if (!dup) {
                put(o, " <strong>");
                esc(o, joule_csv_cell(&c, r, (size_t)js)[0] ? joule_csv_cell(&c, r, (size_t)js)
                                                            : "none");
                put(o, "</strong>");
            }
        }
        put(o, ".");
    }
    if (jstate >= 0)
        put(o, " The <code>state</code> column says whether a trial completed, was pruned by "
               "successive halving, or failed.");
    put(o, "</p>\n</section>\n<section id=\"environment\">\n<h2>Environment</h2>\n<p>A trials "
           "CSV does not record the machine it was measured on; the measured runs of the tuning "
           "keep it in the results database (<code>joule results show ID</code>).</p>\n"
           "</section>\n<section id=\"charts\">\n<h2>Charts and data</h2>\n");
    st = put_chart(o, ch,
                   "Energy per 1000 output tokens against ROUGE-L F1 of each trial; the "
                   "dashed line is the Pareto frontier.");
    put(o, "</section>\n");
    free(front);
    joule_chart_free(ch);
    joule_csv_free(&c);
    return st;
}

/* --- entry point --------------------------------------------------------- */

static enum joule_status write_buf(FILE *f, void *ctx)
{
    const struct joule_buf *b = ctx;
    return fwrite(b->p, 1, b->n, f) == b->n ? JOULE_OK : JOULE_ERR_IO;
}

static const char *const kind_what[] = {"Report of one experiment", "Report of a sweep",
                                        "Report of a comparison", "Report of a tuning run"};

enum joule_status joule_report_write(struct joule_store *s, const struct joule_report_opts *op,
                                     const char *path, size_t *n_charts, char *err, size_t err_size)
{
    if (err_size)
        err[0] = '\0';
    if (n_charts)
        *n_charts = 0;
    if (!op || !path || (unsigned)op->kind > JOULE_REPORT_TUNE ||
        (op->kind == JOULE_REPORT_TUNE ? !op->csv_path
                                       : !s || !op->ids || op->n_ids == 0 || op->n_ids > MAX_EXPS ||
                                             (op->kind == JOULE_REPORT_RUN && op->n_ids != 1))) {
        joule_fmt(err, err_size,
                  "a report needs one experiment, a list of 1 to %d, or a "
                  "trials CSV, and an output file",
                  MAX_EXPS);
        return JOULE_ERR_INVALID;
    }
    struct out o = {{0}, path, 0, err, err_size};
    struct exp *e = NULL;
    size_t n = op->kind == JOULE_REPORT_TUNE ? 0 : op->n_ids;
    enum joule_status st = JOULE_OK;
    if (n) {
        e = joule_calloc(n, sizeof(*e));
        if (!e)
            return JOULE_ERR_NOMEM;
        for (size_t i = 0; i < n && st == JOULE_OK; i++)
            st = exp_load(s, op->ids[i], &e[i], err, err_size);
    }
    char title[300], what[600];
    if (st == JOULE_OK) {
        if (op->kind == JOULE_REPORT_TUNE) {
            const char *base = strrchr(op->csv_path, '/');
            joule_fmt(title, sizeof(title), "Tuning trials %s", base ? base + 1 : op->csv_path);
            joule_fmt(what, sizeof(what), "%s: %s", kind_what[op->kind], op->csv_path);
        } else if (op->kind == JOULE_REPORT_RUN) {
            joule_fmt(title, sizeof(title), "Experiment %lld: %s", (long long)e[0].id,
                      info(&e[0], "name"));
            joule_fmt(what, sizeof(what), "%s", kind_what[op->kind]);
        } else {
            joule_fmt(title, sizeof(title), "%s of %zu configurations: %s",
                      op->kind == JOULE_REPORT_SWEEP ? "Sweep" : "Comparison", n,
                      info(&e[0], "model_name"));
            joule_fmt(what, sizeof(what), "%s: experiments", kind_what[op->kind]);
            for (size_t i = 0; i < n; i++) {
                size_t len = strlen(what);
                joule_fmt(what + len, sizeof(what) - len, "%s %lld", i ? "," : "",
                          (long long)e[i].id);
            }
        }
        page_start(&o, op->title ? op->title : title, what, op->source);
        switch (op->kind) {
        case JOULE_REPORT_RUN:
            st = run_report(&o, s, &e[0]);
            break;
        case JOULE_REPORT_TUNE:
            st = tune_report(&o, op);
            break;
        default:
            st = multi_report(&o, s, op, e);
            break;
        }
        page_end(&o);
    }
    for (size_t i = 0; i < n; i++)
        exp_free(&e[i]);
    free(e);
    if (st == JOULE_OK && o.b.oom)
        st = JOULE_ERR_NOMEM;
    if (st == JOULE_OK)
        st = joule_write_atomic(path, write_buf, &o.b, err, err_size);
    if (st == JOULE_ERR_NOMEM && err_size && !err[0])
        joule_fmt(err, err_size, "out of memory");
    if (st == JOULE_OK && n_charts)
        *n_charts = (size_t)o.n_charts;
    free(o.b.p);
    return st;
}
