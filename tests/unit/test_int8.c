/*
 * test_int8.c - the engine's LLM.int8 mode (int8.h).
 *
 * The decomposition is checked against a naive reference written here
 * from the method's description (vector-wise INT8 of the inlier columns,
 * 16-bit outlier columns), then through whole forward passes:
 *  - threshold 0 is pure INT8: no outlier column, and the same logits as
 *    a threshold no activation reaches (1e30);
 *  - a vanishing threshold sends every column to 16-bit: the logits are
 *    those of the same weights in F32 (the INT8 file dequantized), within
 *    the F16 rounding of the activations;
 *  - in between, outlier columns are counted and change the result.
 */
#include "test.h"

#include "int8.h"
#include "kernels.h"
#include "lm.h"
#include "model.h"
#include "pack.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[512];

/* --- the vector-wise quantizer -------------------------------------------- */

static void test_vectorwise_row(void)
{
    float x[64];
    for (int j = 0; j < 64; j++)
        x[j] = (float)(j % 7) - 3.0f; /* -3 .. 3 */
    x[5] = 12.7f;                     /* the row's absmax */
    x[40] = -50.0f;                   /* an outlier, left out */
    uint8_t skip[64] = {0};
    skip[40] = 1;
    struct joule_block_q8_0 q[2];
    joule_quantize_row_q8_0_vectorwise_ref(x, q, 64, skip);
    /* One scale for the row: 12.7 / 127 = 0.1, in F16. */
    CHECK(q[0].d == q[1].d);
    CHECK_NEAR(joule_fp16_to_f32(q[0].d), 0.1, 0.1 * 1e-3);
    CHECK(q[0].qs[5] == 127);
    CHECK(q[1].qs[40 - 32] == 0); /* skipped */
    /* Every other value is round(x * 127 / 12.7) = 10 x. */
    int bad = 0;
    for (int j = 0; j < 64; j++)
        if (j != 5 && j != 40)
            bad += q[j / 32].qs[j % 32] != (int8_t)lrintf(x[j] * 10.0f);
    CHECK(bad == 0);
    /* Without skip the outlier sets the scale. */
    joule_quantize_row_q8_0_vectorwise_ref(x, q, 64, NULL);
    CHECK_NEAR(joule_fp16_to_f32(q[0].d), 50.0 / 127, 50.0 / 127 * 1e-3);
    CHECK(q[1].qs[8] == -127);
    /* An all-zero row has scale 0 and zeros. */
    float z[32] = {0};
    joule_quantize_row_q8_0_vectorwise_ref(z, q, 32, NULL);
    CHECK(q[0].d == 0 && q[0].qs[0] == 0 && q[0].qs[31] == 0);
}

/* --- one product: the decomposition against a naive reference ------------- */

enum { K = 96, N = 24, T = 5 };

struct product {
    float x[T][K];
    struct joule_block_q8_0 w[N][K / 32];
    struct joule_gguf_tensor wt;
};

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void make_product(struct product *p)
{
    memset(p, 0, sizeof(*p));
    for (int t = 0; t < T; t++)
        for (int j = 0; j < K; j++)
            p->x[t][j] = frand();
    /* Planted outliers: column 7 in one token, column 50 in all, column 90
     * just below the threshold used (4.0). */
    p->x[2][7] = 9.5f;
    for (int t = 0; t < T; t++)
        p->x[t][50] = -6.0f - (float)t;
    p->x[4][90] = 3.99f;
    for (int r = 0; r < N; r++) {
        float row[K];
        for (int j = 0; j < K; j++)
            row[j] = 0.05f * frand();
        joule_quantize_row_q8_0_vectorwise_ref(row, p->w[r], K, NULL);
    }
    p->wt.name = "w";
    p->wt.type = JOULE_QUANT_Q8_0;
    p->wt.n_dims = 2;
    p->wt.ne[0] = K;
    p->wt.ne[1] = N;
    p->wt.n_rows = N;
    p->wt.row_bytes = sizeof(p->w[0]);
    p->wt.data = p->w;
}

/* What LLM.int8 computes, from its description: column j is an outlier
 * when some |x[t][j]| >= thr (thr > 0); per token, the inliers are scaled
 * by 127 / their absmax and rounded, multiplied with the INT8 weights and
 * rescaled; the outliers, in F16, meet the dequantized weights. */
