/*
 * plot.c - charts drawn with PLplot's cairo devices (pngcairo, svgcairo).
 * The only file that includes plplot.h: see plot.h for what it promises.
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"
#include "alloc.h"
#include "joule_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <plplot.h>

/* --- palette ------------------------------------------------------------ */

/* cmap0 slots.  0 is the background (white): PLplot's default map is for
 * dark backgrounds, so the whole map is replaced. */
enum {
    COL_BG = 0,
    COL_FG = 1,      /* axes, text */
    COL_GRID = 2,    /* light grey grid */
    COL_NEUTRAL = 3, /* dark grey: frontiers, vertical markers */
    COL_SERIES = 4,  /* N_PALETTE opaque series colours (lines, legend) */
};

#define N_PALETTE 8
#define COL_MARKER (COL_SERIES + N_PALETTE) /* the same colours, translucent */
#define N_COLOURS (COL_MARKER + N_PALETTE)
#define MARKER_ALPHA 0.85

/* Okabe & Ito (2008), "Color Universal Design": distinct for the common
 * colour-vision deficiencies.  Yellow, weak on white, comes last but one. */
static const unsigned char palette[N_PALETTE][3] = {
    {0, 114, 178},   /* blue */
    {213, 94, 0},    /* vermillion */
    {0, 158, 115},   /* bluish green */
    {230, 159, 0},   /* orange */
    {204, 121, 167}, /* reddish purple */
    {86, 180, 233},  /* sky blue */
    {240, 228, 66},  /* yellow */
    {0, 0, 0},       /* black */
};

static void set_palette(void)
{
    PLINT r[N_COLOURS], g[N_COLOURS], b[N_COLOURS];
    PLFLT a[N_COLOURS];
    static const unsigned char fixed[COL_SERIES][3] = {
        {255, 255, 255}, {0, 0, 0}, {225, 225, 225}, {80, 80, 80}};
    for (int i = 0; i < N_COLOURS; i++) {
        const unsigned char *c = i < COL_SERIES   ? fixed[i]
                                 : i < COL_MARKER ? palette[i - COL_SERIES]
                                                  : palette[i - COL_MARKER];
        r[i] = c[0];
        g[i] = c[1];
        b[i] = c[2];
        a[i] = i >= COL_MARKER ? MARKER_ALPHA : 1.0;
    }
    plscmap0a(r, g, b, a, N_COLOURS);
}

/* --- marker shapes -------------------------------------------------------- */

#define N_SHAPES 8
#define MAX_VERTS 20

/* Unit polygon (radius about 1) of shape k: circle, square, triangle up,
 * diamond, triangle down, plus, cross, star.  Returns the vertex count. */
static int shape_polygon(int k, double *ux, double *uy)
{
    const double pi = 3.14159265358979323846;
    int n = 0;
    switch (k % N_SHAPES) {
    case 0: /* circle */
        n = MAX_VERTS;
        for (int i = 0; i < n; i++) {
            ux[i] = cos(2 * pi * i / n);
            uy[i] = sin(2 * pi * i / n);
        }
        break;
    case 1: { /* square */
        static const double sx[] = {-0.85, 0.85, 0.85, -0.85}, sy[] = {-0.85, -0.85, 0.85, 0.85};
        n = 4;
        memcpy(ux, sx, sizeof(sx));
        memcpy(uy, sy, sizeof(sy));
        break;
    }
    case 2: /* triangle up */
    case 4: /* triangle down */
        n = 3;
        for (int i = 0; i < n; i++) {
            double t = pi / 2 + 2 * pi * i / 3 + (k % N_SHAPES == 4 ? pi : 0);
            ux[i] = 1.15 * cos(t);
            uy[i] = 1.15 * sin(t);
        }
        break;
    case 3: /* diamond */
        n = 4;
        for (int i = 0; i < n; i++) {
            ux[i] = 1.1 * cos(pi / 2 * i);
            uy[i] = 1.1 * sin(pi / 2 * i);
        }
        break;
    case 5:   /* plus */
    case 6: { /* cross: the plus turned by 45 degrees */
        static const double px[] = {-0.35, 0.35,  0.35,  1,  1,  0.35,
                                    0.35,  -0.35, -0.35, -1, -1, -0.35};
        static const double py[] = {1,  1,  0.35,  0.35,  -0.35, -0.35,
                                    -1, -1, -0.35, -0.35, 0.35,  0.35};
        double rot = k % N_SHAPES == 6 ? pi / 4 : 0;
        n = 12;
        for (int i = 0; i < n; i++) {
            ux[i] = 1.05 * (px[i] * cos(rot) - py[i] * sin(rot));
            uy[i] = 1.05 * (px[i] * sin(rot) + py[i] * cos(rot));
        }
        break;
    }
    default: /* five-pointed star */
        n = 10;
        for (int i = 0; i < n; i++) {
            double t = pi / 2 + pi * i / 5, rad = i % 2 ? 0.5 : 1.25;
            ux[i] = rad * cos(t);
            uy[i] = rad * sin(t);
        }
        break;
    }
    return n;
}

