/* suggest.c - the nearest name to a typo (see suggest.h). */
#include "suggest.h"

#include "joule_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h> /* strncasecmp */

size_t joule_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            if (ca == '-')
                ca = '_';
            if (cb == '-')
                cb = '_';
            size_t sub = diag + (ca != cb);
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            diag = row[j];
            row[j] = sub < best ? sub : best;
        }
    }
    return row[m];
}

const char *joule_nearest(const char *word, const char *const *cand, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    /* A third of the word, at least 2 and at most 3 edits: "q4" finds "q4_0",
     * "xyzzy" finds nothing. */
    size_t limit = strlen(word) / 3 + 1;
    limit = limit < 2 ? 2 : limit > 3 ? 3 : limit;
    for (size_t i = 0; i < n; i++) {
        size_t d = joule_edit_distance(word, cand[i]);
        /* A word the candidate starts with ("quick" of "quick-test") is a
         * near miss whatever the length of the rest. */
        if (strlen(word) >= 3 && strncasecmp(cand[i], word, strlen(word)) == 0 && d > 1)
            d = 1;
        const char *dot = strrchr(cand[i], '.');
        if (dot && !strchr(word, '.')) {
            size_t d2 = joule_edit_distance(word, dot + 1);
            if (d2 < d)
                d = d2;
        }
        if (d < best_d) {
            best_d = d;
            best = cand[i];
        }
    }
    return best_d <= limit ? best : NULL;
}
