/*
 * store: the sqlite database holding every logical unit's PR state.
 *
 * Safety rules, from sqlite's own documentation for files that several
 * hosts share (useovernet.html, howtocorrupt.html): the default unix VFS
 * with POSIX locks, the rollback journal (WAL needs shared memory, which
 * hosts do not share, and is persistent once set), synchronous EXTRA so
 * that a commit is on disk, directory included, before GOOD is returned,
 * no mmap, BEGIN IMMEDIATE for every read-modify-write so that lock
 * waits never deadlock, and a busy handler that gives up at a deadline.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "error.h"
#include "schema-resources.h"

#define SCHEMA_RESOURCE_DIR "/org/softpr/schema"

/* How long a commit may wait past the command's lock deadline. */
#define COMMIT_GRACE_US (250 * 1000)

typedef enum StmtId {
    STMT_BEGIN_READ,
    STMT_BEGIN_WRITE,
    STMT_COMMIT,
    STMT_SAVEPOINT,
    STMT_SAVEPOINT_RELEASE,
    STMT_SAVEPOINT_ROLLBACK,
    STMT_LU_SELECT,
    STMT_REG_SELECT,
    STMT_UA_SELECT,
    STMT_LU_INSERT,
    STMT_LU_UPDATE,
    STMT_REG_INSERT,
    STMT_REG_UPDATE,
    STMT_REG_DELETE,
    STMT_UA_INSERT,
    STMT_UA_DELETE,
    STMT_VM_SELECT,
    STMT_VM_NAME_TAKEN,
    STMT_VM_INSERT,
    STMT_VM_UPDATE,
    STMT_VM_PRUNE,
    STMT_SEEN_UPSERT,
    STMT_SEEN_PATHS,
    STMT_HISTORY_INSERT,
    STMT_HISTORY_PRUNE_ROWS,
    STMT_HISTORY_PRUNE_AGE,
    STMT_COUNT
} StmtId;

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN_READ] = "BEGIN DEFERRED",
    [STMT_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_SAVEPOINT] = "SAVEPOINT command",
    [STMT_SAVEPOINT_RELEASE] = "RELEASE command",
    [STMT_SAVEPOINT_ROLLBACK] = "ROLLBACK TO command",
    [STMT_LU_SELECT] =
        "SELECT id, generation, aptpl, info_lost, res_type, res_scope, "
        "id_source, EXISTS (SELECT 1 FROM lu_seen s WHERE s.lu_id = lu.id "
        "AND s.host = ?2 AND s.path = ?3) FROM lu WHERE name = ?1",
    [STMT_REG_SELECT] = "SELECT initiator, rtpi, all_tg_pt, key, holder "
                        "FROM registration WHERE lu_id = ?1 ORDER BY id",
    [STMT_UA_SELECT] = "SELECT initiator, rtpi, asc, ascq "
                       "FROM unit_attention WHERE lu_id = ?1 ORDER BY id",
    [STMT_LU_INSERT] =
        "INSERT INTO lu (name, id_source, generation, aptpl, info_lost, "
        "res_type, res_scope, last_host, last_path, last_seen, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    /* An administrator's change (no path) keeps where the LU was seen. */
    [STMT_LU_UPDATE] =
        "UPDATE lu SET id_source = coalesce(?2, id_source), generation = ?3, "
        "aptpl = ?4, info_lost = ?5, res_type = ?6, res_scope = ?7, "
        "last_host = iif(?9 IS NULL, last_host, ?8), "
        "last_path = coalesce(?9, last_path), "
        "last_seen = iif(?9 IS NULL, last_seen, ?10) WHERE id = ?1",
    [STMT_REG_INSERT] =
        "INSERT INTO registration (lu_id, initiator, initiator_name, rtpi, "
        "all_tg_pt, key, holder, host, registered_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [STMT_REG_UPDATE] =
        "UPDATE registration SET all_tg_pt = ?4, key = ?5, holder = ?6 "
        "WHERE lu_id = ?1 AND initiator = ?2 AND rtpi = ?3",
    [STMT_REG_DELETE] = "DELETE FROM registration "
                        "WHERE lu_id = ?1 AND initiator = ?2 AND rtpi = ?3",
    [STMT_UA_INSERT] =
        "INSERT INTO unit_attention (lu_id, initiator, initiator_name, rtpi, "
        "asc, ascq, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_UA_DELETE] =
        "DELETE FROM unit_attention WHERE lu_id = ?1 AND initiator = ?2 "
        "AND rtpi = ?3 AND asc = ?4 AND ascq = ?5",
    [STMT_VM_SELECT] =
        "SELECT name, last_host, last_seen FROM initiator WHERE key = ?1",
    [STMT_VM_NAME_TAKEN] = "SELECT 1 FROM initiator WHERE name = ?1",
    [STMT_VM_INSERT] =
        "INSERT INTO initiator (key, name, vm_name, vm_uuid, last_host, "
        "first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    [STMT_VM_UPDATE] =
        "UPDATE initiator SET vm_name = ?2, vm_uuid = ?3, last_host = ?4, "
        "last_seen = ?5 WHERE key = ?1",
    /* A VM's own registrations carry its name, alone or with an ISID. */
    [STMT_VM_PRUNE] =
        "DELETE FROM initiator WHERE last_seen < ?1 AND NOT EXISTS (SELECT 1 "
        "FROM registration r WHERE r.initiator_name = initiator.name OR "
        "substr(r.initiator_name, 1, length(initiator.name) + 1) = "
        "initiator.name || ',')",
    /* Unchanged within the same second, the row is not written: one
     * page fewer to journal and sync for every other PR OUT. */
    [STMT_SEEN_UPSERT] =
        "INSERT INTO lu_seen (lu_id, host, path, id_source, first_seen, "
        "last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
        "ON CONFLICT (lu_id, host, path) DO UPDATE SET "
        "id_source = excluded.id_source, last_seen = excluded.last_seen "
        "WHERE id_source IS NOT excluded.id_source "
        "OR last_seen IS NOT excluded.last_seen",
    [STMT_SEEN_PATHS] =
        "SELECT s.path FROM lu_seen s JOIN lu ON lu.id = s.lu_id "
        "WHERE lu.name = ?1 AND s.host = ?2 ORDER BY s.first_seen",
    [STMT_HISTORY_INSERT] =
        "INSERT INTO history (at_ms, host, origin, lu_name, initiator, "
        "initiator_name, rtpi, action, service_action, type, scope, key, "
        "sa_key, spec_i_pt, all_tg_pt, aptpl, unreg, move_rtpi, status, "
        "sense_key, asc, ascq, generation, detail) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21, ?22, ?23, ?24)",
    /* Row ids only grow (no AUTOINCREMENT needed: the newest row is never
     * pruned), so "the newest N" is an id range. */
    [STMT_HISTORY_PRUNE_ROWS] = "DELETE FROM history WHERE id <= ?1",
    [STMT_HISTORY_PRUNE_AGE] = "DELETE FROM history WHERE at_ms < ?1",
};

struct StoreGroup {
    char *path;
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

struct Store {
    sqlite3 *db;
    char *path;
    char *host_id;
    StoreJournal journal;
    unsigned history_keep_rows;
    unsigned history_keep_days;
    unsigned vm_keep_days;
    char *vfs;         /* as opened, to reopen */
    gint64 deadline;   /* monotonic microseconds: give up waiting after */
    StoreGroup *group; /* whose turns it takes; NULL: none */
    guint generation;  /* the group's when the file was opened */
    bool has_turn;     /* holds its group's turn */
    GRand *rand;       /* jitter for lock retries, so hosts do not collide */
    sqlite3_stmt *stmts[STMT_COUNT];
};

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static SoftprError error_code_for(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SOFTPR_ERROR_BUSY;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
        return SOFTPR_ERROR_IO;
    case SQLITE_CORRUPT:
        return SOFTPR_ERROR_CORRUPT;
    case SQLITE_NOTADB:
        return SOFTPR_ERROR_FOREIGN;
    default:
        return SOFTPR_ERROR_FAILED;
    }
}

/* Report sqlite result @rc of doing @what on @store's database. */
static void set_db_error(Store *store, GError **error, int rc, const char *what)
{
    const char *msg =
        store->db != NULL ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc);

    /* sqlite's own word for it is "attempt to write a readonly
     * database", which sends an administrator after permissions. */
    if (rc == SQLITE_READONLY_DBMOVED) {
        msg = "the database file was replaced or deleted while open; the "
              "next command uses the file now at the path";
    }

    g_set_error(error, SOFTPR_ERROR, error_code_for(rc), "%s: %s: %s",
                store->path, what, msg);
}

/* ------------------------------------------------------------------ */
/* Lock waits                                                          */
/* ------------------------------------------------------------------ */

