/*
 * admin: administrative changes as store transactions around the engine,
 * each one CommandChange (command.h) in its own write transaction.
 */
#include "admin.h"

#include <string.h>

#include "command.h"
#include "error.h"
#include "scsi.h"

typedef enum AdminAction {
    ADMIN_POWER_CYCLE,
    ADMIN_CLEAR,
    ADMIN_FORGET,
    ADMIN_MARK_LOST,
} AdminAction;

/* The command names the history shows. */
static const char *const action_names[] = {
    [ADMIN_POWER_CYCLE] = "power-cycle",
    [ADMIN_CLEAR] = "clear",
    [ADMIN_FORGET] = "forget",
    [ADMIN_MARK_LOST] = "mark-lost",
};

static void apply(AdminAction action, const TransportId *initiator,
                  PrState *state)
{
    switch (action) {
    case ADMIN_POWER_CYCLE:
        engine_power_loss(state);
        break;
    case ADMIN_CLEAR:
        engine_clear(state);
        break;
    case ADMIN_FORGET:
        engine_forget(state, initiator);
        break;
    case ADMIN_MARK_LOST:
        /* The flag the engine reads (SPC-5 5.14.11.3); nothing else
         * changes until REPLACE LOST RESERVATION. */
        state->info_lost = true;
        break;
    }
}

static char *describe(const AdminOutcome *o)
{
    /* The history shows the PRgeneration after the change beside it. */
    return g_strdup_printf(
        "registrations %u -> %u; reservation %s -> %s; "
        "PRgeneration was 0x%x%s",
        o->registrations_before, o->registrations_after,
        engine_type_name(o->type_before), engine_type_name(o->type_after),
        o->generation_before,
        o->lost_after && !o->lost_before ? "; PR information marked lost" : "");
}

/* What an administrator's change needs besides the state. */
typedef struct AdminRun {
    AdminAction action;
    const TransportId *initiator;
    AdminOutcome *outcome;
    char *detail; /* the history's free text */
} AdminRun;

/* The engine on the change's copy of the state (CommandChange.run). */
static void admin_run(CommandChange *change)
{
    AdminRun *run = change->data;
    AdminOutcome *o = run->outcome;
    const PrState *before = change->before;
    const PrState *state = change->after;

    apply(run->action, run->initiator, change->after);
    o->generation_before = before->generation;
    o->generation_after = state->generation;
    o->registrations_before = before->regs->len;
    o->registrations_after = state->regs->len;
    o->type_before = before->res_type;
    o->type_after = state->res_type;
    o->lost_before = before->info_lost;
    o->lost_after = state->info_lost;
    o->changed = !pr_state_equal(before, state);
    change->changed = o->changed;
    /* Forgetting sweeps every LU, marking may be repeated over a glob:
     * only the LUs they changed are news. */
    change->record = o->changed || (run->action != ADMIN_FORGET &&
                                    run->action != ADMIN_MARK_LOST);
    g_free(run->detail);
    run->detail = describe(o);
    change->entry = (StoreHistoryEntry){
        .origin = "softpr",
        .action = action_names[run->action],
        .initiator = run->initiator,
        .status = SCSI_STATUS_GOOD,
        .generation = state->generation,
        .detail = run->detail,
    };
}

static bool run(Store *store, AdminAction action, const char *lu_name,
                const TransportId *initiator, gint64 deadline,
                AdminOutcome *outcome, GError **error)
{
    StoreLuInfo lu = {.name = lu_name};
    AdminRun data = {
        .action = action,
        .initiator = initiator,
        .outcome = outcome,
    };
    CommandChange change = {.lu = &lu, .run = admin_run, .data = &data};
    bool ok = false;

    memset(outcome, 0, sizeof(*outcome));
    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    if (!command_change_run(store, &change, error)) {
        goto out;
    }
    if (change.lu_id == 0) {
        memset(outcome, 0, sizeof(*outcome));
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND,
                    "no logical unit named %s in %s", lu_name,
                    store_path(store));
        goto out;
    }
    if (!command_change_needs_write(&change)) {
        ok = true;
        goto out;
    }
    ok = command_change_write(store, &change, error) &&
         store_commit(store, error);
out:
    store_rollback(store);
    command_change_clear(&change);
    g_free(data.detail);
    return ok;
}

bool admin_power_cycle(Store *store, const char *lu_name, gint64 deadline,
                       AdminOutcome *outcome, GError **error)
{
    return run(store, ADMIN_POWER_CYCLE, lu_name, NULL, deadline, outcome,
               error);
}

bool admin_clear(Store *store, const char *lu_name, gint64 deadline,
                 AdminOutcome *outcome, GError **error)
{
    return run(store, ADMIN_CLEAR, lu_name, NULL, deadline, outcome, error);
}

bool admin_forget(Store *store, const char *lu_name,
                  const TransportId *initiator, gint64 deadline,
                  AdminOutcome *outcome, GError **error)
{
    return run(store, ADMIN_FORGET, lu_name, initiator, deadline, outcome,
               error);
}

bool admin_mark_lost(Store *store, const char *lu_name, gint64 deadline,
                     AdminOutcome *outcome, GError **error)
{
    return run(store, ADMIN_MARK_LOST, lu_name, NULL, deadline, outcome, error);
}
