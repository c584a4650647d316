/*
 * engine_params: reading and validating PERSISTENT RESERVE OUT parameter
 * lists (SPC-4 6.14.3, 6.14.4).
 */
#include "engine_int.h"

#include <string.h>

#include "bytes.h"

void engine_out_fields(const uint8_t *cdb, const uint8_t *param,
                       size_t param_len, PrOutFields *fields)
{
    memset(fields, 0, sizeof(*fields));
    fields->service_action = cdb_service_action(cdb);
    fields->scope = cdb[2] >> 4;
    fields->type = cdb[2] & 0x0f;
    if (param_len >= PROUT_OFF_RK + 8) {
        fields->rk = get_be64(param + PROUT_OFF_RK);
    }
    if (param_len >= PROUT_OFF_SARK + 8) {
        fields->sark = get_be64(param + PROUT_OFF_SARK);
    }
    if (fields->service_action == PR_OUT_REGISTER_AND_MOVE) {
        /* 6.14.4: UNREG and APTPL, then the target port. */
        if (param_len >= PROUT_MOVE_OFF_RTPI + 2) {
            uint8_t flags = param[PROUT_MOVE_OFF_FLAGS];

            fields->unreg = (flags & PROUT_MOVE_UNREG) != 0;
            fields->aptpl = (flags & PROUT_MOVE_APTPL) != 0;
            fields->move_rtpi = get_be16(param + PROUT_MOVE_OFF_RTPI);
        }
    } else if (param_len >= PROUT_OFF_FLAGS + 1) {
        /* 6.14.3: SPEC_I_PT, ALL_TG_PT and APTPL. */
        uint8_t flags = param[PROUT_OFF_FLAGS];

        fields->spec_i_pt = (flags & PROUT_SPEC_I_PT) != 0;
        fields->all_tg_pt = (flags & PROUT_ALL_TG_PT) != 0;
        fields->aptpl = (flags & PROUT_APTPL) != 0;
    }
}

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
            engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS,
                                      (uint16_t)(base + off), -1);
            return false;
        }
        g_array_append_val(tids, tid);
        off += used;
    }
    return true;
}

/* PARAMETER LIST LENGTH ERROR points at the CDB's length field. */
static bool length_error(PrResult *result)
{
    engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR,
                            CDB_OFF_PARAM_LEN, -1);
    return false;
}

/* INVALID FIELD IN PARAMETER LIST at byte @byte, bit @bit (or -1). */
static bool field_error(PrResult *result, uint16_t byte, int bit)
{
    engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, byte,
                              bit);
    return false;
}

/* SPC-4 6.14.3: the basic PR OUT parameter list. */
bool engine_params_basic(const uint8_t *param, size_t len, ProutParams *pp,
                         PrResult *result)
{
    size_t tpdl;

    if (len < PROUT_BASIC_LEN) {
        return length_error(result);
    }
    /* Bits 7-4 and 1 of the flags byte are reserved. */
    if (param[PROUT_OFF_FLAGS] & 0xf0) {
        return field_error(result, PROUT_OFF_FLAGS, 7);
    }
    if (param[PROUT_OFF_FLAGS] & 0x02) {
        return field_error(result, PROUT_OFF_FLAGS, 1);
    }
    if (param[PROUT_OFF_RESERVED] != 0) {
        return field_error(result, PROUT_OFF_RESERVED, -1);
    }
    /* 6.14.3: SPEC_I_PT is valid with REGISTER only; with any other
     * service action it terminates the command, before the length is
     * judged, since a TransportID list may follow it. */
    if (pp->f.spec_i_pt && pp->f.service_action != PR_OUT_REGISTER) {
        return field_error(result, PROUT_OFF_FLAGS, PROUT_SPEC_I_PT_BIT);
    }
    if (!pp->f.spec_i_pt) {
        /* 6.14.3: without SPEC_I_PT the list is exactly 24 bytes. */
        return len == PROUT_BASIC_LEN ? true : length_error(result);
    }
    if (len < PROUT_OFF_TIDS) {
        return length_error(result);
    }
    tpdl = get_be32(param + PROUT_OFF_TPDL);
    if (tpdl != len - PROUT_OFF_TIDS) {
        return length_error(result);
    }
    return decode_tids(param + PROUT_OFF_TIDS, tpdl, PROUT_OFF_TIDS, pp->tids,
                       result);
}

/* SPC-4 6.14.4: the REGISTER AND MOVE parameter list. */
bool engine_params_move(const uint8_t *param, size_t len, ProutParams *pp,
                        PrResult *result)
{
    size_t tpdl;
    TransportId tid;
    size_t used = 0;

    if (len < PROUT_MOVE_OFF_TID) {
        return length_error(result);
    }
    if (param[PROUT_MOVE_OFF_RESERVED] != 0) {
        return field_error(result, PROUT_MOVE_OFF_RESERVED, -1);
    }
    /* Bits 7-2 of the flags byte are reserved. */
    if (param[PROUT_MOVE_OFF_FLAGS] & 0xfc) {
        return field_error(result, PROUT_MOVE_OFF_FLAGS, 7);
    }
    tpdl = get_be32(param + PROUT_MOVE_OFF_TPDL);
    if (tpdl != len - PROUT_MOVE_OFF_TID) {
        return length_error(result);
    }
    /* Exactly one TransportID, filling the TransportID data. */
    if (tid_decode(param + PROUT_MOVE_OFF_TID, tpdl, &tid, &used) != TID_OK ||
        used != tpdl) {
        return field_error(result, PROUT_MOVE_OFF_TID, -1);
    }
    g_array_append_val(pp->tids, tid);
    return true;
}