/* World units per pixel in the current viewport. */
struct scale {
    double x, y;
};

static struct scale world_per_px(int width_px, int height_px)
{
    PLFLT nx0, nx1, ny0, ny1, wx0, wx1, wy0, wy1;
    plgvpd(&nx0, &nx1, &ny0, &ny1);
    plgvpw(&wx0, &wx1, &wy0, &wy1);
    struct scale s = {(wx1 - wx0) / ((nx1 - nx0) * width_px),
                      (wy1 - wy0) / ((ny1 - ny0) * height_px)};
    return s;
}

static void draw_marker(int shape, double x, double y, double r_px, struct scale s)
{
    double ux[MAX_VERTS], uy[MAX_VERTS];
    PLFLT px[MAX_VERTS], py[MAX_VERTS];
    int n = shape_polygon(shape, ux, uy);
    for (int i = 0; i < n; i++) {
        px[i] = x + ux[i] * r_px * s.x;
        py[i] = y + uy[i] * r_px * s.y;
    }
    plfill(n, px, py);
}

/* --- text ---------------------------------------------------------------- */

/* PLplot reads '#' as an escape: double it so text is shown as given. */
static void pl_text(char *dst, size_t size, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 2 < size; i++) {
        if (src[i] == '#')
            dst[j++] = '#';
        dst[j++] = src[i];
    }
    dst[j] = '\0';
}

/* --- ranges -------------------------------------------------------------- */

struct range {
    double lo, hi;
    size_t n; /* finite points seen */
};

static void range_add(struct range *r, double v)
{
    if (!isfinite(v))
        return;
    if (r->n++ == 0 || v < r->lo)
        r->lo = v;
    if (r->n == 1 || v > r->hi)
        r->hi = v;
}

static bool point_ok(const struct joule_plot_series *s, size_t i)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

static void panel_ranges(const struct joule_plot_panel *p, struct range *x, struct range *y)
{
    memset(x, 0, sizeof(*x));
    memset(y, 0, sizeof(*y));
    for (size_t k = 0; k < p->n_series; k++) {
        const struct joule_plot_series *s = &p->series[k];
        for (size_t i = 0; i < s->n; i++) {
            if (!point_ok(s, i))
                continue;
            range_add(x, s->x[i]);
            range_add(y, s->y[i]);
            if (s->y_err && isfinite(s->y_err[i])) {
                range_add(y, s->y[i] - fabs(s->y_err[i]));
                range_add(y, s->y[i] + fabs(s->y_err[i]));
            }
        }
    }
}

/* The drawn window: the data with 5% to spare, a unit around a single value. */
static void padded(const struct range *r, bool from_zero, double *lo, double *hi)
{
    double a = r->n ? r->lo : 0, b = r->n ? r->hi : 1;
    if (from_zero) {
        a = fmin(a, 0);
        b = fmax(b, 0);
    }
    if (b - a <= 1e-12 * fmax(fabs(a), fabs(b))) {
        double d = fabs(a) > 0 ? fabs(a) * 0.1 : 1;
        a -= d;
        b += d;
    }
    double pad = 0.05 * (b - a);
    *lo = from_zero && a >= 0 ? a : a - pad;
    *hi = b + pad;
}

/* --- drawing ------------------------------------------------------------- */

struct frame {
    int w, h;     /* page, pixels */
    double scale; /* line and marker size relative to an 800 px wide chart */
    double text;  /* text size factor: PLplot scales text with the page height */
};

