/*
 * openai.c - the bodies of OpenAI's completions and chat completions API:
 * requests parsed strictly (a field of the wrong type is a 400 naming it,
 * a feature the engine lacks is a 400 saying so), answers and stream chunks
 * built in OpenAI's shape with the energy of the request in `usage`.
 */
#include "serve.h"
#include "joule_int.h"
#include "unicode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ERR(...) (joule_fmt(err, err_size, __VA_ARGS__))

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void serve_request_free(struct serve_request *r)
{
    if (!r)
        return;
    free(r->prompt);
    free(r->system);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    memset(r, 0, sizeof(*r));
}

/* A number field within [min, max] into *out; absent or null leaves *out. */
static enum joule_status get_number(json_t *o, const char *key, double min, double max, double *out,
                                    char *err, size_t err_size)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return JOULE_OK;
    if (!json_is_number(v)) {
        ERR("'%s' must be a number", key);
        return JOULE_ERR_INVALID;
    }
    const double d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        ERR("'%s' is %g, outside %g..%g", key, d, min, max);
        return JOULE_ERR_INVALID;
    }
    *out = d;
    return JOULE_OK;
}

/* An integer field within [min, max]; absent or null leaves *out. */
static enum joule_status get_int(json_t *o, const char *key, json_int_t min, json_int_t max,
                                 json_int_t *out, char *err, size_t err_size)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return JOULE_OK;
    if (!json_is_integer(v)) {
        ERR("'%s' must be an integer", key);
        return JOULE_ERR_INVALID;
    }
    const json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        ERR("'%s' is %lld, outside %lld..%lld", key, (long long)i, (long long)min, (long long)max);
        return JOULE_ERR_INVALID;
    }
    *out = i;
    return JOULE_OK;
}

static enum joule_status get_bool(json_t *o, const char *key, bool *out, char *err, size_t err_size)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return JOULE_OK;
    if (!json_is_boolean(v)) {
        ERR("'%s' must be true or false", key);
        return JOULE_ERR_INVALID;
    }
    *out = json_is_true(v);
    return JOULE_OK;
}

/* Fields the engine cannot honour: refused unless they hold their neutral
 * value, so a client never gets silently different semantics. */
static enum joule_status check_unsupported(json_t *o, enum serve_api api, char *err,
                                           size_t err_size)
{
    json_int_t n = 1;
    enum joule_status st = get_int(o, "n", 1, 1, &n, err, err_size);
    if (st != JOULE_OK) {
        ERR("'n' must be 1: one choice per request");
        return JOULE_ERR_UNSUPPORTED;
    }
    if ((st = get_int(o, "best_of", 1, 1, &n, err, err_size)) != JOULE_OK) {
        ERR("'best_of' must be 1");
        return JOULE_ERR_UNSUPPORTED;
    }
    static const char *const zero[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(zero); i++) {
        double d = 0;
        if ((st = get_number(o, zero[i], -2, 2, &d, err, err_size)) != JOULE_OK)
            return st;
        if (d != 0) {
            ERR("'%s' is not supported (use 'repeat_penalty')", zero[i]);
            return JOULE_ERR_UNSUPPORTED;
        }
    }
    json_t *v = json_object_get(o, "logprobs");
    if (v && !json_is_null(v) && !json_is_false(v) &&
        !(json_is_integer(v) && json_integer_value(v) == 0)) {
        ERR("'logprobs' is not supported");
        return JOULE_ERR_UNSUPPORTED;
    }
    v = json_object_get(o, "echo");
    if (v && json_is_true(v)) {
        ERR("'echo' is not supported");
        return JOULE_ERR_UNSUPPORTED;
    }
    v = json_object_get(o, "suffix");
    if (v && !json_is_null(v)) {
        ERR("'suffix' is not supported");
        return JOULE_ERR_UNSUPPORTED;
    }
    v = json_object_get(o, "logit_bias");
    if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0)) {
        ERR("'logit_bias' is not supported");
        return JOULE_ERR_UNSUPPORTED;
    }
    v = json_object_get(o, "tools");
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
        ERR("'tools' is not supported");
        return JOULE_ERR_UNSUPPORTED;
    }
    v = json_object_get(o, "response_format");
    if (v && !json_is_null(v)) {
        json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
        if (!t || !json_is_string(t) || strcmp(json_string_value(t), "text") != 0) {
            ERR("'response_format' other than {\"type\": \"text\"} is not supported");
            return JOULE_ERR_UNSUPPORTED;
        }
    }
    (void)api;
    return JOULE_OK;
}

