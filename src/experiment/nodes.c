/*
 * nodes.c - one experiment measured on several nodes: the lead's side, the
 * other nodes' loop, and a reading carried between them as JSON (nodes.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "nodes.h"
#include "clock.h"
#include "config.h"
#include "env.h"
#include "joule_int.h"
#include "store.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a waiting node reads the others' rows: the delay it adds to
 * each window's ends, against the load on a shared database. */
#define POLL_S 0.02

static void nap(void)
{
    struct timespec ts = {0, (long)(POLL_S * 1e9)};
    nanosleep(&ts, NULL);
}

static int stopped(const struct joule_nodes *n)
{
    return n->stop && *n->stop;
}

/* --- a reading as JSON ---------------------------------------------------- */

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static double num_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int enum_of(const json_t *o, const char *key, const char *(*name)(int), int n, int dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    for (int i = 0; s && i < n; i++)
        if (strcmp(name(i), s) == 0)
            return i;
    return dflt;
}

static const char *prov_name(int i)
{
    return joule_provenance_str((enum joule_provenance)i);
}

static const char *kind_name(int i)
{
    return joule_domain_kind_str((enum joule_domain_kind)i);
}

/* A JSON string of s; bytes that are not UTF-8 (a name cut inside a
 * character) become '?', so that no field is ever left out. */
static json_t *text(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    char buf[JOULE_NOTE_MAX];
    joule_strlcpy(buf, s, sizeof(buf));
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return json_string(buf);
}

char *joule_reading_to_json(const struct joule_reading *r)
{
    json_t *o = json_object(), *doms = json_array();
    if (!o || !doms) {
        json_decref(o);
        json_decref(doms);
        return NULL;
    }
    json_object_set_new(o, "name", text(r->name));
    json_object_set_new(o, "duration_s", num(r->duration_s));
    json_object_set_new(o, "total_energy_j", num(r->total_energy_j));
    json_object_set_new(o, "total_bound_j", num(r->total_bound_j));
    json_object_set_new(o, "total_net_energy_j", num(r->total_net_energy_j));
    json_object_set_new(o, "total_net_bound_j", num(r->total_net_bound_j));
    json_object_set_new(o, "total_provenance",
                        json_string(joule_provenance_str(r->total_provenance)));
    json_object_set_new(o, "flags", json_integer(r->flags));
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        json_t *x = json_object();
        json_object_set_new(x, "name", text(d->name));
        json_object_set_new(x, "source", text(d->source));
        json_object_set_new(x, "note", text(d->note));
        json_object_set_new(x, "kind", json_string(joule_domain_kind_str(d->kind)));
        json_object_set_new(x, "provenance", json_string(joule_provenance_str(d->provenance)));
        json_object_set_new(x, "flags", json_integer(d->flags));
        json_object_set_new(x, "in_total", json_integer(d->in_total));
        json_object_set_new(x, "energy_j", num(d->energy_j));
        json_object_set_new(x, "bound_j", num(d->bound_j));
        json_object_set_new(x, "net_energy_j", num(d->net_energy_j));
        json_object_set_new(x, "net_bound_j", num(d->net_bound_j));
        json_object_set_new(x, "idle_power_w", num(d->idle_power_w));
        json_object_set_new(x, "avg_power_w", num(d->avg_power_w));
        json_object_set_new(x, "peak_power_w", num(d->peak_power_w));
        json_object_set_new(x, "interval_s", num(d->interval_s));
        json_object_set_new(x, "n_samples", json_integer((json_int_t)d->n_samples));
        json_array_append_new(doms, x);
    }
    json_object_set_new(o, "domains", doms);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

