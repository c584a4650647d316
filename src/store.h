/*
 * store: persistent reservation state, the one API the rest of softpr
 * uses to reach the database (only the store speaks SQL).
 *
 * What it exports, by job:
 *  - opening: store_open()/store_open_until() check the database and
 *    migrate its schema; store_close(), store_path(), store_describe();
 *  - StoreGroup: the turn a process's connections take on one database
 *    and following the file when it is replaced (store_group_*);
 *  - transactions: store_begin/commit/rollback, store_in_transaction,
 *    and per-command savepoints for group commit (store_savepoint*);
 *  - LU state: store_load_state/store_save_state, store_lu_paths_here;
 *  - the audit history: store_add_history, store_history_enabled;
 *  - the VM initiator registry: store_vm_initiator, store_forget_vm;
 *  - reports for the tool, as neutral rows the tool formats:
 *    store_dump, store_history, store_lu_names;
 *  - checks: store_check_integrity, store_check_writable, store_backup.
 *
 * Underneath, a backend (src/store_int.h, StoreBackend) does the
 * database work; sqlite is the first.  Every function here behaves the
 * same whichever backend serves the path.
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

/*
 * The connections one process keeps to one database, as a group (a
 * daemon's PR IN pool and its writer: the server creates one group per
 * database and passes it to each of its connections in
 * StoreOptions.group).  The turn below is this object's lock, not the
 * process's: stores of other groups, or of none, never wait for it.
 *
 * They take turns on the file: a read transaction holds the turn from
 * its BEGIN to its end, a COMMIT while it runs (the only time a writer
 * excludes readers).  A thread waiting for the turn wakes as soon as the
 * other is done, where sqlite's busy handler sleeps between tries; other
 * processes are kept apart by the database's locks alone, which
 * correctness rests on.  Waiting for the turn ends at the same deadline
 * as waiting for another process's lock, with the same
 * SOFTPR_ERROR_BUSY.
 *
 * A thread holds at most one turn at a time (of any group): beginning a
 * read transaction, or committing, while it holds one is a bug, caught by
 * an assertion, because two threads doing it in opposite orders would
 * deadlock.  Stores opened without a group (StoreOptions.group NULL)
 * take no turn and may be nested freely.
 *
 * For a backend whose database is a file, they also follow the file
 * together: an administrator may replace it (a restore with mv) or
 * delete it while the daemon runs.  store_group_check() notices, and
 * every connection of the group then reopens the file now at the path
 * before its next transaction, so that none goes on reading or writing
 * the unlinked one.
 */
typedef struct StoreGroup StoreGroup;

/* A group for the connections to the database at @path. */
StoreGroup *store_group_new(const char *path);

/* Free @group; every store opened with it must be closed first. */
void store_group_free(StoreGroup *group);

/*
 * Check that the file at the group's path is the one its connections
 * have open (one stat).  When another file has taken its place, the
 * group's generation rises and each connection reopens before its next
 * transaction (a warning says so).  *@generation: the current one, which
 * tells a caller that cached something read from the file when to read
 * it again.  Fails with SOFTPR_ERROR_IO when there is no file at the path
 * (deleted, or moved away): nothing may be served from the unlinked file,
 * and none is created in its place, which would lose every registration;
 * commands fail until a database is put back.  For a backend whose
 * database is not a file there is nothing to follow: true, the same
 * generation.
 */
bool store_group_check(StoreGroup *group, guint *generation, GError **error);

