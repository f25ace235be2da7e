/* test_plot.c - the plotting layer: PNG header and size, SVG well formed
 * with one marker path per data point, text alternatives, errors. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include "plot.h"
#include "report.h"
#include "fileio.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512];

static void tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static char *slurp(const char *path, size_t *len)
{
    char *data = NULL, err[256];
    if (joule_read_all(path, 64u << 20, &data, len, err, sizeof(err)) != JOULE_OK)
        return NULL;
    return data;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A tiny XML checker: tags balance and nest, attributes are quoted,
 * comments, declarations and CDATA are skipped.  Returns the number of
 * elements, or -1 when the text is not well formed. */
static long xml_elements(const char *s, size_t len)
{
    char stack[64][64];
    int depth = 0;
    long n = 0;
    bool root_closed = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '<')
            continue;
        if (root_closed && strncmp(s + i, "<!--", 4) != 0)
            return -1;
        if (strncmp(s + i, "<?", 2) == 0 || strncmp(s + i, "<!--", 4) == 0 ||
            strncmp(s + i, "<![CDATA[", 9) == 0 || strncmp(s + i, "<!", 2) == 0) {
            const char *end = strncmp(s + i, "<!--", 4) == 0        ? "-->"
                              : strncmp(s + i, "<![CDATA[", 9) == 0 ? "]]>"
                                                                    : ">";
            const char *e = strstr(s + i, end);
            if (!e)
                return -1;
            i = (size_t)(e - s) + strlen(end) - 1;
            continue;
        }
        bool closing = s[i + 1] == '/';
        size_t j = i + 1 + closing, k = j;
        while (k < len && s[k] != '>' && s[k] != '/' && s[k] != ' ' && s[k] != '\n')
            k++;
        if (k == j || k - j >= 64)
            return -1;
        char name[64];
        memcpy(name, s + j, k - j);
        name[k - j] = '\0';
        /* Attributes: scan to '>' honouring quotes. */
        char quote = 0;
        for (; k < len; k++) {
            if (quote) {
                if (s[k] == quote)
                    quote = 0;
            } else if (s[k] == '"' || s[k] == '\'') {
                quote = s[k];
            } else if (s[k] == '<') {
                return -1;
            } else if (s[k] == '>') {
                break;
            }
        }
        if (k == len)
            return -1;
        bool self = s[k - 1] == '/';
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return -1;
            if (--depth == 0)
                root_closed = true;
        } else {
            n++;
            if (!self) {
                if (depth == 64)
                    return -1;
                memcpy(stack[depth++], name, strlen(name) + 1);
            }
        }
        i = k;
    }
    return depth == 0 && root_closed ? n : -1;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Two series of 7 and 5 points (one NAN), error bars, two markers. */
static const double xa[] = {1, 2, 4, 8, 16, 32, 64};
static const double ya[] = {0.9, 0.55, 0.31, 0.2, 0.14, 0.11, 0.1};
static const double ea[] = {0.05, 0.04, 0.02, 0.02, 0.01, 0.01, 0.01};
static const double xb[] = {1, 2, 4, 8, 16};
static const double yb[] = {0.5, NAN, 0.2, 0.12, 0.09};

static struct joule_plot_series series[3];
static struct joule_plot_vline vlines[2] = {{3.0, "cycle 2"}, {20.0, "cycle 3 #2"}};
static struct joule_plot_panel panel;

static struct joule_plot_chart chart(int w, int h)
{
    series[0] = (struct joule_plot_series){"f16 #1", xa, ya, ea, 7, JOULE_PLOT_LINE, true, false};
    series[1] =
        (struct joule_plot_series){"q4_0", xb, yb, NULL, 5, JOULE_PLOT_SCATTER, false, false};
    series[2] =
        (struct joule_plot_series){"frontier", xa, ya, NULL, 3, JOULE_PLOT_STEP, false, true};
    panel = (struct joule_plot_panel){
        "panel", "batch size (sequences)", "energy (J/token)", series, 3, vlines, 2, true};
    return (struct joule_plot_chart){"Energy per token", &panel, 1, w, h};
}

