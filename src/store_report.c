/*
 * store_report: the rows `softpr dump` and `softpr history` show, as
 * backend-neutral structs (store.h): their read transactions, their
 * lifetimes, and the rules a backend does not store (who holds an
 * all-registrants reservation).  The tool formats them (tools/).
 */
#include "store_int.h"

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

static GArray *dump_array(gsize size, GDestroyNotify clear)
{
    GArray *array = g_array_new(FALSE, TRUE, (guint)size);

    g_array_set_clear_func(array, clear);
    return array;
}

StoreLuDump *store_lu_dump_new(void)
{
    StoreLuDump *lu = g_new0(StoreLuDump, 1);

    lu->seen = dump_array(sizeof(StoreSeen), seen_clear);
    lu->regs = dump_array(sizeof(StoreRegDump), reg_dump_clear);
    lu->uas = dump_array(sizeof(StoreUaDump), ua_dump_clear);
    lu->holder = dump_array(sizeof(StoreRegDump), reg_dump_clear);
    return lu;
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

/*
 * Every registrant holds an all-registrants reservation (SPC-4
 * 5.12.10.2.6); the engine stores no holder flag for it.
 */
static void mark_all_registrants(StoreDump *dump)
{
    guint i;
    guint j;

    for (i = 0; i < dump->lus->len; i++) {
        StoreLuDump *lu = g_ptr_array_index(dump->lus, i);

        if (!engine_type_all_registrants(lu->res_type)) {
            continue;
        }
        for (j = 0; j < lu->regs->len; j++) {
            g_array_index(lu->regs, StoreRegDump, j).holder = true;
        }
    }
}

StoreDump *store_dump(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error)
{
    g_autoptr(StoreDump) dump = g_new0(StoreDump, 1);
    bool ok;

    dump->lus = g_ptr_array_new_with_free_func(lu_dump_free);
    dump->vms = dump_array(sizeof(StoreVmDump), vm_dump_clear);
    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    ok = store->backend->dump_read(store, filter, dump, error);
    store_rollback(store);
    if (!ok) {
        return NULL;
    }
    mark_all_registrants(dump);
    return g_steal_pointer(&dump);
}

void store_history_row_clear(gpointer p)
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

GArray *store_history(Store *store, const StoreFilter *filter, gint64 deadline,
                      GError **error)
{
    g_autoptr(GArray) rows =
        dump_array(sizeof(StoreHistoryRow), store_history_row_clear);
    bool ok;

    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    ok = store->backend->history_list(store, filter, rows, error);
    store_rollback(store);
    return ok ? g_steal_pointer(&rows) : NULL;
}

GPtrArray *store_lu_names(Store *store, const char *pattern, gint64 deadline,
                          GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    bool ok;

    if (!store_begin(store, false, deadline, error)) {
        return NULL;
    }
    ok = store->backend->lu_names(store, pattern, names, error);
    store_rollback(store);
    return ok ? g_steal_pointer(&names) : NULL;
}