static void reference(const struct product *p, float thr, float y[T][N], int *n_out)
{
    int outlier[K] = {0};
    *n_out = 0;
    for (int j = 0; j < K; j++) {
        for (int t = 0; t < T && thr > 0; t++)
            outlier[j] |= fabsf(p->x[t][j]) >= thr;
        *n_out += outlier[j];
    }
    for (int t = 0; t < T; t++) {
        float amax = 0;
        for (int j = 0; j < K; j++)
            if (!outlier[j] && fabsf(p->x[t][j]) > amax)
                amax = fabsf(p->x[t][j]);
        const double dx = joule_fp16_to_f32(joule_fp16_from_f32(amax / 127.0f));
        for (int r = 0; r < N; r++) {
            const double dw = joule_fp16_to_f32(p->w[r][0].d);
            long long acc = 0;
            double hi = 0;
            for (int j = 0; j < K; j++) {
                const int qw = p->w[r][j / 32].qs[j % 32];
                if (outlier[j]) {
                    hi += (double)joule_fp16_to_f32(joule_fp16_from_f32(p->x[t][j])) * qw * dw;
                } else {
                    const long qx = amax > 0 ? lrintf(p->x[t][j] * 127.0f / amax) : 0;
                    acc += qx * qw;
                }
            }
            y[t][r] = (float)((double)acc * dx * dw + hi);
        }
    }
}

/* The engine's steps 1-3 with the reference Q8_0 tile; packed: with the
 * first 16 of the N = 24 weight rows packed (pack.h), as the loader packs a
 * Q8_0 matrix on a VNNI machine, the 8 others row-major after them. */
static void decomposed_as(const struct product *p, float thr, float y[T][N], int *n_out,
                          bool packed)
{
    struct joule_kernels k;
    joule_kernels_select(&k, JOULE_ISA_SCALAR);
    void *mem = calloc(1, joule_int8_bytes(K, T, 1));
    struct joule_block_q8_0 act[T][K / 32];
    struct joule_int8 s;
    joule_int8_init(&s, thr, K, T, mem);
    joule_int8_find_outliers(&s, &p->x[0][0], K, T, K);
    for (int t = 0; t < T; t++)
        joule_int8_quantize_row(&s, p->x[t], act[t], K);
    if (packed) {
        static struct joule_block_q8_0 wp[N][K / 32];
        memcpy(wp, p->w, sizeof(wp));
        joule_pack_group(JOULE_QUANT_Q8_0, K, p->w, sizeof(p->w[0]), wp);
        struct joule_gguf_tensor wt = p->wt;
        wt.data = wp;
        k.ptile[JOULE_QUANT_Q8_0](K, wp, 16 * sizeof(wp[0]), 16, act, sizeof(act[0]), T,
                                  &y[0][0], N);
        k.tile[JOULE_QUANT_Q8_0](K, wp[16], sizeof(wp[0]), N - 16, act, sizeof(act[0]), T,
                                 &y[0][16], N);
        joule_int8_add_outliers(&s, &wt, 16, 0, N, T, &y[0][0], N, 0);
    } else {
        k.tile[JOULE_QUANT_Q8_0](K, p->w, sizeof(p->w[0]), N, act, sizeof(act[0]), T, &y[0][0],
                                 N);
        joule_int8_add_outliers(&s, &p->wt, 0, 0, N, T, &y[0][0], N, 0);
    }
    *n_out = s.n_cols;
    CHECK(s.columns == K && s.outliers == s.n_cols);
    free(mem);
}

static void decomposed(const struct product *p, float thr, float y[T][N], int *n_out)
{
    float yp[T][N];
    int n_packed;
    decomposed_as(p, thr, y, n_out, false);
    /* packed weights: the same, bit for bit (the scalar twins) */
    decomposed_as(p, thr, yp, &n_packed, true);
    CHECK(n_packed == *n_out && memcmp(yp, y, sizeof(yp)) == 0);
}

static double max_rel_diff(float a[T][N], float b[T][N])
{
    double m = 0, scale = 1e-6;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < N; r++)
            scale = fmax(scale, fabs(b[t][r]));
    for (int t = 0; t < T; t++)
        for (int r = 0; r < N; r++)
            m = fmax(m, fabs(a[t][r] - b[t][r]) / scale);
    return m;
}

