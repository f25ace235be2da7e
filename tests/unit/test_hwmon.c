/* test_hwmon.c - AMD GPUs through a fake hwmon tree. */
#include "meter_int.h"
#include "test.h"
#include "testmeter.h"
#include "testfs.h"

static struct joule_reading rd;

static void test_amdgpu(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "hwmon");
    testfs_write(root, "hwmon0/name", "coretemp\n");
    testfs_write(root, "hwmon1/name", "amdgpu\n");
    testfs_write(root, "hwmon1/energy1_input", "5000000\n");
    testfs_write(root, "hwmon1/power1_cap", "300000000\n");
    testfs_write(root, "hwmon2/name", "amdgpu\n");
    testfs_write(root, "hwmon2/power1_average", "50000000\n");
    testfs_write(root, "hwmon10/name", "amdgpu\n"); /* nothing readable */
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "hwmon";
    p.hwmon_root = root;
    p.interval_ms = 0;
    struct vclock vc = {0};
    struct joule_meter *m = open_virtual(&p, &vc);
    CHECK(m != NULL);
    CHECK(joule_meter_domain_count(m) == 3);
    struct joule_domain_info in;
    joule_meter_domain_info(m, 0, &in);
    CHECK_STR(in.name, "amdgpu0");
    CHECK(in.provenance == JOULE_PROV_MEASURED);
    CHECK_NEAR(in.power_limit_w, 300, 1e-9);
    joule_meter_domain_info(m, 1, &in);
    CHECK(in.provenance == JOULE_PROV_SAMPLED);
    joule_meter_domain_info(m, 2, &in);
    CHECK_STR(in.name, "amdgpu2"); /* hwmon10 sorts after hwmon2 */
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE);
    joule_meter_begin(m, "w");
    testfs_write(root, "hwmon1/energy1_input", "125000000\n"); /* +120 J */
    vc.t = 2;
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(rd.domains[0].energy_j, 120, 1e-9);
    CHECK_NEAR(rd.domains[1].energy_j, 100, 1e-9); /* 50 W x 2 s */
    CHECK(rd.domains[1].provenance == JOULE_PROV_SAMPLED);
    joule_meter_close(m);

    /* No AMD GPU at all: one unavailable entry, not counted as a gap. */
    testfs_dir(root, sizeof(root), "hwmon-none");
    m = open_virtual(&p, &vc);
    CHECK(m != NULL);
    CHECK(joule_meter_domain_count(m) == 1);
    joule_meter_domain_info(m, 0, &in);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE && !in.in_total);
    joule_meter_close(m);
}

int main(void)
{
    RUN(test_amdgpu);
    TEST_MAIN_END();
}