/*
 * sqlite calls this while another connection holds a conflicting lock.
 * Sleep a little longer each time, with jitter, until the deadline of
 * the current operation; returning 0 makes the operation fail BUSY.
 */
static int busy_handler(void *arg, int count)
{
    Store *store = arg;
    gint64 now = g_get_monotonic_time();
    gint64 wait;

    if (now >= store->deadline) {
        return 0;
    }
    /* 0.25, 0.5, then 1 ms: a commit takes about 1 ms, and sleeping
     * longer than one leaves the file idle while other daemons wait. */
    wait = (gint64)250 << (count < 2 ? count : 2);
    wait += g_rand_int_range(store->rand, 0, (gint32)(wait / 2 + 1));
    if (wait > store->deadline - now) {
        wait = store->deadline - now;
    }
    g_usleep((gulong)wait);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

/* The prepared statement @id, reset and with no bindings. */
static sqlite3_stmt *stmt_get(Store *store, StmtId id, GError **error)
{
    int rc;

    if (store->stmts[id] == NULL) {
        rc = sqlite3_prepare_v3(store->db, stmt_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &store->stmts[id],
                                NULL);
        if (rc != SQLITE_OK) {
            set_db_error(store, error, rc, "preparing a statement");
            return NULL;
        }
    }
    return store->stmts[id];
}

static void stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Run a statement that returns no rows; resets it. */
static bool stmt_run(Store *store, sqlite3_stmt *stmt, const char *what,
                     GError **error)
{
    int rc = sqlite3_step(stmt);

    stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        set_db_error(store, error, rc, what);
        return false;
    }
    return true;
}

static bool exec_sql(Store *store, const char *sql, const char *what,
                     GError **error)
{
    int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        set_db_error(store, error, rc, what);
        return false;
    }
    return true;
}

/* Run a single-row query (a PRAGMA) and return column 0 as text. */
static char *query_text(Store *store, const char *sql, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    char *value = NULL;
    int rc;

    rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
    }
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);

        value = g_strdup(text != NULL ? (const char *)text : "");
    } else {
        set_db_error(store, error, rc, sql);
    }
    sqlite3_finalize(stmt);
    return value;
}

static bool query_int(Store *store, const char *sql, gint64 *out,
                      GError **error)
{
    g_autofree char *text = query_text(store, sql, error);

    if (text == NULL) {
        return false;
    }
    *out = g_ascii_strtoll(text, NULL, 10);
    return true;
}

/* ------------------------------------------------------------------ */
/* Opening, checking, migrating                                        */
/* ------------------------------------------------------------------ */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The compiled-in migrations.  GLib builds a static resource on first
 * use without a lock, and two threads opening their first connection at
 * once (the writer and a worker) crashed in it: built once, here.
 */
static GResource *schema_resource(void)
{
    static gsize once;
    static GResource *resource;

    if (g_once_init_enter(&once)) {
        resource = softpr_schema_get_resource();
        g_once_init_leave(&once, 1);
    }
    return resource;
}

/* Migration resource names, in order: "001-initial.sql", ... */
static char **migrations_sorted(void)
{
    char **names =
        g_resource_enumerate_children(schema_resource(), SCHEMA_RESOURCE_DIR,
                                      G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

    if (names == NULL) {
        return g_new0(char *, 1);
    }
    qsort(names, g_strv_length(names), sizeof(char *), compare_names);
    return names;
}

int store_schema_version(void)
{
    g_auto(GStrv) names = migrations_sorted();
    guint n = g_strv_length(names);

    return n == 0 ? 0 : atoi(names[n - 1]);
}

/* Apply every migration above the file's version, in one transaction. */
static bool migrate(Store *store, GError **error)
{
    g_auto(GStrv) names = migrations_sorted();
    gint64 app_id = 0;
    gint64 version = 0;
    gint64 objects = 0;
    int latest = store_schema_version();
    guint i;

    if (!exec_sql(store, "BEGIN IMMEDIATE", "starting the schema migration",
                  error)) {
        return false;
    }
    /* Another process may have migrated while we waited for the lock. */
    if (!query_int(store, "PRAGMA application_id", &app_id, error) ||
        !query_int(store, "PRAGMA user_version", &version, error) ||
        !query_int(store, "SELECT count(*) FROM sqlite_schema", &objects,
                   error)) {
        goto fail;
    }
    if (app_id == 0 && version == 0 && objects > 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (it holds other tables)",
                    store->path);
        goto fail;
    }
    if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (application_id 0x%08x)",
                    store->path, (unsigned)app_id);
        goto fail;
    }
    for (i = 0; names[i] != NULL; i++) {
        int v = atoi(names[i]);
        g_autofree char *rpath = NULL;
        g_autoptr(GBytes) sql = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *what = NULL;

        if (v <= version) {
            continue;
        }
        rpath = g_build_path("/", SCHEMA_RESOURCE_DIR, names[i], NULL);
        sql = g_resource_lookup_data(schema_resource(), rpath,
                                     G_RESOURCE_LOOKUP_FLAGS_NONE, &local);
        if (sql == NULL) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FAILED,
                        "schema migration %s is missing: %s", names[i],
                        local->message);
            goto fail;
        }
        what = g_strdup_printf("applying schema migration %s", names[i]);
        if (!exec_sql(store, g_bytes_get_data(sql, NULL), what, error)) {
            goto fail;
        }
    }
    {
        g_autofree char *pragmas = g_strdup_printf(
            "PRAGMA application_id = %d; PRAGMA user_version = %d",
            STORE_APPLICATION_ID, latest);

        if (!exec_sql(store, pragmas, "recording the schema version", error)) {
            goto fail;
        }
    }
    if (!exec_sql(store, "COMMIT", "committing the schema migration", error)) {
        goto fail;
    }
    return true;
fail:
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static bool check_schema(Store *store, GError **error)
{
    gint64 app_id = 0;
    gint64 version = 0;
    int latest = store_schema_version();

    if (!query_int(store, "PRAGMA application_id", &app_id, error) ||
        !query_int(store, "PRAGMA user_version", &version, error)) {
        return false;
    }
    if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (application_id 0x%08x)",
                    store->path, (unsigned)app_id);
        return false;
    }
    if (version > latest) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NEWER,
                    "%s has schema version %d, newer than the %d this "
                    "softpr supports; upgrade softpr",
                    store->path, (int)version, latest);
        return false;
    }
    if (app_id == STORE_APPLICATION_ID && version == latest) {
        return true;
    }
    return migrate(store, error);
}

