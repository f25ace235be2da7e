/*
 * nodes.c - the rows through which the nodes of one multi-node experiment
 * open and close each window together (store.h, src/experiment/nodes.c).
 * Every call is one statement, so each is atomic on its own; the nodes poll
 * these rows, they never hold a transaction open while waiting.
 */
#define _POSIX_C_SOURCE 200809L
#include "clock.h"
#include "joule_int.h"
#include "store.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static enum joule_status prep(struct joule_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return joule_store_fail(s, "preparing a statement");
    return JOULE_OK;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no rows and finalizes it. */
static enum joule_status exec_one(struct joule_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    enum joule_status r = rc == SQLITE_DONE ? JOULE_OK : joule_store_fail(s, what);
    sqlite3_finalize(st);
    return r;
}

enum joule_status joule_store_nodes_open(struct joule_store *s, int64_t id, const char *join_key,
                                         int32_t n_nodes)
{
    sqlite3_stmt *st = NULL;
    enum joule_status r = prep(s,
                               "INSERT INTO node_runs (experiment_id, join_key, nodes)"
                               " VALUES (?1, ?2, ?3) ON CONFLICT (experiment_id) DO UPDATE"
                               " SET join_key = excluded.join_key, nodes = excluded.nodes",
                               &st);
    if (r != JOULE_OK)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, join_key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, n_nodes);
    return exec_one(s, st, "marking a multi-node experiment");
}

enum joule_status joule_store_nodes_find(struct joule_store *s, const char *join_key, int64_t *id,
                                         int32_t *n_nodes)
{
    *id = 0;
    *n_nodes = 0;
    sqlite3_stmt *st = NULL;
    enum joule_status r = prep(s,
                               "SELECT n.experiment_id, n.nodes FROM node_runs n"
                               " JOIN experiments e ON e.id = n.experiment_id"
                               " WHERE n.join_key = ?1 AND e.status = 'running'"
                               " ORDER BY n.experiment_id DESC LIMIT 1",
                               &st);
    if (r != JOULE_OK)
        return r;
    sqlite3_bind_text(st, 1, join_key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *n_nodes = sqlite3_column_int(st, 1);
    } else if (rc != SQLITE_DONE) {
        r = joule_store_fail(s, "looking up a multi-node experiment");
    }
    sqlite3_finalize(st);
    return r;
}

enum joule_status joule_store_node_set(struct joule_store *s, int64_t id, int32_t rank,
                                       const char *node, const char *state, int32_t cycle,
                                       const char *reading_json, const char *environment_json,
                                       const char *meter_json)
{
    sqlite3_stmt *st = NULL;
    enum joule_status r =
        prep(s,
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
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, rank);
    sqlite3_bind_text(st, 3, node, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, cycle);
    sqlite3_bind_double(st, 6, joule_wall_s());
    bind_opt_text(st, 7, reading_json);
    bind_opt_text(st, 8, environment_json);
    bind_opt_text(st, 9, meter_json);
    return exec_one(s, st, "setting a node's state");
}

enum joule_status joule_store_nodes_get(struct joule_store *s, int64_t id,
                                        struct joule_store_node *out, size_t cap, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    enum joule_status r = prep(s,
                               "SELECT node_rank, node, state, cycle FROM nodes"
                               " WHERE experiment_id = ?1 ORDER BY node_rank",
                               &st);
    if (r != JOULE_OK)
        return r;
    sqlite3_bind_int64(st, 1, id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        struct joule_store_node *x = &out[(*n)++];
        const char *node = (const char *)sqlite3_column_text(st, 1);
        const char *state = (const char *)sqlite3_column_text(st, 2);
        x->rank = sqlite3_column_int(st, 0);
        joule_strlcpy(x->node, node ? node : "", sizeof(x->node));
        joule_strlcpy(x->state, state ? state : "", sizeof(x->state));
        x->cycle = sqlite3_column_int(st, 3);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = joule_store_fail(s, "reading the nodes of an experiment");
    sqlite3_finalize(st);
    return r;
}

enum joule_status joule_store_node_reading(struct joule_store *s, int64_t id, int32_t rank,
                                           char **reading_json)
{
    *reading_json = NULL;
    sqlite3_stmt *st = NULL;
    enum joule_status r = prep(s,
                               "SELECT reading_json FROM nodes"
                               " WHERE experiment_id = ?1 AND node_rank = ?2",
                               &st);
    if (r != JOULE_OK)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, rank);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && !(*reading_json = strdup(v)))
            r = JOULE_ERR_NOMEM;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        r = joule_store_fail(s, "reading a node's reading");
    }
    sqlite3_finalize(st);
    return r;
}
