/*
 * command.c - the `command` backend: a user's shell command (a PyTorch
 * script, another engine's CLI) run once per pass inside the measured
 * window.  The pass is one request: its token counts come from the last
 * line the command prints on stdout that is a JSON object
 *
 *     {"tokens_in": N, "tokens_out": M}
 *
 * (other lines are ignored; docs/cli/joule-run.md).  A non-zero exit, a
 * signal or a missing line makes the request failed, never the run.
 * stderr stays the terminal's; stdout is read into memory (up to 1 MiB
 * kept), nothing is written to disk.
 */
#define _POSIX_C_SOURCE 200809L
#include "command.h"
#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "joule_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct joule_backend {
    struct joule_backend_params p;
    struct joule_backend_info info;
};

/* A count field: a non-negative integer below 2^31, else -1. */
static int64_t count_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return -1;
    return (int64_t)json_integer_value(v);
}

int joule_command_tokens(const char *out, size_t len, int32_t *tokens_in, int32_t *tokens_out)
{
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && out[start - 1] != '\n')
            start--;
        const char *l = out + start;
        size_t n = end - start;
        while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
            n--;
        while (n && (*l == ' ' || *l == '\t'))
            l++, n--;
        if (n && *l == '{') {
            json_t *o = json_loadb(l, n, 0, NULL);
            int64_t in = count_field(o, "tokens_in"), on = count_field(o, "tokens_out");
            json_decref(o);
            if (in >= 0 && on >= 0) {
                *tokens_in = (int32_t)in;
                *tokens_out = (int32_t)on;
                return 0;
            }
        }
        end = start > 0 ? start - 1 : 0;
    }
    return -1;
}

static void command_close(struct joule_backend *b)
{
    free(b);
}

static enum joule_status command_open(const struct joule_backend_params *p, const char *path,
                                      struct joule_backend **out, char *err, size_t err_size)
{
    (void)path;
    *out = NULL;
    if (!p->command || !*p->command) {
        joule_fmt(err, err_size, "backend command: set `command.run`");
        return JOULE_ERR_INVALID;
    }
    struct joule_backend *b = joule_calloc(1, sizeof(*b));
    if (!b)
        return JOULE_ERR_NOMEM;
    b->p = *p;
    b->info.name = "command";
    joule_strlcpy(b->info.model_name, "command", sizeof(b->info.model_name));
    joule_strlcpy(b->info.precision, "command", sizeof(b->info.precision));
    joule_strlcpy(b->info.isa, "external", sizeof(b->info.isa));
    b->info.whole_pass = 1;
    b->info.one_request = 1;
    b->info.int8_threshold = -1.0f;
    *out = b;
    return JOULE_OK;
}

static void command_info(const struct joule_backend *b, struct joule_backend_info *out)
{
    *out = b->info;
}

static enum joule_status command_prepare(struct joule_backend *b, const char *text, size_t len,
                                         int32_t max_input, struct joule_backend_prompt *out,
                                         char *err, size_t err_size)
{
    (void)b, (void)text, (void)len, (void)max_input, (void)err, (void)err_size;
    memset(out, 0, sizeof(*out));
    return JOULE_OK;
}

/* Runs the command; its stdout into o (at most 1 MiB kept, the rest read
 * and dropped).  Returns the wait status, or -1 with errno. */
static int run_command(const char *cmd, struct joule_buf *o)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (o->n < ((size_t)1 << 20))
            joule_buf_put(o, buf, (size_t)r);
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

static enum joule_status command_run_batch(struct joule_backend *b,
                                           const struct joule_backend_prompt *p, size_t n,
                                           const struct joule_backend_hooks *hooks,
                                           struct joule_backend_result *results, char *err,
                                           size_t err_size)
{
    (void)p, (void)err, (void)err_size;
    memset(results, 0, n * sizeof(*results));
    if (n == 0)
        return JOULE_OK;
    struct joule_backend_result *r = &results[0];
    struct joule_buf o = {0};
    if (hooks && hooks->phase_begin)
        hooks->phase_begin(hooks->user, JOULE_BACKEND_PHASE_ALL);
    const uint64_t t0 = joule_clock_ns();
    int status = run_command(b->p.command, &o);
    const double t = (double)(joule_clock_ns() - t0) * 1e-9;
    if (hooks && hooks->phase_end)
        hooks->phase_end(hooks->user, JOULE_BACKEND_PHASE_ALL);
    r->total_s = t;
    r->queue_s = 0;
    r->prefill_s = r->ttft_s = r->decode_s = NAN;
    r->itl_mean_s = r->itl_p50_s = r->itl_p90_s = r->itl_max_s = NAN;
    r->tokens = JOULE_BACKEND_TOKENS_COMMAND;
    r->finish = JOULE_FINISH_EOS;
    char why[200] = "";
    int32_t tin = 0, tout = 0;
    if (status < 0)
        joule_fmt(why, sizeof(why), "could not run the command: %s", strerror(errno));
    else if (WIFSIGNALED(status))
        joule_fmt(why, sizeof(why), "the command was killed by signal %d", WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        joule_fmt(why, sizeof(why), "the command exited with status %d", WEXITSTATUS(status));
    else if (o.oom)
        joule_fmt(why, sizeof(why), "out of memory for the command's output");
    else if (joule_command_tokens(o.p ? o.p : "", o.n, &tin, &tout) != 0)
        joule_fmt(why, sizeof(why),
                  "the command printed no line {\"tokens_in\": N, \"tokens_out\": M} on stdout");
    free(o.p);
    if (why[0]) {
        r->finish = JOULE_FINISH_CANCELLED;
        r->tokens = JOULE_BACKEND_TOKENS_UNKNOWN;
        if (!(r->error = strdup(why)))
            return JOULE_ERR_NOMEM;
        return JOULE_OK;
    }
    r->n_input = tin;
    r->n_output = tout;
    r->decode_tokens = tout > 0 ? tout - 1 : 0;
    return JOULE_OK;
}

const struct joule_backend_ops joule_backend_command = {
    "command", command_open, command_close, command_info, command_prepare, command_run_batch,
};
