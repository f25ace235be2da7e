/*
 * managed.c - starting, watching and stopping a server process (managed.h).
 *
 * The command runs as `/bin/sh -c COMMAND` in a new process group, so that
 * stopping it reaches whatever the shell started (a server under `exec`,
 * a pipeline, a wrapper script).  Its output goes to a log file opened
 * before the fork; nothing of the server is read inside a measured window.
 */
#define _POSIX_C_SOURCE 200809L
#include "managed.h"
#include "clock.h"
#include "fileio.h"
#include "joule_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int joule_managed_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int joule_managed_expand(const char *tmpl, const char *model, int port, int concurrency, char *out,
                         size_t size)
{
    size_t o = 0;
    char num[32];
    for (const char *p = tmpl; *p;) {
        const char *sub = NULL;
        size_t skip = 1;
        if (strncmp(p, "{model}", 7) == 0) {
            sub = model ? model : "";
            skip = 7;
        } else if (strncmp(p, "{port}", 6) == 0) {
            joule_fmt(num, sizeof(num), "%d", port);
            sub = num;
            skip = 6;
        } else if (strncmp(p, "{concurrency}", 13) == 0) {
            joule_fmt(num, sizeof(num), "%d", concurrency);
            sub = num;
            skip = 13;
        }
        size_t n = sub ? strlen(sub) : 1;
        if (o + n + 1 > size)
            return -1;
        memcpy(out + o, sub ? sub : p, n);
        o += n;
        p += skip;
    }
    if (size == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *user)
{
    (void)p, (void)user;
    return size * n;
}

/* 1 when url answers 200 within a second. */
static int ready(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    int ok = curl_easy_perform(h) == CURLE_OK &&
             curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
    curl_easy_cleanup(h);
    return ok;
}

/* The last line of the log that is not empty, for an error message. */
static void log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n)
            joule_strlcpy(out, line, size);
    }
    fclose(f);
}

int joule_managed_alive(struct joule_managed *m)
{
    if (m->pid <= 0)
        return 0;
    int status;
    pid_t r = waitpid(m->pid, &status, WNOHANG);
    if (r == m->pid) {
        m->pid = 0;
        return 0;
    }
    return r == 0;
}

enum joule_status joule_managed_start(struct joule_managed *m, const char *command, int port,
                                      const char *log_dir, const char *ready_path,
                                      double startup_timeout_s, double grace_s, char *err,
                                      size_t err_size)
{
    memset(m, 0, sizeof(*m));
    m->port = port;
    joule_fmt(m->base_url, sizeof(m->base_url), "http://127.0.0.1:%d", port);
    enum joule_status st = joule_mkdirs(log_dir, err, err_size);
    if (st != JOULE_OK)
        return st;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    joule_fmt(m->log, sizeof(m->log), "%s/server-%s-%d-%d.log", log_dir, stamp, (int)getpid(),
              port);
    int fd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        joule_fmt(err, err_size, "%s: %s", m->log, strerror(errno));
        return JOULE_ERR_IO;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        joule_fmt(err, err_size, "fork: %s", strerror(errno));
        close(fd);
        if (devnull >= 0)
            close(devnull);
        return JOULE_ERR_IO;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the first kill */
    close(fd);
    if (devnull >= 0)
        close(devnull);
    m->pid = pid;
    char url[1200];
    joule_fmt(url, sizeof(url), "%s%s%s", m->base_url,
              ready_path && ready_path[0] == '/' ? "" : "/", ready_path ? ready_path : "");
    const uint64_t t0 = joule_clock_ns();
    for (;;) {
        if (ready(url))
            return JOULE_OK;
        if (!joule_managed_alive(m)) {
            char tail[300];
            log_tail(m->log, tail, sizeof(tail));
            joule_fmt(err, err_size, "server: `%s` exited before it was ready (log %s%s%s)",
                      command, m->log, tail[0] ? ": " : "", tail);
            return JOULE_ERR_IO;
        }
        if ((double)(joule_clock_ns() - t0) * 1e-9 > startup_timeout_s)
            break;
        joule_sleep_s(0.1);
    }
    joule_managed_stop(m, grace_s);
    char tail[300];
    log_tail(m->log, tail, sizeof(tail));
    joule_fmt(err, err_size,
              "server: %s did not answer 200 within %g s (server.startup_timeout_s; log %s%s%s)",
              url, startup_timeout_s, m->log, tail[0] ? ": " : "", tail);
    return JOULE_ERR_IO;
}

int joule_managed_stop(struct joule_managed *m, double grace_s)
{
    if (m->pid <= 0)
        return 0;
    kill(-m->pid, SIGTERM);
    const uint64_t t0 = joule_clock_ns();
    int killed = 0;
    for (;;) {
        int status;
        pid_t r = waitpid(m->pid, &status, WNOHANG);
        if (r == m->pid || (r < 0 && errno == ECHILD))
            break;
        if ((double)(joule_clock_ns() - t0) * 1e-9 >= grace_s) {
            kill(-m->pid, SIGKILL);
            waitpid(m->pid, &status, 0);
            killed = 1;
            break;
        }
        joule_sleep_s(0.02);
    }
    /* Whatever the shell left in its group goes too. */
    kill(-m->pid, killed ? SIGKILL : SIGTERM);
    m->pid = 0;
    return killed;
}
