/* test_store.c - the results store: writes through store.h read back by
 * every query, cycle replacement, resume lookups, status, removal,
 * comparison, the default path, refusal of newer and foreign files, the
 * migration of a version 1 database, concurrent opening, and merging
 * databases (joule_store_push).  The suite runs on SQLite files, then,
 * when JOULE_TEST_PG_URL names a PostgreSQL server (tests/store_pg.sh
 * starts one), again on PostgreSQL, each test in a database of its own. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include "store.h"
#include "store_int.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];
/* The PostgreSQL server of this run (NULL: SQLite), and the databases made
 * on it, dropped at the end. */
static const char *pg_url;
static char pg_made[16][64];
static size_t n_pg_made;

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* Runs sql on the server's own database (CREATE and DROP DATABASE). */
static int pg_admin(const char *sql)
{
    struct joule_db *db = NULL;
    char err[512];
    if (joule_db_open(pg_url, &db, err, sizeof(err)) != JOULE_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    int rc = joule_db_exec(db, sql);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", sql, joule_db_errmsg(db));
    joule_db_close(db);
    return rc;
}

/* A new, empty database named after name: an SQLite file in dir, or a
 * database of its own on the PostgreSQL server. */
static void target_in(char *buf, size_t size, const char *name)
{
    if (!pg_url) {
        path_in(buf, size, name);
        unlink(buf);
        return;
    }
    char db[64], sql[160];
    int n = snprintf(db, sizeof(db), "jt%ld_", (long)getpid());
    for (const char *p = name; *p && n < (int)sizeof(db) - 1; p++)
        db[n++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
    db[n] = '\0';
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db);
    pg_admin(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    if (pg_admin(sql) == 0 && n_pg_made < sizeof(pg_made) / sizeof(pg_made[0]))
        snprintf(pg_made[n_pg_made++], sizeof(pg_made[0]), "%s", db);
    const char *slash = strrchr(pg_url, '/');
    snprintf(buf, size, "%.*s/%s", (int)(slash - pg_url), pg_url, db);
}

static size_t col(const struct joule_table *t, const char *name)
{
    for (size_t c = 0; c < joule_table_cols(t); c++)
        if (strcmp(joule_table_col_name(t, c), name) == 0)
            return c;
    fprintf(stderr, "no column %s\n", name);
    return (size_t)-1;
}

/* The row whose column 0 is key, or (size_t)-1. */
static size_t row_of(const struct joule_table *t, const char *key)
{
    for (size_t r = 0; r < joule_table_rows(t); r++)
        if (strcmp(joule_table_text(t, r, 0), key) == 0)
            return r;
    return (size_t)-1;
}

static double cell(const struct joule_table *t, const char *key, const char *c)
{
    return joule_table_number(t, row_of(t, key), col(t, c));
}

static int64_t count(struct joule_store *s, const char *sql)
{
    struct joule_db_stmt *st = NULL;
    int64_t n = -1;
    if (joule_db_prepare(s->db, sql, &st) == 0 && joule_db_step(st) == JOULE_DB_ROW)
        n = joule_db_column_int64(st, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, joule_db_errmsg(s->db));
    joule_db_finalize(st);
    return n;
}

static int64_t version(struct joule_store *s)
{
    int64_t v = -1, app = 0, n = 0;
    if (joule_db_probe(s->db, &v, &app, &n) != JOULE_OK || app != JOULE_STORE_APPLICATION_ID)
        return -1;
    return v;
}

static const struct joule_store_experiment exp_a = {
    .name = "tiny-q4",
    .config_yaml = "model: tiny.gguf\ncycles: 3\n",
    .config_hash = "hash-a",
    .model_path = "/models/tiny.gguf",
    .model_name = "tiny.gguf",
    .model_digest = "abc123",
    .precision = "q4_0",
    .backend = "builtin",
    .dataset = "alpaca",
    .batch_size = 4,
    .cycles_planned = 3,
    .cycle_order = "2,0,1",
    .environment_json = "{\"cpu\": \"test\"}",
    .meter_json = "{\"sources\": [\"fake\"]}",
};

/* Cycle k of experiment a: energy 100 + 10k, tokens_out 200 + 10k. */
static enum joule_status add_cycle(struct joule_store *s, int64_t id, int k, double energy)
{
    struct joule_store_cycle c = {k,    (k + 1) % 3, 1.7e9 + 60.0 * k,
                                  12.5, 2,           k == 1 ? "too-short" : ""};
    struct joule_store_metric m[] = {
        {"zz_custom", 1.0},
        {"energy_total_j", energy},
        {"tokens_in", 50.0},
        {"tokens_out", 200.0 + 10.0 * k},
        {"tokens_per_joule", 2.0},
        {"ept_out_j_per_tok", energy / (200.0 + 10.0 * k)},
        {"alpha_custom", k == 2 ? NAN : 3.0 + k},
        {"duration_s", 12.5},
        {"latency_mean_s", 0.5},
        {"energy_per_request_j", energy / 2.0},
    };
    struct joule_domain_reading r[2];
    memset(r, 0, sizeof(r));
    snprintf(r[0].name, sizeof(r[0].name), "package-0");
    snprintf(r[0].source, sizeof(r[0].source), "rapl");
    r[0].kind = JOULE_DOMAIN_PACKAGE;
    r[0].provenance = JOULE_PROV_MEASURED;
    r[0].in_total = 1;
    r[0].flags = JOULE_FLAG_SHORT_WINDOW | JOULE_FLAG_METER_GAP;
    r[0].energy_j = energy * 0.25;
    r[0].bound_j = 0.5;
    r[0].net_energy_j = NAN;
    r[0].avg_power_w = 40;
    r[1] = r[0];
    r[1].flags = 0;
    /* One sampled domain in one cycle: the experiment's energy figures are
     * then only as good as sampled. */
    r[1].provenance = k == 2 ? JOULE_PROV_SAMPLED : JOULE_PROV_MEASURED;
    r[1].energy_j = energy * 0.75;
    snprintf(r[1].note, sizeof(r[1].note), "a note, with \"quotes\"");
    struct joule_store_domain d[] = {{"prefill", &r[0]}, {"decode", &r[1]}};
    struct joule_store_request q[2] = {
        {0, "s0", 0, 10, 100, "eos", 0, 0.1, 0.12, 2.0, 2.2, 0.02, 0.02, 0.03, 0.05, 5, 50,
         "hello, \"world\"\nline two"},
        {1, "s1", 0, 12, 110, "length", 0, 0.1, 0.12, 2.1, 2.3, 0.02, 0.02, 0.03, 0.05, 6, 55,
         NULL},
    };
    return joule_store_cycle_add(s, id, &c, m, sizeof(m) / sizeof(m[0]), d, 2, q, 2);
}

static void test_write_and_query(void)
{
    char path[600];
    if (pg_url) {
        target_in(path, sizeof(path), "results");
    } else {
        path_in(path, sizeof(path), "a/b/results.db");
        unlink(path);
    }
    struct joule_store *s = NULL;
    char err[512];
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_STR(joule_store_path(s), path);
    CHECK_STR(joule_db_kind(s->db), pg_url ? "postgresql" : "sqlite");
    CHECK(version(s) == JOULE_STORE_SCHEMA_VERSION);
    if (!pg_url)
        CHECK(count(s, "PRAGMA foreign_keys") == 1);

    int64_t id = 0;
    CHECK(joule_store_experiment_add(s, &exp_a, &id) == JOULE_OK);
    CHECK(id == 1);
    for (int k = 0; k < 3; k++)
        CHECK(add_cycle(s, id, k, 100.0 + 10.0 * k) == JOULE_OK);

    /* EXPERIMENTS */
    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 1);
    CHECK_STR(joule_table_text(t, 0, col(t, "name")), "tiny-q4");
    CHECK_STR(joule_table_text(t, 0, col(t, "status")), "running");
    CHECK_STR(joule_table_text(t, 0, col(t, "cycles")), "3/3");
    CHECK_STR(joule_table_text(t, 0, col(t, "model")), "tiny.gguf");
    CHECK_STR(joule_table_text(t, 0, col(t, "id")), "1");
    CHECK(joule_table_is_number(t, 0, col(t, "id")));
    CHECK_NEAR(joule_table_number(t, 0, col(t, "energy_total_j")), 110.0, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "tokens_per_joule")), 2.0, 1e-12);
    CHECK_STR(joule_table_text(t, 0, col(t, "energy_provenance")), "sampled");
    const char *created = joule_table_text(t, 0, col(t, "created"));
    CHECK(strlen(created) == 20 && created[10] == 'T' && created[19] == 'Z');
    joule_table_free(t);

    /* SUMMARY: energy 100, 110, 120: mean 110, s 10, ci 4.302653 * 10 / sqrt 3 */
    CHECK(joule_store_query(s, JOULE_QUERY_SUMMARY, id, &t) == JOULE_OK);
    CHECK(joule_table_cols(t) == 9);
    CHECK_STR(joule_table_col_name(t, 0), "metric");
    /* Energy figures carry the weakest provenance summed; others none. */
    CHECK_STR(joule_table_text(t, row_of(t, "energy_total_j"), col(t, "provenance")), "sampled");
    CHECK_STR(joule_table_text(t, row_of(t, "tokens_per_joule"), col(t, "provenance")), "sampled");
    CHECK_STR(joule_table_text(t, row_of(t, "duration_s"), col(t, "provenance")), "");
    CHECK_NEAR(cell(t, "energy_total_j", "mean"), 110.0, 1e-9);
    CHECK_NEAR(cell(t, "energy_total_j", "std"), 10.0, 1e-9);
    CHECK_NEAR(cell(t, "energy_total_j", "ci95"), 24.841377, 1e-5);
    CHECK_NEAR(cell(t, "energy_total_j", "cv"), 10.0 / 110.0, 1e-12);
    CHECK_NEAR(cell(t, "energy_total_j", "min"), 100.0, 0);
    CHECK_NEAR(cell(t, "energy_total_j", "max"), 120.0, 0);
    CHECK_NEAR(cell(t, "energy_total_j", "n"), 3, 0);
    CHECK_NEAR(cell(t, "tokens_per_joule", "std"), 0.0, 0);
    /* alpha_custom: 3, 4 and a NAN: n 2, ci = 12.7062 * 0.7071 / 1.4142 */
    CHECK_NEAR(cell(t, "alpha_custom", "n"), 2, 0);
    CHECK_NEAR(cell(t, "alpha_custom", "mean"), 3.5, 1e-12);
    CHECK_NEAR(cell(t, "alpha_custom", "ci95"), 12.706204736 * 0.5, 1e-6);
    /* canonical order, then the others alphabetically */
    CHECK(joule_table_rows(t) == 10);
    CHECK_STR(joule_table_text(t, 0, 0), "duration_s");
    CHECK_STR(joule_table_text(t, 1, 0), "tokens_in");
    CHECK_STR(joule_table_text(t, 2, 0), "tokens_out");
    CHECK_STR(joule_table_text(t, 3, 0), "energy_total_j");
    CHECK_STR(joule_table_text(t, 8, 0), "alpha_custom");
    CHECK_STR(joule_table_text(t, 9, 0), "zz_custom");
    CHECK_NEAR(cell(t, "zz_custom", "std"), 0.0, 0);
    CHECK_NEAR(cell(t, "zz_custom", "ci95"), 0.0, 0);
    joule_table_free(t);

    /* CYCLES */
    CHECK(joule_store_query(s, JOULE_QUERY_CYCLES, id, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 3);
    CHECK_STR(joule_table_col_name(t, 6), "duration_s");
    CHECK_NEAR(joule_table_number(t, 2, col(t, "energy_total_j")), 120.0, 0);
    CHECK_NEAR(joule_table_number(t, 1, col(t, "position")), 2, 0);
    CHECK_STR(joule_table_text(t, 1, col(t, "flags")), "too-short");
    CHECK_STR(joule_table_text(t, 0, col(t, "started")), "2023-11-14T22:13:20Z");
    CHECK(!joule_table_is_number(t, 2, col(t, "alpha_custom")));
    joule_table_free(t);

    /* REQUESTS */
    CHECK(joule_store_query(s, JOULE_QUERY_REQUESTS, id, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 6);
    CHECK(joule_table_cols(t) == 19);
    CHECK_STR(joule_table_col_name(t, 1), "index");
    CHECK_STR(joule_table_text(t, 0, col(t, "text")), "hello, \"world\"\nline two");
    CHECK_STR(joule_table_text(t, 1, col(t, "text")), "");
    CHECK_STR(joule_table_text(t, 1, col(t, "finish")), "length");
    CHECK_NEAR(joule_table_number(t, 5, col(t, "energy_decode_j")), 55, 0);
    CHECK_NEAR(joule_table_number(t, 5, col(t, "cycle")), 2, 0);
    joule_table_free(t);

    /* DOMAINS */
    CHECK(joule_store_query(s, JOULE_QUERY_DOMAINS, id, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 6);
    CHECK_STR(joule_table_text(t, 0, col(t, "window")), "prefill");
    CHECK_STR(joule_table_text(t, 1, col(t, "window")), "decode");
    CHECK_STR(joule_table_text(t, 0, col(t, "flags")), "short-window,meter-gap");
    CHECK_STR(joule_table_text(t, 1, col(t, "flags")), "");
    CHECK_STR(joule_table_text(t, 0, col(t, "kind")), "package");
    CHECK_STR(joule_table_text(t, 0, col(t, "provenance")), "measured");
    CHECK_NEAR(joule_table_number(t, 3, col(t, "energy_j")), 110 * 0.75, 1e-9);
    CHECK(!joule_table_is_number(t, 0, col(t, "net_energy_j")));
    joule_table_free(t);

    /* EXPORT */
    CHECK(joule_store_query(s, JOULE_QUERY_EXPORT, id, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 1);
    static const char *const seed[] = {"experiment_id",
                                       "name",
                                       "model",
                                       "precision",
                                       "backend",
                                       "dataset",
                                       "batch_size",
                                       "cycles",
                                       "energy_provenance",
                                       "energy_total_J",
                                       "energy_J_per_ex",
                                       "tokens_total",
                                       "tpj",
                                       "latency_s",
                                       "E_run_J",
                                       "T_in",
                                       "T_out",
                                       "EPT_in_J_per_tok",
                                       "EPT_out_J_per_tok",
                                       "EPT_total_J_per_tok"};
    for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++)
        CHECK_STR(joule_table_col_name(t, i), seed[i]);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "energy_total_J")), 110, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "E_run_J")), 110, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "energy_J_per_ex")), 55, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "tokens_total")), 260, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "T_out")), 210, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "tpj")), 2, 1e-12);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "latency_s")), 0.5, 1e-12);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "cycles")), 3, 0);
    CHECK(!joule_table_is_number(t, 0, col(t, "EPT_in_J_per_tok")));
    CHECK_NEAR(joule_table_number(t, 0, col(t, "energy_total_j_std")), 10, 1e-9);
    CHECK_NEAR(joule_table_number(t, 0, col(t, "energy_total_j_ci95")), 24.841377, 1e-5);
    CHECK_STR(joule_table_text(t, 0, col(t, "precision")), "q4_0");
    CHECK(joule_table_cols(t) == 20 + 3 * 10);
    CHECK_STR(joule_table_text(t, 0, col(t, "energy_provenance")), "sampled");
    joule_table_free(t);

    /* INFO */
    CHECK(joule_store_query(s, JOULE_QUERY_INFO, id, &t) == JOULE_OK);
    CHECK_STR(joule_table_text(t, row_of(t, "status"), 1), "running");
    CHECK_STR(joule_table_text(t, row_of(t, "config"), 1), exp_a.config_yaml);
    CHECK_STR(joule_table_text(t, row_of(t, "environment"), 1), exp_a.environment_json);
    CHECK_STR(joule_table_text(t, row_of(t, "cycle_order"), 1), "2,0,1");
    CHECK_STR(joule_table_text(t, row_of(t, "finished"), 1), "");
    CHECK_NEAR(joule_table_number(t, row_of(t, "cycles_done"), 1), 3, 0);
    CHECK_NEAR(joule_table_number(t, row_of(t, "batch_size"), 1), 4, 0);
    const char *uid = joule_table_text(t, row_of(t, "uid"), 1);
    CHECK(strlen(uid) == 32 && strspn(uid, "0123456789abcdef") == 32);
    joule_table_free(t);

    /* Re-adding cycle 1 replaces it: still 3 cycles, 6 requests, 6 domains. */
    CHECK(add_cycle(s, id, 1, 130.0) == JOULE_OK);
    CHECK(count(s, "SELECT count(*) FROM cycles") == 3);
    CHECK(count(s, "SELECT count(*) FROM requests") == 6);
    CHECK(count(s, "SELECT count(*) FROM domains") == 6);
    CHECK(count(s, "SELECT count(*) FROM metrics") == 30);
    CHECK(joule_store_query(s, JOULE_QUERY_SUMMARY, id, &t) == JOULE_OK);
    CHECK_NEAR(cell(t, "energy_total_j", "mean"), 350.0 / 3.0, 1e-9);
    joule_table_free(t);

    /* Resume lookups and status. */
    int64_t found = -1;
    CHECK(joule_store_find_incomplete(s, "hash-a", &found) == JOULE_OK && found == id);
    CHECK(joule_store_find_incomplete(s, "other", &found) == JOULE_OK && found == 0);
    unsigned char done[5];
    char status[32], *yaml = NULL;
    CHECK(joule_store_experiment_get(s, id, &yaml, done, 5, status, sizeof(status)) == JOULE_OK);
    CHECK_STR(yaml, exp_a.config_yaml);
    joule_free(yaml);
    CHECK(done[0] && done[1] && done[2] && !done[3] && !done[4]);
    CHECK_STR(status, "running");
    CHECK(joule_store_experiment_status(s, id, JOULE_STATUS_COMPLETED, "thermal-drift") ==
          JOULE_OK);
    CHECK(joule_store_find_incomplete(s, "hash-a", &found) == JOULE_OK && found == 0);
    CHECK(joule_store_experiment_get(s, id, NULL, NULL, 0, status, sizeof(status)) == JOULE_OK);
    CHECK_STR(status, "completed");
    CHECK(joule_store_query(s, JOULE_QUERY_INFO, id, &t) == JOULE_OK);
    CHECK_STR(joule_table_text(t, row_of(t, "flags"), 1), "thermal-drift");
    CHECK(strlen(joule_table_text(t, row_of(t, "finished"), 1)) == 20);
    joule_table_free(t);
    CHECK(joule_store_experiment_status(s, id, JOULE_STATUS_INTERRUPTED, NULL) == JOULE_OK);
    CHECK(joule_store_find_incomplete(s, "hash-a", &found) == JOULE_OK && found == id);
    CHECK(joule_store_query(s, JOULE_QUERY_INFO, id, &t) == JOULE_OK);
    CHECK_STR(joule_table_text(t, row_of(t, "flags"), 1), "thermal-drift");
    joule_table_free(t);

    /* Unknown ids. */
    CHECK(joule_store_experiment_status(s, 99, "failed", NULL) == JOULE_ERR_NOT_FOUND);
    CHECK(add_cycle(s, 99, 0, 1.0) == JOULE_ERR_NOT_FOUND);
    CHECK(joule_store_query(s, JOULE_QUERY_SUMMARY, 99, &t) == JOULE_ERR_NOT_FOUND);
    CHECK(t == NULL);
    char want[700];
    snprintf(want, sizeof(want), "no experiment 99 in %s (see `joule results list`)", path);
    CHECK_STR(joule_store_errmsg(s), want);
    CHECK(joule_store_experiment_get(s, 99, NULL, NULL, 0, NULL, 0) == JOULE_ERR_NOT_FOUND);

    /* A second experiment to compare: energy 200, 200 (no spread). */
    struct joule_store_experiment eb = exp_a;
    eb.name = "tiny-f16";
    eb.config_hash = "hash-b";
    int64_t id2 = 0;
    CHECK(joule_store_experiment_add(s, &eb, &id2) == JOULE_OK && id2 == 2);
    CHECK(add_cycle(s, id2, 0, 200.0) == JOULE_OK);
    CHECK(add_cycle(s, id2, 1, 200.0) == JOULE_OK);
    CHECK(joule_store_compare(s, id, id2, &t) == JOULE_OK);
    CHECK_STR(joule_table_col_name(t, 7), "overlap");
    CHECK_NEAR(cell(t, "energy_total_j", "a_mean"), 350.0 / 3.0, 1e-9);
    CHECK_NEAR(cell(t, "energy_total_j", "b_mean"), 200.0, 1e-9);
    CHECK_NEAR(cell(t, "energy_total_j", "b_ci95"), 0.0, 1e-12);
    CHECK_NEAR(cell(t, "energy_total_j", "diff"), 200.0 - 350.0 / 3.0, 1e-9);
    CHECK_NEAR(cell(t, "energy_total_j", "ratio"), 600.0 / 350.0, 1e-12);
    /* a: 100, 130, 120: s = 15.275, ci = 37.95 < 83.3 */
    CHECK_STR(joule_table_text(t, row_of(t, "energy_total_j"), col(t, "overlap")), "no");
    CHECK_STR(joule_table_text(t, row_of(t, "tokens_per_joule"), col(t, "overlap")), "yes");
    /* tokens_out a 200, 210, 220 (ci 24.8) vs b 200, 210 (ci 63.5): overlap */
    CHECK_STR(joule_table_text(t, row_of(t, "tokens_out"), col(t, "overlap")), "yes");
    joule_table_free(t);
    CHECK(joule_store_compare(s, id, 77, &t) == JOULE_ERR_NOT_FOUND);

    /* Timeline, then removal (cascading to every table). */
    const char *doms[] = {"package-0", "gpu0"};
    double ts[] = {0.0, 0.1, 0.2}, pw[] = {10, 100, 11, 101, 12, NAN};
    CHECK(joule_store_timeline_add(s, id2, doms, 2, ts, pw, 3) == JOULE_OK);
    CHECK(count(s, "SELECT count(*) FROM timeline") == 6);
    CHECK(count(s, "SELECT count(*) FROM timeline WHERE power_w IS NULL") == 1);
    /* The cycle of each sample: cycles start 60 s apart (wall clock), the
     * first window opens at the first sample; 59.97 s is within the
     * tolerance of the second start. */
    double ts2[] = {59.97, 60.5, 84.0};
    CHECK(joule_store_timeline_add(s, id2, doms, 1, ts2, pw, 3) == JOULE_OK);
    CHECK(joule_store_query(s, JOULE_QUERY_TIMELINE, id2, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 9 && joule_table_cols(t) == 4);
    CHECK_STR(joule_table_col_name(t, 3), "power_w");
    double want_cycle[] = {0, 0, 0, 0, 0, 0, 1, 1, 1};
    for (size_t i = 0; i < 9 && joule_table_rows(t) == 9; i++)
        CHECK(joule_table_number(t, i, 0) == want_cycle[i]);
    CHECK_NEAR(joule_table_number(t, 8, 1), 84.0, 1e-12);
    CHECK_STR(joule_table_text(t, 8, 2), "package-0");
    joule_table_free(t);
    CHECK(joule_store_remove(s, id2) == JOULE_OK);
    CHECK(joule_store_remove(s, id2) == JOULE_ERR_NOT_FOUND);
    CHECK(joule_store_query(s, JOULE_QUERY_EXPORT, id2, &t) == JOULE_ERR_NOT_FOUND);
    CHECK(count(s, "SELECT count(*) FROM timeline") == 0);
    CHECK(count(s, "SELECT count(*) FROM requests WHERE experiment_id = 2") == 0);
    CHECK(count(s, "SELECT count(*) FROM metrics WHERE experiment_id = 2") == 0);
    CHECK(count(s, "SELECT count(*) FROM cycles") == 3);
    CHECK(joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 1);
    joule_table_free(t);
    /* ids are never reused */
    CHECK(joule_store_experiment_add(s, &eb, &id2) == JOULE_OK && id2 == 3);
    joule_store_close(s);

    /* Reopening keeps everything. */
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 2);
    joule_table_free(t);
    joule_store_close(s);
}

