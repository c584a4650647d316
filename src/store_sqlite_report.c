/*
 * store_sqlite_report: the rows `softpr dump` shows, read from sqlite:
 * logical units with where they were seen, their registrations, unit
 * attentions and the VM registry, selected by a StoreFilter.  Formatting
 * is the tool's (tools/dump.c, tools/tojson.c), the same for every
 * backend.
 */
#include "store_sqlite.h"

/*
 * The filters, shared by every report so that all show the same rows.
 * Parameters as store_sqlite_report_prepare() binds them; the per-LU queries
 * take the LU's row id as ?7.
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

/* clang-format off */
static const char sql_dump_lus[] =
    "SELECT lu.id, lu.name, lu.id_source, lu.generation, lu.aptpl, "
    "lu.info_lost, lu.res_type, lu.res_scope, lu.created_at FROM lu WHERE "
    FILTER_LU_ROWS " ORDER BY lu.name";

static const char sql_dump_seen[] =
    "SELECT host, path, id_source, first_seen, last_seen FROM lu_seen WHERE "
    "lu_id = ?7 ORDER BY first_seen, host, path";

/* The stored holder flag: store.c adds the all-registrants rule. */
#define REG_COLUMNS                                                            \
    "r.key, r.initiator_name, r.rtpi, r.all_tg_pt, r.holder, "                 \
    "r.host, r.registered_at, r.initiator"

static const char sql_dump_regs[] =
    "SELECT " REG_COLUMNS " FROM registration r "
    "WHERE r.lu_id = ?7 AND " FILTER_REG("r") " ORDER BY r.id";

/* The holder, whatever the filter: the reservation is the LU's. */
static const char sql_dump_holder[] =
    "SELECT " REG_COLUMNS " FROM registration r "
    "WHERE r.lu_id = ?7 AND r.holder ORDER BY r.id LIMIT 1";

static const char sql_dump_uas[] =
    "SELECT u.initiator_name, u.rtpi, u.asc, u.ascq, u.raised_at FROM "
    "unit_attention u WHERE u.lu_id = ?7 AND " FILTER_UA("u") " ORDER BY u.id";

static const char sql_dump_vms[] =
    "SELECT vm.name, vm.vm_name, vm.vm_uuid, vm.last_host, vm.first_seen, "
    "vm.last_seen FROM initiator vm WHERE " FILTER_VM " ORDER BY vm.name";
/* clang-format on */

static const char sql_lu_names[] =
    "SELECT lu.name FROM lu WHERE " FILTER_LU " ORDER BY lu.name";

static void row_lu(sqlite3_stmt *stmt, void *data)
{
    StoreLuDump *lu = store_lu_dump_new();

    lu->id = sqlite3_column_int64(stmt, 0);
    lu->name = store_sqlite_column_dup(stmt, 1);
    lu->id_source = store_sqlite_column_dup(stmt, 2);
    lu->generation = (uint32_t)sqlite3_column_int64(stmt, 3);
    lu->aptpl = sqlite3_column_int(stmt, 4) != 0;
    lu->info_lost = sqlite3_column_int(stmt, 5) != 0;
    lu->res_type = (uint8_t)sqlite3_column_int(stmt, 6);
    lu->res_scope = (uint8_t)sqlite3_column_int(stmt, 7);
    lu->created_at = sqlite3_column_int64(stmt, 8);
    g_ptr_array_add(data, lu);
}

static void row_seen(sqlite3_stmt *stmt, void *data)
{
    StoreSeen seen = {
        .host = store_sqlite_column_dup(stmt, 0),
        .path = store_sqlite_column_dup(stmt, 1),
        .id_source = store_sqlite_column_dup(stmt, 2),
        .first_seen = sqlite3_column_int64(stmt, 3),
        .last_seen = sqlite3_column_int64(stmt, 4),
    };

    g_array_append_val((GArray *)data, seen);
}

static void row_reg(sqlite3_stmt *stmt, void *data)
{
    StoreRegDump reg = {
        .key = (uint64_t)sqlite3_column_int64(stmt, 0),
        .initiator = store_sqlite_column_dup(stmt, 1),
        .rtpi = (uint16_t)sqlite3_column_int(stmt, 2),
        .all_tg_pt = sqlite3_column_int(stmt, 3) != 0,
        .holder = sqlite3_column_int(stmt, 4) != 0,
        .host = store_sqlite_column_dup(stmt, 5),
        .registered_at = sqlite3_column_int64(stmt, 6),
        .transport_id = g_bytes_new(sqlite3_column_blob(stmt, 7),
                                    (gsize)sqlite3_column_bytes(stmt, 7)),
    };

    g_array_append_val((GArray *)data, reg);
}

static void row_ua(sqlite3_stmt *stmt, void *data)
{
    StoreUaDump ua = {
        .initiator = store_sqlite_column_dup(stmt, 0),
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
        .name = store_sqlite_column_dup(stmt, 0),
        .vm_name = store_sqlite_column_dup(stmt, 1),
        .vm_uuid = store_sqlite_column_dup(stmt, 2),
        .last_host = store_sqlite_column_dup(stmt, 3),
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
    sqlite3_stmt *stmt = store_sqlite_report_prepare(store, sql, filter, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 7, lu_id);
    return store_sqlite_report_rows(store, stmt, row, into, error);
}

bool store_sqlite_dump_read(Store *store, const StoreFilter *filter,
                            StoreDump *dump, GError **error)
{
    sqlite3_stmt *stmt;
    guint i;

    stmt = store_sqlite_report_prepare(store, sql_dump_lus, filter, error);
    if (stmt == NULL ||
        !store_sqlite_report_rows(store, stmt, row_lu, dump->lus, error)) {
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
    stmt = store_sqlite_report_prepare(store, sql_dump_vms, filter, error);
    return stmt != NULL &&
           store_sqlite_report_rows(store, stmt, row_vm, dump->vms, error);
}

bool store_sqlite_lu_names(Store *store, const char *pattern, GPtrArray *names,
                           GError **error)
{
    StoreFilter filter = {.lu = pattern};
    sqlite3_stmt *stmt =
        store_sqlite_report_prepare(store, sql_lu_names, &filter, error);

    return stmt != NULL &&
           store_sqlite_report_rows(store, stmt, store_sqlite_row_text, names,
                                    error);
}
