CREATE TABLE IF NOT EXISTS messages (
    id TEXT NOT NULL, seq INTEGER NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (id, seq));
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, node TEXT NOT NULL, camera TEXT NOT NULL, type TEXT NOT NULL,
    severity TEXT NOT NULL, rule TEXT, started_at TEXT NOT NULL, ended_at TEXT,
    phase TEXT NOT NULL, last_seq INTEGER NOT NULL, score DOUBLE PRECISION NOT NULL,
    objects TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'new', unit TEXT, note TEXT,
    state_at DOUBLE PRECISION, state_by TEXT, snapshot INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (state, started_at DESC);
CREATE INDEX IF NOT EXISTS alerts_by_camera ON alerts (node, camera, started_at DESC);
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY, jpeg BYTEA NOT NULL, received_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY, status TEXT, status_at DOUBLE PRECISION, health TEXT,
    health_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    at DOUBLE PRECISION NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL,
    alert_id TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at DESC);
