/*
 * banned.h - libc functions that invite overflows, turned into compile
 * errors (the idea of git's banned.h).  Use snprintf, joule_strlcpy,
 * strtol/strtod with end checks instead.
 */
#ifndef JOULE_BANNED_H
#define JOULE_BANNED_H

/* The headers that declare them come first, so a later #include of them is a
 * no-op and their inline definitions never meet the macros below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOULE_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) JOULE_BANNED(strcpy)
#undef strcat
#define strcat(x, y) JOULE_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) JOULE_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) JOULE_BANNED(strncat)
#undef sprintf
#define sprintf(...) JOULE_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) JOULE_BANNED(vsprintf)
#undef gets
#define gets(x) JOULE_BANNED(gets)
#undef atoi
#define atoi(x) JOULE_BANNED(atoi)
#undef atol
#define atol(x) JOULE_BANNED(atol)
#undef atof
#define atof(x) JOULE_BANNED(atof)

#endif /* JOULE_BANNED_H */
