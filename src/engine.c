/*
 * engine: SPC-4 persistent reservations as pure state transitions.
 *
 * Clause numbers are SPC-4 r37 unless marked SPC-5.  Checks run in this
 * order for PERSISTENT RESERVE OUT: unit attention, CDB fields, parameter
 * list length and fields, registration of the issuing nexus, reservation
 * key, then the service action itself (TYPE and SCOPE only where the
 * action uses them).
 */
#include "engine.h"

#include <string.h>

#include "bytes.h"

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
static void state_replace(PrState *to, PrState *from)
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

static bool ua_equal(const PrUnitAttention *a, const PrUnitAttention *b)
{
    return tid_equal(&a->initiator, &b->initiator) && a->rtpi == b->rtpi &&
           a->asc == b->asc && a->ascq == b->ascq;
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
        if (!ua_equal(&g_array_index(a->uas, PrUnitAttention, i),
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

static bool type_registrants_only(uint8_t type)
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

static void result_check(PrResult *result, ScsiSenseCode code)
{
    result->status = SCSI_STATUS_CHECK_CONDITION;
    scsi_sense_build(result->sense, code);
    result->data_len = 0;
}

/* CHECK CONDITION pointing at byte @byte (bit @bit, or -1) of the CDB. */
static void result_cdb_field(PrResult *result, ScsiSenseCode code,
                             uint16_t byte, int bit)
{
    result_check(result, code);
    scsi_sense_set_field(result->sense, true, byte, bit);
}

/* CHECK CONDITION pointing into the parameter list. */
static void result_param_field(PrResult *result, ScsiSenseCode code,
                               uint16_t byte, int bit)
{
    result_check(result, code);
    scsi_sense_set_field(result->sense, false, byte, bit);
}

/* RESERVATION CONFLICT is a status without sense data (SAM-5 5.3.1). */
static void result_conflict(PrResult *result)
{
    result->status = SCSI_STATUS_RESERVATION_CONFLICT;
    memset(result->sense, 0, sizeof(result->sense));
    result->data_len = 0;
}

/* ------------------------------------------------------------------ */
/* Registrations and unit attentions                                   */
/* ------------------------------------------------------------------ */

static PrRegistration *reg_at(const PrState *state, int i)
{
    return &g_array_index(state->regs, PrRegistration, i);
}

/*
 * Index of the registration covering initiator @tid at target port @rtpi
 * (any port when @all_ports), or -1.
 */
static int find_registration(const PrState *state, const TransportId *tid,
                             uint16_t rtpi, bool all_ports)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg = reg_at(state, (int)i);

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
    return find_registration(state, &nexus->initiator, nexus->rtpi, false);
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
static GArray *known_ports(const PrConfig *config, const PrState *state,
                           const PrNexus *nexus)
{
    GArray *ports = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    guint i;

    for (i = 0; i < config->n_ports; i++) {
        ports_add(ports, config->ports[i]);
    }
    ports_add(ports, nexus->rtpi);
    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg = reg_at(state, (int)i);

        if (!reg->all_tg_pt) {
            ports_add(ports, reg->rtpi);
        }
    }
    return ports;
}

static bool ports_contain(const GArray *ports, uint16_t rtpi)
{
    guint i;

    for (i = 0; i < ports->len; i++) {
        if (g_array_index(ports, uint16_t, i) == rtpi) {
            return true;
        }
    }
    return false;
}

static bool any_all_tg_pt_row(const PrState *state)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if (reg_at(state, (int)i)->all_tg_pt) {
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
static void expand_all_tg_pt(PrState *state, const GArray *ports)
{
    guint i = 0;

    while (i < state->regs->len) {
        PrRegistration row = *reg_at(state, (int)i);
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
            if (find_registration(state, &reg.initiator, reg.rtpi, false) >=
                0) {
                continue;
            }
            reg.holder = holder;
            holder = false;
            g_array_insert_val(state->regs, i, reg);
            i++;
        }
    }
}

static bool any_key_equals(const PrState *state, uint64_t key)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if (reg_at(state, (int)i)->key == key) {
            return true;
        }
    }
    return false;
}

/* Whether registration @i holds the current reservation (SPC-4 5.12.10). */
static bool reg_is_holder(const PrState *state, int i)
{
    if (state->res_type == PR_TYPE_NONE) {
        return false;
    }
    return engine_type_all_registrants(state->res_type) ||
           reg_at(state, i)->holder;
}

