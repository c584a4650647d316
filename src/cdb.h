/*
 * cdb: building PERSISTENT RESERVE IN/OUT CDBs and parameter lists
 * (SPC-4 6.13, 6.14), for clients: the C client, the softpr tool and the
 * tests.  The engine parses what these build.
 */
#ifndef SOFTPR_CDB_H
#define SOFTPR_CDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tid.h"

#define CDB_LEN 16

/* Flags of the basic parameter list, byte 20. */
#define PROUT_SPEC_I_PT 0x08
#define PROUT_ALL_TG_PT 0x04
#define PROUT_APTPL 0x01

/* Largest parameter list the builders produce (the transport's limit). */
#define PROUT_PARAM_MAX 8192

/* A zero-padded 16-byte PR IN CDB with @alloc in bytes 7-8. */
void cdb_pr_in(uint8_t *cdb, uint8_t service_action, uint16_t alloc);

/* A zero-padded 16-byte PR OUT CDB with @param_len in bytes 5-8. */
void cdb_pr_out(uint8_t *cdb, uint8_t service_action, uint8_t scope,
                uint8_t type, uint32_t param_len);

/*
 * The basic parameter list into @out (PROUT_PARAM_MAX bytes): 24 bytes,
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
 * PROUT_PARAM_MAX.
 */
size_t cdb_prout_basic_raw(uint8_t *out, uint64_t rk, uint64_t sark,
                           uint8_t flags, const uint8_t *tids, size_t tids_len);

/*
 * cdb_prout_move() with @tid_len bytes of already-encoded TransportID,
 * copied unchecked (none at all gives a TRANSPORTID PARAMETER DATA LENGTH
 * of zero).  Returns the list's length, or 0 when it would exceed
 * PROUT_PARAM_MAX.
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
