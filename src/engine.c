/*
 * engine: SPC-4 persistent reservations as pure state transitions; this
 * file holds the entry point, results, the CDB checks PR IN and OUT
 * share, the whole-state transitions (power loss, forget) and names.
 *
 * Clause numbers are SPC-4 r37 unless marked SPC-5.  Checks run in this
 * order for PERSISTENT RESERVE OUT: unit attention, CDB fields, parameter
 * list length and fields, registration of the issuing nexus, reservation
 * key, then the service action itself (TYPE and SCOPE only where the
 * action uses them).
 */
#include "engine_int.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Names and type properties                                           */
/* ------------------------------------------------------------------ */

bool engine_type_valid(uint8_t type)
{
    switch (type) {
    case PR_TYPE_WRITE_EXCLUSIVE:
    case PR_TYPE_EXCLUSIVE_ACCESS:
    case PR_TYPE_WRITE_EXCLUSIVE_RO:
    case PR_TYPE_EXCLUSIVE_ACCESS_RO:
    case PR_TYPE_WRITE_EXCLUSIVE_AR:
    case PR_TYPE_EXCLUSIVE_ACCESS_AR:
        return true;
    default:
        return false;
    }
}

bool engine_type_all_registrants(uint8_t type)
{
    return type == PR_TYPE_WRITE_EXCLUSIVE_AR ||
           type == PR_TYPE_EXCLUSIVE_ACCESS_AR;
}

bool engine_type_registrants_only(uint8_t type)
{
    return type == PR_TYPE_WRITE_EXCLUSIVE_RO ||
           type == PR_TYPE_EXCLUSIVE_ACCESS_RO;
}

const char *engine_type_name(uint8_t type)
{
    switch (type) {
    case PR_TYPE_NONE:
        return "none";
    case PR_TYPE_WRITE_EXCLUSIVE:
        return "Write Exclusive";
    case PR_TYPE_EXCLUSIVE_ACCESS:
        return "Exclusive Access";
    case PR_TYPE_WRITE_EXCLUSIVE_RO:
        return "Write Exclusive, registrants only";
    case PR_TYPE_EXCLUSIVE_ACCESS_RO:
        return "Exclusive Access, registrants only";
    case PR_TYPE_WRITE_EXCLUSIVE_AR:
        return "Write Exclusive, all registrants";
    case PR_TYPE_EXCLUSIVE_ACCESS_AR:
        return "Exclusive Access, all registrants";
    default:
        return "obsolete or reserved type";
    }
}

const char *engine_in_action_name(uint8_t service_action)
{
    switch (service_action) {
    case PR_IN_READ_KEYS:
        return "READ KEYS";
    case PR_IN_READ_RESERVATION:
        return "READ RESERVATION";
    case PR_IN_REPORT_CAPABILITIES:
        return "REPORT CAPABILITIES";
    case PR_IN_READ_FULL_STATUS:
        return "READ FULL STATUS";
    default:
        return "reserved PR IN service action";
    }
}