static bool check_journal(Store *store, GError **error)
{
    const char *want = store->journal == STORE_JOURNAL_WAL ? "wal" : "delete";
    g_autofree char *mode = NULL;
    g_autofree char *set = NULL;

    mode = query_text(store, "PRAGMA journal_mode", error);
    if (mode == NULL) {
        return false;
    }
    if (store->journal == STORE_JOURNAL_DELETE &&
        g_ascii_strcasecmp(mode, "wal") == 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_JOURNAL,
                    "%s is in WAL journal mode, which is unsafe when hosts "
                    "share the file; use journal-mode=wal only on a single "
                    "host, or convert it with: sqlite3 %s "
                    "'PRAGMA journal_mode=DELETE'",
                    store->path, store->path);
        return false;
    }
    set = query_text(store,
                     store->journal == STORE_JOURNAL_WAL
                         ? "PRAGMA journal_mode = WAL"
                         : "PRAGMA journal_mode = DELETE",
                     error);
    if (set == NULL) {
        return false;
    }
    if (g_ascii_strcasecmp(set, want) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_JOURNAL,
                    "%s: journal mode is '%s', could not set '%s'", store->path,
                    set, want);
        return false;
    }
    return true;
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
    g_autofree char *dir = g_path_get_dirname(options->path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
                SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX;
    const char *sync;
    struct stat st;
    int rc;

    errno = 0;
    store->path = g_strdup(options->path);
    store->vfs = g_strdup(options->vfs);
    store->host_id = g_strdup(options->host_id != NULL ? options->host_id
                                                       : g_get_host_name());
    store->journal = options->journal;
    store->group = options->group;
    if (store->group != NULL) {
        /* Before opening: a replacement noticed meanwhile reopens it. */
        store->generation = g_atomic_int_get(&store->group->generation);
    }
    store->history_keep_rows = options->history_keep_rows;
    store->history_keep_days = options->history_keep_days;
    store->vm_keep_days = options->vm_keep_days;
    store->rand = g_rand_new();

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database directory %s: %s", dir,
                    errno == ENOENT ? "does not exist"
                    : errno != 0    ? g_strerror(errno)
                                    : "not a directory");
        return NULL;
    }
    if (options->create) {
        flags |= SQLITE_OPEN_CREATE;
    } else if (!g_file_test(options->path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database %s does not exist", options->path);
        return NULL;
    }
    rc = sqlite3_open_v2(options->path, &store->db, flags, options->vfs);
    if (rc != SQLITE_OK) {
        set_db_error(store, error, rc, "cannot open the database");
        return NULL;
    }
    /* Limit what a hostile file on shared storage can do. */
    sqlite3_db_config(store->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(store->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_busy_handler(store->db, busy_handler, store);
    store->deadline = deadline;
    if (!exec_sql(store,
                  "PRAGMA foreign_keys = ON; PRAGMA cell_size_check = ON; "
                  "PRAGMA mmap_size = 0",
                  "configuring the connection", error)) {
        return NULL;
    }
    if (!check_journal(store, error)) {
        return NULL;
    }
    /* EXTRA also syncs the directory after the journal is deleted, which
     * is the commit point in rollback mode. */
    sync = store->journal == STORE_JOURNAL_WAL ? "PRAGMA synchronous = FULL"
                                               : "PRAGMA synchronous = EXTRA";
    if (!exec_sql(store, sync, "setting synchronous", error)) {
        return NULL;
    }
    if (!check_schema(store, error)) {
        return NULL;
    }
    return g_steal_pointer(&store);
}

void store_close(Store *store)
{
    int i;

    if (store == NULL) {
        return;
    }
    if (store->db != NULL) {
        store_rollback(store);
    }
    for (i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(store->stmts[i]);
    }
    if (store->db != NULL) {
        sqlite3_close(store->db);
    }
    if (store->rand != NULL) {
        g_rand_free(store->rand);
    }
    g_free(store->path);
    g_free(store->vfs);
    g_free(store->host_id);
    g_free(store);
}

const char *store_path(const Store *store)
{
    return store->path;
}

bool store_check_writable(Store *store, gint64 deadline, GError **error)
{
    bool ok;

    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    /* A new table dirties pages, which sqlite first copies to its
     * rollback journal (or appends to the WAL). */
    ok = exec_sql(store, "CREATE TABLE softpr_write_check (x)",
                  "writing to the database", error);
    store_rollback(store);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/* The group whose turn this thread holds, to catch nesting. */
static __thread const StoreGroup *turn_held_here;

StoreGroup *store_group_new(const char *path)
{
    StoreGroup *group = g_new0(StoreGroup, 1);

    struct stat st;

    group->path = g_strdup(path);
    g_mutex_init(&group->lock);
    g_cond_init(&group->free);
    if (stat(path, &st) == 0) {
        group->dev = st.st_dev;
        group->ino = st.st_ino;
    }
    return group;
}

bool store_group_check(StoreGroup *group, guint *generation, GError **error)
{
    struct stat st;
    bool replaced;

    if (stat(group->path, &st) != 0) {
        int err = errno;

        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database %s is gone (%s): it was deleted or moved "
                    "away; commands fail until a database is put back at "
                    "that path (none is created, which would lose every "
                    "registration)",
                    group->path, g_strerror(err));
        return false;
    }
    g_mutex_lock(&group->lock);
    replaced = st.st_dev != group->dev || st.st_ino != group->ino;
    if (replaced) {
        group->dev = st.st_dev;
        group->ino = st.st_ino;
        g_atomic_int_inc(&group->generation);
    }
    *generation = (guint)g_atomic_int_get(&group->generation);
    g_mutex_unlock(&group->lock);
    if (replaced) {
        g_warning("database %s was replaced by another file (inode %llu): "
                  "reopening the daemon's connections to it",
                  group->path, (unsigned long long)st.st_ino);
    }
    return true;
}

/*
 * Close @store's connection and open the file now at its path instead
 * (its group noticed another file there), waiting for locks until
 * @deadline.  On failure @store has no connection, and the next
 * transaction tries again.
 */
static bool store_reopen(Store *store, gint64 deadline, GError **error)
{
    StoreOptions options = {
        .path = store->path,
        .group = store->group,
        .journal = store->journal,
        .host_id = store->host_id,
        .vfs = store->vfs,
        .history_keep_rows = store->history_keep_rows,
        .history_keep_days = store->history_keep_days,
        .vm_keep_days = store->vm_keep_days,
    };
    Store *fresh;
    int i;

    g_assert(!store->has_turn);
    for (i = 0; i < STMT_COUNT; i++) {
        g_clear_pointer(&store->stmts[i], sqlite3_finalize);
    }
    if (store->db != NULL) {
        sqlite3_close(store->db);
        store->db = NULL;
    }
    fresh = store_open_until(&options, deadline, error);
    if (fresh == NULL) {
        return false;
    }
    store->db = g_steal_pointer(&fresh->db);
    store->generation = fresh->generation;
    sqlite3_busy_handler(store->db, busy_handler, store);
    store_close(fresh);
    return true;
}

void store_group_free(StoreGroup *group)
{
    if (group == NULL) {
        return;
    }
    g_assert(!group->held);
    g_mutex_clear(&group->lock);
    g_cond_clear(&group->free);
    g_free(group->path);
    g_free(group);
}

/*
 * Take @store's turn, waiting at most until its deadline (a turn that is
 * free is taken even after it).  Without a group there is nothing to take.
 */
static bool turn_take(Store *store, GError **error)
{
    StoreGroup *group = store->group;
    bool timed_out = false;

    if (group == NULL || store->has_turn) {
        return true;
    }
    /* Nested turns deadlock when two threads nest them in turn. */
    g_assert(turn_held_here == NULL);
    g_mutex_lock(&group->lock);
    group->waiting++;
    while (group->held && !timed_out) {
        timed_out =
            !g_cond_wait_until(&group->free, &group->lock, store->deadline);
    }
    group->waiting--;
    if (!group->held) {
        group->held = true;
        timed_out = false;
    }
    g_mutex_unlock(&group->lock);
    if (timed_out) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY,
                    "%s: this daemon's other database connection did not "
                    "give its turn back in time",
                    store->path);
        return false;
    }
    store->has_turn = true;
    turn_held_here = group;
    return true;
}

static void turn_give(Store *store)
{
    StoreGroup *group = store->group;

    if (!store->has_turn) {
        return;
    }
    store->has_turn = false;
    turn_held_here = NULL;
    g_mutex_lock(&group->lock);
    group->held = false;
    if (group->waiting > 0) {
        g_cond_signal(&group->free);
    }
    g_mutex_unlock(&group->lock);
}

bool store_begin(Store *store, bool write, gint64 deadline, GError **error)
{
    sqlite3_stmt *stmt;

    if (store->group != NULL &&
        (store->db == NULL ||
         store->generation !=
             (guint)g_atomic_int_get(&store->group->generation)) &&
        !store_reopen(store, deadline, error)) {
        return false;
    }
    store->deadline = deadline;
    if (!write && !turn_take(store, error)) {
        return false;
    }
    stmt = stmt_get(store, write ? STMT_BEGIN_WRITE : STMT_BEGIN_READ, error);
    if (stmt == NULL ||
        !stmt_run(store, stmt, "beginning a transaction", error)) {
        turn_give(store);
        return false;
    }
    return true;
}

void store_rollback(Store *store)
{
    if (store->db != NULL && !sqlite3_get_autocommit(store->db)) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    }
    turn_give(store);
}

bool store_commit(Store *store, GError **error)
{
    gint64 floor = g_get_monotonic_time() + COMMIT_GRACE_US;
    sqlite3_stmt *stmt;

    /* The work is done and only the exclusive lock is missing, which
     * other connections' brief shared locks delay: give them a moment
     * even when the command's own deadline has just passed. */
    if (store->deadline < floor) {
        store->deadline = floor;
    }
    if (!turn_take(store, error)) {
        store_rollback(store);
        return false;
    }
    stmt = stmt_get(store, STMT_COMMIT, error);
    if (stmt == NULL || !stmt_run(store, stmt, "committing", error)) {
        store_rollback(store);
        return false;
    }
    turn_give(store);
    return true;
}

bool store_in_transaction(Store *store)
{
    return store->db != NULL && !sqlite3_get_autocommit(store->db);
}

bool store_savepoint(Store *store, GError **error)
{
    sqlite3_stmt *stmt = stmt_get(store, STMT_SAVEPOINT, error);

    return stmt != NULL &&
           stmt_run(store, stmt, "starting a command's savepoint", error);
}

bool store_savepoint_release(Store *store, GError **error)
{
    sqlite3_stmt *stmt = stmt_get(store, STMT_SAVEPOINT_RELEASE, error);

    return stmt != NULL &&
           stmt_run(store, stmt, "ending a command's savepoint", error);
}

void store_savepoint_rollback(Store *store)
{
    g_autoptr(GError) error = NULL;
    sqlite3_stmt *stmt;

    /* Only while the transaction lives: an I/O error may have ended it. */
    if (!store_in_transaction(store)) {
        return;
    }
    stmt = stmt_get(store, STMT_SAVEPOINT_ROLLBACK, &error);
    if (stmt == NULL || !stmt_run(store, stmt, "undoing a command", &error)) {
        /* The savepoint's changes cannot be undone alone: undo all. */
        store_rollback(store);
        return;
    }
    stmt = stmt_get(store, STMT_SAVEPOINT_RELEASE, &error);
    if (stmt == NULL ||
        !stmt_run(store, stmt, "ending a command's savepoint", &error)) {
        store_rollback(store);
    }
}

