/* tokenizer.c - the public tokenizer API over the engine's vocabulary. */
#include "joule.h"
#include "model.h"
#include "tokenizer.h"
#include "vocab.h"
#include "joule_int.h"

enum joule_status joule_tokenizer_open(const char *path, struct joule_tokenizer **out, char *err,
                                       size_t err_size)
{
    if (!path || !out)
        return JOULE_ERR_INVALID;
    *out = NULL;
    struct joule_gguf *g = NULL;
    enum joule_status s = joule_gguf_open_file(path, &g, err, err_size);
    if (s != JOULE_OK)
        return s;
    struct joule_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) {
        joule_gguf_close(g);
        return JOULE_ERR_NOMEM;
    }
    /* The vocabulary copies what it needs: the file can be closed now. */
    s = joule_vocab_from_gguf(g, &t->vocab, err, err_size);
    joule_gguf_close(g);
    if (s != JOULE_OK) {
        free(t);
        return s;
    }
    *out = t;
    return JOULE_OK;
}

void joule_tokenizer_close(struct joule_tokenizer *t)
{
    if (!t)
        return;
    joule_vocab_free(t->vocab);
    free(t);
}

size_t joule_tokenizer_n_vocab(const struct joule_tokenizer *t)
{
    return t ? joule_vocab_n_tokens(t->vocab) : 0;
}

enum joule_status joule_tokenizer_encode(const struct joule_tokenizer *t, const char *text,
                                         size_t len, unsigned flags, int32_t *ids, size_t cap,
                                         size_t *n)
{
    if (!t || (!text && len) || !n)
        return JOULE_ERR_INVALID;
    return joule_tokenize(t->vocab, text ? text : "", len, flags, ids, cap, n);
}

enum joule_status joule_tokenizer_decode(const struct joule_tokenizer *t, const int32_t *ids,
                                         size_t n, unsigned flags, char *out, size_t cap,
                                         size_t *len)
{
    if (!t || (!ids && n) || !len)
        return JOULE_ERR_INVALID;
    return joule_detokenize(t->vocab, ids, n, flags, out, cap, len);
}

const char *joule_tokenizer_piece(const struct joule_tokenizer *t, int32_t id, size_t *len)
{
    if (!t || id < 0 || (size_t)id >= joule_vocab_n_tokens(t->vocab))
        return NULL;
    return joule_vocab_token_text(t->vocab, id, len);
}
