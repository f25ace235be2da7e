/* test_common.c - checked sizes, bounded strings, file helpers, status strings. */
#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

static void test_sizes(void)
{
    size_t out = 7;
    CHECK(joule_mul_size(3, 4, &out) && out == 12);
    CHECK(!joule_mul_size(SIZE_MAX, 2, &out));
    CHECK(joule_add_size(SIZE_MAX - 1, 1, &out) && out == SIZE_MAX);
    CHECK(!joule_add_size(SIZE_MAX, 1, &out));
    CHECK(joule_calloc(SIZE_MAX / 2, 4) == NULL);
    CHECK(joule_grow_cap(0, 5, 4, &out) && out == 8);
    CHECK(joule_grow_cap(16, 17, 4, &out) && out == 32);
    CHECK(joule_grow_cap(16, 3, 4, &out) && out == 16);
    out = 7;
    CHECK(!joule_grow_cap(SIZE_MAX / 2 + 1, SIZE_MAX, 4, &out) && out == 7);
    void *p = joule_calloc(0, 8);
    CHECK(p != NULL);
    free(p);
}

static void test_strings(void)
{
    char buf[5];
    CHECK(joule_strlcpy(buf, "abcdefgh", sizeof(buf)) == 8);
    CHECK_STR(buf, "abcd");
    joule_fmt(buf, sizeof(buf), "%d-%d", 12, 345);
    CHECK_STR(buf, "12-3");
    CHECK_STR(joule_status_str(JOULE_ERR_FORMAT), "malformed input");
    CHECK_STR(joule_provenance_str(JOULE_PROV_SAMPLED), "sampled");
    CHECK_STR(joule_domain_kind_str(JOULE_DOMAIN_DRAM), "dram");
    CHECK_STR(joule_flag_str(JOULE_FLAG_NEGATIVE_NET | JOULE_FLAG_COARSE), "negative-net");
    CHECK_STR(joule_flag_str(0), "");
    CHECK(strstr(joule_version(), "0.1.0 (commit ") == joule_version());
}

static enum joule_status write_hello(FILE *f, void *ctx)
{
    fputs((const char *)ctx, f);
    return JOULE_OK;
}

static enum joule_status write_fail(FILE *f, void *ctx)
{
    (void)f;
    (void)ctx;
    return JOULE_ERR_IO;
}

static void test_files(void)
{
    const char *tmp = getenv("JOULE_TEST_TMP");
    char path[512], err[256];
    joule_fmt(path, sizeof(path), "%s/atomic.txt", tmp ? tmp : "/tmp");
    CHECK(joule_write_atomic(path, write_hello, "hello\n", err, sizeof(err)) == JOULE_OK);
    char *text = NULL;
    size_t len = 0;
    CHECK(joule_read_all(path, 100, &text, &len, err, sizeof(err)) == JOULE_OK);
    CHECK(len == 6 && text && strcmp(text, "hello\n") == 0);
    free(text);
    /* A failed write leaves the old file alone. */
    CHECK(joule_write_atomic(path, write_fail, NULL, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(joule_read_all(path, 100, &text, &len, err, sizeof(err)) == JOULE_OK);
    CHECK(text && strcmp(text, "hello\n") == 0);
    free(text);
    CHECK(joule_read_all(path, 5, &text, &len, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "larger than 5 bytes") != NULL);
    CHECK(joule_read_all(path, 6, &text, &len, err, sizeof(err)) == JOULE_OK && len == 6);
    free(text);
    CHECK(joule_read_all("/nonexistent/file", 100, &text, &len, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, "/nonexistent/file: ") == err);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_strings);
    RUN(test_files);
    TEST_MAIN_END();
}
