/*
 * store_int.h: what the store's own files share, and the backend seam.
 *
 * Private to src/store*.c (as sqlite keeps sqliteInt.h): the rest of the
 * code uses store.h only.  store.c holds the public API: it takes the
 * group's turn, keeps the deadline and the transaction rules that every
 * backend shares, and calls the backend through a StoreBackend table.
 * A backend (store_sqlite*.c is the first) speaks its database's
 * language and nothing else: it never takes a turn, never decides
 * retention or naming policy that store.c decides, and returns
 * backend-neutral rows (the structs of store.h) that the tool formats
 * once, whatever the backend.
 */
#ifndef SOFTPR_STORE_INT_H
#define SOFTPR_STORE_INT_H

#include <sys/types.h>

#include "error.h"
#include "store.h"

/* One backend's connection state; each backend defines its own. */
typedef struct StoreConn StoreConn;

/*
 * The fixed-format sense data a history entry carries, decoded once by
 * store.c (SPC-4 4.5.3): backends store the codes, not the bytes.
 */
typedef struct StoreSenseCodes {
    bool present; /* CHECK CONDITION with sense data */
    uint8_t key;
    uint8_t asc;
    uint8_t ascq;
} StoreSenseCodes;

/* How one stored row of an LU's state changes (StoreBackend.reg_write,
 * .ua_write). */
typedef enum StoreRowChange {
    STORE_ROW_ADD,
    STORE_ROW_UPDATE,
    STORE_ROW_REMOVE,
} StoreRowChange;

/* A VM registry entry as a backend reads it back (StoreVm's key). */
typedef struct StoreVmRecord {
    char *name;       /* its initiator name */
    char *last_host;  /* where it was last seen */
    gint64 last_seen; /* seconds since the epoch */
} StoreVmRecord;

/*
 * The operations a backend provides.  Every function receives the Store
 * whose generic fields (store_int.h's struct Store) it may read, and
 * reaches its own connection through store->conn.  "In a transaction"
 * below means store.c has called begin and not yet commit/rollback;
 * store.c guarantees it, so a backend need not check.  Errors use
 * SOFTPR_ERROR codes as store.h documents them for the public API: a
 * lock wait past the deadline is SOFTPR_ERROR_BUSY, lost storage
 * SOFTPR_ERROR_IO, a broken stored invariant SOFTPR_ERROR_CORRUPT.
 */
typedef struct StoreBackend {
    const char *name; /* "sqlite", ... for logs and the contract test */

    /* Whether this backend serves the database named @path (checked in
     * table order; the last entry takes whatever is left). */
    bool (*claims)(const char *path);
    /* Whether the database is a file at the path, which an administrator
     * may replace or delete (StoreGroup then follows it); false for a
     * database server. */
    bool is_file;

    /*
     * Connect to store->path and bring its schema to the version this
     * build writes (creating the database when @create), waiting for
     * others' locks until store->deadline.  On success store->conn is
     * set; on failure it is NULL and nothing is left open.
     */
    bool (*open)(Store *store, bool create, GError **error);
    /* Roll back whatever is open and drop store->conn (may be NULL). */
    void (*close)(Store *store);
    /* The schema version this build writes. */
    int (*schema_version)(void);

    /*
     * Begin a transaction, a write one when @write (taking the write
     * lock now, so that read-modify-write never deadlocks), waiting
     * for other connections until @deadline.  Nothing is held after a
     * failure.
     */
    bool (*begin)(Store *store, bool write, gint64 deadline, GError **error);
    /* Make the transaction durable; on failure nothing of it remains. */
    bool (*commit)(Store *store, GError **error);
    /* End whatever is open without keeping it; harmless when nothing is. */
    void (*rollback)(Store *store);
    /* Whether a transaction is open (some I/O errors end one alone). */
    bool (*in_transaction)(Store *store);

    /* One command's changes inside a write transaction (not nested). */
    bool (*savepoint)(Store *store, GError **error);
    bool (*savepoint_release)(Store *store, GError **error);
    /* Undo back to the savepoint and end it; false when that failed
     * (store.c then rolls back the whole transaction). */
    bool (*savepoint_rollback)(Store *store, GError **error);

    /* store_load_state(), in a transaction. */
    bool (*load_state)(Store *store, const StoreLuInfo *lu, PrState *state,
                       gint64 *lu_id, bool *stale, GError **error);
    /*
     * store_save_state() writes what a command changed through these
     * three, in a write transaction; store_save.c decides which rows
     * changed, so each backend only writes rows.
     * lu_write: the LU's own row from @after (generation, APTPL, lost
     * information, reservation), inserted when *@lu_id is 0 (setting
     * it), else updated; and, when @lu->path is set, where this host
     * sees the LU.
     * reg_write: add, update (key, holder, ALL_TG_PT) or remove the
     * registration of @reg's I_T nexus (initiator and relative target
     * port, compared exactly).
     * ua_write: queue (STORE_ROW_ADD) or remove (STORE_ROW_REMOVE) one
     * unit attention.
     */
    bool (*lu_write)(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                     const PrState *after, GError **error);
    bool (*reg_write)(Store *store, gint64 lu_id, const PrRegistration *reg,
                      StoreRowChange change, GError **error);
    bool (*ua_write)(Store *store, gint64 lu_id, const PrUnitAttention *ua,
                     StoreRowChange change, GError **error);
    /* Append to @paths (g_free'd strings) where this host has seen the
     * LU @lu_name, oldest first; in a transaction. */
    bool (*lu_paths_here)(Store *store, const char *lu_name, GPtrArray *paths,
                          GError **error);

    /*
     * Append @entry (its sense already decoded into @sense) at @at_ms,
     * then drop rows past store->history_keep_rows /
     * history_keep_days; in a write transaction.
     */
    bool (*history_add)(Store *store, const char *lu_name,
                        const StoreHistoryEntry *entry,
                        const StoreSenseCodes *sense, gint64 at_ms,
                        GError **error);
    /* Append the history rows matching @filter to @rows (as
     * store_history() returns them, paths filled); in a transaction. */
    bool (*history_list)(Store *store, const StoreFilter *filter, GArray *rows,
                         GError **error);

    /*
     * VM registry, in a transaction (write for the changes).
     * vm_lookup: the entry with key @key, or record->name NULL.
     * vm_name_taken: whether some entry holds initiator name @name.
     * vm_insert/vm_update: record @vm as seen on this host at @now (s).
     * vm_prune: forget entries last seen before @before (s) that no
     * registration names (alone or with an ISID); *@removed: how many.
     * vm_forget: remove the entry named @name; *@removed: whether it was.
     */
    bool (*vm_lookup)(Store *store, const char *key, StoreVmRecord *record,
                      GError **error);
    bool (*vm_name_taken)(Store *store, const char *name, bool *taken,
                          GError **error);
    bool (*vm_insert)(Store *store, const StoreVm *vm, const char *name,
                      gint64 now, GError **error);
    bool (*vm_update)(Store *store, const StoreVm *vm, gint64 now,
                      GError **error);
    bool (*vm_prune)(Store *store, gint64 before, unsigned *removed,
                     GError **error);
    bool (*vm_forget)(Store *store, const char *name, bool *removed,
                      GError **error);

    /*
     * Report rows, in a read transaction.  dump_read fills @dump (its
     * arrays already created) as store_dump() documents; holder flags
     * are the stored ones (store.c applies the all-registrants rule).
     * lu_names appends the names matching @pattern (NULL: all).
     */
    bool (*dump_read)(Store *store, const StoreFilter *filter, StoreDump *dump,
                      GError **error);
    bool (*lu_names)(Store *store, const char *pattern, GPtrArray *names,
                     GError **error);

    /* The database's own consistency check, in a read transaction:
     * append what it found wrong to @problems (empty: all is well). */
    bool (*check_integrity)(Store *store, GPtrArray *problems, GError **error);
    /* In a write transaction: make a change that needs the database's
     * journal or log written (store.c rolls it back). */
    bool (*check_writable)(Store *store, GError **error);
    /* In a read transaction: copy the database as one snapshot to the
     * new, empty file @path, checked and synced.  NULL where a backend
     * has no file to copy (store_backup() then fails). */
    bool (*backup)(Store *store, const char *path, GError **error);

    /* For logs: which database this is, e.g. "sqlite /var/lib/x.db". */
    char *(*describe)(const Store *store);
} StoreBackend;