typedef struct StoreOptions {
    const char *path;  /* database file */
    StoreGroup *group; /* the group it belongs to; NULL: none */
    StoreJournal journal;
    unsigned lock_timeout_ms; /* bound on waiting for another's lock */
    unsigned open_timeout_ms; /* the same while opening; 0: lock_timeout */
    const char *host_id;      /* recorded with every change */
    const char *vfs;          /* sqlite VFS name; NULL for the default */
    bool create;              /* create the file when it does not exist */
    /* PostgreSQL: open even when the server cannot be reached, answering
     * BUSY until it can (the daemon: a database host that reboots must
     * not keep QEMU from starting); otherwise that fails the open (the
     * tool, which has nobody to answer BUSY to). */
    bool open_unreachable;
    /* Audit history retention: the newest keep_rows rows (0: record no
     * history), none older than keep_days days (0: no age limit). */
    unsigned history_keep_rows;
    unsigned history_keep_days;
    /* VM registry: an entry with no registration, not seen for this many
     * days, is forgotten (0: never). */
    unsigned vm_keep_days;
} StoreOptions;

#define STORE_HISTORY_KEEP_ROWS_DEFAULT 100000
#define STORE_HISTORY_KEEP_DAYS_DEFAULT 365
#define STORE_VM_KEEP_DAYS_DEFAULT 90

/*
 * What the daemon knows about the logical unit a command addressed.  An
 * administrator's change names the LU only: id_source and path NULL, and
 * where it was seen stays as recorded.
 */
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

/*
 * The same, waiting for other connections' locks only until @deadline
 * (g_get_monotonic_time() microseconds) instead of open_timeout_ms from
 * now: a command that must open a connection is still answered within
 * its own bound (SOFTPR_ERROR_BUSY after it).
 */
Store *store_open_until(const StoreOptions *options, gint64 deadline,
                        GError **error);

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
 * Whether a transaction is open.  sqlite ends a transaction by itself
 * after some I/O errors (SQLITE_IOERR, SQLITE_FULL, ...): a caller that
 * had several commands' changes in it learns here that all were lost.
 */
bool store_in_transaction(Store *store);

/*
 * Inside a transaction: from now on, wait for other connections' locks
 * until @deadline instead (the next command of a group has its own).
 * PostgreSQL takes an LU's lock as its state is loaded, inside the
 * transaction, so a command must wait by its own deadline there.
 */
void store_set_deadline(Store *store, gint64 deadline);

/*
 * Inside a write transaction, one command's changes as a unit (group
 * commit): store_savepoint() marks where the command starts,
 * store_savepoint_release() keeps its changes in the transaction, and
 * store_savepoint_rollback() undoes them alone, or, when that fails,
 * rolls back the whole transaction (check store_in_transaction()).
 * Savepoints do not nest here.
 */
bool store_savepoint(Store *store, GError **error);
bool store_savepoint_release(Store *store, GError **error);
void store_savepoint_rollback(Store *store);

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

/*
 * The paths this host has seen the logical unit @lu_name at (lu_seen),
 * read in a read transaction waiting for locks until @deadline.
 * *@paths: a NULL-terminated array, g_strfreev() it.
 */
bool store_lu_paths_here(Store *store, const char *lu_name, gint64 deadline,
                         char ***paths, GError **error);

/* One entry of the audit history (schema/003-history.sql). */
typedef struct StoreHistoryEntry {
    const char *origin;           /* "softprd" or "softpr" */
    const char *action;           /* service action or tool command name */
    const TransportId *initiator; /* NULL: an administrator */
    uint16_t rtpi;
    const PrOutFields *fields; /* the PR OUT command, or NULL */
    uint8_t status;
    const uint8_t *sense; /* fixed-format sense with CHECK CONDITION */
    uint32_t generation;  /* PRgeneration after the change */
    const char *detail;   /* free text, or NULL */
} StoreHistoryEntry;

/* Whether history is recorded (history_keep_rows > 0). */
bool store_history_enabled(const Store *store);

/*
 * Append @entry about the LU @lu_name to the audit history and prune
 * rows past the retention bounds.  Must run inside the write
 * transaction of the change it records; does nothing when history is
 * not recorded.
 */
bool store_add_history(Store *store, const char *lu_name,
                       const StoreHistoryEntry *entry, GError **error);

