/*
 * plot.h - the one plotting layer: a chart described as data, rendered to
 * PNG or SVG, with a plain-text alternative.
 *
 * A chart has one to four panels stacked vertically, sharing nothing but
 * the picture.  A panel has series of (x, y) points, optional error bars on
 * y (half-widths of the 95% interval, say), axis labels that carry their
 * unit ("power (W)"), and optional vertical markers (window boundaries).
 * Colours are the Okabe-Ito palette on a white background, and each series
 * also has its own marker shape, so series stay distinct without colour.
 *
 * Rendering uses PLplot (the only file that includes plplot.h), which keeps
 * global state and is not thread-safe: joule_plot_render holds a process-wide
 * mutex, so charts are drawn one at a time whatever thread asks.  PLplot's
 * exit() on fatal errors is intercepted; devices and files are checked
 * before PLplot sees them, so errors come back as a status and a message.
 *
 * SVG output: every data marker is one filled <path> whose style has
 * fill-opacity:0.85 (markers are slightly transparent so overlapping points
 * stay visible); legend samples are opaque.  Counting those paths gives the
 * number of points drawn (joule_plot_n_markers), which the tests use.
 */
#ifndef JOULE_REPORT_PLOT_H
#define JOULE_REPORT_PLOT_H

#include "joule.h"

#include <stdbool.h>
#include <stddef.h>

enum joule_plot_kind {
    JOULE_PLOT_LINE = 0,    /* points joined in order, marked when `marked` */
    JOULE_PLOT_SCATTER = 1, /* markers only */
    JOULE_PLOT_STEP = 2,    /* a staircase: y holds until the next x (CDFs) */
    /* Text beside each point: `label` holds the n texts, '\n'-separated.
     * Set `neutral` too: notes are neither data points nor in the legend. */
    JOULE_PLOT_NOTES = 3,
};

struct joule_plot_series {
    const char *label; /* legend text; NULL or "": not in the legend */
    /* n points, borrowed; a non-finite point is not drawn and breaks the line */
    const double *x, *y;
    const double *y_err; /* n half-widths for error bars, or NULL */
    size_t n;
    enum joule_plot_kind kind;
    bool marked;  /* LINE and STEP: draw a marker at each point */
    bool neutral; /* dark grey, dashed, no palette slot (frontiers) */
};

/* A vertical line at x across the panel, with an optional short label. */
struct joule_plot_vline {
    double x;
    const char *label;
};

struct joule_plot_panel {
    const char *title;   /* panel heading, or NULL */
    const char *x_label; /* with the unit: "batch size (sequences)" */
    const char *y_label; /* with the unit: "energy per output token (J/token)" */
    const struct joule_plot_series *series;
    size_t n_series;
    const struct joule_plot_vline *vlines;
    size_t n_vlines;
    bool y_from_zero; /* the y range includes 0 */
};

struct joule_plot_chart {
    const char *title;
    const struct joule_plot_panel *panels;
    size_t n_panels; /* 1 .. JOULE_PLOT_MAX_PANELS */
    int width_px;    /* 0: 800 */
    int height_px;   /* 0: 500 per panel */
};

#define JOULE_PLOT_MAX_PANELS 4
#define JOULE_PLOT_MAX_SERIES 64 /* per panel */

/* The output format by the extension of path (case-insensitive): "png"
 * or "svg"; NULL for anything else. */
const char *joule_plot_format(const char *path);

/* Draws c into path (.png or .svg), replacing it atomically: a failure
 * leaves any old file untouched.  JOULE_ERR_INVALID for a chart with no
 * panel, no finite point or a bad size; JOULE_ERR_UNSUPPORTED for an
 * unknown extension or a missing PLplot driver; JOULE_ERR_IO when the
 * file cannot be written.  err gets one sentence naming the problem. */
enum joule_status joule_plot_render(const struct joule_plot_chart *c, const char *path, char *err,
                                    size_t err_size);

/* One sentence describing c for readers who cannot see it (alt text): the
 * kind of chart, what is plotted against what with the units and ranges,
 * the series and the number of data points (neutral series not counted).  Returns the length it
 * needed (as snprintf does). */
size_t joule_plot_alt_text(const struct joule_plot_chart *c, char *buf, size_t size);

/* The number of data markers the chart draws (finite points of marked
 * series): the count of marker paths in its SVG. */
size_t joule_plot_n_markers(const struct joule_plot_chart *c);

#endif /* JOULE_REPORT_PLOT_H */
