/*
 * engine_state: PrState objects and the registrations in them: lookup,
 * holders, target ports, rows of earlier versions, unregistering.
 */
#include "engine_int.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* State objects                                                       */
/* ------------------------------------------------------------------ */

PrState *pr_state_new(void)
{
    PrState *state = g_new0(PrState, 1);

    state->regs = g_array_new(FALSE, TRUE, sizeof(PrRegistration));
    state->uas = g_array_new(FALSE, TRUE, sizeof(PrUnitAttention));
    return state;
}

PrState *pr_state_copy(const PrState *state)
{
    PrState *copy = pr_state_new();

    copy->generation = state->generation;
    copy->aptpl = state->aptpl;
    copy->info_lost = state->info_lost;
    copy->res_type = state->res_type;
    copy->res_scope = state->res_scope;
    g_array_append_vals(copy->regs, state->regs->data, state->regs->len);
    g_array_append_vals(copy->uas, state->uas->data, state->uas->len);
    return copy;
}

void pr_state_free(PrState *state)
{
    if (state == NULL) {
        return;
    }
    g_array_unref(state->regs);
    g_array_unref(state->uas);
    g_free(state);
}

/* Move the contents of @from into @to and free @from. */
void engine_state_replace(PrState *to, PrState *from)
{
    GArray *regs = to->regs;
    GArray *uas = to->uas;

    *to = *from;
    from->regs = regs;
    from->uas = uas;
    pr_state_free(from);
}

static bool reg_equal(const PrRegistration *a, const PrRegistration *b)
{
    return tid_equal(&a->initiator, &b->initiator) && a->rtpi == b->rtpi &&
           a->all_tg_pt == b->all_tg_pt && a->key == b->key &&
           a->holder == b->holder;
}

bool pr_state_equal(const PrState *a, const PrState *b)
{
    guint i;

    if (a->generation != b->generation || a->aptpl != b->aptpl ||
        a->info_lost != b->info_lost || a->res_type != b->res_type ||
        a->res_scope != b->res_scope || a->regs->len != b->regs->len ||
        a->uas->len != b->uas->len) {
        return false;
    }
    for (i = 0; i < a->regs->len; i++) {
        if (!reg_equal(&g_array_index(a->regs, PrRegistration, i),
                       &g_array_index(b->regs, PrRegistration, i))) {
            return false;
        }
    }
    for (i = 0; i < a->uas->len; i++) {
        if (!engine_ua_equal(&g_array_index(a->uas, PrUnitAttention, i),
                             &g_array_index(b->uas, PrUnitAttention, i))) {
            return false;
        }
    }
    return true;
}

bool engine_state_consistent(const PrState *state)
{
    guint holders = 0;
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg =
            &g_array_index(state->regs, PrRegistration, i);

        if (reg->key == 0 || (reg->all_tg_pt && reg->rtpi != 0)) {
            return false;
        }
        holders += reg->holder ? 1 : 0;
    }
    if (state->res_type == PR_TYPE_NONE) {
        return holders == 0;
    }
    if (!engine_type_valid(state->res_type)) {
        return false;
    }
    if (engine_type_all_registrants(state->res_type)) {
        return holders == 0 && state->regs->len > 0;
    }
    return holders == 1;
}

/* ------------------------------------------------------------------ */
/* Registrations                                                       */
/* ------------------------------------------------------------------ */

PrRegistration *engine_reg(const PrState *state, int i)
{
    return &g_array_index(state->regs, PrRegistration, i);
}

/*
 * Index of the registration covering initiator @tid at target port @rtpi
 * (any port when @all_ports), or -1.
 */
int engine_reg_find(const PrState *state, const TransportId *tid, uint16_t rtpi,
                    bool all_ports)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg = engine_reg(state, (int)i);

        if (!tid_matches(&reg->initiator, tid)) {
            continue;
        }
        if (reg->all_tg_pt || all_ports || reg->rtpi == rtpi) {
            return (int)i;
        }
    }
    return -1;
}

int engine_find_registration(const PrState *state, const PrNexus *nexus)
{
    return engine_reg_find(state, &nexus->initiator, nexus->rtpi, false);
}

