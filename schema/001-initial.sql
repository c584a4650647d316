-- 001-initial: logical units, registrations, reservations, unit attentions.
--
-- One row per logical unit holds its PRgeneration, APTPL state and the
-- reservation; the holder of a reservation that is not all-registrants is
-- the registration flagged "holder".  Registrations and unit attentions
-- are kept in the order they were made (id), which is the order READ KEYS
-- and READ FULL STATUS report them in.  Times are seconds since the epoch.

CREATE TABLE lu (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    id_source       TEXT NOT NULL,
    generation      INTEGER NOT NULL DEFAULT 0
                    CHECK (generation BETWEEN 0 AND 4294967295),
    aptpl           INTEGER NOT NULL DEFAULT 0 CHECK (aptpl IN (0, 1)),
    info_lost       INTEGER NOT NULL DEFAULT 0 CHECK (info_lost IN (0, 1)),
    res_type        INTEGER NOT NULL DEFAULT 0
                    CHECK (res_type IN (0, 1, 3, 5, 6, 7, 8)),
    res_scope       INTEGER NOT NULL DEFAULT 0 CHECK (res_scope = 0),
    last_host       TEXT,
    last_path       TEXT,
    last_seen       INTEGER,
    created_at      INTEGER NOT NULL
);

CREATE TABLE registration (
    id              INTEGER PRIMARY KEY,
    lu_id           INTEGER NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    initiator       BLOB NOT NULL,      -- SPC-4 TransportID
    initiator_name  TEXT NOT NULL,      -- the same, readable
    rtpi            INTEGER NOT NULL CHECK (rtpi BETWEEN 0 AND 65535),
    all_tg_pt       INTEGER NOT NULL DEFAULT 0 CHECK (all_tg_pt IN (0, 1)),
    key             INTEGER NOT NULL,   -- 64-bit key, two's complement
    holder          INTEGER NOT NULL DEFAULT 0 CHECK (holder IN (0, 1)),
    host            TEXT NOT NULL,      -- host whose daemon registered it
    registered_at   INTEGER NOT NULL,
    UNIQUE (lu_id, initiator, rtpi)
);

CREATE TABLE unit_attention (
    id              INTEGER PRIMARY KEY,
    lu_id           INTEGER NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    initiator       BLOB NOT NULL,
    initiator_name  TEXT NOT NULL,
    rtpi            INTEGER NOT NULL CHECK (rtpi BETWEEN 0 AND 65535),
    asc             INTEGER NOT NULL,
    ascq            INTEGER NOT NULL,
    raised_at       INTEGER NOT NULL,
    UNIQUE (lu_id, initiator, rtpi, asc, ascq)
);
