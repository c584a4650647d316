/*
 * store: the public store API (store.h) over a backend (store_int.h).
 *
 * Opening picks the backend that serves the path and keeps the settings
 * every backend shares; transactions add what is the same for all of
 * them: the group's turn (store_group.c), the deadline every lock wait
 * ends at, the grace a commit gets past it, and reopening a file that
 * another took the place of.  State, history and the rest dispatch to
 * the backend as they are.
 */
#include "store_int.h"

#include "error.h"
#include "scsi.h"
#include "store_pg.h"

/* How long a commit may wait past the command's lock deadline. */
#define COMMIT_GRACE_US (250 * 1000)

/* Asked in order; the last takes every path left. */
static const StoreBackend *const backends[] = {
    &store_pg_backend,
    &store_sqlite_backend,
};

const StoreBackend *store_backend_for(const char *path)
{
    guint i;

    for (i = 0; i + 1 < G_N_ELEMENTS(backends); i++) {
        if (backends[i]->claims(path)) {
            return backends[i];
        }
    }
    return backends[i];
}

bool store_path_is_file(const char *path)
{
    return store_backend_for(path)->is_file;
}

char *store_path_for_logs(const char *path)
{
    return store_path_is_file(path) ? g_strdup(path)
                                    : store_pg_describe_conninfo(path);
}

void store_scrub_password(char *arg)
{
    store_pg_scrub_password(arg);
}

