/*
 * server.c - joule serve: an OpenAI-compatible HTTP server on the built-in
 * engine, with the energy of each request.
 *
 * Threads.  libmicrohttpd runs in MHD_USE_INTERNAL_POLLING_THREAD |
 * MHD_USE_THREAD_PER_CONNECTION mode: one thread accepts, and each
 * connection gets its own thread.  That thread may block: a non-streamed
 * request waits on its condition variable inside the access handler, and a
 * streamed one waits inside the content reader of its response, so neither
 * suspend/resume nor busy polling is needed, and a connection's thread can
 * look at its own socket while it waits (a client that went away cancels
 * its request).  The cost, a thread per open connection, is bounded by the
 * connection limit; the engine, not the HTTP side, is what limits a server
 * on one machine.
 *
 * The engine belongs to the thread in joule_server_run (the caller's).
 * Handler threads put parsed requests on a queue under the server mutex;
 * the engine thread submits them between steps, so they join the running
 * batch at the next step boundary (continuous batching).  The engine's
 * callbacks (on the engine thread) append text and results to each
 * request's shared state under the same mutex and signal its condition
 * variable.  A request is freed when both sides have let go of it
 * (reference count).
 *
 * Energy.  A meter window wraps each engine step (on_phase); the step's
 * energy is shared among the requests in it by the tokens each put in it
 * (docs/methodology.md, "Serving: energy per request").
 */
#define _POSIX_C_SOURCE 200809L
#include "serve.h"
#include "alloc.h"
#include "chat.h"
#include "clock.h"
#include "joule_int.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define STEP_WINDOW "serve-step"
#define WAIT_MS 100 /* how often a waiting thread looks at its socket or the stop flag */

/* One request, shared by its HTTP thread and the engine thread. */
struct sreq {
    struct sreq *next; /* incoming queue, or the live list */
    int refs;          /* HTTP side + engine side */
    pthread_cond_t cv; /* signalled on text, done, submitted */
    struct serve_request q;
    char id[48];
    int64_t created;
    double deadline; /* clock seconds */
    uint64_t eid;    /* engine id once submitted */
    bool submitted, done;
    bool cancel; /* the HTTP side asks to cancel (client gone) */
    bool cancel_sent;
    bool timed_out, shut_down, in_batch;
    int status; /* HTTP status when done: 200, or the error's */
    char err[256];
    char *text; /* generated text so far */
    size_t len, cap;
    enum joule_finish finish;
    struct serve_usage usage;
    bool energy_seen;    /* some step gave it energy */
    bool energy_missing; /* some step had no reading */
};

struct serve_metrics {
    int64_t http[600]; /* answers by status code */
    int64_t finish[5]; /* completions by enum joule_finish */
    int64_t timeouts;
    int64_t prompt_tokens, completion_tokens;
    int64_t steps[3]; /* by enum joule_phase */
    double busy_s[3];
    double phase_j[3]; /* energy of the steps by phase (total of domains) */
    bool phase_j_known[3];
    int prov_worst; /* -1: no reading yet */
    uint32_t n_dom;
    struct {
        char name[JOULE_NAME_MAX];
        char source[16];
        enum joule_provenance prov;
        int in_total;
        double j;
    } dom[JOULE_MAX_DOMAINS];
    int32_t max_batch;
    struct serve_hist batch, latency, ttft, energy;
};

struct joule_server {
    struct joule_server_params p;
    char *host, *api_key, *model, *chat_template;
    struct joule_engine *e;
    struct joule_meter *m;
    struct MHD_Daemon *d;
    MHD_socket quiesced; /* the listening socket once quiesced, or -1 */
    uint16_t port;
    int32_t n_seq;
    bool sync; /* mu and wake are initialised */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the engine thread: new work or a cancel */
    struct sreq *in_head, *in_tail;
    int32_t n_incoming;
    struct sreq *live; /* submitted, not finished */
    int32_t n_live, n_running;
    bool accepting;
    uint64_t next_id;
    struct serve_metrics met;
    double *shares; /* [n_seq] scratch of the step attribution */
};

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    30,   60,  120,  300};
static const double energy_bounds[] = {0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000};

static double now_s(void)
{
    return (double)joule_clock_ns() * 1e-9;
}

/* Waits on cv for at most ms milliseconds (monotonic clock). */
static void wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

static bool init_cond(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return false;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    const bool ok = pthread_cond_init(cv, &a) == 0;
    pthread_condattr_destroy(&a);
    return ok;
}

void joule_server_default_params(struct joule_server_params *p)
{
    memset(p, 0, sizeof(*p));
    p->host = "127.0.0.1";
    p->port = 8080;
    p->max_body_bytes = (size_t)1 << 20;
    p->max_tokens = 512;
    p->timeout_s = 600;
    p->max_queue = 64;
    p->grace_s = 10;
}

/* --- requests ------------------------------------------------------------- */