/* Add @rtpi to the sorted set @ports unless it is there already. */
static void ports_add(GArray *ports, uint16_t rtpi)
{
    guint i = 0;

    while (i < ports->len && g_array_index(ports, uint16_t, i) < rtpi) {
        i++;
    }
    if (i == ports->len || g_array_index(ports, uint16_t, i) != rtpi) {
        g_array_insert_val(ports, i, rtpi);
    }
}

/*
 * The target ports of the logical unit known to the device server, as a
 * sorted set of relative target port identifiers: this daemon's, the one
 * @nexus came through, and each one a registration came through (another
 * host's daemon's port).
 */
GArray *engine_ports_known(const PrConfig *config, const PrState *state,
                           const PrNexus *nexus)
{
    GArray *ports = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    guint i;

    for (i = 0; i < config->n_ports; i++) {
        ports_add(ports, config->ports[i]);
    }
    ports_add(ports, nexus->rtpi);
    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg = engine_reg(state, (int)i);

        if (!reg->all_tg_pt) {
            ports_add(ports, reg->rtpi);
        }
    }
    return ports;
}

bool engine_ports_contain(const GArray *ports, uint16_t rtpi)
{
    guint i;

    for (i = 0; i < ports->len; i++) {
        if (g_array_index(ports, uint16_t, i) == rtpi) {
            return true;
        }
    }
    return false;
}

bool engine_has_all_tg_pt_row(const PrState *state)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if (engine_reg(state, (int)i)->all_tg_pt) {
            return true;
        }
    }
    return false;
}

/*
 * Before ALL_TG_PT registrations were kept per target port, one row with
 * all_tg_pt stood for all of them.  Rewrite each such row as the
 * registrations it stands for, one per port of @ports (5.12.7 table 69);
 * the first of them holds what the row held, as a reservation that is
 * not all-registrants has one holder (5.12.10).
 */
void engine_expand_all_tg_pt(PrState *state, const GArray *ports)
{
    guint i = 0;

    while (i < state->regs->len) {
        PrRegistration row = *engine_reg(state, (int)i);
        bool holder = row.holder;
        guint j;

        if (!row.all_tg_pt || ports->len == 0) {
            i++;
            continue;
        }
        g_array_remove_index(state->regs, i);
        for (j = 0; j < ports->len; j++) {
            PrRegistration reg = row;

            reg.all_tg_pt = false;
            reg.rtpi = g_array_index(ports, uint16_t, j);
            if (engine_reg_find(state, &reg.initiator, reg.rtpi, false) >= 0) {
                continue;
            }
            reg.holder = holder;
            holder = false;
            g_array_insert_val(state->regs, i, reg);
            i++;
        }
    }
}

/* Whether registration @i holds the current reservation (SPC-4 5.12.10). */
bool engine_reg_is_holder(const PrState *state, int i)
{
    if (state->res_type == PR_TYPE_NONE) {
        return false;
    }
    return engine_type_all_registrants(state->res_type) ||
           engine_reg(state, i)->holder;
}

void engine_release(PrState *state)
{
    guint i;

    state->res_type = PR_TYPE_NONE;
    state->res_scope = PR_SCOPE_LU;
    for (i = 0; i < state->regs->len; i++) {
        engine_reg(state, (int)i)->holder = false;
    }
}

/*
 * Remove registration @i as SPC-4 5.12.11.2.3 requires: a holder of a
 * reservation that is not all-registrants releases it, with RESERVATIONS
 * RELEASED to the remaining registrants for the registrants-only types;
 * an all-registrants reservation goes with its last registrant.
 */
void engine_unregister(PrState *state, int i)
{
    bool was_holder = engine_reg_is_holder(state, i);

    g_array_remove_index(state->regs, (guint)i);
    if (state->res_type == PR_TYPE_NONE) {
        return;
    }
    if (engine_type_all_registrants(state->res_type)) {
        if (state->regs->len == 0) {
            engine_release(state);
        }
        return;
    }
    if (was_holder) {
        uint8_t type = state->res_type;

        engine_release(state);
        if (engine_type_registrants_only(type)) {
            engine_ua_raise_others(state, -1, SENSE_RESERVATIONS_RELEASED);
        }
    }
}
