/*
 * store_pg_report.c: the PostgreSQL backend's VM registry, the rows of
 * `softpr dump` and `softpr history` (the same rows, in the same order,
 * as the sqlite backend gives), and its consistency checks.
 */
#include <string.h>

#include "store_pg_int.h"

/* ------------------------------------------------------------------ */
/* VM registry                                                         */
/* ------------------------------------------------------------------ */

/* Run @sql with @p (cleared here); *@changed: rows it touched. */
static bool run_counting(Store *store, const char *what, const char *sql,
                         StorePgParams *p, unsigned *changed, GError **error)
{
    PGresult *res = store_pg_exec_params(store, what, sql, p, error);

    store_pg_params_clear(p);
    if (res == NULL) {
        return false;
    }
    if (changed != NULL) {
        *changed = (unsigned)atoi(PQcmdTuples(res));
    }
    PQclear(res);
    return true;
}

bool store_pg_vm_lookup(Store *store, const char *key, StoreVmRecord *record,
                        GError **error)
{
    StorePgParams p;

    memset(record, 0, sizeof(*record));
    /* Two daemons adding the same VM: the second waits, then finds it. */
    if (store->conn->write) {
        g_autofree char *lock = g_strdup_printf(
            "SELECT pg_advisory_xact_lock(%" G_GINT64_FORMAT ")",
            STORE_PG_LOCK_REGISTRY);
        if (!store_pg_run(store, "locking the VM registry", lock, 0, NULL,
                          error)) {
            return false;
        }
    }
    store_pg_params_init(&p);
    store_pg_param_text(&p, key);
    PGresult *res = store_pg_exec_params(
        store, "reading an initiator name",
        "SELECT name, last_host, last_seen FROM initiator WHERE key = $1", &p,
        error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    if (PQntuples(res) > 0) {
        record->name = store_pg_text(res, 0, 0);
        record->last_host = store_pg_text(res, 0, 1);
        record->last_seen = store_pg_int(res, 0, 2);
    }
    PQclear(res);
    return true;
}

bool store_pg_vm_name_taken(Store *store, const char *name, bool *taken,
                            GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_text(&p, name);
    PGresult *res = store_pg_exec_params(
        store, "choosing an initiator name",
        "SELECT 1 FROM initiator WHERE name = $1", &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    *taken = PQntuples(res) > 0;
    PQclear(res);
    return true;
}

bool store_pg_vm_insert(Store *store, const StoreVm *vm, const char *name,
                        gint64 now, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_text(&p, vm->key);
    store_pg_param_text(&p, name);
    store_pg_param_text(&p, vm->vm_name);
    store_pg_param_text(&p, vm->vm_uuid);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_int(&p, now);
    return run_counting(store, "recording an initiator name",
                        "INSERT INTO initiator (key, name, vm_name, vm_uuid, "
                        "last_host, first_seen, last_seen) VALUES ($1, $2, "
                        "$3, $4, $5, $6, $6)",
                        &p, NULL, error);
}

bool store_pg_vm_update(Store *store, const StoreVm *vm, gint64 now,
                        GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_text(&p, vm->key);
    store_pg_param_text(&p, vm->vm_name);
    store_pg_param_text(&p, vm->vm_uuid);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_int(&p, now);
    return run_counting(store, "recording an initiator name",
                        "UPDATE initiator SET vm_name = $2, vm_uuid = $3, "
                        "last_host = $4, last_seen = $5 WHERE key = $1",
                        &p, NULL, error);
}

bool store_pg_vm_prune(Store *store, gint64 before, unsigned *removed,
                       GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, before);
    /* A VM's own registrations carry its name, alone or with an ISID. */
    return run_counting(
        store, "forgetting idle VMs",
        "DELETE FROM initiator WHERE last_seen < $1 AND NOT EXISTS (SELECT 1 "
        "FROM registration r WHERE r.initiator_name = initiator.name OR "
        "left(r.initiator_name, length(initiator.name) + 1) = "
        "initiator.name || ',')",
        &p, removed, error);
}

bool store_pg_vm_forget(Store *store, const char *name, bool *removed,
                        GError **error)
{
    StorePgParams p;
    unsigned n = 0;

    store_pg_params_init(&p);
    store_pg_param_text(&p, name);
    if (!run_counting(store, "forgetting a VM",
                      "DELETE FROM initiator WHERE name = $1", &p, &n,
                      error)) {
        return false;
    }
    *removed = n > 0;
    return true;
}

/* ------------------------------------------------------------------ */
/* Report rows                                                         */
/* ------------------------------------------------------------------ */

/*
 * A glob as sqlite's GLOB reads it (*, ?, [...] with ^ or ! negating)
 * as an anchored POSIX regular expression for PostgreSQL's ~.  NULL
 * stays NULL.
 */
static char *glob_to_regex(const char *glob)
{
    GString *re;

    if (glob == NULL) {
        return NULL;
    }
    /* Bytes that are not UTF-8 stay as they are: the regex goes to the
     * server as text, escaped as the names it matches are stored
     * (store_pg_encode_text()), and ASCII's metacharacters escape alike
     * either way. */
    re = g_string_new("^");
    for (const char *p = glob; *p != '\0'; p++) {
        if (*p == '*') {
            g_string_append(re, ".*");
        } else if (*p == '?') {
            g_string_append_c(re, '.');
        } else if (*p == '[' && strchr(p + 1, ']') != NULL) {
            const char *end = strchr(p + (p[1] == ']' ? 2 : 1), ']');
            if (end == NULL) {
                end = strchr(p + 1, ']');
            }
            g_string_append_c(re, '[');
            p++;
            if (*p == '^' || *p == '!') {
                g_string_append_c(re, '^');
                p++;
            }
            for (; p < end; p++) {
                if (*p == '\\') {
                    g_string_append_c(re, '\\');
                }
                g_string_append_c(re, *p);
            }
            g_string_append_c(re, ']');
        } else {
            if (strchr(".^$+(){}|\\[]", *p) != NULL) {
                g_string_append_c(re, '\\');
            }
            g_string_append_c(re, *p);
        }
    }
    g_string_append_c(re, '$');
    return g_string_free(re, FALSE);
}

/* The report filter as parameters: $1 LU regex, $2 initiator regex
 * (any case), $3 key; @regexes keeps the strings alive. */
static void filter_params(StorePgParams *p, const StoreFilter *filter,
                          GPtrArray *regexes)
{
    char *lu = glob_to_regex(filter ? filter->lu : NULL);
    char *initiator = glob_to_regex(filter ? filter->initiator : NULL);

    g_ptr_array_add(regexes, lu);
    g_ptr_array_add(regexes, initiator);
    store_pg_param_text(p, lu);
    store_pg_param_text(p, initiator);
    if (filter != NULL && filter->has_key) {
        store_pg_param_int(p, (gint64)filter->key);
    } else {
        store_pg_param_null_int(p);
    }
}

/* Ordering by text as sqlite does (bytes), whatever the database's
 * collation: reports come out the same from either backend. */
#define C_ORDER " COLLATE \"C\""

#define FILTER_LU                                                              \
    "($1::text IS NULL OR lu.name ~ $1 OR EXISTS (SELECT 1 FROM lu_seen s "    \
    "WHERE s.lu_id = lu.id AND s.path ~ $1))"
#define FILTER_REG(r)                                                          \
    "(($2::text IS NULL OR " r ".initiator_name ~* $2) AND "                   \
    "($3::bigint IS NULL OR " r ".key = $3))"
#define FILTER_LU_ROWS                                                         \
    FILTER_LU " AND (($2::text IS NULL AND $3::bigint IS NULL) OR EXISTS "     \
              "(SELECT 1 FROM registration r WHERE r.lu_id = lu.id AND "       \
    FILTER_REG("r") "))"
#define REG_COLUMNS                                                            \
    "r.key, r.initiator_name, r.rtpi, r.all_tg_pt, r.holder, r.host, "         \
    "r.registered_at, r.initiator"

/* Run @sql with the filter and, when @lu_id > 0, the LU's id as $4. */
static PGresult *report_query(Store *store, const char *sql,
                              const StoreFilter *filter, gint64 lu_id,
                              GError **error)
{
    g_autoptr(GPtrArray) regexes = g_ptr_array_new_with_free_func(g_free);
    StorePgParams p;

    store_pg_params_init(&p);
    filter_params(&p, filter, regexes);
    if (lu_id > 0) {
        store_pg_param_int(&p, lu_id);
    }
    PGresult *res = store_pg_exec_params(store, "reading a report", sql, &p,
                                         error);
    store_pg_params_clear(&p);
    return res;
}

static StoreRegDump reg_row(const PGresult *res, int i)
{
    return (StoreRegDump){
        .key = (uint64_t)store_pg_int(res, i, 0),
        .initiator = store_pg_text(res, i, 1),
        .rtpi = (uint16_t)store_pg_int(res, i, 2),
        .all_tg_pt = store_pg_int(res, i, 3) != 0,
        .holder = store_pg_int(res, i, 4) != 0,
        .host = store_pg_text(res, i, 5),
        .registered_at = store_pg_int(res, i, 6),
        .transport_id = store_pg_bytes(res, i, 7),
    };
}

/* The parts of one LU: where seen, registrations, the holder, UAs. */
static bool dump_lu_parts(Store *store, const StoreFilter *filter,
                          StoreLuDump *lu, GError **error)
{
    static const char *const sql[] = {
        "SELECT host, path, id_source, first_seen, last_seen FROM lu_seen "
        "WHERE lu_id = $4 ORDER BY first_seen, host" C_ORDER ", path" C_ORDER,
        "SELECT " REG_COLUMNS " FROM registration r WHERE r.lu_id = $4 AND "
        FILTER_REG("r") " ORDER BY r.id",
        /* The holder, whatever the filter: the reservation is the LU's. */
        "SELECT " REG_COLUMNS " FROM registration r WHERE r.lu_id = $4 AND "
        "r.holder = 1 ORDER BY r.id LIMIT 1",
        "SELECT u.initiator_name, u.rtpi, u.\"asc\", u.ascq, u.raised_at FROM "
        "unit_attention u WHERE u.lu_id = $4 AND ($2::text IS NULL OR "
        "u.initiator_name ~* $2) ORDER BY u.id",
    };
    for (guint part = 0; part < G_N_ELEMENTS(sql); part++) {
        PGresult *res = report_query(store, sql[part], filter, lu->id, error);
        if (res == NULL) {
            return false;
        }
        for (int i = 0; i < PQntuples(res); i++) {
            if (part == 0) {
                StoreSeen seen = {
                    .host = store_pg_text(res, i, 0),
                    .path = store_pg_text(res, i, 1),
                    .id_source = store_pg_text(res, i, 2),
                    .first_seen = store_pg_int(res, i, 3),
                    .last_seen = store_pg_int(res, i, 4),
                };
                g_array_append_val(lu->seen, seen);
            } else if (part == 3) {
                StoreUaDump ua = {
                    .initiator = store_pg_text(res, i, 0),
                    .rtpi = (uint16_t)store_pg_int(res, i, 1),
                    .asc = (uint8_t)store_pg_int(res, i, 2),
                    .ascq = (uint8_t)store_pg_int(res, i, 3),
                    .raised_at = store_pg_int(res, i, 4),
                };
                g_array_append_val(lu->uas, ua);
            } else {
                StoreRegDump reg = reg_row(res, i);
                g_array_append_val(part == 1 ? lu->regs : lu->holder, reg);
            }
        }
        PQclear(res);
    }
    return true;
}

static bool dump_vms(Store *store, const StoreFilter *filter, GArray *vms,
                     GError **error)
{
    PGresult *res = report_query(
        store,
        "SELECT vm.name, vm.vm_name, vm.vm_uuid, vm.last_host, "
        "vm.first_seen, vm.last_seen FROM initiator vm WHERE "
        "(($2::text IS NULL OR vm.name ~* $2 OR coalesce(vm.vm_name, '') ~* "
        "$2) AND (($1::text IS NULL AND $3::bigint IS NULL) OR EXISTS "
        "(SELECT 1 FROM registration r JOIN lu ON lu.id = r.lu_id WHERE "
        "r.initiator_name = vm.name AND " FILTER_LU " AND ($3::bigint IS "
        "NULL OR r.key = $3)))) ORDER BY vm.name" C_ORDER,
        filter, 0, error);

    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        StoreVmDump vm = {
            .name = store_pg_text(res, i, 0),
            .vm_name = store_pg_text(res, i, 1),
            .vm_uuid = store_pg_text(res, i, 2),
            .last_host = store_pg_text(res, i, 3),
            .first_seen = store_pg_int(res, i, 4),
            .last_seen = store_pg_int(res, i, 5),
        };
        g_array_append_val(vms, vm);
    }
    PQclear(res);
    return true;
}

