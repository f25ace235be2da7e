/*
 * schema.c - the results database schema and its migrations
 * (docs/internals/store-schema.md).  A database records its version in
 * PRAGMA user_version; opening one applies the migrations it lacks, each in
 * one transaction.  Never edit a released step: add a new one.
 */
#include "store_int.h"

/* Version 1: experiments, cycles with their metrics, domain readings and
 * requests. */
static const char schema_v1[] =
    "PRAGMA application_id = 1246713164;\n" /* 0x4a4f554c, 'JOUL' */
    "CREATE TABLE experiments (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  uid TEXT NOT NULL UNIQUE,\n"
    "  name TEXT NOT NULL DEFAULT '',\n"
    "  status TEXT NOT NULL DEFAULT 'running',\n"
    "  flags TEXT NOT NULL DEFAULT '',\n"
    "  created_at REAL NOT NULL,\n"
    "  finished_at REAL,\n"
    "  config_yaml TEXT NOT NULL DEFAULT '',\n"
    "  config_hash TEXT NOT NULL DEFAULT '',\n"
    "  model_path TEXT,\n"
    "  model_name TEXT,\n"
    "  model_digest TEXT,\n"
    "  precision TEXT,\n"
    "  backend TEXT,\n"
    "  dataset TEXT,\n"
    "  batch_size INTEGER,\n"
    "  cycles_planned INTEGER,\n"
    "  cycle_order TEXT,\n"
    "  environment_json TEXT,\n"
    "  meter_json TEXT\n"
    ");\n"
    "CREATE INDEX experiments_by_config ON experiments(config_hash, status);\n"
    "CREATE TABLE cycles (\n"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  cycle INTEGER NOT NULL,\n"
    "  position INTEGER,\n"
    "  started_at REAL,\n"
    "  duration_s REAL,\n"
    "  repeats INTEGER,\n"
    "  flags TEXT NOT NULL DEFAULT '',\n"
    "  PRIMARY KEY (experiment_id, cycle)\n"
    ");\n"
    "CREATE TABLE metrics (\n"
    "  experiment_id INTEGER NOT NULL,\n"
    "  cycle INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  value REAL,\n"
    "  PRIMARY KEY (experiment_id, cycle, name),\n"
    "  FOREIGN KEY (experiment_id, cycle) REFERENCES cycles(experiment_id, cycle)\n"
    "    ON DELETE CASCADE\n"
    ");\n"
    "CREATE TABLE domains (\n"
    "  experiment_id INTEGER NOT NULL,\n"
    "  cycle INTEGER NOT NULL,\n"
    "  window_name TEXT NOT NULL,\n"
    "  domain TEXT NOT NULL,\n"
    "  source TEXT,\n"
    "  kind TEXT,\n"
    "  provenance TEXT,\n"
    "  in_total INTEGER,\n"
    "  flags INTEGER NOT NULL DEFAULT 0,\n"
    "  energy_j REAL,\n"
    "  bound_j REAL,\n"
    "  net_energy_j REAL,\n"
    "  net_bound_j REAL,\n"
    "  idle_power_w REAL,\n"
    "  avg_power_w REAL,\n"
    "  peak_power_w REAL,\n"
    "  interval_s REAL,\n"
    "  n_samples INTEGER,\n"
    "  note TEXT NOT NULL DEFAULT '',\n"
    "  PRIMARY KEY (experiment_id, cycle, window_name, domain),\n"
    "  FOREIGN KEY (experiment_id, cycle) REFERENCES cycles(experiment_id, cycle)\n"
    "    ON DELETE CASCADE\n"
    ");\n"
    "CREATE TABLE requests (\n"
    "  experiment_id INTEGER NOT NULL,\n"
    "  cycle INTEGER NOT NULL,\n"
    "  idx INTEGER NOT NULL,\n"
    "  sample_id TEXT,\n"
    "  batch INTEGER,\n"
    "  n_input INTEGER,\n"
    "  n_output INTEGER,\n"
    "  finish TEXT,\n"
    "  queue_s REAL,\n"
    "  prefill_s REAL,\n"
    "  ttft_s REAL,\n"
    "  decode_s REAL,\n"
    "  total_s REAL,\n"
    "  itl_mean_s REAL,\n"
    "  itl_p50_s REAL,\n"
    "  itl_p90_s REAL,\n"
    "  itl_max_s REAL,\n"
    "  energy_prefill_j REAL,\n"
    "  energy_decode_j REAL,\n"
    "  PRIMARY KEY (experiment_id, cycle, idx),\n"
    "  FOREIGN KEY (experiment_id, cycle) REFERENCES cycles(experiment_id, cycle)\n"
    "    ON DELETE CASCADE\n"
    ");\n"
    "PRAGMA user_version = 1;\n";

