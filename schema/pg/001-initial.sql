-- 001-initial (PostgreSQL): every table of the sqlite schema (schema/
-- 001 to 003) with the same columns and meaning, plus the two tables
-- only a server database needs: softpr_meta (what this database is)
-- and command_outcome (how a COMMIT whose answer was lost is resolved).
--
-- Applied by store_pg_schema.c inside one transaction holding an
-- advisory lock, so that daemons starting together migrate once.
-- Times are seconds since the epoch unless a column says ms.

-- What this database is: application = 'softpr', schema_version = the
-- highest migration applied.  A database without it that holds other
-- tables is not softpr's and is never written.
CREATE TABLE softpr_meta (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);

-- One row per logical unit: its PRgeneration, APTPL state and the
-- reservation; the holder of a reservation that is not all-registrants
-- is the registration flagged holder.  Commands lock an LU by an
-- advisory lock on its name (the row may not exist yet).
CREATE TABLE lu (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    id_source       TEXT NOT NULL,
    generation      BIGINT NOT NULL DEFAULT 0
                    CHECK (generation BETWEEN 0 AND 4294967295),
    aptpl           SMALLINT NOT NULL DEFAULT 0 CHECK (aptpl IN (0, 1)),
    info_lost       SMALLINT NOT NULL DEFAULT 0 CHECK (info_lost IN (0, 1)),
    res_type        SMALLINT NOT NULL DEFAULT 0
                    CHECK (res_type IN (0, 1, 3, 5, 6, 7, 8)),
    res_scope       SMALLINT NOT NULL DEFAULT 0 CHECK (res_scope = 0),
    last_host       TEXT,
    last_path       TEXT,
    last_seen       BIGINT,
    created_at      BIGINT NOT NULL
);

-- Registrations in the order they were made (id): the order READ KEYS
-- and READ FULL STATUS report them in.
CREATE TABLE registration (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lu_id           BIGINT NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    initiator       BYTEA NOT NULL,     -- SPC-4 TransportID
    initiator_name  TEXT NOT NULL,      -- the same, readable
    rtpi            INTEGER NOT NULL CHECK (rtpi BETWEEN 0 AND 65535),
    all_tg_pt       SMALLINT NOT NULL DEFAULT 0 CHECK (all_tg_pt IN (0, 1)),
    key             BIGINT NOT NULL,    -- 64-bit key, two's complement
    holder          SMALLINT NOT NULL DEFAULT 0 CHECK (holder IN (0, 1)),
    host            TEXT NOT NULL,      -- host whose daemon registered it
    registered_at   BIGINT NOT NULL,
    UNIQUE (lu_id, initiator, rtpi)
);

-- ("asc" is quoted: a reserved word in PostgreSQL.)
CREATE TABLE unit_attention (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lu_id           BIGINT NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    initiator       BYTEA NOT NULL,
    initiator_name  TEXT NOT NULL,
    rtpi            INTEGER NOT NULL CHECK (rtpi BETWEEN 0 AND 65535),
    "asc"           INTEGER NOT NULL,
    ascq            INTEGER NOT NULL,
    raised_at       BIGINT NOT NULL,
    UNIQUE (lu_id, initiator, rtpi, "asc", ascq)
);

-- The initiator names given to VMs: a VM's nexus follows the VM, keyed
-- by its uuid (or name), on whichever host it runs.
CREATE TABLE initiator (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,   -- "uuid:<uuid>" or "name:<name>"
    name            TEXT NOT NULL UNIQUE,   -- iSCSI name of its TransportID
    vm_name         TEXT,
    vm_uuid         TEXT,
    last_host       TEXT NOT NULL,
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL
);

-- The audit log: one row per PR OUT command that reached the database
-- and per administrative action, written in the transaction of the
-- change it records; LUs and initiators named by value.
CREATE TABLE history (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms           BIGINT NOT NULL,    -- milliseconds since the epoch
    host            TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('softprd', 'softpr')),
    lu_name         TEXT NOT NULL,
    initiator       BYTEA,              -- TransportID; NULL: administrator
    initiator_name  TEXT,
    rtpi            INTEGER,
    action          TEXT NOT NULL,
    service_action  INTEGER,
    type            INTEGER,
    scope           INTEGER,
    key             BIGINT,             -- RESERVATION KEY
    sa_key          BIGINT,             -- SERVICE ACTION RESERVATION KEY
    spec_i_pt       INTEGER,
    all_tg_pt       INTEGER,
    aptpl           INTEGER,
    unreg           INTEGER,            -- REGISTER AND MOVE
    move_rtpi       INTEGER,            -- REGISTER AND MOVE
    status          INTEGER NOT NULL,   -- SCSI status
    sense_key       INTEGER,
    "asc"           INTEGER,
    ascq            INTEGER,
    generation      BIGINT NOT NULL,
    detail          TEXT
);

CREATE INDEX history_at ON history (at_ms);

-- Each (host, path) through which a logical unit was reached.
CREATE TABLE lu_seen (
    lu_id           BIGINT NOT NULL REFERENCES lu (id) ON DELETE CASCADE,
    host            TEXT NOT NULL,
    path            TEXT NOT NULL,
    id_source       TEXT NOT NULL,
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    PRIMARY KEY (lu_id, host, path)
);

-- One row per write transaction, written inside it: after a connection
-- drops during COMMIT, the daemon looks its id up to learn whether the
-- transaction committed, and answers accordingly.  Old rows are pruned.
CREATE TABLE command_outcome (
    id              TEXT PRIMARY KEY,
    host            TEXT NOT NULL,
    at_ms           BIGINT NOT NULL
);

CREATE INDEX command_outcome_at ON command_outcome (at_ms);
