/*
 * oai.c - server-sent events and OpenAI completion chunks (oai.h).
 *
 * The event stream format (WHATWG HTML, "Server-sent events"): lines end
 * with "\r\n", "\n" or "\r"; an empty line ends an event; "data:" lines
 * append to its data (one leading space after the colon is dropped);
 * lines starting with ':' are comments; other fields (event, id, retry)
 * are ignored here.
 */
#include "oai.h"
#include "joule_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static size_t max_event(const struct joule_sse *s)
{
    return s->max_event ? s->max_event : (size_t)1 << 20;
}

/* One complete line (without its terminator). */
static int sse_line(struct joule_sse *s, const char *l, size_t n, joule_sse_event_fn fn, void *user)
{
    if (n == 0) {
        if (!s->has_data)
            return 0;
        int rc = fn(user, s->data.p ? s->data.p : "", s->data.n);
        s->data.n = 0;
        if (s->data.p)
            s->data.p[0] = '\0';
        s->has_data = 0;
        return rc;
    }
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    if (name_len != 4 || memcmp(l, "data", 4) != 0)
        return 0;
    const char *v = colon ? colon + 1 : l + n;
    size_t vn = (size_t)(l + n - v);
    if (vn && v[0] == ' ')
        v++, vn--;
    if (s->data.n + vn + 1 > max_event(s))
        return -1;
    if (s->has_data)
        joule_buf_put(&s->data, "\n", 1);
    joule_buf_put(&s->data, v, vn);
    if (!s->data.p)
        joule_buf_put(&s->data, "", 0);
    s->has_data = 1;
    return s->data.oom ? -1 : 0;
}

int joule_sse_feed(struct joule_sse *s, const char *p, size_t n, joule_sse_event_fn fn, void *user)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\n' && s->cr) {
            s->cr = 0; /* the "\n" of "\r\n": the line ended at '\r' */
            continue;
        }
        s->cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            int rc = sse_line(s, s->line.p ? s->line.p : "", s->line.n, fn, user);
            s->line.n = 0;
            if (rc)
                return rc;
            continue;
        }
        if (s->line.n + 1 >= max_event(s))
            return -1;
        joule_buf_put(&s->line, &ch, 1);
        if (s->line.oom)
            return -1;
    }
    return 0;
}

int joule_sse_pending(const struct joule_sse *s)
{
    return s->line.n > 0 || s->has_data;
}

void joule_sse_release(struct joule_sse *s)
{
    free(s->line.p);
    free(s->data.p);
    memset(s, 0, sizeof(*s));
}

void joule_oai_chunk_release(struct joule_oai_chunk *c)
{
    free(c->storage);
    c->storage = NULL;
    c->text = NULL;
    c->text_len = 0;
}

/* usage.<name> as a count, or -1. */
static int64_t usage_count(json_t *usage, const char *name)
{
    json_t *v = json_object_get(usage, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return -1;
    return (int64_t)json_integer_value(v);
}

int joule_oai_parse(const char *data, size_t len, struct joule_oai_chunk *out, char *err,
                    size_t err_size)
{
    memset(out, 0, sizeof(*out));
    out->prompt_tokens = out->completion_tokens = -1;
    const char *s = data;
    size_t n = len;
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) {
        out->done = 1;
        return 0;
    }
    json_error_t je;
    json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        joule_fmt(err, err_size, "not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(o)) {
        joule_fmt(err, err_size, "not a JSON object");
        goto out;
    }
    json_t *e = json_object_get(o, "error");
    if (e) {
        json_t *m = json_is_object(e) ? json_object_get(e, "message") : e;
        joule_fmt(out->error, sizeof(out->error), "%s",
                  json_is_string(m) ? json_string_value(m) : "an error without a message");
    }
    json_t *usage = json_object_get(o, "usage");
    if (json_is_object(usage)) {
        out->prompt_tokens = usage_count(usage, "prompt_tokens");
        out->completion_tokens = usage_count(usage, "completion_tokens");
    }
    json_t *choices = json_object_get(o, "choices");
    if (choices && !json_is_array(choices)) {
        joule_fmt(err, err_size, "'choices' is not an array");
        goto out;
    }
    json_t *c0 = json_array_get(choices, 0);
    if (c0) {
        if (!json_is_object(c0)) {
            joule_fmt(err, err_size, "'choices[0]' is not an object");
            goto out;
        }
        json_t *t = json_object_get(c0, "text");
        if (!t) {
            json_t *d = json_object_get(c0, "delta");
            if (!d)
                d = json_object_get(c0, "message");
            if (d && !json_is_object(d)) {
                joule_fmt(err, err_size, "'delta' or 'message' is not an object");
                goto out;
            }
            t = json_object_get(d, "content");
        }
        if (t && !json_is_string(t) && !json_is_null(t)) {
            joule_fmt(err, err_size, "the generated text is not a string");
            goto out;
        }
        if (json_is_string(t) && json_string_length(t) > 0) {
            size_t tn = json_string_length(t);
            if (!(out->storage = malloc(tn + 1))) {
                joule_fmt(err, err_size, "out of memory");
                goto out;
            }
            memcpy(out->storage, json_string_value(t), tn);
            out->storage[tn] = '\0';
            out->text = out->storage;
            out->text_len = tn;
        }
        json_t *f = json_object_get(c0, "finish_reason");
        if (json_is_string(f))
            joule_strlcpy(out->finish, json_string_value(f), sizeof(out->finish));
    } else if (!e && !json_is_object(usage)) {
        joule_fmt(err, err_size, "no 'choices', 'usage' or 'error'");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}
