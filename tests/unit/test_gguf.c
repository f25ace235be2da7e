/*
 * test_gguf.c - the GGUF reader and writer.
 *
 *  - write -> read round trip of every metadata type (nested arrays too) and
 *    every tensor type, through a buffer and through a file;
 *  - a corrupt-file matrix built here, byte by byte: each case must give
 *    JOULE_ERR_FORMAT and its own message; every truncation of a valid file
 *    and seeded random byte flips must fail cleanly (run under ASan/UBSan);
 *  - with $JOULE_SHARED_TESTDATA: every model of the reference pack opens,
 *    with the architecture, tensor count and type histogram of its README,
 *    and every tensor dequantizes to finite values.
 *
 * With $JOULE_FUZZ_SEED_DIR set, it also writes the fuzz seed corpus there.
 */
#include "model.h"
#include "test.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 99;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------------- */
/* round trip */

static const enum joule_quant_type all_types[] = {
    JOULE_QUANT_F32,  JOULE_QUANT_F16,  JOULE_QUANT_BF16, JOULE_QUANT_Q4_0, JOULE_QUANT_Q4_1,
    JOULE_QUANT_Q5_0, JOULE_QUANT_Q5_1, JOULE_QUANT_Q8_0, JOULE_QUANT_Q8_1, JOULE_QUANT_Q2_K,
    JOULE_QUANT_Q3_K, JOULE_QUANT_Q4_K, JOULE_QUANT_Q5_K, JOULE_QUANT_Q6_K, JOULE_QUANT_Q8_K,
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

struct built {
    uint8_t *buf;
    size_t size;
    uint8_t *tdata[N_TYPES];
    size_t tbytes[N_TYPES];
};

static void build_full(struct built *b, uint32_t alignment)
{
    struct joule_gguf_writer *w = NULL;
    CHECK(joule_gguf_writer_open(&w) == JOULE_OK);
    if (alignment)
        CHECK(joule_gguf_writer_set_u32(w, "general.alignment", alignment) == JOULE_OK);
    CHECK(joule_gguf_writer_set_str(w, "general.architecture", "llama") == JOULE_OK);
    CHECK(joule_gguf_writer_set_u8(w, "t.u8", 200) == JOULE_OK);
    CHECK(joule_gguf_writer_set_i8(w, "t.i8", -100) == JOULE_OK);
    CHECK(joule_gguf_writer_set_u16(w, "t.u16", 60000) == JOULE_OK);
    CHECK(joule_gguf_writer_set_i16(w, "t.i16", -30000) == JOULE_OK);
    CHECK(joule_gguf_writer_set_u32(w, "t.u32", 4000000000u) == JOULE_OK);
    CHECK(joule_gguf_writer_set_i32(w, "t.i32", -2000000000) == JOULE_OK);
    CHECK(joule_gguf_writer_set_f32(w, "t.f32", 1.5f) == JOULE_OK);
    CHECK(joule_gguf_writer_set_bool(w, "t.bool", true) == JOULE_OK);
    CHECK(joule_gguf_writer_set_u64(w, "t.u64", UINT64_MAX - 1) == JOULE_OK);
    CHECK(joule_gguf_writer_set_i64(w, "t.i64", INT64_MIN + 1) == JOULE_OK);
    CHECK(joule_gguf_writer_set_f64(w, "t.f64", -0.125) == JOULE_OK);
    CHECK(joule_gguf_writer_set_strn(w, "t.bytes", "a\0b", 3) == JOULE_OK);
    const uint32_t u32s[] = {1, 2, 3};
    const float f32s[] = {0.5f, -1.0f};
    const bool bools[] = {true, false, true};
    const char *strs[] = {"x", "", "hello"};
    const double f64s[] = {1e300};
    CHECK(joule_gguf_writer_set_array(w, "a.u32", JOULE_GGUF_TYPE_UINT32, u32s, 3) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, "a.f32", JOULE_GGUF_TYPE_FLOAT32, f32s, 2) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, "a.bool", JOULE_GGUF_TYPE_BOOL, bools, 3) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, "a.str", JOULE_GGUF_TYPE_STRING, strs, 3) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, "a.f64", JOULE_GGUF_TYPE_FLOAT64, f64s, 1) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, "a.empty", JOULE_GGUF_TYPE_INT8, NULL, 0) == JOULE_OK);
    /* a.nested = [[1, 2], [], [[ "deep" ]]] is not one type; use two arrays:
     * a.nested: array of array of i16: [[1, 2], [], [7]]
     * a.deep:   array of array of array of string: [[["deep", "er"]], []] */
    CHECK(joule_gguf_writer_begin_array(w, "a.nested", JOULE_GGUF_TYPE_ARRAY) == JOULE_OK);
    const int16_t i16a[] = {1, 2}, i16b[] = {7};
    CHECK(joule_gguf_writer_set_array(w, NULL, JOULE_GGUF_TYPE_INT16, i16a, 2) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, NULL, JOULE_GGUF_TYPE_INT16, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_writer_set_array(w, NULL, JOULE_GGUF_TYPE_INT16, i16b, 1) == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);
    CHECK(joule_gguf_writer_begin_array(w, "a.deep", JOULE_GGUF_TYPE_ARRAY) == JOULE_OK);
    CHECK(joule_gguf_writer_begin_array(w, NULL, JOULE_GGUF_TYPE_ARRAY) == JOULE_OK);
    CHECK(joule_gguf_writer_begin_array(w, NULL, JOULE_GGUF_TYPE_STRING) == JOULE_OK);
    CHECK(joule_gguf_writer_set_str(w, NULL, "deep") == JOULE_OK);
    CHECK(joule_gguf_writer_set_str(w, NULL, "er") == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);
    CHECK(joule_gguf_writer_begin_array(w, NULL, JOULE_GGUF_TYPE_ARRAY) == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);
    /* misuse is refused */
    CHECK(joule_gguf_writer_set_u32(w, "t.u32", 1) == JOULE_ERR_INVALID);
    CHECK(strstr(joule_gguf_writer_errmsg(w), "duplicate key") != NULL);
    CHECK(joule_gguf_writer_set_u32(w, NULL, 1) == JOULE_ERR_STATE);
    CHECK(joule_gguf_writer_set_u32(w, "general.alignment", 48) == JOULE_ERR_INVALID);
    CHECK(joule_gguf_writer_set_u64(w, "general.alignment", 64) == JOULE_ERR_INVALID);
    CHECK(joule_gguf_writer_begin_array(w, "a.x", JOULE_GGUF_TYPE_UINT8) == JOULE_OK);
    CHECK(joule_gguf_writer_set_u16(w, NULL, 1) == JOULE_ERR_INVALID);
    CHECK(joule_gguf_writer_set_u8(w, "k", 1) == JOULE_ERR_STATE);
    uint8_t *tmp;
    size_t tmp_size;
    CHECK(joule_gguf_writer_write_buffer(w, &tmp, &tmp_size) == JOULE_ERR_STATE);
    CHECK(joule_gguf_writer_set_u8(w, NULL, 9) == JOULE_OK);
    CHECK(joule_gguf_writer_end_array(w) == JOULE_OK);

    for (size_t i = 0; i < N_TYPES; i++) {
        const struct joule_quant_traits *tr = joule_quant_traits(all_types[i]);
        int64_t ne[3] = {2 * (int64_t)tr->block_size, 3, 2};
        size_t rb = 0;
        CHECK(joule_quant_row_size(all_types[i], ne[0], &rb));
        b->tbytes[i] = rb * 6;
        b->tdata[i] = malloc(b->tbytes[i]);
        for (size_t k = 0; k < b->tbytes[i]; k++)
            b->tdata[i][k] = (uint8_t)rng_next();
        if (all_types[i] == JOULE_QUANT_F32) /* finite floats */
            for (size_t k = 0; k < b->tbytes[i] / 4; k++)
                ((float *)b->tdata[i])[k] = (float)k * 0.25f;
        char name[32];
        snprintf(name, sizeof(name), "t.%s", joule_quant_name(all_types[i]));
        CHECK(joule_gguf_writer_add_tensor(w, name, all_types[i], 3, ne, b->tdata[i],
                                           b->tbytes[i]) == JOULE_OK);
    }
    int64_t bad_ne[1] = {33};
    CHECK(joule_gguf_writer_add_tensor(w, "bad", JOULE_QUANT_Q4_0, 1, bad_ne, b->tdata[0], 18) ==
          JOULE_ERR_INVALID);
    int64_t ne1[1] = {1};
    CHECK(joule_gguf_writer_add_tensor(w, "t.F32", JOULE_QUANT_F32, 1, ne1, b->tdata[0], 4) ==
          JOULE_ERR_INVALID);
    CHECK(joule_gguf_writer_add_tensor(w, "five", JOULE_QUANT_F32, 5, ne1, b->tdata[0], 4) ==
          JOULE_ERR_INVALID);
    CHECK(joule_gguf_writer_write_buffer(w, &b->buf, &b->size) == JOULE_OK);
    joule_gguf_writer_close(w);
}