static void draw_series(const struct joule_plot_series *s, int slot, struct frame f)
{
    PLFLT *x = joule_calloc(2 * s->n + 1, sizeof(PLFLT));
    PLFLT *y = joule_calloc(2 * s->n + 1, sizeof(PLFLT));
    PLFLT *lo = joule_calloc(s->n + 1, sizeof(PLFLT));
    PLFLT *hi = joule_calloc(s->n + 1, sizeof(PLFLT));
    if (!x || !y || !lo || !hi)
        goto out;
    int line_col = s->neutral ? COL_NEUTRAL : COL_SERIES + slot % N_PALETTE;
    int mark_col = s->neutral ? COL_NEUTRAL : COL_MARKER + slot % N_PALETTE;
    plwidth(s->neutral ? 1.5 * f.scale : 2.0 * f.scale);
    pllsty(s->neutral ? 2 : 1);
    plcol0(line_col);
    PLINT n = 0;
    /* A non-finite point breaks the line (the gap between two windows). */
    for (size_t i = 0; s->kind != JOULE_PLOT_SCATTER && i <= s->n; i++) {
        if (i == s->n || !point_ok(s, i)) {
            if (n > 1)
                plline(n, x, y);
            n = 0;
            continue;
        }
        if (s->kind == JOULE_PLOT_STEP && n > 0) {
            x[n] = s->x[i];
            y[n] = y[n - 1];
            n++;
        }
        x[n] = s->x[i];
        y[n] = s->y[i];
        n++;
    }
    pllsty(1);
    if (s->y_err) {
        PLINT m = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (!point_ok(s, i) || !isfinite(s->y_err[i]) || s->y_err[i] == 0)
                continue;
            x[m] = s->x[i];
            lo[m] = s->y[i] - fabs(s->y_err[i]);
            hi[m] = s->y[i] + fabs(s->y_err[i]);
            m++;
        }
        plwidth(1.2 * f.scale);
        if (m > 0)
            plerry(m, x, lo, hi);
    }
    if (s->kind == JOULE_PLOT_SCATTER || s->marked) {
        struct scale sc = world_per_px(f.w, f.h);
        plcol0(mark_col);
        for (size_t i = 0; i < s->n; i++)
            if (point_ok(s, i))
                draw_marker(slot, s->x[i], s->y[i], 5.0 * f.scale, sc);
    }
out:
    free(x);
    free(y);
    free(lo);
    free(hi);
}

/* The legend, in its own viewport right of the plot. */
static void draw_legend(const struct joule_plot_panel *p, const int *slots, double vy0, double vy1,
                        struct frame f)
{
    plvpor(0.80, 0.995, vy0, vy1);
    plwind(0, 1, 0, 1);
    struct scale sc = world_per_px(f.w, f.h);
    double line_h = 22.0 * f.scale * sc.y, y = 1 - 0.5 * line_h;
    plschr(0, 0.8 * f.text);
    for (size_t k = 0; k < p->n_series && y > 0; k++) {
        const struct joule_plot_series *s = &p->series[k];
        if (!s->label || !s->label[0] || s->kind == JOULE_PLOT_NOTES)
            continue;
        PLFLT lx[2] = {0.02, 0.2}, ly[2] = {y, y};
        if (s->kind != JOULE_PLOT_SCATTER) {
            plcol0(s->neutral ? COL_NEUTRAL : COL_SERIES + slots[k] % N_PALETTE);
            plwidth((s->neutral ? 1.5 : 2.0) * f.scale);
            pllsty(s->neutral ? 2 : 1);
            plline(2, lx, ly);
            pllsty(1);
        }
        if (s->kind == JOULE_PLOT_SCATTER || s->marked) {
            /* Opaque: only the data markers are translucent (plot.h). */
            plcol0(COL_SERIES + slots[k] % N_PALETTE);
            draw_marker(slots[k], 0.11, y, 5.0 * f.scale, sc);
        }
        char t[256];
        pl_text(t, sizeof(t), s->label);
        plcol0(COL_FG);
        plptex(0.25, y, 1, 0, 0, t);
        y -= line_h;
    }
    plschr(0, 1.0 * f.text);
}