enum joule_status joule_reading_from_json(const char *text, struct joule_reading *r)
{
    memset(r, 0, sizeof(*r));
    json_t *o = json_loads(text, 0, NULL);
    const json_t *doms = json_object_get(o, "domains");
    if (!json_is_object(o) || !json_is_array(doms)) {
        json_decref(o);
        return JOULE_ERR_FORMAT;
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    joule_strlcpy(r->name, name ? name : "run", sizeof(r->name));
    r->duration_s = num_of(o, "duration_s");
    r->total_energy_j = num_of(o, "total_energy_j");
    r->total_bound_j = num_of(o, "total_bound_j");
    r->total_net_energy_j = num_of(o, "total_net_energy_j");
    r->total_net_bound_j = num_of(o, "total_net_bound_j");
    r->total_provenance = (enum joule_provenance)enum_of(
        o, "total_provenance", prov_name, JOULE_PROV_UNAVAILABLE + 1, JOULE_PROV_UNAVAILABLE);
    r->flags = (uint32_t)json_integer_value(json_object_get(o, "flags"));
    size_t i;
    const json_t *x;
    json_array_foreach(doms, i, x)
    {
        if (r->n_domains == JOULE_MAX_DOMAINS)
            break;
        struct joule_domain_reading *d = &r->domains[r->n_domains++];
        const char *s;
        if ((s = json_string_value(json_object_get(x, "name"))))
            joule_strlcpy(d->name, s, sizeof(d->name));
        if ((s = json_string_value(json_object_get(x, "source"))))
            joule_strlcpy(d->source, s, sizeof(d->source));
        if ((s = json_string_value(json_object_get(x, "note"))))
            joule_strlcpy(d->note, s, sizeof(d->note));
        d->kind = (enum joule_domain_kind)enum_of(x, "kind", kind_name, JOULE_DOMAIN_OTHER + 1,
                                                  JOULE_DOMAIN_OTHER);
        d->provenance = (enum joule_provenance)enum_of(
            x, "provenance", prov_name, JOULE_PROV_UNAVAILABLE + 1, JOULE_PROV_UNAVAILABLE);
        d->flags = (uint32_t)json_integer_value(json_object_get(x, "flags"));
        d->in_total = (int32_t)json_integer_value(json_object_get(x, "in_total"));
        d->energy_j = num_of(x, "energy_j");
        d->bound_j = num_of(x, "bound_j");
        d->net_energy_j = num_of(x, "net_energy_j");
        d->net_bound_j = num_of(x, "net_bound_j");
        d->idle_power_w = num_of(x, "idle_power_w");
        d->avg_power_w = num_of(x, "avg_power_w");
        d->peak_power_w = num_of(x, "peak_power_w");
        d->interval_s = num_of(x, "interval_s");
        d->n_samples = (uint64_t)json_integer_value(json_object_get(x, "n_samples"));
    }
    json_decref(o);
    return JOULE_OK;
}

/* a + b where either may be missing: the sum of what is there. */
static double add_avail(double a, double b)
{
    if (!isfinite(a))
        return b;
    return isfinite(b) ? a + b : a;
}

void joule_reading_add_node(struct joule_reading *acc, const struct joule_reading *r,
                            const char *node)
{
    for (uint32_t i = 0; i < r->n_domains && acc->n_domains < JOULE_MAX_DOMAINS; i++) {
        struct joule_domain_reading *d = &acc->domains[acc->n_domains++];
        *d = r->domains[i];
        joule_fmt(d->name, sizeof(d->name), "%s:%s", node, r->domains[i].name);
    }
    /* As the meter sums its own domains: what is available, the weakest
     * provenance, and "partial" when a node has no number. */
    if (!isfinite(r->total_energy_j) || !isfinite(acc->total_energy_j))
        acc->flags |= JOULE_FLAG_PARTIAL;
    acc->total_energy_j = add_avail(acc->total_energy_j, r->total_energy_j);
    acc->total_bound_j = add_avail(acc->total_bound_j, r->total_bound_j);
    /* Net of idle only when every node took a baseline. */
    acc->total_net_energy_j += r->total_net_energy_j;
    acc->total_net_bound_j += r->total_net_bound_j;
    if (r->total_provenance != acc->total_provenance)
        acc->flags |= JOULE_FLAG_MIXED;
    if (r->total_provenance > acc->total_provenance)
        acc->total_provenance = r->total_provenance;
    acc->flags |= r->flags;
    if (r->duration_s > acc->duration_s)
        acc->duration_s = r->duration_s;
}

/* --- waiting for the others ----------------------------------------------- */

/* What a wait wants of the other ranks. */
struct want {
    const char *state; /* every other rank in this state ... */
    int32_t cycle;     /* ... at this cycle (-1: any) */
};

/* Waits until every rank 1..n_nodes-1 has joined and is in w's state.
 * A failed node ends the wait at once, with its reason. */
static enum joule_status wait_others(struct joule_nodes *n, struct want w, const char *what,
                                     char *err, size_t err_size)
{
    const double t0 = joule_wall_s();
    struct joule_store_node nodes[JOULE_NODES_MAX];
    for (;;) {
        size_t got = 0;
        enum joule_status st = joule_store_nodes_get(n->s, n->id, nodes, JOULE_NODES_MAX, &got);
        if (st != JOULE_OK) {
            joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
            return st;
        }
        int32_t ok = 0;
        char missing[512] = "";
        for (int32_t rank = 1; rank < n->n_nodes; rank++) {
            const struct joule_store_node *x = NULL;
            for (size_t i = 0; i < got; i++)
                if (nodes[i].rank == rank)
                    x = &nodes[i];
            if (x && strcmp(x->state, JOULE_NODE_FAILED) == 0) {
                char *why = NULL;
                joule_store_node_reading(n->s, n->id, rank, &why);
                json_t *o = why ? json_loads(why, 0, NULL) : NULL;
                const char *msg = json_string_value(json_object_get(o, "error"));
                joule_fmt(err, err_size, "node %s (rank %d) failed: %s", x->node, (int)rank,
                          msg ? msg : "no reason given");
                json_decref(o);
                joule_free(why);
                return JOULE_ERR_IO;
            }
            if (x && strcmp(x->state, w.state) == 0 && (w.cycle < 0 || x->cycle == w.cycle)) {
                ok++;
                continue;
            }
            size_t len = strlen(missing);
            if (x)
                joule_fmt(missing + len, sizeof(missing) - len, "%s%s (rank %d, %s)",
                          len ? ", " : "", x->node, (int)rank, x->state);
            else
                joule_fmt(missing + len, sizeof(missing) - len, "%srank %d (not joined)",
                          len ? ", " : "", (int)rank);
        }
        if (ok == n->n_nodes - 1)
            return JOULE_OK;
        if (stopped(n)) {
            joule_fmt(err, err_size, "interrupted while waiting for the other nodes to %s", what);
            return JOULE_ERR_STATE;
        }
        if (joule_wall_s() - t0 > n->timeout_s) {
            joule_fmt(err, err_size,
                      "%d of %d other nodes did not %s within %g s: %s (start `joule run "
                      "--nodes %d --join KEY --rank R` on each, or raise --node-timeout)",
                      (int)(n->n_nodes - 1 - ok), (int)(n->n_nodes - 1), what, n->timeout_s,
                      missing, (int)n->n_nodes);
            return JOULE_ERR_STATE;
        }
        nap();
    }
}

/* --- the lead ----------------------------------------------------------------- */

static enum joule_status set_self(struct joule_nodes *n, int32_t rank, const char *state,
                                  int32_t cycle, const char *reading, char *err, size_t err_size)
{
    enum joule_status st =
        joule_store_node_set(n->s, n->id, rank, n->node, state, cycle, reading, NULL, NULL);
    if (st != JOULE_OK)
        joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
    return st;
}

enum joule_status joule_nodes_lead_open(struct joule_nodes *n, const char *join_key, char *err,
                                        size_t err_size)
{
    enum joule_status st = joule_store_nodes_open(n->s, n->id, join_key, n->n_nodes);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
        return st;
    }
    return set_self(n, 0, JOULE_NODE_READY, -1, NULL, err, err_size);
}

