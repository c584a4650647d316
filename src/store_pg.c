/*
 * store_pg.c: the PostgreSQL backend's table and its transactions:
 * open and close, begin with the command's bounds and a command id,
 * commit (resolving a COMMIT whose answer was lost by that id),
 * rollback, savepoints, and reconnecting with backoff.
 */
#include <string.h>
#include <poll.h>
#include <sys/socket.h>

#include "store_pg_int.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* How long past the command's deadline a lost COMMIT may take to be
 * resolved: the answer must be the true one, and it stays bounded. */
#define RESOLVE_GRACE_US (5 * G_USEC_PER_SEC)
/* Command ids are needed only until a lost COMMIT is resolved. */
#define OUTCOME_KEEP_MS (3600 * 1000)
#define OUTCOME_PRUNE_EVERY 1000

static void set_busy(Store *store, GError **error, const char *what,
                     const char *message)
{
    g_autofree char *name = store_pg_describe_conninfo(store->path);

    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY, "%s: %s: %s", name,
                what, message);
}

static void pg_close(Store *store);
static void pg_rollback(Store *store);

/*
 * libpq's reason for refusing a connection string, as it may be shown:
 * it quotes the text at fault, which in a malformed string may be a
 * piece of the password ('password=se cret': missing "=" after
 * "cret").  Shown only when what it quotes is one of libpq's keywords.
 */
static char *parse_error_shown(const char *why)
{
    const char *open = why != NULL ? strchr(why, '"') : NULL;
    const char *close = open != NULL ? strchr(open + 1, '"') : NULL;
    bool keyword = false;

    if (why == NULL) {
        return g_strdup("out of memory");
    }
    if (open == NULL || close == NULL) {
        return g_strstrip(g_strdup(why));
    }
    g_autofree char *quoted = g_strndup(open + 1, close - open - 1);
    PQconninfoOption *defaults = PQconndefaults();
    for (PQconninfoOption *o = defaults; o != NULL && o->keyword != NULL;
         o++) {
        keyword = keyword || strcmp(o->keyword, quoted) == 0;
    }
    PQconninfoFree(defaults);
    return keyword ? g_strstrip(g_strdup(why))
                   : g_strdup("libpq cannot parse it (the text at fault is "
                              "not shown: it may be part of a password)");
}

static bool pg_open(Store *store, bool create, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *name = store_pg_describe_conninfo(store->path);
    char *why = NULL;
    PQconninfoOption *options = PQconninfoParse(store->path, &why);

    /* A connection string libpq cannot read is a configuration error,
     * not a server that may come back: refused at once. */
    if (options == NULL) {
        g_autofree char *reason = parse_error_shown(why);

        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "invalid PostgreSQL connection string: %s", reason);
        PQfreemem(why);
        return false;
    }
    PQconninfoFree(options);
    store->conn = g_new0(StoreConn, 1);
    store->conn->create = create;
    if (store_pg_connect(store, store->deadline, &local)) {
        return true;
    }
    if (!g_error_matches(local, SOFTPR_ERROR, SOFTPR_ERROR_BUSY) ||
        !store->open_unreachable) {
        g_propagate_error(error, g_steal_pointer(&local));
        pg_close(store);
        return false;
    }
    /* A database host that reboots must not keep QEMU from starting:
     * the store opens, and commands are answered BUSY until it is back. */
    g_warning("%s is not reachable (%s); commands are answered BUSY until "
              "it is", name, local->message);
    store->conn->backoff_ms = BACKOFF_MIN_MS;
    store->conn->next_attempt =
        g_get_monotonic_time() + BACKOFF_MIN_MS * 1000;
    return true;
}

static void pg_close(Store *store)
{
    StoreConn *conn = store->conn;

    if (conn == NULL) {
        return;
    }
    store_pg_disconnect(conn);
    g_free(conn->server_started);
    g_free(conn);
    store->conn = NULL;
}