/* ------------------------------------------------------------------ */
/* Loading and saving state                                            */
/* ------------------------------------------------------------------ */

static bool column_tid(sqlite3_stmt *stmt, int col, TransportId *tid)
{
    const uint8_t *blob = sqlite3_column_blob(stmt, col);
    size_t len = (size_t)sqlite3_column_bytes(stmt, col);
    size_t used = 0;

    return blob != NULL && tid_decode(blob, len, tid, &used) == TID_OK &&
           used == len;
}

static bool corrupt(Store *store, GError **error, const char *name,
                    const char *what)
{
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                "%s: logical unit %s: %s", store->path, name, what);
    return false;
}

bool store_load_state(Store *store, const StoreLuInfo *lu, PrState *state,
                      gint64 *lu_id, bool *stale, GError **error)
{
    const char *name = lu->name;
    sqlite3_stmt *stmt;
    int rc;

    *lu_id = 0;
    *stale = false;
    stmt = stmt_get(store, STMT_LU_SELECT, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, lu->path, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        stmt_done(stmt);
        return true;
    }
    if (rc != SQLITE_ROW) {
        stmt_done(stmt);
        set_db_error(store, error, rc, "reading a logical unit");
        return false;
    }
    *lu_id = sqlite3_column_int64(stmt, 0);
    state->generation = (uint32_t)sqlite3_column_int64(stmt, 1);
    state->aptpl = sqlite3_column_int(stmt, 2) != 0;
    state->info_lost = sqlite3_column_int(stmt, 3) != 0;
    state->res_type = (uint8_t)sqlite3_column_int(stmt, 4);
    state->res_scope = (uint8_t)sqlite3_column_int(stmt, 5);
    /* Seen for the first time from here, or identified differently. */
    *stale = lu->path != NULL &&
             (sqlite3_column_int(stmt, 7) == 0 ||
              g_strcmp0((const char *)sqlite3_column_text(stmt, 6),
                        lu->id_source) != 0);
    stmt_done(stmt);

    stmt = stmt_get(store, STMT_REG_SELECT, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, *lu_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PrRegistration reg;

        memset(&reg, 0, sizeof(reg));
        if (!column_tid(stmt, 0, &reg.initiator)) {
            stmt_done(stmt);
            return corrupt(store, error, name, "undecodable initiator");
        }
        reg.rtpi = (uint16_t)sqlite3_column_int(stmt, 1);
        reg.all_tg_pt = sqlite3_column_int(stmt, 2) != 0;
        reg.key = (uint64_t)sqlite3_column_int64(stmt, 3);
        reg.holder = sqlite3_column_int(stmt, 4) != 0;
        g_array_append_val(state->regs, reg);
    }
    stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        set_db_error(store, error, rc, "reading registrations");
        return false;
    }

    stmt = stmt_get(store, STMT_UA_SELECT, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, *lu_id);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        PrUnitAttention ua;

        memset(&ua, 0, sizeof(ua));
        if (!column_tid(stmt, 0, &ua.initiator)) {
            stmt_done(stmt);
            return corrupt(store, error, name, "undecodable initiator");
        }
        ua.rtpi = (uint16_t)sqlite3_column_int(stmt, 1);
        ua.asc = (uint8_t)sqlite3_column_int(stmt, 2);
        ua.ascq = (uint8_t)sqlite3_column_int(stmt, 3);
        g_array_append_val(state->uas, ua);
    }
    stmt_done(stmt);
    if (rc != SQLITE_DONE) {
        set_db_error(store, error, rc, "reading unit attentions");
        return false;
    }
    if (!engine_state_consistent(state)) {
        return corrupt(store, error, name,
                       "reservation holder and registrations disagree");
    }
    return true;
}

static gint64 now_seconds(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

/* Bind @tid as a TransportID blob at @col and its text at @text_col. */
static void bind_tid(sqlite3_stmt *stmt, int col, int text_col,
                     const TransportId *tid)
{
    uint8_t buf[TID_ENCODED_MAX];
    size_t len = tid_encode(tid, buf);

    sqlite3_bind_blob(stmt, col, buf, (int)len, SQLITE_TRANSIENT);
    if (text_col > 0) {
        sqlite3_bind_text(stmt, text_col, tid_to_string(tid), -1, g_free);
    }
}

static int find_reg(const PrState *state, const PrRegistration *reg)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        const PrRegistration *r =
            &g_array_index(state->regs, PrRegistration, i);

        if (r->rtpi == reg->rtpi && tid_equal(&r->initiator, &reg->initiator)) {
            return (int)i;
        }
    }
    return -1;
}

static bool find_ua(const PrState *state, const PrUnitAttention *ua)
{
    guint i;

    for (i = 0; i < state->uas->len; i++) {
        const PrUnitAttention *u =
            &g_array_index(state->uas, PrUnitAttention, i);

        if (u->rtpi == ua->rtpi && u->asc == ua->asc && u->ascq == ua->ascq &&
            tid_equal(&u->initiator, &ua->initiator)) {
            return true;
        }
    }
    return false;
}

static bool save_lu(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                    const PrState *after, GError **error)
{
    sqlite3_stmt *stmt =
        stmt_get(store, *lu_id == 0 ? STMT_LU_INSERT : STMT_LU_UPDATE, error);

    if (stmt == NULL) {
        return false;
    }
    if (*lu_id == 0) {
        sqlite3_bind_text(stmt, 1, lu->name, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(stmt, 1, *lu_id);
    }
    sqlite3_bind_text(stmt, 2, lu->id_source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, after->generation);
    sqlite3_bind_int(stmt, 4, after->aptpl);
    sqlite3_bind_int(stmt, 5, after->info_lost);
    sqlite3_bind_int(stmt, 6, after->res_type);
    sqlite3_bind_int(stmt, 7, after->res_scope);
    sqlite3_bind_text(stmt, 8, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, lu->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 10, now_seconds());
    if (!stmt_run(store, stmt, "writing a logical unit", error)) {
        return false;
    }
    if (*lu_id == 0) {
        *lu_id = sqlite3_last_insert_rowid(store->db);
    }
    if (lu->path == NULL) {
        return true;
    }
    stmt = stmt_get(store, STMT_SEEN_UPSERT, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, *lu_id);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, lu->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, lu->id_source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_seconds());
    return stmt_run(store, stmt, "recording where a logical unit is seen",
                    error);
}

static bool save_registrations(Store *store, gint64 lu_id,
                               const PrState *before, const PrState *after,
                               GError **error)
{
    gint64 now = now_seconds();
    guint i;

    for (i = 0; i < before->regs->len; i++) {
        const PrRegistration *old =
            &g_array_index(before->regs, PrRegistration, i);
        sqlite3_stmt *stmt;

        if (find_reg(after, old) >= 0) {
            continue;
        }
        stmt = stmt_get(store, STMT_REG_DELETE, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, lu_id);
        bind_tid(stmt, 2, 0, &old->initiator);
        sqlite3_bind_int(stmt, 3, old->rtpi);
        if (!stmt_run(store, stmt, "removing a registration", error)) {
            return false;
        }
    }
    for (i = 0; i < after->regs->len; i++) {
        const PrRegistration *reg =
            &g_array_index(after->regs, PrRegistration, i);
        int j = find_reg(before, reg);
        sqlite3_stmt *stmt;

        if (j >= 0) {
            const PrRegistration *old =
                &g_array_index(before->regs, PrRegistration, j);

            if (old->key == reg->key && old->holder == reg->holder &&
                old->all_tg_pt == reg->all_tg_pt) {
                continue;
            }
            stmt = stmt_get(store, STMT_REG_UPDATE, error);
            if (stmt == NULL) {
                return false;
            }
            sqlite3_bind_int64(stmt, 1, lu_id);
            bind_tid(stmt, 2, 0, &reg->initiator);
            sqlite3_bind_int(stmt, 3, reg->rtpi);
            sqlite3_bind_int(stmt, 4, reg->all_tg_pt);
            sqlite3_bind_int64(stmt, 5, (sqlite3_int64)reg->key);
            sqlite3_bind_int(stmt, 6, reg->holder);
            if (!stmt_run(store, stmt, "updating a registration", error)) {
                return false;
            }
            continue;
        }
        stmt = stmt_get(store, STMT_REG_INSERT, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, lu_id);
        bind_tid(stmt, 2, 3, &reg->initiator);
        sqlite3_bind_int(stmt, 4, reg->rtpi);
        sqlite3_bind_int(stmt, 5, reg->all_tg_pt);
        sqlite3_bind_int64(stmt, 6, (sqlite3_int64)reg->key);
        sqlite3_bind_int(stmt, 7, reg->holder);
        sqlite3_bind_text(stmt, 8, store->host_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 9, now);
        if (!stmt_run(store, stmt, "adding a registration", error)) {
            return false;
        }
    }
    return true;
}