static void release_reservation(PrState *state)
{
    guint i;

    state->res_type = PR_TYPE_NONE;
    state->res_scope = PR_SCOPE_LU;
    for (i = 0; i < state->regs->len; i++) {
        reg_at(state, (int)i)->holder = false;
    }
}

/* Queue @code for the nexus (or every port) behind registration @reg. */
static void ua_raise(PrState *state, const PrRegistration *reg,
                     ScsiSenseCode code)
{
    PrUnitAttention ua;
    guint i;

    memset(&ua, 0, sizeof(ua));
    ua.initiator = reg->initiator;
    ua.rtpi = reg->all_tg_pt ? 0 : reg->rtpi;
    ua.asc = code.asc;
    ua.ascq = code.ascq;
    /* One pending condition per code and nexus is enough to report it. */
    for (i = 0; i < state->uas->len; i++) {
        if (ua_equal(&g_array_index(state->uas, PrUnitAttention, i), &ua)) {
            return;
        }
    }
    g_array_append_val(state->uas, ua);
}

/* Queue @code for every registrant except registration @except (or -1). */
static void ua_raise_others(PrState *state, int except, ScsiSenseCode code)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if ((int)i != except) {
            ua_raise(state, reg_at(state, (int)i), code);
        }
    }
}

static bool ua_applies(const PrUnitAttention *ua, const PrNexus *nexus)
{
    return tid_matches(&ua->initiator, &nexus->initiator) &&
           (ua->rtpi == 0 || ua->rtpi == nexus->rtpi);
}

/*
 * Remove registration @i as SPC-4 5.12.11.2.3 requires: a holder of a
 * reservation that is not all-registrants releases it, with RESERVATIONS
 * RELEASED to the remaining registrants for the registrants-only types;
 * an all-registrants reservation goes with its last registrant.
 */
