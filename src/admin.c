/*
 * admin: administrative changes as store transactions around the engine.
 */
#include "admin.h"

#include <string.h>

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

static bool run(Store *store, AdminAction action, const char *lu_name,
                const TransportId *initiator, gint64 deadline,
                AdminOutcome *outcome, GError **error)
{
    StoreLuInfo lu = {.name = lu_name};
    g_autoptr(PrState) state = pr_state_new();
    g_autoptr(PrState) before = NULL;
    g_autofree char *detail = NULL;
    StoreHistoryEntry entry = {
        .origin = "softpr",
        .action = action_names[action],
        .initiator = initiator,
        .status = SCSI_STATUS_GOOD,
    };
    gint64 lu_id = 0;
    bool stale = false;

    memset(outcome, 0, sizeof(*outcome));
    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    if (!store_load_state(store, &lu, state, &lu_id, &stale, error)) {
        goto fail;
    }
    if (lu_id == 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND,
                    "no logical unit named %s in %s", lu_name,
                    store_path(store));
        goto fail;
    }
    before = pr_state_copy(state);
    apply(action, initiator, state);
    outcome->generation_before = before->generation;
    outcome->generation_after = state->generation;
    outcome->registrations_before = before->regs->len;
    outcome->registrations_after = state->regs->len;
    outcome->type_before = before->res_type;
    outcome->type_after = state->res_type;
    outcome->lost_before = before->info_lost;
    outcome->lost_after = state->info_lost;
    outcome->changed = !pr_state_equal(before, state);
    if ((action == ADMIN_FORGET || action == ADMIN_MARK_LOST) &&
        !outcome->changed) {
        /* Forgetting sweeps every LU, marking may be repeated over a
         * glob: only the LUs they changed are news. */
        store_rollback(store);
        return true;
    }
    detail = describe(outcome);
    entry.generation = state->generation;
    entry.detail = detail;
    if ((outcome->changed &&
         !store_save_state(store, lu_id, &lu, before, state, error)) ||
        !store_add_history(store, lu_name, &entry, error) ||
        !store_commit(store, error)) {
        goto fail;
    }
    return true;
fail:
    store_rollback(store);
    return false;
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