/* Accuracy scores: tied to an experiment or standalone, refused for an
 * experiment that does not exist, gone with their experiment. */
static void test_evals(void)
{
    char path[600], err[512];
    target_in(path, sizeof(path), "evals.db");
    struct joule_store *s = NULL;
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (!s)
        return;
    int64_t exp = 0, id = 0;
    CHECK(joule_store_experiment_add(s, &exp_a, &exp) == JOULE_OK);
    struct joule_eval_result r = {JOULE_EVAL_NUMERIC, 0.25, NAN, NAN, NAN, 8, 2, NAN, 0, 96};
    struct joule_store_eval e = {exp, "m.gguf", "abc", "Q4_0", "numeric", "arithmetic", "{}", r};
    CHECK(joule_store_eval_add(s, &e, &id) == JOULE_OK && id == 1);
    e.experiment_id = 0;
    e.result.task = JOULE_EVAL_PPL;
    e.task = "ppl";
    e.result.score = 512.5;
    e.result.nll = log(512.5);
    CHECK(joule_store_eval_add(s, &e, &id) == JOULE_OK && id == 2);
    e.experiment_id = 99;
    CHECK(joule_store_eval_add(s, &e, &id) == JOULE_ERR_NOT_FOUND && id == 0);
    e.experiment_id = 0;
    e.task = NULL;
    CHECK(joule_store_eval_add(s, &e, &id) == JOULE_ERR_INVALID);
    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_EVALS, exp, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 1);
    if (t && joule_table_rows(t) == 1) {
        CHECK_STR(joule_table_text(t, 0, col(t, "task")), "numeric");
        CHECK_NEAR(joule_table_number(t, 0, col(t, "score")), 0.25, 0);
        CHECK_NEAR(joule_table_number(t, 0, col(t, "n_correct")), 2, 0);
        CHECK(!joule_table_is_number(t, 0, col(t, "nll")));
    }
    joule_table_free(t);
    CHECK(joule_store_query(s, JOULE_QUERY_EVALS, 0, &t) == JOULE_OK);
    CHECK(t && joule_table_rows(t) == 2);
    if (t && joule_table_rows(t) == 2) {
        CHECK(!joule_table_is_number(t, 1, col(t, "experiment_id")));
        CHECK(!joule_table_is_number(t, 1, col(t, "n_correct"))); /* ppl has none */
        CHECK_NEAR(joule_table_number(t, 1, col(t, "nll")), log(512.5), 1e-12);
    }
    joule_table_free(t);
    CHECK(joule_store_remove(s, exp) == JOULE_OK);
    CHECK(count(s, "SELECT count(*) FROM evals") == 1);
    joule_store_close(s);
}

