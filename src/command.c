/*
 * command: a PR command as a store transaction around the engine.
 */
#include "command.h"

#include <string.h>

#include "error.h"
#include "scsi.h"

static void result_reset(PrResult *result)
{
    result->status = SCSI_STATUS_GOOD;
    memset(result->sense, 0, sizeof(result->sense));
    result->data_len = 0;
    result->changed = false;
    result->ua_reported = false;
    result->generation_raised = false;
}

static void result_sense(PrResult *result, ScsiSenseCode code)
{
    result_reset(result);
    result->status = SCSI_STATUS_CHECK_CONDITION;
    scsi_sense_build(result->sense, code);
}

void command_store_failure(PrResult *result, const GError *error,
                           const char *what)
{
    if (g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY)) {
        result_reset(result);
        result->status = SCSI_STATUS_BUSY;
        g_warning("%s: database lock not obtained in time, answering BUSY: "
                  "%s",
                  what, error->message);
        return;
    }
    result_sense(result, SENSE_INTERNAL_TARGET_FAILURE);
    g_warning("%s: database failure, answering ABORTED COMMAND: %s", what,
              error->message);
}

static const char *action_name(const uint8_t *cdb)
{
    return cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN
               ? engine_in_action_name(cdb[1] & 0x1f)
               : engine_out_action_name(cdb[1] & 0x1f);
}

static void log_outcome(const PrNexus *nexus, const StoreLuInfo *lu,
                        const uint8_t *cdb, const PrResult *result)
{
    g_autofree char *who = tid_to_string(&nexus->initiator);
    GLogLevelFlags level = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT
                               ? G_LOG_LEVEL_INFO
                               : G_LOG_LEVEL_DEBUG;

    if (result->status == SCSI_STATUS_CHECK_CONDITION) {
        g_log_structured(
            G_LOG_DOMAIN, level, "SOFTPR_LU", lu->name, "SOFTPR_INITIATOR", who,
            "MESSAGE", "LU %s: %s from %s: CHECK CONDITION %s, %s", lu->name,
            action_name(cdb), who, scsi_sense_key_name(result->sense[2]),
            scsi_asc_name(result->sense[12], result->sense[13]));
    } else {
        g_log_structured(G_LOG_DOMAIN, level, "SOFTPR_LU", lu->name,
                         "SOFTPR_INITIATOR", who, "MESSAGE",
                         "LU %s: %s from %s: %s", lu->name, action_name(cdb),
                         who, scsi_status_name(result->status));
    }
}

/* Record PR OUT @request from @nexus, answered with @result. */
static bool record_history(Store *store, const PrNexus *nexus,
                           const StoreLuInfo *lu, const CommandRequest *request,
                           const PrResult *result, const PrState *state,
                           GError **error)
{
    PrOutFields fields;
    StoreHistoryEntry entry = {
        .origin = "softprd",
        .initiator = &nexus->initiator,
        .rtpi = nexus->rtpi,
        .fields = &fields,
        .status = result->status,
        .sense = result->status == SCSI_STATUS_CHECK_CONDITION ? result->sense
                                                               : NULL,
        .generation = state->generation,
    };

    engine_out_fields(request->cdb, request->data, request->data_len, &fields);
    entry.action = engine_out_action_name(fields.service_action);
    return store_add_history(store, lu->name, &entry, error);
}

/*
 * One attempt inside one transaction.  Returns false with @result set
 * when the store failed; sets *@need_write when a read transaction found
 * that the command changes state.
 */
static bool attempt(Store *store, const PrConfig *pr, const PrNexus *nexus,
                    const StoreLuInfo *lu, const CommandRequest *request,
                    bool write, bool *need_write, PrResult *result)
{
    g_autoptr(PrState) state = pr_state_new();
    g_autoptr(PrState) before = NULL;
    g_autoptr(GError) error = NULL;
    gint64 lu_id = 0;
    bool stale = false;
    /* Every PR OUT that reaches the database is in the history. */
    bool record = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT &&
                  store_history_enabled(store);

    *need_write = false;
    if (!store_begin(store, write, request->deadline, &error)) {
        command_store_failure(result, error, lu->name);
        return false;
    }
    if (!store_load_state(store, lu, state, &lu_id, &stale, &error)) {
        store_rollback(store);
        command_store_failure(result, error, lu->name);
        return false;
    }
    before = pr_state_copy(state);
    engine_execute(pr, nexus, request->cdb, request->data, request->data_len,
                   state, result);
    /* Write when the state changed, to record where the LU is seen now
     * when the database has not seen it here, or for the history. */
    if (!result->changed && !stale && !record) {
        /* Nothing to write: end the transaction without a journal. */
        store_rollback(store);
        return true;
    }
    if (!write) {
        store_rollback(store);
        *need_write = true;
        return true;
    }
    if (((result->changed || stale) &&
         !store_save_state(store, lu_id, lu, before, state, &error)) ||
        (record &&
         !record_history(store, nexus, lu, request, result, state, &error)) ||
        !store_commit(store, &error)) {
        store_rollback(store);
        command_store_failure(result, error, lu->name);
        return false;
    }
    return true;
}

void command_execute(Store *store, const PrConfig *pr, const PrNexus *nexus,
                     const StoreLuInfo *lu, const CommandRequest *request,
                     PrResult *result)
{
    bool write = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT;
    bool need_write = false;

    result_reset(result);
    /* qemu-pr-helper's answer to PR OUT through a read-only descriptor. */
    if (write && request->fd_read_only) {
        result_sense(result, SENSE_INVALID_OPCODE);
        log_outcome(nexus, lu, request->cdb, result);
        return;
    }
    if (!attempt(store, pr, nexus, lu, request, write, &need_write, result)) {
        return;
    }
    if (need_write &&
        !attempt(store, pr, nexus, lu, request, true, &need_write, result)) {
        return;
    }
    log_outcome(nexus, lu, request->cdb, result);
}