/* What a dump or the history shows; NULL or unset fields match all. */
typedef struct StoreFilter {
    const char *lu;        /* LU name, or a path it was seen at (glob) */
    const char *initiator; /* initiator name (glob, any case) */
    bool has_key;
    uint64_t key;    /* a registration's key (history: either key) */
    gint64 since_ms; /* history: not before (ms since the epoch) */
    unsigned limit;  /* history: only the newest so many (0: all) */
} StoreFilter;

/* Where a logical unit was seen (lu_seen). */
typedef struct StoreSeen {
    char *host;
    char *path;
    char *id_source;
    gint64 first_seen; /* seconds since the epoch */
    gint64 last_seen;
} StoreSeen;

typedef struct StoreRegDump {
    uint64_t key;
    char *initiator;      /* readable TransportID */
    GBytes *transport_id; /* the TransportID as stored (SPC-4 7.6.4) */
    uint16_t rtpi;        /* 0 with all_tg_pt */
    bool all_tg_pt;
    bool holder; /* holds the reservation (every registrant for AR) */
    char *host;  /* whose daemon registered it */
    gint64 registered_at;
} StoreRegDump;

typedef struct StoreUaDump {
    char *initiator;
    uint16_t rtpi; /* 0: every port */
    uint8_t asc;
    uint8_t ascq;
    gint64 raised_at;
} StoreUaDump;

/* One logical unit as `softpr dump` shows it. */
typedef struct StoreLuDump {
    gint64 id; /* row id */
    char *name;
    char *id_source;
    uint32_t generation;
    bool aptpl;
    bool info_lost;
    uint8_t res_type; /* PR_TYPE_NONE: no reservation */
    uint8_t res_scope;
    gint64 created_at;
    GArray *seen; /* StoreSeen, oldest first */
    GArray *regs; /* StoreRegDump matching the filter, in PR order */
    GArray *uas;  /* StoreUaDump matching the filter, oldest first */
    /* StoreRegDump: the holder of a reservation that is not
     * all-registrants, whether the filter shows it or not (0 or 1). */
    GArray *holder;
} StoreLuDump;

/* A VM known to the initiator registry. */
typedef struct StoreVmDump {
    char *name; /* its initiator name */
    char *vm_name;
    char *vm_uuid;
    char *last_host;
    gint64 first_seen;
    gint64 last_seen;
} StoreVmDump;

typedef struct StoreDump {
    GPtrArray *lus; /* StoreLuDump *, by name */
    GArray *vms;    /* StoreVmDump, by name */
} StoreDump;

void store_dump_free(StoreDump *dump);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreDump, store_dump_free)

/*
 * Every logical unit and registry entry matching @filter, read in one
 * read transaction: LUs whose name or a path matches, and when an
 * initiator or key is given, only LUs with a matching registration and
 * only those registrations.  Waits for locks until @deadline.
 */
StoreDump *store_dump(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error);

/* One row of the audit history. */
typedef struct StoreHistoryRow {
    gint64 id;
    gint64 at_ms;
    char *host;
    char *origin;
    char *lu_name;
    /* Where the entry's host has seen that LU (lu_seen), most recently
     * first; empty when it has not (NULL-terminated). */
    char **paths;
    char *initiator; /* NULL: an administrator */
    bool has_rtpi;   /* with an initiator */
    uint16_t rtpi;
    char *action;
    bool has_fields; /* a PR OUT command: the fields below are set */
    uint8_t service_action;
    bool has_move; /* REGISTER AND MOVE: unreg and move_rtpi are set,
                    * spec_i_pt and all_tg_pt are not */
    uint16_t move_rtpi;
    uint8_t type;
    uint8_t scope;
    uint64_t key;
    uint64_t sa_key;
    bool spec_i_pt;
    bool all_tg_pt;
    bool aptpl;
    bool unreg;
    uint8_t status;
    bool has_sense; /* CHECK CONDITION: the sense fields are set */
    uint8_t sense_key;
    uint8_t asc;
    uint8_t ascq;
    uint32_t generation;
    char *detail;
} StoreHistoryRow;