static void draw_vlines(const struct joule_plot_panel *p, double y0, double y1, struct frame f)
{
    plcol0(COL_NEUTRAL);
    plwidth(1.0 * f.scale);
    pllsty(3);
    for (size_t i = 0; i < p->n_vlines; i++) {
        PLFLT x[2] = {p->vlines[i].x, p->vlines[i].x}, y[2] = {y0, y1};
        if (isfinite(x[0]))
            plline(2, x, y);
    }
    pllsty(1);
    /* Labels only while they can be told apart. */
    if (p->n_vlines > 12)
        return;
    plschr(0, 0.65 * f.text);
    struct scale sc = world_per_px(f.w, f.h);
    for (size_t i = 0; i < p->n_vlines; i++) {
        if (!p->vlines[i].label || !isfinite(p->vlines[i].x))
            continue;
        char t[128];
        pl_text(t, sizeof(t), p->vlines[i].label);
        plptex(p->vlines[i].x + 6 * f.scale * sc.x, y1 - 0.02 * (y1 - y0), 0, -1, 0, t);
    }
    plschr(0, 1.0 * f.text);
}

/* Text i of a notes series ('\n'-separated in its label) into t. */
static void note_text(const struct joule_plot_series *s, size_t i, char *t, size_t size)
{
    const char *at = s->label ? s->label : "";
    for (size_t k = 0; k < i && at; k++) {
        at = strchr(at, '\n');
        at = at ? at + 1 : NULL;
    }
    char raw[128] = "";
    if (at) {
        const char *nl = strchr(at, '\n');
        size_t n = nl ? (size_t)(nl - at) : strlen(at);
        joule_fmt(raw, sizeof(raw), "%.*s", (int)(n < sizeof(raw) ? n : sizeof(raw) - 1), at);
    }
    pl_text(t, size, raw);
}

static void draw_notes(const struct joule_plot_series *s, struct frame f)
{
    struct scale sc = world_per_px(f.w, f.h);
    plschr(0, 0.7 * f.text);
    plcol0(COL_FG);
    for (size_t i = 0; i < s->n; i++) {
        char t[256];
        note_text(s, i, t, sizeof(t));
        if (point_ok(s, i) && t[0])
            plptex(s->x[i] + 7 * f.scale * sc.x, s->y[i] + 5 * f.scale * sc.y, 1, 0, 0, t);
    }
    plschr(0, 1.0 * f.text);
}

static void draw_panel(const struct joule_plot_panel *p, double top, double bottom, struct frame f)
{
    /* Margins in normalized page units, from pixel sizes. */
    double h = top - bottom;
    double vy0 = bottom + 60.0 * f.scale / f.h, vy1 = top - 30.0 * f.scale / f.h;
    if (vy1 - vy0 < 0.2 * h)
        vy0 = bottom + 0.2 * h, vy1 = top - 0.1 * h;
    struct range rx, ry;
    panel_ranges(p, &rx, &ry);
    for (size_t i = 0; i < p->n_vlines; i++)
        range_add(&rx, p->vlines[i].x);
    double x0, x1, y0, y1;
    padded(&rx, false, &x0, &x1);
    padded(&ry, p->y_from_zero, &y0, &y1);
    plvpor(0.11, 0.78, vy0, vy1);
    plwind(x0, x1, y0, y1);
    plwidth(0.8 * f.scale);
    plcol0(COL_GRID);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(COL_FG);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char t[512];
    pl_text(t, sizeof(t), p->x_label);
    plmtex("b", 3.2, 0.5, 0.5, t);
    pl_text(t, sizeof(t), p->y_label);
    plmtex("l", 5.2, 0.5, 0.5, t);
    if (p->title) {
        pl_text(t, sizeof(t), p->title);
        plmtex("t", 1.0, 0.5, 0.5, t);
    }
    draw_vlines(p, y0, y1, f);
    int slots[JOULE_PLOT_MAX_SERIES];
    int next = 0;
    for (size_t k = 0; k < p->n_series; k++) {
        slots[k] = p->series[k].neutral ? 0 : next++;
        if (p->series[k].kind == JOULE_PLOT_NOTES)
            draw_notes(&p->series[k], f);
        else
            draw_series(&p->series[k], slots[k], f);
    }
    draw_legend(p, slots, vy0, vy1, f);
}