static void test_product(void)
{
    static struct product p;
    make_product(&p);
    float y[T][N], ref[T][N], y0[T][N];
    int n, n_ref;
    /* Threshold 4: columns 7 and 50 (90 stays under it). */
    decomposed(&p, 4.0f, y, &n);
    reference(&p, 4.0f, ref, &n_ref);
    CHECK(n == 2 && n_ref == 2);
    CHECK(max_rel_diff(y, ref) < 1e-5);
    /* Threshold 0: pure INT8, no outliers; and the outliers now set the
     * scales, so the result differs from the decomposed one. */
    decomposed(&p, 0.0f, y0, &n);
    reference(&p, 0.0f, ref, &n_ref);
    CHECK(n == 0 && n_ref == 0);
    CHECK(max_rel_diff(y0, ref) < 1e-5);
    CHECK(max_rel_diff(y0, y) > 1e-3);
    /* A threshold nothing reaches is pure INT8 too, bit for bit. */
    float yh[T][N];
    decomposed(&p, 1e30f, yh, &n);
    CHECK(n == 0 && memcmp(yh, y0, sizeof(yh)) == 0);
    /* A vanishing threshold: every column in 16-bit, which is the F16
     * activations times the dequantized weights. */
    decomposed(&p, 1e-30f, y, &n);
    CHECK(n == K);
    float f16[T][N];
    for (int t = 0; t < T; t++)
        for (int r = 0; r < N; r++) {
            double sum = 0;
            for (int j = 0; j < K; j++)
                sum += (double)joule_fp16_to_f32(joule_fp16_from_f32(p.x[t][j])) *
                       p.w[r][j / 32].qs[j % 32] * joule_fp16_to_f32(p.w[r][j / 32].d);
            f16[t][r] = (float)sum;
        }
    CHECK(max_rel_diff(y, f16) < 1e-5);
}

/* --- whole forward passes -------------------------------------------------- */

struct model {
    struct joule_gguf *g;
    struct joule_lm *m;
};

