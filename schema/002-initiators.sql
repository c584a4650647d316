-- 002-initiators: the initiator names given to VMs.
--
-- A VM's nexus follows the VM, not the host: it is keyed by the VM's
-- uuid (or, without one, its name) and keeps the readable iSCSI name it
-- was given when first seen, on whichever host it runs later.

CREATE TABLE initiator (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,   -- "uuid:<uuid>" or "name:<name>"
    name            TEXT NOT NULL UNIQUE,   -- iSCSI name of its TransportID
    vm_name         TEXT,
    vm_uuid         TEXT,
    last_host       TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL
);