static void free_built(struct built *b)
{
    free(b->buf);
    for (size_t i = 0; i < N_TYPES; i++)
        free(b->tdata[i]);
}

static void check_full(const struct joule_gguf *g, const struct built *b, size_t alignment)
{
    CHECK(joule_gguf_version(g) == 3);
    CHECK(joule_gguf_alignment(g) == alignment);
    CHECK(joule_gguf_data_offset(g) % alignment == 0);
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    float f32;
    bool bo;
    uint64_t u64;
    int64_t i64;
    double f64;
    const char *s;
    size_t len;
    CHECK(joule_gguf_get_str(g, "general.architecture", &s, &len) == JOULE_OK && len == 5 &&
          memcmp(s, "llama", 5) == 0);
    CHECK(joule_gguf_get_u8(g, "t.u8", &u8) == JOULE_OK && u8 == 200);
    CHECK(joule_gguf_get_i8(g, "t.i8", &i8) == JOULE_OK && i8 == -100);
    CHECK(joule_gguf_get_u16(g, "t.u16", &u16) == JOULE_OK && u16 == 60000);
    CHECK(joule_gguf_get_i16(g, "t.i16", &i16) == JOULE_OK && i16 == -30000);
    CHECK(joule_gguf_get_u32(g, "t.u32", &u32) == JOULE_OK && u32 == 4000000000u);
    CHECK(joule_gguf_get_i32(g, "t.i32", &i32) == JOULE_OK && i32 == -2000000000);
    CHECK(joule_gguf_get_f32(g, "t.f32", &f32) == JOULE_OK && f32 == 1.5f);
    CHECK(joule_gguf_get_bool(g, "t.bool", &bo) == JOULE_OK && bo);
    CHECK(joule_gguf_get_u64(g, "t.u64", &u64) == JOULE_OK && u64 == UINT64_MAX - 1);
    CHECK(joule_gguf_get_i64(g, "t.i64", &i64) == JOULE_OK && i64 == INT64_MIN + 1);
    CHECK(joule_gguf_get_f64(g, "t.f64", &f64) == JOULE_OK && f64 == -0.125);
    CHECK(joule_gguf_get_str(g, "t.bytes", &s, &len) == JOULE_OK && len == 3 &&
          memcmp(s, "a\0b", 3) == 0);
    /* type checks, absent keys, generic conversions */
    CHECK(joule_gguf_get_u32(g, "t.u16", &u32) == JOULE_ERR_FORMAT);
    CHECK(joule_gguf_get_u32(g, "nope", &u32) == JOULE_ERR_NOT_FOUND);
    char err[256];
    const struct joule_gguf_value *v;
    CHECK(joule_gguf_get(g, "t.f32", JOULE_GGUF_TYPE_UINT32, &v, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK(strstr(err, "key 't.f32' has type f32 (expected u32)") != NULL);
    CHECK(joule_gguf_get(g, "t.i16", JOULE_GGUF_TYPE_INT16, &v, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_gguf_value_uint(v, &u64) == JOULE_ERR_FORMAT); /* negative */
    CHECK(joule_gguf_value_number(v, &f64) == JOULE_OK && f64 == -30000.0);
    CHECK(joule_gguf_get(g, "t.u16", JOULE_GGUF_TYPE_UINT16, &v, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_gguf_value_uint(v, &u64) == JOULE_OK && u64 == 60000);

    /* arrays */
    struct joule_gguf_value e, e2, e3;
    CHECK(joule_gguf_get(g, "a.u32", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_len(v) == 3 && v->elem_type == JOULE_GGUF_TYPE_UINT32);
    CHECK(joule_gguf_array_get(v, 2, &e) == JOULE_OK && joule_gguf_value_u32(&e, &u32) ==
          JOULE_OK && u32 == 3);
    CHECK(joule_gguf_array_get(v, 3, &e) == JOULE_ERR_INVALID);
    CHECK(joule_gguf_get(g, "a.f32", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_get(v, 1, &e) == JOULE_OK && joule_gguf_value_f32(&e, &f32) ==
          JOULE_OK && f32 == -1.0f);
    CHECK(joule_gguf_get(g, "a.bool", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_get(v, 1, &e) == JOULE_OK && joule_gguf_value_bool(&e, &bo) ==
          JOULE_OK && !bo);
    CHECK(joule_gguf_get(g, "a.str", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_len(v) == 3);
    CHECK(joule_gguf_array_get(v, 1, &e) == JOULE_OK && joule_gguf_value_str(&e, &s, &len) ==
          JOULE_OK && len == 0);
    CHECK(joule_gguf_array_get(v, 2, &e) == JOULE_OK && joule_gguf_value_str(&e, &s, &len) ==
          JOULE_OK && len == 5 && memcmp(s, "hello", 5) == 0);
    CHECK(joule_gguf_get(g, "a.f64", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_get(v, 0, &e) == JOULE_OK && joule_gguf_value_f64(&e, &f64) ==
          JOULE_OK && f64 == 1e300);
    CHECK(joule_gguf_get(g, "a.empty", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_len(v) == 0 && v->elem_type == JOULE_GGUF_TYPE_INT8);
    CHECK(joule_gguf_get(g, "a.nested", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_len(v) == 3 && v->elem_type == JOULE_GGUF_TYPE_ARRAY);
    CHECK(joule_gguf_array_get(v, 0, &e) == JOULE_OK && joule_gguf_array_len(&e) == 2);
    CHECK(joule_gguf_array_get(&e, 1, &e2) == JOULE_OK &&
          joule_gguf_value_i16(&e2, &i16) == JOULE_OK && i16 == 2);
    CHECK(joule_gguf_array_get(v, 1, &e) == JOULE_OK && joule_gguf_array_len(&e) == 0 &&
          e.elem_type == JOULE_GGUF_TYPE_INT16);
    CHECK(joule_gguf_array_get(v, 2, &e) == JOULE_OK && joule_gguf_array_get(&e, 0, &e2) ==
          JOULE_OK && joule_gguf_value_i16(&e2, &i16) == JOULE_OK && i16 == 7);
    CHECK(joule_gguf_get(g, "a.deep", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_len(v) == 2);
    CHECK(joule_gguf_array_get(v, 0, &e) == JOULE_OK && joule_gguf_array_len(&e) == 1);
    CHECK(joule_gguf_array_get(&e, 0, &e2) == JOULE_OK && joule_gguf_array_len(&e2) == 2 &&
          e2.elem_type == JOULE_GGUF_TYPE_STRING);
    CHECK(joule_gguf_array_get(&e2, 1, &e3) == JOULE_OK &&
          joule_gguf_value_str(&e3, &s, &len) == JOULE_OK && len == 2 && memcmp(s, "er", 2) == 0);
    CHECK(joule_gguf_array_get(v, 1, &e) == JOULE_OK && joule_gguf_array_len(&e) == 0);
    CHECK(joule_gguf_get(g, "a.x", JOULE_GGUF_TYPE_ARRAY, &v, NULL, 0) == JOULE_OK);
    CHECK(joule_gguf_array_get(v, 0, &e) == JOULE_OK && joule_gguf_value_u8(&e, &u8) ==
          JOULE_OK && u8 == 9);

    /* keys in order */
    CHECK(joule_gguf_kv_count(g) == (alignment != 32 ? 23u : 22u));
    CHECK_STR(joule_gguf_key(g, joule_gguf_kv_count(g) - 1), "a.x");
    CHECK(joule_gguf_find_key(g, "t.i64") >= 0);
    CHECK(joule_gguf_find_key(g, "t.i6") < 0);

    /* tensors */
    CHECK(joule_gguf_tensor_count(g) == N_TYPES);
    for (size_t i = 0; i < N_TYPES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "t.%s", joule_quant_name(all_types[i]));
        const struct joule_gguf_tensor *t = joule_gguf_find_tensor(g, name);
        CHECK(t != NULL && t == joule_gguf_tensor_at(g, i));
        if (!t)
            continue;
        CHECK(t->type == all_types[i] && t->n_dims == 3 && t->ne[1] == 3 && t->ne[2] == 2 &&
              t->ne[3] == 1 && t->n_rows == 6);
        CHECK(t->nbytes == b->tbytes[i] && memcmp(t->data, b->tdata[i], t->nbytes) == 0);
        CHECK(t->offset % alignment == 0);
        /* padding after the tensor is zero */
        size_t end = joule_gguf_data_offset(g) + t->offset + t->nbytes;
        int nz = 0;
        for (size_t k = end; k < joule_gguf_file_size(g) && k % alignment; k++)
            nz += ((const uint8_t *)t->data)[k - end + t->nbytes] != 0;
        CHECK(nz == 0);
    }
    CHECK(joule_gguf_find_tensor(g, "t.F3") == NULL);
}

static void test_round_trip(void)
{
    const uint32_t aligns[] = {0, 64, 1};
    for (size_t a = 0; a < 3; a++) {
        struct built b;
        memset(&b, 0, sizeof(b));
        build_full(&b, aligns[a]);
        size_t align = aligns[a] ? aligns[a] : 32;
        CHECK(b.size % align == 0);
        struct joule_gguf *g = NULL;
        char err[512] = "";
        enum joule_status st = joule_gguf_open_buffer(b.buf, b.size, &g, err, sizeof(err));
        if (aligns[a] == 1) {
            /* legal GGUF, but an F32 or Q8_K tensor at an odd address cannot be viewed */
            CHECK(st == JOULE_ERR_FORMAT || st == JOULE_OK);
        } else {
            if (st != JOULE_OK)
                fprintf(stderr, "%s\n", err);
            CHECK(st == JOULE_OK);
        }
        if (g && aligns[a] != 1)
            check_full(g, &b, align);
        joule_gguf_close(g);
        free_built(&b);
    }
}

/* Copying every key (set_value) and tensor of a file rebuilds it byte for byte. */
static void test_copy(void)
{
    struct built b;
    memset(&b, 0, sizeof(b));
    build_full(&b, 64);
    struct joule_gguf *g = NULL;
    CHECK(joule_gguf_open_buffer(b.buf, b.size, &g, NULL, 0) == JOULE_OK);
    if (!g) {
        free_built(&b);
        return;
    }
    struct joule_gguf_writer *w = NULL;
    CHECK(joule_gguf_writer_open(&w) == JOULE_OK);
    for (uint64_t i = 0; i < joule_gguf_kv_count(g); i++)
        CHECK(joule_gguf_writer_set_value(w, joule_gguf_key(g, i), joule_gguf_kv_value(g, i)) ==
              JOULE_OK);
    for (uint64_t i = 0; i < joule_gguf_tensor_count(g); i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        CHECK(joule_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                           t->nbytes) == JOULE_OK);
    }
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK(joule_gguf_writer_write_buffer(w, &buf, &n) == JOULE_OK);
    CHECK(n == b.size && buf && memcmp(buf, b.buf, n) == 0);
    free(buf);
    joule_gguf_writer_close(w);
    joule_gguf_close(g);
    free_built(&b);
}

static void test_file_io(void)
{
    const char *tmpdir = getenv("JOULE_TEST_TMP");
    char path[1024];
    snprintf(path, sizeof(path), "%s/test_gguf_rt.gguf", tmpdir && *tmpdir ? tmpdir : "/tmp");
    struct joule_gguf_writer *w = NULL;
    CHECK(joule_gguf_writer_open(&w) == JOULE_OK);
    CHECK(joule_gguf_writer_set_str(w, "general.architecture", "qwen2") == JOULE_OK);
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i;
    int64_t ne[2] = {32, 2};
    CHECK(joule_gguf_writer_add_tensor(w, "w", JOULE_QUANT_F32, 2, ne, data, sizeof(data)) ==
          JOULE_OK);
    char err[512];
    CHECK(joule_gguf_writer_write(w, path, err, sizeof(err)) == JOULE_OK);
    joule_gguf_writer_close(w);
    struct joule_gguf *g = NULL;
    CHECK(joule_gguf_open_file(path, &g, err, sizeof(err)) == JOULE_OK);
    const struct joule_gguf_tensor *t = g ? joule_gguf_find_tensor(g, "w") : NULL;
    CHECK(t && t->nbytes == sizeof(data) && memcmp(t->data, data, sizeof(data)) == 0);
    joule_gguf_close(g);

    /* a broken file on disk names the path */
    FILE *f = fopen(path, "wb");
    fputs("GGUF\x07", f);
    fclose(f);
    CHECK(joule_gguf_open_file(path, &g, err, sizeof(err)) == JOULE_ERR_FORMAT && g == NULL);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strstr(err, ": offset 0: file is 5 bytes"));
    remove(path);
    CHECK(joule_gguf_open_file(path, &g, err, sizeof(err)) == JOULE_ERR_IO && g == NULL);
    CHECK(strstr(err, "cannot open") != NULL);
    joule_gguf_close(NULL);
    joule_gguf_writer_close(NULL);
}

/* ------------------------------------------------------------------------- */
/* corrupt-file matrix, built byte by byte */

struct bb {
    uint8_t b[4096];
    size_t n;
};

static void b_raw(struct bb *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void b_u32(struct bb *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(struct bb *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(struct bb *b, const char *s)
{
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->n = 0;
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(struct bb *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, JOULE_GGUF_TYPE_UINT32);
    b_u32(b, v);
}
/* A tensor info with up to 4 dims. */
static void b_tensor(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                     uint32_t type, uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}
static void b_pad(struct bb *b, size_t align)
{
    while (b->n % align)
        b->b[b->n++] = 0;
}
static void b_zeros(struct bb *b, size_t n)
{
    memset(b->b + b->n, 0, n);
    b->n += n;
}

static void expect_format(const struct bb *b, size_t n, const char *what, const char *substr)
{
    struct joule_gguf *g = (struct joule_gguf *)1;
    char err[512] = "";
    enum joule_status st = joule_gguf_open_buffer(b->b, n, &g, err, sizeof(err));
    bool ok = st == JOULE_ERR_FORMAT && g == NULL && strncmp(err, "<buffer>: offset ", 17) == 0 &&
              strstr(err, substr) != NULL && strstr(err, "(expected") != NULL;
    if (!ok)
        fprintf(stderr, "corrupt case '%s': status %d, message \"%s\" (wanted \"%s\")\n", what,
                (int)st, err, substr);
    CHECK(ok);
    joule_gguf_close(st == JOULE_OK ? g : NULL);
}

static void test_corrupt_matrix(void)
{
    struct bb b;
    const uint64_t ne32[1] = {32};

    b_header(&b, 3, 0, 0);
    b.b[0] = 'X';
    expect_format(&b, b.n, "wrong magic", "bad magic 58 47 55 46");
    b_header(&b, 0, 0, 0);
    expect_format(&b, b.n, "version 0", "unsupported GGUF version 0 ");
    b_header(&b, 1, 0, 0);
    expect_format(&b, b.n, "version 1", "unsupported GGUF version 1 ");
    b_header(&b, 4, 0, 0);
    expect_format(&b, b.n, "version 4", "unsupported GGUF version 4 ");
    b_header(&b, 0x03000000u, 0, 0);
    expect_format(&b, b.n, "big-endian", "big-endian GGUF");
    b_header(&b, 3, 0, 0);
    expect_format(&b, 10, "truncated header", "file is 10 bytes, too short for a GGUF header");
    expect_format(&b, 2, "tiny file", "file is 2 bytes");
    b_header(&b, 3, 0, UINT64_MAX / 2);
    expect_format(&b, b.n, "huge n_kv", "key/value count 9223372036854775807 is more than");
    b_header(&b, 3, 1ull << 40, 0);
    expect_format(&b, b.n, "huge n_tensors", "tensor count 1099511627776 is more than");

    b_header(&b, 3, 0, 1);
    b_u64(&b, 1000);
    b_raw(&b, "abcdefghijklmn", 14);
    expect_format(&b, b.n, "key length past EOF", "key length 1000 runs past the end");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_STRING);
    b_u64(&b, 1ull << 62);
    expect_format(&b, b.n, "string length past EOF", "string length 4611686018427387904 runs");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 13);
    b_u32(&b, 0);
    expect_format(&b, b.n, "unknown value type", "unknown value type 13 for key 'k'");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_BOOL);
    b_raw(&b, "\x02", 1);
    expect_format(&b, b.n, "bool 2", "bool value 2");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_UINT64);
    b_u32(&b, 0);
    expect_format(&b, b.n, "truncated value", "truncated u64 value");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_ARRAY);
    b_u32(&b, JOULE_GGUF_TYPE_UINT32);
    b_u64(&b, 1ull << 40);
    b_zeros(&b, 64);
    expect_format(&b, b.n, "huge array", "array of 1099511627776 u32 elements runs past");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 0);
    expect_format(&b, b.n, "bad element type", "unknown array element type 77");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, JOULE_GGUF_TYPE_ARRAY);
    for (int d = 0; d < 12; d++) {
        b_u32(&b, JOULE_GGUF_TYPE_ARRAY);
        b_u64(&b, 1);
    }
    b_zeros(&b, 16);
    expect_format(&b, b.n, "deep nesting", "nested deeper than 8");
    b_header(&b, 3, 0, 2);
    b_kv_u32(&b, "k", 1);
    b_kv_u32(&b, "k", 2);
    expect_format(&b, b.n, "duplicate key", "duplicate key 'k'");
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "", 1);
    expect_format(&b, b.n, "empty key", "empty key");
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "general.alignment", 48);
    expect_format(&b, b.n, "alignment 48", "general.alignment 48 is not a power of two");
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "general.alignment", 0);
    expect_format(&b, b.n, "alignment 0", "general.alignment 0 is not a power of two");
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, JOULE_GGUF_TYPE_UINT64);
    b_u64(&b, 32);
    expect_format(&b, b.n, "alignment type", "general.alignment has type u64 (expected u32)");

    /* tensor infos (one kv so the metadata is not empty) */
    b_header(&b, 3, 1, 0);
    uint64_t ne5[5] = {32, 1, 1, 1, 1};
    b_tensor(&b, "t", 5, ne5, 0, 0);
    expect_format(&b, b.n, "n_dims 5", "tensor 't' has 5 dimensions (expected 1..4)");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 0, ne5, 0, 0);
    b_zeros(&b, 16);
    expect_format(&b, b.n, "n_dims 0", "tensor 't' has 0 dimensions");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne32, 99, 0);
    expect_format(&b, b.n, "unknown type", "tensor 't' has unknown type 99");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne32, 4, 0);
    expect_format(&b, b.n, "removed type 4", "tensor 't' has unknown type 4");
    const uint64_t big[3] = {1ull << 32, 1ull << 32, 4};
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 3, big, 0, 0);
    expect_format(&b, b.n, "ne overflow", "element count of tensor 't' overflows int64");
    const uint64_t rows_ovf[3] = {0, 1ull << 62, 4}; /* no elements, but 2^64 rows */
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 3, rows_ovf, 0, 0);
    expect_format(&b, b.n, "row count overflow", "row count of tensor 't' overflows int64");
    const uint64_t neg[2] = {32, 1ull << 63};
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 2, neg, 0, 0);
    expect_format(&b, b.n, "negative ne", "dimension 1 of tensor 't' is 9223372036854775808");
    const uint64_t bytes_ovf[2] = {1ull << 62, 1};
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 2, bytes_ovf, 0, 0); /* 2^62 F32 elements = 2^64 bytes */
    expect_format(&b, b.n, "byte size overflow", "byte size of tensor 't' overflows");
    const uint64_t ne33[1] = {33};
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne33, JOULE_QUANT_Q4_0, 0);
    expect_format(&b, b.n, "partial block", "row length 33 of tensor 't' is not a multiple of 32");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne32, 0, 8);
    expect_format(&b, b.n, "offset not aligned", "offset 8 of tensor 't' is not a multiple of the "
                  "alignment 32");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne32, 0, 0);
    b_pad(&b, 32);
    b_zeros(&b, 100); /* 128 needed */
    expect_format(&b, b.n, "data past EOF", "data of tensor 't' (128 bytes at data offset 0");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "t", 1, ne32, 0, 1ull << 63);
    b_pad(&b, 32);
    b_zeros(&b, 128);
    expect_format(&b, b.n, "offset past EOF", "runs past the end of the file");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "t", 1, ne32, 0, 0);
    b_tensor(&b, "t", 1, ne32, 0, 128);
    b_pad(&b, 32);
    b_zeros(&b, 256);
    expect_format(&b, b.n, "duplicate names", "duplicate tensor name 't'");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "a", 1, ne32, 0, 0);
    b_tensor(&b, "b", 1, ne32, 0, 96);
    b_pad(&b, 32);
    b_zeros(&b, 256);
    expect_format(&b, b.n, "overlap", "data of tensor 'b' (data offset 96) overlaps tensor 'a'");
    b_header(&b, 3, 1, 0);
    b_u64(&b, 0);
    b_zeros(&b, 32);
    expect_format(&b, b.n, "empty tensor name", "tensor name of 0 bytes");
    b_header(&b, 3, 1, 1);
    b_kv_u32(&b, "general.alignment", 1);
    b_tensor(&b, "t", 1, ne32, 0, 1);
    b_zeros(&b, 200);
    expect_format(&b, b.n, "misaligned f32", "is not aligned to 4 bytes as F32 needs");

    /* a valid tiny file, then every prefix of it and seeded byte flips */
    b_header(&b, 2, 2, 2);
    b_kv_u32(&b, "general.alignment", 16);
    b_str(&b, "tokens");
    b_u32(&b, JOULE_GGUF_TYPE_ARRAY);
    b_u32(&b, JOULE_GGUF_TYPE_STRING);
    b_u64(&b, 2);
    b_str(&b, "ab");
    b_str(&b, "c");
    b_tensor(&b, "a", 1, ne32, JOULE_QUANT_Q8_0, 0);
    b_tensor(&b, "b", 2, (const uint64_t[]){4, 2}, JOULE_QUANT_F32, 48);
    b_pad(&b, 16);
    b_zeros(&b, 80);
    struct joule_gguf *g = NULL;
    char err[512];
    CHECK(joule_gguf_open_buffer(b.b, b.n, &g, err, sizeof(err)) == JOULE_OK);
    CHECK(g && joule_gguf_version(g) == 2 && joule_gguf_alignment(g) == 16);
    joule_gguf_close(g);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        g = NULL;
        enum joule_status st = joule_gguf_open_buffer(b.b, n, &g, err, sizeof(err));
        bad += st != JOULE_ERR_FORMAT || g != NULL || strncmp(err, "<buffer>: offset ", 17) != 0;
    }
    CHECK(bad == 0);
    struct bb m;
    int opened = 0, failed = 0;
    bad = 0;
    for (int it = 0; it < 20000; it++) {
        m = b;
        int flips = 1 + (int)(rng_next() % 4);
        for (int k = 0; k < flips; k++)
            m.b[rng_next() % m.n] ^= (uint8_t)(1u << (rng_next() % 8));
        g = NULL;
        enum joule_status st = joule_gguf_open_buffer(m.b, m.n, &g, err, sizeof(err));
        if (st == JOULE_OK) {
            opened++;
            for (uint64_t i = 0; i < joule_gguf_tensor_count(g); i++) {
                const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
                bad += (const uint8_t *)t->data + t->nbytes > m.b + m.n;
            }
            joule_gguf_close(g);
        } else {
            failed++;
            bad += st != JOULE_ERR_FORMAT || g != NULL;
        }
    }
    CHECK(bad == 0);
    CHECK(opened > 0 && failed > 0);
}

