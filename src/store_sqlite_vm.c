/*
 * store_sqlite_vm: the VM initiator registry (table initiator) in
 * sqlite: the row operations store_vm.c composes into its naming and
 * retention policy.
 */
#include "store_sqlite.h"

static const char sql_vm_select[] =
    "SELECT name, last_host, last_seen FROM initiator WHERE key = ?1";
static const char sql_vm_name_taken[] =
    "SELECT 1 FROM initiator WHERE name = ?1";
static const char sql_vm_insert[] =
    "INSERT INTO initiator (key, name, vm_name, vm_uuid, last_host, "
    "first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
static const char sql_vm_update[] =
    "UPDATE initiator SET vm_name = ?2, vm_uuid = ?3, last_host = ?4, "
    "last_seen = ?5 WHERE key = ?1";
/* A VM's own registrations carry its name, alone or with an ISID. */
static const char sql_vm_prune[] =
    "DELETE FROM initiator WHERE last_seen < ?1 AND NOT EXISTS (SELECT 1 "
    "FROM registration r WHERE r.initiator_name = initiator.name OR "
    "substr(r.initiator_name, 1, length(initiator.name) + 1) = "
    "initiator.name || ',')";
static const char sql_vm_forget[] = "DELETE FROM initiator WHERE name = ?1";

bool store_sqlite_vm_lookup(Store *store, const char *key,
                            StoreVmRecord *record, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_SELECT, sql_vm_select, error);
    int rc;

    record->name = NULL;
    record->last_host = NULL;
    record->last_seen = 0;
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        record->name = store_sqlite_column_dup(stmt, 0);
        record->last_host = store_sqlite_column_dup(stmt, 1);
        record->last_seen = sqlite3_column_int64(stmt, 2);
    }
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "reading an initiator name");
        return false;
    }
    return true;
}

bool store_sqlite_vm_name_taken(Store *store, const char *name, bool *taken,
                                GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_NAME_TAKEN, sql_vm_name_taken, error);
    int rc;

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    store_sqlite_stmt_done(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_sqlite_set_error(store, error, rc, "choosing an initiator name");
        return false;
    }
    *taken = rc == SQLITE_ROW;
    return true;
}

bool store_sqlite_vm_insert(Store *store, const StoreVm *vm, const char *name,
                            gint64 now, GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_INSERT, sql_vm_insert, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, vm->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, vm->vm_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, vm->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, now);
    return store_sqlite_stmt_run(store, stmt, "recording an initiator name",
                                 error);
}

bool store_sqlite_vm_update(Store *store, const StoreVm *vm, gint64 now,
                            GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_UPDATE, sql_vm_update, error);

    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, vm->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, vm->vm_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, vm->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, store->host_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now);
    return store_sqlite_stmt_run(store, stmt, "recording an initiator name",
                                 error);
}

bool store_sqlite_vm_prune(Store *store, gint64 before, unsigned *removed,
                           GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_PRUNE, sql_vm_prune, error);

    *removed = 0;
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_int64(stmt, 1, before);
    if (!store_sqlite_stmt_run(store, stmt, "forgetting idle VMs", error)) {
        return false;
    }
    *removed = (unsigned)sqlite3_changes(store->conn->db);
    return true;
}

bool store_sqlite_vm_forget(Store *store, const char *name, bool *removed,
                            GError **error)
{
    sqlite3_stmt *stmt =
        store_sqlite_stmt(store, STMT_VM_FORGET, sql_vm_forget, error);

    *removed = false;
    if (stmt == NULL) {
        return false;
    }
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (!store_sqlite_stmt_run(store, stmt, "forgetting a VM", error)) {
        return false;
    }
    *removed = sqlite3_changes(store->conn->db) > 0;
    return true;
}