gint64 store_now_seconds(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

void store_set_error(const Store *store, GError **error, SoftprError code,
                     const char *what, const char *message)
{
    g_set_error(error, SOFTPR_ERROR, code, "%s: %s: %s", store->path_shown,
                what, message);
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

int store_schema_version(void)
{
    return store_sqlite_backend.schema_version();
}

Store *store_open(const StoreOptions *options, GError **error)
{
    unsigned timeout_ms = options->open_timeout_ms != 0
                              ? options->open_timeout_ms
                              : options->lock_timeout_ms;

    return store_open_until(
        options, g_get_monotonic_time() + (gint64)timeout_ms * 1000, error);
}

Store *store_open_until(const StoreOptions *options, gint64 deadline,
                        GError **error)
{
    g_autoptr(Store) store = g_new0(Store, 1);

    store->backend = store_backend_for(options->path);
    store->path = g_strdup(options->path);
    store->path_shown = store_path_for_logs(options->path);
    store->vfs = g_strdup(options->vfs);
    store->host_id = g_strdup(options->host_id != NULL ? options->host_id
                                                       : g_get_host_name());
    store->journal = options->journal;
    store->open_unreachable = options->open_unreachable;
    store->group = options->group;
    if (store->group != NULL) {
        /* Before opening: a replacement noticed meanwhile reopens it. */
        store->generation = g_atomic_int_get(&store->group->generation);
    }
    store->history_keep_rows = options->history_keep_rows;
    store->history_keep_days = options->history_keep_days;
    store->vm_keep_days = options->vm_keep_days;
    store->rand = g_rand_new();
    store->deadline = deadline;
    if (!store->backend->open(store, options->create, error)) {
        return NULL;
    }
    return g_steal_pointer(&store);
}

void store_close(Store *store)
{
    if (store == NULL) {
        return;
    }
    if (store->conn != NULL) {
        store_rollback(store);
        store->backend->close(store);
    }
    if (store->rand != NULL) {
        g_rand_free(store->rand);
    }
    g_free(store->path);
    g_free(store->path_shown);
    g_free(store->vfs);
    g_free(store->host_id);
    g_free(store);
}

const char *store_path(const Store *store)
{
    return store->path_shown;
}

char *store_describe(const Store *store)
{
    return store->backend->describe(store);
}

/*
 * Drop @store's connection and connect to the database now at its path
 * instead (its group noticed another file there), waiting for locks
 * until @deadline.  On failure @store has no connection, and the next
 * transaction tries again.
 */
static bool store_reopen(Store *store, gint64 deadline, GError **error)
{
    g_assert(!store->has_turn);
    store->backend->close(store);
    store->generation = (guint)g_atomic_int_get(&store->group->generation);
    store->deadline = deadline;
    return store->backend->open(store, false, error);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

bool store_begin(Store *store, bool write, gint64 deadline, GError **error)
{
    if (store->group != NULL &&
        (store->conn == NULL ||
         store->generation !=
             (guint)g_atomic_int_get(&store->group->generation)) &&
        !store_reopen(store, deadline, error)) {
        return false;
    }
    store->deadline = deadline;
    if (!write && !store_turn_take(store, error)) {
        return false;
    }
    if (!store->backend->begin(store, write, deadline, error)) {
        store_turn_give(store);
        return false;
    }
    return true;
}

void store_rollback(Store *store)
{
    if (store->conn != NULL) {
        store->backend->rollback(store);
    }
    store_turn_give(store);
}

bool store_commit(Store *store, GError **error)
{
    gint64 floor = g_get_monotonic_time() + COMMIT_GRACE_US;

    /* The work is done and only the exclusive lock is missing, which
     * other connections' brief shared locks delay: give them a moment
     * even when the command's own deadline has just passed. */
    if (store->deadline < floor) {
        store->deadline = floor;
    }
    if (!store_turn_take(store, error) ||
        !store->backend->commit(store, error)) {
        store_rollback(store);
        return false;
    }
    store_turn_give(store);
    return true;
}

void store_set_deadline(Store *store, gint64 deadline)
{
    store->deadline = deadline;
}

bool store_in_transaction(Store *store)
{
    return store->conn != NULL && store->backend->in_transaction(store);
}

bool store_savepoint(Store *store, GError **error)
{
    return store->backend->savepoint(store, error);
}

bool store_savepoint_release(Store *store, GError **error)
{
    return store->backend->savepoint_release(store, error);
}

void store_savepoint_rollback(Store *store)
{
    g_autoptr(GError) error = NULL;

    /* Only while the transaction lives: an I/O error may have ended it. */
    if (!store_in_transaction(store)) {
        return;
    }
    if (!store->backend->savepoint_rollback(store, &error)) {
        /* The savepoint's changes cannot be undone alone: undo all. */
        store_rollback(store);
    }
}

/* ------------------------------------------------------------------ */
/* State and history                                                   */
/* ------------------------------------------------------------------ */

bool store_load_state(Store *store, const StoreLuInfo *lu, PrState *state,
                      gint64 *lu_id, bool *stale, GError **error)
{
    if (!store->backend->load_state(store, lu, state, lu_id, stale, error)) {
        return false;
    }
    /* The same rule for every backend: what no command can produce is a
     * damaged database, never served. */
    if (!engine_state_consistent(state)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                    "%s: logical unit %s: reservation holder and "
                    "registrations disagree",
                    store_path(store), lu->name);
        return false;
    }
    return true;
}

bool store_lu_paths_here(Store *store, const char *lu_name, gint64 deadline,
                         char ***paths, GError **error)
{
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    bool ok;

    *paths = NULL;
    if (!store_begin(store, false, deadline, error)) {
        return false;
    }
    ok = store->backend->lu_paths_here(store, lu_name, found, error);
    store_rollback(store);
    if (!ok) {
        return false;
    }
    g_ptr_array_add(found, NULL);
    *paths = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
    return true;
}

bool store_history_enabled(const Store *store)
{
    return store->history_keep_rows > 0;
}

/* The sense key and additional sense code of the engine's sense data
 * (SPC-4 4.5), as the history records them. */
static StoreSenseCodes sense_codes(const uint8_t *sense)
{
    StoreSenseCodes codes = {.present = sense != NULL};
    ScsiSenseCode code = {0};

    if (sense != NULL) {
        scsi_sense_parse(sense, SCSI_SENSE_FIXED_LEN, &code);
        codes.key = code.key;
        codes.asc = code.asc;
        codes.ascq = code.ascq;
    }
    return codes;
}

bool store_add_history(Store *store, const char *lu_name,
                       const StoreHistoryEntry *entry, GError **error)
{
    StoreSenseCodes sense = sense_codes(entry->sense);

    if (!store_history_enabled(store)) {
        return true;
    }
    return store->backend->history_add(store, lu_name, entry, &sense,
                                       g_get_real_time() / 1000, error);
}
