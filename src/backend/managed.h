/*
 * managed.h - a server process joule starts for a measurement and stops
 * after it: a shell command in its own process group, its output kept in
 * a log file, readiness polled over HTTP.
 */
#ifndef JOULE_BACKEND_MANAGED_H
#define JOULE_BACKEND_MANAGED_H

#include "joule.h"

#include <stddef.h>
#include <sys/types.h>

struct joule_managed {
    pid_t pid; /* the shell, leader of its process group; 0: none */
    int port;
    char log[1024];    /* stdout and stderr of the server */
    char base_url[64]; /* http://127.0.0.1:PORT */
};

/* A free TCP port on 127.0.0.1 (bound, read, released), or -1. */
int joule_managed_free_port(void);

/* tmpl with {model}, {port} and {concurrency} replaced, into out. 0, or -1
 * when out is too small. */
int joule_managed_expand(const char *tmpl, const char *model, int port, int concurrency, char *out,
                         size_t size);

/* Starts command (already expanded, listening on port) with its output
 * appended to a new log file in log_dir, then polls base_url + ready_path
 * until it answers 200 or startup_timeout_s pass.  On failure the server
 * is stopped and err quotes the end of its log. */
enum joule_status joule_managed_start(struct joule_managed *m, const char *command, int port,
                                      const char *log_dir, const char *ready_path,
                                      double startup_timeout_s, double grace_s, char *err,
                                      size_t err_size);

/* SIGTERM to the group, SIGKILL after grace_s; waits for the shell.
 * Returns 1 when SIGKILL was needed. */
int joule_managed_stop(struct joule_managed *m, double grace_s);

/* 1 while the server's shell is alive. */
int joule_managed_alive(struct joule_managed *m);

#endif /* JOULE_BACKEND_MANAGED_H */
