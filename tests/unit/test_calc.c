/* test_calc.c - the formulas of docs/methodology.md, exactly. */
#include "meter_int.h"
#include "test.h"

static void test_counter_delta(void)
{
    bool reset = false;
    CHECK_NEAR(meter_counter_delta(10, 15, 100, &reset), 5, 0);
    CHECK_NEAR(meter_counter_delta(90, 5, 100, &reset), 15, 1e-12); /* wrap */
    CHECK(!reset);
    CHECK_NEAR(meter_counter_delta(90, 5, 0, &reset), 5, 0); /* no range: reset */
    CHECK(reset);
    reset = false;
    CHECK_NEAR(meter_counter_delta(7, 7, 0, &reset), 0, 0);
    CHECK(!reset);
    /* RAPL's usual range in uJ, in joules. */
    double range = 262143.328850;
    CHECK_NEAR(meter_counter_delta(range - 1, 2, range, NULL), 3, 1e-6);
}

static void test_bounds(void)
{
    CHECK_NEAR(meter_counter_bound(0.001, 300, 0.1), 0.002 + 60, 1e-12);
    CHECK_NEAR(meter_counter_bound(61e-6, 100, 0.001), 122e-6 + 0.2, 1e-12);
    double b;
    double e = meter_short_window(100, 120, 0.05, 130, 0.1, &b);
    CHECK_NEAR(e, 110 * 0.05, 1e-12);
    CHECK_NEAR(b, 20 * 0.05 / 2 + 130 * 0.1, 1e-12);
    CHECK_NEAR(meter_sampled_bound(3, 200, 0.1), 23, 1e-12);
}

static void test_trapezoid(void)
{
    /* A scripted trace: (0,0) (1,10) (3,10) (4,0): area 5 + 20 + 5. */
    struct meter_trapezoid tz = {0};
    meter_trapezoid_add(&tz, 0, 0);
    meter_trapezoid_add(&tz, 1, 10);
    meter_trapezoid_add(&tz, 3, 10);
    meter_trapezoid_add(&tz, 4, 0);
    CHECK_NEAR(tz.energy_j, 30, 1e-12);
    CHECK_NEAR(tz.spread_j, 10 * 1 / 2.0 + 0 + 10 * 1 / 2.0, 1e-12);
    /* A repeated timestamp adds nothing. */
    meter_trapezoid_add(&tz, 4, 50);
    CHECK_NEAR(tz.energy_j, 30, 1e-12);
    /* Constant power integrates exactly whatever the sample spacing. */
    struct meter_trapezoid c = {0};
    double t = 0;
    for (int i = 0; i < 1000; i++) {
        meter_trapezoid_add(&c, t, 42);
        t += 0.001 * (1 + i % 7);
    }
    CHECK_NEAR(c.energy_j, 42 * (t - 0.001 * (1 + 999 % 7)), 1e-9);
    CHECK_NEAR(c.spread_j, 0, 0);
}

static void test_stats(void)
{
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    double mean, sd;
    meter_mean_std(x, 8, &mean, &sd);
    CHECK_NEAR(mean, 5, 1e-12);
    CHECK_NEAR(sd, sqrt(32.0 / 7), 1e-12);
    meter_mean_std(x, 1, &mean, &sd);
    CHECK_NEAR(sd, 0, 0);
}

int main(void)
{
    RUN(test_counter_delta);
    RUN(test_bounds);
    RUN(test_trapezoid);
    RUN(test_stats);
    TEST_MAIN_END();
}