/* ------------------------------------------------------------------------- */
/* the reference model pack */

struct pack_file {
    const char *file;
    const char *arch;
    uint64_t n_tensors;
    const char *histogram; /* "TYPE:count ..." in the README's order */
};

/* From ../shared/testdata/models/README.md, section 1 ("Files"). */
static const struct pack_file pack[] = {
    {"llama-tiny-f32.gguf", "llama", 21, "F32:21"},
    {"llama-tiny-f16.gguf", "llama", 21, "F16:16 F32:5"},
    {"llama-tiny-bf16.gguf", "llama", 21, "BF16:16 F32:5"},
    {"llama-tiny-q8_0.gguf", "llama", 21, "F32:5 Q8_0:16"},
    {"llama-tiny-q4_0.gguf", "llama", 21, "F32:5 Q4_0:16"},
    {"llama-tiny-q4_1.gguf", "llama", 21, "F32:5 Q4_1:16"},
    {"llama-tiny-q5_0.gguf", "llama", 21, "F32:5 Q5_0:16"},
    {"llama-tiny-q5_1.gguf", "llama", 21, "F32:5 Q5_1:16"},
    {"llama-tiny-q4_k.gguf", "llama", 21, "F32:5 Q4_K:16"},
    {"llama-tiny-q5_k.gguf", "llama", 21, "F32:5 Q5_K:16"},
    {"llama-tiny-q6_k.gguf", "llama", 21, "F32:5 Q6_K:16"},
    {"llama-tiny-q4_k_m.gguf", "llama", 21, "F32:5 Q4_K:13 Q6_K:3"},
    {"qwen2-tiny-f16.gguf", "qwen2", 26, "F16:15 F32:11"},
    {"qwen2-tiny-q8_0.gguf", "qwen2", 26, "F32:11 Q8_0:15"},
    {"qwen2-tiny-q4_k_m.gguf", "qwen2", 26, "F32:11 Q4_K:12 Q6_K:3"},
    {"phi3-tiny-f16.gguf", "phi3", 15, "F16:10 F32:5"},
    {"phi3-tiny-q8_0.gguf", "phi3", 15, "F32:5 Q8_0:10"},
    {"phi3-tiny-q4_0.gguf", "phi3", 15, "F32:5 Q4_0:10"},
};

