/* args.c - option helpers shared by every command. */
#define _POSIX_C_SOURCE 200809L /* sigaction */
#include "cli.h"
#include "joule_int.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "joule %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'joule %s --help'.\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

bool cli_parse_ids(const char *cmd, const char *opt, const char *s, int64_t *ids, size_t max,
                   size_t *n)
{
    *n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long long a = strtoll(p, &end, 10), b = a;
        bool ok = end != p && errno == 0 && a > 0;
        if (ok && *end == '-') {
            const char *q = end + 1;
            b = strtoll(q, &end, 10);
            ok = end != q && errno == 0 && b >= a;
        }
        if (!ok || (*end && *end != ',')) {
            cli_usage_error(cmd,
                            "%s: '%s' is not a list of experiment ids (\"3-8\" or \"3,4,7\", "
                            "as `joule results list` shows them)",
                            opt, s);
            return false;
        }
        for (long long id = a; id <= b; id++) {
            if (*n == max) {
                cli_usage_error(cmd, "%s: at most %zu experiments", opt, max);
                return false;
            }
            ids[(*n)++] = id;
        }
        if (!*end)
            return true;
        p = end + 1;
    }
}

bool cli_parse_double(const char *cmd, const char *opt, const char *v, double min, double max,
                      double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d < min || d > max) {
        cli_usage_error(cmd, "%s expects a number from %g to %g, got '%s'", opt, min, max, v);
        return false;
    }
    *out = d;
    return true;
}

bool cli_parse_u32(const char *cmd, const char *opt, const char *v, unsigned min, unsigned max,
                   unsigned *out)
{
    char *end;
    errno = 0;
    long long d = strtoll(v, &end, 10);
    if (!*v || *end || errno || d < (long long)min || d > (long long)max) {
        cli_usage_error(cmd, "%s expects a whole number from %u to %u, got '%s'", opt, min, max, v);
        return false;
    }
    *out = (unsigned)d;
    return true;
}

int cli_meter_option(const char *cmd, int argc, char **argv, int *i, struct joule_meter_params *p)
{
    bool missing = false;
    const char *v;
    if ((v = cli_opt_value(argc, argv, i, "--interval", &missing)) != NULL) {
        unsigned ms;
        if (!cli_parse_u32(cmd, "--interval", v, 1, 60000, &ms))
            return -1;
        p->interval_ms = ms;
        return 1;
    }
    if ((v = cli_opt_value(argc, argv, i, "--sources", &missing)) != NULL) {
        p->sources = v;
        return 1;
    }
    if ((v = cli_opt_value(argc, argv, i, "--cpu-tdp", &missing)) != NULL) {
        double w;
        if (!cli_parse_double(cmd, "--cpu-tdp", v, 1, 10000, &w))
            return -1;
        p->cpu_tdp_w = w;
        return 1;
    }
    if (missing) {
        cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return -1;
    }
    return 0;
}

struct joule_meter *cli_meter_open(const char *cmd, const struct joule_meter_params *p,
                                   int *exit_code)
{
    struct joule_meter *m = NULL;
    enum joule_status s = joule_meter_open(p, &m);
    if (s != JOULE_OK) {
        *exit_code = s == JOULE_ERR_INVALID || s == JOULE_ERR_FORMAT ? CLI_USAGE : CLI_RUNTIME;
        fprintf(stderr, "joule %s: cannot open the energy meter: %s\n", cmd,
                m ? joule_meter_errmsg(m) : joule_status_str(s));
        joule_meter_close(m);
        return NULL;
    }
    return m;
}

volatile int cli_stop;

static void on_stop_signal(int sig)
{
    if (cli_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop = 1;
}

void cli_catch_stop(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_exit_for(enum joule_status st)
{
    switch (st) {
    case JOULE_OK:
        return CLI_OK;
    case JOULE_ERR_INVALID:
    case JOULE_ERR_FORMAT:
    case JOULE_ERR_UNSUPPORTED:
    case JOULE_ERR_NOT_FOUND:
        return CLI_USAGE;
    default:
        return CLI_RUNTIME;
    }
}

struct joule_store *cli_open_results(const char *cmd, const char *db, int *code)
{
    const char *path = db;
    if (!path) {
        const char *env = getenv("JOULE_DB");
        path = env && env[0] ? env : "joule-results/joule.db";
    }
    if (!joule_store_is_server(path) && access(path, F_OK) != 0) {
        fprintf(stderr,
                "joule %s: no results database at %s\n"
                "Run an experiment first (`joule run`), or choose the database with --db "
                "PATH|URL or JOULE_DB.\n",
                cmd, path);
        *code = CLI_USAGE;
        return NULL;
    }
    struct joule_store *s = NULL;
    char err[1024];
    enum joule_status st = joule_store_open(path, &s, err, sizeof(err));
    if (st != JOULE_OK) {
        fprintf(stderr, "joule %s: %s\n", cmd, err[0] ? err : joule_status_str(st));
        *code = cli_exit_for(st);
        return NULL;
    }
    return s;
}

/* The ids of --sweep or --compare: the experiments of the stored sweep
 * (compare) when what is one number naming one, else an id list. */
static bool group_ids(const char *cmd, const char *opt, const char *kind, struct joule_store *s,
                      const char *what, int64_t *ids, size_t max, size_t *n)
{
    /* One number naming a stored sweep (compare): its experiments.  A
     * single experiment is no sweep, so the reading cannot be ambiguous. */
    char *end;
    errno = 0;
    long long g = strtoll(what, &end, 10);
    if (end != what && !*end && errno == 0 && g > 0 &&
        joule_store_group_members(s, kind, g, ids, max, n) == JOULE_OK && *n > 0)
        return true;
    return cli_parse_ids(cmd, opt, what, ids, max, n);
}

struct joule_store *cli_open_experiments(const char *cmd, const char *db, const char *kind,
                                         const char *what, int64_t *ids, size_t max, size_t *n,
                                         int *code)
{
    struct joule_store *s = cli_open_results(cmd, db, code);
    if (!s)
        return NULL;
    char opt[32];
    joule_fmt(opt, sizeof(opt), "%s%s", kind ? "--" : "ID", kind ? kind : "");
    bool ok = kind ? group_ids(cmd, opt, kind, s, what, ids, max, n)
                   : cli_parse_ids(cmd, opt, what, ids, max, n);
    if (ok && !kind && *n != 1) {
        cli_usage_error(cmd, "one experiment ID, not '%s' (use --sweep for several)", what);
        ok = false;
    }
    if (!ok) {
        joule_store_close(s);
        *code = CLI_USAGE;
        return NULL;
    }
    return s;
}