static enum joule_status parse_sampling(json_t *o, struct serve_request *r, char *err,
                                        size_t err_size)
{
    struct joule_sampling *s = &r->sampling;
    joule_sampling_default(s);
    s->temperature = 1.0f; /* OpenAI's default */
    double d = s->temperature;
    enum joule_status st;
    if ((st = get_number(o, "temperature", 0, 2, &d, err, err_size)) != JOULE_OK)
        return st;
    s->temperature = (float)d;
    d = s->top_p;
    if ((st = get_number(o, "top_p", 0, 1, &d, err, err_size)) != JOULE_OK)
        return st;
    s->top_p = (float)d;
    d = s->min_p;
    if ((st = get_number(o, "min_p", 0, 1, &d, err, err_size)) != JOULE_OK)
        return st;
    s->min_p = (float)d;
    d = s->repeat_penalty;
    if ((st = get_number(o, "repeat_penalty", 0, 100, &d, err, err_size)) != JOULE_OK)
        return st;
    s->repeat_penalty = (float)d;
    json_int_t i = s->top_k;
    if ((st = get_int(o, "top_k", 0, 1 << 24, &i, err, err_size)) != JOULE_OK)
        return st;
    s->top_k = (int32_t)i;
    i = s->repeat_last_n;
    if ((st = get_int(o, "repeat_last_n", 0, 1 << 20, &i, err, err_size)) != JOULE_OK)
        return st;
    s->repeat_last_n = (int32_t)i;
    json_t *seed = json_object_get(o, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) {
            ERR("'seed' must be an integer");
            return JOULE_ERR_INVALID;
        }
        s->seed = (uint64_t)json_integer_value(seed);
    }
    return JOULE_OK;
}

static enum joule_status add_stop(struct serve_request *r, json_t *v, char *err, size_t err_size)
{
    if (!json_is_string(v) || json_string_length(v) == 0) {
        ERR("'stop' must be a non-empty string or an array of them");
        return JOULE_ERR_INVALID;
    }
    if (r->n_stop == JOULE_MAX_STOP) {
        ERR("'stop' has more than %d strings", JOULE_MAX_STOP);
        return JOULE_ERR_INVALID;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        ERR("'stop' strings must not contain NUL");
        return JOULE_ERR_INVALID;
    }
    if (!(r->stop[r->n_stop] = dup_n(json_string_value(v), json_string_length(v))))
        return JOULE_ERR_NOMEM;
    r->n_stop++;
    return JOULE_OK;
}

static enum joule_status parse_stop(json_t *o, struct serve_request *r, char *err, size_t err_size)
{
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v))
        return JOULE_OK;
    if (!json_is_array(v))
        return add_stop(r, v, err, err_size);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        enum joule_status st = add_stop(r, x, err, err_size);
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

/* The text of a message's content: a string, or an array of text parts
 * (joined).  Other part types (images, audio) are refused. */
