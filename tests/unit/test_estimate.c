/* test_estimate.c - the TDP x utilisation model on a fake /proc. */
#include "meter_int.h"
#include "test.h"
#include "testmeter.h"
#include "testfs.h"

#include <math.h>

static void write_stat(const char *root, unsigned busy, unsigned idle)
{
    char text[256];
    /* user nice system idle iowait irq softirq steal: busy split over user/system */
    snprintf(text, sizeof(text),
             "cpu  %u 0 %u %u 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"
             "cpu2 0 0 0 0 0 0 0 0 0 0\ncpu3 0 0 0 0 0 0 0 0 0 0\n",
             busy / 2, busy - busy / 2, idle);
    testfs_write(root, "stat", text);
}

static struct joule_meter *open_est(const char *root, double tdp, struct vclock *vc)
{
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "estimate";
    p.proc_root = root;
    p.cpu_tdp_w = tdp;
    p.interval_ms = 0;
    return open_virtual(&p, vc);
}

static struct joule_reading rd;

static void test_table_cpu(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "proc-epyc");
    testfs_write(root, "cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n");
    write_stat(root, 0, 1000);
    struct vclock vc = {0};
    struct joule_meter *m = open_est(root, 0, &vc);
    CHECK(m != NULL);
    if (!m)
        return;
    struct joule_domain_info in;
    joule_meter_domain_info(m, 0, &in);
    CHECK_STR(in.name, "cpu");
    CHECK(in.provenance == JOULE_PROV_ESTIMATED);
    CHECK(strstr(in.note, "EPYC 7763 TDP 280 W x 4/128 CPUs") != NULL);
    CHECK(strstr(in.device, "EPYC 7763") != NULL);
    /* P_tdp = 280 * 4 / 128 = 8.75 W, idle 25% = 2.1875 W. */
    vc.t = 1;
    write_stat(root, 0, 1400);
    joule_meter_begin(m, "w");
    vc.t = 3;
    write_stat(root, 400, 1800); /* 400 busy of 800 jiffies: u = 0.5 */
    joule_meter_end(m, "w", &rd);
    double idle = 0.25 * 8.75, dyn = 8.75 - idle;
    CHECK_NEAR(rd.domains[0].energy_j, idle * 2 + dyn * 0.5 * 2, 1e-9);
    CHECK_NEAR(rd.domains[0].bound_j, 0.3 * rd.domains[0].energy_j, 1e-9);
    CHECK(rd.flags & JOULE_FLAG_ESTIMATED_ONLY);
    joule_meter_close(m);
}

static void test_override_and_unknown(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "proc-unknown");
    testfs_write(root, "cpuinfo", "model name\t: Imaginary CPU 9000\n");
    write_stat(root, 0, 100);
    struct vclock vc = {0};
    struct joule_meter *m = open_est(root, 0, &vc);
    struct joule_domain_info in;
    CHECK(m && joule_meter_domain_info(m, 0, &in) == JOULE_OK);
    CHECK(strstr(in.note, "not in the table") && strstr(in.note, "--cpu-tdp"));
    joule_meter_begin(m, "w");
    vc.t = 2; /* no /proc/stat change: idle only, 4 W/CPU x 4 CPUs x 25% */
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(rd.domains[0].energy_j, 0.25 * 16 * 2, 1e-9);
    joule_meter_close(m);

    m = open_est(root, 100, &vc);
    CHECK(m && joule_meter_domain_info(m, 0, &in) == JOULE_OK);
    CHECK(strstr(in.note, "--cpu-tdp") != NULL);
    joule_meter_begin(m, "w");
    vc.t += 1;
    write_stat(root, 100, 100); /* fully busy */
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(rd.domains[0].energy_j, 100, 1e-9);
    joule_meter_close(m);

    m = open_est("/nonexistent/proc", 0, &vc);
    CHECK(m && joule_meter_domain_info(m, 0, &in) == JOULE_OK);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE && strstr(in.note, "/nonexistent/proc/stat"));
    joule_meter_close(m);
}

int main(void)
{
    RUN(test_table_cpu);
    RUN(test_override_and_unknown);
    TEST_MAIN_END();
}
