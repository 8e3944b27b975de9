-- Server settings changed by /settings: one JSON document per server, a version counter every process polls
-- to see changes made elsewhere, and the audit log of who changed what and when.
CREATE TABLE guild_settings (
    guild_id   INTEGER PRIMARY KEY,
    data       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX guild_settings_version ON guild_settings (version);

-- One row: bumped by every change, so a process learns with one tiny read whether anything changed.
CREATE TABLE settings_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL DEFAULT 0);
INSERT INTO settings_version (id, version) VALUES (1, 0);

CREATE TABLE settings_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    actor_id   INTEGER NOT NULL,
    setting    TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX settings_audit_guild ON settings_audit (guild_id, id);

-- Members paused after too many content-policy failures in a day, per server (guild_id 0: DMs). Written with a
-- settings version bump, so every process holds the pauses in memory and intake never reads this table.
CREATE TABLE member_pauses (
    user_id  INTEGER NOT NULL,
    guild_id INTEGER NOT NULL,
    until    REAL NOT NULL,
    strikes  INTEGER NOT NULL,
    PRIMARY KEY (user_id, guild_id)
);

-- Content-policy strikes are counted from the jobs table: a member's failed jobs since a time.
CREATE INDEX jobs_user_errors ON jobs (user_id, error_code, finished_at);