bool store_pg_dump_read(Store *store, const StoreFilter *filter,
                        StoreDump *dump, GError **error)
{
    PGresult *res = report_query(
        store,
        "SELECT lu.id, lu.name, lu.id_source, lu.generation, lu.aptpl, "
        "lu.info_lost, lu.res_type, lu.res_scope, lu.created_at FROM lu "
        "WHERE " FILTER_LU_ROWS " ORDER BY lu.name" C_ORDER,
        filter, 0, error);

    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        StoreLuDump *lu = store_lu_dump_new();

        lu->id = store_pg_int(res, i, 0);
        lu->name = store_pg_text(res, i, 1);
        lu->id_source = store_pg_text(res, i, 2);
        lu->generation = (uint32_t)store_pg_int(res, i, 3);
        lu->aptpl = store_pg_int(res, i, 4) != 0;
        lu->info_lost = store_pg_int(res, i, 5) != 0;
        lu->res_type = (uint8_t)store_pg_int(res, i, 6);
        lu->res_scope = (uint8_t)store_pg_int(res, i, 7);
        lu->created_at = store_pg_int(res, i, 8);
        g_ptr_array_add(dump->lus, lu);
    }
    PQclear(res);
    for (guint i = 0; i < dump->lus->len; i++) {
        if (!dump_lu_parts(store, filter, g_ptr_array_index(dump->lus, i),
                           error)) {
            return false;
        }
    }
    return dump_vms(store, filter, dump->vms, error);
}

