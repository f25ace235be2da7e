/*
 * fuzz_tokenizer.c - tokenizing arbitrary bytes with a small synthesized
 * SPM vocabulary and small byte-level BPE vocabularies (one per
 * pre-tokenizer family), then detokenizing the ids.
 *
 * Byte 0 of the input picks the vocabulary and the flags; the rest is the
 * text.  Nothing is checked but the absence of crashes, sanitizer reports
 * and inconsistent sizes.
 */
#include "tokenizer.h"
#include "unicode.h"
#include "vocab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pres[] = {"gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder",
                                   "falcon", "starcoder", "default", "qwen35"};
#define N_PRE (sizeof(pres) / sizeof(pres[0]))

static struct joule_vocab *build_bpe(const char *pre)
{
    static const char *const extra[] = {"th", "the", "\xC4\xA0t", "\xC4\xA0the", "in", "ing",
                                        "12", "<|endoftext|>", "<|user|>"};
    static const char *const merges[] = {"t h", "th e", "\xC4\xA0 t", "\xC4\xA0t he", "i n",
                                         "in g", "1 2"};
    static char chars[256][4];
    const char *tokens[256 + 9];
    int32_t types[256 + 9];
    for (int b = 0; b < 256; b++) {
        /* The engine's own byte mapping: the fuzz target exercises the
         * tokenizer, the unit test checks the mapping independently. */
        size_t k = joule_utf8_encode(joule_bpe_byte_to_cp((uint8_t)b), (uint8_t *)chars[b]);
        chars[b][k] = '\0';
        tokens[b] = chars[b];
        types[b] = JOULE_TOKEN_NORMAL;
    }
    for (int i = 0; i < 9; i++) {
        tokens[256 + i] = extra[i];
        types[256 + i] = JOULE_TOKEN_NORMAL;
    }
    types[256 + 7] = JOULE_TOKEN_CONTROL;
    types[256 + 8] = JOULE_TOKEN_USER_DEFINED;
    struct joule_vocab_desc d;
    joule_vocab_desc_init(&d);
    d.model = "gpt2";
    d.pre = pre;
    d.n_tokens = 256 + 9;
    d.tokens = tokens;
    d.token_types = types;
    d.n_merges = sizeof(merges) / sizeof(merges[0]);
    d.merges = merges;
    d.bos_id = 256 + 7;
    d.eos_id = 256 + 7;
    d.add_eos = 1;
    struct joule_vocab *v = NULL;
    char err[256];
    if (joule_vocab_build(&d, &v, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return v;
}

static struct joule_vocab *build_spm(void)
{
    static char bytes[256][8];
    static const char *const pieces[] = {"\xE2\x96\x81", "t", "h", "e", "th", "the",
                                         "\xE2\x96\x81the", "<|user|>"};
    const char *tokens[3 + 256 + 8];
    float scores[3 + 256 + 8];
    int32_t types[3 + 256 + 8];
    tokens[0] = "<unk>";
    tokens[1] = "<s>";
    tokens[2] = "</s>";
    types[0] = JOULE_TOKEN_UNKNOWN;
    types[1] = types[2] = JOULE_TOKEN_CONTROL;
    scores[0] = scores[1] = scores[2] = 0.0f;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
        tokens[3 + b] = bytes[b];
        types[3 + b] = JOULE_TOKEN_BYTE;
        scores[3 + b] = 0.0f;
    }
    for (int i = 0; i < 8; i++) {
        tokens[259 + i] = pieces[i];
        types[259 + i] = JOULE_TOKEN_NORMAL;
        scores[259 + i] = -(float)i;
    }
    types[259 + 7] = JOULE_TOKEN_USER_DEFINED;
    struct joule_vocab_desc d;
    joule_vocab_desc_init(&d);
    d.model = "llama";
    d.n_tokens = 3 + 256 + 8;
    d.tokens = tokens;
    d.scores = scores;
    d.token_types = types;
    struct joule_vocab *v = NULL;
    char err[256];
    if (joule_vocab_build(&d, &v, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Built once and kept for the process: the harness, not the library,
     * holds this state. */
    static struct joule_vocab *spm, *bpe[N_PRE];
    if (size == 0)
        return 0;
    unsigned sel = data[0] % (N_PRE + 1);
    unsigned flags = (data[0] / (N_PRE + 1)) & 3u;
    unsigned dflags = (data[0] / (N_PRE + 1)) & 7u; /* render, remove, clean spaces */
    struct joule_vocab *v;
    if (sel == N_PRE) {
        if (!spm)
            spm = build_spm();
        v = spm;
    } else {
        if (!bpe[sel])
            bpe[sel] = build_bpe(pres[sel]);
        v = bpe[sel];
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1, need = 0, n = 0;
    if (joule_tokenize(v, text, len, flags, NULL, 0, &need) == JOULE_ERR_NOMEM)
        return 0;
    int32_t *ids = malloc((need ? need : 1) * sizeof(int32_t));
    if (!ids)
        return 0;
    if (joule_tokenize(v, text, len, flags, ids, need, &n) != JOULE_OK || n != need)
        abort(); /* the size query and the real call must agree */
    size_t tlen = 0, tlen2 = 0;
    joule_detokenize(v, ids, n, dflags, NULL, 0, &tlen);
    char *out = malloc(tlen + 1);
    if (out && joule_detokenize(v, ids, n, dflags, out, tlen + 1, &tlen2) != JOULE_OK)
        abort();
    if (out && tlen2 != tlen)
        abort();
    free(out);
    free(ids);
    return 0;
}