enum joule_status joule_nodes_wait_ready(struct joule_nodes *n, char *err, size_t err_size)
{
    return wait_others(n, (struct want){JOULE_NODE_READY, -1}, "join", err, err_size);
}

enum joule_status joule_nodes_cycle_begin(struct joule_nodes *n, int32_t cycle, char *err,
                                          size_t err_size)
{
    enum joule_status st = set_self(n, 0, JOULE_NODE_BEGIN, cycle, NULL, err, err_size);
    if (st == JOULE_OK)
        st = wait_others(n, (struct want){JOULE_NODE_MEASURING, cycle}, "open their window", err,
                         err_size);
    return st;
}

enum joule_status joule_nodes_cycle_end(struct joule_nodes *n, int32_t cycle,
                                        struct joule_reading *run, char *err, size_t err_size)
{
    enum joule_status st = set_self(n, 0, JOULE_NODE_END, cycle, NULL, err, err_size);
    if (st == JOULE_OK)
        st = wait_others(n, (struct want){JOULE_NODE_DONE, cycle}, "close their window", err,
                         err_size);
    struct joule_store_node nodes[JOULE_NODES_MAX];
    size_t got = 0;
    if (st == JOULE_OK &&
        (st = joule_store_nodes_get(n->s, n->id, nodes, JOULE_NODES_MAX, &got)) != JOULE_OK)
        joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
    for (size_t i = 0; st == JOULE_OK && i < got; i++) {
        if (nodes[i].rank == 0 || nodes[i].rank >= n->n_nodes)
            continue;
        char *json = NULL;
        struct joule_reading r;
        if ((st = joule_store_node_reading(n->s, n->id, nodes[i].rank, &json)) != JOULE_OK) {
            joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
            break;
        }
        st = json ? joule_reading_from_json(json, &r) : JOULE_ERR_FORMAT;
        joule_free(json);
        if (st != JOULE_OK) {
            joule_fmt(err, err_size, "node %s (rank %d): its reading of cycle %d is unreadable",
                      nodes[i].node, (int)nodes[i].rank, (int)cycle + 1);
            break;
        }
        joule_reading_add_node(run, &r, nodes[i].node);
    }
    return st;
}

