/* test_eval.c - scoring against answers worked by hand: ROUGE-1/2/L (as
 * the rouge_score package defines them), the Porter (1980) stemmer on the
 * paper's own examples, exact match, numeric answers. */
#include "test.h"

#include "score.h"

#include <math.h>
#include <string.h>

static void rouge(const char *cand, const char *ref, int stem, struct joule_eval_rouge out[3])
{
    CHECK(joule_eval_rouge(cand, ref, stem, out) == JOULE_OK);
}

#define CHECK_PRF(x, P, R, F)                                                                      \
    do {                                                                                           \
        CHECK_NEAR((x).p, (P), 1e-12);                                                             \
        CHECK_NEAR((x).r, (R), 1e-12);                                                             \
        CHECK_NEAR((x).f, (F), 1e-12);                                                             \
    } while (0)

static void test_rouge(void)
{
    struct joule_eval_rouge r[3];
    /* Identical texts: every score 1. */
    rouge("the cat sat on the mat", "the cat sat on the mat", 0, r);
    for (int k = 0; k < 3; k++)
        CHECK_PRF(r[k], 1, 1, 1);
    /* Nothing shared: 0. */
    rouge("dogs bark", "cats purr", 0, r);
    for (int k = 0; k < 3; k++)
        CHECK_PRF(r[k], 0, 0, 0);
    /* An empty candidate (or one of punctuation only): 0, not NaN. */
    rouge("", "the cat", 0, r);
    CHECK_PRF(r[0], 0, 0, 0);
    rouge("?!", "the cat", 0, r);
    CHECK_PRF(r[2], 0, 0, 0);
    /* Clipping: candidate "the" x4, reference "the cat".  Unigram overlap
     * min(4, 1) = 1: P = 1/4, R = 1/2, F = 2(1/8)/(3/4) = 1/3.  Bigrams:
     * "the the" x3 vs "the cat": 0.  LCS = 1: same as unigrams. */
    rouge("the the the the", "the cat", 0, r);
    CHECK_PRF(r[0], 0.25, 0.5, 1.0 / 3);
    CHECK_PRF(r[1], 0, 0, 0);
    CHECK_PRF(r[2], 0.25, 0.5, 1.0 / 3);
    /* Case and punctuation are not tokens: "Hello, WORLD!" = "hello world". */
    rouge("Hello, WORLD!", "hello world", 0, r);
    CHECK_PRF(r[0], 1, 1, 1);
    CHECK_PRF(r[1], 1, 1, 1);
    /* Bigrams: cand "a b c d" (3 bigrams ab bc cd), ref "a b d c" (ab bd dc):
     * overlap 1 -> P = R = F = 1/3.  Unigrams all 4 shared -> 1.  LCS of
     * abcd and abdc is 3 (abc or abd): P = R = F = 3/4. */
    rouge("a b c d", "a b d c", 0, r);
    CHECK_PRF(r[0], 1, 1, 1);
    CHECK_PRF(r[1], 1.0 / 3, 1.0 / 3, 1.0 / 3);
    CHECK_PRF(r[2], 0.75, 0.75, 0.75);
    /* LCS below unigram overlap: cand "c b a" vs ref "a b c": unigrams 3/3,
     * LCS 1 (no two in the same order): 1/3. */
    rouge("c b a", "a b c", 0, r);
    CHECK_PRF(r[0], 1, 1, 1);
    CHECK_PRF(r[2], 1.0 / 3, 1.0 / 3, 1.0 / 3);
    /* Different lengths: cand "police killed the gunman" (4), ref "police
     * kill the gunman" (4) without stemming: unigrams police, the, gunman =
     * 3: P = R = 3/4.  Bigrams: "the gunman" only: 1/3.  LCS 3: 3/4. */
    rouge("police killed the gunman", "police kill the gunman", 0, r);
    CHECK_PRF(r[0], 0.75, 0.75, 0.75);
    CHECK_PRF(r[1], 1.0 / 3, 1.0 / 3, 1.0 / 3);
    /* Stemming joins "running" and "runs" to "run" (both longer than 3);
     * "ran" stays.  Without it nothing is shared. */
    rouge("running fast", "runs fast", 0, r);
    CHECK_PRF(r[0], 0.5, 0.5, 0.5);
    rouge("running fast", "runs fast", 1, r);
    CHECK_PRF(r[0], 1, 1, 1);
    CHECK_PRF(r[1], 1, 1, 1);
    /* Digits are tokens, other bytes separators (UTF-8 included). */
    rouge("caf\xc3\xa9 42", "caf 42", 0, r);
    CHECK_PRF(r[0], 1, 1, 1);
    /* P and R differ: cand "a b" vs ref "a b c d": P = 1, R = 1/2, F = 2/3. */
    rouge("a b", "a b c d", 0, r);
    CHECK_PRF(r[0], 1, 0.5, 2.0 / 3);
    CHECK_PRF(r[1], 1, 1.0 / 3, 0.5);
}

