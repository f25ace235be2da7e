/*
 * test_rapl.c - RAPL through a fake powercap tree: zones and nesting,
 * exact joules, wraparound, missing and malformed zones.
 */
#include "meter_int.h"
#include "test.h"
#include "testmeter.h"
#include "testfs.h"

#include <math.h>

static struct joule_meter *open_rapl(const char *root, struct vclock *vc)
{
    struct joule_meter_params p = joule_meter_default_params();
    p.sources = "rapl";
    p.powercap_root = root;
    p.interval_ms = 0;
    return open_virtual(&p, vc);
}

static void zone(const char *root, const char *dir, const char *name, const char *uj,
                 const char *range)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "%s/name", dir);
    testfs_write(root, rel, name);
    snprintf(rel, sizeof(rel), "%s/energy_uj", dir);
    testfs_write(root, rel, uj);
    if (range) {
        snprintf(rel, sizeof(rel), "%s/max_energy_range_uj", dir);
        testfs_write(root, rel, range);
    }
}

static struct joule_reading rd;

static void test_server_tree(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "powercap");
    zone(root, "intel-rapl:0", "package-0\n", "1000000\n", "262143328850\n");
    zone(root, "intel-rapl:0:0", "core\n", "500000\n", "262143328850\n");
    zone(root, "intel-rapl:0:1", "uncore\n", "100000\n", "262143328850\n");
    zone(root, "intel-rapl:0:2", "dram\n", "300000\n", "65712999613\n");
    zone(root, "intel-rapl:1", "package-1\n", "2000000\n", "262143328850\n");
    zone(root, "intel-rapl:2", "psys\n", "9000000\n", "262143328850\n");
    zone(root, "intel-rapl-mmio:0", "package-0\n", "1\n", "262143328850\n");
    struct vclock vc = {0};
    struct joule_meter *m = open_rapl(root, &vc);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK(joule_meter_domain_count(m) == 6); /* mmio skipped */
    struct joule_domain_info in;
    CHECK(joule_meter_domain_info(m, 0, &in) == JOULE_OK);
    CHECK_STR(in.name, "package-0");
    CHECK(in.kind == JOULE_DOMAIN_PACKAGE && in.provenance == JOULE_PROV_MEASURED);
    CHECK_NEAR(in.counter_range_j, 262143.328850, 1e-6);
    CHECK(joule_meter_domain_info(m, 1, &in) == JOULE_OK);
    CHECK_STR(in.name, "package-0/core");
    CHECK(!in.in_total);
    CHECK(joule_meter_domain_info(m, 3, &in) == JOULE_OK);
    CHECK_STR(in.name, "package-0/dram");
    CHECK(in.in_total && in.kind == JOULE_DOMAIN_DRAM);
    CHECK(joule_meter_domain_info(m, 5, &in) == JOULE_OK);
    CHECK_STR(in.name, "psys");
    CHECK(!in.in_total); /* contains the packages */
    CHECK(joule_meter_domain_info(m, 6, &in) == JOULE_ERR_NOT_FOUND);

    vc.t = 1;
    CHECK(joule_meter_begin(m, "w") == JOULE_OK);
    zone(root, "intel-rapl:0", "package-0\n", "11000000\n", NULL);    /* +10 J */
    zone(root, "intel-rapl:0:0", "core\n", "8500000\n", NULL);        /* +8 J */
    zone(root, "intel-rapl:0:1", "uncore\n", "600000\n", NULL);       /* +0.5 J */
    zone(root, "intel-rapl:0:2", "dram\n", "2300000\n", NULL);        /* +2 J */
    zone(root, "intel-rapl:1", "package-1\n", "7000000\n", NULL);     /* +5 J */
    zone(root, "intel-rapl:2", "psys\n", "29000000\n", NULL);         /* +20 J */
    vc.t = 2;
    CHECK(joule_meter_end(m, "w", &rd) == JOULE_OK);
    CHECK_NEAR(domain_of(&rd, "package-0")->energy_j, 10, 1e-9);
    CHECK_NEAR(domain_of(&rd, "package-0/core")->energy_j, 8, 1e-9);
    CHECK_NEAR(domain_of(&rd, "package-0/uncore")->energy_j, 0.5, 1e-9);
    CHECK_NEAR(domain_of(&rd, "package-0/dram")->energy_j, 2, 1e-9);
    CHECK_NEAR(domain_of(&rd, "package-1")->energy_j, 5, 1e-9);
    CHECK_NEAR(domain_of(&rd, "psys")->energy_j, 20, 1e-9);
    CHECK_NEAR(rd.total_energy_j, 10 + 2 + 5, 1e-9); /* no double counting */
    CHECK(rd.total_provenance == JOULE_PROV_MEASURED);
    CHECK(rd.flags == 0);
    /* Bound: 2 * 61 uJ + 2 * peak (10 W) * 1 ms. */
    CHECK_NEAR(domain_of(&rd, "package-0")->bound_j, 2 * 61e-6 + 2 * 10 * 0.001, 1e-9);
    joule_meter_close(m);
}

