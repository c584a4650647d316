/*
 * command: a PR command as a store transaction around the engine.
 */
#include "command.h"

#include <string.h>

#include "error.h"
#include "log.h"
#include "scsi.h"

bool command_refuse_read_only(const CommandRequest *request, PrResult *result)
{
    if (request->cdb[0] != SCSI_OP_PERSISTENT_RESERVE_OUT ||
        !request->fd_read_only) {
        return false;
    }
    pr_result_sense(result, SENSE_INVALID_OPCODE);
    return true;
}

void command_store_failure(PrResult *result, const GError *error,
                           const char *what)
{
    if (g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY)) {
        pr_result_status(result, SCSI_STATUS_BUSY);
        g_warning("%s: database lock not obtained in time, answering BUSY: "
                  "%s",
                  what, error->message);
        return;
    }
    pr_result_sense(result, SENSE_INTERNAL_TARGET_FAILURE);
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
    GLogLevelFlags level = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT
                               ? G_LOG_LEVEL_INFO
                               : G_LOG_LEVEL_DEBUG;
    g_autofree char *who = NULL;

    if (!log_enabled(level)) {
        return;
    }
    who = tid_to_string(&nexus->initiator);

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
 * The state of an LU as the group's earlier commands left it in the
 * transaction, so that a group of commands for one LU loads it once.
 */
typedef struct GroupLu {
    const char *name;
    gint64 id;
    PrState *state; /* as written; NULL: load it */
} GroupLu;

/*
 * Run @item inside the open transaction and, when @write, write what it
 * changed (and its history).  @lu, when not NULL, holds the LU's state
 * as the transaction has it (used instead of loading it when known) and
 * receives the state the command leaves in *@after with its row id, for
 * the caller to keep once the command's changes are kept.  Returns false
 * with @error when the store failed.  Without @write, sets *@need_write
 * when the command has something to write, and writes nothing.
 */
static bool apply(Store *store, const PrConfig *pr, const CommandItem *item,
                  const GroupLu *lu, bool write, bool *need_write,
                  GroupLu *after, GError **error)
{
    const CommandRequest *request = item->request;
    g_autoptr(PrState) state = NULL;
    g_autoptr(PrState) before = NULL;
    gint64 lu_id = 0;
    bool stale = false;
    /* Every PR OUT that reaches the database is in the history. */
    bool record = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT &&
                  store_history_enabled(store);

    *need_write = false;
    if (lu != NULL && lu->state != NULL) {
        /* Written by this transaction: where it is seen is recorded. */
        state = pr_state_copy(lu->state);
        lu_id = lu->id;
    } else {
        state = pr_state_new();
        if (!store_load_state(store, item->lu, state, &lu_id, &stale, error)) {
            return false;
        }
    }
    before = pr_state_copy(state);
    engine_execute(pr, item->nexus, request->cdb, request->data,
                   request->data_len, state, item->result);
    /* Write when the state changed, to record where the LU is seen now
     * when the database has not seen it here, or for the history. */
    *need_write = item->result->changed || stale || record;
    if (write && *need_write &&
        !(((!item->result->changed && !stale) ||
           store_save_state(store, lu_id, item->lu, before, state, error)) &&
          (!record || record_history(store, item->nexus, item->lu, request,
                                     item->result, state, error)))) {
        return false;
    }
    if (after != NULL && lu_id != 0) {
        /* A new LU's row id is not known here: the next command loads. */
        after->id = lu_id;
        after->state = g_steal_pointer(&state);
    }
    return true;
}

/*
 * PR IN in a read transaction.  Returns false with @item->result set when
 * the store failed; sets *@need_write when the command changes state (a
 * unit attention it reports, where the LU is seen) and must run again in
 * a write transaction.
 */
static bool read_attempt(Store *store, const PrConfig *pr,
                         const CommandItem *item, bool *need_write)
{
    g_autoptr(GError) error = NULL;
    bool ok;

    if (!store_begin(store, false, item->request->deadline, &error)) {
        command_store_failure(item->result, error, item->lu->name);
        return false;
    }
    ok = apply(store, pr, item, NULL, false, need_write, NULL, &error);
    store_rollback(store);
    if (!ok) {
        command_store_failure(item->result, error, item->lu->name);
    }
    return ok;
}

bool command_execute_read(Store *store, const PrConfig *pr,
                          const PrNexus *nexus, const StoreLuInfo *lu,
                          const CommandRequest *request, PrResult *result)
{
    CommandItem item = {nexus, lu, request, result};
    bool need_write = true;

    if (request->cdb[0] != SCSI_OP_PERSISTENT_RESERVE_IN) {
        return false;
    }
    if (!read_attempt(store, pr, &item, &need_write)) {
        return true; /* answered with the store's failure */
    }
    if (need_write) {
        return false;
    }
    log_outcome(nexus, lu, request->cdb, result);
    return true;
}