static void unregister(PrState *state, int i)
{
    bool was_holder = reg_is_holder(state, i);

    g_array_remove_index(state->regs, (guint)i);
    if (state->res_type == PR_TYPE_NONE) {
        return;
    }
    if (engine_type_all_registrants(state->res_type)) {
        if (state->regs->len == 0) {
            release_reservation(state);
        }
        return;
    }
    if (was_holder) {
        uint8_t type = state->res_type;

        release_reservation(state);
        if (type_registrants_only(type)) {
            ua_raise_others(state, -1, SENSE_RESERVATIONS_RELEASED);
        }
    }
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
        PrRegistration *reg = reg_at(state, i);

        if (reg->key != key || i == keep) {
            i++;
            continue;
        }
        if (i != issuer) {
            ua_raise(state, reg, SENSE_REGISTRATIONS_PREEMPTED);
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

/* ------------------------------------------------------------------ */
/* PERSISTENT RESERVE IN                                               */
/* ------------------------------------------------------------------ */

/*
 * A PR IN response builder: it keeps counting past the allocation length
 * so that ADDITIONAL LENGTH reports the full response (SPC-4 6.13.2:
 * never reduced because of the allocation length), while only the bytes
 * that fit are stored.
 */
typedef struct Payload {
    uint8_t *buf;
    size_t cap;
    size_t len;
} Payload;

static void payload_put(Payload *p, const void *src, size_t n)
{
    if (p->len < p->cap) {
        size_t room = p->cap - p->len;

        memcpy(p->buf + p->len, src, n < room ? n : room);
    }
    p->len += n;
}

static void payload_put_be32(Payload *p, uint32_t v)
{
    uint8_t b[4];

    put_be32(b, v);
    payload_put(p, b, sizeof(b));
}

static void payload_put_be64(Payload *p, uint64_t v)
{
    uint8_t b[8];

    put_be64(b, v);
    payload_put(p, b, sizeof(b));
}

/* Overwrite the big-endian u32 at @offset with the bytes that fit. */
static void payload_patch_be32(Payload *p, size_t offset, uint32_t v)
{
    uint8_t b[4];
    size_t i;

    put_be32(b, v);
    for (i = 0; i < 4; i++) {
        if (offset + i < p->cap) {
            p->buf[offset + i] = b[i];
        }
    }
}

/* SPC-4 6.13.2: READ KEYS. */
static void read_keys(const PrState *state, Payload *p)
{
    guint i;

    payload_put_be32(p, state->generation);
    payload_put_be32(p, 8 * state->regs->len);
    for (i = 0; i < state->regs->len; i++) {
        payload_put_be64(p, reg_at(state, (int)i)->key);
    }
}

/* SPC-4 6.13.3: READ RESERVATION. */
static void read_reservation(const PrState *state, Payload *p)
{
    uint64_t key = 0;
    uint8_t tail[8] = {0};
    guint i;

    payload_put_be32(p, state->generation);
    if (state->res_type == PR_TYPE_NONE) {
        payload_put_be32(p, 0);
        return;
    }
    payload_put_be32(p, 16);
    /* An all-registrants reservation is reported with key zero. */
    if (!engine_type_all_registrants(state->res_type)) {
        for (i = 0; i < state->regs->len; i++) {
            if (reg_at(state, (int)i)->holder) {
                key = reg_at(state, (int)i)->key;
            }
        }
    }
    payload_put_be64(p, key);
    tail[5] = (uint8_t)((state->res_scope << 4) | state->res_type);
    payload_put(p, tail, sizeof(tail));
}

/* SPC-4 6.13.4: REPORT CAPABILITIES. */
static void report_capabilities(const PrState *state, Payload *p)
{
    uint8_t b[8] = {0};

    put_be16(b, 8); /* LENGTH */
    /* RLR_C, SIP_C, ATP_C, PTPL_C; CRH = 0 (no SPC-2 reservations seen). */
    b[2] = 0x80 | 0x08 | 0x04 | 0x01;
    /* TMV; ALLOW COMMANDS 000b (softprd sees no other commands); PTPL_A. */
    b[3] = 0x80 | (state->aptpl ? 0x01 : 0x00);
    /* WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; EX_AC_AR. */
    b[4] = 0xea;
    b[5] = 0x01;
    payload_put(p, b, sizeof(b));
}

/* SPC-4 6.13.5: READ FULL STATUS. */
static void read_full_status(const PrState *state, Payload *p)
{
    guint i;

    payload_put_be32(p, state->generation);
    payload_put_be32(p, 0); /* patched below */
    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *reg = reg_at(state, (int)i);
        uint8_t tid[TID_ENCODED_MAX];
        size_t tid_len = tid_encode(&reg->initiator, tid);
        bool holder = reg_is_holder(state, (int)i);
        uint8_t desc[24] = {0};

        put_be64(desc, reg->key);
        desc[12] = (uint8_t)((reg->all_tg_pt ? 0x02 : 0) | (holder ? 1 : 0));
        if (holder) {
            desc[13] = (uint8_t)((state->res_scope << 4) | state->res_type);
        }
        put_be16(desc + 18, reg->all_tg_pt ? 0 : reg->rtpi);
        put_be32(desc + 20, (uint32_t)tid_len);
        payload_put(p, desc, sizeof(desc));
        payload_put(p, tid, tid_len);
    }
    payload_patch_be32(p, 4, (uint32_t)(p->len - 8));
}

/*
 * The CDB checks PR IN and PR OUT share (SPC-4 6.13.1, 6.14.1): SERVICE
 * ACTION at most @max_sa, the reserved bits of byte 1 and bytes
 * @first..@last zero, and a CONTROL byte asking for neither NACA nor LINK
 * (SAM-5 5.2), which softprd does not support.
 */
static bool check_cdb(const uint8_t *cdb, uint8_t max_sa, int first, int last,
                      PrResult *result)
{
    int i;

    if ((cdb[1] & 0x1f) > max_sa) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 4);
        return false;
    }
    if (cdb[1] & 0xe0) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 7);
        return false;
    }
    for (i = first; i <= last; i++) {
        if (cdb[i] != 0) {
            result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, (uint16_t)i,
                             -1);
            return false;
        }
    }
    if (cdb[9] & 0x04) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 9, 2);
        return false;
    }
    if (cdb[9] & 0x01) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 9, 0);
        return false;
    }
    return true;
}

