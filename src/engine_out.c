/*
 * engine_out: the PERSISTENT RESERVE OUT service actions, each run on a
 * scratch copy of the state (engine_execute() keeps it only on GOOD).
 */
#include "engine_int.h"

#include <string.h>

static bool any_key_equals(const PrState *state, uint64_t key)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if (engine_reg(state, (int)i)->key == key) {
            return true;
        }
    }
    return false;
}

/*
 * Remove every registration whose key is @key except @keep (or -1),
 * queueing REGISTRATIONS PREEMPTED for each one removed other than the
 * issuer @issuer (SPC-4 5.12.11.2.4, 5.12.11.2.5).  Returns the new
 * index of @issuer, or -1 when it was removed.
 */
static int remove_key(PrState *state, uint64_t key, int keep, int issuer)
{
    int i = 0;

    while (i < (int)state->regs->len) {
        PrRegistration *reg = engine_reg(state, i);

        if (reg->key != key || i == keep) {
            i++;
            continue;
        }
        if (i != issuer) {
            engine_ua_raise(state, reg, SENSE_REGISTRATIONS_PREEMPTED);
        }
        g_array_remove_index(state->regs, (guint)i);
        if (issuer == i) {
            issuer = -1;
        } else if (issuer > i) {
            issuer--;
        }
        if (keep > i) {
            keep--;
        }
    }
    return issuer;
}

/* Validate TYPE and SCOPE of a reservation about to be created. */
static bool check_type_scope(const ProutParams *pp, PrResult *result)
{
    if (pp->f.scope != PR_SCOPE_LU) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 2, 7);
        return false;
    }
    if (!engine_type_valid(pp->f.type)) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 2, 3);
        return false;
    }
    return true;
}

static void reserve_for(PrState *state, int holder, uint8_t type, uint8_t scope)
{
    engine_release(state);
    state->res_type = type;
    state->res_scope = scope;
    if (!engine_type_all_registrants(type)) {
        engine_reg(state, holder)->holder = true;
    }
}

static bool room_for(const PrConfig *config, const PrState *state, size_t more,
                     PrResult *result)
{
    if (state->regs->len + more > config->max_registrations) {
        engine_result_check(result, SENSE_INSUFFICIENT_REG_RESOURCES);
        return false;
    }
    return true;
}

/*
 * Append to @targets the I_T nexuses that registering @tid with @key
 * makes (5.12.7 table 69): one per target port of @ports with ALL_TG_PT,
 * as if the request had come through each, else the one through @rtpi.
 * Returns false when one of them is registered already.
 */
static bool add_targets(const PrState *state, const ProutParams *pp,
                        const TransportId *tid, const GArray *ports,
                        uint16_t rtpi, GArray *targets)
{
    guint n = pp->f.all_tg_pt ? ports->len : 1;
    guint i;

    for (i = 0; i < n; i++) {
        PrRegistration reg = {0};

        reg.initiator = *tid;
        reg.rtpi = pp->f.all_tg_pt ? g_array_index(ports, uint16_t, i) : rtpi;
        reg.key = pp->f.sark;
        if (engine_reg_find(state, tid, reg.rtpi, false) >= 0) {
            return false;
        }
        g_array_append_val(targets, reg);
    }
    return true;
}

/*
 * SPC-4 5.12.7 tables 67 and 69: register the unregistered @nexus, and
 * with SPEC_I_PT each initiator listed, all or none.  An I_T nexus it
 * would register that is registered already (a listed one, or with
 * ALL_TG_PT the issuer's initiator through another port) fails the whole
 * command with INVALID FIELD IN PARAMETER LIST.
 */
static bool register_new(const PrConfig *config, const PrNexus *nexus,
                         const ProutParams *pp, const GArray *ports,
                         PrState *state, PrResult *result)
{
    g_autoptr(GArray) targets =
        g_array_new(FALSE, TRUE, sizeof(PrRegistration));
    guint i;

    if (!add_targets(state, pp, &nexus->initiator, ports, nexus->rtpi,
                     targets)) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_OFF_FLAGS, PROUT_ALL_TG_PT_BIT);
        return false;
    }
    for (i = 0; i < pp->tids->len; i++) {
        const TransportId *tid = &g_array_index(pp->tids, TransportId, i);
        bool duplicate = false;
        guint j;

        for (j = 0; j < targets->len; j++) {
            if (tid_matches(
                    &g_array_index(targets, PrRegistration, j).initiator,
                    tid)) {
                duplicate = true;
            }
        }
        if (!duplicate &&
            !add_targets(state, pp, tid, ports, nexus->rtpi, targets)) {
            engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                      PROUT_OFF_TIDS, -1);
            return false;
        }
    }
    if (!room_for(config, state, targets->len, result)) {
        return false;
    }
    g_array_append_vals(state->regs, targets->data, targets->len);
    return true;
}