const char *engine_out_action_name(uint8_t service_action)
{
    switch (service_action) {
    case PR_OUT_REGISTER:
        return "REGISTER";
    case PR_OUT_RESERVE:
        return "RESERVE";
    case PR_OUT_RELEASE:
        return "RELEASE";
    case PR_OUT_CLEAR:
        return "CLEAR";
    case PR_OUT_PREEMPT:
        return "PREEMPT";
    case PR_OUT_PREEMPT_AND_ABORT:
        return "PREEMPT AND ABORT";
    case PR_OUT_REGISTER_IGNORE:
        return "REGISTER AND IGNORE EXISTING KEY";
    case PR_OUT_REGISTER_AND_MOVE:
        return "REGISTER AND MOVE";
    case PR_OUT_REPLACE_LOST:
        return "REPLACE LOST RESERVATION";
    default:
        return "reserved PR OUT service action";
    }
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

void pr_result_status(PrResult *result, uint8_t status)
{
    memset(result, 0, offsetof(PrResult, data));
    result->status = status;
}

void pr_result_sense(PrResult *result, ScsiSenseCode code)
{
    pr_result_status(result, SCSI_STATUS_CHECK_CONDITION);
    scsi_sense_build(result->sense, code);
}

void engine_result_check(PrResult *result, ScsiSenseCode code)
{
    result->status = SCSI_STATUS_CHECK_CONDITION;
    scsi_sense_build(result->sense, code);
    result->data_len = 0;
}

/* CHECK CONDITION pointing at byte @byte (bit @bit, or -1) of the CDB. */
void engine_result_cdb_field(PrResult *result, ScsiSenseCode code,
                             uint16_t byte, int bit)
{
    engine_result_check(result, code);
    scsi_sense_set_field(result->sense, true, byte, bit);
}

/* CHECK CONDITION pointing into the parameter list. */
void engine_result_param_field(PrResult *result, ScsiSenseCode code,
                               uint16_t byte, int bit)
{
    engine_result_check(result, code);
    scsi_sense_set_field(result->sense, false, byte, bit);
}

/* RESERVATION CONFLICT is a status without sense data (SAM-5 5.3.1). */
void engine_result_conflict(PrResult *result)
{
    result->status = SCSI_STATUS_RESERVATION_CONFLICT;
    memset(result->sense, 0, sizeof(result->sense));
    result->data_len = 0;
}

/* ------------------------------------------------------------------ */
/* Commands and whole-state transitions                                */
/* ------------------------------------------------------------------ */

/*
 * The CDB checks PR IN and PR OUT share (SPC-4 6.13.1, 6.14.1): SERVICE
 * ACTION at most @max_sa, the reserved bits of byte 1 and bytes
 * @first..@last zero, and a CONTROL byte asking for neither NACA nor LINK
 * (SAM-5 5.2), which softprd does not support.
 */
bool engine_check_cdb(const uint8_t *cdb, uint8_t max_sa, int first, int last,
                      PrResult *result)
{
    int i;

    if (cdb_service_action(cdb) > max_sa) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 4);
        return false;
    }
    if (cdb[1] & 0xe0) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 7);
        return false;
    }
    for (i = first; i <= last; i++) {
        if (cdb[i] != 0) {
            engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB,
                                    (uint16_t)i, -1);
            return false;
        }
    }
    if (cdb[9] & 0x04) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 9, 2);
        return false;
    }
    if (cdb[9] & 0x01) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 9, 0);
        return false;
    }
    return true;
}

void engine_execute(const PrConfig *config, const PrNexus *nexus,
                    const uint8_t *cdb, const uint8_t *param, size_t param_len,
                    PrState *state, PrResult *result)
{
    PrState *scratch;

    memset(result, 0, offsetof(PrResult, data));
    result->changed = false;
    result->ua_reported = false;

    if (cdb[0] != SCSI_OP_PERSISTENT_RESERVE_IN &&
        cdb[0] != SCSI_OP_PERSISTENT_RESERVE_OUT) {
        engine_result_cdb_field(result, SENSE_INVALID_OPCODE, 0, -1);
        return;
    }
    if (engine_ua_handle(config, nexus, state, result)) {
        return;
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        engine_reserve_in(config, nexus, state, cdb, result);
        return;
    }
    /* Work on a copy so that a command failing half-way leaves nothing
     * behind: each PR OUT is one indivisible event (5.12.1). */
    scratch = pr_state_copy(state);
    engine_reserve_out(config, nexus, cdb, param, param_len, scratch, result);
    if (result->status == SCSI_STATUS_GOOD && !pr_state_equal(scratch, state)) {
        engine_state_replace(state, scratch);
        result->changed = true;
    } else {
        pr_state_free(scratch);
    }
}

void engine_power_loss(PrState *state)
{
    if (!state->aptpl) {
        g_array_set_size(state->regs, 0);
        engine_release(state);
    }
    g_array_set_size(state->uas, 0);
    state->generation = 0;
}

unsigned engine_forget(PrState *state, const TransportId *initiator)
{
    unsigned removed = 0;
    guint i = 0;

    while (i < state->regs->len) {
        if (tid_matches(&engine_reg(state, (int)i)->initiator, initiator)) {
            engine_unregister(state, (int)i);
            removed++;
        } else {
            i++;
        }
    }
    i = 0;
    while (i < state->uas->len) {
        PrUnitAttention *ua = &g_array_index(state->uas, PrUnitAttention, i);

        if (tid_matches(&ua->initiator, initiator)) {
            g_array_remove_index(state->uas, i);
        } else {
            i++;
        }
    }
    if (removed > 0) {
        state->generation++;
    }
    return removed;
}