static bool save_unit_attentions(Store *store, gint64 lu_id,
                                 const PrState *before, const PrState *after,
                                 GError **error)
{
    gint64 now = now_seconds();
    guint i;

    for (i = 0; i < before->uas->len; i++) {
        const PrUnitAttention *ua =
            &g_array_index(before->uas, PrUnitAttention, i);
        sqlite3_stmt *stmt;

        if (find_ua(after, ua)) {
            continue;
        }
        stmt = stmt_get(store, STMT_UA_DELETE, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, lu_id);
        bind_tid(stmt, 2, 0, &ua->initiator);
        sqlite3_bind_int(stmt, 3, ua->rtpi);
        sqlite3_bind_int(stmt, 4, ua->asc);
        sqlite3_bind_int(stmt, 5, ua->ascq);
        if (!stmt_run(store, stmt, "removing a unit attention", error)) {
            return false;
        }
    }
    for (i = 0; i < after->uas->len; i++) {
        const PrUnitAttention *ua =
            &g_array_index(after->uas, PrUnitAttention, i);
        sqlite3_stmt *stmt;

        if (find_ua(before, ua)) {
            continue;
        }
        stmt = stmt_get(store, STMT_UA_INSERT, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, lu_id);
        bind_tid(stmt, 2, 3, &ua->initiator);
        sqlite3_bind_int(stmt, 4, ua->rtpi);
        sqlite3_bind_int(stmt, 5, ua->asc);
        sqlite3_bind_int(stmt, 6, ua->ascq);
        sqlite3_bind_int64(stmt, 7, now);
        if (!stmt_run(store, stmt, "queueing a unit attention", error)) {
            return false;
        }
    }
    return true;
}

bool store_lu_paths_here(Store *store, const char *lu_name, gint64 deadline,
                         char ***paths, GError **error)
{
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    sqlite3_stmt *stmt;
    int rc = SQLITE_ERROR;

    *paths = NULL;
    if (!store_begin(store, false, deadline, error)) {
        return false;
    }
    stmt = stmt_get(store, STMT_SEEN_PATHS, error);
    if (stmt != NULL) {
        sqlite3_bind_text(stmt, 1, lu_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            g_ptr_array_add(
                found, g_strdup((const char *)sqlite3_column_text(stmt, 0)));
        }
        stmt_done(stmt);
        if (rc != SQLITE_DONE) {
            set_db_error(store, error, rc, "reading where an LU was seen");
        }
    }
    store_rollback(store);
    if (rc != SQLITE_DONE) {
        return false;
    }
    g_ptr_array_add(found, NULL);
    *paths = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
    return true;
}

bool store_save_state(Store *store, gint64 lu_id, const StoreLuInfo *lu,
                      const PrState *before, const PrState *after,
                      GError **error)
{
    return save_lu(store, &lu_id, lu, after, error) &&
           save_registrations(store, lu_id, before, after, error) &&
           save_unit_attentions(store, lu_id, before, after, error);
}

/* ------------------------------------------------------------------ */
/* Audit history                                                       */
/* ------------------------------------------------------------------ */

bool store_history_enabled(const Store *store)
{
    return store->history_keep_rows > 0;
}

static void bind_bool_or_null(sqlite3_stmt *stmt, int col, bool present,
                              bool value)
{
    if (present) {
        sqlite3_bind_int(stmt, col, value);
    }
}

static bool prune_history(Store *store, GError **error)
{
    sqlite3_int64 newest = sqlite3_last_insert_rowid(store->db);
    sqlite3_stmt *stmt;

    if (newest > (sqlite3_int64)store->history_keep_rows) {
        stmt = stmt_get(store, STMT_HISTORY_PRUNE_ROWS, error);
        if (stmt == NULL) {
            return false;
        }
        sqlite3_bind_int64(stmt, 1, newest - store->history_keep_rows);
        if (!stmt_run(store, stmt, "pruning the history", error)) {
            return false;
        }
    }
    if (store->history_keep_days == 0) {
        return true;
    }
    stmt = stmt_get(store, STMT_HISTORY_PRUNE_AGE, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1,
                       g_get_real_time() / 1000 -
                           (gint64)store->history_keep_days * 86400 * 1000);
    return stmt_run(store, stmt, "pruning the history", error);
}

bool store_add_history(Store *store, const char *lu_name,
                       const StoreHistoryEntry *entry, GError **error)
{
    const PrOutFields *f = entry->fields;
    bool move = f != NULL && f->service_action == PR_OUT_REGISTER_AND_MOVE;
    sqlite3_stmt *stmt;

    if (!store_history_enabled(store)) {
        return true;
    }
    stmt = stmt_get(store, STMT_HISTORY_INSERT, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, g_get_real_time() / 1000);
    sqlite3_bind_text(stmt, 2, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, entry->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, lu_name, -1, SQLITE_STATIC);
    if (entry->initiator != NULL) {
        bind_tid(stmt, 5, 6, entry->initiator);
        sqlite3_bind_int(stmt, 7, entry->rtpi);
    }
    sqlite3_bind_text(stmt, 8, entry->action, -1, SQLITE_STATIC);
    if (f != NULL) {
        sqlite3_bind_int(stmt, 9, f->service_action);
        sqlite3_bind_int(stmt, 10, f->type);
        sqlite3_bind_int(stmt, 11, f->scope);
        sqlite3_bind_int64(stmt, 12, (sqlite3_int64)f->rk);
        sqlite3_bind_int64(stmt, 13, (sqlite3_int64)f->sark);
        bind_bool_or_null(stmt, 14, !move, f->spec_i_pt);
        bind_bool_or_null(stmt, 15, !move, f->all_tg_pt);
        sqlite3_bind_int(stmt, 16, f->aptpl);
        bind_bool_or_null(stmt, 17, move, f->unreg);
        if (move) {
            sqlite3_bind_int(stmt, 18, f->move_rtpi);
        }
    }
    sqlite3_bind_int(stmt, 19, entry->status);
    if (entry->sense != NULL) {
        sqlite3_bind_int(stmt, 20, entry->sense[2] & 0x0f);
        sqlite3_bind_int(stmt, 21, entry->sense[12]);
        sqlite3_bind_int(stmt, 22, entry->sense[13]);
    }
    sqlite3_bind_int64(stmt, 23, entry->generation);
    sqlite3_bind_text(stmt, 24, entry->detail, -1, SQLITE_STATIC);
    if (!stmt_run(store, stmt, "recording the history", error)) {
        return false;
    }
    return prune_history(store, error);
}

/* ------------------------------------------------------------------ */
/* VM initiator names                                                  */
/* ------------------------------------------------------------------ */

/* How old a VM's last_seen may grow while it stays on one host. */
#define VM_SEEN_REFRESH_S (24 * 3600)

/*
 * Look up @key: *@name, and whether it was last seen on this host within
 * the last VM_SEEN_REFRESH_S (else it is to be recorded again).
 */
static bool vm_lookup(Store *store, const char *key, char **name, bool *here,
                      GError **error)
{
    sqlite3_stmt *stmt = stmt_get(store, STMT_VM_SELECT, error);
    int rc;

    *name = NULL;
    *here = false;
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *name = g_strdup((const char *)sqlite3_column_text(stmt, 0));
        *here =
            g_strcmp0((const char *)sqlite3_column_text(stmt, 1),
                      store->host_id) == 0 &&
            sqlite3_column_int64(stmt, 2) > now_seconds() - VM_SEEN_REFRESH_S;
    }
    stmt_done(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        set_db_error(store, error, rc, "reading an initiator name");
        return false;
    }
    return true;
}

/* Forget the VMs that hold no registration and have not been seen for
 * vm_keep_days; inside the write transaction that adds one. */
static bool prune_vms(Store *store, GError **error)
{
    sqlite3_stmt *stmt;

    if (store->vm_keep_days == 0) {
        return true;
    }
    stmt = stmt_get(store, STMT_VM_PRUNE, error);
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1,
                       now_seconds() - (gint64)store->vm_keep_days * 86400);
    if (!stmt_run(store, stmt, "forgetting idle VMs", error)) {
        return false;
    }
    if (sqlite3_changes(store->db) > 0) {
        g_info("forgot %d VM(s) with no registration, not seen for %u days",
               sqlite3_changes(store->db), store->vm_keep_days);
    }
    return true;
}