/* Connected, or reconnect now unless the backoff says wait. */
static bool ensure_connected(Store *store, gint64 deadline, GError **error)
{
    StoreConn *conn = store->conn;
    gint64 now = g_get_monotonic_time();
    g_autoptr(GError) local = NULL;

    if (conn->pg != NULL && PQstatus(conn->pg) == CONNECTION_OK) {
        return true;
    }
    if (now < conn->next_attempt) {
        g_autofree char *when = g_strdup_printf(
            "database server unreachable; next attempt in %" G_GINT64_FORMAT
            " ms", (conn->next_attempt - now) / 1000);
        set_busy(store, error, "connecting", when);
        return false;
    }
    if (store_pg_connect(store, deadline, &local)) {
        if (conn->backoff_ms > 0) {
            g_autofree char *name = store_pg_describe_conninfo(store->path);
            g_message("%s: connected again", name);
        }
        conn->backoff_ms = 0;
        return true;
    }
    conn->backoff_ms = conn->backoff_ms == 0
                           ? BACKOFF_MIN_MS
                           : MIN(conn->backoff_ms * 2, BACKOFF_MAX_MS);
    conn->next_attempt = g_get_monotonic_time() + conn->backoff_ms * 1000;
    g_propagate_error(error, g_steal_pointer(&local));
    return false;
}

/* The statements that open a transaction, in one round trip. */
static char *begin_sql(Store *store, bool write, gint64 deadline)
{
    StoreConn *conn = store->conn;
    /* PostgreSQL's timeouts are int milliseconds: a far deadline (the
     * store's callers may pass G_MAXINT64) waits as long as it allows. */
    gint64 left_ms =
        CLAMP((deadline - g_get_monotonic_time()) / 1000, 1, G_MAXINT32);
    GString *sql = g_string_new(NULL);

    conn->wait_deadline = deadline;
    /* A writer, READ COMMITTED: after waiting for an LU's lock, each
     * statement sees what the previous holder committed.  A reader,
     * REPEATABLE READ: its several statements (an LU's row, its
     * registrations, its unit attentions; a dump) read one snapshot,
     * never a mix of two commits, as sqlite's read transaction does;
     * read-only, it never meets a serialization failure. */
    g_string_append_printf(sql,
                           "BEGIN ISOLATION LEVEL %s; "
                           "SET LOCAL lock_timeout = %" G_GINT64_FORMAT "; "
                           "SET LOCAL statement_timeout = %" G_GINT64_FORMAT,
                           write ? "READ COMMITTED"
                                 : "REPEATABLE READ, READ ONLY",
                           left_ms, left_ms);
    if (write) {
        g_autofree char *uuid = g_uuid_string_random();
        g_autofree char *host_id = store_pg_encode_text(store->host_id);
        char *host = PQescapeLiteral(conn->pg, host_id, strlen(host_id));

        g_strlcpy(conn->outcome_id, uuid, sizeof(conn->outcome_id));
        g_string_append_printf(sql,
                               "; INSERT INTO command_outcome (id, host, "
                               "at_ms) VALUES ('%s', %s, %" G_GINT64_FORMAT
                               ")",
                               conn->outcome_id, host ? host : "''",
                               g_get_real_time() / 1000);
        PQfreemem(host);
    }
    return g_string_free(sql, FALSE);
}

/* Outside any transaction, now and then: forget old command ids. */
static void prune_outcomes(Store *store)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *cutoff = g_strdup_printf(
        "%" G_GINT64_FORMAT, g_get_real_time() / 1000 - OUTCOME_KEEP_MS);
    const char *params[] = {cutoff};

    if (store->conn->writes++ % OUTCOME_PRUNE_EVERY != 0) {
        return;
    }
    if (!store_pg_run(store, "pruning command ids",
                      "DELETE FROM command_outcome WHERE at_ms < $1", 1,
                      params, &local)) {
        g_debug("%s", local->message);
    }
}

static bool pg_begin(Store *store, bool write, gint64 deadline,
                     GError **error)
{
    StoreConn *conn = store->conn;

    conn->write = false;
    conn->savepoint = false;
    for (int attempt = 0;; attempt++) {
        g_autoptr(GError) local = NULL;

        if (!ensure_connected(store, deadline, error)) {
            return false;
        }
        if (write) {
            prune_outcomes(store);
        }
        g_autofree char *sql = begin_sql(store, write, deadline);
        if (conn->pg != NULL &&
            store_pg_run(store, "beginning a transaction", sql, 0, NULL,
                         &local)) {
            conn->write = write;
            return true;
        }
        /* A connection found dead at BEGIN held nothing: once more on a
         * new one (a server restart between commands costs no BUSY). */
        if (conn->pg == NULL && attempt == 0) {
            continue;
        }
        pg_rollback(store);
        g_propagate_error(error, g_steal_pointer(&local));
        return false;
    }
}

/* After reconnecting: make sure the backend that ran the lost COMMIT has
 * ended (it cannot commit later), then whether the command id is there.
 * -1: could not tell. */
