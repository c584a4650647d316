/*
 * admin: an administrator's changes to one logical unit's PR state
 * (softpr power-cycle, clear, forget), each one write transaction
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

#endif /* SOFTPR_ADMIN_H */
