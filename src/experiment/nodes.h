/*
 * nodes.h - one experiment measured on several nodes (docs/scale-out.md).
 *
 * The lead (rank 0) runs the workload, say an http backend against a server
 * that spans the nodes; every other node runs `joule run --nodes N --join
 * KEY --rank R` too, but only measures its own devices.  They meet through
 * the shared results store (store.h): for each cycle the lead asks the
 * others to open their window, waits until all have, runs the cycle, asks
 * them to close it, and adds their readings into the cycle's: energies are
 * summed across nodes and the cycle lasts as long as its longest window.
 * The other nodes open before the lead and close after it, so their windows
 * hold the lead's whole workload plus the polling delay (tens of ms).
 */
#ifndef JOULE_NODES_H
#define JOULE_NODES_H

#include "joule.h"

#include <stdint.h>

#define JOULE_NODES_MAX 64

struct joule_nodes {
    struct joule_store *s;
    int64_t id;       /* the experiment */
    int32_t n_nodes;  /* lead included */
    const char *node; /* this node's name */
    double timeout_s; /* longest wait for another node */
    volatile int *stop;
};

/* The lead: marks experiment n->id as multi-node under join_key and joins
 * it as rank 0. */
enum joule_status joule_nodes_lead_open(struct joule_nodes *n, const char *join_key, char *err,
                                        size_t err_size);

/* The lead: waits until every other rank has joined. */
enum joule_status joule_nodes_wait_ready(struct joule_nodes *n, char *err, size_t err_size);

/* The lead, around its own window of cycle: begin returns once every node
 * measures; end returns once every node has written its reading, added into
 * *run (domains named "NODE:domain"). */
enum joule_status joule_nodes_cycle_begin(struct joule_nodes *n, int32_t cycle, char *err,
                                          size_t err_size);
enum joule_status joule_nodes_cycle_end(struct joule_nodes *n, int32_t cycle,
                                        struct joule_reading *run, char *err, size_t err_size);

/* The lead: no more cycles (the others stop when they see it). */
void joule_nodes_lead_close(struct joule_nodes *n);

/* Another node: measures the windows of the experiment the lead opened
 * under o->join_key, until it ends; *id gets its id.  Only c's meter
 * settings (protocol.meter_*, protocol.idle_s, gpus) are used. */
enum joule_status joule_nodes_follow(const struct joule_config *c, struct joule_store *s,
                                     const struct joule_run_options *o, int64_t *id, char *err,
                                     size_t err_size);

/* A reading as JSON text (free with joule_free), and back.  Missing
 * numbers (NAN) are null. */
char *joule_reading_to_json(const struct joule_reading *r);
enum joule_status joule_reading_from_json(const char *json, struct joule_reading *r);

/* Adds another node's reading into acc: its domains appended as
 * "node:name", totals summed (NAN when either is missing), the weakest
 * provenance, the longer duration. */
void joule_reading_add_node(struct joule_reading *acc, const struct joule_reading *r,
                            const char *node);

#endif /* JOULE_NODES_H */