static int outcome_lookup(Store *store, int old_pid, const char *old_started,
                          const char *id, GError **error)
{
    StoreConn *conn = store->conn;

    if (g_strcmp0(old_started, conn->server_started) == 0) {
        g_autofree char *pid = g_strdup_printf("%d", old_pid);
        const char *params[] = {pid};

        if (!store_pg_run(store, "ending the lost connection's backend",
                          "SELECT pg_terminate_backend($1)", 1, params,
                          error)) {
            return -1;
        }
        for (;;) {
            PGresult *res = store_pg_exec(
                store, "waiting for the lost backend",
                "SELECT 1 FROM pg_stat_activity WHERE pid = $1", 1, params,
                NULL, NULL, NULL, error);
            if (res == NULL) {
                return -1;
            }
            int alive = PQntuples(res);
            PQclear(res);
            if (!alive) {
                break;
            }
            if (g_get_monotonic_time() > store->deadline) {
                set_busy(store, error, "resolving a COMMIT",
                         "the lost connection's backend is still running");
                return -1;
            }
            g_usleep(10 * 1000);
        }
    }
    const char *params[] = {id};
    PGresult *res = store_pg_exec(
        store, "looking up a command id",
        "SELECT 1 FROM command_outcome WHERE id = $1", 1, params, NULL, NULL,
        NULL, error);
    if (res == NULL) {
        return -1;
    }
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

/*
 * The lost COMMIT is on the server, but ending its backend may have cut
 * short its wait for a synchronous standby: PostgreSQL then keeps it
 * committed locally, not yet replicated.  One more commit,
 * waited for in full, proves the standby holds everything before it
 * (synchronous replication confirms WAL in order); with no synchronous
 * standby it returns at once.  False when that is not seen by the
 * deadline.
 */
static bool confirm_replicated(Store *store, GError **error)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *sql = g_strdup_printf(
        "BEGIN; INSERT INTO command_outcome (id, host, at_ms) VALUES "
        "('confirm-%s', '', %" G_GINT64_FORMAT "); COMMIT",
        uuid, g_get_real_time() / 1000);

    return store_pg_run(store, "confirming a commit with the standby", sql, 0,
                        NULL, error);
}

/*
 * The connection dropped during COMMIT: reconnect (up to the deadline
 * plus RESOLVE_GRACE_US) and answer what the server did.  true when the
 * transaction committed; false with BUSY when it did not (nothing of it
 * remains), or IO when that cannot be learned in time.
 */
static bool resolve_commit(Store *store, int old_pid, const char *old_started,
                           GError **error)
{
    StoreConn *conn = store->conn;
    g_autofree char *id = g_strdup(conn->outcome_id);
    gint64 until = MIN(MAX(store->deadline, g_get_monotonic_time()),
                       G_MAXINT64 - RESOLVE_GRACE_US) +
                   RESOLVE_GRACE_US;
    unsigned pause_ms = BACKOFF_MIN_MS;

    while (g_get_monotonic_time() < until) {
        g_autoptr(GError) local = NULL;

        store->deadline = until;
        if (store_pg_connect(store, until, &local)) {
            int found = outcome_lookup(store, old_pid, old_started, id, &local);
            if (found == 1 && confirm_replicated(store, &local)) {
                g_message("a COMMIT whose answer was lost had committed");
                return true;
            }
            if (found == 1) {
                /* Neither GOOD nor "nothing written": unknown. */
                g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                            "a COMMIT whose answer was lost is on the server "
                            "but was not confirmed durable in time: %s",
                            local->message);
                return false;
            }
            if (found == 0) {
                set_busy(store, error, "committing",
                         "the connection was lost and the transaction did "
                         "not commit");
                return false;
            }
        }
        g_debug("resolving a lost COMMIT: %s", local->message);
        g_usleep(MIN((gint64)pause_ms * 1000,
                     MAX(until - g_get_monotonic_time(), 0)));
        pause_ms = MIN(pause_ms * 2, 1000);
    }
    g_autofree char *name = store_pg_describe_conninfo(store->path);
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                "%s: the connection was lost during COMMIT and the server "
                "could not be asked in time whether it committed", name);
    return false;
}

/* Test faults: lose the connection around COMMIT. */
static void apply_fault(StoreConn *conn)
{
    StorePgFault fault = conn->fault;

    conn->fault = STORE_PG_FAULT_NONE;
    if (fault == STORE_PG_FAULT_DROP_BEFORE_COMMIT) {
        store_pg_disconnect(conn);
    } else if (fault == STORE_PG_FAULT_DROP_AFTER_COMMIT &&
               PQsendQuery(conn->pg, "COMMIT")) {
        struct pollfd pfd = {.fd = PQsocket(conn->pg), .events = POLLIN};

        while (PQflush(conn->pg) == 1) {
            g_usleep(1000);
        }
        poll(&pfd, 1, 5000); /* the answer has arrived: drop it unread */
        shutdown(PQsocket(conn->pg), SHUT_RDWR);
        store_pg_disconnect(conn);
    }
}

