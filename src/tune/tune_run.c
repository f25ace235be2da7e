/*
 * tune_run.c - prompt configurations run on the engine, measured and scored;
 * the tuning loop with successive halving and resume (see tune_run.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "tune_run.h"

#include "alloc.h"
#include "halving.h"
#include "joule_int.h"
#include "score.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_WINDOW "joule-tune-batch"
#define TUNING_WINDOW "joule-tune"

/* --- one configuration on a set of examples -------------------------------- */

static const char *input_of(const struct joule_sample *s)
{
    return s->input ? s->input : s->prompt;
}

static const char *reference_of(const struct joule_sample *s, enum joule_eval_task task)
{
    if (task == JOULE_EVAL_ROUGE)
        return s->reference;
    return s->answer ? s->answer : s->reference;
}

enum joule_status joule_tune_check_data(const struct joule_tune_exec *x, char *err, size_t err_size)
{
    if (x->task != JOULE_EVAL_ROUGE && x->task != JOULE_EVAL_EXACT &&
        x->task != JOULE_EVAL_NUMERIC) {
        joule_fmt(err, err_size, "task %s does not score generated text (rouge, exact, numeric)",
                  joule_eval_task_name(x->task));
        return JOULE_ERR_INVALID;
    }
    for (size_t i = 0; i < joule_dataset_count(x->data); i++) {
        const struct joule_sample *s = joule_dataset_get(x->data, i);
        if (!input_of(s)) {
            joule_fmt(err, err_size, "%s: sample %s has no input text",
                      joule_dataset_source(x->data), s->id ? s->id : "?");
            return JOULE_ERR_INVALID;
        }
        if (!reference_of(s, x->task)) {
            joule_fmt(err, err_size,
                      "%s: sample %s has no %s to score against (task %s needs one in every "
                      "sample)",
                      joule_dataset_source(x->data), s->id ? s->id : "?",
                      x->task == JOULE_EVAL_ROUGE ? "reference" : "answer",
                      joule_eval_task_name(x->task));
            return JOULE_ERR_INVALID;
        }
    }
    return JOULE_OK;
}

static double score_of(enum joule_eval_task task, const char *text, const char *ref, int *oom)
{
    if (task == JOULE_EVAL_EXACT)
        return joule_eval_exact(text, ref);
    if (task == JOULE_EVAL_NUMERIC)
        return joule_eval_numeric_match(text, ref);
    struct joule_eval_rouge r[3];
    enum joule_status st = joule_eval_rouge(text, ref, 0, r);
    if (st == JOULE_ERR_NOMEM)
        *oom = 1;
    return st == JOULE_OK ? r[2].f : 0.0;
}

struct gen_ctx {
    struct joule_tune_example *out; /* indexed by request user */
    int oom;
};

static void on_done(void *user, const struct joule_request_result *r)
{
    struct gen_ctx *g = user;
    struct joule_tune_example *ex = &g->out[(size_t)(uintptr_t)r->user];
    free(ex->text);
    ex->text = malloc(r->text_len + 1);
    if (!ex->text) {
        g->oom = 1;
    } else {
        memcpy(ex->text, r->text, r->text_len);
        ex->text[r->text_len] = '\0';
    }
    ex->n_input = r->n_input;
    ex->n_output = r->n_output;
    ex->latency_s = r->t_done - r->t_admit;
}

/* Steps until nothing is pending; on a stop request the batch is cancelled
 * (its requests finish at the next step). */
static enum joule_status drain(const struct joule_tune_exec *x, const uint64_t *ids, size_t n,
                               int *stopped, char *err, size_t err_size)
{
    while (joule_engine_pending(x->engine) > 0) {
        if (x->stop && *x->stop && !*stopped) {
            *stopped = 1;
            for (size_t i = 0; i < n; i++)
                (void)joule_engine_cancel(x->engine, ids[i]);
        }
        int ran = 0;
        enum joule_status st = joule_engine_step(x->engine, &ran, err, err_size);
        if (st != JOULE_OK)
            return st;
        if (!ran)
            break;
    }
    return JOULE_OK;
}

