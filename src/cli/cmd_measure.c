/*
 * cmd_measure.c - `joule measure`: the energy of any command, or of the
 * built-in CPU workload.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "joule_int.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const usage[] = {
    "usage: joule measure [options] -- CMD [ARGS...]",
    "       joule measure [options] --workload cpu [--duration S] [--threads N]",
    "",
    "Run CMD (or a built-in workload) inside one energy window and print the",
    "energy of every domain (GPUs, CPU packages, DRAM, or an estimated CPU),",
    "each with its provenance (measured, sampled, estimated, unavailable) and",
    "an error bound.  The exit status is CMD's (127: not found, 128+N: killed",
    "by signal N); SIGINT and SIGTERM are forwarded to CMD.",
    "",
    "options:",
    "  --interval MS     sampler interval in ms (default 100, 1..60000)",
    "  --idle S          measure idle power for S seconds first: net energies",
    "  --sources LIST    energy sources: auto (default) or a comma list of",
    "                    nvml, rapl, hwmon, estimate, fake:FILE",
    "  --cpu-tdp W       watts of the visible CPUs for the estimate",
    "  --timeline FILE   write the power timeline as CSV after the run",
    "  --workload cpu    run the built-in dense float workload instead of CMD",
    "  --duration S      workload duration (default 5 s)",
    "  --threads N       workload threads (default: online CPUs)",
    "  --json | --csv    machine-readable output on stdout",
    "  -q, --quiet       no progress messages",
    "  -h, --help        this help",
    "",
    "environment: JOULE_POWERCAP_ROOT, JOULE_NVML_LIB, JOULE_HWMON_ROOT,",
    "JOULE_PROC_ROOT point the sources elsewhere; CUDA_VISIBLE_DEVICES is",
    "respected.  See docs/cli/joule-measure.md.",
    NULL,
};

static volatile sig_atomic_t child_pid; /* for the forwarding handler */

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

struct measure_opts {
    struct joule_meter_params mp;
    enum cli_format format;
    double idle_s;
    const char *timeline;
    const char *workload;
    double duration_s;
    unsigned threads;
    char **cmd;     /* NULL-terminated, after "--" */
};

/* Parse options; returns -1 to continue, or an exit code. */
static int parse_opts(int argc, char **argv, struct cli *cli, struct measure_opts *o)
{
    o->mp = joule_meter_default_params();
    o->duration_s = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("measure", "no command after '--'");
            o->cmd = argv + i + 1;
            break;
        }
        int r = cli_meter_option("measure", argc, argv, &i, &o->mp);
        if (r < 0)
            return CLI_USAGE;
        if (r > 0)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            for (int k = 0; usage[k]; k++)
                puts(usage[k]);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            o->format = CLI_JSON;
        } else if (strcmp(a, "--csv") == 0) {
            o->format = CLI_CSV;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            cli->quiet = true;
            cli->progress = false;
        } else if ((v = cli_opt_value(argc, argv, &i, "--idle", &missing)) != NULL) {
            if (!cli_parse_double("measure", "--idle", v, 0.1, 3600, &o->idle_s))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--timeline", &missing)) != NULL) {
            o->timeline = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--workload", &missing)) != NULL) {
            if (strcmp(v, "cpu") != 0)
                return cli_usage_error("measure", "unknown workload '%s' (expected: cpu)", v);
            o->workload = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--duration", &missing)) != NULL) {
            if (!cli_parse_double("measure", "--duration", v, 0.01, 86400, &o->duration_s))
                return CLI_USAGE;
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) != NULL) {
            if (!cli_parse_u32("measure", "--threads", v, 1, 1024, &o->threads))
                return CLI_USAGE;
        } else if (missing) {
            return cli_usage_error("measure", "%s needs a value", a);
        } else if (a[0] == '-') {
            return cli_usage_error("measure", "unknown option '%s'", a);
        } else {
            return cli_usage_error("measure",
                                   "missing '--' before the command: joule measure [options] "
                                   "-- %s ...",
                                   a);
        }
    }
    if (!o->cmd && !o->workload)
        return cli_usage_error("measure",
                               "nothing to measure: give '-- CMD [ARGS...]' or '--workload cpu'");
    if (o->cmd && o->workload)
        return cli_usage_error("measure", "give either '-- CMD' or '--workload', not both");
    return -1;
}

/* Start cmd; returns its pid, or -1 with *exec_errno set when exec failed. */
static pid_t spawn(char **cmd, int *exec_errno)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        *exec_errno = errno;
        return -1;
    }
    fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        *exec_errno = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(cmd[0], cmd);
        int e = errno;
        ssize_t w = write(pipefd[1], &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    close(pipefd[1]);
    /* The pipe closes on a successful exec: EOF means the command runs. */
    int e = 0;
    ssize_t n;
    do {
        n = read(pipefd[0], &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof(e)) {
        int st;
        waitpid(pid, &st, 0);
        *exec_errno = e;
        return -1;
    }
    return pid;
}

static int wait_child(pid_t pid, int *term_signal)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return CLI_RUNTIME;
    }
    *term_signal = 0;
    if (WIFSIGNALED(st)) {
        *term_signal = WTERMSIG(st);
        return 128 + WTERMSIG(st);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : CLI_RUNTIME;
}

