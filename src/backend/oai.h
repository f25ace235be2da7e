/*
 * oai.h - reading what an OpenAI-compatible server answers: a server-sent
 * event stream (text/event-stream) cut into events, and each event's data
 * (or a whole non-streamed body) read as a completion chunk.  Untrusted
 * input: every function bounds what it keeps and never trusts a length.
 */
#ifndef JOULE_BACKEND_OAI_H
#define JOULE_BACKEND_OAI_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* An event stream being cut into events.  Zero-initialise, feed bytes as
 * they arrive, release at the end. */
struct joule_sse {
    struct joule_buf line; /* the line being read */
    struct joule_buf data; /* the data lines of the event being read */
    int has_data;          /* a data: line was seen in this event */
    int cr;                /* the last byte fed was '\r' */
    size_t max_event;      /* bytes an event may hold (0: 1 MiB) */
};

/* Called with each complete event's data (its data: lines joined by '\n',
 * NUL-terminated); a non-zero return stops the feed with that value. */
typedef int (*joule_sse_event_fn)(void *user, const char *data, size_t len);

/* Feeds n bytes.  Returns 0, the callback's non-zero value, or -1 when a
 * line or event exceeds max_event (the stream is then unusable). */
int joule_sse_feed(struct joule_sse *s, const char *p, size_t n, joule_sse_event_fn fn, void *user);

/* 1 when bytes of an unfinished event are pending (a stream that ends here
 * was cut). */
int joule_sse_pending(const struct joule_sse *s);

void joule_sse_release(struct joule_sse *s);

/* One completion chunk (a streamed event's data or a whole body). */
struct joule_oai_chunk {
    int done;         /* the "[DONE]" sentinel */
    const char *text; /* generated text of this chunk (into `storage`), or NULL */
    size_t text_len;
    char finish[16];       /* finish_reason, or "" */
    int64_t prompt_tokens; /* usage, -1 when absent */
    int64_t completion_tokens;
    char error[160]; /* the server's error message, or "" */
    char *storage;   /* malloc'd copy behind text; joule_oai_chunk_release */
};

/* Reads data[0..len) as a completion chunk: choices[0].text (completions),
 * choices[0].delta.content (chat, streamed) or choices[0].message.content
 * (chat); usage.prompt_tokens and completion_tokens; error.message.
 * Returns 0, or -1 with why in err (not JSON, not an object, a field of
 * the wrong type). */
int joule_oai_parse(const char *data, size_t len, struct joule_oai_chunk *out, char *err,
                    size_t err_size);

void joule_oai_chunk_release(struct joule_oai_chunk *c);

#endif /* JOULE_BACKEND_OAI_H */