void joule_tune_examples_clear(struct joule_tune_example *ex, size_t n)
{
    for (size_t i = 0; ex && i < n; i++) {
        free(ex[i].text);
        memset(&ex[i], 0, sizeof(ex[i]));
    }
}

enum joule_status joule_tune_generate(const struct joule_tune_exec *x,
                                      const struct joule_tune_cfg *c, size_t from, size_t to,
                                      struct joule_tune_example *out, int *stopped, char *err,
                                      size_t err_size)
{
    *stopped = 0;
    if (to <= from)
        return JOULE_OK;
    memset(out, 0, (to - from) * sizeof(*out));
    struct joule_engine_info info;
    joule_engine_get_info(x->engine, &info);
    const size_t batch = info.n_seq > 0 ? (size_t)info.n_seq : 1;
    uint64_t *ids = joule_calloc(batch, sizeof(*ids));
    char *sys = NULL;
    if (!ids || (x->chat &&
                 joule_tune_render_slot(x->space, c, JOULE_TUNE_SLOT_SYSTEM, &sys) != JOULE_OK)) {
        free(ids);
        joule_fmt(err, err_size, "out of memory");
        return JOULE_ERR_NOMEM;
    }
    struct gen_ctx g = {out, 0};
    const struct joule_engine_callbacks cb = {NULL, NULL, on_done, &g};
    joule_engine_set_callbacks(x->engine, &cb);
    enum joule_status st = JOULE_OK;
    for (size_t at = from; at < to && st == JOULE_OK && !*stopped;) {
        const size_t end = to - at < batch ? to : at + batch;
        size_t n = 0;
        /* Rendered and tokenized (at submit) before the window opens. */
        for (size_t i = at; i < end && st == JOULE_OK; i++) {
            const struct joule_sample *s = joule_dataset_get(x->data, i);
            char *prompt = NULL;
            st = x->chat ? joule_tune_render_user(x->space, c, input_of(s), &prompt)
                         : joule_tune_render(x->space, c, input_of(s), &prompt);
            if (st != JOULE_OK) {
                joule_fmt(err, err_size, "out of memory");
                break;
            }
            struct joule_request r;
            joule_request_default(&r);
            r.prompt = prompt;
            r.prompt_len = strlen(prompt);
            r.chat = x->chat;
            r.system = x->chat && sys[0] ? sys : NULL;
            r.max_tokens = x->max_tokens;
            r.user = (void *)(uintptr_t)(i - from);
            st = joule_engine_submit(x->engine, &r, &ids[n], err, err_size);
            free(prompt);
            if (st == JOULE_OK)
                n++;
        }
        if (st != JOULE_OK) {
            for (size_t k = 0; k < n; k++)
                (void)joule_engine_cancel(x->engine, ids[k]);
            char e2[256];
            (void)drain(x, ids, 0, stopped, e2, sizeof(e2));
            break;
        }
        struct joule_reading rd;
        memset(&rd, 0, sizeof(rd));
        rd.total_energy_j = NAN;
        rd.total_provenance = JOULE_PROV_UNAVAILABLE;
        const int metered = x->meter && joule_meter_begin(x->meter, BATCH_WINDOW) == JOULE_OK;
        st = drain(x, ids, n, stopped, err, err_size);
        if (metered && joule_meter_end(x->meter, BATCH_WINDOW, &rd) != JOULE_OK) {
            rd.total_energy_j = NAN;
            rd.total_provenance = JOULE_PROV_UNAVAILABLE;
        }
        if (st != JOULE_OK || *stopped)
            break;
        if (g.oom) {
            st = JOULE_ERR_NOMEM;
            joule_fmt(err, err_size, "out of memory");
            break;
        }
        /* The window's energy shared by the tokens each example put through. */
        double tokens = 0;
        for (size_t i = at; i < end; i++)
            tokens += (double)out[i - from].n_input + (double)out[i - from].n_output;
        for (size_t i = at; i < end; i++) {
            struct joule_tune_example *ex = &out[i - from];
            const double share = tokens > 0 ? ((double)ex->n_input + ex->n_output) / tokens : 0;
            ex->energy_j = rd.total_energy_j * share;
            ex->provenance = rd.total_provenance;
            const struct joule_sample *s = joule_dataset_get(x->data, i);
            ex->score =
                score_of(x->task, ex->text ? ex->text : "", reference_of(s, x->task), &g.oom);
        }
        if (g.oom) {
            st = JOULE_ERR_NOMEM;
            joule_fmt(err, err_size, "out of memory");
        }
        at = end;
    }
    joule_engine_set_callbacks(x->engine, NULL);
    free(ids);
    free(sys);
    return st;
}

