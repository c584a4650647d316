/*
 * engine_access: whether commands other than PR IN/OUT conflict with a
 * persistent reservation (SPC-4 5.12.1).
 */
#include "engine_int.h"

typedef enum AccessClass {
    ACCESS_ALWAYS, /* allowed under every reservation */
    ACCESS_READ,   /* conflicts with exclusive-access reservations */
    ACCESS_WRITE,  /* conflicts with write-exclusive ones too */
} AccessClass;

/* Classify an operation code by SPC-4 table 63 and SBC-3 table 13. */
static AccessClass access_class(const uint8_t *cdb)
{
    switch (cdb[0]) {
    case 0x00: /* TEST UNIT READY */
    case 0x03: /* REQUEST SENSE */
    case 0x12: /* INQUIRY */
    case 0x25: /* READ CAPACITY (10) */
    case 0x4d: /* LOG SENSE */
    case 0xa0: /* REPORT LUNS */
    case 0x5e: /* PERSISTENT RESERVE IN */
        return ACCESS_ALWAYS;
    case 0x9e: /* SERVICE ACTION IN (16) */
        /* READ CAPACITY (16) is always allowed; GET LBA STATUS reads. */
        return cdb_service_action(cdb) == 0x10 ? ACCESS_ALWAYS : ACCESS_READ;
    case 0xa3: /* MAINTENANCE IN: REPORT TARGET PORT GROUPS and friends */
        return ACCESS_ALWAYS;
    case 0xab: /* SERVICE ACTION IN (12): READ MEDIA SERIAL NUMBER */
        return ACCESS_ALWAYS;
    case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL: allowed with PREVENT 0 */
        return (cdb[4] & 0x03) == 0 ? ACCESS_ALWAYS : ACCESS_WRITE;
    case 0x1b: /* START STOP UNIT: START 1, POWER CONDITION 0 allowed */
        return ((cdb[4] & 0x01) && (cdb[4] & 0xf0) == 0) ? ACCESS_ALWAYS
                                                         : ACCESS_WRITE;
    case 0x08: /* READ (6) */
    case 0x28: /* READ (10) */
    case 0xa8: /* READ (12) */
    case 0x88: /* READ (16) */
    case 0x2f: /* VERIFY (10) */
    case 0xaf: /* VERIFY (12) */
    case 0x8f: /* VERIFY (16) */
    case 0x34: /* PRE-FETCH (10) */
    case 0x90: /* PRE-FETCH (16) */
    case 0x1a: /* MODE SENSE (6) */
    case 0x5a: /* MODE SENSE (10) */
    case 0x3c: /* READ BUFFER */
    case 0x1c: /* RECEIVE DIAGNOSTIC RESULTS */
    case 0x37: /* READ DEFECT DATA (10) */
    case 0xb7: /* READ DEFECT DATA (12) */
    case 0x8c: /* READ ATTRIBUTE */
    case 0xa2: /* SECURITY PROTOCOL IN */
    case 0x84: /* third-party copy IN: RECEIVE COPY RESULTS */
        return ACCESS_READ;
    default:
        /* WRITE, WRITE SAME, UNMAP, COMPARE AND WRITE, SYNCHRONIZE CACHE,
         * FORMAT UNIT, MODE SELECT, LOG SELECT, WRITE BUFFER, SEND
         * DIAGNOSTIC, EXTENDED COPY and anything unknown: the most
         * restrictive class. */
        return ACCESS_WRITE;
    }
}

bool engine_access_conflicts(const PrState *state, const PrNexus *nexus,
                             const uint8_t *cdb)
{
    AccessClass cls = access_class(cdb);
    int me;
    bool exclusive_access;

    if (state->res_type == PR_TYPE_NONE || cls == ACCESS_ALWAYS) {
        return false;
    }
    me = engine_find_registration(state, nexus);
    if (me >= 0 && engine_reg_is_holder(state, me)) {
        return false;
    }
    exclusive_access = state->res_type == PR_TYPE_EXCLUSIVE_ACCESS ||
                       state->res_type == PR_TYPE_EXCLUSIVE_ACCESS_RO ||
                       state->res_type == PR_TYPE_EXCLUSIVE_ACCESS_AR;
    if (engine_type_registrants_only(state->res_type) ||
        engine_type_all_registrants(state->res_type)) {
        /* Registrants may access the medium; others as for WE / EA. */
        if (me >= 0) {
            return false;
        }
    }
    if (exclusive_access) {
        return true;
    }
    return cls == ACCESS_WRITE;
}