/* The backends, in the order store_open() asks them (store.c). */
extern const StoreBackend store_sqlite_backend;

/* store.c: the backend that serves @path. */
const StoreBackend *store_backend_for(const char *path);

struct StoreGroup {
    char *path;
    bool is_file; /* its backend's: follow the file at path */
    GMutex lock;
    GCond free; /* the turn was given back */
    bool held;
    unsigned waiting; /* threads waiting for it: only then signal */
    /* The file the connections have open, and how many times another
     * took its place (read without the lock: atomic). */
    dev_t dev;
    ino_t ino;
    gint generation;
};

/* What every backend may read; store.c owns it. */
struct Store {
    const StoreBackend *backend;
    StoreConn *conn; /* the backend's; NULL: not connected */
    char *path;
    char *path_shown; /* store_path(): without a password */
    char *host_id;
    char *vfs; /* sqlite VFS name, or NULL */
    StoreJournal journal;
    bool open_unreachable; /* StoreOptions' */
    unsigned history_keep_rows;
    unsigned history_keep_days;
    unsigned vm_keep_days;
    gint64 deadline;   /* monotonic microseconds: give up waiting after */
    StoreGroup *group; /* whose turns it takes; NULL: none */
    guint generation;  /* the group's when the file was opened */
    bool has_turn;     /* holds its group's turn */
    GRand *rand;       /* jitter for lock retries, so hosts do not collide */
};

/*
 * store_group.c: take @store's group turn, waiting at most until
 * store->deadline (a turn that is free is taken even after it); fails
 * with SOFTPR_ERROR_BUSY.  Without a group, or when @store holds it
 * already, there is nothing to take.  Asserts that this thread holds no
 * other turn: nested turns deadlock when two threads nest them in turn.
 */
bool store_turn_take(Store *store, GError **error);
/* Give @store's turn back, if it holds it. */
void store_turn_give(Store *store);

/* Seconds since the epoch, as every backend records times. */
gint64 store_now_seconds(void);

/* Report "@store->path: @what: @message" with SOFTPR_ERROR code @code. */
void store_set_error(const Store *store, GError **error, SoftprError code,
                     const char *what, const char *message);

/* The StoreDump/StoreHistoryRow element cleanup, for backends that
 * build the arrays (store_report.c). */
StoreLuDump *store_lu_dump_new(void);
void store_history_row_clear(gpointer row);

#endif /* SOFTPR_STORE_INT_H */