/* @preferred, or @preferred-N for the first N that no VM holds. */
static char *free_vm_name(Store *store, const char *preferred, GError **error)
{
    unsigned n;

    for (n = 1;; n++) {
        g_autofree char *suffix =
            n == 1 ? g_strdup("") : g_strdup_printf("-%u", n);
        size_t room = TID_ISCSI_NAME_MAX - strlen(suffix);
        g_autofree char *candidate = g_strdup_printf(
            "%.*s%s", (int)MIN(strlen(preferred), room), preferred, suffix);
        sqlite3_stmt *stmt = stmt_get(store, STMT_VM_NAME_TAKEN, error);
        int rc;

        if (stmt == NULL) {
            return NULL;
        }
        sqlite3_bind_text(stmt, 1, candidate, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        stmt_done(stmt);
        if (rc == SQLITE_DONE) {
            return g_steal_pointer(&candidate);
        }
        if (rc != SQLITE_ROW) {
            set_db_error(store, error, rc, "choosing an initiator name");
            return NULL;
        }
    }
}

bool store_vm_initiator(Store *store, const StoreVm *vm, gint64 deadline,
                        char **name, GError **error)
{
    sqlite3_stmt *stmt;
    bool here = false;

    /* Usually known and last seen here: a read is enough. */
    if (!store_begin(store, false, deadline, error)) {
        return false;
    }
    if (!vm_lookup(store, vm->key, name, &here, error)) {
        store_rollback(store);
        return false;
    }
    store_rollback(store);
    if (*name != NULL && here) {
        return true;
    }
    g_clear_pointer(name, g_free);

    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    if (!vm_lookup(store, vm->key, name, &here, error)) {
        goto fail;
    }
    if (*name == NULL) {
        if (!prune_vms(store, error)) {
            goto fail;
        }
        *name = free_vm_name(store, vm->preferred_name, error);
        if (*name == NULL) {
            goto fail;
        }
        stmt = stmt_get(store, STMT_VM_INSERT, error);
        if (stmt == NULL) {
            goto fail;
        }
        sqlite3_bind_text(stmt, 1, vm->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, *name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, vm->vm_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, vm->vm_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, store->host_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 6, now_seconds());
    } else {
        stmt = stmt_get(store, STMT_VM_UPDATE, error);
        if (stmt == NULL) {
            goto fail;
        }
        sqlite3_bind_text(stmt, 1, vm->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, vm->vm_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, vm->vm_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, store->host_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, now_seconds());
    }
    if (!stmt_run(store, stmt, "recording an initiator name", error) ||
        !store_commit(store, error)) {
        goto fail;
    }
    return true;
fail:
    store_rollback(store);
    g_clear_pointer(name, g_free);
    return false;
}

/* ------------------------------------------------------------------ */
/* Reports: dumps and the history, for the softpr tool                 */
/* ------------------------------------------------------------------ */

/*
 * The filters, shared by every report so that all show
 * the same rows.  Parameters: ?1 LU glob, ?2 initiator glob, ?3 key,
 * ?4 since (ms), ?5 limit; the per-LU queries take the LU's row id as ?7.
 */
#define FILTER_LU                                                              \
    "(?1 IS NULL OR lu.name GLOB ?1 OR EXISTS (SELECT 1 FROM lu_seen s "       \
    "WHERE s.lu_id = lu.id AND s.path GLOB ?1))"
#define FILTER_REG(r)                                                          \
    "((?2 IS NULL OR lower(" r ".initiator_name) GLOB lower(?2)) AND "         \
    "(?3 IS NULL OR " r ".key = ?3))"
#define FILTER_LU_ROWS                                                         \
    FILTER_LU " AND ((?2 IS NULL AND ?3 IS NULL) OR EXISTS (SELECT 1 FROM "    \
              "registration r WHERE r.lu_id = lu.id AND " FILTER_REG("r") "))"
#define FILTER_UA(u)                                                           \
    "(?2 IS NULL OR lower(" u ".initiator_name) GLOB lower(?2))"
/* Registry entries: all of them, or those registered where the filter
 * looks. */
#define FILTER_VM                                                              \
    "((?2 IS NULL OR lower(vm.name) GLOB lower(?2) OR "                        \
    "lower(coalesce(vm.vm_name, '')) GLOB lower(?2)) AND "                     \
    "((?1 IS NULL AND ?3 IS NULL) OR EXISTS (SELECT 1 FROM registration r "    \
    "JOIN lu ON lu.id = r.lu_id WHERE r.initiator_name = vm.name "             \
    "AND " FILTER_LU " AND (?3 IS NULL OR r.key = ?3))))"
/* History names LUs by value: a path is matched through the LU of that
 * name, as for a dump. */
#define FILTER_HISTORY                                                         \
    "(?1 IS NULL OR h.lu_name GLOB ?1 OR EXISTS (SELECT 1 FROM lu JOIN "       \
    "lu_seen s ON s.lu_id = lu.id WHERE lu.name = h.lu_name AND "              \
    "s.path GLOB ?1)) AND "                                                    \
    "(?2 IS NULL OR lower(h.initiator_name) GLOB lower(?2)) AND "              \
    "(?3 IS NULL OR h.key = ?3 OR h.sa_key = ?3) AND "                         \
    "(?4 IS NULL OR h.at_ms >= ?4)"
/* The newest ?5 rows (all when negative), oldest first. */
#define HISTORY_ROWS(columns)                                                  \
    "SELECT " columns " FROM (SELECT * FROM history h WHERE " FILTER_HISTORY   \
    " ORDER BY h.id DESC LIMIT ?5) h ORDER BY h.id"

#define HOLDER(r) "(lu.res_type IN (7, 8) OR " r ".holder)"

/* clang-format off */
static const char sql_dump_lus[] =
    "SELECT lu.id, lu.name, lu.id_source, lu.generation, lu.aptpl, "
    "lu.info_lost, lu.res_type, lu.res_scope, lu.created_at FROM lu WHERE "
    FILTER_LU_ROWS " ORDER BY lu.name";

static const char sql_dump_seen[] =
    "SELECT host, path, id_source, first_seen, last_seen FROM lu_seen WHERE "
    "lu_id = ?7 ORDER BY first_seen, host, path";

#define REG_COLUMNS                                                            \
    "r.key, r.initiator_name, r.rtpi, r.all_tg_pt, " HOLDER("r") ", "          \
    "r.host, r.registered_at, r.initiator"

static const char sql_dump_regs[] =
    "SELECT " REG_COLUMNS " FROM registration r JOIN lu ON lu.id = r.lu_id "
    "WHERE r.lu_id = ?7 AND " FILTER_REG("r") " ORDER BY r.id";

/* The holder, whatever the filter: the reservation is the LU's. */
static const char sql_dump_holder[] =
    "SELECT " REG_COLUMNS " FROM registration r JOIN lu ON lu.id = r.lu_id "
    "WHERE r.lu_id = ?7 AND r.holder ORDER BY r.id LIMIT 1";

static const char sql_dump_uas[] =
    "SELECT u.initiator_name, u.rtpi, u.asc, u.ascq, u.raised_at FROM "
    "unit_attention u WHERE u.lu_id = ?7 AND " FILTER_UA("u") " ORDER BY u.id";

static const char sql_dump_vms[] =
    "SELECT vm.name, vm.vm_name, vm.vm_uuid, vm.last_host, vm.first_seen, "
    "vm.last_seen FROM initiator vm WHERE " FILTER_VM " ORDER BY vm.name";

static const char sql_history[] =
    HISTORY_ROWS("h.id, h.at_ms, h.host, h.origin, h.lu_name, "
    "h.initiator_name, h.action, h.service_action IS NOT NULL, h.type, "
    "h.scope, h.key, h.sa_key, h.spec_i_pt, h.all_tg_pt, h.aptpl, h.unreg, "
    "h.status, h.sense_key, h.asc, h.ascq, h.generation, h.detail, h.rtpi, "
    "h.service_action, h.move_rtpi");

/* clang-format on */

/* Where host ?2 has seen the LU named ?1, most recently first. */
static const char sql_history_paths[] =
    "SELECT s.path FROM lu JOIN lu_seen s ON s.lu_id = lu.id WHERE "
    "lu.name = ?1 AND s.host = ?2 ORDER BY s.last_seen DESC, s.path";

static const char sql_lu_names[] =
    "SELECT lu.name FROM lu WHERE " FILTER_LU " ORDER BY lu.name";
static const char sql_forget_vm[] = "DELETE FROM initiator WHERE name = ?1";

/* Prepare a one-off @sql with @filter bound. */
static sqlite3_stmt *report_prepare(Store *store, const char *sql,
                                    const StoreFilter *filter, GError **error)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);

    if (rc != SQLITE_OK) {
        set_db_error(store, error, rc, "preparing a report");
        sqlite3_finalize(stmt);
        return NULL;
    }
    if (filter == NULL) {
        return stmt;
    }
    /* Binding a parameter a query does not use is harmless: it fails
     * with SQLITE_RANGE, which nothing needs to know. */
    sqlite3_bind_text(stmt, 1, filter->lu, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, filter->initiator, -1, SQLITE_STATIC);
    if (filter->has_key) {
        sqlite3_bind_int64(stmt, 3, (sqlite3_int64)filter->key);
    }
    if (filter->since_ms > 0) {
        sqlite3_bind_int64(stmt, 4, filter->since_ms);
    }
    sqlite3_bind_int64(stmt, 5,
                       filter->limit > 0 ? (sqlite3_int64)filter->limit : -1);
    return stmt;
}

