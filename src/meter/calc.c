/*
 * calc.c - the arithmetic of docs/methodology.md, once, as pure functions.
 * Every energy the meter reports is computed here.
 */
#include "meter_int.h"
#include "joule_int.h"

#include <math.h>

double meter_counter_delta(double prev_raw_j, double now_raw_j, double range_j, bool *reset)
{
    if (now_raw_j >= prev_raw_j)
        return now_raw_j - prev_raw_j;
    if (range_j > 0 && prev_raw_j <= range_j)
        return now_raw_j + (range_j - prev_raw_j); /* one wrap */
    /* A counter without a known range went back: the driver reset it.  The
     * energy since the reset is all we can know. */
    if (reset)
        *reset = true;
    return now_raw_j;
}

double meter_counter_bound(double resolution_j, double peak_w, double update_s)
{
    double b = 2.0 * resolution_j;
    if (isfinite(peak_w) && isfinite(update_s))
        b += 2.0 * peak_w * update_s;
    return b;
}

double meter_short_window(double p0_w, double p1_w, double dur_s, double peak_w, double update_s,
                          double *bound_j)
{
    double e = (p0_w + p1_w) / 2.0 * dur_s;
    double peak = fmax(peak_w, fmax(p0_w, p1_w));
    *bound_j = fabs(p1_w - p0_w) * dur_s / 2.0 + peak * update_s;
    return e;
}

void meter_trapezoid_add(struct meter_trapezoid *tz, double t_s, double p_w)
{
    if (tz->started) {
        double dt = t_s - tz->t_s;
        if (dt > 0) {
            tz->energy_j += (tz->p_w + p_w) / 2.0 * dt;
            tz->spread_j += fabs(p_w - tz->p_w) * dt / 2.0;
        }
    }
    tz->t_s = t_s;
    tz->p_w = p_w;
    tz->started = true;
}

double meter_sampled_bound(double spread_j, double peak_w, double interval_s)
{
    return spread_j + (isfinite(peak_w) ? peak_w * interval_s : 0.0);
}

void meter_mean_std(const double *x, size_t n, double *mean, double *std)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m = n ? m / (double)n : NAN;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
}
