/*
 * serve.h - the serve module's inner API: the OpenAI request and response
 * bodies (openai.c), energy attribution and the Prometheus text (metrics.c).
 * The server itself (server.c) is public through include/joule.h.
 */
#ifndef JOULE_SERVE_SERVE_H
#define JOULE_SERVE_SERVE_H

#include "joule.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum serve_api {
    SERVE_API_COMPLETIONS = 0, /* POST /v1/completions */
    SERVE_API_CHAT = 1,        /* POST /v1/chat/completions */
};

/* A parsed request body.  Strings are malloc'd (serve_request_free). */
struct serve_request {
    enum serve_api api;
    char *prompt; /* the prompt, or the user message (chat) */
    size_t prompt_len;
    char *system;               /* chat: the system message, or NULL */
    char *stop[JOULE_MAX_STOP]; /* NULL-terminated */
    size_t n_stop;
    int32_t max_tokens; /* resolved: the default applied */
    struct joule_sampling sampling;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    bool ignore_eos;    /* extension */
};

/* Parses body[0 .. len) for api.  max_tokens_limit is the most a request
 * may ask for, and the default.  JOULE_ERR_FORMAT (not JSON, with line and
 * column), JOULE_ERR_INVALID (a bad field), JOULE_ERR_UNSUPPORTED (a feature
 * the engine lacks: several messages, n > 1, logprobs ...); each is a 400
 * with the message in err.  On error *out holds nothing to free. */
enum joule_status serve_parse_request(enum serve_api api, const char *body, size_t len,
                                      int32_t max_tokens_limit, struct serve_request *out,
                                      char *err, size_t err_size);
void serve_request_free(struct serve_request *r);

/* What a finished request used: tokens, and its share of the energy. */
struct serve_usage {
    int32_t prompt_tokens;
    int32_t completion_tokens;
    double energy_prefill_j; /* NAN when no step had a reading */
    double energy_decode_j;
    enum joule_provenance provenance; /* the weakest over its steps */
};

/* "stop", "length" (OpenAI's finish_reason) for an engine finish. */
const char *serve_finish_reason(enum joule_finish f);

/* A JSON string of s[0 .. n): invalid UTF-8 becomes U+FFFD. */
json_t *serve_json_text(const char *s, size_t n);

/* The usage object: OpenAI's three counts plus energy_joules,
 * energy_prefill_joules, energy_decode_joules and energy_provenance. */
json_t *serve_usage_json(const struct serve_usage *u);

/* The whole answer of a non-streamed request. */
json_t *serve_response_json(enum serve_api api, const char *id, int64_t created, const char *model,
                            const char *text, size_t len, enum joule_finish finish,
                            const struct serve_usage *u);

/* One event of a stream: text (may be NULL), the role (chat's first chunk),
 * a finish reason when finish is not JOULE_FINISH_NONE, usage when u is not
 * NULL.  no_choices: the usage-only chunk of stream_options.include_usage. */
json_t *serve_chunk_json(enum serve_api api, const char *id, int64_t created, const char *model,
                         const char *text, size_t len, bool role, enum joule_finish finish,
                         const struct serve_usage *u, bool no_choices);

/* {"error": {"message": msg, "type": type, "code": null}}. */
json_t *serve_error_json(const char *msg, const char *type);

/* 1 when the bytes given[0 .. given_len) equal key[0 .. key_len), in a time
 * that depends on key_len only (not on where they differ). */
int serve_key_equal(const char *given, size_t given_len, const char *key, size_t key_len);

/* Shares a step's energy among its requests by the tokens each put in it:
 * share[i] = energy_j * tokens_of[i] / sum(tokens_of).  A NAN energy gives
 * NAN shares; no tokens gives zeros. */
void serve_attribute(double energy_j, const int32_t *tokens_of, int32_t n, double *share);

/* --- metrics (metrics.c) -------------------------------------------------- */

#define SERVE_HIST_MAX 24

struct serve_hist {
    const double *bounds;                /* upper bounds, increasing; +Inf implied */
    size_t n_bounds;                     /* <= SERVE_HIST_MAX */
    uint64_t counts[SERVE_HIST_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
    uint64_t count;
    double sum;
};

void serve_hist_init(struct serve_hist *h, const double *bounds, size_t n_bounds);
void serve_hist_add(struct serve_hist *h, double v);

/* Writes the HELP and TYPE lines and the samples of histogram name. */
void serve_hist_write(FILE *f, const char *name, const char *help, const struct serve_hist *h);

/* Writes "# HELP name help" and "# TYPE name type". */
void serve_metric_head(FILE *f, const char *name, const char *type, const char *help);

/* Writes a label value with Prometheus' escapes (backslash, quote, newline). */
void serve_label_value(FILE *f, const char *v);

#endif /* JOULE_SERVE_SERVE_H */