void joule_nodes_lead_close(struct joule_nodes *n)
{
    char err[64];
    set_self(n, 0, JOULE_NODE_FINISHED, -1, NULL, err, sizeof(err));
}

/* --- another node ------------------------------------------------------------- */

/* Marks this node failed with the reason, for the lead to report. */
static void follow_fail(struct joule_nodes *n, int32_t rank, const char *why)
{
    json_t *o = json_pack("{s:s}", "error", why);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char err[64];
    set_self(n, rank, JOULE_NODE_FAILED, -1, text ? text : "{}", err, sizeof(err));
    free(text);
}

/* The lead's row and the experiment's status. */
static enum joule_status lead_state(struct joule_nodes *n, struct joule_store_node *lead,
                                    char *status, size_t status_size)
{
    struct joule_store_node nodes[JOULE_NODES_MAX];
    size_t got = 0;
    enum joule_status st = joule_store_nodes_get(n->s, n->id, nodes, JOULE_NODES_MAX, &got);
    memset(lead, 0, sizeof(*lead));
    for (size_t i = 0; st == JOULE_OK && i < got; i++)
        if (nodes[i].rank == 0)
            *lead = nodes[i];
    if (st == JOULE_OK)
        st = joule_store_experiment_get(n->s, n->id, NULL, NULL, 0, status, status_size);
    return st;
}

/* Finds the experiment opened under key, waiting for the lead to open it. */
static enum joule_status find_lead(struct joule_nodes *n, const char *key, char *err,
                                   size_t err_size)
{
    const double t0 = joule_wall_s();
    for (;;) {
        enum joule_status st = joule_store_nodes_find(n->s, key, &n->id, &n->n_nodes);
        if (st != JOULE_OK) {
            joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
            return st;
        }
        if (n->id > 0)
            return JOULE_OK;
        if (stopped(n)) {
            joule_fmt(err, err_size, "interrupted while waiting for the lead");
            return JOULE_ERR_STATE;
        }
        if (joule_wall_s() - t0 > n->timeout_s) {
            joule_fmt(err, err_size,
                      "no experiment was opened under join key '%s' in %s within %g s: start "
                      "the lead (`joule run ... --nodes N --join %s --rank 0`) against the "
                      "same --db",
                      key, joule_store_path(n->s), n->timeout_s, key);
            return JOULE_ERR_STATE;
        }
        nap();
    }
}

/* The loop of a node that measures: opens its window when the lead begins
 * a cycle, closes it when the lead ends it, until the lead finishes. */
static enum joule_status follow_cycles(struct joule_nodes *n, int32_t rank, struct joule_meter *m,
                                       char *err, size_t err_size)
{
    int32_t open_cycle = -1, last_done = -1;
    double since = joule_wall_s();
    for (;;) {
        struct joule_store_node lead;
        char status[32] = "";
        enum joule_status st = lead_state(n, &lead, status, sizeof(status));
        if (st != JOULE_OK) {
            joule_fmt(err, err_size, "%s", joule_store_errmsg(n->s));
            return st;
        }
        if (strcmp(lead.state, JOULE_NODE_BEGIN) == 0 && open_cycle < 0 &&
            lead.cycle != last_done) {
            if ((st = joule_meter_begin(m, "run")) != JOULE_OK) {
                joule_fmt(err, err_size, "meter: %s", joule_meter_errmsg(m));
                return st;
            }
            open_cycle = lead.cycle;
            if ((st = set_self(n, rank, JOULE_NODE_MEASURING, open_cycle, NULL, err, err_size)) !=
                JOULE_OK)
                return st;
            since = joule_wall_s();
        } else if (strcmp(lead.state, JOULE_NODE_END) == 0 && open_cycle == lead.cycle) {
            struct joule_reading r;
            if ((st = joule_meter_end(m, "run", &r)) != JOULE_OK) {
                joule_fmt(err, err_size, "meter: %s", joule_meter_errmsg(m));
                return st;
            }
            char *json = joule_reading_to_json(&r);
            if (!json)
                return JOULE_ERR_NOMEM;
            st = set_self(n, rank, JOULE_NODE_DONE, open_cycle, json, err, err_size);
            free(json);
            if (st != JOULE_OK)
                return st;
            last_done = open_cycle;
            open_cycle = -1;
            since = joule_wall_s();
        } else if (strcmp(lead.state, JOULE_NODE_FINISHED) == 0 ||
                   strcmp(status, JOULE_STATUS_RUNNING) != 0) {
            if (open_cycle >= 0) {
                struct joule_reading r;
                joule_meter_end(m, "run", &r);
            }
            if (strcmp(status, JOULE_STATUS_FAILED) == 0) {
                joule_fmt(err, err_size,
                          "the lead's experiment %lld failed (see `joule results "
                          "show %lld`)",
                          (long long)n->id, (long long)n->id);
                return JOULE_ERR_STATE;
            }
            return JOULE_OK;
        } else if (joule_wall_s() - since > n->timeout_s) {
            joule_fmt(err, err_size,
                      "the lead (%s) of experiment %lld did nothing for %g s (last: %s of "
                      "cycle %d); it may have died: see `joule results show %lld`",
                      lead.node[0] ? lead.node : "rank 0", (long long)n->id, n->timeout_s,
                      lead.state, (int)lead.cycle + 1, (long long)n->id);
            return JOULE_ERR_STATE;
        }
        if (stopped(n)) {
            joule_fmt(err, err_size, "interrupted");
            return JOULE_ERR_STATE;
        }
        nap();
    }
}