/* SPC-4 6.13: PERSISTENT RESERVE IN. */
static void persistent_reserve_in(const PrConfig *config, const PrNexus *nexus,
                                  const PrState *state, const uint8_t *cdb,
                                  PrResult *result)
{
    uint8_t sa = cdb[1] & 0x1f;
    size_t alloc = get_be16(cdb + 7);
    g_autoptr(PrState) view = NULL;
    Payload p;

    if (!check_cdb(cdb, PR_IN_READ_FULL_STATUS, 2, 6, result)) {
        return;
    }
    /* Report a row of an earlier version as the I_T nexuses it stands
     * for, without changing what is stored. */
    if (any_all_tg_pt_row(state)) {
        GArray *ports = known_ports(config, state, nexus);

        view = pr_state_copy(state);
        expand_all_tg_pt(view, ports);
        g_array_unref(ports);
        state = view;
    }

    /* An allocation length of zero is not an error (SPC-4 4.2.5.6). */
    p.buf = result->data;
    p.cap = alloc < PR_DATA_MAX ? alloc : PR_DATA_MAX;
    p.len = 0;
    switch (sa) {
    case PR_IN_READ_KEYS:
        read_keys(state, &p);
        break;
    case PR_IN_READ_RESERVATION:
        read_reservation(state, &p);
        break;
    case PR_IN_REPORT_CAPABILITIES:
        report_capabilities(state, &p);
        break;
    case PR_IN_READ_FULL_STATUS:
        read_full_status(state, &p);
        break;
    }
    result->status = SCSI_STATUS_GOOD;
    result->data_len = p.len < p.cap ? p.len : p.cap;
}

/* ------------------------------------------------------------------ */
/* PERSISTENT RESERVE OUT                                              */
/* ------------------------------------------------------------------ */

void engine_out_fields(const uint8_t *cdb, const uint8_t *param,
                       size_t param_len, PrOutFields *fields)
{
    memset(fields, 0, sizeof(*fields));
    fields->service_action = cdb[1] & 0x1f;
    fields->scope = cdb[2] >> 4;
    fields->type = cdb[2] & 0x0f;
    if (param_len >= 8) {
        fields->rk = get_be64(param);
    }
    if (param_len >= 16) {
        fields->sark = get_be64(param + 8);
    }
    if (fields->service_action == PR_OUT_REGISTER_AND_MOVE) {
        /* 6.14.4: UNREG and APTPL in byte 17, then the target port. */
        if (param_len >= 20) {
            fields->unreg = (param[17] & 0x02) != 0;
            fields->aptpl = (param[17] & 0x01) != 0;
            fields->move_rtpi = get_be16(param + 18);
        }
    } else if (param_len >= 21) {
        /* 6.14.3: SPEC_I_PT, ALL_TG_PT and APTPL in byte 20. */
        fields->spec_i_pt = (param[20] & 0x08) != 0;
        fields->all_tg_pt = (param[20] & 0x04) != 0;
        fields->aptpl = (param[20] & 0x01) != 0;
    }
}

/* The decoded parameter list of one PR OUT command (SPC-4 6.14.3-4). */
typedef struct ProutParams {
    PrOutFields f; /* as sent; validated by decode_basic/decode_move */
    GArray *tids;  /* TransportId: SPEC_I_PT list or R&M target */
} ProutParams;

/*
 * Decode @n bytes of TransportIDs at @list (offset @base in the parameter
 * list).  Returns false with @result set (INVALID FIELD IN PARAMETER
 * LIST) when one is malformed, unsupported or runs past the list.
 */
static bool decode_tids(const uint8_t *list, size_t n, size_t base,
                        GArray *tids, PrResult *result)
{
    size_t off = 0;

    while (off < n) {
        TransportId tid;
        size_t used = 0;
        TidStatus st = tid_decode(list + off, n - off, &tid, &used);

        if (st != TID_OK) {
            result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                               (uint16_t)(base + off), -1);
            return false;
        }
        g_array_append_val(tids, tid);
        off += used;
    }
    return true;
}