/* --- PLplot's fatal errors ---------------------------------------------- */

/* PLplot calls exit() after its exit handler; the handler jumps back to
 * render() instead.  Only used under plot_lock, so one jump buffer does. */
static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;
static jmp_buf plot_jump;
static char plot_msg[256];

static int on_plexit(PLCHAR_VECTOR msg)
{
    joule_strlcpy(plot_msg, msg ? msg : "", sizeof(plot_msg));
    longjmp(plot_jump, 1);
}

/* Recoverable errors: keep the first message, print nothing. */
static void on_plabort(PLCHAR_VECTOR msg)
{
    if (!plot_msg[0])
        joule_strlcpy(plot_msg, msg ? msg : "", sizeof(plot_msg));
}

static bool device_available(const char *dev)
{
    /* The caller's arrays: n is their size on input, the count on output. */
    int n = 128;
    const char **menu = joule_calloc((size_t)n, sizeof(char *));
    const char **names = joule_calloc((size_t)n, sizeof(char *));
    if (!menu || !names) {
        free(menu);
        free(names);
        return false;
    }
    plgDevs(&menu, &names, &n);
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        found = names[i] && strcmp(names[i], dev) == 0;
    free(menu);
    free(names);
    return found;
}

/* --- entry points -------------------------------------------------------- */

const char *joule_plot_format(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/'))
        return NULL;
    if (strcasecmp(dot, ".png") == 0)
        return "png";
    if (strcasecmp(dot, ".svg") == 0)
        return "svg";
    return NULL;
}

size_t joule_plot_n_markers(const struct joule_plot_chart *c)
{
    size_t n = 0;
    for (size_t p = 0; c && p < c->n_panels; p++)
        for (size_t k = 0; k < c->panels[p].n_series; k++) {
            const struct joule_plot_series *s = &c->panels[p].series[k];
            if (s->kind == JOULE_PLOT_SCATTER || s->marked)
                for (size_t i = 0; i < s->n; i++)
                    n += point_ok(s, i);
        }
    return n;
}

/* The end of a complete file of the format: PNG's IEND chunk, SVG's
 * closing tag.  A full disk or a crash leaves a file without it. */
static bool complete(int fd, const char *fmt)
{
    static const unsigned char iend[] = {'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    char tail[64];
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0)
        return false;
    size_t want = end < (off_t)sizeof(tail) ? (size_t)end : sizeof(tail);
    if (pread(fd, tail, want, end - (off_t)want) != (ssize_t)want)
        return false;
    if (strcmp(fmt, "png") == 0)
        return want >= sizeof(iend) && memcmp(tail + want - sizeof(iend), iend, sizeof(iend)) == 0;
    size_t len = want;
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
        len--;
    return len >= 6 && memcmp(tail + len - 6, "</svg>", 6) == 0;
}