static void test_png(void)
{
    char path[600], err[512];
    tmp_path(path, sizeof(path), "chart.png");
    struct joule_plot_chart c = chart(640, 420);
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_OK);
    size_t len = 0;
    unsigned char *d = (unsigned char *)slurp(path, &len);
    CHECK(d && len > 33);
    if (!d || len <= 33)
        return;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(memcmp(d, sig, 8) == 0);
    CHECK(memcmp(d + 12, "IHDR", 4) == 0);
    CHECK(be32(d + 16) == 640);
    CHECK(be32(d + 20) == 420);
    CHECK(memcmp(d + len - 8, "IEND", 4) == 0);
    free(d);

    /* Default size: 800 wide, 500 per panel; two panels. */
    struct joule_plot_panel two[2] = {panel, panel};
    c.panels = two;
    c.n_panels = 2;
    c.width_px = c.height_px = 0;
    tmp_path(path, sizeof(path), "two.PNG");
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_OK);
    d = (unsigned char *)slurp(path, &len);
    CHECK(d && len > 33 && be32(d + 16) == 800 && be32(d + 20) == 1000);
    free(d);
}

static void test_svg(void)
{
    char path[600], err[512];
    tmp_path(path, sizeof(path), "chart.svg");
    struct joule_plot_chart c = chart(0, 0);
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_OK);
    size_t len = 0;
    char *d = slurp(path, &len);
    CHECK(d != NULL);
    if (!d)
        return;
    long elements = xml_elements(d, len);
    CHECK(elements > 10);
    CHECK(strstr(d, "<svg") != NULL);
    /* 7 marked line points + 4 finite scatter points; the step series is
     * not marked; legend samples are opaque. */
    CHECK(joule_plot_n_markers(&c) == 11);
    CHECK(count(d, "fill-opacity:0.85") == 11);
    /* The white background. */
    CHECK(strstr(d, "fill:rgb(100%,100%,100%)") != NULL);
    free(d);

    /* Without markers on the line the count follows. */
    series[0].marked = false;
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_OK);
    d = slurp(path, &len);
    CHECK(d && count(d, "fill-opacity:0.85") == 4 && joule_plot_n_markers(&c) == 4);
    CHECK(d && xml_elements(d, len) > 10);
    free(d);

    /* The checker can fail: a broken file is refused. */
    const char *bad = "<svg><g></svg></g>";
    CHECK(xml_elements(bad, strlen(bad)) == -1);
    const char *unclosed = "<svg><path d=\"M 1 2\"/>";
    CHECK(xml_elements(unclosed, strlen(unclosed)) == -1);
}

static void test_alt_text(void)
{
    struct joule_plot_chart c = chart(0, 0);
    char alt[1024];
    size_t n = joule_plot_alt_text(&c, alt, sizeof(alt));
    CHECK(n == strlen(alt));
    CHECK(strstr(alt, "Energy per token: Line chart of energy (J/token)") == alt);
    CHECK(strstr(alt, "from 0.09 to 0.95") != NULL); /* y range with error bars */
    CHECK(strstr(alt, "against batch size (sequences) from 1 to 64") != NULL);
    CHECK(strstr(alt, "2 series (f16 #1, q4_0)") != NULL);
    CHECK(strstr(alt, "11 points") != NULL); /* 7 + 4 finite points; not the frontier */
    CHECK(strstr(alt, "with frontier") != NULL);
    CHECK(strstr(alt, "error bars") != NULL);
    CHECK(strstr(alt, "2 vertical markers") != NULL);
    CHECK(alt[n - 1] == '.');
    /* Truncation reports the length needed, like snprintf. */
    char small[16];
    CHECK(joule_plot_alt_text(&c, small, sizeof(small)) == n);
    CHECK(strlen(small) == sizeof(small) - 1);
}