bool store_pg_lu_names(Store *store, const char *pattern, GPtrArray *names,
                       GError **error)
{
    StoreFilter filter = {.lu = pattern};
    PGresult *res = report_query(
        store,
        "SELECT lu.name FROM lu WHERE " FILTER_LU " ORDER BY lu.name" C_ORDER,
        &filter, 0, error);

    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        g_ptr_array_add(names, store_pg_text(res, i, 0));
    }
    PQclear(res);
    return true;
}

/* ------------------------------------------------------------------ */
/* History                                                             */
/* ------------------------------------------------------------------ */

/* The newest $5 rows matching the filter (all when NULL), oldest first;
 * history names LUs by value, a path matches through the LU so named. */
static const char sql_history[] =
    "SELECT h.id, h.at_ms, h.host, h.origin, h.lu_name, h.initiator_name, "
    "h.action, h.service_action IS NOT NULL, h.type, h.scope, h.key, "
    "h.sa_key, h.spec_i_pt, h.all_tg_pt, h.aptpl, h.unreg, h.status, "
    "h.sense_key, h.\"asc\", h.ascq, h.generation, h.detail, h.rtpi, "
    "h.service_action, h.move_rtpi FROM (SELECT * FROM history h WHERE "
    "($1::text IS NULL OR h.lu_name ~ $1 OR EXISTS (SELECT 1 FROM lu JOIN "
    "lu_seen s ON s.lu_id = lu.id WHERE lu.name = h.lu_name AND "
    "s.path ~ $1)) AND ($2::text IS NULL OR h.initiator_name ~* $2) AND "
    "($3::bigint IS NULL OR h.key = $3 OR h.sa_key = $3) AND "
    "($4::bigint IS NULL OR h.at_ms >= $4) ORDER BY h.id DESC LIMIT $5) h "
    "ORDER BY h.id";