/*
 * History rows matching @filter, oldest first (StoreHistoryRow): an
 * LU pattern matches the name, or a path the LU was seen at, as for a
 * dump.
 */
GArray *store_history(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error);

/*
 * The names of every logical unit in the database matching @pattern
 * (a glob on the name or a path it was seen at; NULL: all).
 */
GPtrArray *store_lu_names(Store *store, const char *pattern, gint64 deadline,
                          GError **error);

/*
 * Remove @name from the initiator registry, inside a write transaction.
 * *@removed tells whether it was there.
 */
bool store_forget_vm(Store *store, const char *name, bool *removed,
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
 * holds that name).  Records this host as where the VM was last seen,
 * and when (rewritten once a day at most while it stays here).  When it
 * adds a VM, it forgets the entries that hold no registration and were
 * last seen more than vm_keep_days ago: the registry grows only then.
 * Runs its own transactions, waiting for locks until @deadline.
 * *@name: g_free() it.
 */
bool store_vm_initiator(Store *store, const StoreVm *vm, gint64 deadline,
                        char **name, GError **error);

/*
 * Run sqlite's PRAGMA integrity_check in a read transaction.  Fails with
 * SOFTPR_ERROR_CORRUPT listing what sqlite found, or a store error.
 */
bool store_check_integrity(Store *store, gint64 deadline, GError **error);

/*
 * Prove that this process can change the database: in a write
 * transaction (waiting for other connections' locks until @deadline),
 * make a change that has sqlite create its rollback journal (or write
 * its WAL), then roll it back; nothing is left changed.  Fails with
 * SOFTPR_ERROR_BUSY when the lock stays taken, SOFTPR_ERROR_IO when the
 * file, the journal or the directory cannot be written.
 */
bool store_check_writable(Store *store, gint64 deadline, GError **error);

/*
 * Copy the database to a new file @dest with sqlite's online backup, as
 * one consistent snapshot: the copy is taken inside a read transaction
 * (writers on every host wait for it at most as long as for any reader,
 * a few milliseconds for a usual database), and waiting for a writer's
 * lock ends at @deadline with SOFTPR_ERROR_BUSY.  The copy is written
 * to a scratch file beside @dest, checked (PRAGMA quick_check), put in
 * the rollback journal mode, synced, and only then given the name
 * @dest, so that @dest is never a half-written database.  An existing
 * @dest is replaced only with @replace, else SOFTPR_ERROR_FAILED and
 * nothing changes.  Other failures: SOFTPR_ERROR_IO (the destination
 * cannot be written), SOFTPR_ERROR_CORRUPT (the copy fails its check).
 */
bool store_backup(Store *store, const char *dest, bool replace, gint64 deadline,
                  GError **error);

/* The path the store was opened with; for a database server, its
 * description without the password (store_path_for_logs()). */
const char *store_path(const Store *store);

/* For logs: the backend and the database it serves, e.g.
 * "sqlite /var/lib/softpr/pr.db (journal delete)"; g_free() it. */
char *store_describe(const Store *store);

/*
 * Whether the database named @path is a file (sqlite: a path to make
 * absolute, a filesystem to check, a file that can be replaced) rather
 * than a server's connection string (PostgreSQL: a URL or keyword=value
 * pairs, store_pg.h).
 */
bool store_path_is_file(const char *path);

/*
 * @path as logs and messages may show it: a file's path as it is, a
 * connection string as "PostgreSQL <host>/<dbname>", never with its
 * password.  g_free() it.
 */
char *store_path_for_logs(const char *path);

/*
 * Overwrite in place, keeping its length, any password in @arg, a
 * command-line word that may hold a connection string (`ps` shows
 * argv): call it on argv once the options were copied.
 */
void store_scrub_password(char *arg);

#endif /* SOFTPR_STORE_H */