double joule_tune_trial_accuracy(const struct joule_tune_trial *t, enum joule_eval_task task)
{
    return task == JOULE_EVAL_EXACT     ? t->exact
           : task == JOULE_EVAL_NUMERIC ? t->numeric
                                        : t->rouge_l;
}

void joule_tune_trial_metrics(struct joule_tune_trial *t, enum joule_eval_task task,
                              const struct joule_tune_example *ex, size_t n,
                              const struct joule_tune_weights *w)
{
    double acc = 0, energy = 0, latency = 0;
    uint64_t tokens = 0;
    enum joule_provenance worst = JOULE_PROV_MEASURED;
    for (size_t i = 0; i < n; i++) {
        acc += ex[i].score;
        energy += ex[i].energy_j;
        latency += ex[i].latency_s;
        tokens += ex[i].n_output > 0 ? (uint64_t)ex[i].n_output : 0;
        if (ex[i].provenance > worst)
            worst = ex[i].provenance;
    }
    t->rouge_l = t->exact = t->numeric = NAN;
    const double a = n ? acc / (double)n : NAN;
    if (task == JOULE_EVAL_EXACT)
        t->exact = a;
    else if (task == JOULE_EVAL_NUMERIC)
        t->numeric = a;
    else
        t->rouge_l = a;
    t->n_examples = (uint32_t)n;
    t->tokens_total = tokens;
    t->energy_total_j = n ? energy : NAN;
    t->tpj = n && energy > 0 ? (double)tokens / energy : NAN;
    t->latency_s = n ? latency / (double)n : NAN;
    t->energy_j_per_ex = n ? energy / (double)n : NAN;
    joule_strlcpy(t->energy_source, joule_provenance_str(n ? worst : JOULE_PROV_UNAVAILABLE),
                  sizeof(t->energy_source));
    t->value = joule_tune_objective(w, a, t->tpj, t->energy_total_j);
}

/* --- the tuning loop --------------------------------------------------------- */

struct tuner {
    const struct joule_tune_exec *x;
    const struct joule_tune_params *p;
    joule_tune_event_fn on_event;
    void *user;
    struct joule_tune_sampler *sampler;
    FILE *csv;
    struct joule_tune_outcome *out;
    size_t cap;
    char *err;
    size_t err_size;
};

static enum joule_status keep_trial(struct tuner *t, const struct joule_tune_trial *tr)
{
    struct joule_tune_outcome *o = t->out;
    if (o->n_trials == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        struct joule_tune_trial *n = realloc(o->trials, cap * sizeof(*n));
        if (!n) {
            joule_fmt(t->err, t->err_size, "out of memory");
            return JOULE_ERR_NOMEM;
        }
        o->trials = n;
        t->cap = cap;
    }
    o->trials[o->n_trials++] = *tr;
    return JOULE_OK;
}

static void event(struct tuner *t, const struct joule_tune_trial *tr, int resumed, uint32_t b,
                  uint32_t r, uint32_t n_running)
{
    if (!t->on_event)
        return;
    struct joule_tune_event ev = {tr, resumed, b, r, t->out->rungs[r], n_running};
    t->on_event(t->user, &ev);
}

/* Tells the sampler a finished trial: its value, and in Pareto mode its
 * objectives (energy per example, so that trials of different fidelity
 * compare). */
