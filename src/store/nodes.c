/*
 * nodes.c - the rows through which the nodes of one multi-node experiment
 * open and close each window together (store.h, src/experiment/nodes.c).
 * Every call is one statement, so each is atomic on its own; the nodes poll
 * these rows, they never hold a transaction open while waiting.  The SQL is
 * the dialect both drivers read (db.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "clock.h"
#include "joule_int.h"
#include "store.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* Steps a statement that returns no rows and finalizes it. */
static enum joule_status exec_one(struct joule_store *s, struct joule_db_stmt *st, const char *what)
{
    enum joule_status r =
        joule_db_step(st) == JOULE_DB_ERROR ? joule_store_fail(s, what) : JOULE_OK;
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_nodes_open(struct joule_store *s, int64_t id, const char *join_key,
                                         int32_t n_nodes)
{
    struct joule_db_stmt *st = NULL;
    enum joule_status r =
        joule_store_prepare(s,
                            "INSERT INTO node_runs (experiment_id, join_key, nodes)"
                            " VALUES (?1, ?2, ?3) ON CONFLICT (experiment_id) DO UPDATE"
                            " SET join_key = excluded.join_key, nodes = excluded.nodes",
                            &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    joule_db_bind_text(st, 2, join_key);
    joule_db_bind_int64(st, 3, n_nodes);
    return exec_one(s, st, "marking a multi-node experiment");
}

enum joule_status joule_store_nodes_find(struct joule_store *s, const char *join_key, int64_t *id,
                                         int32_t *n_nodes)
{
    *id = 0;
    *n_nodes = 0;
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s,
                                              "SELECT n.experiment_id, n.nodes FROM node_runs n"
                                              " JOIN experiments e ON e.id = n.experiment_id"
                                              " WHERE n.join_key = ?1 AND e.status = 'running'"
                                              " ORDER BY n.experiment_id DESC LIMIT 1",
                                              &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_text(st, 1, join_key);
    int rc = joule_db_step(st);
    if (rc == JOULE_DB_ROW) {
        *id = joule_db_column_int64(st, 0);
        *n_nodes = (int32_t)joule_db_column_int64(st, 1);
    } else if (rc == JOULE_DB_ERROR) {
        r = joule_store_fail(s, "looking up a multi-node experiment");
    }
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_node_set(struct joule_store *s, int64_t id, int32_t rank,
                                       const char *node, const char *state, int32_t cycle,
                                       const char *reading_json, const char *environment_json,
                                       const char *meter_json)
{
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(
        s,
        "INSERT INTO nodes (experiment_id, node_rank, node, state, cycle, updated_at,"
        " reading_json, environment_json, meter_json)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (experiment_id, node_rank) DO UPDATE SET node = excluded.node,"
        " state = excluded.state, cycle = excluded.cycle, updated_at = excluded.updated_at,"
        " reading_json = COALESCE(excluded.reading_json, nodes.reading_json),"
        " environment_json = COALESCE(excluded.environment_json, nodes.environment_json),"
        " meter_json = COALESCE(excluded.meter_json, nodes.meter_json)",
        &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    joule_db_bind_int64(st, 2, rank);
    joule_db_bind_text(st, 3, node);
    joule_db_bind_text(st, 4, state);
    joule_db_bind_int64(st, 5, cycle);
    joule_db_bind_double(st, 6, joule_wall_s());
    joule_db_bind_text(st, 7, reading_json); /* NULL binds NULL: keeps the stored one */
    joule_db_bind_text(st, 8, environment_json);
    joule_db_bind_text(st, 9, meter_json);
    return exec_one(s, st, "setting a node's state");
}

enum joule_status joule_store_nodes_get(struct joule_store *s, int64_t id,
                                        struct joule_store_node *out, size_t cap, size_t *n)
{
    *n = 0;
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s,
                                              "SELECT node_rank, node, state, cycle FROM nodes"
                                              " WHERE experiment_id = ?1 ORDER BY node_rank",
                                              &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    int rc;
    while ((rc = joule_db_step(st)) == JOULE_DB_ROW && *n < cap) {
        struct joule_store_node *x = &out[(*n)++];
        const char *node = joule_db_column_text(st, 1);
        const char *state = joule_db_column_text(st, 2);
        x->rank = (int32_t)joule_db_column_int64(st, 0);
        joule_strlcpy(x->node, node ? node : "", sizeof(x->node));
        joule_strlcpy(x->state, state ? state : "", sizeof(x->state));
        x->cycle = (int32_t)joule_db_column_int64(st, 3);
    }
    if (rc == JOULE_DB_ERROR)
        r = joule_store_fail(s, "reading the nodes of an experiment");
    joule_db_finalize(st);
    return r;
}

enum joule_status joule_store_node_reading(struct joule_store *s, int64_t id, int32_t rank,
                                           char **reading_json)
{
    *reading_json = NULL;
    struct joule_db_stmt *st = NULL;
    enum joule_status r = joule_store_prepare(s,
                                              "SELECT reading_json FROM nodes"
                                              " WHERE experiment_id = ?1 AND node_rank = ?2",
                                              &st);
    if (r != JOULE_OK)
        return r;
    joule_db_bind_int64(st, 1, id);
    joule_db_bind_int64(st, 2, rank);
    int rc = joule_db_step(st);
    const char *v = rc == JOULE_DB_ROW ? joule_db_column_text(st, 0) : NULL;
    if (v && !(*reading_json = strdup(v)))
        r = JOULE_ERR_NOMEM;
    else if (rc == JOULE_DB_ERROR)
        r = joule_store_fail(s, "reading a node's reading");
    joule_db_finalize(st);
    return r;
}