static enum joule_status content_text(json_t *c, size_t idx, char **out, size_t *len, char *err,
                                      size_t err_size)
{
    if (json_is_string(c)) {
        *len = json_string_length(c);
        *out = dup_n(json_string_value(c), *len);
        return *out ? JOULE_OK : JOULE_ERR_NOMEM;
    }
    if (!json_is_array(c)) {
        ERR("messages[%zu].content must be a string or an array of text parts", idx);
        return JOULE_ERR_INVALID;
    }
    size_t total = 0, i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *type = json_object_get(part, "type");
        json_t *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0) {
            ERR("messages[%zu].content[%zu]: only parts of type \"text\" are supported", idx, i);
            return JOULE_ERR_UNSUPPORTED;
        }
        if (!json_is_string(text)) {
            ERR("messages[%zu].content[%zu].text must be a string", idx, i);
            return JOULE_ERR_INVALID;
        }
        total += json_string_length(text);
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return JOULE_ERR_NOMEM;
    size_t k = 0;
    json_array_foreach(c, i, part)
    {
        json_t *text = json_object_get(part, "text");
        memcpy(buf + k, json_string_value(text), json_string_length(text));
        k += json_string_length(text);
    }
    buf[k] = '\0';
    *out = buf;
    *len = k;
    return JOULE_OK;
}

/* Chat: at most one system (or developer) message, then one user message:
 * what the engine's chat request holds. */
static enum joule_status parse_messages(json_t *o, struct serve_request *r, char *err,
                                        size_t err_size)
{
    json_t *msgs = json_object_get(o, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        ERR("'messages' must be a non-empty array");
        return JOULE_ERR_INVALID;
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            ERR("messages[%zu] must be an object with a string 'role'", i);
            return JOULE_ERR_INVALID;
        }
        const char *rs = json_string_value(role);
        const bool sys = strcmp(rs, "system") == 0 || strcmp(rs, "developer") == 0;
        if (!sys && strcmp(rs, "user") != 0) {
            ERR("messages[%zu]: role '%s' is not supported: joule's engine takes one "
                "optional system message and one user message",
                i, rs);
            return JOULE_ERR_UNSUPPORTED;
        }
        if (sys ? (r->system != NULL || r->prompt != NULL) : r->prompt != NULL) {
            ERR("messages[%zu]: joule's engine takes one optional system message followed by "
                "one user message (no multi-turn conversations yet)",
                i);
            return JOULE_ERR_UNSUPPORTED;
        }
        char *text = NULL;
        size_t len = 0;
        enum joule_status st =
            content_text(json_object_get(m, "content"), i, &text, &len, err, err_size);
        if (st != JOULE_OK)
            return st;
        if (strlen(text) != len) {
            free(text);
            ERR("messages[%zu].content must not contain NUL", i);
            return JOULE_ERR_INVALID;
        }
        if (sys) {
            r->system = text;
        } else {
            r->prompt = text;
            r->prompt_len = len;
        }
    }
    if (!r->prompt) {
        ERR("'messages' has no user message");
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

static enum joule_status parse_prompt(json_t *o, struct serve_request *r, char *err,
                                      size_t err_size)
{
    json_t *p = json_object_get(o, "prompt");
    if (json_is_array(p)) {
        if (json_array_size(p) != 1 || !json_is_string(json_array_get(p, 0))) {
            ERR("'prompt' must be a string (or an array of exactly one string): one "
                "prompt per request");
            return json_array_size(p) > 1 ? JOULE_ERR_UNSUPPORTED : JOULE_ERR_INVALID;
        }
        p = json_array_get(p, 0);
    }
    if (!json_is_string(p)) {
        ERR("'prompt' must be a string");
        return JOULE_ERR_INVALID;
    }
    r->prompt_len = json_string_length(p);
    if (!(r->prompt = dup_n(json_string_value(p), r->prompt_len)))
        return JOULE_ERR_NOMEM;
    return JOULE_OK;
}

static enum joule_status parse_object(json_t *o, enum serve_api api, int32_t limit,
                                      struct serve_request *r, char *err, size_t err_size)
{
    enum joule_status st = check_unsupported(o, api, err, err_size);
    if (st == JOULE_OK)
        st = api == SERVE_API_CHAT ? parse_messages(o, r, err, err_size)
                                   : parse_prompt(o, r, err, err_size);
    if (st != JOULE_OK)
        return st;
    if (r->prompt_len == 0) {
        ERR("the prompt is empty");
        return JOULE_ERR_INVALID;
    }
    if (strlen(r->prompt) != r->prompt_len) {
        ERR("the prompt must not contain NUL");
        return JOULE_ERR_INVALID;
    }
    json_t *v = json_object_get(o, "model");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        ERR("'model' must be a string");
        return JOULE_ERR_INVALID;
    }
    /* max_completion_tokens is the chat API's newer name. */
    json_int_t mt = limit;
    const char *mt_key =
        json_object_get(o, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    v = json_object_get(o, mt_key);
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            ERR("'%s' must be a positive integer", mt_key);
            return JOULE_ERR_INVALID;
        }
        mt = json_integer_value(v);
        if (mt > limit) {
            ERR("'%s' is %lld, more than this server allows (%d; joule serve --max-tokens)", mt_key,
                (long long)mt, limit);
            return JOULE_ERR_INVALID;
        }
    }
    r->max_tokens = (int32_t)mt;
    if ((st = parse_sampling(o, r, err, err_size)) != JOULE_OK ||
        (st = parse_stop(o, r, err, err_size)) != JOULE_OK ||
        (st = get_bool(o, "stream", &r->stream, err, err_size)) != JOULE_OK ||
        (st = get_bool(o, "ignore_eos", &r->ignore_eos, err, err_size)) != JOULE_OK)
        return st;
    v = json_object_get(o, "stream_options");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            ERR("'stream_options' must be an object");
            return JOULE_ERR_INVALID;
        }
        if ((st = get_bool(v, "include_usage", &r->include_usage, err, err_size)) != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

enum joule_status serve_parse_request(enum serve_api api, const char *body, size_t len,
                                      int32_t max_tokens_limit, struct serve_request *out,
                                      char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    out->api = api;
    if (err && err_size)
        err[0] = '\0';
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        ERR("the body is not valid JSON: line %d, column %d: %s", je.line, je.column, je.text);
        return JOULE_ERR_FORMAT;
    }
    enum joule_status st;
    if (!json_is_object(o)) {
        ERR("the body must be a JSON object");
        st = JOULE_ERR_INVALID;
    } else {
        st = parse_object(o, api, max_tokens_limit, out, err, err_size);
    }
    json_decref(o);
    if (st != JOULE_OK) {
        if (st == JOULE_ERR_NOMEM)
            ERR("out of memory");
        serve_request_free(out);
    }
    return st;
}

