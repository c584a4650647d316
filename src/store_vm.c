/*
 * store_vm: the policy of the VM initiator registry (store.h): which
 * initiator name a VM gets, when its entry is rewritten, and when idle
 * entries are forgotten, composed from the backend's row operations.
 */
#include "store_int.h"

#include <string.h>

#include "tid.h"

/* How old a VM's last_seen may grow while it stays on one host. */
#define VM_SEEN_REFRESH_S (24 * 3600)

/*
 * Look up @key: *@name (NULL: unknown), and whether it was last seen on
 * this host within the last VM_SEEN_REFRESH_S (else it is to be recorded
 * again).
 */
static bool vm_lookup(Store *store, const char *key, char **name, bool *here,
                      GError **error)
{
    StoreVmRecord record;

    *name = NULL;
    *here = false;
    if (!store->backend->vm_lookup(store, key, &record, error)) {
        return false;
    }
    if (record.name != NULL) {
        *here = g_strcmp0(record.last_host, store->host_id) == 0 &&
                record.last_seen > store_now_seconds() - VM_SEEN_REFRESH_S;
    }
    *name = record.name;
    g_free(record.last_host);
    return true;
}

/* Forget the VMs that hold no registration and have not been seen for
 * vm_keep_days; inside the write transaction that adds one. */
static bool prune_vms(Store *store, GError **error)
{
    unsigned removed = 0;

    if (store->vm_keep_days == 0) {
        return true;
    }
    if (!store->backend->vm_prune(
            store, store_now_seconds() - (gint64)store->vm_keep_days * 86400,
            &removed, error)) {
        return false;
    }
    if (removed > 0) {
        g_info("forgot %u VM(s) with no registration, not seen for %u days",
               removed, store->vm_keep_days);
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
        bool taken = false;

        if (!store->backend->vm_name_taken(store, candidate, &taken, error)) {
            return NULL;
        }
        if (!taken) {
            return g_steal_pointer(&candidate);
        }
    }
}

/* In a write transaction: add @vm under a free name, or record where it
 * is now.  *@name: its initiator name. */
static bool vm_record(Store *store, const StoreVm *vm, char **name,
                      GError **error)
{
    bool here = false;

    if (!vm_lookup(store, vm->key, name, &here, error)) {
        return false;
    }
    if (*name != NULL) {
        return store->backend->vm_update(store, vm, store_now_seconds(), error);
    }
    if (!prune_vms(store, error)) {
        return false;
    }
    *name = free_vm_name(store, vm->preferred_name, error);
    return *name != NULL && store->backend->vm_insert(
                                store, vm, *name, store_now_seconds(), error);
}

bool store_vm_initiator(Store *store, const StoreVm *vm, gint64 deadline,
                        char **name, GError **error)
{
    bool here = false;
    bool ok;

    /* Usually known and last seen here: a read is enough. */
    if (!store_begin(store, false, deadline, error)) {
        *name = NULL;
        return false;
    }
    ok = vm_lookup(store, vm->key, name, &here, error);
    store_rollback(store);
    if (!ok) {
        return false;
    }
    if (*name != NULL && here) {
        return true;
    }
    g_clear_pointer(name, g_free);

    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    if (!vm_record(store, vm, name, error) || !store_commit(store, error)) {
        store_rollback(store);
        g_clear_pointer(name, g_free);
        return false;
    }
    return true;
}

bool store_forget_vm(Store *store, const char *name, bool *removed,
                     GError **error)
{
    return store->backend->vm_forget(store, name, removed, error);
}
