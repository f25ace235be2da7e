/* test_parse.c - parsers of untrusted text: sysfs numbers, /proc/stat, fake scripts. */
#include "meter_int.h"
#include "test.h"

#include <stdint.h>

static void test_u64(void)
{
    uint64_t v = 0;
    CHECK(meter_parse_u64("12345\n", &v) && v == 12345);
    CHECK(meter_parse_u64("0", &v) && v == 0);
    CHECK(meter_parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
    CHECK(!meter_parse_u64("18446744073709551616", &v)); /* overflow */
    CHECK(!meter_parse_u64("", &v));
    CHECK(!meter_parse_u64("-1", &v));
    CHECK(!meter_parse_u64("12a", &v));
    CHECK(!meter_parse_u64(" 1", &v));
}

static void test_proc_stat(void)
{
    uint64_t busy, total;
    uint32_t n;
    const char *two = "cpu  100 5 50 1000 10 1 4 2 7 0\ncpu0 50 0 25 500 5 0 2 0 0 0\n"
                      "cpu1 50 5 25 500 5 1 2 2 7 0\nintr 1 2 3\n";
    CHECK(meter_parse_proc_stat(two, &busy, &total, &n));
    /* guest (7) is inside user already: only 8 fields count. */
    CHECK(total == 100 + 5 + 50 + 1000 + 10 + 1 + 4 + 2);
    CHECK(busy == total - 1000 - 10);
    CHECK(n == 2);
    CHECK(meter_parse_proc_stat("cpu 1 2 3 4\n", &busy, &total, &n) && n == 1 && total == 10);
    CHECK(!meter_parse_proc_stat("cpu0 1 2 3 4\n", &busy, &total, &n));
    CHECK(!meter_parse_proc_stat("cpu 1 2\n", &busy, &total, &n));
    CHECK(!meter_parse_proc_stat("", &busy, &total, &n));
    CHECK(!meter_parse_proc_stat("cpu 18446744073709551615 1 1 1\n", &busy, &total, &n));
}

static void expect_error(const char *script, const char *needle)
{
    struct meter_fake_script *s = NULL;
    char err[256] = "";
    enum joule_status st = meter_fake_parse(script, strlen(script), "t.txt", &s, err, sizeof(err));
    CHECK(st == JOULE_ERR_FORMAT);
    CHECK(s == NULL);
    if (!strstr(err, needle)) {
        fprintf(stderr, "expected '%s' in '%s'\n", needle, err);
        CHECK(0);
    }
}

static void test_fake_script(void)
{
    struct meter_fake_script *s = NULL;
    char err[256] = "";
    const char *ok = "# comment\n\ndomain g kind=gpu mode=counter update_ms=100 # trailing\n"
                     "at 0 g=1.5\r\nat 1 g=2\nfail g 1 2\nreset g 3\n";
    CHECK(meter_fake_parse(ok, strlen(ok), "t.txt", &s, err, sizeof(err)) == JOULE_OK);
    meter_fake_free(s);
    expect_error("domain g kind=gpu\n", "t.txt:1: domain 'g' needs kind= and mode=");
    expect_error("domain g kind=gpu mode=counter\nat 0 h=1\n", "t.txt:2: unknown domain 'h'");
    expect_error("domain g kind=tpu mode=counter\n", "unknown kind 'tpu'");
    expect_error("domain g kind=gpu mode=counter colour=red\n", "unknown key 'colour'");
    expect_error("domain g kind=gpu mode=counter\nat 2 g=1\nat 1 g=1\n",
                 "t.txt:3: time 1 goes back");
    expect_error("domain g kind=gpu mode=counter\nat 0 g=-5\n", "power of 'g'");
    expect_error("domain g kind=gpu mode=counter\ndomain g kind=gpu mode=counter\n",
                 "declared twice");
    expect_error("bogus\n", "t.txt:1: unknown statement 'bogus'");
    expect_error("\n\n", "no domain declared");
    expect_error("domain g kind=gpu mode=counter update_ms=abc\n", "update_ms must be");
    expect_error("domain g kind=gpu mode=counter\nfail g 2 1\n", "FROM <= TO");
    const char nul[] = "domain g kind=gpu mode=counter\0\n";
    s = NULL;
    CHECK(meter_fake_parse(nul, sizeof(nul) - 1, "t.txt", &s, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK(strstr(err, "NUL") != NULL);
}

int main(void)
{
    RUN(test_u64);
    RUN(test_proc_stat);
    RUN(test_fake_script);
    TEST_MAIN_END();
}