static bool pg_commit(Store *store, GError **error)
{
    StoreConn *conn = store->conn;
    int old_pid = conn->backend_pid;
    g_autofree char *old_started = g_strdup(conn->server_started);
    bool write = conn->write;

    conn->write = false;
    conn->savepoint = false;
    if (conn->pg != NULL &&
        PQtransactionStatus(conn->pg) == PQTRANS_INERROR) {
        pg_rollback(store);
        set_busy(store, error, "committing", "the transaction had failed");
        return false;
    }
    if (write) {
        apply_fault(conn);
    }
    PGresult *res = conn->pg == NULL
                        ? NULL
                        : store_pg_exec(store, "committing", "COMMIT", 0, NULL,
                                        NULL, NULL, NULL, error);
    if (res != NULL) {
        bool committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
        PQclear(res);
        if (!committed) {
            set_busy(store, error, "committing", "the server rolled back");
        }
        return committed;
    }
    if (conn->pg != NULL || !write) {
        return false; /* the server refused: nothing was committed */
    }
    g_clear_error(error);
    return resolve_commit(store, old_pid, old_started, error);
}

static void pg_rollback(Store *store)
{
    StoreConn *conn = store->conn;

    conn->write = false;
    conn->savepoint = false;
    if (conn->pg == NULL ||
        PQtransactionStatus(conn->pg) == PQTRANS_IDLE) {
        return;
    }
    g_autoptr(GError) local = NULL;
    if (!store_pg_run(store, "rolling back", "ROLLBACK", 0, NULL, &local)) {
        store_pg_disconnect(conn); /* the server rolls back on its own */
    }
}

static bool pg_in_transaction(Store *store)
{
    StoreConn *conn = store->conn;

    if (conn->pg == NULL) {
        return false;
    }
    PGTransactionStatusType st = PQtransactionStatus(conn->pg);
    return st == PQTRANS_INTRANS || (st == PQTRANS_INERROR && conn->savepoint);
}

static bool pg_savepoint(Store *store, GError **error)
{
    store->conn->savepoint =
        store_pg_run(store, "starting a command", "SAVEPOINT command", 0,
                     NULL, error);
    return store->conn->savepoint;
}

static bool pg_savepoint_release(Store *store, GError **error)
{
    store->conn->savepoint = false;
    return store_pg_run(store, "ending a command", "RELEASE SAVEPOINT command",
                        0, NULL, error);
}

static bool pg_savepoint_rollback(Store *store, GError **error)
{
    store->conn->savepoint = false;
    return store_pg_run(store, "undoing a command",
                        "ROLLBACK TO SAVEPOINT command; "
                        "RELEASE SAVEPOINT command",
                        0, NULL, error);
}

static char *pg_describe(const Store *store)
{
    return store_pg_describe_conninfo(store->path);
}

void store_pg_inject_fault(Store *store, StorePgFault fault)
{
    g_assert(store->backend == &store_pg_backend);
    store->conn->fault = fault;
}

const StoreBackend store_pg_backend = {
    .name = "postgresql",
    .claims = store_pg_claims,
    .is_file = false,
    .open = pg_open,
    .close = pg_close,
    .schema_version = store_pg_schema_version,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .savepoint = pg_savepoint,
    .savepoint_release = pg_savepoint_release,
    .savepoint_rollback = pg_savepoint_rollback,
    .load_state = store_pg_load_state,
    .lu_write = store_pg_lu_write,
    .reg_write = store_pg_reg_write,
    .ua_write = store_pg_ua_write,
    .lu_paths_here = store_pg_lu_paths_here,
    .history_add = store_pg_history_add,
    .history_list = store_pg_history_list,
    .vm_lookup = store_pg_vm_lookup,
    .vm_name_taken = store_pg_vm_name_taken,
    .vm_insert = store_pg_vm_insert,
    .vm_update = store_pg_vm_update,
    .vm_prune = store_pg_vm_prune,
    .vm_forget = store_pg_vm_forget,
    .dump_read = store_pg_dump_read,
    .lu_names = store_pg_lu_names,
    .check_integrity = store_pg_check_integrity,
    .check_writable = store_pg_check_writable,
    .backup = NULL,
    .describe = pg_describe,
};
