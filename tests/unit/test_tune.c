/* test_tune.c - prompt spaces, samplers, objectives, halving, trials.csv. */
#include "space.h"

#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- spaces ---------------------------------------------------------------- */

static struct joule_tune_space *parse(const char *text, char *err, size_t err_size)
{
    struct joule_tune_space *s = NULL;
    enum joule_status st = joule_tune_space_parse("t.yaml", text, strlen(text), &s, err, err_size);
    if (st != JOULE_OK)
        return NULL;
    return s;
}

/* The error of text, which must be refused. */
static const char *refusal(const char *text)
{
    static char err[512];
    struct joule_tune_space *s = parse(text, err, sizeof(err));
    if (s) {
        joule_tune_space_free(s);
        return "(accepted)";
    }
    return err;
}

static void test_default_space(void)
{
    struct joule_tune_space *s = NULL;
    CHECK(joule_tune_space_default(&s) == JOULE_OK);
    CHECK(s->n_factors == 4);
    CHECK_STR(s->factors[0].name, "style");
    CHECK_STR(s->factors[1].name, "reasoning");
    CHECK_STR(s->factors[2].name, "format");
    CHECK_STR(s->factors[3].name, "brevity");
    CHECK(joule_tune_space_size(s) == 108);
    CHECK_STR(s->factors[3].levels[3].name, "word50");

    /* Every combination has its own key, and keys parse back. */
    char keys[108][160];
    int distinct = 1, roundtrip = 1;
    for (uint32_t i = 0; i < 108; i++) {
        struct joule_tune_cfg c = joule_tune_cfg_at(s, i), d;
        CHECK(joule_tune_cfg_index(s, &c) == i);
        char err[128];
        if (joule_tune_cfg_key(s, &c, keys[i], sizeof(keys[i])) != JOULE_OK ||
            joule_tune_cfg_parse(s, keys[i], &d, err, sizeof(err)) != JOULE_OK ||
            memcmp(&c, &d, sizeof(c)) != 0)
            roundtrip = 0;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(keys[i], keys[j]) == 0)
                distinct = 0;
    }
    CHECK(distinct);
    CHECK(roundtrip);
    CHECK_STR(keys[0], "style=concise,reasoning=none,format=free,brevity=none");
    CHECK_STR(keys[1], "style=concise,reasoning=none,format=free,brevity=1sent");
    CHECK_STR(keys[107], "style=stepwise,reasoning=bounded,format=json,brevity=word50");

    /* Rendering: no system text at all leaves no blank lines on top. */
    struct joule_tune_cfg c = joule_tune_cfg_at(s, 0);
    char *p = NULL;
    CHECK(joule_tune_render(s, &c, "DOC", &p) == JOULE_OK);
    CHECK_STR(p, "You are a careful assistant who writes short, plain answers.\n\n"
                 "Summarize the following text.\n\nDOC");
    free(p);
    char err[200];
    CHECK(joule_tune_cfg_parse(s, "brevity=word50,format=bullets,reasoning=bounded,style=role", &c,
                               err, sizeof(err)) == JOULE_OK);
    CHECK(joule_tune_render(s, &c, "DOC", &p) == JOULE_OK);
    CHECK_STR(p, "You are an experienced news editor who condenses articles for busy readers. "
                 "If you need to reason, use no more than two short steps.\n\n"
                 "Summarize the following text. Give the answer as three bullet points. "
                 "Stay under 50 words.\n\nDOC");
    free(p);
    CHECK(joule_tune_render_slot(s, &c, JOULE_TUNE_SLOT_INSTRUCTION, &p) == JOULE_OK);
    CHECK_STR(p, "Summarize the following text. Give the answer as three bullet points. "
                 "Stay under 50 words.");
    free(p);

    /* Keys that are not keys of the space. */
    CHECK(joule_tune_cfg_parse(s, "style=rol,reasoning=none,format=free,brevity=none", &c, err,
                               sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK_STR(err, "style: unknown level 'rol' (did you mean 'role'?)");
    CHECK(joule_tune_cfg_parse(s, "stile=role", &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK_STR(err, "unknown factor 'stile' (did you mean 'style'?)");
    CHECK(joule_tune_cfg_parse(s, "style=role,reasoning=none,format=free", &c, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK_STR(err, "factor brevity has no level");
    CHECK(joule_tune_cfg_parse(s, "style=role,style=concise", &c, err, sizeof(err)) ==
          JOULE_ERR_FORMAT);
    CHECK_STR(err, "factor style is given twice");
    CHECK(joule_tune_cfg_parse(s, "style", &c, err, sizeof(err)) == JOULE_ERR_FORMAT);
    joule_tune_space_free(s);
}

static void test_space_yaml(void)
{
    char err[512];
    struct joule_tune_space *s = parse("name: qa\n"
                                       "template: \"[{system}] {{{instruction}}} {input}\"\n"
                                       "instruction: Answer.\n"
                                       "factors:\n"
                                       "  tone:\n"
                                       "    levels: {plain: ~, kind: Be kind.}\n"
                                       "  length:\n"
                                       "    slot: instruction\n"
                                       "    levels:\n"
                                       "      short: Be short.\n"
                                       "      long: ''\n",
                                       err, sizeof(err));
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_STR(s->name, "qa");
    CHECK(joule_tune_space_size(s) == 4);
    CHECK(s->factors[0].slot == JOULE_TUNE_SLOT_SYSTEM);
    CHECK(s->factors[1].slot == JOULE_TUNE_SLOT_INSTRUCTION);
    struct joule_tune_cfg c = joule_tune_cfg_at(s, 2); /* kind, short */
    char *p = NULL;
    CHECK(joule_tune_render(s, &c, "Q?", &p) == JOULE_OK);
    CHECK_STR(p, "[Be kind.] {Answer. Be short.} Q?");
    free(p);
    c = joule_tune_cfg_at(s, 1); /* plain, long: {system} is empty and takes the space after it */
    CHECK(joule_tune_render(s, &c, "Q?", &p) == JOULE_OK);
    CHECK_STR(p, "[] {Answer.} Q?");
    free(p);
    joule_tune_space_free(s);

    /* The default template and name when the file leaves them out. */
    s = parse("factors: {a: {levels: {x: X}}}\n", err, sizeof(err));
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->name, "custom");
        c = joule_tune_cfg_at(s, 0);
        CHECK(joule_tune_render(s, &c, "IN", &p) == JOULE_OK);
        CHECK_STR(p, "X\n\nIN");
        free(p);
        joule_tune_space_free(s);
    }

    /* Refusals name the file, line and column. */
    CHECK_STR(refusal("nmae: x\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: unknown key 'nmae' (did you mean 'name'?)");
    CHECK_STR(refusal("factors:\n  a:\n    level: {x: X}\n"),
              "t.yaml:3:5: unknown key 'level' in factor a (did you mean 'levels'?)");
    CHECK_STR(refusal("factors:\n  a:\n    zzzzzz: 1\n"),
              "t.yaml:3:5: unknown key 'zzzzzz' in factor a (allowed: slot, levels)");
    CHECK_STR(refusal("factors:\n  a:\n    slot: sytem\n    levels: {x: X}\n"),
              "t.yaml:3:5: a.slot: 'sytem' is not a slot (allowed: system, instruction); "
              "did you mean 'system'?");
    CHECK_STR(refusal("factors:\n  a:\n    slot: system\n"),
              "t.yaml:2:3: factor a has no levels (add levels: {name: text})");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: X, x: Y}}\n"),
              "t.yaml:2:22: level 'x' of a is listed twice");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: X}}\n  a: {levels: {y: Y}}\n"),
              "t.yaml:3:3: factor 'a' is listed twice");
    CHECK_STR(refusal("factors:\n  a b: {levels: {x: X}}\n"),
              "t.yaml:2:3: factor 'a b': names are 1-31 of A-Z a-z 0-9 _ . -");
    CHECK_STR(refusal("factors:\n  a: {levels: {x: [1, 2]}}\n"),
              "t.yaml:2:19: a.x takes text, not a list");
    CHECK_STR(refusal("template: \"{system} {inpt}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: unknown slot at byte 10 (slots are {system}, {instruction} "
              "and {input}; write {{ for a literal brace)");
    CHECK_STR(refusal("template: \"{system}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: it has no {input} slot, so the task text would be lost");
    CHECK_STR(refusal("template: \"a } {input}\"\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:1:1: template: a lone '}' at byte 3 (write }} for a literal brace)");
    CHECK_STR(refusal("name: x\n"), "t.yaml:1:1: the space has no factors (add factors: ...)");
    CHECK_STR(refusal(""), "t.yaml:1:1: a prompt space is a mapping with the keys name, "
                           "template, system, instruction and factors");
    CHECK_STR(refusal("- a\n"), "t.yaml:1:1: a prompt space is a mapping with the keys name, "
                                "template, system, instruction and factors");
    CHECK_STR(refusal("name: a\nname: b\nfactors: {a: {levels: {x: X}}}\n"),
              "t.yaml:2:1: 'name' is set twice");
    CHECK_STR(refusal("factors: {a: {levels: {x: X}}}\n---\nname: b\n"),
              "t.yaml:2:1: one YAML document expected, found a second");
    CHECK_STR(refusal("name: [\n"), "t.yaml:1:7: name takes text, not a list");
    CHECK(strncmp(refusal("name: 'x\n"), "t.yaml:2:1: YAML syntax: ", 25) == 0);

    /* Too many combinations: 5 factors of 30 levels = 24.3 million. */
    char big[8192] = "factors:\n";
    for (int f = 0; f < 5; f++) {
        size_t o = strlen(big);
        snprintf(big + o, sizeof(big) - o, "  f%d:\n    levels:\n", f);
        for (int l = 0; l < 30; l++) {
            o = strlen(big);
            snprintf(big + o, sizeof(big) - o, "      l%d: t\n", l);
        }
    }
    CHECK(strstr(refusal(big), "the space has more than 16777216 combinations with factor f4") !=
          NULL);
}

int main(void)
{
    RUN(test_default_space);
    RUN(test_space_yaml);
    TEST_MAIN_END();
}