static char *column_dup(sqlite3_stmt *stmt, int col)
{
    return g_strdup((const char *)sqlite3_column_text(stmt, col));
}

/* Step @stmt to its end, calling @row for each row; finalizes it. */
static bool report_rows(Store *store, sqlite3_stmt *stmt,
                        void (*row)(sqlite3_stmt *, void *), void *data,
                        GError **error)
{
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        row(stmt, data);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        set_db_error(store, error, rc, "reading a report");
        return false;
    }
    return true;
}

static void seen_clear(gpointer p)
{
    StoreSeen *seen = p;

    g_free(seen->host);
    g_free(seen->path);
    g_free(seen->id_source);
}

static void reg_dump_clear(gpointer p)
{
    StoreRegDump *reg = p;

    g_free(reg->initiator);
    g_clear_pointer(&reg->transport_id, g_bytes_unref);
    g_free(reg->host);
}

static void ua_dump_clear(gpointer p)
{
    g_free(((StoreUaDump *)p)->initiator);
}

static void vm_dump_clear(gpointer p)
{
    StoreVmDump *vm = p;

    g_free(vm->name);
    g_free(vm->vm_name);
    g_free(vm->vm_uuid);
    g_free(vm->last_host);
}

static void lu_dump_free(gpointer p)
{
    StoreLuDump *lu = p;

    g_free(lu->name);
    g_free(lu->id_source);
    g_array_unref(lu->seen);
    g_array_unref(lu->regs);
    g_array_unref(lu->uas);
    g_array_unref(lu->holder);
    g_free(lu);
}

void store_dump_free(StoreDump *dump)
{
    if (dump == NULL) {
        return;
    }
    g_ptr_array_unref(dump->lus);
    g_array_unref(dump->vms);
    g_free(dump);
}

static void row_lu(sqlite3_stmt *stmt, void *data)
{
    StoreLuDump *lu = g_new0(StoreLuDump, 1);

    lu->id = sqlite3_column_int64(stmt, 0);
    lu->name = column_dup(stmt, 1);
    lu->id_source = column_dup(stmt, 2);
    lu->generation = (uint32_t)sqlite3_column_int64(stmt, 3);
    lu->aptpl = sqlite3_column_int(stmt, 4) != 0;
    lu->info_lost = sqlite3_column_int(stmt, 5) != 0;
    lu->res_type = (uint8_t)sqlite3_column_int(stmt, 6);
    lu->res_scope = (uint8_t)sqlite3_column_int(stmt, 7);
    lu->created_at = sqlite3_column_int64(stmt, 8);
    lu->seen = g_array_new(FALSE, TRUE, sizeof(StoreSeen));
    g_array_set_clear_func(lu->seen, seen_clear);
    lu->regs = g_array_new(FALSE, TRUE, sizeof(StoreRegDump));
    g_array_set_clear_func(lu->regs, reg_dump_clear);
    lu->uas = g_array_new(FALSE, TRUE, sizeof(StoreUaDump));
    g_array_set_clear_func(lu->uas, ua_dump_clear);
    lu->holder = g_array_new(FALSE, TRUE, sizeof(StoreRegDump));
    g_array_set_clear_func(lu->holder, reg_dump_clear);
    g_ptr_array_add(data, lu);
}

static void row_seen(sqlite3_stmt *stmt, void *data)
{
    StoreSeen seen = {
        .host = column_dup(stmt, 0),
        .path = column_dup(stmt, 1),
        .id_source = column_dup(stmt, 2),
        .first_seen = sqlite3_column_int64(stmt, 3),
        .last_seen = sqlite3_column_int64(stmt, 4),
    };

    g_array_append_val((GArray *)data, seen);
}

static void row_reg(sqlite3_stmt *stmt, void *data)
{
    StoreRegDump reg = {
        .key = (uint64_t)sqlite3_column_int64(stmt, 0),
        .initiator = column_dup(stmt, 1),
        .rtpi = (uint16_t)sqlite3_column_int(stmt, 2),
        .all_tg_pt = sqlite3_column_int(stmt, 3) != 0,
        .holder = sqlite3_column_int(stmt, 4) != 0,
        .host = column_dup(stmt, 5),
        .registered_at = sqlite3_column_int64(stmt, 6),
        .transport_id = g_bytes_new(sqlite3_column_blob(stmt, 7),
                                    (gsize)sqlite3_column_bytes(stmt, 7)),
    };

    g_array_append_val((GArray *)data, reg);
}

static void row_ua(sqlite3_stmt *stmt, void *data)
{
    StoreUaDump ua = {
        .initiator = column_dup(stmt, 0),
        .rtpi = (uint16_t)sqlite3_column_int(stmt, 1),
        .asc = (uint8_t)sqlite3_column_int(stmt, 2),
        .ascq = (uint8_t)sqlite3_column_int(stmt, 3),
        .raised_at = sqlite3_column_int64(stmt, 4),
    };

    g_array_append_val((GArray *)data, ua);
}

static void row_vm(sqlite3_stmt *stmt, void *data)
{
    StoreVmDump vm = {
        .name = column_dup(stmt, 0),
        .vm_name = column_dup(stmt, 1),
        .vm_uuid = column_dup(stmt, 2),
        .last_host = column_dup(stmt, 3),
        .first_seen = sqlite3_column_int64(stmt, 4),
        .last_seen = sqlite3_column_int64(stmt, 5),
    };

    g_array_append_val((GArray *)data, vm);
}

/* Run the per-LU query @sql for LU row @lu_id into @into. */
static bool dump_lu_part(Store *store, const char *sql,
                         const StoreFilter *filter, gint64 lu_id,
                         void (*row)(sqlite3_stmt *, void *), GArray *into,
                         GError **error)
{
    sqlite3_stmt *stmt = report_prepare(store, sql, filter, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 7, lu_id);
    return report_rows(store, stmt, row, into, error);
}

static bool dump_read(Store *store, const StoreFilter *filter, StoreDump *dump,
                      GError **error)
{
    sqlite3_stmt *stmt;
    guint i;

    stmt = report_prepare(store, sql_dump_lus, filter, error);
    if (stmt == NULL || !report_rows(store, stmt, row_lu, dump->lus, error)) {
        return false;
    }
    for (i = 0; i < dump->lus->len; i++) {
        StoreLuDump *lu = g_ptr_array_index(dump->lus, i);

        if (!dump_lu_part(store, sql_dump_seen, filter, lu->id, row_seen,
                          lu->seen, error) ||
            !dump_lu_part(store, sql_dump_regs, filter, lu->id, row_reg,
                          lu->regs, error) ||
            !dump_lu_part(store, sql_dump_holder, filter, lu->id, row_reg,
                          lu->holder, error) ||
            !dump_lu_part(store, sql_dump_uas, filter, lu->id, row_ua, lu->uas,
                          error)) {
            return false;
        }
    }
    stmt = report_prepare(store, sql_dump_vms, filter, error);
    return stmt != NULL && report_rows(store, stmt, row_vm, dump->vms, error);
}

StoreDump *store_dump(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error)
{
    g_autoptr(StoreDump) dump = g_new0(StoreDump, 1);
    bool ok;

    dump->lus = g_ptr_array_new_with_free_func(lu_dump_free);
    dump->vms = g_array_new(FALSE, TRUE, sizeof(StoreVmDump));
    g_array_set_clear_func(dump->vms, vm_dump_clear);
    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    ok = dump_read(store, filter, dump, error);
    store_rollback(store);
    return ok ? g_steal_pointer(&dump) : NULL;
}

static void history_row_clear(gpointer p)
{
    StoreHistoryRow *row = p;

    g_free(row->host);
    g_free(row->origin);
    g_free(row->lu_name);
    g_free(row->initiator);
    g_free(row->action);
    g_free(row->detail);
    g_strfreev(row->paths);
}