static enum joule_status tell(struct tuner *t, const struct joule_tune_trial *tr)
{
    if (!t->p->pareto)
        return joule_tune_sampler_tell(t->sampler, &tr->cfg, tr->value);
    const struct joule_tune_point pt = {joule_tune_trial_accuracy(tr, t->x->task),
                                        tr->energy_j_per_ex, tr->latency_s};
    return joule_tune_sampler_tell_point(t->sampler, &tr->cfg, tr->value, &pt);
}

/* A trial read back from trials.csv: told, kept, reported. */
static enum joule_status replay(struct tuner *t, const struct joule_tune_trial *tr, uint32_t b)
{
    enum joule_status st = tell(t, tr);
    if (st != JOULE_OK) {
        joule_fmt(t->err, t->err_size, "%s: trial %u does not fit the space", t->p->trials_path,
                  tr->number);
        return st;
    }
    if ((st = keep_trial(t, tr)) != JOULE_OK)
        return st;
    t->out->n_resumed++;
    event(t, tr, 1, b, 0, 0);
    return JOULE_OK;
}

/* A trial that ends now: its row appended (one write, flushed), told,
 * kept, reported. */
static enum joule_status finish_trial(struct tuner *t, struct joule_tune_trial *tr,
                                      enum joule_tune_state state, uint32_t b, uint32_t r)
{
    tr->state = state;
    if (state == JOULE_TUNE_FAIL)
        tr->value = NAN;
    enum joule_status st = joule_tune_trials_row(t->csv, t->x->space, tr);
    if (st == JOULE_OK && fflush(t->csv) != 0)
        st = JOULE_ERR_IO;
    if (st != JOULE_OK) {
        joule_fmt(t->err, t->err_size, "%s: cannot append trial %u: %s", t->p->trials_path,
                  tr->number, strerror(errno));
        return st;
    }
    if ((st = tell(t, tr)) != JOULE_OK ||
        (st = keep_trial(t, tr)) != JOULE_OK)
        return st;
    event(t, tr, 0, b, r, 0);
    return JOULE_OK;
}

/* The index in rows of trial `number`, or -1. */
static long row_of(const struct joule_tune_trial *rows, size_t n, uint32_t number)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].number == number)
            return (long)i;
    return -1;
}