static StoreHistoryRow history_row(const PGresult *res, int i)
{
    return (StoreHistoryRow){
        .id = store_pg_int(res, i, 0),
        .at_ms = store_pg_int(res, i, 1),
        .host = store_pg_text(res, i, 2),
        .origin = store_pg_text(res, i, 3),
        .lu_name = store_pg_text(res, i, 4),
        .initiator = store_pg_text(res, i, 5),
        .action = store_pg_text(res, i, 6),
        .has_fields = strcmp(PQgetvalue(res, i, 7), "t") == 0,
        .type = (uint8_t)store_pg_int(res, i, 8),
        .scope = (uint8_t)store_pg_int(res, i, 9),
        .key = (uint64_t)store_pg_int(res, i, 10),
        .sa_key = (uint64_t)store_pg_int(res, i, 11),
        .spec_i_pt = store_pg_int(res, i, 12) != 0,
        .all_tg_pt = store_pg_int(res, i, 13) != 0,
        .aptpl = store_pg_int(res, i, 14) != 0,
        .unreg = store_pg_int(res, i, 15) != 0,
        .status = (uint8_t)store_pg_int(res, i, 16),
        .has_sense = !store_pg_is_null(res, i, 17),
        .sense_key = (uint8_t)store_pg_int(res, i, 17),
        .asc = (uint8_t)store_pg_int(res, i, 18),
        .ascq = (uint8_t)store_pg_int(res, i, 19),
        .generation = (uint32_t)store_pg_int(res, i, 20),
        .detail = store_pg_text(res, i, 21),
        .has_rtpi = !store_pg_is_null(res, i, 22),
        .rtpi = (uint16_t)store_pg_int(res, i, 22),
        .service_action = (uint8_t)store_pg_int(res, i, 23),
        .has_move = !store_pg_is_null(res, i, 24),
        .move_rtpi = (uint16_t)store_pg_int(res, i, 24),
    };
}