static void test_wraparound(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "powercap-wrap");
    zone(root, "intel-rapl:0", "package-0\n", "900000\n", "1000000\n"); /* range 1 J */
    struct vclock vc = {0};
    struct joule_meter *m = open_rapl(root, &vc);
    if (!m) {
        CHECK(0);
        return;
    }
    joule_meter_begin(m, "w");
    zone(root, "intel-rapl:0", "package-0\n", "300000\n", NULL); /* wrapped: +0.4 J */
    vc.t = 0.5;
    meter_tick(m);
    zone(root, "intel-rapl:0", "package-0\n", "800000\n", NULL); /* +0.5 J */
    vc.t = 1;
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(domain_of(&rd, "package-0")->energy_j, 0.9, 1e-9);
    CHECK(!(rd.flags & JOULE_FLAG_COUNTER_RESET));
    joule_meter_close(m);
}

static void test_missing_and_bad(void)
{
    char root[1024];
    testfs_dir(root, sizeof(root), "powercap-empty");
    struct vclock vc = {0};
    struct joule_meter *m = open_rapl(root, &vc);
    if (!m) {
        CHECK(0);
        return;
    }
    struct joule_domain_info in;
    CHECK(joule_meter_domain_count(m) == 1);
    joule_meter_domain_info(m, 0, &in);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE);
    CHECK(strstr(in.note, "no RAPL zones") != NULL);
    joule_meter_begin(m, "w");
    vc.t = 1;
    joule_meter_end(m, "w", &rd);
    CHECK(isnan(rd.total_energy_j));
    CHECK(rd.flags & JOULE_FLAG_PARTIAL);
    joule_meter_close(m);

    m = open_rapl("/nonexistent/powercap", &vc);
    CHECK(m && joule_meter_domain_count(m) == 1);
    joule_meter_domain_info(m, 0, &in);
    CHECK(strstr(in.note, "no powercap at /nonexistent/powercap") != NULL);
    joule_meter_close(m);

    testfs_dir(root, sizeof(root), "powercap-bad");
    zone(root, "intel-rapl:0", "package-0\n", "lots\n", "1000\n");
    zone(root, "intel-rapl:1", "package-1\n", "5\n", NULL); /* no range: noted */
    char path[1200];
    snprintf(path, sizeof(path), "%s/intel-rapl:2", root);
    mkdir(path, 0755); /* a zone with no files */
    m = open_rapl(root, &vc);
    CHECK(m && joule_meter_domain_count(m) == 3);
    joule_meter_domain_info(m, 0, &in);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE && strstr(in.note, "does not hold a number"));
    joule_meter_domain_info(m, 1, &in);
    CHECK(in.provenance == JOULE_PROV_MEASURED && strstr(in.note, "max_energy_range_uj"));
    joule_meter_domain_info(m, 2, &in);
    CHECK(in.provenance == JOULE_PROV_UNAVAILABLE && strstr(in.note, "unreadable"));
    /* The readable zone still measures next to the broken ones. */
    joule_meter_begin(m, "w");
    zone(root, "intel-rapl:1", "package-1\n", "1000005\n", NULL);
    vc.t += 1;
    joule_meter_end(m, "w", &rd);
    CHECK_NEAR(domain_of(&rd, "package-1")->energy_j, 1, 1e-9);
    joule_meter_close(m);
}

int main(void)
{
    RUN(test_server_tree);
    RUN(test_wraparound);
    RUN(test_missing_and_bad);
    TEST_MAIN_END();
}