enum joule_status joule_nodes_follow(const struct joule_config *c, struct joule_store *s,
                                     const struct joule_run_options *o, int64_t *id, char *err,
                                     size_t err_size)
{
    struct joule_nodes n = {
        .s = s, .node = o->node, .timeout_s = o->node_timeout_s, .stop = o->stop};
    const int32_t rank = o->rank;
    struct joule_meter_params mp = joule_meter_default_params();
    mp.sources = c->protocol.meter_sources;
    mp.interval_ms = (uint32_t)c->protocol.meter_interval_ms;
    mp.gpus = c->gpus;
    struct joule_meter *m = NULL;
    char *env = NULL, *meter_json = NULL;
    enum joule_status st = joule_meter_open(&mp, &m);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "meter: %s", m ? joule_meter_errmsg(m) : "out of memory");
        goto out;
    }
    /* This node's own idle baseline, before it joins: the lead waits. */
    if (c->protocol.idle_s > 0 && (st = joule_meter_idle(m, c->protocol.idle_s)) != JOULE_OK) {
        joule_fmt(err, err_size, "idle baseline: %s", joule_meter_errmsg(m));
        goto out;
    }
    if ((st = find_lead(&n, o->join_key, err, err_size)) != JOULE_OK)
        goto out;
    *id = n.id;
    if (rank >= n.n_nodes) {
        joule_fmt(err, err_size,
                  "rank %d is out of range: experiment %lld has %d nodes (ranks "
                  "0..%d)",
                  (int)rank, (long long)n.id, (int)n.n_nodes, (int)n.n_nodes - 1);
        st = JOULE_ERR_INVALID;
        goto out;
    }
    struct joule_store_node nodes[JOULE_NODES_MAX];
    size_t got = 0;
    if ((st = joule_store_nodes_get(s, n.id, nodes, JOULE_NODES_MAX, &got)) != JOULE_OK) {
        joule_fmt(err, err_size, "%s", joule_store_errmsg(s));
        goto out;
    }
    for (size_t i = 0; i < got; i++)
        if (nodes[i].rank == rank && strcmp(nodes[i].node, n.node) != 0 &&
            strcmp(nodes[i].state, JOULE_NODE_FAILED) != 0) {
            joule_fmt(err, err_size,
                      "rank %d of experiment %lld was taken by node %s: give "
                      "each node its own --rank",
                      (int)rank, (long long)n.id, nodes[i].node);
            st = JOULE_ERR_INVALID;
            goto out;
        }
    env = joule_env_json("none", "", 0);
    meter_json = joule_env_meter_json(m);
    if ((st = joule_store_node_set(s, n.id, rank, n.node, JOULE_NODE_READY, -1, NULL, env,
                                   meter_json)) != JOULE_OK) {
        joule_fmt(err, err_size, "%s", joule_store_errmsg(s));
        goto out;
    }
    st = follow_cycles(&n, rank, m, err, err_size);
    if (st != JOULE_OK)
        follow_fail(&n, rank, err);
out:
    joule_free(env);
    joule_free(meter_json);
    joule_meter_close(m);
    return st;
}
