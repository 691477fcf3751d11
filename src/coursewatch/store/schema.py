"""The SQLite store's tables: created when missing at every start (older databases gain the
tables they lack; the columns they lack are added by :func:`store.incidents.migrate_events`)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS races (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, race_text TEXT NOT NULL, race_suffix TEXT NOT NULL,
  course_bytes BLOB NOT NULL, course_suffix TEXT NOT NULL, start_ts REAL NOT NULL,
  ingest_token TEXT NOT NULL, public INTEGER NOT NULL DEFAULT 0, created_ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runners (
  race_id TEXT NOT NULL REFERENCES races(id), bib TEXT NOT NULL, name TEXT NOT NULL,
  start_ts REAL, dnf INTEGER NOT NULL DEFAULT 0, finish_ts REAL, PRIMARY KEY (race_id, bib));
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY, race_id TEXT NOT NULL, bib TEXT NOT NULL,
  FOREIGN KEY (race_id, bib) REFERENCES runners(race_id, bib));
CREATE TABLE IF NOT EXISTS fixes (
  race_id TEXT NOT NULL, bib TEXT NOT NULL, time_s REAL NOT NULL, lat REAL NOT NULL,
  lon REAL NOT NULL, accuracy_m REAL, speed_mps REAL, bearing_deg REAL, altitude_m REAL,
  battery_pct REAL, received_ts REAL NOT NULL, source TEXT NOT NULL,
  PRIMARY KEY (race_id, bib, time_s)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, race_id TEXT NOT NULL, bib TEXT NOT NULL,
  kind TEXT NOT NULL, time_s REAL NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL,
  course_m REAL, offset_m REAL, sentence TEXT NOT NULL, detail TEXT NOT NULL,
  raised_s REAL NOT NULL, ack_by TEXT, ack_ts REAL, retracted INTEGER NOT NULL DEFAULT 0,
  episode TEXT NOT NULL DEFAULT '', level TEXT NOT NULL DEFAULT 'flag',
  closes INTEGER NOT NULL DEFAULT 0, names TEXT,
  UNIQUE (race_id, bib, kind, time_s));
CREATE TABLE IF NOT EXISTS incidents (
  id INTEGER PRIMARY KEY AUTOINCREMENT, race_id TEXT NOT NULL, bib TEXT NOT NULL,
  episode TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL, open INTEGER NOT NULL,
  opened_s REAL NOT NULL, updated_s REAL NOT NULL, closed_s REAL, lat REAL NOT NULL,
  lon REAL NOT NULL, course_m REAL, offset_m REAL, sentence TEXT NOT NULL, updates TEXT NOT NULL,
  ack_by TEXT, ack_ts REAL, retracted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (race_id, bib, episode));
CREATE TABLE IF NOT EXISTS counts (
  race_id TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (race_id, reason));
CREATE TABLE IF NOT EXISTS unknown_devices (
  device_id TEXT PRIMARY KEY, protocol TEXT NOT NULL, n INTEGER NOT NULL, last_ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS unknown_devices_last ON unknown_devices(last_ts);
CREATE TABLE IF NOT EXISTS webhooks (
  id INTEGER PRIMARY KEY AUTOINCREMENT, race_id TEXT NOT NULL REFERENCES races(id),
  url TEXT NOT NULL, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, race_id TEXT NOT NULL, incident_id INTEGER NOT NULL,
  update_n INTEGER NOT NULL, recipient TEXT NOT NULL, role TEXT NOT NULL, bib TEXT NOT NULL,
  url TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, priority INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  next_ts REAL NOT NULL, created_ts REAL NOT NULL, sent_ts REAL, error TEXT NOT NULL DEFAULT '',
  UNIQUE (incident_id, update_n, recipient));
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_ts);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries(recipient, state, id);
CREATE TABLE IF NOT EXISTS runner_states (
  race_id TEXT NOT NULL, bib TEXT NOT NULL, time_s REAL NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (race_id, bib));
"""