static void test_default_path(void)
{
    char path[600], cwd[1024];
    path_in(path, sizeof(path), "env.db");
    setenv("JOULE_DB", path, 1);
    struct joule_store *s = NULL;
    char err[512];
    CHECK(joule_store_open(NULL, &s, err, sizeof(err)) == JOULE_OK);
    CHECK_STR(joule_store_path(s), path);
    joule_store_close(s);
    CHECK(access(path, F_OK) == 0);

    /* Without JOULE_DB: joule-results/joule.db in the working directory. */
    unsetenv("JOULE_DB");
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK(chdir(dir) == 0);
    CHECK(joule_store_open(NULL, &s, err, sizeof(err)) == JOULE_OK);
    CHECK_STR(joule_store_path(s), "joule-results/joule.db");
    joule_store_close(s);
    CHECK(access("joule-results/joule.db", F_OK) == 0);
    CHECK(chdir(cwd) == 0);
}

/* path holds a database of schema 99: opening it is refused, saying so. */
static void check_newer_refused(const char *path, char *err, size_t err_size)
{
    struct joule_store *s = (struct joule_store *)1;
    CHECK(joule_store_open(path, &s, err, err_size) == JOULE_ERR_UNSUPPORTED);
    CHECK(s == NULL);
    char want[96];
    snprintf(want, sizeof(want), "was written by a newer joule (schema 99, this joule knows %d)",
             JOULE_STORE_SCHEMA_VERSION);
    CHECK(strstr(err, want) != NULL);
}