/*
 * SPC-4 5.12.7 and 5.12.11.2.3: REGISTER and REGISTER AND IGNORE EXISTING
 * KEY (tables 67 and 68).  On a registered nexus they change or remove
 * that nexus's registration only, whatever ALL_TG_PT says.
 */
static void do_register(const PrConfig *config, const PrNexus *nexus,
                        const ProutParams *pp, const GArray *ports,
                        PrState *state, int me, PrResult *result)
{
    if (me < 0) {
        if (pp->f.service_action == PR_OUT_REGISTER && pp->f.rk != 0) {
            engine_result_conflict(result);
            return;
        }
        if (pp->f.sark == 0) {
            /* Unregistered and asked to register key zero: nothing. */
            result->status = SCSI_STATUS_GOOD;
            return;
        }
        if (!register_new(config, nexus, pp, ports, state, result)) {
            return;
        }
    } else {
        PrRegistration *reg = engine_reg(state, me);

        if (pp->f.service_action == PR_OUT_REGISTER && pp->f.rk != reg->key) {
            engine_result_conflict(result);
            return;
        }
        if (pp->f.spec_i_pt) {
            engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                      PROUT_OFF_FLAGS, PROUT_SPEC_I_PT_BIT);
            return;
        }
        if (pp->f.sark != 0) {
            reg->key = pp->f.sark;
        } else {
            engine_unregister(state, me);
        }
    }
    state->aptpl = pp->f.aptpl;
    state->generation++;
    result->status = SCSI_STATUS_GOOD;
}

/* SPC-4 5.12.9: RESERVE. */
static void do_reserve(const ProutParams *pp, PrState *state, int me,
                       PrResult *result)
{
    if (!check_type_scope(pp, result)) {
        return;
    }
    if (state->res_type == PR_TYPE_NONE) {
        reserve_for(state, me, pp->f.type, pp->f.scope);
        result->status = SCSI_STATUS_GOOD;
        return;
    }
    /* A holder asking again for the same reservation is not an error;
     * anything else conflicts with the reservation held. */
    if (engine_reg_is_holder(state, me) && state->res_type == pp->f.type &&
        state->res_scope == pp->f.scope) {
        result->status = SCSI_STATUS_GOOD;
        return;
    }
    engine_result_conflict(result);
}

/* SPC-4 5.12.11.2.2: RELEASE. */
static void do_release(const ProutParams *pp, PrState *state, int me,
                       PrResult *result)
{
    uint8_t type = state->res_type;

    /* No reservation, or not its holder: GOOD and nothing released. */
    if (type == PR_TYPE_NONE || !engine_reg_is_holder(state, me)) {
        result->status = SCSI_STATUS_GOOD;
        return;
    }
    if (pp->f.type != type || pp->f.scope != state->res_scope) {
        engine_result_check(result, SENSE_INVALID_RELEASE);
        return;
    }
    engine_release(state);
    if (engine_type_registrants_only(type) ||
        engine_type_all_registrants(type)) {
        engine_ua_raise_others(state, me, SENSE_RESERVATIONS_RELEASED);
    }
    result->status = SCSI_STATUS_GOOD;
}

/*
 * SPC-4 5.12.11.2.7: CLEAR removes every registration and the
 * reservation, with RESERVATIONS PREEMPTED for every registrant but the
 * issuer @me (-1: none).
 */
static void clear_all(PrState *state, int me)
{
    engine_ua_raise_others(state, me, SENSE_RESERVATIONS_PREEMPTED);
    g_array_set_size(state->regs, 0);
    engine_release(state);
    state->generation++;
}

static void do_clear(PrState *state, int me, PrResult *result)
{
    clear_all(state, me);
    result->status = SCSI_STATUS_GOOD;
}

/*
 * PREEMPT of an all-registrants reservation with SARK zero (SPC-4
 * 5.12.11.2.4): every registration but the issuer @me goes, each with
 * REGISTRATIONS PREEMPTED.  Returns the issuer's new index.
 */
static int remove_all_but(PrState *state, int me)
{
    int i = 0;

    while (i < (int)state->regs->len) {
        if (i == me) {
            i++;
            continue;
        }
        engine_ua_raise(state, engine_reg(state, i),
                        SENSE_REGISTRATIONS_PREEMPTED);
        g_array_remove_index(state->regs, (guint)i);
        if (me > i) {
            me--;
        }
    }
    return me;
}

/*
 * SPC-4 5.12.11.2.4-6 (figure 9, table 72): PREEMPT and PREEMPT AND
 * ABORT.  softprd sees no other commands, so there are no tasks to abort:
 * PREEMPT AND ABORT changes reservations exactly as PREEMPT does.
 */