/* --- answers --------------------------------------------------------------- */

const char *serve_finish_reason(enum joule_finish f)
{
    switch (f) {
    case JOULE_FINISH_EOS:
    case JOULE_FINISH_STOP:
        return "stop";
    case JOULE_FINISH_LENGTH:
        return "length";
    case JOULE_FINISH_CANCELLED:
        return "cancelled";
    default:
        return NULL;
    }
}

json_t *serve_json_text(const char *s, size_t n)
{
    if (joule_utf8_valid((const uint8_t *)s, n)) {
        json_t *j = json_stringn(s, n);
        return j ? j : json_null();
    }
    /* Each invalid byte becomes U+FFFD: at most 3 bytes per input byte. */
    char *buf = malloc(3 * n + 1);
    if (!buf)
        return json_null();
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = joule_utf8_decode((const uint8_t *)s, n, &i);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = JOULE_CP_REPLACEMENT;
        k += joule_utf8_encode(cp, (uint8_t *)buf + k);
    }
    json_t *j = json_stringn(buf, k);
    free(buf);
    return j ? j : json_null();
}

static json_t *num_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *serve_usage_json(const struct serve_usage *u)
{
    json_t *o = json_object();
    json_object_set_new(o, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(o, "total_tokens",
                        json_integer((json_int_t)u->prompt_tokens + u->completion_tokens));
    const bool known = u->provenance != JOULE_PROV_UNAVAILABLE;
    const double total = u->energy_prefill_j + u->energy_decode_j;
    json_object_set_new(o, "energy_joules", num_or_null(known ? total : NAN));
    json_object_set_new(o, "energy_prefill_joules", num_or_null(known ? u->energy_prefill_j : NAN));
    json_object_set_new(o, "energy_decode_joules", num_or_null(known ? u->energy_decode_j : NAN));
    json_object_set_new(o, "energy_provenance", json_string(joule_provenance_str(u->provenance)));
    return o;
}

static json_t *head(enum serve_api api, const char *id, int64_t created, const char *model,
                    bool chunk)
{
    static const char *const object[2][2] = {{"text_completion", "text_completion"},
                                             {"chat.completion", "chat.completion.chunk"}};
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "object", json_string(object[api][chunk]));
    json_object_set_new(o, "created", json_integer(created));
    json_object_set_new(o, "model", json_string(model));
    return o;
}

