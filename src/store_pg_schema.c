/*
 * store_pg_schema.c: the PostgreSQL schema: the numbered migrations of
 * schema/pg/ (compiled in), applied in one transaction under an
 * advisory lock, and the check that refuses a database that is not
 * softpr's or was written by a newer softpr.
 */
#include <stdlib.h>
#include <string.h>

#include "pg-schema-resources.h"
#include "store_pg_int.h"

#define PG_SCHEMA_DIR "/org/softpr/pg-schema"
#define PG_APPLICATION "softpr"

/* Built once: GLib's lazy static resource init is not thread-safe. */
static GResource *pg_schema_resource(void)
{
    static gsize once;
    static GResource *resource;

    if (g_once_init_enter(&once)) {
        resource = softpr_pg_schema_get_resource();
        g_once_init_leave(&once, 1);
    }
    return resource;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "001-initial.sql", ... in order. */
static char **migrations_sorted(void)
{
    char **names = g_resource_enumerate_children(
        pg_schema_resource(), PG_SCHEMA_DIR, G_RESOURCE_LOOKUP_FLAGS_NONE,
        NULL);

    if (names == NULL) {
        return g_new0(char *, 1);
    }
    qsort(names, g_strv_length(names), sizeof(char *), compare_names);
    return names;
}

int store_pg_schema_version(void)
{
    g_auto(GStrv) names = migrations_sorted();
    guint n = g_strv_length(names);

    return n == 0 ? 0 : atoi(names[n - 1]);
}

/*
 * The schema version of the database (0: none yet), or -1 with @error
 * set when it is not softpr's or is newer than this build.
 */
static int database_version(Store *store, GError **error)
{
    g_autofree char *name = store_pg_describe_conninfo(store->path);
    PGresult *res = store_pg_exec(
        store, "looking for the schema",
        "SELECT to_regclass('softpr_meta') IS NOT NULL, count(*) "
        "FROM pg_tables WHERE schemaname = current_schema()",
        0, NULL, NULL, NULL, NULL, error);
    if (res == NULL) {
        return -1;
    }
    bool has_meta = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    gint64 tables = store_pg_int(res, 0, 1);
    PQclear(res);
    if (!has_meta && tables > 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (it holds other tables)",
                    name);
        return -1;
    }
    if (!has_meta) {
        return 0;
    }
    res = store_pg_exec(
        store, "reading the schema version",
        "SELECT (SELECT value FROM softpr_meta WHERE key = 'application'), "
        "(SELECT value FROM softpr_meta WHERE key = 'schema_version')",
        0, NULL, NULL, NULL, NULL, error);
    if (res == NULL) {
        return -1;
    }
    g_autofree char *app = store_pg_text(res, 0, 0);
    g_autofree char *version = store_pg_text(res, 0, 1);
    PQclear(res);
    if (g_strcmp0(app, PG_APPLICATION) != 0 || version == NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN,
                    "%s is not a softpr database (application %s)", name,
                    app ? app : "unknown");
        return -1;
    }
    int v = atoi(version);
    if (v > store_pg_schema_version()) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NEWER,
                    "%s has schema version %d, newer than this softpr's %d",
                    name, v, store_pg_schema_version());
        return -1;
    }
    return v;
}

/* Apply the migrations above @from, then record the version. */
static bool apply_migrations(Store *store, int from, GError **error)
{
    g_auto(GStrv) names = migrations_sorted();

    for (guint i = 0; names[i] != NULL; i++) {
        if (atoi(names[i]) <= from) {
            continue;
        }
        g_autofree char *rpath = g_build_path("/", PG_SCHEMA_DIR, names[i],
                                              NULL);
        g_autoptr(GBytes) sql = g_resource_lookup_data(
            pg_schema_resource(), rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
        g_autofree char *what =
            g_strdup_printf("applying schema migration pg/%s", names[i]);
        g_autofree char *text =
            g_strndup(g_bytes_get_data(sql, NULL), g_bytes_get_size(sql));
        if (!store_pg_run(store, what, text, 0, NULL, error)) {
            return false;
        }
    }
    g_autofree char *version = g_strdup_printf("%d", store_pg_schema_version());
    const char *params[] = {PG_APPLICATION, version};
    return store_pg_run(
        store, "recording the schema version",
        "INSERT INTO softpr_meta (key, value) VALUES ('application', $1), "
        "('schema_version', $2) ON CONFLICT (key) DO UPDATE SET "
        "value = excluded.value",
        2, params, error);
}

bool store_pg_schema_prepare(Store *store, GError **error)
{
    /* Usually current: one read, no lock. */
    int version = database_version(store, error);
    if (version < 0) {
        return false;
    }
    if (version == store_pg_schema_version()) {
        return true;
    }
    if (version == 0 && !store->conn->create) {
        g_autofree char *name = store_pg_describe_conninfo(store->path);
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "%s holds no softpr schema yet", name);
        return false;
    }
    /* Daemons starting together: one migrates, the others wait for its
     * lock and then find the schema current. */
    g_autofree char *lock = g_strdup_printf(
        "BEGIN; SELECT pg_advisory_xact_lock(%" G_GINT64_FORMAT ")",
        STORE_PG_LOCK_MIGRATE);
    if (!store_pg_run(store, "locking the schema", lock, 0, NULL, error)) {
        return false;
    }
    version = database_version(store, error);
    if (version < 0 ||
        (version < store_pg_schema_version() &&
         !apply_migrations(store, version, error)) ||
        !store_pg_run(store, "committing the schema", "COMMIT", 0, NULL,
                      error)) {
        if (store->conn->pg != NULL &&
            PQtransactionStatus(store->conn->pg) != PQTRANS_IDLE &&
            !store_pg_run(store, "rolling back the schema", "ROLLBACK", 0,
                          NULL, NULL)) {
            store_pg_disconnect(store->conn);
        }
        return false;
    }
    return true;
}