static void test_errors(void)
{
    char path[600], err[512];
    struct joule_plot_chart c = chart(0, 0);
    tmp_path(path, sizeof(path), "chart.jpg");
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_ERR_UNSUPPORTED);
    CHECK(strstr(err, ".png or .svg") != NULL);
    CHECK(access(path, F_OK) != 0);
    CHECK(joule_plot_format("a.b/c") == NULL);
    CHECK_STR(joule_plot_format("x.Svg"), "svg");

    tmp_path(path, sizeof(path), "no/such/dir/chart.png");
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, path) != NULL);
    CHECK(strstr(err, "No such file") != NULL);

    /* Nothing finite: refused, and an old file stays as it was. */
    tmp_path(path, sizeof(path), "old.svg");
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("old", f);
        fclose(f);
    }
    double nanv[2] = {NAN, NAN};
    struct joule_plot_series s = {"x", nanv, nanv, NULL, 2, JOULE_PLOT_LINE, true, false};
    struct joule_plot_panel p = {NULL, "x (s)", "y (W)", &s, 1, NULL, 0, false};
    struct joule_plot_chart e = {NULL, &p, 1, 0, 0};
    CHECK(joule_plot_render(&e, path, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(strstr(err, "nothing to plot") != NULL);
    size_t len = 0;
    char *d = slurp(path, &len);
    CHECK(d && strcmp(d, "old") == 0);
    free(d);

    e.n_panels = 0;
    CHECK(joule_plot_render(&e, path, err, sizeof(err)) == JOULE_ERR_INVALID);
    c.width_px = 5;
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_ERR_INVALID);

    /* A directory in the way of the final name: the temporary file is
     * removed, the error names the path. */
    tmp_path(path, sizeof(path), "dir.svg");
    mkdir(path, 0700);
    c.width_px = 0;
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, "dir.svg") != NULL);

    /* After the errors, rendering still works (no PLplot state left over). */
    tmp_path(path, sizeof(path), "after.svg");
    CHECK(joule_plot_render(&c, path, err, sizeof(err)) == JOULE_OK);
}

/* The trials CSV: quoted fields, a missing energy, the frontier. */
static void test_trials_csv(void)
{
    char path[600], err[512];
    tmp_path(path, sizeof(path), "trials.csv");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("\xef\xbb\xbftrial,cfg,metric_rougeL,metric_energy_total_J,metric_tokens_total\r\n"
          "0,\"{\"\"a\"\": 1, \"\"b\"\": 2}\",0.2,50,100\r\n"
          "1,\"two\nlines\",0.3,80,100\r\n"
          "2,x,0.25,90,100\r\n"
          "3,x,0.35,nan,100\r\n"
          "4,x,0.4,120,100\r\n",
          f);
    fclose(f);
    struct joule_chart *c = NULL;
    CHECK(joule_chart_from_trials_csv(path, NULL, &c, err, sizeof(err)) == JOULE_OK);
    if (!c) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    const struct joule_plot_chart *pc = joule_chart_plot(c);
    CHECK(pc->n_panels == 1 && pc->panels[0].n_series == 2);
    const struct joule_plot_series *t = &pc->panels[0].series[0], *fr = &pc->panels[0].series[1];
    CHECK(t->n == 4 && fr->neutral);
    CHECK_NEAR(t->y[0], 500.0, 1e-9); /* 1000 * 50 J / 100 tokens */
    /* 0.25 at 900 J/1k is beaten by 0.3 at 800: off the frontier. */
    CHECK(fr->n == 3);
    double fx[] = {0.2, 0.3, 0.4}, fy[] = {500, 800, 1200};
    for (size_t i = 0; i < 3 && fr->n == 3; i++) {
        CHECK_NEAR(fr->x[i], fx[i], 1e-12);
        CHECK_NEAR(fr->y[i], fy[i], 1e-9);
    }
    CHECK(strstr(joule_chart_note(c), "1 trial without") != NULL);
    joule_chart_free(c);

    /* Errors name the file and the line. */
    f = fopen(path, "w");
    if (f) {
        fputs("metric_rougeL,metric_tpj\n0.1,2\n0.2,\"3\n", f);
        fclose(f);
    }
    CHECK(joule_chart_from_trials_csv(path, NULL, &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "trials.csv:3: a quote is not closed") != NULL);
    f = fopen(path, "w");
    if (f) {
        fputs("metric_rougeL\n0.1\n", f);
        fclose(f);
    }
    CHECK(joule_chart_from_trials_csv(path, NULL, &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "trials.csv:1: no column metric_energy_total_J") != NULL);
    CHECK(c == NULL);
}

int main(void)
{
    const char *t = getenv("JOULE_TEST_TMP");
    snprintf(tmpdir, sizeof(tmpdir), "%s/plot.XXXXXX", t && t[0] ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    RUN(test_png);
    RUN(test_svg);
    RUN(test_alt_text);
    RUN(test_errors);
    RUN(test_trials_csv);
    TEST_MAIN_END();
}
