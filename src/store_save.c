/*
 * store_save.c: writing what a command changed in one LU's state.
 *
 * The engine hands the store the state before and after a command; this
 * file finds the rows that differ (registrations by I_T nexus, unit
 * attentions by nexus and code) and has the backend write only those,
 * through StoreBackend's lu_write, reg_write and ua_write.  Every backend
 * thus stores the same change for the same command.
 */
#include "store_int.h"

#include "tid.h"

/*
 * Index in @state of the registration of @reg's I_T nexus, or -1.
 * Stored rows are keyed by the exact initiator and relative target port
 * (an ALL_TG_PT registration is one row per port, SPC-4 5.12.7), so the
 * engine's matching, which lets one registration cover every port, is
 * not the comparison here.
 */
static int find_reg(const PrState *state, const PrRegistration *reg)
{
    for (guint i = 0; i < state->regs->len; i++) {
        const PrRegistration *r =
            &g_array_index(state->regs, PrRegistration, i);

        if (r->rtpi == reg->rtpi && tid_equal(&r->initiator, &reg->initiator)) {
            return (int)i;
        }
    }
    return -1;
}

/* Whether @state queues the unit attention @ua (same nexus and code). */
static bool has_ua(const PrState *state, const PrUnitAttention *ua)
{
    for (guint i = 0; i < state->uas->len; i++) {
        const PrUnitAttention *u =
            &g_array_index(state->uas, PrUnitAttention, i);

        if (u->rtpi == ua->rtpi && u->asc == ua->asc && u->ascq == ua->ascq &&
            tid_equal(&u->initiator, &ua->initiator)) {
            return true;
        }
    }
    return false;
}

/* Whether @a and @b, of the same nexus, differ in what is stored. */
static bool registration_differs(const PrRegistration *a,
                                 const PrRegistration *b)
{
    return a->key != b->key || a->holder != b->holder ||
           a->all_tg_pt != b->all_tg_pt;
}

static bool save_registrations(Store *store, gint64 lu_id,
                               const PrState *before, const PrState *after,
                               GError **error)
{
    const StoreBackend *b = store->backend;

    for (guint i = 0; i < before->regs->len; i++) {
        const PrRegistration *old =
            &g_array_index(before->regs, PrRegistration, i);

        if (find_reg(after, old) < 0 &&
            !b->reg_write(store, lu_id, old, STORE_ROW_REMOVE, error)) {
            return false;
        }
    }
    for (guint i = 0; i < after->regs->len; i++) {
        const PrRegistration *reg =
            &g_array_index(after->regs, PrRegistration, i);
        int j = find_reg(before, reg);

        if (j < 0) {
            if (!b->reg_write(store, lu_id, reg, STORE_ROW_ADD, error)) {
                return false;
            }
        } else if (registration_differs(
                       &g_array_index(before->regs, PrRegistration, j), reg) &&
                   !b->reg_write(store, lu_id, reg, STORE_ROW_UPDATE, error)) {
            return false;
        }
    }
    return true;
}

static bool save_unit_attentions(Store *store, gint64 lu_id,
                                 const PrState *before, const PrState *after,
                                 GError **error)
{
    const StoreBackend *b = store->backend;

    for (guint i = 0; i < before->uas->len; i++) {
        const PrUnitAttention *ua =
            &g_array_index(before->uas, PrUnitAttention, i);

        if (!has_ua(after, ua) &&
            !b->ua_write(store, lu_id, ua, STORE_ROW_REMOVE, error)) {
            return false;
        }
    }
    for (guint i = 0; i < after->uas->len; i++) {
        const PrUnitAttention *ua =
            &g_array_index(after->uas, PrUnitAttention, i);

        if (!has_ua(before, ua) &&
            !b->ua_write(store, lu_id, ua, STORE_ROW_ADD, error)) {
            return false;
        }
    }
    return true;
}

bool store_save_state(Store *store, gint64 lu_id, const StoreLuInfo *lu,
                      const PrState *before, const PrState *after,
                      GError **error)
{
    return store->backend->lu_write(store, &lu_id, lu, after, error) &&
           save_registrations(store, lu_id, before, after, error) &&
           save_unit_attentions(store, lu_id, before, after, error);
}
