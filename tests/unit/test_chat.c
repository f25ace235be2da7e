/*
 * test_chat.c - chat templates: each family recognised from a realistic
 * Jinja snippet, and the exact text rendered for a system + user +
 * assistant + user conversation and for one user message.
 */
#include "chat.h"
#include "test.h"

#include <stdlib.h>

static const struct {
    const char *jinja;
    enum joule_chat_template want;
} detect_cases[] = {
    {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
     "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
     JOULE_CHAT_CHATML},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
     "{{ '[INST] <<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}{% endif %}{% endfor %}",
     JOULE_CHAT_LLAMA2},
    {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
     "message['content'] | trim + '<|eot_id|>' %}{% endfor %}",
     JOULE_CHAT_LLAMA3},
    {"{% for message in messages %}{% if message['role'] == 'user' %}{{'<|user|>' + '\\n' + "
     "message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% endif %}{% endfor %}",
     JOULE_CHAT_PHI3},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
     "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + "
     "eos_token}}{% endif %}{% endfor %}",
     JOULE_CHAT_MISTRAL},
    {"{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + "
     "message['content'] + eos_token }}{% endif %}{% endfor %}",
     JOULE_CHAT_ZEPHYR},
    {"{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + "
     "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}",
     JOULE_CHAT_GEMMA},
    {"{% for m in messages %}{{ m['content'] }}{% endfor %}", JOULE_CHAT_NONE},
    {"", JOULE_CHAT_NONE},
};

static void test_detect(void)
{
    for (size_t i = 0; i < sizeof(detect_cases) / sizeof(detect_cases[0]); i++) {
        const enum joule_chat_template got = joule_chat_detect(detect_cases[i].jinja);
        CHECK(got == detect_cases[i].want);
        if (got != detect_cases[i].want)
            fprintf(stderr, "  case %zu: got %s\n", i, joule_chat_template_name(got));
    }
    CHECK(joule_chat_detect(NULL) == JOULE_CHAT_NONE);
    enum joule_chat_template t;
    CHECK(joule_chat_template_from_name("phi-3", &t) == JOULE_OK && t == JOULE_CHAT_PHI3);
    CHECK(joule_chat_template_from_name("jinja", &t) == JOULE_ERR_NOT_FOUND);
    CHECK_STR(joule_chat_template_name(JOULE_CHAT_LLAMA3), "llama-3");
}

static const struct joule_chat_msg convo[] = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello."},
    {"user", "Cost?"},
};

static const struct {
    enum joule_chat_template t;
    const char *full; /* the conversation, with the generation prompt */
    const char *one;  /* one user message "Hi", with the generation prompt */
} render_cases[] = {
    {JOULE_CHAT_CHATML,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
     "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nCost?<|im_end|>\n"
     "<|im_start|>assistant\n",
     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
    {JOULE_CHAT_LLAMA2,
     "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s><s>[INST] Cost? [/INST]",
     "[INST] Hi [/INST]"},
    {JOULE_CHAT_LLAMA3,
     "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nCost?<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n",
     "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {JOULE_CHAT_PHI3,
     "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
     "<|user|>\nCost?<|end|>\n<|assistant|>\n",
     "<|user|>\nHi<|end|>\n<|assistant|>\n"},
    {JOULE_CHAT_MISTRAL, "[INST] Be brief.\n\nHi [/INST] Hello.</s><s>[INST] Cost? [/INST]",
     "[INST] Hi [/INST]"},
    {JOULE_CHAT_ZEPHYR,
     "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n"
     "<|user|>\nCost?</s>\n<|assistant|>\n",
     "<|user|>\nHi</s>\n<|assistant|>\n"},
    {JOULE_CHAT_GEMMA,
     "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello."
     "<end_of_turn>\n<start_of_turn>user\nCost?<end_of_turn>\n<start_of_turn>model\n",
     "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"},
};

static void test_render(void)
{
    char err[200];
    for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
        char *out = NULL;
        size_t len = 0;
        CHECK(joule_chat_apply(render_cases[i].t, convo, 4, true, &out, &len, err,
                               sizeof(err)) == JOULE_OK);
        CHECK_STR(out, render_cases[i].full);
        CHECK(out && len == strlen(out));
        free(out);
        out = NULL;
        CHECK(joule_chat_apply(render_cases[i].t, convo + 1, 1, true, &out, &len, err,
                               sizeof(err)) == JOULE_OK);
        CHECK_STR(out, render_cases[i].one);
        free(out);
    }
}

static void test_errors(void)
{
    char err[200], *out = (char *)1;
    size_t len;
    const struct joule_chat_msg bad[] = {{"tool", "x"}};
    CHECK(joule_chat_apply(JOULE_CHAT_CHATML, bad, 1, true, &out, &len, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    CHECK(out == NULL && strstr(err, "'tool'") != NULL);
    CHECK(joule_chat_apply(JOULE_CHAT_NONE, convo, 1, true, &out, &len, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    const struct joule_chat_msg nul[] = {{"user", NULL}};
    CHECK(joule_chat_apply(JOULE_CHAT_PHI3, nul, 1, true, &out, &len, err, sizeof(err)) ==
          JOULE_ERR_INVALID);
    /* No generation prompt: the conversation alone. */
    CHECK(joule_chat_apply(JOULE_CHAT_CHATML, convo + 1, 1, false, &out, &len, err,
                           sizeof(err)) == JOULE_OK);
    CHECK_STR(out, "<|im_start|>user\nHi<|im_end|>\n");
    free(out);
}

int main(void)
{
    RUN(test_detect);
    RUN(test_render);
    RUN(test_errors);
    TEST_MAIN_END();
}
