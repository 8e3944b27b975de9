-- Member preferences (/preferences): one row per member who changed any; no row means the defaults.
-- aspect_ratio / model: NULL = the bot's default (auto, reapi.model). private: 'off', 'dm' or 'ephemeral'.
-- notify: 1 = mention the member when a result is ready.
CREATE TABLE member_preferences (
    user_id      BIGINT PRIMARY KEY,
    aspect_ratio TEXT,
    model        TEXT,
    private      TEXT NOT NULL DEFAULT 'off',
    notify       INTEGER NOT NULL DEFAULT 0,
    updated_at   DOUBLE PRECISION NOT NULL
);
