/*
 * engine_in: PERSISTENT RESERVE IN service actions and the payload
 * builder they write through.
 */
#include "engine_int.h"

#include <string.h>

#include "bytes.h"

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
        payload_put_be64(p, engine_reg(state, (int)i)->key);
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
            if (engine_reg(state, (int)i)->holder) {
                key = engine_reg(state, (int)i)->key;
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
        const PrRegistration *reg = engine_reg(state, (int)i);
        uint8_t tid[TID_ENCODED_MAX];
        size_t tid_len = tid_encode(&reg->initiator, tid);
        bool holder = engine_reg_is_holder(state, (int)i);
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

/* SPC-4 6.13: PERSISTENT RESERVE IN. */
void engine_reserve_in(const PrConfig *config, const PrNexus *nexus,
                       const PrState *state, const uint8_t *cdb,
                       PrResult *result)
{
    uint8_t sa = cdb_service_action(cdb);
    size_t alloc = get_be16(cdb + CDB_OFF_ALLOC_LEN);
    g_autoptr(PrState) view = NULL;
    Payload p;

    if (!engine_check_cdb(cdb, PR_IN_READ_FULL_STATUS, 2, 6, result)) {
        return;
    }
    /* Report a row of an earlier version as the I_T nexuses it stands
     * for, without changing what is stored. */
    if (engine_has_all_tg_pt_row(state)) {
        GArray *ports = engine_ports_known(config, state, nexus);

        view = pr_state_copy(state);
        engine_expand_all_tg_pt(view, ports);
        g_array_unref(ports);
        state = view;
    }

    /* An allocation length of zero is not an error (SPC-4 4.2.5.6). */
    p.buf = result->data;
    p.cap = alloc < WIRE_DATA_MAX ? alloc : WIRE_DATA_MAX;
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