static void print_result(const struct measure_opts *o, const struct joule_reading *r,
                         int exit_code, int term_signal, const struct workload_result *wr)
{
    if (o->format == CLI_JSON) {
        json_t *j = json_object();
        json_object_set_new(j, "version", json_string(joule_version()));
        json_t *cmd = json_array();
        if (o->cmd)
            for (char **p = o->cmd; *p; p++)
                json_array_append_new(cmd, json_string(*p));
        json_object_set_new(j, "command", cmd);
        json_object_set_new(j, "exit_code", json_integer(exit_code));
        json_object_set_new(j, "signal", term_signal ? json_integer(term_signal) : json_null());
        json_object_set_new(j, "interval_ms", json_integer(o->mp.interval_ms));
        json_object_set_new(j, "idle_s", o->idle_s > 0 ? json_real(o->idle_s) : json_null());
        if (wr) {
            json_t *w = json_object();
            json_object_set_new(w, "name", json_string("cpu"));
            json_object_set_new(w, "threads", json_integer(wr->threads));
            json_object_set_new(w, "gflop", json_real(wr->flops / 1e9));
            double e = r->total_energy_j;
            json_object_set_new(w, "gflop_per_j",
                                isfinite(e) && e > 0 ? json_real(wr->flops / 1e9 / e)
                                                     : json_null());
            json_object_set_new(j, "workload", w);
        }
        json_object_set_new(j, "reading", cli_reading_json(r));
        cli_print_json(j);
        return;
    }
    if (o->format == CLI_CSV) {
        cli_print_reading_csv(stdout, r, true);
        return;
    }
    if (o->cmd) {
        printf("command:");
        for (char **p = o->cmd; *p; p++)
            printf(" %s", *p);
        if (term_signal)
            printf("   (killed by signal %d)\n", term_signal);
        else
            printf("   (exit %d)\n", exit_code);
    } else {
        printf("workload: cpu, %u threads, %.3g GFLOP", wr->threads, wr->flops / 1e9);
        double e = r->total_energy_j;
        if (isfinite(e) && e > 0)
            printf(", %.3g GFLOP/J (%s)", wr->flops / 1e9 / e,
                   joule_provenance_str(r->total_provenance));
        printf("\n");
    }
    printf("duration: %.3f s   sampler: %u ms   idle baseline: ", r->duration_s,
           o->mp.interval_ms);
    if (o->idle_s > 0)
        printf("%.3g s\n\n", o->idle_s);
    else
        printf("none (--idle S for net energy)\n\n");
    cli_print_reading(stdout, r);
}

int cmd_measure(int argc, char **argv, struct cli *cli)
{
    struct measure_opts o;
    memset(&o, 0, sizeof(o));
    int rc = parse_opts(argc, argv, cli, &o);
    if (rc >= 0)
        return rc;

    int open_rc = CLI_RUNTIME;
    struct joule_meter *m = cli_meter_open("measure", &o.mp, &open_rc);
    if (!m)
        return open_rc;
    if (o.idle_s > 0) {
        if (cli->progress)
            fprintf(stderr, "joule: measuring idle power for %g s...\n", o.idle_s);
        if (joule_meter_idle(m, o.idle_s) != JOULE_OK) {
            fprintf(stderr, "joule measure: idle baseline failed: %s\n", joule_meter_errmsg(m));
            joule_meter_close(m);
            return CLI_RUNTIME;
        }
    }

    struct joule_reading *r = calloc(1, sizeof(*r));
    if (!r) {
        joule_meter_close(m);
        return CLI_RUNTIME;
    }
    struct workload_result wr = {0};
    int exit_code = 0, term_signal = 0;
    const char *window = o.cmd ? "command" : "workload";
    joule_meter_begin(m, window);
    if (o.cmd) {
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = forward_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        int exec_errno = 0;
        pid_t pid = spawn(o.cmd, &exec_errno);
        if (pid < 0) {
            joule_meter_end(m, window, r);
            fprintf(stderr, "joule measure: %s: %s\n", o.cmd[0],
                    exec_errno == ENOENT ? "command not found" : strerror(exec_errno));
            free(r);
            joule_meter_close(m);
            return exec_errno == ENOENT ? 127 : 126;
        }
        child_pid = pid;
        exit_code = wait_child(pid, &term_signal);
        child_pid = 0;
        joule_meter_end(m, window, r);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    } else {
        if (cli->progress)
            fprintf(stderr, "joule: running the cpu workload for %g s...\n", o.duration_s);
        enum joule_status ws = workload_cpu(o.duration_s, o.threads, &wr);
        joule_meter_end(m, window, r);
        if (ws != JOULE_OK) {
            fprintf(stderr, "joule measure: workload failed: %s\n", joule_status_str(ws));
            exit_code = CLI_RUNTIME;
        }
    }
    /* The reading is printed first: a timeline failure must not lose it. */
    print_result(&o, r, exit_code, term_signal, o.cmd ? NULL : &wr);
    if (o.timeline && joule_meter_write_timeline(m, o.timeline) != JOULE_OK) {
        fprintf(stderr, "joule measure: timeline not written: %s\n", joule_meter_errmsg(m));
        if (exit_code == 0)
            exit_code = CLI_RUNTIME;
    }
    free(r);
    joule_meter_close(m);
    return exit_code;
}
