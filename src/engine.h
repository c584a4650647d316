/*
 * engine: the SPC-4 persistent reservation device server, as pure
 * functions.
 *
 * Input: one logical unit's PR state, the I_T nexus a command came from,
 * the CDB and its parameter list.  Output: the new state, the SCSI status
 * and sense, and the PR IN payload.  No sqlite, no sockets, no clock:
 * every rule of SPC-4 r37 5.12, 6.13, 6.14 and 7.6.4 (and REPLACE LOST
 * RESERVATION from SPC-5 5.14.11.3) lives here and only here.
 */
#ifndef SOFTPR_ENGINE_H
#define SOFTPR_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "scsi.h"
#include "tid.h"
#include "wire.h"

/* Reservation types (SPC-4 6.14.3 table 169). */
#define PR_TYPE_NONE 0x0
#define PR_TYPE_WRITE_EXCLUSIVE 0x1
#define PR_TYPE_EXCLUSIVE_ACCESS 0x3
#define PR_TYPE_WRITE_EXCLUSIVE_RO 0x5
#define PR_TYPE_EXCLUSIVE_ACCESS_RO 0x6
#define PR_TYPE_WRITE_EXCLUSIVE_AR 0x7
#define PR_TYPE_EXCLUSIVE_ACCESS_AR 0x8

#define PR_SCOPE_LU 0x0

/* PERSISTENT RESERVE IN service actions (SPC-4 6.13.1 table 162). */
#define PR_IN_READ_KEYS 0x00
#define PR_IN_READ_RESERVATION 0x01
#define PR_IN_REPORT_CAPABILITIES 0x02
#define PR_IN_READ_FULL_STATUS 0x03

/* PERSISTENT RESERVE OUT service actions (SPC-4 6.14.2 table 168). */
#define PR_OUT_REGISTER 0x00
#define PR_OUT_RESERVE 0x01
#define PR_OUT_RELEASE 0x02
#define PR_OUT_CLEAR 0x03
#define PR_OUT_PREEMPT 0x04
#define PR_OUT_PREEMPT_AND_ABORT 0x05
#define PR_OUT_REGISTER_IGNORE 0x06
#define PR_OUT_REGISTER_AND_MOVE 0x07
#define PR_OUT_REPLACE_LOST 0x08

/* Default bound on registrations per logical unit. */
#define PR_MAX_REGISTRATIONS_DEFAULT 1024

/* An I_T nexus: an initiator port and a relative target port identifier. */
typedef struct PrNexus {
    TransportId initiator;
    uint16_t rtpi;
} PrNexus;

/*
 * The registration of one I_T nexus.  ALL_TG_PT makes one per target port
 * (SPC-4 5.12.7 table 69).  all_tg_pt is set only in rows stored by
 * earlier versions, which kept such a registration as one row for every
 * target port (rtpi 0); the engine reads such a row as the registrations
 * it stands for and stores those on the next PR OUT that completes.
 */
typedef struct PrRegistration {
    TransportId initiator;
    uint16_t rtpi; /* 0 when all_tg_pt: every target port */
    bool all_tg_pt;
    uint64_t key;
    bool holder; /* holds a reservation that is not all-registrants */
} PrRegistration;

/* A unit attention condition queued for one nexus (or every port of it). */
typedef struct PrUnitAttention {
    TransportId initiator;
    uint16_t rtpi; /* 0: every target port */
    uint8_t asc;
    uint8_t ascq;
} PrUnitAttention;

/* Everything SPC-4 remembers about one logical unit's reservations. */
typedef struct PrState {
    uint32_t generation; /* PRgeneration */
    bool aptpl;          /* last APTPL value received */
    bool info_lost;      /* PR information was lost (SPC-5) */
    uint8_t res_type;    /* PR_TYPE_NONE when nothing is reserved */
    uint8_t res_scope;
    GArray *regs; /* PrRegistration, in registration order */
    GArray *uas;  /* PrUnitAttention, oldest first */
} PrState;

typedef enum PrUaPolicy {
    /* Record unit attentions; drop them unreported when their nexus sends
     * its next PR command (softprd never sees the TEST UNIT READY that a
     * real device would report them to). */
    PR_UA_RECORD,
    /* Report a pending unit attention on the nexus's next PR command. */
    PR_UA_REPORT,
} PrUaPolicy;

typedef struct PrConfig {
    /* This daemon's relative target port ids: with those registrations
     * came through, the ports ALL_TG_PT registers on and REGISTER AND
     * MOVE may name. */
    const uint16_t *ports;
    size_t n_ports;
    unsigned max_registrations;
    PrUaPolicy ua_policy;
} PrConfig;