/* "F32:5 Q4_0:16" of g, types in the order of the histogram string. */
static bool histogram_matches(const struct joule_gguf *g, const char *want)
{
    uint64_t counts[JOULE_QUANT_ID_LIMIT] = {0};
    for (uint64_t i = 0; i < joule_gguf_tensor_count(g); i++)
        counts[joule_gguf_tensor_at(g, i)->type]++;
    uint64_t listed = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", want);
    for (char *tok = buf, *next; tok && *tok; tok = next) {
        next = strchr(tok, ' ');
        if (next)
            *next++ = '\0';
        char *colon = strchr(tok, ':');
        if (!colon)
            return false;
        *colon = '\0';
        enum joule_quant_type t;
        if (joule_quant_from_name(tok, &t) != JOULE_OK)
            return false;
        uint64_t n = strtoull(colon + 1, NULL, 10);
        if (counts[t] != n)
            return false;
        listed += n;
    }
    return listed == joule_gguf_tensor_count(g);
}

static void test_model_pack(void)
{
    const char *root = getenv("JOULE_SHARED_TESTDATA");
    char dir[1024];
    if (!root || !*root) {
        printf("skipped: model pack (JOULE_SHARED_TESTDATA not set)\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/models", root);
    DIR *d = opendir(dir);
    if (!d) {
        printf("skipped: model pack (%s missing)\n", dir);
        return;
    }
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
            continue;
        char path[2048], err[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct joule_gguf *g = NULL;
        enum joule_status st = joule_gguf_open_file(path, &g, err, sizeof(err));
        if (st != JOULE_OK)
            fprintf(stderr, "%s\n", err);
        CHECK(st == JOULE_OK);
        if (st != JOULE_OK)
            continue;
        const struct pack_file *pf = NULL;
        for (size_t i = 0; i < sizeof(pack) / sizeof(pack[0]); i++)
            if (strcmp(pack[i].file, de->d_name) == 0)
                pf = &pack[i];
        const char *arch;
        size_t alen;
        CHECK(joule_gguf_get_str(g, "general.architecture", &arch, &alen) == JOULE_OK);
        if (pf) {
            seen++;
            CHECK(alen == strlen(pf->arch) && memcmp(arch, pf->arch, alen) == 0);
            CHECK(joule_gguf_tensor_count(g) == pf->n_tensors);
            bool hist = histogram_matches(g, pf->histogram);
            if (!hist)
                fprintf(stderr, "%s: histogram differs from \"%s\"\n", pf->file, pf->histogram);
            CHECK(hist);
        }
        /* the tokenizer's string array is walkable */
        const struct joule_gguf_value *tok;
        if (joule_gguf_get(g, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_ARRAY, &tok, NULL, 0) ==
            JOULE_OK) {
            struct joule_gguf_value e;
            uint64_t n = joule_gguf_array_len(tok);
            CHECK(n > 0 && joule_gguf_array_get(tok, n - 1, &e) == JOULE_OK &&
                  e.type == JOULE_GGUF_TYPE_STRING);
        }
        /* every tensor dequantizes to finite values */
        uint64_t nonfinite = 0, elements = 0;
        for (uint64_t i = 0; i < joule_gguf_tensor_count(g); i++) {
            const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
            float *row = malloc(sizeof(float) * (size_t)(t->ne[0] ? t->ne[0] : 1));
            for (int64_t r = 0; r < t->n_rows; r++) {
                enum joule_status ds = joule_quant_dequantize_row_ref(
                    t->type, (const uint8_t *)t->data + (size_t)r * t->row_bytes, row, t->ne[0]);
                if (ds != JOULE_OK) {
                    nonfinite++;
                    break;
                }
                for (int64_t k = 0; k < t->ne[0]; k++)
                    nonfinite += !isfinite(row[k]);
                elements += (uint64_t)t->ne[0];
            }
            free(row);
        }
        CHECK(nonfinite == 0);
        printf("model pack: %s opens: arch %.*s, %" PRIu64 " tensors, %" PRIu64
               " values dequantized, all finite: %s\n",
               de->d_name, (int)alen, arch, joule_gguf_tensor_count(g), elements,
               nonfinite == 0 ? "yes" : "NO");
        joule_gguf_close(g);
    }
    closedir(d);
    CHECK(seen == (int)(sizeof(pack) / sizeof(pack[0])));
}

/* ------------------------------------------------------------------------- */
/* fuzz seeds (only when asked) */

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
}

