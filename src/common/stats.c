/* stats.c - mean, sample std, Student-t 95% interval, CV, quantiles. */
#include "stats.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>

/* Lentz's method divides by these terms: keep them off zero. */
static double away_from_zero(double v)
{
    const double tiny = 1e-300;
    return fabs(v) < tiny ? tiny : v;
}

/* Continued fraction of the regularized incomplete beta function (the
 * modified Lentz method), valid for x < (a + 1) / (a + b + 2). */
static double betacf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 / away_from_zero(1.0 - qab * x / qap);
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = away_from_zero(1.0 + aa * d);
        c = away_from_zero(1.0 + aa / c);
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = away_from_zero(1.0 + aa * d);
        c = away_from_zero(1.0 + aa / c);
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-15)
            break;
    }
    return h;
}

/* I_x(a, b), the regularized incomplete beta function. */
static double betai(double a, double b, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double bt = exp(lbt);
    if (x < (a + 1.0) / (a + b + 2.0))
        return bt * betacf(a, b, x) / a;
    return 1.0 - bt * betacf(b, a, 1.0 - x) / b;
}

/* Two-sided tail of Student t: P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2). */
static double t_two_tail(double t, double df)
{
    return betai(0.5 * df, 0.5, df / (df + t * t));
}

double joule_t95(size_t df)
{
    if (df == 0)
        return NAN;
    double v = (double)df;
    if (df > 2000) {
        /* Cornish-Fisher expansion in 1/df around z = Phi^-1(0.975); the
         * first omitted term is below 1e-12 here. */
        const double z = 1.959963984540054;
        double z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
        double g1 = (z3 + z) / 4.0;
        double g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
        double g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
        double g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
        return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
    }
    /* Bisection on the two-sided tail, which falls monotonically in t:
     * find t with P(|T| > t) = 0.05.  t(0.975, 1) = 12.7062 is the largest. */
    double lo = 0.0, hi = 20.0;
    for (int k = 0; k < 200 && hi - lo > 1e-13; k++) {
        double mid = 0.5 * (lo + hi);
        if (t_two_tail(mid, v) > 0.05)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

struct joule_summary joule_summarize(const double *x, size_t n)
{
    struct joule_summary s = {0, NAN, NAN, NAN, NAN, NAN, NAN};
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        if (s.n == 0 || x[i] < s.min)
            s.min = x[i];
        if (s.n == 0 || x[i] > s.max)
            s.max = x[i];
        sum += x[i];
        s.n++;
    }
    if (s.n == 0)
        return s;
    s.mean = sum / (double)s.n;
    if (s.n < 2)
        return s;
    /* Two passes: the squared deviations from the mean, not sum of squares
     * minus square of sums, which cancels badly for large similar values. */
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            continue;
        double d = x[i] - s.mean;
        ss += d * d;
    }
    s.std = sqrt(ss / (double)(s.n - 1));
    s.ci95 = joule_t95(s.n - 1) * s.std / sqrt((double)s.n);
    s.cv = s.mean != 0.0 ? s.std / fabs(s.mean) : NAN;
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double joule_quantile_sorted_inplace(double *x, size_t n, double q)
{
    if (n == 0 || isnan(q))
        return NAN;
    qsort(x, n, sizeof(x[0]), cmp_double);
    if (q <= 0.0)
        return x[0];
    if (q >= 1.0)
        return x[n - 1];
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i >= n - 1)
        return x[n - 1];
    double f = pos - (double)i;
    return x[i] + f * (x[i + 1] - x[i]);
}
