/*
 * engine_int: what the engine's own files share and nothing else may use.
 *
 * The engine is split by job: engine.c (entry, results, CDB checks,
 * whole-state transitions), engine_state.c (state objects and
 * registrations), engine_ua.c (unit attentions), engine_params.c (the
 * PR OUT parameter list), engine_in.c (PR IN and its payload builder),
 * engine_out.c (the PR OUT service actions) and engine_access.c (other
 * commands against a reservation).  Only these files include this one.
 */
#ifndef SOFTPR_ENGINE_INT_H
#define SOFTPR_ENGINE_INT_H

#include "cdb.h"
#include "engine.h"

/* The decoded parameter list of one PR OUT command (SPC-4 6.14.3-4). */
typedef struct ProutParams {
    PrOutFields f; /* as sent; validated by engine_params_*() */
    GArray *tids;  /* TransportId: SPEC_I_PT list or R&M target */
} ProutParams;

/* ---- Results (engine.c) ---- */

/* CHECK CONDITION with @code and no payload. */
void engine_result_check(PrResult *result, ScsiSenseCode code);

/* CHECK CONDITION pointing at byte @byte (bit @bit, or -1) of the CDB. */
void engine_result_cdb_field(PrResult *result, ScsiSenseCode code,
                             uint16_t byte, int bit);

/* CHECK CONDITION pointing at byte @byte (bit @bit, or -1) of the
 * parameter list. */
void engine_result_param_field(PrResult *result, ScsiSenseCode code,
                               uint16_t byte, int bit);

/* RESERVATION CONFLICT, a status without sense data (SAM-5 5.3.1). */
void engine_result_conflict(PrResult *result);

/*
 * The CDB checks PR IN and PR OUT share (SPC-4 6.13.1, 6.14.1): SERVICE
 * ACTION at most @max_sa, the reserved bits of byte 1 and bytes
 * @first..@last zero, and a CONTROL byte asking for neither NACA nor
 * LINK.  Returns false with @result set when one fails.
 */
bool engine_check_cdb(const uint8_t *cdb, uint8_t max_sa, int first, int last,
                      PrResult *result);

/* Whether @type is a registrants-only type. */
bool engine_type_registrants_only(uint8_t type);

/* ---- State and registrations (engine_state.c) ---- */

/* Move the contents of @from into @to and free @from. */
void engine_state_replace(PrState *to, PrState *from);

/* Registration @i of @state; @i must be a valid index. */
PrRegistration *engine_reg(const PrState *state, int i);

/*
 * Index of the registration covering initiator @tid at target port @rtpi
 * (any port when @all_ports), or -1.
 */
int engine_reg_find(const PrState *state, const TransportId *tid, uint16_t rtpi,
                    bool all_ports);

/* Whether registration @i holds the current reservation (SPC-4 5.12.10). */
bool engine_reg_is_holder(const PrState *state, int i);

/*
 * The target ports of the logical unit known to the device server, as a
 * sorted set (GArray of uint16_t, caller unrefs): @config's, the one
 * @nexus came through, and each one a registration came through.
 */
GArray *engine_ports_known(const PrConfig *config, const PrState *state,
                           const PrNexus *nexus);

/* Whether the set @ports holds @rtpi. */
bool engine_ports_contain(const GArray *ports, uint16_t rtpi);

/* Whether @state holds a row of an earlier version standing for every
 * target port (all_tg_pt). */
bool engine_has_all_tg_pt_row(const PrState *state);

/*
 * Rewrite each all_tg_pt row as the registrations it stands for, one per
 * port of @ports (SPC-4 5.12.7 table 69); the first holds what the row
 * held.
 */
void engine_expand_all_tg_pt(PrState *state, const GArray *ports);

/* Drop the reservation: no type, LU scope, no holder. */
void engine_release(PrState *state);

/*
 * Remove registration @i as SPC-4 5.12.11.2.3 requires, releasing a
 * reservation it held (with RESERVATIONS RELEASED to the others for the
 * registrants-only types); an all-registrants reservation goes with its
 * last registrant.
 */
void engine_unregister(PrState *state, int i);

/* ---- Unit attentions (engine_ua.c) ---- */

/* Whether @a and @b are the same condition for the same nexus. */
bool engine_ua_equal(const PrUnitAttention *a, const PrUnitAttention *b);

/* Queue @code for the nexus (or every port) behind registration @reg,
 * once per code and nexus. */
void engine_ua_raise(PrState *state, const PrRegistration *reg,
                     ScsiSenseCode code);

/* Queue @code for every registrant except registration @except (or -1). */
void engine_ua_raise_others(PrState *state, int except, ScsiSenseCode code);

/*
 * Unit attentions (SAM-5 5.14): with PR_UA_REPORT the oldest condition
 * pending for @nexus is reported in @result instead of running the
 * command; with PR_UA_RECORD every condition pending for it is dropped
 * unreported.  Returns true when a condition was reported.
 */
bool engine_ua_handle(const PrConfig *config, const PrNexus *nexus,
                      PrState *state, PrResult *result);

/* ---- Parameter lists (engine_params.c) ---- */

/*
 * Validate the basic PR OUT parameter list (SPC-4 6.14.3) of @len bytes
 * and decode its TransportIDs into @pp->tids; @pp->f already holds the
 * fields as sent.  Returns false with @result set when it is invalid.
 */
bool engine_params_basic(const uint8_t *param, size_t len, ProutParams *pp,
                         PrResult *result);

/* Likewise for the REGISTER AND MOVE parameter list (SPC-4 6.14.4). */
bool engine_params_move(const uint8_t *param, size_t len, ProutParams *pp,
                        PrResult *result);

/* ---- Commands (engine_in.c, engine_out.c) ---- */

/* SPC-4 6.13: PERSISTENT RESERVE IN; @state is not changed. */
void engine_reserve_in(const PrConfig *config, const PrNexus *nexus,
                       const PrState *state, const uint8_t *cdb,
                       PrResult *result);

/*
 * SPC-4 6.14: PERSISTENT RESERVE OUT against @state, a scratch copy that
 * engine_execute() keeps only when the command completes with GOOD.
 */
void engine_reserve_out(const PrConfig *config, const PrNexus *nexus,
                        const uint8_t *cdb, const uint8_t *param,
                        size_t param_len, PrState *state, PrResult *result);

#endif /* SOFTPR_ENGINE_INT_H */