/* Version 2: the generated text of each request, and power timelines. */
static const char migrate_v2[] =
    "ALTER TABLE requests ADD COLUMN text TEXT;\n"
    "CREATE TABLE timeline (\n"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  t_s REAL NOT NULL,\n"
    "  domain TEXT NOT NULL,\n"
    "  power_w REAL\n"
    ");\n"
    "CREATE INDEX timeline_by_experiment ON timeline(experiment_id, t_s);\n"
    "PRAGMA user_version = 2;\n";

/* Version 3: accuracy scores (joule eval, joule compare), tied to the
 * experiment whose file they scored, or standalone (experiment_id NULL). */
static const char migrate_v3[] =
    "CREATE TABLE evals (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  experiment_id INTEGER REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  created_at REAL NOT NULL,\n"
    "  model_path TEXT,\n"
    "  model_digest TEXT,\n"
    "  weight_type TEXT,\n"
    "  task TEXT NOT NULL,\n"
    "  dataset TEXT,\n"
    "  n INTEGER,\n"
    "  score REAL,\n"
    "  n_correct INTEGER,\n"
    "  nll REAL,\n"
    "  rouge1 REAL,\n"
    "  rouge2 REAL,\n"
    "  rougeL REAL,\n"
    "  params TEXT NOT NULL DEFAULT ''\n"
    ");\n"
    "CREATE INDEX evals_by_experiment ON evals(experiment_id);\n"
    "PRAGMA user_version = 3;\n";

/* Version 4: prompt tunings (joule tune): one row per trials.csv, its trials
 * as the file holds them after each invocation. */
static const char migrate_v4[] =
    "CREATE TABLE tune_runs (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  created_at REAL NOT NULL,\n"
    "  updated_at REAL NOT NULL,\n"
    "  trials_path TEXT NOT NULL UNIQUE,\n"
    "  model_path TEXT,\n"
    "  model_digest TEXT,\n"
    "  task TEXT,\n"
    "  dataset TEXT,\n"
    "  settings TEXT NOT NULL DEFAULT '',\n"
    "  tuning_energy_j REAL,\n"
    "  energy_provenance TEXT\n"
    ");\n"
    "CREATE TABLE tune_trials (\n"
    "  run_id INTEGER NOT NULL REFERENCES tune_runs(id) ON DELETE CASCADE,\n"
    "  number INTEGER NOT NULL,\n"
    "  config TEXT NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  value REAL,\n"
    "  accuracy REAL,\n"
    "  rougeL REAL,\n"
    "  exact REAL,\n"
    "  numeric REAL,\n"
    "  energy_j REAL,\n"
    "  tpj REAL,\n"
    "  latency_s REAL,\n"
    "  tokens INTEGER,\n"
    "  n_examples INTEGER,\n"
    "  pareto_rank INTEGER,\n"
    "  energy_provenance TEXT,\n"
    "  PRIMARY KEY (run_id, number)\n"
    ");\n"
    "PRAGMA user_version = 4;\n";

/* Version 5: why a request failed (backends http and command), and where
 * its token counts come from. */
static const char migrate_v5[] =
    "ALTER TABLE requests ADD COLUMN error TEXT;\n"
    "ALTER TABLE requests ADD COLUMN tokens TEXT;\n"
    "PRAGMA user_version = 5;\n";

/* Version 6: which experiments one sweep or one compare made, so that a
 * report or a plot can name them by the sweep's (compare's) id. */
static const char migrate_v6[] =
    "CREATE TABLE groups (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  kind TEXT NOT NULL,\n"
    "  created_at REAL NOT NULL,\n"
    "  label TEXT\n"
    ");\n"
    "CREATE TABLE group_members (\n"
    "  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,\n"
    "  position INTEGER NOT NULL,\n"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY (group_id, position)\n"
    ");\n"
    "PRAGMA user_version = 6;\n";

/* Version 7: one experiment measured on several nodes (docs/scale-out.md).
 * node_runs marks an experiment as multi-node under a join key; nodes holds
 * each node's state, which the lead and the other nodes use to open and close
 * every cycle's window together, and the reading of its last window, which
 * the lead adds into the cycle's. */
static const char migrate_v7[] =
    "CREATE TABLE node_runs (\n"
    "  experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  join_key TEXT NOT NULL,\n"
    "  nodes INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX node_runs_by_key ON node_runs(join_key);\n"
    "CREATE TABLE nodes (\n"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,\n"
    "  node_rank INTEGER NOT NULL,\n"
    "  node TEXT NOT NULL,\n"
    "  state TEXT NOT NULL,\n"
    "  cycle INTEGER NOT NULL,\n"
    "  updated_at REAL,\n"
    "  reading_json TEXT,\n"
    "  environment_json TEXT,\n"
    "  meter_json TEXT,\n"
    "  PRIMARY KEY (experiment_id, node_rank)\n"
    ");\n"
    "PRAGMA user_version = 7;\n";

const char *const joule_store_migrations[JOULE_STORE_SCHEMA_VERSION] = {
    schema_v1,
    migrate_v2,
    migrate_v3,
    migrate_v4,
    migrate_v5,
    migrate_v6,
    migrate_v7,
};
