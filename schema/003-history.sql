-- 003-history: the audit log, and every place a logical unit was seen.
--
-- history holds one row per PR OUT command that reached the database
-- (answered GOOD or rejected) and per administrative action of the
-- softpr tool, written in the same transaction as the change it
-- records.  It names LUs and initiators by value, not by reference, so
-- that it outlives them.  Old rows are pruned as new ones are added
-- ([history] keep-rows, keep-days).
--
-- lu_seen records each (host, path) through which a logical unit was
-- reached, and how it was identified there.

CREATE TABLE history (
    id              INTEGER PRIMARY KEY,
    at_ms           INTEGER NOT NULL,   -- milliseconds since the epoch
    host            TEXT NOT NULL,      -- host whose daemon or tool acted
    origin          TEXT NOT NULL CHECK (origin IN ('softprd', 'softpr')),
    lu_name         TEXT NOT NULL,
    initiator       BLOB,               -- TransportID; NULL: administrator
    initiator_name  TEXT,
    rtpi            INTEGER,
    action          TEXT NOT NULL,      -- service action or tool command
    service_action  INTEGER,            -- PR OUT service action code
    type            INTEGER,
    scope           INTEGER,
    key             INTEGER,            -- RESERVATION KEY
    sa_key          INTEGER,            -- SERVICE ACTION RESERVATION KEY
    spec_i_pt       INTEGER,
    all_tg_pt       INTEGER,
    aptpl           INTEGER,
    unreg           INTEGER,            -- REGISTER AND MOVE
    move_rtpi       INTEGER,            -- REGISTER AND MOVE
    status          INTEGER NOT NULL,   -- SCSI status
    sense_key       INTEGER,            -- with CHECK CONDITION
    asc             INTEGER,
    ascq            INTEGER,
    generation      INTEGER NOT NULL,   -- PRgeneration afterwards
    detail          TEXT
);

CREATE INDEX history_at ON history (at_ms);

CREATE TABLE lu_seen (
    lu_id           INTEGER NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    host            TEXT NOT NULL,
    path            TEXT NOT NULL,
    id_source       TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    PRIMARY KEY (lu_id, host, path)
) WITHOUT ROWID;

INSERT INTO lu_seen (lu_id, host, path, id_source, first_seen, last_seen)
    SELECT id, last_host, last_path, id_source, created_at,
           coalesce(last_seen, created_at)
    FROM lu WHERE last_host IS NOT NULL AND last_path IS NOT NULL;
