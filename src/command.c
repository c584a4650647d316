/*
 * command: a PR command as a store transaction around the engine.
 */
#include "command.h"

#include <string.h>

#include "cdb.h"
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
        g_warning("%s: database not available in time (its lock held, or "
                  "its server unreachable), answering BUSY: %s",
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
               ? engine_in_action_name(cdb_service_action(cdb))
               : engine_out_action_name(cdb_service_action(cdb));
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
        ScsiSenseCode codes = {0};

        scsi_sense_parse(result->sense, sizeof(result->sense), &codes);

        g_log_structured(
            G_LOG_DOMAIN, level, "SOFTPR_LU", lu->name, "SOFTPR_INITIATOR", who,
            "MESSAGE", "LU %s: %s from %s: CHECK CONDITION %s, %s", lu->name,
            action_name(cdb), who, scsi_sense_key_name(codes.key),
            scsi_asc_name(codes.asc, codes.ascq));
    } else {
        g_log_structured(G_LOG_DOMAIN, level, "SOFTPR_LU", lu->name,
                         "SOFTPR_INITIATOR", who, "MESSAGE",
                         "LU %s: %s from %s: %s", lu->name, action_name(cdb),
                         who, scsi_status_name(result->status));
    }
}

/* ------------------------------------------------------------------ */
/* One change: load, run, write                                        */
/* ------------------------------------------------------------------ */

bool command_change_run(Store *store, CommandChange *change, GError **error)
{
    change->lu_id = 0;
    change->stale = false;
    change->changed = false;
    change->record = false;
    if (change->known != NULL) {
        /* Written by this transaction: where it is seen is recorded. */
        change->before = pr_state_copy(change->known);
        change->lu_id = change->known_id;
    } else {
        change->before = pr_state_new();
        if (!store_load_state(store, change->lu, change->before,
                              &change->lu_id, &change->stale, error)) {
            return false;
        }
    }
    change->after = pr_state_copy(change->before);
    change->run(change);
    return true;
}

bool command_change_needs_write(const CommandChange *change)
{
    return change->changed || change->stale || change->record;
}

bool command_change_write(Store *store, CommandChange *change, GError **error)
{
    /* A state unchanged is written only to record where the LU is seen
     * now, when the database has not seen it here. */
    if (change->changed || change->stale) {
        if (!store_save_state(store, change->lu_id, change->lu, change->before,
                              change->after, error)) {
            return false;
        }
    }
    if (change->record) {
        if (!store_add_history(store, change->lu->name, &change->entry,
                               error)) {
            return false;
        }
    }
    return true;
}

bool command_apply_change(Store *store, CommandChange *change, GError **error)
{
    if (!command_change_run(store, change, error)) {
        return false;
    }
    if (!command_change_needs_write(change)) {
        return true;
    }
    return command_change_write(store, change, error);
}

void command_change_clear(CommandChange *change)
{
    g_clear_pointer(&change->before, pr_state_free);
    g_clear_pointer(&change->after, pr_state_free);
}

/* ------------------------------------------------------------------ */
/* softprd's commands                                                  */
/* ------------------------------------------------------------------ */

/* What a command's change needs besides the state. */
typedef struct CommandRun {
    const PrConfig *pr;
    const CommandItem *item;
    bool history; /* the store records history */
    PrOutFields fields; /* the PR OUT command, for its history entry */
} CommandRun;