/* SPC-4 6.14.3: the basic PR OUT parameter list. */
static bool decode_basic(const uint8_t *param, size_t len, ProutParams *pp,
                         PrResult *result)
{
    if (len < 24) {
        result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
        return false;
    }
    if (param[20] & 0xf0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20, 7);
        return false;
    }
    if (param[20] & 0x02) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20, 1);
        return false;
    }
    if (param[21] != 0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 21, -1);
        return false;
    }
    /* 6.14.3: SPEC_I_PT is valid with REGISTER only; with any other
     * service action it terminates the command, before the length is
     * judged, since a TransportID list may follow it. */
    if (pp->f.spec_i_pt && pp->f.service_action != PR_OUT_REGISTER) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20, 3);
        return false;
    }
    if (!pp->f.spec_i_pt) {
        /* 6.14.3: without SPEC_I_PT the list is exactly 24 bytes. */
        if (len != 24) {
            result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
            return false;
        }
        return true;
    }
    {
        size_t tpdl;

        if (len < 28) {
            result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
            return false;
        }
        tpdl = get_be32(param + 24);
        if (tpdl != len - 28) {
            result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
            return false;
        }
        return decode_tids(param + 28, tpdl, 28, pp->tids, result);
    }
}

/* SPC-4 6.14.4: the REGISTER AND MOVE parameter list. */
static bool decode_move(const uint8_t *param, size_t len, ProutParams *pp,
                        PrResult *result)
{
    size_t tpdl;
    TransportId tid;
    size_t used = 0;

    if (len < 24) {
        result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
        return false;
    }
    if (param[16] != 0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 16, -1);
        return false;
    }
    if (param[17] & 0xfc) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 17, 7);
        return false;
    }
    tpdl = get_be32(param + 20);
    if (tpdl != len - 24) {
        result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
        return false;
    }
    /* Exactly one TransportID, filling the TransportID data. */
    if (tid_decode(param + 24, tpdl, &tid, &used) != TID_OK || used != tpdl) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 24, -1);
        return false;
    }
    g_array_append_val(pp->tids, tid);
    return true;
}

/* Validate TYPE and SCOPE of a reservation about to be created. */
static bool check_type_scope(const ProutParams *pp, PrResult *result)
{
    if (pp->f.scope != PR_SCOPE_LU) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 2, 7);
        return false;
    }
    if (!engine_type_valid(pp->f.type)) {
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 2, 3);
        return false;
    }
    return true;
}

static void reserve_for(PrState *state, int holder, uint8_t type, uint8_t scope)
{
    release_reservation(state);
    state->res_type = type;
    state->res_scope = scope;
    if (!engine_type_all_registrants(type)) {
        reg_at(state, holder)->holder = true;
    }
}

static bool room_for(const PrConfig *config, const PrState *state, size_t more,
                     PrResult *result)
{
    if (state->regs->len + more > config->max_registrations) {
        result_check(result, SENSE_INSUFFICIENT_REG_RESOURCES);
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
        if (find_registration(state, tid, reg.rtpi, false) >= 0) {
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
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20, 2);
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
            result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 28,
                               -1);
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
            result_conflict(result);
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
        PrRegistration *reg = reg_at(state, me);

        if (pp->f.service_action == PR_OUT_REGISTER && pp->f.rk != reg->key) {
            result_conflict(result);
            return;
        }
        if (pp->f.spec_i_pt) {
            result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20,
                               3);
            return;
        }
        if (pp->f.sark != 0) {
            reg->key = pp->f.sark;
        } else {
            unregister(state, me);
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
    if (reg_is_holder(state, me) && state->res_type == pp->f.type &&
        state->res_scope == pp->f.scope) {
        result->status = SCSI_STATUS_GOOD;
        return;
    }
    result_conflict(result);
}

