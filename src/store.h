/*
 * store: persistent reservation state in one sqlite file.
 *
 * The only module that speaks SQL.  It opens and checks the database
 * (application id, schema version, journal mode), applies the numbered
 * migrations under schema/, and loads and saves one logical unit's PR
 * state inside a transaction whose lock wait is bounded.  The interface
 * is narrow on purpose: begin, load, save, commit, rollback, so that
 * another backend can implement it without touching the engine.
 */
#ifndef SOFTPR_STORE_H
#define SOFTPR_STORE_H

#include <stdbool.h>

#include <glib.h>

#include "engine.h"

/* PRAGMA application_id of a softpr database: "SfPR". */
#define STORE_APPLICATION_ID 0x53665052

typedef enum StoreJournal {
    /* Rollback journal: the only mode that is safe when several hosts
     * share the file (the default). */
    STORE_JOURNAL_DELETE,
    /* Write-ahead log: only when every user of the file is on one host. */
    STORE_JOURNAL_WAL,
} StoreJournal;

typedef struct StoreOptions {
    const char *path; /* database file */
    StoreJournal journal;
    unsigned lock_timeout_ms; /* bound on waiting for another's lock */
    unsigned open_timeout_ms; /* the same while opening; 0: lock_timeout */
    const char *host_id;      /* recorded with every change */
    const char *vfs;          /* sqlite VFS name; NULL for the default */
    bool create;              /* create the file when it does not exist */
} StoreOptions;

/* What the daemon knows about the logical unit a command addressed. */
typedef struct StoreLuInfo {
    const char *name;      /* the LU id, the same on every host */
    const char *id_source; /* how it was identified */
    const char *path;      /* where this host sees it */
} StoreLuInfo;

typedef struct Store Store;

/*
 * Open the database at @options->path, creating or migrating its schema
 * as needed.  Fails with SOFTPR_ERROR_IO (missing directory, cannot
 * open), SOFTPR_ERROR_FOREIGN (not a softpr database),
 * SOFTPR_ERROR_NEWER (schema from a newer softpr), SOFTPR_ERROR_JOURNAL
 * (a WAL file where the rollback journal is required) or
 * SOFTPR_ERROR_BUSY (the lock bound passed during the checks).
 */
Store *store_open(const StoreOptions *options, GError **error);

void store_close(Store *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_close)

/* The schema version this build writes (the highest migration). */
int store_schema_version(void);

/*
 * Begin a transaction: BEGIN IMMEDIATE when @write, else a read
 * transaction.  Waiting for other connections' locks ends at @deadline
 * (g_get_monotonic_time() microseconds), then fails with
 * SOFTPR_ERROR_BUSY; nothing is held after a failure.
 */
bool store_begin(Store *store, bool write, gint64 deadline, GError **error);

/*
 * Commit; once this returns true the change is durable (synchronous
 * EXTRA/FULL).  On failure the transaction is rolled back and the error
 * is SOFTPR_ERROR_BUSY or SOFTPR_ERROR_IO.
 */
bool store_commit(Store *store, GError **error);

/* Roll back whatever is open; harmless when nothing is. */
void store_rollback(Store *store);

/*
 * Load the PR state of the logical unit @lu->name into @state (which must
 * be empty).  An unknown LU yields an empty state and *@lu_id 0.  *@stale
 * tells whether the database last saw the LU elsewhere (another host,
 * path or identification), so that a reader knows to record where it is
 * now.  Fails with SOFTPR_ERROR_CORRUPT when the stored state breaks an
 * invariant.  Must run inside a transaction.
 */
bool store_load_state(Store *store, const StoreLuInfo *lu, PrState *state,
                      gint64 *lu_id, bool *stale, GError **error);

/*
 * Write @after as the new state of the LU @lu (row @lu_id, or a new row
 * when 0), changing only what differs from @before.  Must run inside a
 * write transaction.
 */
bool store_save_state(Store *store, gint64 lu_id, const StoreLuInfo *lu,
                      const PrState *before, const PrState *after,
                      GError **error);

/* What softprd knows about a VM whose nexus follows it. */
typedef struct StoreVm {
    const char *key;            /* "uuid:<uuid>" or "name:<name>" */
    const char *preferred_name; /* the iSCSI name it would like */
    const char *vm_name;        /* may be NULL */
    const char *vm_uuid;        /* may be NULL */
} StoreVm;

/*
 * The initiator name of VM @vm: the one it was given when first seen, on
 * any host, else @vm->preferred_name (with a "-N" suffix when another VM
 * holds that name).  Records this host as where the VM was last seen.
 * Runs its own transactions, waiting for locks until @deadline.
 * *@name: g_free() it.
 */
bool store_vm_initiator(Store *store, const StoreVm *vm, gint64 deadline,
                        char **name, GError **error);

/* The path the store was opened with. */
const char *store_path(const Store *store);

#endif /* SOFTPR_STORE_H */
