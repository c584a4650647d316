/*
 * cdb: PERSISTENT RESERVE IN/OUT CDBs and parameter lists (SPC-4 6.13,
 * 6.14): the names of their fields and flags, which the engine parses
 * with, and builders for clients (the C client, the softpr tool and the
 * tests).
 */
#ifndef SOFTPR_CDB_H
#define SOFTPR_CDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tid.h"
#include "wire.h"

#define CDB_LEN 16

/* SERVICE ACTION: bits 4-0 of CDB byte 1 (SPC-4 6.13.1, 6.14.1). */
#define CDB_SERVICE_ACTION_MASK 0x1f
/* PR IN ALLOCATION LENGTH, bytes 7-8; PR OUT PARAMETER LIST LENGTH,
 * bytes 5-8 (SPC-4 6.13.1, 6.14.1). */
#define CDB_OFF_ALLOC_LEN 7
#define CDB_OFF_PARAM_LEN 5

/*
 * Fields of the basic PR OUT parameter list (SPC-4 6.14.3): RESERVATION
 * KEY, SERVICE ACTION RESERVATION KEY, the flags byte, and with SPEC_I_PT
 * the TRANSPORTID PARAMETER DATA LENGTH and the TransportIDs after it.
 */
#define PROUT_OFF_RK 0
#define PROUT_OFF_SARK 8
#define PROUT_OFF_FLAGS 20
#define PROUT_OFF_RESERVED 21
#define PROUT_BASIC_LEN 24
#define PROUT_OFF_TPDL 24
#define PROUT_OFF_TIDS 28

/* Flags of the basic parameter list, byte PROUT_OFF_FLAGS, and their bit
 * numbers (sense-key specific field pointers name the bit). */
#define PROUT_SPEC_I_PT_BIT 3
#define PROUT_ALL_TG_PT_BIT 2
#define PROUT_APTPL_BIT 0
#define PROUT_SPEC_I_PT (1u << PROUT_SPEC_I_PT_BIT)
#define PROUT_ALL_TG_PT (1u << PROUT_ALL_TG_PT_BIT)
#define PROUT_APTPL (1u << PROUT_APTPL_BIT)

/*
 * Fields of the REGISTER AND MOVE parameter list (SPC-4 6.14.4): the keys
 * as above, then the flags byte (UNREG, APTPL), RELATIVE TARGET PORT
 * IDENTIFIER, TRANSPORTID PARAMETER DATA LENGTH and the TransportID.
 */
#define PROUT_MOVE_OFF_RESERVED 16
#define PROUT_MOVE_OFF_FLAGS 17
#define PROUT_MOVE_OFF_RTPI 18
#define PROUT_MOVE_OFF_TPDL 20
#define PROUT_MOVE_OFF_TID 24
#define PROUT_MOVE_UNREG 0x02
#define PROUT_MOVE_APTPL PROUT_APTPL

/* The SERVICE ACTION field of @cdb (PR IN, PR OUT and the other
 * commands with a service action in byte 1). */
static inline uint8_t cdb_service_action(const uint8_t *cdb)
{
    return cdb[1] & CDB_SERVICE_ACTION_MASK;
}

/* A zero-padded 16-byte PR IN CDB with @alloc in bytes 7-8. */
void cdb_pr_in(uint8_t *cdb, uint8_t service_action, uint16_t alloc);

/* A zero-padded 16-byte PR OUT CDB with @param_len in bytes 5-8. */
void cdb_pr_out(uint8_t *cdb, uint8_t service_action, uint8_t scope,
                uint8_t type, uint32_t param_len);

/*
 * The basic parameter list into @out (WIRE_DATA_MAX bytes): 24 bytes,
 * or with PROUT_SPEC_I_PT in @flags a TRANSPORTID PARAMETER DATA LENGTH
 * and the @n_tids TransportIDs.  Returns its length, or 0 when the list
 * would not fit.
 */
size_t cdb_prout_basic(uint8_t *out, uint64_t rk, uint64_t sark, uint8_t flags,
                       const TransportId *tids, size_t n_tids);

/* The REGISTER AND MOVE parameter list into @out; returns its length. */
size_t cdb_prout_move(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                      bool aptpl, uint16_t rtpi, const TransportId *tid);

/*
 * cdb_prout_basic() with the TransportIDs already encoded: @tids holds
 * @tids_len bytes of concatenated TransportIDs, copied unchecked, so that
 * a tool can send what its user typed (sg_persist's -X) and leave the
 * judgement to the device server.  As there, a TRANSPORTID PARAMETER
 * DATA LENGTH and the TransportIDs follow only when @flags has
 * PROUT_SPEC_I_PT.  Returns the list's length, or 0 when it would exceed
 * WIRE_DATA_MAX.
 */
size_t cdb_prout_basic_raw(uint8_t *out, uint64_t rk, uint64_t sark,
                           uint8_t flags, const uint8_t *tids, size_t tids_len);

/*
 * cdb_prout_move() with @tid_len bytes of already-encoded TransportID,
 * copied unchecked (none at all gives a TRANSPORTID PARAMETER DATA LENGTH
 * of zero).  Returns the list's length, or 0 when it would exceed
 * WIRE_DATA_MAX.
 */
size_t cdb_prout_move_raw(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                          bool aptpl, uint16_t rtpi, const uint8_t *tid,
                          size_t tid_len);

/* REPORT CAPABILITIES parameter data (SPC-4 6.13.4): byte 2 ... */
#define PRIN_CAP_RLR_C 0x80
#define PRIN_CAP_CRH 0x10
#define PRIN_CAP_SIP_C 0x08
#define PRIN_CAP_ATP_C 0x04
#define PRIN_CAP_PTPL_C 0x01
/* ... and byte 3: TMV, ALLOW COMMANDS (bits 6-4), PTPL_A. */
#define PRIN_CAP_TMV 0x80
#define PRIN_CAP_ALLOW_COMMANDS_SHIFT 4
#define PRIN_CAP_ALLOW_COMMANDS_MASK 0x7
#define PRIN_CAP_PTPL_A 0x01

/* READ FULL STATUS descriptor, byte 12 (SPC-4 6.13.5.2). */
#define PRIN_FULL_ALL_TG_PT 0x02
#define PRIN_FULL_R_HOLDER 0x01

#endif /* SOFTPR_CDB_H */