/* Where the row's host has seen its LU, most recently first. */
static bool history_paths(Store *store, StoreHistoryRow *row, GError **error)
{
    StorePgParams p;
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);

    store_pg_params_init(&p);
    store_pg_param_text(&p, row->lu_name);
    store_pg_param_text(&p, row->host);
    PGresult *res = store_pg_exec_params(
        store, "reading where an LU was seen",
        "SELECT s.path FROM lu JOIN lu_seen s ON s.lu_id = lu.id WHERE "
        "lu.name = $1 AND s.host = $2 ORDER BY s.last_seen DESC, s.path"
        C_ORDER,
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        g_ptr_array_add(found, store_pg_text(res, i, 0));
    }
    PQclear(res);
    g_ptr_array_add(found, NULL);
    row->paths = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
    return true;
}

bool store_pg_history_list(Store *store, const StoreFilter *filter,
                           GArray *rows, GError **error)
{
    g_autoptr(GPtrArray) regexes = g_ptr_array_new_with_free_func(g_free);
    StorePgParams p;

    store_pg_params_init(&p);
    filter_params(&p, filter, regexes);
    if (filter != NULL && filter->since_ms > 0) {
        store_pg_param_int(&p, filter->since_ms);
    } else {
        store_pg_param_null_int(&p);
    }
    if (filter != NULL && filter->limit > 0) {
        store_pg_param_int(&p, filter->limit);
    } else {
        store_pg_param_null_int(&p); /* LIMIT NULL: all */
    }
    PGresult *res = store_pg_exec_params(store, "reading the history",
                                         sql_history, &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        StoreHistoryRow row = history_row(res, i);
        g_array_append_val(rows, row);
    }
    PQclear(res);
    for (guint i = 0; i < rows->len; i++) {
        if (!history_paths(store, &g_array_index(rows, StoreHistoryRow, i),
                           error)) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

bool store_pg_check_integrity(Store *store, GPtrArray *problems,
                              GError **error)
{
    /* The server keeps its own files consistent; what softpr can break
     * is the PR invariant: a reservation other than all-registrants has
     * exactly one holder, and none holds without a reservation. */
    PGresult *res = store_pg_exec(
        store, "checking the database",
        "SELECT lu.name, lu.res_type, count(r.id) FILTER (WHERE r.holder = 1) "
        "FROM lu LEFT JOIN registration r ON r.lu_id = lu.id GROUP BY lu.id "
        "HAVING count(r.id) FILTER (WHERE r.holder = 1) <> CASE WHEN "
        "lu.res_type IN (0, 7, 8) THEN 0 ELSE 1 END ORDER BY lu.name" C_ORDER,
        0, NULL, NULL, NULL, NULL, error);

    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        g_ptr_array_add(problems,
                        g_strdup_printf("logical unit %s: reservation type %s "
                                        "with %s holders",
                                        PQgetvalue(res, i, 0),
                                        PQgetvalue(res, i, 1),
                                        PQgetvalue(res, i, 2)));
    }
    PQclear(res);
    return true;
}

bool store_pg_check_writable(Store *store, GError **error)
{
    return store_pg_run(store, "writing to the database",
                        "INSERT INTO softpr_meta (key, value) VALUES "
                        "('writable-check', 'x') ON CONFLICT (key) DO UPDATE "
                        "SET value = excluded.value",
                        0, NULL, error);
}
