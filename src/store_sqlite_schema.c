/*
 * store_sqlite_schema: the sqlite database's identity, schema version and
 * journal mode: the numbered migrations compiled in from schema/, applied
 * in one transaction, and the checks that refuse a foreign or newer file
 * or a WAL file where the rollback journal is required.
 */
#include "store_sqlite.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "schema-resources.h"

#define SCHEMA_RESOURCE_DIR "/org/softpr/schema"

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

int store_sqlite_schema_version(void)
{
    g_auto(GStrv) names = migrations_sorted();
    guint n = g_strv_length(names);

    return n == 0 ? 0 : atoi(names[n - 1]);
}

/* Refuse a file that is some other program's (before migrating it). */
static bool check_foreign(Store *store, GError **error)
{
    gint64 app_id = 0;
    gint64 version = 0;
    gint64 objects = 0;

    if (!store_sqlite_query_int(store, "PRAGMA application_id", &app_id,
                                error) ||
        !store_sqlite_query_int(store, "PRAGMA user_version", &version,
                                error) ||
        !store_sqlite_query_int(store, "SELECT count(*) FROM sqlite_schema",
                                &objects, error)) {
        return false;
    }
    if (app_id == 0 && version == 0 && objects > 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (it holds other tables)",
                    store->path);
        return false;
    }
    if (app_id != 0 && app_id != STORE_APPLICATION_ID) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (application_id 0x%08x)",
                    store->path, (unsigned)app_id);
        return false;
    }
    return true;
}

/* Run migration resource @name. */
static bool apply_migration(Store *store, const char *name, GError **error)
{
    g_autofree char *rpath = g_build_path("/", SCHEMA_RESOURCE_DIR, name, NULL);
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) sql = g_resource_lookup_data(
        schema_resource(), rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, &local);
    g_autofree char *what = NULL;

    if (sql == NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FAILED,
                    "schema migration %s is missing: %s", name, local->message);
        return false;
    }
    what = g_strdup_printf("applying schema migration %s", name);
    return store_sqlite_exec(store, g_bytes_get_data(sql, NULL), what, error);
}

/* Apply every migration above the file's version, in one transaction. */
static bool migrate(Store *store, GError **error)
{
    g_auto(GStrv) names = migrations_sorted();
    g_autofree char *pragmas =
        g_strdup_printf("PRAGMA application_id = %d; PRAGMA user_version = %d",
                        STORE_APPLICATION_ID, store_sqlite_schema_version());
    gint64 version = 0;
    guint i;

    if (!store_sqlite_exec(store, "BEGIN IMMEDIATE",
                           "starting the schema migration", error)) {
        return false;
    }
    /* Another process may have migrated while we waited for the lock. */
    if (!check_foreign(store, error) ||
        !store_sqlite_query_int(store, "PRAGMA user_version", &version,
                                error)) {
        goto fail;
    }
    for (i = 0; names[i] != NULL; i++) {
        if (atoi(names[i]) > version &&
            !apply_migration(store, names[i], error)) {
            goto fail;
        }
    }
    if (!store_sqlite_exec(store, pragmas, "recording the schema version",
                           error) ||
        !store_sqlite_exec(store, "COMMIT", "committing the schema migration",
                           error)) {
        goto fail;
    }
    return true;
fail:
    sqlite3_exec(store->conn->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

bool store_sqlite_schema_check(Store *store, GError **error)
{
    gint64 app_id = 0;
    gint64 version = 0;
    int latest = store_sqlite_schema_version();

    if (!store_sqlite_query_int(store, "PRAGMA application_id", &app_id,
                                error) ||
        !store_sqlite_query_int(store, "PRAGMA user_version", &version,
                                error)) {
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

bool store_sqlite_journal_check(Store *store, GError **error)
{
    const char *want = store->journal == STORE_JOURNAL_WAL ? "wal" : "delete";
    g_autofree char *mode = NULL;
    g_autofree char *set = NULL;

    mode = store_sqlite_query_text(store, "PRAGMA journal_mode", error);
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
    set = store_sqlite_query_text(store,
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