static void do_preempt(const ProutParams *pp, PrState *state, int me,
                       PrResult *result)
{
    uint8_t old_type = state->res_type;
    uint8_t old_scope = state->res_scope;

    if (old_type != PR_TYPE_NONE && engine_type_all_registrants(old_type) &&
        pp->f.sark == 0) {
        if (!check_type_scope(pp, result)) {
            return;
        }
        me = remove_all_but(state, me);
        reserve_for(state, me, pp->f.type, pp->f.scope);
        goto done;
    }
    if (pp->f.sark == 0) {
        /* Figure 9 allows SARK zero only with an all-registrants
         * reservation. */
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_OFF_SARK, -1);
        return;
    }
    if (!any_key_equals(state, pp->f.sark)) {
        engine_result_conflict(result);
        return;
    }
    if (old_type != PR_TYPE_NONE && !engine_type_all_registrants(old_type)) {
        int holder = -1;
        guint i;

        for (i = 0; i < state->regs->len; i++) {
            if (engine_reg(state, (int)i)->holder) {
                holder = (int)i;
            }
        }
        if (holder >= 0 && engine_reg(state, holder)->key == pp->f.sark) {
            /* Preempting the holder: release, remove the preempted
             * registrations (never the issuer's), reserve for the
             * issuer with the CDB's type and scope. */
            if (!check_type_scope(pp, result)) {
                return;
            }
            me = remove_key(state, pp->f.sark, me, me);
            reserve_for(state, me, pp->f.type, pp->f.scope);
            if (pp->f.type != old_type || pp->f.scope != old_scope) {
                engine_ua_raise_others(state, me, SENSE_RESERVATIONS_RELEASED);
            }
            goto done;
        }
    }
    /* No reservation, a reservation held under another key, or an
     * all-registrants reservation with SARK non-zero: only remove the
     * registrations with key SARK, the issuer's own included (5.12.11.2.5);
     * TYPE and SCOPE are ignored. */
    remove_key(state, pp->f.sark, -1, me);
    if (old_type != PR_TYPE_NONE && engine_type_all_registrants(old_type) &&
        state->regs->len == 0) {
        engine_release(state);
    }
done:
    state->generation++;
    result->status = SCSI_STATUS_GOOD;
}

/*
 * SPC-4 5.12.8: REGISTER AND MOVE (table 70), to the I_T nexus of the
 * TransportID and a relative target port of @ports.
 */
static void do_register_and_move(const PrConfig *config, const ProutParams *pp,
                                 const GArray *ports, PrState *state, int me,
                                 PrResult *result)
{
    const TransportId *tid = &g_array_index(pp->tids, TransportId, 0);
    int dest;

    if (state->res_type == PR_TYPE_NONE) {
        engine_result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 4);
        return;
    }
    if (engine_type_all_registrants(state->res_type) ||
        !engine_reg(state, me)->holder) {
        engine_result_conflict(result);
        return;
    }
    if (pp->f.sark == 0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_OFF_SARK, -1);
        return;
    }
    if (!engine_ports_contain(ports, pp->f.move_rtpi)) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_MOVE_OFF_RTPI, -1);
        return;
    }
    dest = engine_reg_find(state, tid, pp->f.move_rtpi, false);
    if (dest == me) {
        /* The TransportID names the nexus that sent the command. */
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_MOVE_OFF_TID, -1);
        return;
    }
    if (dest < 0) {
        PrRegistration reg = {0};

        if (!room_for(config, state, 1, result)) {
            return;
        }
        reg.initiator = *tid;
        reg.rtpi = pp->f.move_rtpi;
        reg.key = pp->f.sark;
        g_array_append_val(state->regs, reg);
        dest = (int)state->regs->len - 1;
    } else {
        engine_reg(state, dest)->key = pp->f.sark;
    }
    engine_reg(state, me)->holder = false;
    engine_reg(state, dest)->holder = true;
    state->aptpl = pp->f.aptpl;
    if (pp->f.unreg) {
        engine_unregister(state, me);
    }
    state->generation++;
    result->status = SCSI_STATUS_GOOD;
}

/*
 * SPC-5 5.14.11.3: REPLACE LOST RESERVATION.  Its RESERVATION KEY is not
 * matched against the issuer's key but shall be zero (SPC-5's RESERVATION
 * KEY field, 6.16.3).  Until PR information is lost the usual order holds:
 * an unregistered nexus conflicts (5.12.7, SPC-5 table 66), so does a key
 * other than the zero required, and only then INVALID RELEASE says that
 * nothing was lost.  While it is lost this service action never ends in
 * RESERVATION CONFLICT (SPC-5 5.14.5.3.2): any nexus may replace every
 * registration, without unit attentions, by its own and reserve, and a
 * non-zero key is an invalid field.
 */
