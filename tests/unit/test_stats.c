/* test_stats.c - Student t quantiles, summaries and quantiles against values
 * computed by hand (and the t table of any statistics textbook). */
#include "test.h"
#include "stats.h"

#include <math.h>

static void test_t95(void)
{
    static const struct {
        size_t df;
        double t;
    } known[] = {
        {1, 12.7062}, {2, 4.3027}, {3, 3.1824}, {4, 2.7764}, {5, 2.5706}, {6, 2.4469},
        {7, 2.3646},  {8, 2.3060}, {9, 2.2622}, {10, 2.2281}, {15, 2.1314}, {20, 2.0860},
        {29, 2.0452}, {30, 2.0423}, {60, 2.0003}, {120, 1.9799},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        CHECK_NEAR(joule_t95(known[i].df), known[i].t, 1e-3);
    /* More digits where they are well known. */
    CHECK_NEAR(joule_t95(1), 12.706204736, 1e-6);
    CHECK_NEAR(joule_t95(2), 4.302652730, 1e-6);
    CHECK_NEAR(joule_t95(10), 2.228138852, 1e-6);
    /* Both sides of the switch to the series, and the normal limit. */
    CHECK_NEAR(joule_t95(2000), 1.961151, 1e-5);
    CHECK_NEAR(joule_t95(2001), 1.961150, 1e-5);
    CHECK_NEAR(joule_t95(1000000), 1.959966, 1e-5);
    CHECK(joule_t95(2000) > joule_t95(2001) && joule_t95(2001) > 1.959964);
    CHECK(isnan(joule_t95(0)));
    /* The 4-digit table values the meter's tests used to check. */
    CHECK_NEAR(joule_t95(1), 12.7062, 1e-4);
    CHECK_NEAR(joule_t95(4), 2.7764, 1e-4);
    CHECK_NEAR(joule_t95(9), 2.2622, 1e-4);
    CHECK_NEAR(joule_t95(30), 2.0423, 1e-4);
    CHECK_NEAR(joule_t95(100), 1.9840, 1e-3);
    /* Monotone decreasing. */
    int mono = 1;
    for (size_t df = 1; df < 3000; df++)
        if (!(joule_t95(df) > joule_t95(df + 1)))
            mono = 0;
    CHECK(mono);
}

static void test_summarize(void)
{
    struct joule_summary s = joule_summarize(NULL, 0);
    CHECK(s.n == 0 && isnan(s.mean) && isnan(s.std) && isnan(s.min));

    double one[] = {5.0};
    s = joule_summarize(one, 1);
    CHECK(s.n == 1);
    CHECK_NEAR(s.mean, 5.0, 0);
    CHECK(isnan(s.std) && isnan(s.ci95) && isnan(s.cv));
    CHECK_NEAR(s.min, 5.0, 0);
    CHECK_NEAR(s.max, 5.0, 0);

    /* {1, 3}: mean 2, s = sqrt(2), ci = t(1) * sqrt(2) / sqrt(2) = 12.7062. */
    double two[] = {1.0, 3.0};
    s = joule_summarize(two, 2);
    CHECK(s.n == 2);
    CHECK_NEAR(s.mean, 2.0, 1e-12);
    CHECK_NEAR(s.std, sqrt(2.0), 1e-12);
    CHECK_NEAR(s.ci95, 12.706204736, 1e-6);
    CHECK_NEAR(s.cv, sqrt(2.0) / 2.0, 1e-12);

    /* {2, 4, 6}: mean 4, s = 2, ci = 4.302653 * 2 / sqrt(3) = 4.968275, cv 0.5 */
    double three[] = {6.0, 2.0, 4.0};
    s = joule_summarize(three, 3);
    CHECK(s.n == 3);
    CHECK_NEAR(s.mean, 4.0, 1e-12);
    CHECK_NEAR(s.std, 2.0, 1e-12);
    CHECK_NEAR(s.ci95, 4.968275, 1e-5);
    CHECK_NEAR(s.cv, 0.5, 1e-12);
    CHECK_NEAR(s.min, 2.0, 0);
    CHECK_NEAR(s.max, 6.0, 0);

    /* 1..10: mean 5.5, s^2 = 82.5 / 9, ci = 2.262157 * 3.0276504 / sqrt(10) = 2.165850 */
    double ten[10];
    for (int i = 0; i < 10; i++)
        ten[i] = i + 1;
    s = joule_summarize(ten, 10);
    CHECK(s.n == 10);
    CHECK_NEAR(s.mean, 5.5, 1e-12);
    CHECK_NEAR(s.std, 3.0276503541, 1e-9);
    CHECK_NEAR(s.ci95, 2.165850, 1e-5);
    CHECK_NEAR(s.cv, 3.0276503541 / 5.5, 1e-9);

    /* n = 4..9: the interval shrinks as cycles are added to 1, 2, 3, ... */
    double prev = INFINITY;
    for (size_t n = 4; n <= 9; n++) {
        s = joule_summarize(ten, n);
        /* s = sqrt(n (n + 1) / 12); ci = t(n-1) s / sqrt(n) */
        double sd = sqrt((double)n * (double)(n + 1) / 12.0);
        CHECK_NEAR(s.std, sd, 1e-12);
        CHECK_NEAR(s.ci95, joule_t95(n - 1) * sd / sqrt((double)n), 1e-12);
        CHECK(s.ci95 / s.mean < prev);
        prev = s.ci95 / s.mean;
    }
    /* n = 5: t(4) = 2.776445, s = sqrt(2.5), ci = 1.963243 */
    s = joule_summarize(ten, 5);
    CHECK_NEAR(s.ci95, 1.963243, 1e-5);

    /* NAN values are skipped. */
    double gaps[] = {NAN, 1.0, NAN, 3.0};
    s = joule_summarize(gaps, 4);
    CHECK(s.n == 2);
    CHECK_NEAR(s.mean, 2.0, 1e-12);
    CHECK_NEAR(s.min, 1.0, 0);

    /* Mean 0: no CV. */
    double sym[] = {-1.0, 1.0};
    s = joule_summarize(sym, 2);
    CHECK(isnan(s.cv) && s.std > 0);

    /* Large similar values keep their spread (two-pass variance). */
    double big[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    s = joule_summarize(big, 3);
    CHECK_NEAR(s.std, 1.0, 1e-9);
}

static void test_quantile(void)
{
    double x[] = {3, 1, 4, 2};
    CHECK_NEAR(joule_quantile_sorted_inplace(x, 4, 0.5), 2.5, 1e-12);
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
    CHECK_NEAR(joule_quantile_sorted_inplace(x, 4, 0.9), 3.7, 1e-12);
    CHECK_NEAR(joule_quantile_sorted_inplace(x, 4, 0.25), 1.75, 1e-12);
    CHECK_NEAR(joule_quantile_sorted_inplace(x, 4, 0.0), 1.0, 0);
    CHECK_NEAR(joule_quantile_sorted_inplace(x, 4, 1.0), 4.0, 0);
    double y[] = {7};
    CHECK_NEAR(joule_quantile_sorted_inplace(y, 1, 0.99), 7.0, 0);
    CHECK(isnan(joule_quantile_sorted_inplace(y, 0, 0.5)));
    /* numpy.quantile(range(11), 0.99) = 9.9 */
    double z[11];
    for (int i = 0; i < 11; i++)
        z[i] = 10 - i;
    CHECK_NEAR(joule_quantile_sorted_inplace(z, 11, 0.99), 9.9, 1e-12);
}

int main(void)
{
    RUN(test_t95);
    RUN(test_summarize);
    RUN(test_quantile);
    TEST_MAIN_END();
}
