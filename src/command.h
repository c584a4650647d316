/*
 * command: one PERSISTENT RESERVE command, from a nexus, to a logical
 * unit: the store transaction around the engine.
 *
 * PR OUT runs in a BEGIN IMMEDIATE transaction, alone or with other
 * commands of the same daemon (group commit), and is answered GOOD only
 * after that commit is durable.  PR IN reads one consistent snapshot
 * (and upgrades to a write when it consumes a unit attention).  When the
 * database lock is not obtained before the deadline the answer is BUSY;
 * when the database fails it is CHECK CONDITION, ABORTED COMMAND,
 * INTERNAL TARGET FAILURE.  Either way nothing is half-written.
 */
#ifndef SOFTPR_COMMAND_H
#define SOFTPR_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "engine.h"
#include "store.h"

typedef struct CommandRequest {
    const uint8_t *cdb;  /* 16 bytes */
    const uint8_t *data; /* PR OUT parameter list */
    size_t data_len;
    bool fd_read_only; /* the disk descriptor was opened O_RDONLY */
    gint64 deadline;   /* monotonic microseconds */
} CommandRequest;

/*
 * Run @request from @nexus against the LU @lu in @store, with the engine
 * configured by @pr.  The answer (status, sense, payload) is in @result.
 */
void command_execute(Store *store, const PrConfig *pr, const PrNexus *nexus,
                     const StoreLuInfo *lu, const CommandRequest *request,
                     PrResult *result);

/*
 * The read-only part of command_execute(): run PR IN @request in a read
 * transaction.  Returns true when @result is the answer (or the store's
 * failure); false for a PR OUT, or a PR IN that changes state (a unit
 * attention it drops or reports, where the LU is seen), which must run
 * in a write transaction (command_execute_group) for its answer.
 */
bool command_execute_read(Store *store, const PrConfig *pr,
                          const PrNexus *nexus, const StoreLuInfo *lu,
                          const CommandRequest *request, PrResult *result);

/* One command of a group (command_execute_group). */
typedef struct CommandItem {
    const PrNexus *nexus;
    const StoreLuInfo *lu;
    const CommandRequest *request;
    PrResult *result; /* the answer */
} CommandItem;

/*
 * Group commit: run @items in this order in one write transaction, each
 * with its own SPC-4 semantics and answer as if it ran alone after the
 * ones before it.  A command the store fails is undone alone and
 * answered with the failure; when the commit fails, every command is.
 * An answer is final only once this returns, after the commit that holds
 * it is durable.  Commands whose deadline passes while another process
 * holds the lock are answered BUSY, the others wait until theirs.
 */
void command_execute_group(Store *store, const PrConfig *pr, CommandItem *items,
                           size_t n);

/*
 * One change to one logical unit's PR state, the sequence every writer
 * follows inside an open transaction: load the state (or take the one
 * the transaction has already), let @run change a copy (the engine),
 * then write what differs and the history entry.  softprd's commands
 * (command_execute*) and an administrator's changes (admin.c) both go
 * through it; the transaction around it (begin, savepoints, commit) is
 * the caller's.
 */
typedef struct CommandChange CommandChange;
struct CommandChange {
    /* In. */
    const StoreLuInfo *lu;
    const PrState *known; /* the LU's state in this transaction, or NULL */
    gint64 known_id;      /* its row id, with @known */
    /*
     * The change itself, applied to @after: pure, no store access.  It
     * sets @changed when the state differs, and @record with @entry
     * when the change belongs in the audit history (whatever @entry
     * points to must outlive command_change_write()).
     */
    void (*run)(CommandChange *change);
    void *data; /* for @run */
    /* Out: set by command_change_run() and @run. */
    gint64 lu_id; /* 0: the LU is not in the database */
    bool stale;   /* the database last saw the LU elsewhere */
    PrState *before;
    PrState *after;
    bool changed;
    bool record;
    StoreHistoryEntry entry;
};

/*
 * Load @change->lu's state (unless @change->known gives it) and run the
 * change on a copy; writes nothing.  Must run inside a transaction.
 * Fails with the store's error.
 */
bool command_change_run(Store *store, CommandChange *change, GError **error);

/* Whether the change has anything to write: a changed state, where the
 * LU is seen now, or a history entry. */
bool command_change_needs_write(const CommandChange *change);

/*
 * Write what command_change_run() found: the state when it changed or
 * the LU was seen somewhere new, then the history entry when there is
 * one.  Must run inside a write transaction.
 */
bool command_change_write(Store *store, CommandChange *change, GError **error);

/* command_change_run(), then command_change_write() when needed. */
bool command_apply_change(Store *store, CommandChange *change, GError **error);

/* Free what command_change_run() allocated. */
void command_change_clear(CommandChange *change);

/*
 * qemu-pr-helper's rule, in every mode: a PR OUT through a descriptor
 * opened read-only is not run and is answered CHECK CONDITION, ILLEGAL
 * REQUEST, INVALID COMMAND OPERATION CODE (05/20/00).  Returns true
 * with @result set when @request is one.
 */
bool command_refuse_read_only(const CommandRequest *request, PrResult *result);

/*
 * Answer for a store failure while handling a command for @what (an LU
 * or initiator name, for the log): BUSY for a lock not obtained in time,
 * else CHECK CONDITION, ABORTED COMMAND, INTERNAL TARGET FAILURE.  Both
 * invite a retry.
 */
void command_store_failure(PrResult *result, const GError *error,
                           const char *what);

#endif /* SOFTPR_COMMAND_H */
