/*
 * fuzz_dataset.c - libFuzzer target for the dataset loader.
 *
 * The loader reads files, so the input is written to a temporary file under
 * each extension that picks a container (.jsonl, .json, .csv, .txt, and one
 * the loader must sniff), then loaded with format auto, with skip_bad off
 * and on.  Whatever is accepted is walked field by field so the sanitizers
 * see every string, and the promises of the API are checked: a failure
 * leaves no dataset and says why, skip_bad changes nothing in a file a
 * strict load accepts, every sample has an id and a prompt, and a multiple-choice
 * sample's answer names its correct choice.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined against joule_static;
 * driver.c replays fuzz/corpus/dataset/ without libFuzzer.
 */
#define _POSIX_C_SOURCE 200809L
#include "joule.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk_str(const char *s)
{
    return s ? strlen(s) : 0;
}

static void walk(const struct joule_dataset *d)
{
    volatile size_t sink = 0;
    size_t n = joule_dataset_count(d);
    if (n == 0 || !joule_dataset_format(d) || !joule_dataset_source(d))
        abort(); /* an accepted dataset is never empty */
    for (size_t i = 0; i < n; i++) {
        const struct joule_sample *s = joule_dataset_get(d, i);
        if (!s || !s->id || !s->prompt || !s->prompt[0])
            abort();
        sink += walk_str(s->id) + walk_str(s->prompt) + walk_str(s->input) +
                walk_str(s->reference) + walk_str(s->answer) + walk_str(s->system);
        if (s->n_choices > 0) {
            if (!s->choices || s->correct < 0 || s->correct >= s->n_choices || !s->answer ||
                s->answer[0] != 'A' + s->correct)
                abort();
            for (int32_t c = 0; c < s->n_choices; c++)
                sink += walk_str(s->choices[c]);
        } else if (s->choices || s->correct != -1) {
            abort();
        }
    }
    if (joule_dataset_get(d, n) != NULL)
        abort();
    (void)sink;
}

/* Loads path; returns the sample count, or 0 on failure. */
static size_t load(const char *path, int skip_bad, int shuffle)
{
    struct joule_dataset_params p = joule_dataset_default_params();
    struct joule_dataset *d = NULL;
    char err[512];
    err[0] = '\0';
    p.source = path;
    p.skip_bad = skip_bad;
    p.shuffle = shuffle;
    p.sample_size = shuffle ? 3 : 0;
    enum joule_status st = joule_dataset_load(&p, &d, err, sizeof(err));
    if (st != JOULE_OK) {
        if (d || !err[0])
            abort(); /* failures leave nothing behind and say why */
        return 0;
    }
    walk(d);
    size_t n = joule_dataset_count(d);
    if (shuffle && n > 3)
        abort();
    if (!skip_bad && joule_dataset_skipped(d) != 0)
        abort();
    joule_dataset_free(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const exts[] = {".jsonl", ".json", ".csv", ".txt", ".data"};
    const char *tmp = getenv("TMPDIR");
    char path[512];
    for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
        snprintf(path, sizeof(path), "%s/joule-fuzz-dataset-%ld%s", tmp ? tmp : "/tmp",
                 (long)getpid(), exts[e]);
        FILE *f = fopen(path, "wb");
        if (!f)
            return 0;
        int ok = fwrite(data, 1, size, f) == size;
        if (fclose(f) != 0 || !ok) {
            unlink(path);
            return 0;
        }
        size_t strict = load(path, 0, 0);
        size_t lenient = load(path, 1, 0);
        /* skip_bad only ever adds samples a strict load refused */
        if (strict && lenient != strict)
            abort();
        load(path, 1, 1);
        unlink(path);
    }
    return 0;
}