static void test_refusals(void)
{
    char path[600], err[512];
    struct joule_store *s = NULL;

    /* A newer schema. */
    path_in(path, sizeof(path), "newer.db");
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (s) {
        CHECK(joule_db_exec(s->db, "PRAGMA user_version = 99") == 0);
        joule_store_close(s);
    }
    check_newer_refused(path, err, sizeof(err));
    CHECK(strstr(err, path) != NULL);

    /* Not a database at all. */
    path_in(path, sizeof(path), "garbage.db");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        for (int i = 0; i < 200; i++)
            fputs("this is certainly not an SQLite file. ", f);
        fclose(f);
    }
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "not a joule results database") != NULL);

    /* An SQLite database of something else. */
    path_in(path, sizeof(path), "other.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(db);
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "other tables") != NULL);
    /* ... untouched */
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* A folder that cannot be created. */
    CHECK(joule_store_open("/proc/joule-test/x.db", &s, err, sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, "/proc/joule-test/x.db") != NULL);
}

static void test_migration(void)
{
    char path[600], err[512];
    path_in(path, sizeof(path), "v1.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, joule_store_migrations[0], NULL, NULL, NULL) == SQLITE_OK);
    const char *rows =
        "INSERT INTO experiments (uid, name, status, created_at, config_yaml, config_hash,"
        " model_name, batch_size, cycles_planned)"
        " VALUES ('0123456789abcdef0123456789abcdef', 'old', 'completed', 1.6e9, 'a: 1\n',"
        " 'h', 'old.gguf', 1, 2);"
        "INSERT INTO cycles (experiment_id, cycle, position, started_at, duration_s, repeats)"
        " VALUES (1, 0, 0, 1.6e9, 10, 1), (1, 1, 1, 1.6e9 + 20, 10, 1);"
        "INSERT INTO metrics VALUES (1, 0, 'energy_total_j', 50), (1, 1, 'energy_total_j', 70);"
        "INSERT INTO requests (experiment_id, cycle, idx, sample_id, n_input, n_output)"
        " VALUES (1, 0, 0, 'x', 3, 4);";
    CHECK(sqlite3_exec(db, rows, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    struct joule_store *s = NULL;
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(version(s) == JOULE_STORE_SCHEMA_VERSION);
    CHECK(count(s, "SELECT count(*) FROM timeline") == 0);
    CHECK(count(s, "SELECT count(*) FROM requests WHERE text IS NULL") == 1);
    struct joule_table *t = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_SUMMARY, 1, &t) == JOULE_OK);
    CHECK_NEAR(cell(t, "energy_total_j", "mean"), 60.0, 1e-12);
    CHECK_NEAR(cell(t, "energy_total_j", "ci95"), 12.706204736 * 10.0, 1e-5);
    joule_table_free(t);
    CHECK(joule_store_query(s, JOULE_QUERY_EXPERIMENTS, 0, &t) == JOULE_OK);
    CHECK_STR(joule_table_text(t, 0, col(t, "name")), "old");
    CHECK_STR(joule_table_text(t, 0, col(t, "cycles")), "2/2");
    CHECK_STR(joule_table_text(t, 0, col(t, "created")), "2020-09-13T12:26:40Z");
    joule_table_free(t);
    /* New rows go in with the new column. */
    int64_t id = 0;
    CHECK(joule_store_experiment_add(s, &exp_a, &id) == JOULE_OK && id == 2);
    CHECK(add_cycle(s, id, 0, 100) == JOULE_OK);
    CHECK(count(s, "SELECT count(*) FROM requests WHERE text IS NOT NULL") == 1);
    /* ... and version 3's table of accuracy scores is there. */
    CHECK(count(s, "SELECT count(*) FROM evals") == 0);
    joule_store_close(s);
    /* A second open has nothing to do. */
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    joule_store_close(s);
}

static void test_table_text(void)
{
    struct joule_table *t = joule_table_new();
    size_t r;
    CHECK(joule_table_add_col(t, "x") == JOULE_OK);
    CHECK(joule_table_add_row(t, &r) == JOULE_OK);
    CHECK(joule_table_set_number(t, r, 0, 0.0125) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "0.0125");
    CHECK(joule_table_set_number(t, r, 0, 0.1 + 0.2) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "0.3");
    CHECK(joule_table_set_number(t, r, 0, 110.0) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "110");
    CHECK(joule_table_set_number(t, r, 0, 2.0 / 3.0) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "0.666666666666667");
    CHECK(joule_table_set_number(t, r, 0, 1e20) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "1e+20");
    CHECK(joule_table_set_number(t, r, 0, -0.0) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "0");
    CHECK(joule_table_set_number(t, r, 0, 1234567.0) == JOULE_OK);
    CHECK_STR(joule_table_text(t, r, 0), "1234567");
    CHECK(joule_table_set_number(t, r, 0, NAN) == JOULE_OK);
    CHECK(!joule_table_is_number(t, r, 0) && isnan(joule_table_number(t, r, 0)));
    CHECK_STR(joule_table_text(t, r, 0), "");
    CHECK_STR(joule_table_text(t, 5, 5), "");
    CHECK_STR(joule_table_col_name(t, 3), "");
    joule_table_free(t);
}

/* A tuning mirrors its trials.csv: saved again (a resumed run), it keeps its
 * id, its trials are replaced, and the tuning energy adds up. */
static void test_tune(void)
{
    char path[600];
    target_in(path, sizeof(path), "tune.db");
    struct joule_store *s = NULL;
    char err[512];
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (!s)
        return;
    struct joule_store_tune_run r = {"/x/out/trials.csv", "/m.gguf", "d", "rouge", "summaries",
                                     "{}", 10.0, "estimated"};
    struct joule_store_tune_trial t[3] = {
        {0, "style=role", "COMPLETE", 0.5, 0.25, 0.25, NAN, NAN, 3.0, 2.0, 0.1, 6, 4, 1,
         "estimated"},
        {1, "style=concise", "PRUNED", 0.2, 0.1, 0.1, NAN, NAN, 1.0, 1.0, 0.1, 1, 2, 0,
         "estimated"},
        {2, "style=stepwise", "FAIL", NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0, NULL},
    };
    int64_t id = 0, id2 = 0;
    CHECK(joule_store_tune_save(s, &r, t, 2, &id) == JOULE_OK && id > 0);
    CHECK(count(s, "SELECT count(*) FROM tune_trials") == 2);
    r.tuning_energy_j = 5.0;
    CHECK(joule_store_tune_save(s, &r, t, 3, &id2) == JOULE_OK && id2 == id);
    CHECK(count(s, "SELECT count(*) FROM tune_runs") == 1);
    CHECK(count(s, "SELECT count(*) FROM tune_trials") == 3);
    struct joule_table *q = NULL;
    CHECK(joule_store_query(s, JOULE_QUERY_TUNE, 0, &q) == JOULE_OK);
    CHECK(q && joule_table_rows(q) == 1);
    for (size_t j = 0; q && j < joule_table_cols(q); j++) {
        if (strcmp(joule_table_col_name(q, j), "tuning_energy_j") == 0)
            CHECK_NEAR(joule_table_number(q, 0, j), 15.0, 1e-12);
        if (strcmp(joule_table_col_name(q, j), "best_value") == 0)
            CHECK_NEAR(joule_table_number(q, 0, j), 0.5, 1e-12);
        if (strcmp(joule_table_col_name(q, j), "trials") == 0)
            CHECK_NEAR(joule_table_number(q, 0, j), 3, 0);
    }
    joule_table_free(q);
    CHECK(joule_store_query(s, JOULE_QUERY_TUNE, id, &q) == JOULE_OK);
    CHECK(q && joule_table_rows(q) == 3 && !joule_table_is_number(q, 2, 3)); /* FAIL: no value */
    joule_table_free(q);
    CHECK(joule_store_query(s, JOULE_QUERY_TUNE, id + 7, &q) == JOULE_ERR_NOT_FOUND);
    /* An unmeasured invocation leaves the energy as it was. */
    r.tuning_energy_j = NAN;
    CHECK(joule_store_tune_save(s, &r, t, 3, &id2) == JOULE_OK);
    CHECK(count(s, "SELECT round(tuning_energy_j) FROM tune_runs") == 15);
    joule_store_close(s);
}

/* PostgreSQL: a newer schema, a database of something else, a server that
 * is not there (named without the password). */
static void test_refusals_pg(void)
{
    char path[600], err[512];
    struct joule_store *s = NULL;
    target_in(path, sizeof(path), "newer");
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_OK);
    if (s) {
        CHECK(joule_db_exec(s->db, "UPDATE joule_meta SET value = '99'"
                                   " WHERE key = 'schema_version'") == 0);
        joule_store_close(s);
    }
    check_newer_refused(path, err, sizeof(err));

    target_in(path, sizeof(path), "other");
    struct joule_db *db = NULL;
    CHECK(joule_db_open(path, &db, err, sizeof(err)) == JOULE_OK);
    if (db) {
        CHECK(joule_db_exec(db, "CREATE TABLE t (x INTEGER)") == 0);
        joule_db_close(db);
    }
    CHECK(joule_store_open(path, &s, err, sizeof(err)) == JOULE_ERR_FORMAT);
    CHECK(strstr(err, "a PostgreSQL database with other tables") != NULL);

    CHECK(joule_store_open("postgresql://joule:s3cret@127.0.0.1:1/nowhere", &s, err,
                           sizeof(err)) == JOULE_ERR_IO);
    CHECK(strstr(err, "postgresql://joule@127.0.0.1:1/nowhere: cannot connect") == err);
    CHECK(strstr(err, "s3cret") == NULL);
}