static int cmp_number(const void *a, const void *b)
{
    const struct joule_tune_trial *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

/* One bracket: ask, run the rungs, prune, complete.  rows are the trials
 * read back; those of this bracket are replayed, and the rung decisions they
 * record are kept (see docs/internals/tune.md, "Resume"). */
static enum joule_status bracket(struct tuner *t, uint32_t b, uint32_t start, uint32_t size,
                                 const struct joule_tune_trial *rows, size_t n_rows,
                                 unsigned char *used)
{
    struct joule_tune_outcome *o = t->out;
    long *recs = joule_calloc(size, sizeof(*recs));
    struct joule_tune_trial *tr = joule_calloc(size, sizeof(*tr));
    struct joule_tune_example **ex = joule_calloc(size, sizeof(*ex));
    uint32_t *alive = joule_calloc(size, sizeof(*alive)), *kept = joule_calloc(size, sizeof(*kept));
    uint32_t *ids = joule_calloc(size, sizeof(*ids));
    double *vals = joule_calloc(size, sizeof(*vals));
    enum joule_status st = JOULE_OK;
    const size_t n_ex = o->rungs[o->n_rungs - 1];
    if (!recs || !tr || !ex || !alive || !kept || !ids || !vals) {
        st = JOULE_ERR_NOMEM;
        joule_fmt(t->err, t->err_size, "out of memory");
        goto done;
    }
    int all = 1;
    for (uint32_t i = 0; i < size; i++) {
        recs[i] = row_of(rows, n_rows, start + i);
        all &= recs[i] >= 0;
    }
    if (all) {
        /* Finished before: told as they are, nothing asked. */
        for (uint32_t i = 0; i < size && st == JOULE_OK; i++) {
            used[recs[i]] = 1;
            st = replay(t, &rows[recs[i]], b);
        }
        goto done;
    }
    uint32_t n_alive = 0;
    for (uint32_t i = 0; i < size; i++) {
        tr[i] = joule_tune_trial_init();
        tr[i].number = start + i;
        if ((st = joule_tune_sampler_ask(t->sampler, &tr[i].cfg)) != JOULE_OK) {
            joule_fmt(t->err, t->err_size, "the sampler has no configuration left");
            goto done;
        }
    }
    for (uint32_t i = 0; i < size && st == JOULE_OK; i++) {
        if (recs[i] < 0) {
            alive[n_alive++] = i;
            continue;
        }
        const struct joule_tune_trial *r = &rows[recs[i]];
        if (memcmp(&r->cfg, &tr[i].cfg, sizeof(r->cfg)) != 0) {
            char a[1024], k[1024];
            joule_tune_cfg_key(t->x->space, &r->cfg, a, sizeof(a));
            joule_tune_cfg_key(t->x->space, &tr[i].cfg, k, sizeof(k));
            joule_fmt(t->err, t->err_size,
                      "%s: trial %u is %s, but this run proposes %s there (another seed, "
                      "sampler or setting?); pass --fresh to start over or another --out",
                      t->p->trials_path, r->number, a, k);
            st = JOULE_ERR_FORMAT;
            goto done;
        }
        used[recs[i]] = 1;
        st = replay(t, r, b);
    }
    for (uint32_t k = 0; k < n_alive && st == JOULE_OK; k++)
        if (!(ex[alive[k]] = joule_calloc(n_ex, sizeof(**ex)))) {
            st = JOULE_ERR_NOMEM;
            joule_fmt(t->err, t->err_size, "out of memory");
        }
    uint32_t prev = 0;
    for (uint32_t r = 0; r < o->n_rungs && n_alive > 0 && st == JOULE_OK; r++) {
        const uint32_t want = o->rungs[r];
        event(t, NULL, 0, b, r, n_alive);
        uint32_t n_ok = 0;
        for (uint32_t k = 0; k < n_alive && st == JOULE_OK; k++) {
            const uint32_t i = alive[k];
            int stopped = 0;
            char gerr[512];
            st = joule_tune_generate(t->x, &tr[i].cfg, prev, want, ex[i] + prev, &stopped, gerr,
                                     sizeof(gerr));
            if (stopped) {
                o->interrupted = 1;
                goto done;
            }
            if (st == JOULE_ERR_INVALID) {
                /* The engine refused a prompt of this configuration. */
                joule_tune_examples_clear(ex[i] + prev, want - prev);
                joule_tune_trial_metrics(&tr[i], t->x->task, ex[i], prev, &t->p->weights);
                st = finish_trial(t, &tr[i], JOULE_TUNE_FAIL, b, r);
                continue;
            }
            if (st != JOULE_OK) {
                joule_strlcpy(t->err, gerr, t->err_size);
                goto done;
            }
            for (uint32_t e = prev; e < want; e++)
                o->trials_energy_j += ex[i][e].energy_j;
            joule_tune_trial_metrics(&tr[i], t->x->task, ex[i], want, &t->p->weights);
            if (!isfinite(tr[i].value)) {
                st = finish_trial(t, &tr[i], JOULE_TUNE_FAIL, b, r);
                continue;
            }
            ids[n_ok] = i;
            vals[n_ok++] = tr[i].value;
        }
        if (st != JOULE_OK)
            break;
        if (r + 1 == o->n_rungs) {
            for (uint32_t k = 0; k < n_ok && st == JOULE_OK; k++)
                st = finish_trial(t, &tr[ids[k]], JOULE_TUNE_COMPLETE, b, r);
            n_alive = 0;
            break;
        }
        /* A run interrupted after this rung's decision recorded its pruned
         * trials: the decision stands, whatever the new figures say. */
        int decided = 0;
        for (uint32_t i = 0; i < size; i++)
            decided |= recs[i] >= 0 && rows[recs[i]].state == JOULE_TUNE_PRUNED &&
                       rows[recs[i]].n_examples == want;
        size_t n_keep = n_ok;
        if (decided)
            memcpy(kept, ids, n_ok * sizeof(*kept));
        else
            n_keep = joule_tune_halving_promote(ids, vals, n_ok, t->p->eta, kept);
        for (uint32_t k = 0; k < n_ok && st == JOULE_OK; k++) {
            int promoted = 0;
            for (size_t q = 0; q < n_keep; q++)
                promoted |= kept[q] == ids[k];
            if (!promoted) {
                st = finish_trial(t, &tr[ids[k]], JOULE_TUNE_PRUNED, b, r);
                joule_tune_examples_clear(ex[ids[k]], want);
            }
        }
        /* The survivors in trial order, so a rung always runs them alike. */
        n_alive = 0;
        for (uint32_t i = 0; i < size; i++)
            for (size_t q = 0; q < n_keep; q++)
                if (kept[q] == i)
                    alive[n_alive++] = i;
        prev = want;
    }
done:
    for (uint32_t i = 0; ex && i < size; i++) {
        if (ex[i])
            joule_tune_examples_clear(ex[i], n_ex);
        free(ex ? ex[i] : NULL);
    }
    free(ex);
    free(recs);
    free(tr);
    free(alive);
    free(kept);
    free(ids);
    free(vals);
    return st;
}

static void rank_and_pick(struct joule_tune_outcome *o, enum joule_eval_task task)
{
    qsort(o->trials, o->n_trials, sizeof(*o->trials), cmp_number);
    struct joule_tune_point *pt = joule_calloc(o->n_trials ? o->n_trials : 1, sizeof(*pt));
    int *rank = joule_calloc(o->n_trials ? o->n_trials : 1, sizeof(*rank));
    o->best = -1;
    for (size_t i = 0; i < o->n_trials; i++) {
        const struct joule_tune_trial *t = &o->trials[i];
        const int done = t->state == JOULE_TUNE_COMPLETE;
        if (done && isfinite(t->value) && (o->best < 0 || t->value > o->trials[o->best].value))
            o->best = (long)i;
        if (pt) {
            pt[i].accuracy = done ? joule_tune_trial_accuracy(t, task) : NAN;
            pt[i].energy_j = done ? t->energy_j_per_ex : NAN;
            pt[i].latency_s = done ? t->latency_s : NAN;
        }
    }
    if (pt && rank) {
        /* Without a meter no trial has an energy: rank on the other two. */
        unsigned mask = JOULE_TUNE_OBJ_ACCURACY | JOULE_TUNE_OBJ_LATENCY;
        for (size_t i = 0; i < o->n_trials; i++)
            if (isfinite(pt[i].energy_j))
                mask = JOULE_TUNE_OBJ_ALL;
        joule_tune_pareto_ranks(pt, o->n_trials, mask, rank);
        for (size_t i = 0; i < o->n_trials; i++)
            o->trials[i].pareto_rank = rank[i];
    }
    free(pt);
    free(rank);
}

enum joule_status joule_tune_run(const struct joule_tune_exec *x, const struct joule_tune_params *p,
                                 joule_tune_event_fn on_event, void *user,
                                 struct joule_tune_outcome *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    out->best = -1;
    out->tuning.total_energy_j = NAN;
    out->trials_energy_j = x->meter ? 0.0 : NAN;
    struct tuner t = {x, p, on_event, user, NULL, NULL, out, 0, err, err_size};
    const size_t count = joule_dataset_count(x->data);
    if (count == 0 || count > UINT32_MAX) {
        joule_fmt(err, err_size, "no examples to tune on");
        return JOULE_ERR_INVALID;
    }
    struct joule_tune_halving_params hp = {
        p->min_examples < count ? p->min_examples : (uint32_t)count, (uint32_t)count, p->eta};
    size_t n_rungs = 0;
    enum joule_status st = joule_tune_halving_rungs(&hp, out->rungs, &n_rungs, err, err_size);
    if (st != JOULE_OK)
        return st;
    out->n_rungs = (uint32_t)n_rungs;
    uint32_t n0 = 1;
    for (size_t r = 1; r < n_rungs && n0 <= (1u << 20); r++)
        n0 *= p->eta;
    out->bracket_size = n0;
    uint32_t n_trials = p->n_trials;
    if (n_trials > joule_tune_space_size(x->space))
        n_trials = joule_tune_space_size(x->space);

    struct joule_tune_trial *rows = NULL;
    size_t n_rows = 0;
    const int have_file = access(p->trials_path, F_OK) == 0;
    if (have_file && !p->fresh) {
        st = joule_tune_trials_load(p->trials_path, x->space, &rows, &n_rows, err, err_size);
        if (st != JOULE_OK) {
            size_t len = strlen(err);
            joule_fmt(err + len, err_size - len,
                      " (to start over, pass --fresh or choose another --out)");
            return st;
        }
    }
    unsigned char *used = joule_calloc(n_rows ? n_rows : 1, 1);
    if (!used) {
        free(rows);
        return JOULE_ERR_NOMEM;
    }
    st = joule_tune_sampler_new(x->space, p->sampler, p->seed, NULL, &t.sampler, err, err_size);
    if (st == JOULE_OK && p->pareto)
        joule_tune_sampler_use_pareto(t.sampler, JOULE_TUNE_OBJ_ACCURACY | JOULE_TUNE_OBJ_LATENCY |
                                                     (x->meter ? JOULE_TUNE_OBJ_ENERGY : 0u));
    if (st == JOULE_OK) {
        const int append = have_file && !p->fresh;
        t.csv = fopen(p->trials_path, append ? "a" : "w");
        if (!t.csv) {
            joule_fmt(err, err_size, "%s: %s", p->trials_path, strerror(errno));
            st = JOULE_ERR_IO;
        } else if (!append && (st = joule_tune_trials_header(t.csv, x->space)) == JOULE_OK &&
                   fflush(t.csv) != 0) {
            st = JOULE_ERR_IO;
        }
    }
    const int metered =
        st == JOULE_OK && x->meter && joule_meter_begin(x->meter, TUNING_WINDOW) == JOULE_OK;
    const double t0 = joule_engine_now(x->engine);
    for (uint32_t b = 0, start = 0; st == JOULE_OK && start < n_trials && !out->interrupted;
         b++, start += n0) {
        const uint32_t size = n_trials - start < n0 ? n_trials - start : n0;
        st = bracket(&t, b, start, size, rows, n_rows, used);
    }
    out->tuning_s = joule_engine_now(x->engine) - t0;
    if (metered && joule_meter_end(x->meter, TUNING_WINDOW, &out->tuning) != JOULE_OK)
        out->tuning.total_energy_j = NAN;
    /* Rows the loop did not reach (a smaller --trials) are kept as they are. */
    for (size_t i = 0; i < n_rows && st == JOULE_OK; i++)
        if (!used[i] && (st = keep_trial(&t, &rows[i])) == JOULE_OK)
            out->n_resumed++;
    if (t.csv && fclose(t.csv) != 0 && st == JOULE_OK) {
        joule_fmt(err, err_size, "%s: %s", p->trials_path, strerror(errno));
        st = JOULE_ERR_IO;
    }
    rank_and_pick(out, x->task);
    if (t.sampler && out->n_trials > 0) {
        char werr[512];
        enum joule_status ws = joule_tune_trials_write(p->trials_path, x->space, out->trials,
                                                       out->n_trials, werr, sizeof(werr));
        if (ws != JOULE_OK && st == JOULE_OK) {
            joule_strlcpy(err, werr, err_size);
            st = ws;
        }
    }
    joule_tune_sampler_free(t.sampler);
    free(used);
    free(rows);
    return st;
}

void joule_tune_outcome_free(struct joule_tune_outcome *o)
{
    if (!o)
        return;
    free(o->trials);
    o->trials = NULL;
    o->n_trials = 0;
}