static int load(const char *path, struct model *out)
{
    char err[256];
    memset(out, 0, sizeof(*out));
    if (joule_gguf_open_file(path, &out->g, err, sizeof(err)) != JOULE_OK ||
        joule_lm_load(out->g, &out->m, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 0;
    }
    return 1;
}

static void unload(struct model *m)
{
    joule_lm_free(m->m);
    joule_gguf_close(m->g);
}

enum { NTOK = 6 };

/* The logits of the last of NTOK tokens, in int8 mode at thr (< 0: off),
 * and the mode's counters. */
static int logits(const struct model *m, float thr, float *out, int64_t *cols, int64_t *outl)
{
    struct joule_lm_ctx_params p;
    joule_lm_ctx_params_init(&p);
    p.n_ctx = 64;
    p.int8_threshold = thr;
    struct joule_lm_ctx *c = NULL;
    char err[256];
    if (joule_lm_ctx_open(m->m, &p, &c, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "ctx: %s\n", err);
        return 0;
    }
    const int32_t toks[NTOK] = {1, 17, 300, 42, 9, 255};
    int ok = joule_lm_prefill(c, toks, NTOK) == JOULE_OK;
    const float *l = joule_lm_ctx_logits(c);
    if (ok && l)
        memcpy(out, l, (size_t)m->m->hp.n_vocab * sizeof(float));
    joule_lm_ctx_int8_stats(c, cols, outl);
    joule_lm_ctx_free(c);
    return ok && l;
}

static void test_forward(void)
{
    char int8_path[600], f32_path[600], err[256];
    snprintf(int8_path, sizeof(int8_path), "%s/int8.gguf", tmpdir);
    snprintf(f32_path, sizeof(f32_path), "%s/int8-as-f32.gguf", tmpdir);
    struct joule_synth_params sp = joule_synth_default_params();
    sp.arch = "llama";
    sp.n_embd = 128;
    sp.n_layer = 2;
    sp.n_head = 4;
    sp.n_head_kv = 2;
    sp.n_ff = 256;
    sp.n_vocab = 512;
    sp.n_ctx = 256;
    sp.type = "int8";
    sp.seed = 3;
    CHECK(joule_model_synth(&sp, int8_path, err, sizeof(err)) == JOULE_OK);
    /* The same weights in F32: what "everything in 16-bit" computes, up to
     * the F16 rounding of the activations. */
    CHECK(joule_model_quantize(int8_path, f32_path, "f32", 1, err, sizeof(err)) == JOULE_OK);
    struct model a, b;
    if (!load(int8_path, &a))
        return;
    if (!load(f32_path, &b)) {
        unload(&a);
        return;
    }
    /* The int8 recipe: matrices Q8_0 with one scale per row, the
     * embedding 16-bit. */
    CHECK(a.m->tok_embd->type == JOULE_QUANT_F16);
    CHECK(a.m->layers[0].wq->type == JOULE_QUANT_Q8_0);
    /* (the file's rows: the model's own copy may be packed) */
    const struct joule_block_q8_0 *row =
        joule_gguf_find_tensor(a.g, "blk.1.ffn_down.weight")->data;
    int same = 1;
    for (int i = 1; i < a.m->layers[1].w_down->ne[0] / 32; i++)
        same &= row[i].d == row[0].d;
    CHECK(same);

    const size_t V = (size_t)a.m->hp.n_vocab;
    float *l0 = malloc(V * sizeof(float)), *lh = malloc(V * sizeof(float));
    float *lt = malloc(V * sizeof(float)), *lf = malloc(V * sizeof(float));
    float *lm = malloc(V * sizeof(float));
    int64_t cols = 0, outl = 0;
    if (!l0 || !lh || !lt || !lf || !lm)
        goto out;
    CHECK(logits(&a, 0.0f, l0, &cols, &outl));
    CHECK(cols > 0 && outl == 0);
    CHECK(logits(&a, 1e30f, lh, &cols, &outl));
    CHECK(outl == 0 && memcmp(l0, lh, V * sizeof(float)) == 0);
    /* Off, the same file runs as llama.cpp runs Q8_0: no counters. */
    CHECK(logits(&a, -1.0f, lm, &cols, &outl));
    CHECK(cols == 0 && outl == 0);

    CHECK(logits(&a, 1e-30f, lt, &cols, &outl));
    CHECK(cols > 0 && outl > cols * 99 / 100); /* all but exact zeros */
    CHECK(logits(&b, -1.0f, lf, &cols, &outl));
    double diff = 0, diff0 = 0, range = 0;
    for (size_t i = 0; i < V; i++) {
        diff = fmax(diff, fabs(lt[i] - lf[i]));
        diff0 = fmax(diff0, fabs(l0[i] - lf[i]));
        range = fmax(range, fabs(lf[i]));
    }
    CHECK(range > 0 && diff < 2e-3 * range);
    /* and pure INT8 is measurably further from it. */
    CHECK(diff0 > 2 * diff);

    /* In between: some columns are outliers, and they matter. */
    float *lmid = lm;
    CHECK(logits(&a, 0.5f, lmid, &cols, &outl));
    CHECK(outl > 0 && outl < cols);
    CHECK(memcmp(lmid, l0, V * sizeof(float)) != 0);
out:
    free(l0);
    free(lh);
    free(lt);
    free(lf);
    free(lm);
    unload(&a);
    unload(&b);
}

/* A model with no Q8_0 matrix has nothing to run in int8 mode. */
static void test_refused(void)
{
    char path[600], err[256];
    snprintf(path, sizeof(path), "%s/int8-f16.gguf", tmpdir);
    struct joule_synth_params sp = joule_synth_default_params();
    sp.n_layer = 1;
    sp.n_vocab = 300;
    sp.type = "f16";
    CHECK(joule_model_synth(&sp, path, err, sizeof(err)) == JOULE_OK);
    struct model a;
    if (!load(path, &a))
        return;
    struct joule_lm_ctx_params p;
    joule_lm_ctx_params_init(&p);
    p.int8_threshold = 6.0f;
    struct joule_lm_ctx *c = NULL;
    CHECK(joule_lm_ctx_open(a.m, &p, &c, err, sizeof(err)) == JOULE_ERR_INVALID);
    CHECK(c == NULL && strstr(err, "--type int8") != NULL);
    unload(&a);
}

int main(void)
{
    const char *t = getenv("JOULE_TEST_TMP");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t ? t : "/tmp");
    RUN(test_vectorwise_row);
    RUN(test_product);
    RUN(test_forward);
    RUN(test_refused);
    TEST_MAIN_END();
}