static struct sreq *sreq_new(struct joule_server *s, struct serve_request *q)
{
    struct sreq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!init_cond(&r->cv)) {
        free(r);
        return NULL;
    }
    r->q = *q;
    memset(q, 0, sizeof(*q));
    r->created = (int64_t)joule_wall_s();
    r->deadline = now_s() + s->p.timeout_s;
    r->status = 200;
    r->usage.provenance = JOULE_PROV_MEASURED;
    r->usage.energy_prefill_j = 0;
    r->usage.energy_decode_j = 0;
    return r;
}

static void sreq_free(struct sreq *r)
{
    serve_request_free(&r->q);
    pthread_cond_destroy(&r->cv);
    free(r->text);
    free(r);
}

/* Lets go of one reference (mutex held).  The HTTP side letting go of an
 * unfinished request cancels it. */
static void sreq_release(struct joule_server *s, struct sreq *r, bool http_side)
{
    if (http_side && !r->done) {
        r->cancel = true;
        pthread_cond_signal(&s->wake);
    }
    if (--r->refs == 0)
        sreq_free(r);
}

/* Marks r finished without the engine (mutex held); the engine side's
 * reference goes. */
static void sreq_fail(struct joule_server *s, struct sreq *r, int status, const char *msg)
{
    r->done = true;
    r->status = status;
    joule_strlcpy(r->err, msg, sizeof(r->err));
    pthread_cond_broadcast(&r->cv);
    sreq_release(s, r, false);
}

static struct sreq *find_live(struct joule_server *s, uint64_t eid)
{
    for (struct sreq *r = s->live; r; r = r->next)
        if (r->eid == eid)
            return r;
    return NULL;
}

static void unlink_live(struct joule_server *s, struct sreq *r)
{
    for (struct sreq **pp = &s->live; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            s->n_live--;
            return;
        }
}

/* --- engine callbacks (engine thread) ------------------------------------- */

