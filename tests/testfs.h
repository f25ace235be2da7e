/* testfs.h - build fake sysfs/procfs trees for tests. */
#ifndef JOULE_TESTFS_H
#define JOULE_TESTFS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory under $JOULE_TEST_TMP (or /tmp) named after `tag`. */
static inline void testfs_dir(char *out, size_t size, const char *tag)
{
    const char *tmp = getenv("JOULE_TEST_TMP");
    snprintf(out, size, "%s/%s.%ld", tmp ? tmp : "/tmp", tag, (long)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", out);
    mkdir(out, 0755);
}

/* Write `text` to dir/rel, creating the parent directories in rel. */
static inline void testfs_write(const char *dir, const char *rel, const char *text)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w"); /* truncate in place: open fds see the new text */
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

#endif /* JOULE_TESTFS_H */
