/*
 * stats.h - the statistics every result reports: mean, sample standard
 * deviation, Student-t 95% interval, coefficient of variation, quantiles.
 * See docs/methodology.md ("Cycles and confidence").
 */
#ifndef JOULE_STATS_H
#define JOULE_STATS_H

#include <stddef.h>

struct joule_summary {
    size_t n;       /* finite values seen (NAN values are skipped) */
    double mean;
    double std;     /* sample std (n - 1); NAN for n < 2 */
    double ci95;    /* half width: t(0.975, n-1) * std / sqrt(n); NAN for n < 2 */
    double cv;      /* std / |mean|; NAN for n < 2 or mean 0 */
    double min, max;
};

/* Two-sided 95% Student t quantile t(0.975, df) for df >= 1 (exact table to
 * df 30, then a series in 1/df that is within 1e-4). */
double joule_t95(size_t df);

/* Summary of x[0..n) (NAN entries skipped). */
struct joule_summary joule_summarize(const double *x, size_t n);

/* The q-quantile (0..1) of x[0..n) by linear interpolation between closest
 * ranks (numpy's default).  Sorts x in place.  NAN for n = 0. */
double joule_quantile_sorted_inplace(double *x, size_t n, double q);

#endif /* JOULE_STATS_H */
