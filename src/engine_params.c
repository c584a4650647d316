/*
 * engine_params: reading and validating PERSISTENT RESERVE OUT parameter
 * lists (SPC-4 6.14.3, 6.14.4).
 */
#include "engine_int.h"

#include <string.h>

#include "bytes.h"
#include "cdb.h"

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

/* SPC-4 6.14.3: the basic PR OUT parameter list. */
bool engine_params_basic(const uint8_t *param, size_t len, ProutParams *pp,
                         PrResult *result)
{
    if (len < 24) {
        engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5,
                                -1);
        return false;
    }
    if (param[20] & 0xf0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20,
                                  7);
        return false;
    }
    if (param[20] & 0x02) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20,
                                  1);
        return false;
    }
    if (param[21] != 0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 21,
                                  -1);
        return false;
    }
    /* 6.14.3: SPEC_I_PT is valid with REGISTER only; with any other
     * service action it terminates the command, before the length is
     * judged, since a TransportID list may follow it. */
    if (pp->f.spec_i_pt && pp->f.service_action != PR_OUT_REGISTER) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 20,
                                  3);
        return false;
    }
    if (!pp->f.spec_i_pt) {
        /* 6.14.3: without SPEC_I_PT the list is exactly 24 bytes. */
        if (len != 24) {
            engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR,
                                    5, -1);
            return false;
        }
        return true;
    }
    {
        size_t tpdl;

        if (len < 28) {
            engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR,
                                    5, -1);
            return false;
        }
        tpdl = get_be32(param + 24);
        if (tpdl != len - 28) {
            engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR,
                                    5, -1);
            return false;
        }
        return decode_tids(param + 28, tpdl, 28, pp->tids, result);
    }
}

/* SPC-4 6.14.4: the REGISTER AND MOVE parameter list. */
bool engine_params_move(const uint8_t *param, size_t len, ProutParams *pp,
                        PrResult *result)
{
    size_t tpdl;
    TransportId tid;
    size_t used = 0;

    if (len < 24) {
        engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5,
                                -1);
        return false;
    }
    if (param[16] != 0) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 16,
                                  -1);
        return false;
    }
    if (param[17] & 0xfc) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 17,
                                  7);
        return false;
    }
    tpdl = get_be32(param + 20);
    if (tpdl != len - 24) {
        engine_result_cdb_field(result, SENSE_PARAMETER_LIST_LENGTH_ERROR, 5,
                                -1);
        return false;
    }
    /* Exactly one TransportID, filling the TransportID data. */
    if (tid_decode(param + 24, tpdl, &tid, &used) != TID_OK || used != tpdl) {
        engine_result_param_field(result, SENSE_INVALID_FIELD_IN_PARAMETERS, 24,
                                  -1);
        return false;
    }
    g_array_append_val(pp->tids, tid);
    return true;
}
