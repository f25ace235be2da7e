/*
 * test.h - the tiny test runner.  Each test binary ends with the line
 * "N passed, N failed" and exits non-zero when anything failed.
 */
#ifndef JOULE_TEST_H
#define JOULE_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (c) {                                                                   \
            t_pass++;                                                              \
        } else {                                                                   \
            t_fail++;                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);  \
        }                                                                          \
    } while (0)

/* |a - b| <= tol, printing both values when not. */
#define CHECK_NEAR(a, b, tol)                                                      \
    do {                                                                           \
        double ta_ = (a), tb_ = (b), tt_ = (tol);                                  \
        if (fabs(ta_ - tb_) <= tt_) {                                              \
            t_pass++;                                                              \
        } else {                                                                   \
            t_fail++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_NEAR(%s, %s) failed: %.9g vs %.9g (tol %.3g)\n", \
                    __FILE__, __LINE__, #a, #b, ta_, tb_, tt_);                    \
        }                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                            \
    do {                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                         \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                                 \
            t_pass++;                                                              \
        } else {                                                                   \
            t_fail++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" vs \"%s\"\n", __FILE__, \
                    __LINE__, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
        }                                                                          \
    } while (0)

/* Run one test function and name it on failure. */
#define RUN(fn)                                                                    \
    do {                                                                           \
        int before_ = t_fail;                                                      \
        fn();                                                                      \
        if (t_fail != before_)                                                     \
            fprintf(stderr, "  in %s\n", #fn);                                     \
    } while (0)

#define TEST_MAIN_END()                                                            \
    do {                                                                           \
        printf("%d passed, %d failed\n", t_pass, t_fail);                          \
        return t_fail != 0 || t_pass == 0;                                         \
    } while (0)

#endif /* JOULE_TEST_H */