/* The engine on the command's copy of the state (CommandChange.run). */
static void command_run(CommandChange *change)
{
    CommandRun *run = change->data;
    const CommandItem *item = run->item;
    const CommandRequest *request = item->request;
    const PrResult *result = item->result;

    engine_execute(run->pr, item->nexus, request->cdb, request->data,
                   request->data_len, change->after, item->result);
    change->changed = result->changed;
    /* Every PR OUT that reaches the database is in the history. */
    change->record = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT &&
                     run->history;
    if (!change->record) {
        return;
    }
    engine_out_fields(request->cdb, request->data, request->data_len,
                      &run->fields);
    change->entry = (StoreHistoryEntry){
        .origin = "softprd",
        .action = engine_out_action_name(run->fields.service_action),
        .initiator = &item->nexus->initiator,
        .rtpi = item->nexus->rtpi,
        .fields = &run->fields,
        .status = result->status,
        .sense = result->status == SCSI_STATUS_CHECK_CONDITION ? result->sense
                                                               : NULL,
        .generation = change->after->generation,
    };
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

/* The change @item makes, on @lu's state as the transaction has it. */
static void command_change_init(CommandChange *change, CommandRun *run,
                                Store *store, const PrConfig *pr,
                                const CommandItem *item, const GroupLu *lu)
{
    *run = (CommandRun){
        .pr = pr,
        .item = item,
        .history = store_history_enabled(store),
    };
    *change = (CommandChange){
        .lu = item->lu,
        .known = lu != NULL ? lu->state : NULL,
        .known_id = lu != NULL ? lu->id : 0,
        .run = command_run,
        .data = run,
    };
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
    CommandChange change;
    CommandRun run;
    bool ok;

    if (!store_begin(store, false, item->request->deadline, &error)) {
        command_store_failure(item->result, error, item->lu->name);
        return false;
    }
    command_change_init(&change, &run, store, pr, item, NULL);
    ok = command_change_run(store, &change, &error);
    store_rollback(store);
    *need_write = ok && command_change_needs_write(&change);
    command_change_clear(&change);
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

/*
 * Run @item in the group's transaction as a unit (its own savepoint),
 * on @lu's state as the transaction has it, which it then updates.
 * Returns true when its changes are kept; else they are undone and
 * @error says why.
 */
static bool group_apply(Store *store, const PrConfig *pr,
                        const CommandItem *item, GroupLu *lu, GError **error)
{
    CommandChange change;
    CommandRun run;
    bool ok;

    if (!store_in_transaction(store)) {
        /* An earlier command's I/O error ended the transaction. */
        g_set_error_literal(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                            "the transaction was rolled back");
        return false;
    }
    /* Its own lock wait (PostgreSQL locks the LU inside the group). */
    store_set_deadline(store, item->request->deadline);
    command_change_init(&change, &run, store, pr, item, lu);
    ok = store_savepoint(store, error) &&
         command_apply_change(store, &change, error) &&
         store_savepoint_release(store, error);
    if (!ok) {
        /* Undone: the LU's state is what it was before. */
        store_savepoint_rollback(store);
    } else if (change.lu_id != 0) {
        /* A new LU's row id is not known here: the next command loads. */
        g_clear_pointer(&lu->state, pr_state_free);
        lu->state = g_steal_pointer(&change.after);
        lu->id = change.lu_id;
    }
    command_change_clear(&change);
    return ok;
}

/* Commit the group's transaction; @error when it is lost. */
static void group_commit(Store *store, GError **error)
{
    if (!store_in_transaction(store)) {
        g_set_error_literal(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                            "the transaction was rolled back by an I/O "
                            "error");
        return;
    }
    store_commit(store, error);
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
        pr_result_status(items[i].result, SCSI_STATUS_GOOD);
        done[i] = command_refuse_read_only(items[i].request, items[i].result);
    }
    if (group_begin(store, items, done, n)) {
        for (i = 0; i < n; i++) {
            g_autoptr(GError) error = NULL;

            if (done[i]) {
                continue;
            }
            applied[i] = group_apply(store, pr, &items[i],
                                     group_lu(lus, &n_lus, items[i].lu->name),
                                     &error);
            if (!applied[i]) {
                command_store_failure(items[i].result, error,
                                      items[i].lu->name);
                done[i] = true;
            }
        }
        /* The commit waits as the earliest command it holds allows, as
         * when BEGIN took the lock for all (not the last one's wait). */
        if (earliest_deadline(items, done, n) != G_MAXINT64) {
            store_set_deadline(store, earliest_deadline(items, done, n));
        }
        group_commit(store, &commit_error);
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