json_t *serve_response_json(enum serve_api api, const char *id, int64_t created, const char *model,
                            const char *text, size_t len, enum joule_finish finish,
                            const struct serve_usage *u)
{
    json_t *o = head(api, id, created, model, false);
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(0));
    if (api == SERVE_API_CHAT) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", serve_json_text(text, len));
        json_object_set_new(c, "message", msg);
    } else {
        json_object_set_new(c, "text", serve_json_text(text, len));
    }
    json_object_set_new(c, "logprobs", json_null());
    const char *fr = serve_finish_reason(finish);
    json_object_set_new(c, "finish_reason", fr ? json_string(fr) : json_null());
    json_t *choices = json_array();
    json_array_append_new(choices, c);
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", serve_usage_json(u));
    return o;
}

json_t *serve_chunk_json(enum serve_api api, const char *id, int64_t created, const char *model,
                         const char *text, size_t len, bool role, enum joule_finish finish,
                         const struct serve_usage *u, bool no_choices)
{
    json_t *o = head(api, id, created, model, true);
    json_t *choices = json_array();
    if (!no_choices) {
        json_t *c = json_object();
        json_object_set_new(c, "index", json_integer(0));
        if (api == SERVE_API_CHAT) {
            json_t *delta = json_object();
            if (role)
                json_object_set_new(delta, "role", json_string("assistant"));
            if (text)
                json_object_set_new(delta, "content", serve_json_text(text, len));
            json_object_set_new(c, "delta", delta);
        } else {
            json_object_set_new(c, "text", text ? serve_json_text(text, len) : json_string(""));
        }
        json_object_set_new(c, "logprobs", json_null());
        const char *fr = serve_finish_reason(finish);
        json_object_set_new(c, "finish_reason", fr ? json_string(fr) : json_null());
        json_array_append_new(choices, c);
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", u ? serve_usage_json(u) : json_null());
    return o;
}

json_t *serve_error_json(const char *msg, const char *type)
{
    json_t *e = json_object();
    json_object_set_new(e, "message", serve_json_text(msg, strlen(msg)));
    json_object_set_new(e, "type", json_string(type));
    json_object_set_new(e, "code", json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    return o;
}

int serve_key_equal(const char *given, size_t given_len, const char *key, size_t key_len)
{
    /* Every byte of the key is visited whatever the input: the time tells
     * nothing about where a guess goes wrong. */
    volatile unsigned char diff = given_len != key_len;
    for (size_t i = 0; i < key_len; i++) {
        const unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)key[i]);
    }
    return diff == 0;
}

void serve_attribute(double energy_j, const int32_t *tokens_of, int32_t n, double *share)
{
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += tokens_of[i] > 0 ? tokens_of[i] : 0;
    for (int32_t i = 0; i < n; i++) {
        if (total == 0)
            share[i] = 0.0;
        else
            share[i] = energy_j * (double)(tokens_of[i] > 0 ? tokens_of[i] : 0) / (double)total;
    }
}
