/*
 * parse.c - parsers of text the meter reads from the system (sysfs numbers,
 * /proc/stat).  The text is untrusted: bounded, checked, fuzzed.
 */
#define _POSIX_C_SOURCE 200809L
#include "meter_int.h"
#include "joule_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long meter_read_file(const char *path, char *buf, size_t size)
{
    if (size == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    return (long)n;
}

bool meter_parse_u64(const char *text, uint64_t *out)
{
    const char *p = text;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return false;
    }
    while (*p == '\n' || *p == ' ' || *p == '\r')
        p++;
    if (*p != '\0')
        return false;
    *out = v;
    return true;
}

/* Parse up to 10 unsigned fields after the label; returns how many. */
static int parse_fields(const char *p, const char *end, uint64_t *f, int max)
{
    int n = 0;
    while (n < max) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p < '0' || *p > '9')
            break;
        uint64_t v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (__builtin_mul_overflow(v, 10u, &v) ||
                __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
                return -1;
        }
        f[n++] = v;
    }
    return n;
}

bool meter_parse_proc_stat(const char *text, uint64_t *busy, uint64_t *total, uint32_t *ncpu)
{
    bool have_agg = false;
    uint32_t cpus = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if (end - line > 4 && memcmp(line, "cpu", 3) == 0) {
            if (line[3] == ' ' && !have_agg) {
                /* user nice system idle iowait irq softirq steal guest guest_nice;
                 * guest time is already inside user, so only the first 8 count. */
                uint64_t f[10] = {0};
                int n = parse_fields(line + 4, end, f, 10);
                if (n < 4)
                    return false;
                uint64_t all = 0;
                for (int i = 0; i < n && i < 8; i++) {
                    if (__builtin_add_overflow(all, f[i], &all))
                        return false;
                }
                uint64_t idle = f[3] + (n > 4 ? f[4] : 0); /* idle + iowait */
                if (idle > all)
                    return false;
                *busy = all - idle;
                *total = all;
                have_agg = true;
            } else if (line[3] >= '0' && line[3] <= '9') {
                cpus++;
            }
        }
        line = *end ? end + 1 : end;
    }
    if (!have_agg)
        return false;
    *ncpu = cpus ? cpus : 1;
    return true;
}