static void test_porter(void)
{
    /* The examples of Porter's 1980 paper, step by step, and a few whole
     * words through every step. */
    static const char *const pairs[][2] = {
        {"caresses", "caress"},
        {"ponies", "poni"},
        {"ties", "ti"},
        {"caress", "caress"},
        {"cats", "cat"},
        {"feed", "feed"},
        {"agreed", "agre"},
        {"plastered", "plaster"},
        {"bled", "bled"},
        {"motoring", "motor"},
        {"sing", "sing"},
        {"conflated", "conflat"},
        {"troubled", "troubl"},
        {"sized", "size"},
        {"hopping", "hop"},
        {"tanned", "tan"},
        {"falling", "fall"},
        {"hissing", "hiss"},
        {"fizzed", "fizz"},
        {"failing", "fail"},
        {"filing", "file"},
        {"happy", "happi"},
        {"sky", "sky"},
        {"relational", "relat"},
        {"conditional", "condit"},
        {"rational", "ration"},
        {"valenci", "valenc"},
        {"hesitanci", "hesit"},
        {"digitizer", "digit"},
        {"conformabli", "conform"},
        {"radicalli", "radic"},
        {"differentli", "differ"},
        {"vileli", "vile"},
        {"analogousli", "analog"},
        {"vietnamization", "vietnam"},
        {"predication", "predic"},
        {"operator", "oper"},
        {"feudalism", "feudal"},
        {"decisiveness", "decis"},
        {"hopefulness", "hope"},
        {"callousness", "callous"},
        {"formaliti", "formal"},
        {"sensitiviti", "sensit"},
        {"sensibiliti", "sensibl"},
        {"triplicate", "triplic"},
        {"formative", "form"},
        {"formalize", "formal"},
        {"electriciti", "electr"},
        {"electrical", "electr"},
        {"hopeful", "hope"},
        {"goodness", "good"},
        {"revival", "reviv"},
        {"allowance", "allow"},
        {"inference", "infer"},
        {"airliner", "airlin"},
        {"gyroscopic", "gyroscop"},
        {"adjustable", "adjust"},
        {"defensible", "defens"},
        {"irritant", "irrit"},
        {"replacement", "replac"},
        {"adjustment", "adjust"},
        {"dependent", "depend"},
        {"adoption", "adopt"},
        {"homologou", "homolog"},
        {"communism", "commun"},
        {"activate", "activ"},
        {"angulariti", "angular"},
        {"homologous", "homolog"},
        {"effective", "effect"},
        {"bowdlerize", "bowdler"},
        {"probate", "probat"},
        {"rate", "rate"},
        {"cease", "ceas"},
        {"controll", "control"},
        {"roll", "roll"},
        {"generalizations", "gener"},
        {"oscillators", "oscil"},
        {"running", "run"},
        {"runs", "run"},
        {"killed", "kill"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char out[64];
        size_t n = joule_eval_porter(pairs[i][0], strlen(pairs[i][0]), out);
        if (strcmp(out, pairs[i][1]) != 0)
            fprintf(stderr, "  porter(%s) = %s, want %s\n", pairs[i][0], out, pairs[i][1]);
        CHECK_STR(out, pairs[i][1]);
        CHECK(n == strlen(out));
    }
}

static void test_exact(void)
{
    CHECK(joule_eval_exact("Mercury", "Mercury"));
    CHECK(joule_eval_exact(" mercury. ", "Mercury"));
    CHECK(joule_eval_exact("The Heart", "heart"));               /* articles dropped */
    CHECK(joule_eval_exact("Paris\nIt is in France.", "Paris")); /* first line only */
    CHECK(!joule_eval_exact("Venus", "Mercury"));
    CHECK(!joule_eval_exact("It is Mercury", "Mercury"));
    CHECK(!joule_eval_exact("", "Mercury"));
    CHECK(joule_eval_exact("", "the")); /* both normalize to "" */
    CHECK(joule_eval_exact("New   York!", "new york"));
    CHECK(!joule_eval_exact("theatre", "atre")); /* only whole-word articles */
}

static void test_numbers(void)
{
    double v = 0;
    CHECK(joule_eval_number("so 161 - 125 = 36 loaves.\n#### 36", &v) && v == 36);
    CHECK(joule_eval_number("#### 1,234", &v) && v == 1234);
    CHECK(joule_eval_number("It costs $12.50 in total.", &v) && v == 12.5);
    CHECK(joule_eval_number("The change is -3 degrees", &v) && v == -3);
    CHECK(joule_eval_number("The answer is 42.", &v) && v == 42);
    CHECK(joule_eval_number("3, 4 and 5", &v) && v == 5); /* three numbers */
    CHECK(joule_eval_number("1,234,567 people", &v) && v == 1234567);
    CHECK(joule_eval_number("up 15% from 20", &v) && v == 20);
    CHECK(joule_eval_number("#### 7 then 9 #### 8 or 10", &v) && v == 8); /* last mark */
    CHECK(joule_eval_number("x-1", &v) && v == 1);                        /* a hyphen, not a sign */
    CHECK(!joule_eval_number("no number here", &v));
    CHECK(!joule_eval_number("####", &v));
    CHECK(joule_eval_numeric_match("... so the total is 618.", "618"));
    CHECK(joule_eval_numeric_match("#### 618.0", "618"));
    CHECK(joule_eval_numeric_match("#### 1,234", "1234"));
    CHECK(!joule_eval_numeric_match("#### 617", "618"));
    CHECK(!joule_eval_numeric_match("I do not know", "618"));
}

int main(void)
{
    RUN(test_rouge);
    RUN(test_porter);
    RUN(test_exact);
    RUN(test_numbers);
    TEST_MAIN_END();
}