/* SPC-4 5.12.11.2.2: RELEASE. */
static void do_release(const ProutParams *pp, PrState *state, int me,
                       PrResult *result)
{
    uint8_t type = state->res_type;

    /* No reservation, or not its holder: GOOD and nothing released. */
    if (type == PR_TYPE_NONE || !reg_is_holder(state, me)) {
        result->status = SCSI_STATUS_GOOD;
        return;
    }
    if (pp->f.type != type || pp->f.scope != state->res_scope) {
        result_check(result, SENSE_INVALID_RELEASE);
        return;
    }
    release_reservation(state);
    if (type_registrants_only(type) || engine_type_all_registrants(type)) {
        ua_raise_others(state, me, SENSE_RESERVATIONS_RELEASED);
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
    ua_raise_others(state, me, SENSE_RESERVATIONS_PREEMPTED);
    g_array_set_size(state->regs, 0);
    release_reservation(state);
    state->generation++;
}

static void do_clear(PrState *state, int me, PrResult *result)
{
    clear_all(state, me);
    result->status = SCSI_STATUS_GOOD;
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
        /* All-registrants reservation and SARK zero: every other
         * registration goes and the issuer holds the new reservation. */
        int i = 0;

        if (!check_type_scope(pp, result)) {
            return;
        }
        while (i < (int)state->regs->len) {
            if (i == me) {
                i++;
                continue;
            }
            ua_raise(state, reg_at(state, i), SENSE_REGISTRATIONS_PREEMPTED);
            g_array_remove_index(state->regs, (guint)i);
            if (me > i) {
                me--;
            }
        }
        reserve_for(state, me, pp->f.type, pp->f.scope);
        goto done;
    }
    if (pp->f.sark == 0) {
        /* Figure 9 allows SARK zero only with an all-registrants
         * reservation. */
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 8, -1);
        return;
    }
    if (!any_key_equals(state, pp->f.sark)) {
        result_conflict(result);
        return;
    }
    if (old_type != PR_TYPE_NONE && !engine_type_all_registrants(old_type)) {
        int holder = -1;
        guint i;

        for (i = 0; i < state->regs->len; i++) {
            if (reg_at(state, (int)i)->holder) {
                holder = (int)i;
            }
        }
        if (holder >= 0 && reg_at(state, holder)->key == pp->f.sark) {
            /* Preempting the holder: release, remove the preempted
             * registrations (never the issuer's), reserve for the
             * issuer with the CDB's type and scope. */
            if (!check_type_scope(pp, result)) {
                return;
            }
            me = remove_key(state, pp->f.sark, me, me);
            reserve_for(state, me, pp->f.type, pp->f.scope);
            if (pp->f.type != old_type || pp->f.scope != old_scope) {
                ua_raise_others(state, me, SENSE_RESERVATIONS_RELEASED);
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
        release_reservation(state);
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
        result_cdb_field(result, SENSE_INVALID_FIELD_IN_CDB, 1, 4);
        return;
    }
    if (engine_type_all_registrants(state->res_type) ||
        !reg_at(state, me)->holder) {
        result_conflict(result);
        return;
    }
    if (pp->f.sark == 0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 8, -1);
        return;
    }
    if (!ports_contain(ports, pp->f.move_rtpi)) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 18, -1);
        return;
    }
    dest = find_registration(state, tid, pp->f.move_rtpi, false);
    if (dest == me) {
        /* The TransportID names the nexus that sent the command. */
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 24, -1);
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
        reg_at(state, dest)->key = pp->f.sark;
    }
    reg_at(state, me)->holder = false;
    reg_at(state, dest)->holder = true;
    state->aptpl = pp->f.aptpl;
    if (pp->f.unreg) {
        unregister(state, me);
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
            result_conflict(result);
        } else {
            result_check(result, SENSE_INVALID_RELEASE);
        }
        return;
    }
    if (pp->f.rk != 0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 0, -1);
        return;
    }
    if (!check_type_scope(pp, result)) {
        return;
    }
    if (pp->f.sark == 0) {
        result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 8, -1);
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

/* SPC-4 6.14: PERSISTENT RESERVE OUT, against a scratch copy @state. */
static void persistent_reserve_out(const PrConfig *config, const PrNexus *nexus,
                                   const uint8_t *cdb, const uint8_t *param,
                                   size_t param_len, PrState *state,
                                   PrResult *result)
{
    g_autoptr(GArray) ports = NULL;
    ProutParams pp;
    int me;

    memset(&pp, 0, sizeof(pp));
    engine_out_fields(cdb, param, param_len, &pp.f);

    if (!check_cdb(cdb, PR_OUT_REPLACE_LOST, 3, 4, result)) {
        return;
    }
    /* PARAMETER LIST LENGTH is bytes 5-8; the transport only carries
     * lengths up to 8192, framed by bytes 7-8, so a length that needs
     * bytes 5-6 cannot be a valid parameter list. */
    if (cdb[5] != 0 || cdb[6] != 0) {
        result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5, -1);
        return;
    }
    if (state->info_lost && pp.f.service_action != PR_OUT_REPLACE_LOST) {
        result_check(result, SENSE_PR_INFORMATION_LOST);
        return;
    }

    pp.tids = g_array_new(FALSE, TRUE, sizeof(TransportId));
    if (pp.f.service_action == PR_OUT_REGISTER_AND_MOVE
            ? !decode_move(param, param_len, &pp, result)
            : !decode_basic(param, param_len, &pp, result)) {
        goto out;
    }

    /* Rows of earlier versions that stand for every target port become
     * the registrations they stand for before anything else. */
    ports = known_ports(config, state, nexus);
    expand_all_tg_pt(state, ports);
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
    /* 5.12.7: every other action from an unregistered nexus, and any
     * reservation key other than the nexus's own, conflicts. */
    if (me < 0 || pp.f.rk != reg_at(state, me)->key) {
        result_conflict(result);
        goto out;
    }
    switch (pp.f.service_action) {
    case PR_OUT_RESERVE:
        do_reserve(&pp, state, me, result);
        break;
    case PR_OUT_RELEASE:
        do_release(&pp, state, me, result);
        break;
    case PR_OUT_CLEAR:
        do_clear(state, me, result);
        break;
    case PR_OUT_PREEMPT:
    case PR_OUT_PREEMPT_AND_ABORT:
        do_preempt(&pp, state, me, result);
        break;
    case PR_OUT_REGISTER_AND_MOVE:
        do_register_and_move(config, &pp, ports, state, me, result);
        break;
    default:
        break;
    }
