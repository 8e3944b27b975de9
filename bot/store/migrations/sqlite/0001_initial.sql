-- Jobs, their history, the credit ledger and small bot-wide values.
CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL,
    state                  TEXT NOT NULL,
    user_id                INTEGER NOT NULL,
    guild_id               INTEGER,
    channel_id             INTEGER NOT NULL,
    prompt                 TEXT NOT NULL,
    aspect_ratio           TEXT NOT NULL,
    image_urls             TEXT NOT NULL DEFAULT '[]',
    sources                TEXT NOT NULL DEFAULT '[]',
    parent_job_id          TEXT,
    application_id         INTEGER,
    interaction_token      TEXT,
    interaction_expires_at REAL,
    placeholder_message_id INTEGER,
    result_message_id      INTEGER,
    upload_limit           INTEGER NOT NULL,
    simulated              INTEGER NOT NULL DEFAULT 0,
    cost                   INTEGER NOT NULL DEFAULT 0,
    scope                  TEXT NOT NULL,
    task_id                TEXT,
    error_code             TEXT,
    error_message          TEXT,
    created_at             REAL NOT NULL,
    submitted_at           REAL,
    completed_at           REAL,
    finished_at            REAL,
    updated_at             REAL NOT NULL
);
CREATE INDEX jobs_active ON jobs (state) WHERE state NOT IN ('delivered', 'failed');
CREATE INDEX jobs_user ON jobs (user_id, created_at);

CREATE TABLE history (
    job_id            TEXT PRIMARY KEY,
    user_id           INTEGER NOT NULL,
    guild_id          INTEGER,
    channel_id        INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    aspect_ratio      TEXT NOT NULL,
    sources           TEXT NOT NULL DEFAULT '[]',
    parent_job_id     TEXT,
    state             TEXT NOT NULL,
    cost              INTEGER NOT NULL,
    result_message_id INTEGER,
    error_message     TEXT,
    created_at        REAL NOT NULL,
    finished_at       REAL NOT NULL
);
CREATE INDEX history_user ON history (user_id, finished_at);

CREATE TABLE accounts (
    user_id      INTEGER NOT NULL,
    scope        TEXT NOT NULL,
    balance      INTEGER NOT NULL CHECK (balance >= 0),
    period_start REAL NOT NULL,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    scope      TEXT NOT NULL,
    delta      INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    job_id     TEXT,
    actor_id   INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, scope);
-- A reservation is settled once: by a capture or by a refund, never both, never twice.
CREATE UNIQUE INDEX ledger_settled_once ON ledger (job_id) WHERE reason IN ('capture', 'refund');
CREATE UNIQUE INDEX ledger_reserved_once ON ledger (job_id) WHERE reason = 'reserve';

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
