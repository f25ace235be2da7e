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

double meter_t975(unsigned df)
{
    /* Two-sided 95% Student t quantiles; beyond the table the series
     * t ~ z + (z^3 + z) / (4 df) is within 1e-3. */
    static const double table[] = {
        0, 12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622,
        2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930,
        2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452,
        2.0423,
    };
    if (df == 0)
        return NAN;
    if (df < JOULE_ARRAY_LEN(table))
        return table[df];
    const double z = 1.959964;
    return z + (z * z * z + z) / (4.0 * df);
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