void command_execute(Store *store, const PrConfig *pr, const PrNexus *nexus,
                     const StoreLuInfo *lu, const CommandRequest *request,
                     PrResult *result)
{
    CommandItem item = {nexus, lu, request, result};

    if (!command_execute_read(store, pr, nexus, lu, request, result)) {
        command_execute_group(store, pr, &item, 1);
    }
}

/* The earliest deadline among @items still to run (not @done). */
static gint64 earliest_deadline(const CommandItem *items, const bool *done,
                                size_t n)
{
    gint64 earliest = G_MAXINT64;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!done[i] && items[i].request->deadline < earliest) {
            earliest = items[i].request->deadline;
        }
    }
    return earliest;
}

/*
 * Begin the group's write transaction.  While the lock is busy, the
 * commands whose deadline has passed are answered BUSY one by one and the
 * others go on waiting until theirs.  Returns false when every command
 * has been answered.
 */
static bool group_begin(Store *store, CommandItem *items, bool *done, size_t n)
{
    for (;;) {
        g_autoptr(GError) error = NULL;
        gint64 deadline = earliest_deadline(items, done, n);
        gint64 now;
        bool busy;
        size_t i;

        if (deadline == G_MAXINT64) {
            return false;
        }
        if (store_begin(store, true, deadline, &error)) {
            return true;
        }
        now = g_get_monotonic_time();
        busy = g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY);
        for (i = 0; i < n; i++) {
            if (!done[i] && (!busy || items[i].request->deadline <= now ||
                             items[i].request->deadline == deadline)) {
                command_store_failure(items[i].result, error,
                                      items[i].lu->name);
                done[i] = true;
            }
        }
    }
}

/* The entry of LU @name in @lus (@n_lus used), added when missing. */
static GroupLu *group_lu(GroupLu *lus, size_t *n_lus, const char *name)
{
    size_t i;

    for (i = 0; i < *n_lus; i++) {
        if (strcmp(lus[i].name, name) == 0) {
            return &lus[i];
        }
    }
    lus[*n_lus].name = name;
    lus[*n_lus].id = 0;
    lus[*n_lus].state = NULL;
    return &lus[(*n_lus)++];
}

void command_execute_group(Store *store, const PrConfig *pr, CommandItem *items,
                           size_t n)
{
    g_autofree bool *done = g_new0(bool, n);
    g_autofree bool *applied = g_new0(bool, n);
    g_autofree GroupLu *lus = g_new0(GroupLu, n);
    size_t n_lus = 0;
    g_autoptr(GError) commit_error = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        const CommandRequest *request = items[i].request;

        pr_result_status(items[i].result, SCSI_STATUS_GOOD);
        done[i] = command_refuse_read_only(request, items[i].result);
    }
    if (group_begin(store, items, done, n)) {
        for (i = 0; i < n; i++) {
            g_autoptr(GError) error = NULL;
            GroupLu *lu;
            GroupLu after = {NULL, 0, NULL};
            bool need_write;

            if (done[i]) {
                continue;
            }
            lu = group_lu(lus, &n_lus, items[i].lu->name);
            if (!store_in_transaction(store)) {
                /* An earlier command's I/O error ended the transaction. */
                g_set_error_literal(&error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                                    "the transaction was rolled back");
            } else if (store_savepoint(store, &error) &&
                       apply(store, pr, &items[i], lu, true, &need_write,
                             &after, &error) &&
                       store_savepoint_release(store, &error)) {
                applied[i] = true;
                if (after.state != NULL) {
                    g_clear_pointer(&lu->state, pr_state_free);
                    lu->state = after.state;
                    lu->id = after.id;
                }
                continue;
            } else {
                /* Undone: the LU's state is what it was before. */
                g_clear_pointer(&after.state, pr_state_free);
                store_savepoint_rollback(store);
            }
            command_store_failure(items[i].result, error, items[i].lu->name);
            done[i] = true;
        }
        if (!store_in_transaction(store)) {
            g_set_error_literal(&commit_error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                                "the transaction was rolled back by an I/O "
                                "error");
        } else {
            store_commit(store, &commit_error);
        }
    }
    for (i = 0; i < n_lus; i++) {
        g_clear_pointer(&lus[i].state, pr_state_free);
    }
    for (i = 0; i < n; i++) {
        /* Nothing is answered before the commit that holds it. */
        if (applied[i] && commit_error != NULL) {
            command_store_failure(items[i].result, commit_error,
                                  items[i].lu->name);
        }
        log_outcome(items[i].nexus, items[i].lu, items[i].request->cdb,
                    items[i].result);
    }
}
