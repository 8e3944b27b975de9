-- Jobs, their history, the credit ledger and small bot-wide values.
CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    kind                   TEXT NOT NULL,
    state                  TEXT NOT NULL,
    user_id                BIGINT NOT NULL,
    guild_id               BIGINT,
    channel_id             BIGINT NOT NULL,
    prompt                 TEXT NOT NULL,
    aspect_ratio           TEXT NOT NULL,
    image_urls             TEXT NOT NULL DEFAULT '[]',
    sources                TEXT NOT NULL DEFAULT '[]',
    parent_job_id          TEXT,
    application_id         BIGINT,
    interaction_token      TEXT,
    interaction_expires_at DOUBLE PRECISION,
    placeholder_message_id BIGINT,
    result_message_id      BIGINT,
    upload_limit           BIGINT NOT NULL,
    simulated              BIGINT NOT NULL DEFAULT 0,
    cost                   BIGINT NOT NULL DEFAULT 0,
    scope                  TEXT NOT NULL,
    task_id                TEXT,
    error_code             TEXT,
    error_message          TEXT,
    created_at             DOUBLE PRECISION NOT NULL,
    submitted_at           DOUBLE PRECISION,
    completed_at           DOUBLE PRECISION,
    finished_at            DOUBLE PRECISION,
    updated_at             DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_active ON jobs (state) WHERE state NOT IN ('delivered', 'failed');
CREATE INDEX jobs_user ON jobs (user_id, created_at);

CREATE TABLE history (
    job_id            TEXT PRIMARY KEY,
    user_id           BIGINT NOT NULL,
    guild_id          BIGINT,
    channel_id        BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    aspect_ratio      TEXT NOT NULL,
    sources           TEXT NOT NULL DEFAULT '[]',
    parent_job_id     TEXT,
    state             TEXT NOT NULL,
    cost              BIGINT NOT NULL,
    result_message_id BIGINT,
    error_message     TEXT,
    created_at        DOUBLE PRECISION NOT NULL,
    finished_at       DOUBLE PRECISION NOT NULL
);
CREATE INDEX history_user ON history (user_id, finished_at);

CREATE TABLE accounts (
    user_id      BIGINT NOT NULL,
    scope        TEXT NOT NULL,
    balance      BIGINT NOT NULL CHECK (balance >= 0),
    period_start DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE ledger (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    scope      TEXT NOT NULL,
    delta      BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    job_id     TEXT,
    actor_id   BIGINT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, scope);
-- A reservation is settled once: by a capture or by a refund, never both, never twice.
CREATE UNIQUE INDEX ledger_settled_once ON ledger (job_id) WHERE reason IN ('capture', 'refund');
CREATE UNIQUE INDEX ledger_reserved_once ON ledger (job_id) WHERE reason = 'reserve';

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