static void on_phase(void *user, int begin, const struct joule_step_info *si)
{
    struct joule_server *s = user;
    if (begin) {
        if (s->m)
            joule_meter_begin(s->m, STEP_WINDOW);
        return;
    }
    struct joule_reading rd;
    bool have = s->m && joule_meter_end(s->m, STEP_WINDOW, &rd) == JOULE_OK;
    const double ej = have ? rd.total_energy_j : NAN;
    const enum joule_provenance prov =
        have && isfinite(ej) ? rd.total_provenance : JOULE_PROV_UNAVAILABLE;
    serve_attribute(ej, si->tokens_of, si->n_requests, s->shares);
    pthread_mutex_lock(&s->mu);
    struct serve_metrics *mt = &s->met;
    const int ph = si->phase == JOULE_PHASE_PREFILL ? JOULE_PHASE_PREFILL : JOULE_PHASE_DECODE;
    mt->steps[ph]++;
    mt->busy_s[ph] += si->t_end - si->t_begin;
    if (isfinite(ej)) {
        mt->phase_j[ph] += ej;
        mt->phase_j_known[ph] = true;
    }
    if ((int)prov > mt->prov_worst)
        mt->prov_worst = (int)prov;
    if (have) {
        for (uint32_t i = 0; i < rd.n_domains && i < JOULE_MAX_DOMAINS; i++) {
            const struct joule_domain_reading *d = &rd.domains[i];
            if (i >= mt->n_dom) {
                joule_strlcpy(mt->dom[i].name, d->name, sizeof(mt->dom[i].name));
                joule_strlcpy(mt->dom[i].source, d->source, sizeof(mt->dom[i].source));
                mt->dom[i].prov = d->provenance;
                mt->dom[i].in_total = d->in_total;
                mt->n_dom = i + 1;
            }
            if (isfinite(d->energy_j))
                mt->dom[i].j += d->energy_j;
        }
    }
    if (ph == JOULE_PHASE_DECODE) {
        serve_hist_add(&mt->batch, si->n_requests);
        if (si->n_requests > mt->max_batch)
            mt->max_batch = si->n_requests;
    }
    for (int32_t k = 0; k < si->n_requests; k++) {
        struct sreq *r = find_live(s, si->ids[k]);
        if (!r)
            continue;
        if (!r->in_batch) {
            r->in_batch = true;
            s->n_running++;
        }
        if (!isfinite(s->shares[k])) {
            r->energy_missing = true;
            continue;
        }
        if (ph == JOULE_PHASE_PREFILL)
            r->usage.energy_prefill_j += s->shares[k];
        else
            r->usage.energy_decode_j += s->shares[k];
        if (!r->energy_seen || prov > r->usage.provenance)
            r->usage.provenance = prov;
        r->energy_seen = true;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Appends src[0 .. n) to the growing buffer *buf (*len used, *cap held),
 * keeping it NUL-terminated.  false when out of memory or on overflow. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    size_t need, ncap;
    if (!joule_add_size(*len, n + 1, &need) || !joule_grow_cap(*cap, need, 256, &ncap))
        return false;
    if (ncap != *cap) {
        char *p = realloc(*buf, ncap);
        if (!p)
            return false;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

static void on_text(void *user, uint64_t id, void *req_user, const char *text, size_t len)
{
    struct joule_server *s = user;
    struct sreq *r = req_user;
    (void)id;
    pthread_mutex_lock(&s->mu);
    if (!buf_append(&r->text, &r->len, &r->cap, text, len) && !r->cancel) {
        r->cancel = true; /* out of memory for its text: stop it */
        joule_strlcpy(r->err, "out of memory for the generated text", sizeof(r->err));
        r->status = 500;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_done(void *user, const struct joule_request_result *res)
{
    struct joule_server *s = user;
    struct sreq *r = res->user;
    pthread_mutex_lock(&s->mu);
    struct serve_metrics *mt = &s->met;
    r->finish = res->finish;
    r->usage.prompt_tokens = res->n_input;
    r->usage.completion_tokens = res->n_output;
    if (!r->energy_seen || r->energy_missing)
        r->usage.provenance = JOULE_PROV_UNAVAILABLE;
    if (r->timed_out) {
        r->status = 504;
        joule_fmt(r->err, sizeof(r->err),
                  "the request took longer than this server's limit of %g s "
                  "(joule serve --timeout)",
                  s->p.timeout_s);
        mt->timeouts++;
    } else if (r->shut_down) {
        r->status = 503;
        joule_strlcpy(r->err, "the server is shutting down", sizeof(r->err));
    }
    if ((unsigned)res->finish < JOULE_ARRAY_LEN(mt->finish))
        mt->finish[res->finish]++;
    mt->prompt_tokens += res->n_input;
    mt->completion_tokens += res->n_output;
    serve_hist_add(&mt->latency, res->total_s);
    if (res->n_output > 0)
        serve_hist_add(&mt->ttft, res->ttft_s);
    if (r->usage.provenance != JOULE_PROV_UNAVAILABLE)
        serve_hist_add(&mt->energy, r->usage.energy_prefill_j + r->usage.energy_decode_j);
    if (r->in_batch)
        s->n_running--;
    unlink_live(s, r);
    r->done = true;
    pthread_cond_broadcast(&r->cv);
    sreq_release(s, r, false);
    pthread_mutex_unlock(&s->mu);
}

/* --- the engine loop ------------------------------------------------------ */

/* Submits the queued requests (mutex held; released around each submit). */
static void submit_incoming(struct joule_server *s)
{
    while (s->in_head) {
        struct sreq *r = s->in_head;
        s->in_head = r->next;
        if (!s->in_head)
            s->in_tail = NULL;
        r->next = NULL;
        s->n_incoming--;
        if (r->cancel) {
            sreq_fail(s, r, 499, "cancelled before it started");
            continue;
        }
        struct joule_request jr;
        joule_request_default(&jr);
        jr.prompt = r->q.prompt;
        jr.prompt_len = r->q.prompt_len;
        jr.chat = r->q.api == SERVE_API_CHAT;
        jr.system = r->q.system;
        jr.chat_template = s->chat_template;
        jr.max_tokens = r->q.max_tokens;
        jr.ignore_eos = r->q.ignore_eos;
        jr.sampling = r->q.sampling;
        for (size_t i = 0; i < r->q.n_stop; i++)
            jr.stop[i] = r->q.stop[i];
        jr.user = r;
        char err[256];
        uint64_t eid = 0;
        /* Only this thread touches the engine and the live list is changed
         * only here and in on_done (this thread too), so the mutex can be
         * released while the prompt is tokenized. */
        pthread_mutex_unlock(&s->mu);
        enum joule_status st = joule_engine_submit(s->e, &jr, &eid, err, sizeof(err));
        pthread_mutex_lock(&s->mu);
        if (st != JOULE_OK) {
            sreq_fail(s, r, st == JOULE_ERR_NOMEM ? 500 : 400, err);
            continue;
        }
        r->eid = eid;
        r->submitted = true;
        r->next = s->live;
        s->live = r;
        s->n_live++;
        pthread_cond_broadcast(&r->cv);
    }
}

/* Cancels what the HTTP side gave up, what ran out of time and, after the
 * grace period of a stop, everything (mutex held). */
static void cancel_due(struct joule_server *s, bool all)
{
    const double t = now_s();
    for (struct sreq *r = s->live; r; r = r->next) {
        if (r->cancel_sent)
            continue;
        if (!r->cancel && t > r->deadline)
            r->timed_out = true;
        if (all && !r->cancel && !r->timed_out)
            r->shut_down = true;
        if (r->cancel || r->timed_out || r->shut_down) {
            joule_engine_cancel(s->e, r->eid);
            r->cancel_sent = true;
        }
    }
}

enum joule_status joule_server_run(struct joule_server *s, volatile int *stop, char *err,
                                   size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    bool stopping = false;
    double t_stop = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!stopping && stop && *stop) {
            stopping = true;
            t_stop = now_s();
            s->accepting = false; /* new requests get 503 */
            s->quiesced = MHD_quiesce_daemon(s->d);
        }
        const bool grace_over = stopping && now_s() - t_stop > s->p.grace_s;
        submit_incoming(s);
        cancel_due(s, grace_over);
        if (joule_engine_pending(s->e) == 0) {
            if (stopping && !s->in_head)
                break;
            wait_ms(&s->wake, &s->mu, WAIT_MS);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        int ran = 0;
        char serr[256];
        enum joule_status st = joule_engine_step(s->e, &ran, serr, sizeof(serr));
        pthread_mutex_lock(&s->mu);
        if (st != JOULE_OK) {
            /* The engine stays usable: fail the requests it was running. */
            for (struct sreq *r = s->live; r; r = r->next) {
                if (r->status == 200) {
                    r->status = 500;
                    joule_fmt(r->err, sizeof(r->err), "engine error: %s", serr);
                }
                r->cancel = true;
            }
            if (err && err_size)
                joule_fmt(err, err_size, "%s", serr);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return JOULE_OK;
}

/* --- HTTP answers --------------------------------------------------------- */

static void count_status(struct joule_server *s, unsigned status)
{
    pthread_mutex_lock(&s->mu);
    s->met.http[status < JOULE_ARRAY_LEN(s->met.http) ? status : 0]++;
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result reply(struct joule_server *s, struct MHD_Connection *c, unsigned status,
                             const char *type, char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    count_status(s, status);
    return ret;
}

/* Dumps j (freed) as the body. */
static enum MHD_Result reply_json(struct joule_server *s, struct MHD_Connection *c, unsigned status,
                                  json_t *j)
{
    char *body = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!body)
        return MHD_NO;
    return reply(s, c, status, "application/json", body, strlen(body));
}

static const char *error_type(unsigned status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    case 500:
        return "server_error";
    case 503:
        return "service_unavailable";
    case 504:
        return "timeout_error";
    default:
        return "invalid_request_error";
    }
}

static enum MHD_Result reply_error(struct joule_server *s, struct MHD_Connection *c,
                                   unsigned status, const char *msg)
{
    return reply_json(s, c, status, serve_error_json(msg, error_type(status)));
}

/* 1 when the client closed its end (EOF on a peek) or the socket failed. */
static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    char b;
    const ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* --- streams -------------------------------------------------------------- */

struct stream {
    struct joule_server *s;
    struct sreq *r;
    int fd;
    size_t sent; /* bytes of r->text sent */
    char *out;   /* events formatted, not yet handed to MHD */
    size_t out_len, out_off;
    bool started, finished;
};

static void add_event(FILE *f, json_t *j)
{
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (t) {
        fprintf(f, "data: %s\n\n", t);
        free(t);
    }
}

/* Formats the next events of st into st->out (mutex held): the role first,
 * then new text, and at the end the finish reason with the usage, the
 * usage-only chunk when asked for, and [DONE].  An error after the headers
 * went out is an error event.  false: out of memory. */
static bool next_events(struct stream *st)
{
    struct sreq *r = st->r;
    const enum serve_api api = r->q.api;
    const char *model = st->s->model;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return false;
    if (!st->started) {
        st->started = true;
        if (api == SERVE_API_CHAT)
            add_event(f, serve_chunk_json(api, r->id, r->created, model, NULL, 0, true,
                                          JOULE_FINISH_NONE, NULL, false));
    }
    if (r->len > st->sent) {
        add_event(f, serve_chunk_json(api, r->id, r->created, model, r->text + st->sent,
                                      r->len - st->sent, false, JOULE_FINISH_NONE, NULL, false));
        st->sent = r->len;
    } else if (r->done) {
        if (r->status != 200)
            add_event(f, serve_error_json(r->err, error_type((unsigned)r->status)));
        else
            add_event(f, serve_chunk_json(api, r->id, r->created, model, NULL, 0, false, r->finish,
                                          &r->usage, false));
        if (r->q.include_usage)
            add_event(f, serve_chunk_json(api, r->id, r->created, model, NULL, 0, false,
                                          JOULE_FINISH_NONE, &r->usage, true));
        fputs("data: [DONE]\n\n", f);
        st->finished = true;
    }
    if (fclose(f) != 0) {
        free(buf);
        return false;
    }
    free(st->out);
    st->out = buf;
    st->out_len = len;
    st->out_off = 0;
    return true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    struct joule_server *s = st->s;
    (void)pos;
    pthread_mutex_lock(&s->mu);
    while (st->out_off == st->out_len) {
        if (st->finished) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct sreq *r = st->r;
        if (!st->started || r->done || r->len > st->sent) {
            if (!next_events(st)) {
                pthread_mutex_unlock(&s->mu); /* out of memory: give up the stream */
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            continue;
        }
        wait_ms(&r->cv, &s->mu, WAIT_MS);
        if (client_gone(st->fd)) {
            r->cancel = true;
            pthread_cond_signal(&s->wake);
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->out_len - st->out_off;
    n = n < max ? n : max;
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    pthread_mutex_lock(&st->s->mu);
    sreq_release(st->s, st->r, true);
    pthread_mutex_unlock(&st->s->mu);
    free(st->out);
    free(st);
}

/* --- routes --------------------------------------------------------------- */

/* Per connection: the body as it arrives. */
struct conn {
    char *body;
    size_t len, cap;
    bool too_big;
};

static enum MHD_Result reply_done(struct joule_server *s, struct MHD_Connection *c, struct sreq *r)
{
    if (r->status != 200)
        return reply_error(s, c, (unsigned)r->status, r->err);
    return reply_json(s, c, 200,
                      serve_response_json(r->q.api, r->id, r->created, s->model, r->text, r->len,
                                          r->finish, &r->usage));
}

static enum MHD_Result completion(struct joule_server *s, struct MHD_Connection *c,
                                  enum serve_api api, struct conn *cn)
{
    struct serve_request q;
    char err[512];
    enum joule_status st = serve_parse_request(api, cn->body ? cn->body : "", cn->len,
                                               s->p.max_tokens, &q, err, sizeof(err));
    if (st == JOULE_ERR_NOMEM)
        return reply_error(s, c, 500, "out of memory");
    if (st != JOULE_OK)
        return reply_error(s, c, 400, err);
    struct sreq *r = sreq_new(s, &q);
    if (!r) {
        serve_request_free(&q);
        return reply_error(s, c, 500, "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    const int32_t limit = s->n_seq + s->p.max_queue;
    if (!s->accepting || s->n_incoming + s->n_live >= limit) {
        const bool closing = !s->accepting;
        pthread_mutex_unlock(&s->mu);
        sreq_free(r);
        if (closing)
            return reply_error(s, c, 503, "the server is shutting down");
        joule_fmt(err, sizeof(err),
                  "the server is busy: %d requests running or queued (joule serve --parallel "
                  "and --queue); retry later",
                  limit);
        return reply_error(s, c, 429, err);
    }
    joule_fmt(r->id, sizeof(r->id), "%s-%llu", api == SERVE_API_CHAT ? "chatcmpl" : "cmpl",
              (unsigned long long)++s->next_id);
    r->refs = 2;
    if (s->in_tail)
        s->in_tail->next = r;
    else
        s->in_head = r;
    s->in_tail = r;
    s->n_incoming++;
    pthread_cond_signal(&s->wake);
    /* Wait until it is finished (or, for a stream, admitted: an error such
     * as a prompt longer than the context is still a plain 4xx then). */
    const int fd = conn_fd(c);
    while (!r->done && !(r->q.stream && r->submitted)) {
        wait_ms(&r->cv, &s->mu, WAIT_MS);
        if (!r->done && client_gone(fd)) {
            sreq_release(s, r, true);
            pthread_mutex_unlock(&s->mu);
            return MHD_NO;
        }
    }
    if (!r->q.stream || (r->done && r->status != 200)) {
        pthread_mutex_unlock(&s->mu);
        /* Once done, only this thread reads r: no lock needed to answer. */
        enum MHD_Result ret = reply_done(s, c, r);
        pthread_mutex_lock(&s->mu);
        sreq_release(s, r, true);
        pthread_mutex_unlock(&s->mu);
        return ret;
    }
    pthread_mutex_unlock(&s->mu);
    struct stream *sm = calloc(1, sizeof(*sm));
    struct MHD_Response *resp =
        sm ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, sm, stream_free)
           : NULL;
    if (!resp) {
        free(sm);
        pthread_mutex_lock(&s->mu);
        sreq_release(s, r, true);
        pthread_mutex_unlock(&s->mu);
        return MHD_NO;
    }
    sm->s = s;
    sm->r = r;
    sm->fd = fd;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp); /* stream_free runs when MHD lets go of it */
    count_status(s, 200);
    return ret;
}

static enum MHD_Result models(struct joule_server *s, struct MHD_Connection *c)
{
    struct joule_engine_info in;
    joule_engine_get_info(s->e, &in);
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(s->model));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(0));
    json_object_set_new(m, "owned_by", json_string("joule"));
    json_object_set_new(m, "arch", json_string(in.arch));
    json_object_set_new(m, "weight_type", json_string(in.weight_type));
    json_object_set_new(m, "n_ctx", json_integer(in.n_ctx));
    json_object_set_new(m, "parallel", json_integer(in.n_seq));
    json_t *data = json_array();
    json_array_append_new(data, m);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    return reply_json(s, c, 200, o);
}

static void write_metrics(struct joule_server *s, FILE *f)
{
    /* Power now, read outside the lock (the meter is thread-safe). */
    double power[JOULE_MAX_DOMAINS];
    const uint32_t n_dom = s->m ? joule_meter_domain_count(s->m) : 0;
    for (uint32_t i = 0; i < n_dom && i < JOULE_MAX_DOMAINS; i++) {
        struct joule_domain_info di;
        power[i] = s->m && joule_meter_domain_info(s->m, i, &di) == JOULE_OK ? di.power_w : NAN;
    }
    pthread_mutex_lock(&s->mu);
    const struct serve_metrics *mt = &s->met;
    serve_metric_head(f, "joule_http_requests_total", "counter",
                      "HTTP requests answered, by status code.");
    for (size_t code = 0; code < JOULE_ARRAY_LEN(mt->http); code++)
        if (mt->http[code])
            fprintf(f, "joule_http_requests_total{code=\"%zu\"} %lld\n", code,
                    (long long)mt->http[code]);
    serve_metric_head(f, "joule_completions_total", "counter",
                      "Completion requests the engine finished, by finish reason.");
    for (int k = JOULE_FINISH_EOS; k <= JOULE_FINISH_CANCELLED; k++)
        fprintf(f, "joule_completions_total{finish=\"%s\"} %lld\n",
                joule_finish_str((enum joule_finish)k), (long long)mt->finish[k]);
    serve_metric_head(f, "joule_request_timeouts_total", "counter",
                      "Requests cancelled at their time limit.");
    fprintf(f, "joule_request_timeouts_total %lld\n", (long long)mt->timeouts);
    serve_metric_head(f, "joule_prompt_tokens_total", "counter", "Prompt tokens processed.");
    fprintf(f, "joule_prompt_tokens_total %lld\n", (long long)mt->prompt_tokens);
    serve_metric_head(f, "joule_completion_tokens_total", "counter", "Tokens generated.");
    fprintf(f, "joule_completion_tokens_total %lld\n", (long long)mt->completion_tokens);
    serve_metric_head(f, "joule_requests_running", "gauge", "Requests in the engine's batch.");
    fprintf(f, "joule_requests_running %d\n", s->n_running);
    serve_metric_head(f, "joule_requests_queued", "gauge",
                      "Requests waiting for a place in the batch.");
    fprintf(f, "joule_requests_queued %d\n", s->n_incoming + s->n_live - s->n_running);
    static const char *const phase[3] = {"", "prefill", "decode"};
    serve_metric_head(f, "joule_engine_steps_total", "counter", "Engine steps, by phase.");
    for (int p = 1; p <= 2; p++)
        fprintf(f, "joule_engine_steps_total{phase=\"%s\"} %lld\n", phase[p],
                (long long)mt->steps[p]);
    serve_metric_head(f, "joule_engine_busy_seconds_total", "counter",
                      "Time inside engine steps, by phase.");
    for (int p = 1; p <= 2; p++)
        fprintf(f, "joule_engine_busy_seconds_total{phase=\"%s\"} %.9g\n", phase[p], mt->busy_s[p]);
    serve_metric_head(f, "joule_step_energy_joules_total", "counter",
                      "Energy of the engine steps (total of the domains), by phase.");
    for (int p = 1; p <= 2; p++)
        if (mt->phase_j_known[p])
            fprintf(f, "joule_step_energy_joules_total{phase=\"%s\"} %.9g\n", phase[p],
                    mt->phase_j[p]);
    serve_metric_head(f, "joule_energy_joules_total", "counter",
                      "Energy of the engine steps, by energy domain (gross); in_total=0 "
                      "marks a domain inside another.");
    for (uint32_t i = 0; i < mt->n_dom; i++) {
        if (mt->dom[i].prov == JOULE_PROV_UNAVAILABLE)
            continue;
        fputs("joule_energy_joules_total{domain=", f);
        serve_label_value(f, mt->dom[i].name);
        fputs(",source=", f);
        serve_label_value(f, mt->dom[i].source);
        fprintf(f, ",provenance=\"%s\",in_total=\"%d\"} %.9g\n",
                joule_provenance_str(mt->dom[i].prov), mt->dom[i].in_total, mt->dom[i].j);
    }
    serve_metric_head(f, "joule_power_watts", "gauge", "Power now, by energy domain.");
    for (uint32_t i = 0; i < mt->n_dom && i < n_dom; i++) {
        if (!isfinite(power[i]))
            continue;
        fputs("joule_power_watts{domain=", f);
        serve_label_value(f, mt->dom[i].name);
        fprintf(f, "} %.9g\n", power[i]);
    }
    serve_metric_head(f, "joule_batch_max", "gauge", "Most requests seen in one decode step.");
    fprintf(f, "joule_batch_max %d\n", mt->max_batch);
    serve_hist_write(f, "joule_batch_requests", "Requests in each decode step.", &mt->batch);
    serve_hist_write(f, "joule_request_duration_seconds",
                     "Time from submission to the last token, per request.", &mt->latency);
    serve_hist_write(f, "joule_time_to_first_token_seconds",
                     "Time from submission to the first token, per request.", &mt->ttft);
    serve_hist_write(f, "joule_request_energy_joules", "Energy attributed to each request.",
                     &mt->energy);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result metrics(struct joule_server *s, struct MHD_Connection *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return MHD_NO;
    write_metrics(s, f);
    if (fclose(f) != 0) {
        free(buf);
        return MHD_NO;
    }
    return reply(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
}

static bool authorized(const struct joule_server *s, struct MHD_Connection *c)
{
    if (!s->api_key)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return serve_key_equal(h, strlen(h), s->api_key, strlen(s->api_key)) != 0;
}

static enum MHD_Result route(struct joule_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, struct conn *cn)
{
    const bool get = strcmp(method, "GET") == 0;
    const bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/health") == 0) {
        if (!get)
            return reply_error(s, c, 405, "use GET");
        pthread_mutex_lock(&s->mu);
        const bool up = s->accepting;
        pthread_mutex_unlock(&s->mu);
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(up ? "ok" : "stopping"));
        return reply_json(s, c, up ? 200 : 503, o);
    }
    if (!authorized(s, c))
        return reply_error(s, c, 401,
                           "a valid API key is needed: send 'Authorization: Bearer KEY'");
    if (strcmp(url, "/v1/models") == 0)
        return get ? models(s, c) : reply_error(s, c, 405, "use GET");
    if (strcmp(url, "/metrics") == 0)
        return get ? metrics(s, c) : reply_error(s, c, 405, "use GET");
    const bool chat = strcmp(url, "/v1/chat/completions") == 0;
    if (chat || strcmp(url, "/v1/completions") == 0) {
        if (!post)
            return reply_error(s, c, 405, "use POST");
        return completion(s, c, chat ? SERVE_API_CHAT : SERVE_API_COMPLETIONS, cn);
    }
    char msg[256];
    joule_fmt(msg, sizeof(msg),
              "no such endpoint: %.64s (there are /v1/completions, /v1/chat/completions, "
              "/v1/models, /health, /metrics)",
              url);
    return reply_error(s, c, 404, msg);
}

static enum MHD_Result reply_too_big(struct joule_server *s, struct MHD_Connection *c)
{
    char msg[128];
    joule_fmt(msg, sizeof(msg),
              "the body is larger than this server's limit of %zu bytes (joule serve --max-body)",
              s->p.max_body_bytes);
    return reply_error(s, c, 413, msg);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct joule_server *s = cls;
    struct conn *cn = *con_cls;
    (void)version;
    if (!cn) {
        if (!(cn = calloc(1, sizeof(*cn))))
            return MHD_NO;
        *con_cls = cn;
        /* A declared length over the limit is refused before the body is read. */
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            const unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > s->p.max_body_bytes) {
                cn->too_big = true;
                return reply_too_big(s, c);
            }
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        const size_t n = *upload_size;
        *upload_size = 0;
        if (cn->too_big)
            return MHD_YES;
        if (n > s->p.max_body_bytes - cn->len) {
            cn->too_big = true; /* a chunked body that grew too large: drain it */
            free(cn->body);
            cn->body = NULL;
            cn->len = cn->cap = 0;
            return MHD_YES;
        }
        return buf_append(&cn->body, &cn->len, &cn->cap, upload, n) ? MHD_YES : MHD_NO;
    }
    if (cn->too_big)
        return reply_too_big(s, c);
    return route(s, c, url, method, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (cn) {
        free(cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

/* --- open and close ------------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0;
    }
    return false;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    const size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static enum joule_status check_params(const struct joule_server_params *p, char *err,
                                      size_t err_size)
{
    if (p->max_tokens < 1 || p->max_body_bytes < 64 || p->max_queue < 0 || !(p->timeout_s > 0) ||
        !(p->grace_s >= 0)) {
        joule_fmt(err, err_size,
                  "bad server limits: max_tokens >= 1, max_body_bytes >= 64, max_queue >= 0, "
                  "timeout_s > 0 and grace_s >= 0 are needed");
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

enum joule_status joule_server_open(struct joule_engine *e, struct joule_meter *m,
                                    const struct joule_server_params *p, struct joule_server **out,
                                    char *err, size_t err_size)
{
    JOULE_ASSERT(e && p && out);
    *out = NULL;
    if (err && err_size)
        err[0] = '\0';
    enum joule_status st = check_params(p, err, err_size);
    if (st != JOULE_OK)
        return st;
    enum joule_chat_template tmpl;
    if (p->chat_template && joule_chat_template_from_name(p->chat_template, &tmpl) != JOULE_OK) {
        joule_fmt(err, err_size, "unknown chat template '%s' (known: %s)", p->chat_template,
                  joule_chat_template_names());
        return JOULE_ERR_INVALID;
    }
    const char *host = p->host && *p->host ? p->host : "127.0.0.1";
    char port[16];
    joule_fmt(port, sizeof(port), "%u", (unsigned)p->port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        joule_fmt(err, err_size, "cannot resolve host '%s': %s", host, gai_strerror(gai));
        return JOULE_ERR_INVALID;
    }
    const bool have_key = p->api_key && *p->api_key;
    if (!is_loopback(ai->ai_addr) && !have_key && !p->insecure) {
        freeaddrinfo(ai);
        joule_fmt(err, err_size,
                  "'%s' is not a loopback address: anyone who can reach it could use the "
                  "server; give an API key (--api-key or JOULE_API_KEY), or --insecure to "
                  "serve without one",
                  host);
        return JOULE_ERR_INVALID;
    }
    struct joule_server *s = calloc(1, sizeof(*s));
    if (!s) {
        freeaddrinfo(ai);
        return JOULE_ERR_NOMEM;
    }
    s->p = *p;
    s->e = e;
    s->m = m;
    s->quiesced = MHD_INVALID_SOCKET;
    s->accepting = true;
    s->met.prov_worst = -1;
    serve_hist_init(&s->met.batch, batch_bounds, JOULE_ARRAY_LEN(batch_bounds));
    serve_hist_init(&s->met.latency, latency_bounds, JOULE_ARRAY_LEN(latency_bounds));
    serve_hist_init(&s->met.ttft, latency_bounds, JOULE_ARRAY_LEN(latency_bounds));
    serve_hist_init(&s->met.energy, energy_bounds, JOULE_ARRAY_LEN(energy_bounds));
    struct joule_engine_info in;
    joule_engine_get_info(e, &in);
    s->n_seq = in.n_seq;
    s->host = dup_str(host);
    s->api_key = have_key ? dup_str(p->api_key) : NULL;
    s->model = dup_str(p->model_name && *p->model_name ? p->model_name : "joule");
    s->chat_template = dup_str(p->chat_template);
    s->shares = joule_calloc((size_t)in.n_seq + 1, sizeof(double));
    if (!s->host || (have_key && !s->api_key) || !s->model || !s->shares ||
        (p->chat_template && !s->chat_template)) {
        freeaddrinfo(ai);
        joule_server_close(s);
        return JOULE_ERR_NOMEM;
    }
    s->p.host = s->host;
    s->p.api_key = s->api_key;
    s->p.model_name = s->model;
    s->p.chat_template = s->chat_template;
    if (!init_cond(&s->wake)) {
        freeaddrinfo(ai);
        joule_server_close(s);
        return JOULE_ERR_NOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->sync = true;
    const struct joule_engine_callbacks cb = {on_phase, on_text, on_done, s};
    joule_engine_set_callbacks(e, &cb);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Idle connections close after the request time limit plus a margin:
     * never while a request of theirs may still be running. */
    const unsigned idle_s = (unsigned)(p->timeout_s < 86400 ? p->timeout_s : 86400) + 30;
    const unsigned max_conn = (unsigned)(4 * (s->n_seq + p->max_queue) + 64);
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_LIMIT,
                            max_conn, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        joule_fmt(err, err_size,
                  "cannot listen on %s port %u (in use, or not an address of "
                  "this machine?)",
                  host, (unsigned)p->port);
        joule_engine_set_callbacks(e, NULL);
        joule_server_close(s);
        return JOULE_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (di && getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    else
        s->port = p->port;
    *out = s;
    return JOULE_OK;
}

uint16_t joule_server_port(const struct joule_server *s)
{
    return s->port;
}

void joule_server_get_stats(struct joule_server *s, struct joule_server_stats *o)
{
    memset(o, 0, sizeof(*o));
    pthread_mutex_lock(&s->mu);
    const struct serve_metrics *mt = &s->met;
    for (size_t code = 0; code < JOULE_ARRAY_LEN(mt->http); code++) {
        o->http_requests += mt->http[code];
        if (code >= 400 || code == 0)
            o->errors += mt->http[code];
    }
    for (size_t k = 0; k < JOULE_ARRAY_LEN(mt->finish); k++)
        o->completions += mt->finish[k];
    o->prompt_tokens = mt->prompt_tokens;
    o->completion_tokens = mt->completion_tokens;
    o->steps = mt->steps[1] + mt->steps[2];
    o->busy_s = mt->busy_s[1] + mt->busy_s[2];
    o->energy_j =
        mt->phase_j_known[1] || mt->phase_j_known[2] ? mt->phase_j[1] + mt->phase_j[2] : NAN;
    o->provenance =
        mt->prov_worst < 0 ? JOULE_PROV_UNAVAILABLE : (enum joule_provenance)mt->prov_worst;
    o->max_batch = mt->max_batch;
    pthread_mutex_unlock(&s->mu);
}

void joule_server_close(struct joule_server *s)
{
    if (!s)
        return;
    if (s->sync) {
        /* Requests the engine never took (joule_server_run not called, or
         * not to its end) are answered, so no handler thread waits on. */
        pthread_mutex_lock(&s->mu);
        s->accepting = false;
        while (s->in_head) {
            struct sreq *r = s->in_head;
            s->in_head = r->next;
            s->n_incoming--;
            sreq_fail(s, r, 503, "the server is shutting down");
        }
        s->in_tail = NULL;
        pthread_mutex_unlock(&s->mu);
    }
    if (s->d) {
        MHD_stop_daemon(s->d);
        joule_engine_set_callbacks(s->e, NULL);
    }
    if (s->quiesced != MHD_INVALID_SOCKET)
        close(s->quiesced);
    if (s->sync) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->wake);
    }
    free(s->shares);
    free(s->host);
    free(s->api_key);
    free(s->model);
    free(s->chat_template);
    free(s);
}