static enum joule_status check_chart(const struct joule_plot_chart *c, char *err, size_t err_size)
{
    if (!c || c->n_panels == 0 || c->n_panels > JOULE_PLOT_MAX_PANELS || !c->panels) {
        joule_fmt(err, err_size, "a chart needs 1 to %d panels", JOULE_PLOT_MAX_PANELS);
        return JOULE_ERR_INVALID;
    }
    if (c->width_px < 0 || c->width_px > 8000 || c->height_px < 0 || c->height_px > 8000 ||
        (c->width_px && c->width_px < 100) || (c->height_px && c->height_px < 100)) {
        joule_fmt(err, err_size, "a chart's size must be 100 to 8000 pixels, not %dx%d",
                  c->width_px, c->height_px);
        return JOULE_ERR_INVALID;
    }
    size_t n = 0;
    for (size_t p = 0; p < c->n_panels; p++) {
        if (c->panels[p].n_series > JOULE_PLOT_MAX_SERIES) {
            joule_fmt(err, err_size, "a panel has at most %d series, not %zu",
                      JOULE_PLOT_MAX_SERIES, c->panels[p].n_series);
            return JOULE_ERR_INVALID;
        }
        struct range rx, ry;
        panel_ranges(&c->panels[p], &rx, &ry);
        n += rx.n;
    }
    if (n == 0) {
        joule_fmt(err, err_size, "nothing to plot: the chart has no point with finite x and y");
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

enum joule_status joule_plot_render(const struct joule_plot_chart *c, const char *path, char *err,
                                    size_t err_size)
{
    if (err_size)
        err[0] = '\0';
    const char *fmt = joule_plot_format(path);
    if (!fmt) {
        joule_fmt(err, err_size, "%s: unknown picture format; name the file .png or .svg",
                  path ? path : "(no file)");
        return JOULE_ERR_UNSUPPORTED;
    }
    enum joule_status st = check_chart(c, err, err_size);
    if (st != JOULE_OK)
        return st;
    const char *dev = strcmp(fmt, "png") == 0 ? "pngcairo" : "svgcairo";
    struct frame f = {c->width_px ? c->width_px : 800,
                      c->height_px ? c->height_px : 500 * (int)c->n_panels, 1.0, 1.0};
    f.scale = f.w / 800.0;
    f.text = pow(fmin(1.0, 500.0 / f.h), 0.75) * fmin(1.25, fmax(0.6, f.scale));

    /* The temporary file beside path: PLplot never opens a file itself (it
     * would prompt on stdin when it cannot). */
    size_t tlen = strlen(path) + 48;
    char *tmp = joule_calloc(tlen, 1);
    if (!tmp)
        return JOULE_ERR_NOMEM;
    int fd = -1;
    for (unsigned k = 0; k < 100 && fd < 0; k++) {
        joule_fmt(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        /* 0666 less the umask, as any new file; read back by complete(). */
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        joule_fmt(err, err_size, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return JOULE_ERR_IO;
    }
    int fd2 = dup(fd);
    FILE *out = fd2 >= 0 ? fdopen(fd2, "wb") : NULL;
    if (!out) {
        joule_fmt(err, err_size, "cannot write %s: %s", path, strerror(errno));
        if (fd2 >= 0)
            close(fd2);
        close(fd);
        unlink(tmp);
        free(tmp);
        return JOULE_ERR_IO;
    }

    pthread_mutex_lock(&plot_lock);
    plot_msg[0] = '\0';
    volatile bool started = false;
    if (setjmp(plot_jump) != 0) {
        /* PLplot gave up (it would have called exit()). */
        joule_fmt(err, err_size, "plotting %s failed: %s", path,
                  plot_msg[0] ? plot_msg : "PLplot stopped");
        st = JOULE_ERR_IO;
        if (started)
            plend();
        else
            fclose(out);
        goto unlock;
    }
    plsexit(on_plexit);
    plsabort(on_plabort);
    if (!device_available(dev)) {
        joule_fmt(err, err_size,
                  "PLplot has no %s device: install the Debian package plplot-driver-cairo", dev);
        st = JOULE_ERR_UNSUPPORTED;
        fclose(out);
        goto unlock;
    }
    plsdev(dev);
    plsfile(out); /* PLplot closes it in plend() */
    plspage(0, 0, f.w, f.h, 0, 0);
    set_palette();
    started = true;
    plinit();
    pladv(0);
    plschr(0, f.text);
    double title_h = c->title ? 40.0 / f.h : 0.0;
    if (c->title) {
        char t[512];
        pl_text(t, sizeof(t), c->title);
        plvpor(0, 1, 0, 1);
        plwind(0, 1, 0, 1);
        plcol0(COL_FG);
        plschr(0, 1.25 * f.text);
        plptex(0.5, 1 - 26.0 * f.scale / f.h, 1, 0, 0.5, t);
        plschr(0, 1.0 * f.text);
    }
    double slice = (1.0 - title_h) / (double)c->n_panels;
    for (size_t p = 0; p < c->n_panels; p++) {
        double top = 1.0 - title_h - slice * (double)p;
        draw_panel(&c->panels[p], top, top - slice, f);
    }
    plend();
    if (fsync(fd) != 0 || !complete(fd, fmt)) {
        joule_fmt(err, err_size, "writing %s failed (the picture is incomplete: disk full?)", path);
        st = JOULE_ERR_IO;
    }
unlock:
    plsexit(NULL);
    plsabort(NULL);
    pthread_mutex_unlock(&plot_lock);
    if (close(fd) != 0 && st == JOULE_OK) {
        joule_fmt(err, err_size, "writing %s failed: %s", path, strerror(errno));
        st = JOULE_ERR_IO;
    }
    if (st == JOULE_OK && rename(tmp, path) != 0) {
        joule_fmt(err, err_size, "cannot write %s: %s", path, strerror(errno));
        st = JOULE_ERR_IO;
    }
    if (st != JOULE_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

/* --- text alternative ---------------------------------------------------- */

static const char *panel_kind(const struct joule_plot_panel *p)
{
    size_t scatter = 0, step = 0, n = 0;
    for (size_t k = 0; k < p->n_series; k++) {
        if (p->series[k].neutral)
            continue;
        n++;
        scatter += p->series[k].kind == JOULE_PLOT_SCATTER;
        step += p->series[k].kind == JOULE_PLOT_STEP;
    }
    if (n && scatter == n)
        return "scatter plot";
    if (n && step == n)
        return "step chart";
    return "line chart";
}

/* Appends to buf (at *len) as snprintf would, counting what did not fit. */
static void add(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = *len < size ? buf + *len : NULL;
    size_t room = *len < size ? size - *len : 0;
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

static void describe_panel(const struct joule_plot_panel *p, char *buf, size_t size, size_t *len)
{
    struct range rx, ry;
    panel_ranges(p, &rx, &ry);
    const char *xl = p->x_label ? p->x_label : "x", *yl = p->y_label ? p->y_label : "y";
    add(buf, size, len, "%s of %s", panel_kind(p), yl);
    if (ry.n)
        add(buf, size, len, " from %.3g to %.3g", ry.lo, ry.hi);
    add(buf, size, len, " against %s", xl);
    if (rx.n)
        add(buf, size, len, " from %.3g to %.3g", rx.lo, rx.hi);
    size_t n_named = 0;
    for (size_t k = 0; k < p->n_series; k++)
        n_named += !p->series[k].neutral;
    add(buf, size, len, ", %zu series", n_named);
    size_t shown = 0;
    for (size_t k = 0; k < p->n_series; k++) {
        const struct joule_plot_series *s = &p->series[k];
        if (s->neutral || !s->label || !s->label[0])
            continue;
        if (shown == 8) {
            add(buf, size, len, ", ...");
            break;
        }
        add(buf, size, len, "%s%s", shown++ ? ", " : " (", s->label);
    }
    if (shown)
        add(buf, size, len, ")");
    size_t points = 0;
    for (size_t k = 0; k < p->n_series; k++)
        for (size_t i = 0; !p->series[k].neutral && i < p->series[k].n; i++)
            points += point_ok(&p->series[k], i);
    add(buf, size, len, ", %zu points", points);
    for (size_t k = 0; k < p->n_series; k++)
        if (p->series[k].kind == JOULE_PLOT_NOTES)
            add(buf, size, len, ", the %zu best labelled", p->series[k].n);
        else if (p->series[k].neutral && p->series[k].label)
            add(buf, size, len, ", with %s", p->series[k].label);
    for (size_t k = 0; k < p->n_series; k++)
        if (p->series[k].y_err) {
            add(buf, size, len, ", with error bars");
            break;
        }
    if (p->n_vlines)
        add(buf, size, len, ", %zu vertical markers", p->n_vlines);
}

size_t joule_plot_alt_text(const struct joule_plot_chart *c, char *buf, size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    if (!c || !c->n_panels)
        return 0;
    if (c->title)
        add(buf, size, &len, "%s: ", c->title);
    if (c->n_panels == 1) {
        size_t l0 = len;
        describe_panel(&c->panels[0], buf, size, &len);
        /* Capitalise the first word after the title. */
        if (l0 < size && buf[l0] >= 'a' && buf[l0] <= 'z')
            buf[l0] = (char)(buf[l0] - 'a' + 'A');
    } else {
        add(buf, size, &len, "%zu panels: ", c->n_panels);
        for (size_t p = 0; p < c->n_panels; p++) {
            add(buf, size, &len, "%s(%zu) ", p ? "; " : "", p + 1);
            describe_panel(&c->panels[p], buf, size, &len);
        }
    }
    add(buf, size, &len, ".");
    return len;
}