static void do_replace_lost(const PrNexus *nexus, const ProutParams *pp,
                            PrState *state, int me, PrResult *result)
{
    PrRegistration reg = {0};

    if (!state->info_lost) {
        if (me < 0 || pp->f.rk != 0) {
            engine_result_conflict(result);
        } else {
            engine_result_check(result, SENSE_INVALID_RELEASE);
        }
        return;
    }
    if (pp->f.rk != 0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_OFF_RK, -1);
        return;
    }
    if (!check_type_scope(pp, result)) {
        return;
    }
    if (pp->f.sark == 0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                  PROUT_OFF_SARK, -1);
        return;
    }
    g_array_set_size(state->regs, 0);
    reg.initiator = nexus->initiator;
    reg.rtpi = nexus->rtpi;
    reg.key = pp->f.sark;
    g_array_append_val(state->regs, reg);
    reserve_for(state, 0, pp->f.type, pp->f.scope);
    /* SPC-5 5.14.5.1: its APTPL counts like a registration's. */
    state->aptpl = pp->f.aptpl;
    state->generation = 0;
    state->info_lost = false;
    result->status = SCSI_STATUS_GOOD;
}

/*
 * The service actions that need a registered issuer: 5.12.7, every one
 * from an unregistered nexus, and any reservation key other than the
 * nexus's own, conflicts.
 */
static void run_action(const PrConfig *config, const ProutParams *pp,
                       const GArray *ports, PrState *state, int me,
                       PrResult *result)
{
    if (me < 0 || pp->f.rk != engine_reg(state, me)->key) {
        engine_result_conflict(result);
        return;
    }
    switch (pp->f.service_action) {
    case PR_OUT_RESERVE:
        do_reserve(pp, state, me, result);
        break;
    case PR_OUT_RELEASE:
        do_release(pp, state, me, result);
        break;
    case PR_OUT_CLEAR:
        do_clear(state, me, result);
        break;
    case PR_OUT_PREEMPT:
    case PR_OUT_PREEMPT_AND_ABORT:
        do_preempt(pp, state, me, result);
        break;
    case PR_OUT_REGISTER_AND_MOVE:
        do_register_and_move(config, pp, ports, state, me, result);
        break;
    default:
        break;
    }
}

/* SPC-4 6.14: PERSISTENT RESERVE OUT, against a scratch copy @state. */
void engine_reserve_out(const PrConfig *config, const PrNexus *nexus,
                        const uint8_t *cdb, const uint8_t *param,
                        size_t param_len, PrState *state, PrResult *result)
{
    g_autoptr(GArray) ports = NULL;
    ProutParams pp;
    int me;

    memset(&pp, 0, sizeof(pp));
    engine_out_fields(cdb, param, param_len, &pp.f);

    if (!engine_check_cdb(cdb, PR_OUT_REPLACE_LOST, 3, 4, result)) {
        return;
    }
    /* PARAMETER LIST LENGTH is bytes 5-8; the transport only carries
     * lengths up to WIRE_DATA_MAX, framed by bytes 7-8, so a length that needs
     * bytes 5-6 cannot be a valid parameter list. */
    if (cdb[CDB_OFF_PARAM_LEN] != 0 || cdb[CDB_OFF_PARAM_LEN + 1] != 0) {
        engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR,
                                CDB_OFF_PARAM_LEN, -1);
        return;
    }
    if (state->info_lost && pp.f.service_action != PR_OUT_REPLACE_LOST) {
        engine_result_check(result, SENSE_PR_INFORMATION_LOST);
        return;
    }

    pp.tids = g_array_new(FALSE, TRUE, sizeof(TransportId));
    if (pp.f.service_action == PR_OUT_REGISTER_AND_MOVE
            ? !engine_params_move(param, param_len, &pp, result)
            : !engine_params_basic(param, param_len, &pp, result)) {
        goto out;
    }

    /* Rows of earlier versions that stand for every target port become
     * the registrations they stand for before anything else. */
    ports = engine_ports_known(config, state, nexus);
    engine_expand_all_tg_pt(state, ports);
    me = engine_find_registration(state, nexus);

    if (pp.f.service_action == PR_OUT_REPLACE_LOST) {
        do_replace_lost(nexus, &pp, state, me, result);
        goto out;
    }
    if (pp.f.service_action == PR_OUT_REGISTER ||
        pp.f.service_action == PR_OUT_REGISTER_IGNORE) {
        do_register(config, nexus, &pp, ports, state, me, result);
        goto out;
    }
    run_action(config, &pp, ports, state, me, result);
out:
    g_array_unref(pp.tids);
}

void engine_clear(PrState *state)
{
    clear_all(state, -1);
}