typedef struct PrResult {
    uint8_t status;
    uint8_t sense[SCSI_SENSE_FIXED_LEN]; /* valid with CHECK CONDITION */
    size_t data_len;                     /* PR IN payload length */
    uint8_t data[WIRE_DATA_MAX];         /* QEMU's framing limit */
    bool changed;     /* the state changed and must be stored */
    bool ua_reported; /* a unit attention was reported instead */
} PrResult;

/*
 * What a PR OUT command asks for, as sent: the CDB's service action,
 * scope and type and the parameter list's keys and flags, before any
 * validation (fields the list is too short to hold are zero).
 */
typedef struct PrOutFields {
    uint8_t service_action;
    uint8_t scope;
    uint8_t type;
    uint64_t rk;   /* RESERVATION KEY */
    uint64_t sark; /* SERVICE ACTION RESERVATION KEY */
    bool spec_i_pt;
    bool all_tg_pt;
    bool aptpl;
    bool unreg;         /* REGISTER AND MOVE */
    uint16_t move_rtpi; /* REGISTER AND MOVE */
} PrOutFields;

PrState *pr_state_new(void);
PrState *pr_state_copy(const PrState *state);
void pr_state_free(PrState *state);
bool pr_state_equal(const PrState *a, const PrState *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PrState, pr_state_free)

/*
 * Execute one PERSISTENT RESERVE IN or OUT command from @nexus against
 * @state.  @cdb holds at least 10 bytes; @param holds the @param_len
 * bytes of PR OUT parameter data actually transferred.  On return
 * @result holds the status, sense and payload; @state holds the new state
 * (@result->changed says whether it differs).  A command that does not
 * complete with GOOD status leaves the reservations unchanged; only a
 * unit attention it consumed may be gone.
 */
void engine_execute(const PrConfig *config, const PrNexus *nexus,
                    const uint8_t *cdb, const uint8_t *param, size_t param_len,
                    PrState *state, PrResult *result);

/*
 * Answer @status with no sense data and no payload, and the state
 * unchanged: for answers given without running a command.
 */
void pr_result_status(PrResult *result, uint8_t status);

/* Answer CHECK CONDITION with the sense data of @code, likewise. */
void pr_result_sense(PrResult *result, ScsiSenseCode code);

/*
 * Read the fields of the PR OUT command @cdb with parameter list @param
 * (@param_len bytes) into @fields, for logs and the audit history; the
 * engine reads commands through this too.
 */
void engine_out_fields(const uint8_t *cdb, const uint8_t *param,
                       size_t param_len, PrOutFields *fields);

/*
 * Simulated power loss (SPC-4 5.12.4): registrations and the reservation
 * are dropped unless the last APTPL value received was one; PRgeneration
 * returns to zero either way; queued unit attentions are dropped.
 */
void engine_power_loss(PrState *state);

/*
 * An administrator's CLEAR (softpr clear): every registration and the
 * reservation are removed as by PR OUT CLEAR (SPC-4 5.12.11.2.7),
 * RESERVATIONS PREEMPTED is queued for every registrant, and PRgeneration
 * rises by one.
 */
void engine_clear(PrState *state);

/*
 * Forget an initiator that is gone for good (softpr forget): remove every
 * registration whose initiator matches @initiator (tid_matches(), on any
 * target port) as if it had unregistered (SPC-4 5.12.11.2.3: a reservation
 * it holds is released, with RESERVATIONS RELEASED to the others for the
 * registrants-only types), and drop its pending unit attentions.
 * PRgeneration rises by one when a registration was removed.  Returns the
 * number of registrations removed.
 */
unsigned engine_forget(PrState *state, const TransportId *initiator);

/*
 * Whether a command other than PERSISTENT RESERVE IN/OUT, with operation
 * code @cdb[0], from @nexus conflicts with the reservation in @state
 * (SPC-4 5.12.1 table 63).  softprd never sees such commands; this is for
 * any component that does.
 */
bool engine_access_conflicts(const PrState *state, const PrNexus *nexus,
                             const uint8_t *cdb);

/* Whether @type is one of the six reservation types. */
bool engine_type_valid(uint8_t type);

/* Whether @type is an all-registrants type (every registrant holds it). */
bool engine_type_all_registrants(uint8_t type);

/* Names for logs and tools; never NULL. */
const char *engine_type_name(uint8_t type);
const char *engine_in_action_name(uint8_t service_action);
const char *engine_out_action_name(uint8_t service_action);

/*
 * Whether @state is one SPC-4 allows (5.12.7, 5.12.10): no key is zero;
 * a reservation that is not all-registrants has exactly one holder, an
 * all-registrants one at least one registrant; nothing else is a holder.
 */
bool engine_state_consistent(const PrState *state);

/* Index of the registration of @nexus in @state->regs, or -1. */
int engine_find_registration(const PrState *state, const PrNexus *nexus);

#endif /* SOFTPR_ENGINE_H */