out:
    g_array_unref(pp.tids);
}

/*
 * Unit attentions (SAM-5 5.14): with PR_UA_REPORT the oldest condition
 * pending for @nexus is reported instead of running the command; with
 * PR_UA_RECORD every condition pending for it is dropped unreported.
 * Returns true when a condition was reported.
 */
static bool handle_unit_attention(const PrConfig *config, const PrNexus *nexus,
                                  PrState *state, PrResult *result)
{
    guint i = 0;

    while (i < state->uas->len) {
        PrUnitAttention *ua = &g_array_index(state->uas, PrUnitAttention, i);

        if (!ua_applies(ua, nexus)) {
            i++;
            continue;
        }
        result->changed = true;
        if (config->ua_policy == PR_UA_REPORT) {
            result_check(
                result, SCSI_SENSE(SCSI_KEY_UNIT_ATTENTION, ua->asc, ua->ascq));
            result->ua_reported = true;
            g_array_remove_index(state->uas, i);
            return true;
        }
        g_array_remove_index(state->uas, i);
    }
    return false;
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
        result_cdb_field(result, SENSE_INVALID_OPCODE, 0, -1);
        return;
    }
    if (handle_unit_attention(config, nexus, state, result)) {
        return;
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        persistent_reserve_in(config, nexus, state, cdb, result);
        return;
    }
    /* Work on a copy so that a command failing half-way leaves nothing
     * behind: each PR OUT is one indivisible event (5.12.1). */
    scratch = pr_state_copy(state);
    persistent_reserve_out(config, nexus, cdb, param, param_len, scratch,
                           result);
    if (result->status == SCSI_STATUS_GOOD && !pr_state_equal(scratch, state)) {
        state_replace(state, scratch);
        result->changed = true;
    } else {
        pr_state_free(scratch);
    }
}

void engine_power_loss(PrState *state)
{
    if (!state->aptpl) {
        g_array_set_size(state->regs, 0);
        release_reservation(state);
    }
    g_array_set_size(state->uas, 0);
    state->generation = 0;
}

void engine_clear(PrState *state)
{
    clear_all(state, -1);
}

unsigned engine_forget(PrState *state, const TransportId *initiator)
{
    unsigned removed = 0;
    guint i = 0;

    while (i < state->regs->len) {
        if (tid_matches(&reg_at(state, (int)i)->initiator, initiator)) {
            unregister(state, (int)i);
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

/* ------------------------------------------------------------------ */
/* Access to the logical unit by other commands (SPC-4 5.12.1)         */
/* ------------------------------------------------------------------ */

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
        return (cdb[1] & 0x1f) == 0x10 ? ACCESS_ALWAYS : ACCESS_READ;
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
    if (me >= 0 && reg_is_holder(state, me)) {
        return false;
    }
    exclusive_access = state->res_type == PR_TYPE_EXCLUSIVE_ACCESS ||
                       state->res_type == PR_TYPE_EXCLUSIVE_ACCESS_RO ||
                       state->res_type == PR_TYPE_EXCLUSIVE_ACCESS_AR;
    if (type_registrants_only(state->res_type) ||
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