static void row_history(sqlite3_stmt *stmt, void *data)
{
    StoreHistoryRow row = {
        .id = sqlite3_column_int64(stmt, 0),
        .at_ms = sqlite3_column_int64(stmt, 1),
        .host = column_dup(stmt, 2),
        .origin = column_dup(stmt, 3),
        .lu_name = column_dup(stmt, 4),
        .initiator = column_dup(stmt, 5),
        .action = column_dup(stmt, 6),
        .has_fields = sqlite3_column_int(stmt, 7) != 0,
        .type = (uint8_t)sqlite3_column_int(stmt, 8),
        .scope = (uint8_t)sqlite3_column_int(stmt, 9),
        .key = (uint64_t)sqlite3_column_int64(stmt, 10),
        .sa_key = (uint64_t)sqlite3_column_int64(stmt, 11),
        .spec_i_pt = sqlite3_column_int(stmt, 12) != 0,
        .all_tg_pt = sqlite3_column_int(stmt, 13) != 0,
        .aptpl = sqlite3_column_int(stmt, 14) != 0,
        .unreg = sqlite3_column_int(stmt, 15) != 0,
        .status = (uint8_t)sqlite3_column_int(stmt, 16),
        .sense_key = (uint8_t)sqlite3_column_int(stmt, 17),
        .asc = (uint8_t)sqlite3_column_int(stmt, 18),
        .ascq = (uint8_t)sqlite3_column_int(stmt, 19),
        .generation = (uint32_t)sqlite3_column_int64(stmt, 20),
        .detail = column_dup(stmt, 21),
        .has_rtpi = sqlite3_column_type(stmt, 22) != SQLITE_NULL,
        .rtpi = (uint16_t)sqlite3_column_int(stmt, 22),
        .service_action = (uint8_t)sqlite3_column_int(stmt, 23),
        .has_move = sqlite3_column_type(stmt, 24) != SQLITE_NULL,
        .move_rtpi = (uint16_t)sqlite3_column_int(stmt, 24),
        .has_sense = sqlite3_column_type(stmt, 17) != SQLITE_NULL,
    };

    g_array_append_val((GArray *)data, row);
}

/* One text column: names, paths, integrity check lines. */
static void row_name(sqlite3_stmt *stmt, void *data)
{
    g_ptr_array_add(data, column_dup(stmt, 0));
}

/* Fill each row's paths, looking each (LU, host) up once. */
static bool history_paths(Store *store, GArray *rows, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
    guint i;

    for (i = 0; i < rows->len; i++) {
        StoreHistoryRow *row = &g_array_index(rows, StoreHistoryRow, i);
        char *key = g_strdup_printf("%zu:%s%s", strlen(row->lu_name),
                                    row->lu_name, row->host);
        char **paths = g_hash_table_lookup(seen, key);

        if (paths == NULL) {
            g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
            sqlite3_stmt *stmt =
                report_prepare(store, sql_history_paths, NULL, error);

            if (stmt == NULL) {
                g_free(key);
                return false;
            }
            sqlite3_bind_text(stmt, 1, row->lu_name, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, row->host, -1, SQLITE_STATIC);
            if (!report_rows(store, stmt, row_name, found, error)) {
                g_free(key);
                return false;
            }
            g_ptr_array_add(found, NULL);
            paths = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
            g_hash_table_insert(seen, key, paths);
        } else {
            g_free(key);
        }
        row->paths = g_strdupv(paths);
    }
    return true;
}

GArray *store_history(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error)
{
    g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(StoreHistoryRow));
    sqlite3_stmt *stmt;
    bool ok;

    g_array_set_clear_func(rows, history_row_clear);
    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    stmt = report_prepare(store, sql_history, filter, error);
    ok = stmt != NULL && report_rows(store, stmt, row_history, rows, error) &&
         history_paths(store, rows, error);
    store_rollback(store);
    return ok ? g_steal_pointer(&rows) : NULL;
}

GPtrArray *store_lu_names(Store *store, const char *pattern, gint64 deadline,
                          GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    StoreFilter filter = {.lu = pattern};
    sqlite3_stmt *stmt;
    bool ok;

    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    stmt = report_prepare(store, sql_lu_names, &filter, error);
    ok = stmt != NULL && report_rows(store, stmt, row_name, names, error);
    store_rollback(store);
    return ok ? g_steal_pointer(&names) : NULL;
}

bool store_forget_vm(Store *store, const char *name, bool *removed,
                     GError **error)
{
    sqlite3_stmt *stmt = report_prepare(store, sql_forget_vm, NULL, error);

    *removed = false;
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (!report_rows(store, stmt, NULL, NULL, error)) {
        return false;
    }
    *removed = sqlite3_changes(store->db) > 0;
    return true;
}

bool store_check_integrity(Store *store, gint64 deadline, GError **error)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    sqlite3_stmt *stmt;
    bool ok;

    if (!store_begin(store, false, deadline, error)) {
        return false;
    }
    stmt = report_prepare(store, "PRAGMA integrity_check", NULL, error);
    ok = stmt != NULL && report_rows(store, stmt, row_name, problems, error);
    store_rollback(store);
    if (!ok) {
        return false;
    }
    if (problems->len == 1 &&
        strcmp(g_ptr_array_index(problems, 0), "ok") == 0) {
        return true;
    }
    g_ptr_array_add(problems, NULL);
    {
        g_autofree char *list = g_strjoinv("; ", (char **)problems->pdata);

        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                    "%s: integrity check failed: %s", store->path, list);
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Backup, for the softpr tool                                         */
/* ------------------------------------------------------------------ */

/* Open @path, copy the source into it, check and sync it. */
static bool backup_copy(Store *store, const char *path, GError **error)
{
    sqlite3 *dest = NULL;
    sqlite3_backup *backup;
    g_autofree char *check = NULL;
    int rc = sqlite3_open_v2(path, &dest, SQLITE_OPEN_READWRITE, NULL);
    bool ok = false;

    if (rc == SQLITE_OK) {
        backup = sqlite3_backup_init(dest, "main", store->db, "main");
        rc = backup == NULL ? sqlite3_errcode(dest)
                            : sqlite3_backup_step(backup, -1);
        if (backup != NULL) {
            sqlite3_backup_finish(backup);
        }
    }
    if (rc != SQLITE_DONE) {
        g_set_error(error, SOFTPR_ERROR,
                    rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? SOFTPR_ERROR_BUSY
                                                             : SOFTPR_ERROR_IO,
                    "backup to %s: %s", path,
                    dest != NULL ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
        goto out;
    }
    /* A copy of a WAL database would be one too: the copy may go where
     * hosts share it. */
    if (sqlite3_exec(dest,
                     "PRAGMA journal_mode = DELETE; PRAGMA synchronous = "
                     "EXTRA",
                     NULL, NULL, NULL) != SQLITE_OK) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO, "backup to %s: %s",
                    path, sqlite3_errmsg(dest));
        goto out;
    }
    {
        sqlite3_stmt *stmt = NULL;

        if (sqlite3_prepare_v2(dest, "PRAGMA quick_check", -1, &stmt, NULL) ==
                SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW) {
            check = g_strdup((const char *)sqlite3_column_text(stmt, 0));
        }
        sqlite3_finalize(stmt);
    }
    if (g_strcmp0(check, "ok") != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                    "backup to %s: the copy fails its check: %s", path,
                    check != NULL ? check : sqlite3_errmsg(dest));
        goto out;
    }
    ok = true;
out:
    sqlite3_close(dest);
    return ok;
}

/* fsync() @path (a file or a directory). */
static bool sync_path(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO, "syncing %s: %s",
                    path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    close(fd);
    return true;
}

/* Give the synced copy @tmp the name @dest (not over a file unless
 * @replace), and sync the directory. */
static bool backup_publish(const char *tmp, const char *dest, bool replace,
                           GError **error)
{
    g_autofree char *dir = g_path_get_dirname(dest);

    if (!sync_path(tmp, error)) {
        return false;
    }
    if (replace ? rename(tmp, dest) != 0 : link(tmp, dest) != 0) {
        int err = errno;

        g_set_error(error, SOFTPR_ERROR,
                    err == EEXIST ? SOFTPR_ERROR_FAILED : SOFTPR_ERROR_IO,
                    err == EEXIST ? "%s exists already (nothing written)"
                                  : "writing %s: %s",
                    dest, g_strerror(err));
        return false;
    }
    if (!replace) {
        unlink(tmp);
    }
    return sync_path(dir, error);
}

bool store_backup(Store *store, const char *dest, bool replace, gint64 deadline,
                  GError **error)
{
    g_autofree char *tmp = g_strconcat(dest, ".XXXXXX", NULL);
    gint64 objects = 0;
    bool ok;
    int fd;

    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "backup: cannot create a file beside %s: %s", dest,
                    g_strerror(errno));
        return false;
    }
    close(fd);
    /* The snapshot: a read transaction holding the shared lock. */
    ok = store_begin(store, false, deadline, error) &&
         query_int(store, "SELECT count(*) FROM sqlite_schema", &objects,
                   error) &&
         backup_copy(store, tmp, error);
    store_rollback(store);
    ok = ok && backup_publish(tmp, dest, replace, error);
    if (!ok) {
        unlink(tmp);
    }
    return ok;
}