static void write_fuzz_seeds(void)
{
    const char *dir = getenv("JOULE_FUZZ_SEED_DIR");
    if (!dir || !*dir)
        return;
    struct joule_gguf_writer *w = NULL;
    uint8_t *buf;
    size_t n;
    /* 1: metadata of every kind, no tensors */
    joule_gguf_writer_open(&w);
    joule_gguf_writer_set_str(w, "general.architecture", "llama");
    joule_gguf_writer_set_u32(w, "llama.block_count", 2);
    joule_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    joule_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b"};
    joule_gguf_writer_set_array(w, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_STRING, toks, 5);
    const float sc[] = {0, 0, 0, -1, -2};
    joule_gguf_writer_set_array(w, "tokenizer.ggml.scores", JOULE_GGUF_TYPE_FLOAT32, sc, 5);
    joule_gguf_writer_begin_array(w, "nested", JOULE_GGUF_TYPE_ARRAY);
    const int64_t i64s[] = {1, -1};
    joule_gguf_writer_set_array(w, NULL, JOULE_GGUF_TYPE_INT64, i64s, 2);
    joule_gguf_writer_end_array(w);
    if (joule_gguf_writer_write_buffer(w, &buf, &n) == JOULE_OK) {
        write_seed(dir, "metadata.gguf", buf, n);
        free(buf);
    }
    joule_gguf_writer_close(w);
    /* 2..: one small tensor of each kernel type */
    static const enum joule_quant_type ts[] = {JOULE_QUANT_F32,  JOULE_QUANT_F16,
                                               JOULE_QUANT_BF16, JOULE_QUANT_Q8_0,
                                               JOULE_QUANT_Q4_0, JOULE_QUANT_Q4_1,
                                               JOULE_QUANT_Q5_0, JOULE_QUANT_Q5_1,
                                               JOULE_QUANT_Q4_K, JOULE_QUANT_Q5_K,
                                               JOULE_QUANT_Q6_K};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        const struct joule_quant_traits *tr = joule_quant_traits(ts[i]);
        int64_t ne[2] = {tr->block_size == 1 ? 32 : tr->block_size, 2};
        size_t rb = 0;
        joule_quant_row_size(ts[i], ne[0], &rb);
        float x[512];
        for (int k = 0; k < 512; k++)
            x[k] = (float)((int)(rng_next() % 2001) - 1000) / 500.0f;
        uint8_t q[2048];
        joule_quant_quantize_row_ref(ts[i], x, q, ne[0]);
        joule_quant_quantize_row_ref(ts[i], x + ne[0], q + rb, ne[0]);
        joule_gguf_writer_open(&w);
        joule_gguf_writer_set_str(w, "general.architecture", "llama");
        if (i % 2)
            joule_gguf_writer_set_u32(w, "general.alignment", 64);
        joule_gguf_writer_add_tensor(w, "blk.0.w", ts[i], 2, ne, q, 2 * rb);
        int64_t ne1[1] = {8};
        joule_gguf_writer_add_tensor(w, "norm", JOULE_QUANT_F32, 1, ne1, x, 32);
        if (joule_gguf_writer_write_buffer(w, &buf, &n) == JOULE_OK) {
            char name[64];
            snprintf(name, sizeof(name), "tensor-%s.gguf", tr->name);
            for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            if (n < 4096)
                write_seed(dir, name, buf, n);
            free(buf);
        }
        joule_gguf_writer_close(w);
    }
    printf("fuzz seeds written to %s\n", dir);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_copy);
    RUN(test_file_io);
    RUN(test_corrupt_matrix);
    RUN(test_model_pack);
    write_fuzz_seeds();
    TEST_MAIN_END();
}