static void test_redact(void)
{
    static const char *const cases[][2] = {
        {"postgresql://u:pw@h:5432/db", "postgresql://u@h:5432/db"},
        {"postgres://u@h/db?password=pw&sslmode=disable",
         "postgres://u@h/db?password=***&sslmode=disable"},
        {"postgresql://h/db", "postgresql://h/db"},
        {"host=h password=pw dbname=d", "host=h password=*** dbname=d"},
        {"dbname=d", "dbname=d"},
        {"a/b.db", "a/b.db"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        joule_db_redact(cases[i][0], out, sizeof(out));
        CHECK_STR(out, cases[i][1]);
    }
    CHECK(joule_db_is_pg("postgresql://x") && joule_db_is_pg("postgres://x") &&
          joule_db_is_pg("host=x") && !joule_db_is_pg("postgresql.db") &&
          !joule_db_is_pg("./host=x"));
}

/* Many processes open a new database at once: each gets it whole, the
 * schema made once. */
static char shared_target[600];

static void *open_shared(void *arg)
{
    struct joule_store *s = NULL;
    char err[512];
    enum joule_status st = joule_store_open(shared_target, &s, err, sizeof(err));
    if (st != JOULE_OK)
        fprintf(stderr, "%s\n", err);
    int64_t id = 0;
    if (st == JOULE_OK)
        st = joule_store_experiment_add(s, &exp_a, &id);
    if (st == JOULE_OK)
        st = add_cycle(s, id, 0, 100.0);
    joule_store_close(s);
    *(enum joule_status *)arg = st;
    return NULL;
}

static void test_concurrent_open(void)
{
    target_in(shared_target, sizeof(shared_target), "shared.db");
    enum joule_status st[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, open_shared, &st[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(st[i] == JOULE_OK);
    }
    struct joule_store *s = NULL;
    char err[512];
    CHECK(joule_store_open(shared_target, &s, err, sizeof(err)) == JOULE_OK);
    if (!s)
        return;
    CHECK(version(s) == JOULE_STORE_SCHEMA_VERSION);
    CHECK(count(s, "SELECT count(*) FROM experiments") == 4);
    CHECK(count(s, "SELECT count(DISTINCT uid) FROM experiments") == 4);
    CHECK(count(s, "SELECT count(*) FROM cycles") == 4);
    joule_store_close(s);
}

/* Late aggregation: an SQLite file merged into this run's database kind,
 * twice (nothing the second time), then once more after the source
 * finished a run. */
static void test_push(void)
{
    char src_path[600], dst_path[600], err[512];
    path_in(src_path, sizeof(src_path), "push-src.db");
    unlink(src_path);
    target_in(dst_path, sizeof(dst_path), "push-dst.db");
    struct joule_store *src = NULL, *dst = NULL;
    CHECK(joule_store_open(src_path, &src, err, sizeof(err)) == JOULE_OK);
    CHECK(joule_store_open(dst_path, &dst, err, sizeof(err)) == JOULE_OK);
    if (!src || !dst) {
        joule_store_close(src);
        joule_store_close(dst);
        return;
    }
    /* The destination has one experiment of its own: ids differ. */
    int64_t own = 0, a = 0, b = 0, gid = 0, tid = 0;
    CHECK(joule_store_experiment_add(dst, &exp_a, &own) == JOULE_OK && own == 1);
    CHECK(joule_store_experiment_add(src, &exp_a, &a) == JOULE_OK);
    CHECK(joule_store_experiment_add(src, &exp_a, &b) == JOULE_OK);
    for (int k = 0; k < 3; k++)
        CHECK(add_cycle(src, a, k, 100.0 + 10.0 * k) == JOULE_OK);
    CHECK(add_cycle(src, b, 0, 50.0) == JOULE_OK);
    CHECK(joule_store_experiment_status(src, a, JOULE_STATUS_COMPLETED, "") == JOULE_OK);
    const char *doms[] = {"package-0", "gpu0"};
    double ts[] = {0.0, 0.1}, pw[] = {10, 100, 11, 101};
    CHECK(joule_store_timeline_add(src, a, doms, 2, ts, pw, 2) == JOULE_OK);
    struct joule_eval_result er = {JOULE_EVAL_NUMERIC, 0.25, NAN, NAN, NAN, 8, 2, NAN, 0, 96};
    struct joule_store_eval e = {a, "m.gguf", "abc", "Q4_0", "numeric", "arith", "{}", er};
    CHECK(joule_store_eval_add(src, &e, NULL) == JOULE_OK);
    e.experiment_id = 0;
    e.task = "ppl";
    e.result.task = JOULE_EVAL_PPL;
    CHECK(joule_store_eval_add(src, &e, NULL) == JOULE_OK);
    int64_t members[] = {a, b};
    CHECK(joule_store_group_add(src, "sweep", "batch", members, 2, &gid) == JOULE_OK);
    struct joule_store_tune_run tr = {"/x/trials.csv", "/m.gguf", "d", "rouge", "s", "{}",
                                      1.0, "estimated"};
    struct joule_store_tune_trial tt = {0,   "style=role", "COMPLETE", 0.5, 0.25, 0.25, NAN,
                                        NAN, 3.0,          2.0,        0.1, 6,    4,    1,
                                        "estimated"};
    CHECK(joule_store_tune_save(src, &tr, &tt, 1, &tid) == JOULE_OK);

    struct joule_push_counts n;
    CHECK(joule_store_push(src, dst, &n) == JOULE_OK);
    if (n.experiments != 2)
        fprintf(stderr, "push: %s\n", joule_store_errmsg(dst));
    CHECK(n.experiments == 2 && n.cycles == 4 && n.already == 0);
    CHECK(n.groups == 1 && n.tunings == 1 && n.evals == 1);
    CHECK(count(dst, "SELECT count(*) FROM experiments") == 3);
    CHECK(count(dst, "SELECT count(*) FROM cycles") == 4);
    CHECK(count(dst, "SELECT count(*) FROM metrics") == 40);
    CHECK(count(dst, "SELECT count(*) FROM domains") == 8);
    CHECK(count(dst, "SELECT count(*) FROM requests") == 8);
    CHECK(count(dst, "SELECT count(*) FROM timeline") == 4);
    CHECK(count(dst, "SELECT count(*) FROM evals") == 2);
    CHECK(count(dst, "SELECT count(*) FROM tune_trials") == 1);
    CHECK(count(dst, "SELECT count(*) FROM group_members") == 2);
    /* The references follow the new ids. */
    CHECK(count(dst, "SELECT count(*) FROM cycles c JOIN experiments e"
                     " ON e.id = c.experiment_id WHERE e.id <> 1") == 4);
    CHECK(count(dst, "SELECT min(experiment_id) FROM group_members") == 2);
    CHECK(count(dst, "SELECT count(*) FROM evals WHERE experiment_id = 2") == 1);
    /* Same numbers on both sides. */
    struct joule_table *t = NULL;
    CHECK(joule_store_query(dst, JOULE_QUERY_SUMMARY, 2, &t) == JOULE_OK);
    CHECK_NEAR(cell(t, "energy_total_j", "mean"), 110.0, 1e-12);
    CHECK_NEAR(cell(t, "energy_total_j", "ci95"), 24.841377, 1e-5);
    joule_table_free(t);
    CHECK(joule_store_query(dst, JOULE_QUERY_DOMAINS, 2, &t) == JOULE_OK);
    CHECK(joule_table_rows(t) == 6 &&
          strcmp(joule_table_text(t, 0, col(t, "window")), "prefill") == 0);
    joule_table_free(t);
    CHECK(joule_store_query(dst, JOULE_QUERY_INFO, 2, &t) == JOULE_OK);
    CHECK_STR(joule_table_text(t, row_of(t, "status"), 1), "completed");
    joule_table_free(t);

    /* Again: nothing new. */
    CHECK(joule_store_push(src, dst, &n) == JOULE_OK);
    CHECK(n.experiments == 0 && n.cycles == 0 && n.already == 2);
    CHECK(n.groups == 0 && n.tunings == 0 && n.evals == 0);
    CHECK(count(dst, "SELECT count(*) FROM experiments") == 3);
    CHECK(count(dst, "SELECT count(*) FROM evals") == 2);

    /* The source finishes b offline: its new cycles and status follow. */
    CHECK(add_cycle(src, b, 1, 60.0) == JOULE_OK);
    CHECK(add_cycle(src, b, 2, 70.0) == JOULE_OK);
    CHECK(joule_store_experiment_status(src, b, JOULE_STATUS_COMPLETED, "") == JOULE_OK);
    CHECK(joule_store_push(src, dst, &n) == JOULE_OK);
    CHECK(n.experiments == 1 && n.cycles == 2 && n.already == 1);
    CHECK(count(dst, "SELECT count(*) FROM cycles WHERE experiment_id = 3") == 3);
    CHECK(count(dst, "SELECT count(*) FROM experiments WHERE status = 'completed'") == 2);
    CHECK(count(dst, "SELECT count(*) FROM metrics") == 60);
    joule_store_close(src);
    joule_store_close(dst);
}

static void run_suite(void)
{
    RUN(test_write_and_query);
    RUN(test_evals);
    RUN(test_tune);
    RUN(test_concurrent_open);
    RUN(test_push);
    if (pg_url) {
        RUN(test_refusals_pg);
    } else {
        RUN(test_table_text);
        RUN(test_redact);
        RUN(test_default_path);
        RUN(test_refusals);
        RUN(test_migration);
    }
}

int main(void)
{
    const char *tmp = getenv("JOULE_TEST_TMP");
    snprintf(dir, sizeof(dir), "%s/store-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(dir, 0777);
    run_suite();
    pg_url = getenv("JOULE_TEST_PG_URL");
    if (pg_url && pg_url[0]) {
        printf("again on PostgreSQL (%s)\n", pg_url);
        run_suite();
        char sql[128];
        for (size_t i = 0; i < n_pg_made; i++) {
            snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", pg_made[i]);
            CHECK(pg_admin(sql) == 0);
        }
    }
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (t_fail == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
