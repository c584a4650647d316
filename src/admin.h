/*
 * admin: an administrator's changes to one logical unit's PR state
 * (softpr power-cycle, clear, forget, mark-lost), each one write transaction
 * around a pure engine function, recorded in the audit history, under
 * the same rules as the daemon's commands: the lock wait is bounded,
 * the change is durable once the call returns true, and on failure
 * nothing is written.
 */
#ifndef SOFTPR_ADMIN_H
#define SOFTPR_ADMIN_H

#include <stdbool.h>

#include <glib.h>

#include "engine.h"
#include "store.h"
#include "tid.h"

/* What a change did, for the person who asked for it. */
typedef struct AdminOutcome {
    uint32_t generation_before;
    uint32_t generation_after;
    unsigned registrations_before;
    unsigned registrations_after;
    uint8_t type_before; /* PR_TYPE_NONE: no reservation */
    uint8_t type_after;
    bool lost_before; /* PR information marked lost (SPC-5) */
    bool lost_after;
    bool changed; /* anything was written besides the history */
} AdminOutcome;

/*
 * Simulated power loss of the LU @lu_name (engine_power_loss(): what
 * APTPL does not cover is dropped, PRgeneration returns to zero).
 * Fails with SOFTPR_ERROR_NOT_FOUND for an unknown LU, SOFTPR_ERROR_BUSY
 * when the lock is not obtained before @deadline (monotonic
 * microseconds), or a store error.
 */
bool admin_power_cycle(Store *store, const char *lu_name, gint64 deadline,
                       AdminOutcome *outcome, GError **error);

/* Clear every registration and the reservation (engine_clear()). */
bool admin_clear(Store *store, const char *lu_name, gint64 deadline,
                 AdminOutcome *outcome, GError **error);

/*
 * Remove the registrations of @initiator from the LU @lu_name
 * (engine_forget()).  An LU where it has none is left alone, and the
 * history does not mention it (outcome->changed is false).
 */
bool admin_forget(Store *store, const char *lu_name,
                  const TransportId *initiator, gint64 deadline,
                  AdminOutcome *outcome, GError **error);

/*
 * Mark the PR information of the LU @lu_name lost (SPC-5 5.14.11.3):
 * for a database restored from a backup, whose registrations and
 * reservations may be older than what the initiators did since.  PR IN
 * keeps answering from the restored state; every PR OUT but REPLACE
 * LOST RESERVATION gets DATA PROTECT, PERSISTENT RESERVATION
 * INFORMATION LOST (the engine's info_lost), until an initiator
 * replaces the reservation.  An LU already marked is left alone, and
 * the history does not mention it (outcome->changed is false).
 */
bool admin_mark_lost(Store *store, const char *lu_name, gint64 deadline,
                     AdminOutcome *outcome, GError **error);

#endif /* SOFTPR_ADMIN_H */
