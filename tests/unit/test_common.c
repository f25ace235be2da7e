/* test_common.c - checked sizes, bounded strings, file helpers, status strings. */
#include "alloc.h"
#include "fileio.h"
#include "sha256.h"
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

/* FIPS 180-2 appendix B vectors, plus lengths around the padding edge fed in
 * uneven pieces against the same text fed at once. */
static void test_sha256(void)
{
    struct joule_sha256 s;
    char hex[65];
    joule_sha256_init(&s);
    joule_sha256_hex(&s, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    joule_sha256_init(&s);
    joule_sha256_update(&s, "abc", 3);
    joule_sha256_hex(&s, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    joule_sha256_init(&s);
    joule_sha256_update(&s, two, strlen(two));
    joule_sha256_hex(&s, hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char a[1000];
    memset(a, 'a', sizeof(a));
    joule_sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        joule_sha256_update(&s, a, sizeof(a));
    joule_sha256_hex(&s, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    for (size_t len = 50; len < 140; len++) {
        char once[65], pieces[65];
        joule_sha256_init(&s);
        joule_sha256_update(&s, a, len);
        joule_sha256_hex(&s, once);
        joule_sha256_init(&s);
        for (size_t i = 0; i < len; i += 7)
            joule_sha256_update(&s, a + i, len - i < 7 ? len - i : 7);
        joule_sha256_hex(&s, pieces);
        CHECK_STR(once, pieces);
    }
    char err[256];
    CHECK(joule_sha256_file("/nonexistent/x", hex, err, sizeof(err)) == JOULE_ERR_IO);
}

int main(void)
{
    RUN(test_sha256);
    RUN(test_sizes);
    RUN(test_strings);
    RUN(test_files);
    TEST_MAIN_END();
}
