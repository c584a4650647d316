/*
 * test_store_backend: the contract every store backend keeps, through
 * the public store API only, so that the same tests run on each: opening
 * and migrating, transactions and savepoints, LU state round trips,
 * history, the VM registry, the report rows the tool formats, and lock
 * waits that end BUSY at the deadline.
 *
 * Every test runs once per backend (testutil_run_per_backend_with()),
 * in the groups test_store_backend/sqlite and .../PostgreSQL, on an
 * empty database of its own; the PostgreSQL group skips without the
 * server binaries.
 */
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

#include "testutil.h"

#include "error.h"
#include "scsi.h"
#include "store.h"

/* A test's database and the options that open it. */
typedef struct Fixture {
    const TestBackend *backend;
    StoreOptions options;
} Fixture;

/* testutil_run_per_backend_with()'s setup: options for the test's own
 * empty database (a PostgreSQL one connects and creates the schema with
 * the time a loaded test machine needs). */
static int fixture_setup(TestStore *s)
{
    Fixture *f = g_new0(Fixture, 1);

    f->backend = s->backend;
    f->options = testutil_store_db_options(s);
    s->priv = f;
    return 0;
}

static void fixture_teardown(TestStore *s)
{
    g_free(s->priv);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define LU "naa.6001405aaaaaaaaa"

static const StoreLuInfo lu_here = {
    .name = LU,
    .id_source = "naa",
    .path = "/dev/sda",
};

/* The test's fixture; skips the test when its backend cannot run. */
static Fixture *fixture(void **state)
{
    return testutil_store(state)->priv;
}

static Store *open_ok(Fixture *f)
{
    GError *error = NULL;
    Store *store = store_open(&f->options, &error);

    if (store == NULL) {
        fail_msg("%s: store_open: %s", f->backend->name, error->message);
    }
    return store;
}

static gint64 soon(void)
{
    return g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
}

static TransportId tid(const char *name)
{
    TransportId id;

    assert_true(tid_from_iscsi_name(name, &id, NULL));
    return id;
}

static void add_reg(PrState *s, const char *name, uint16_t rtpi, uint64_t key,
                    bool holder)
{
    PrRegistration reg = {
        .initiator = tid(name),
        .rtpi = rtpi,
        .key = key,
        .holder = holder,
    };

    g_array_append_val(s->regs, reg);
}

static PrState *load(Store *store, const StoreLuInfo *lu, gint64 *lu_id,
                     bool *stale)
{
    PrState *s = pr_state_new();
    gint64 id = 0;
    bool st = false;

    assert_true(store_begin(store, false, soon(), NULL));
    assert_true(store_load_state(store, lu, s, &id, &st, NULL));
    store_rollback(store);
    if (lu_id != NULL) {
        *lu_id = id;
    }
    if (stale != NULL) {
        *stale = st;
    }
    return s;
}

/* Write @after over what the database holds for @lu, in one commit. */
static void save(Store *store, const StoreLuInfo *lu, const PrState *after)
{
    g_autoptr(PrState) before = pr_state_new();
    gint64 id = 0;
    bool stale = false;

    assert_true(store_begin(store, true, soon(), NULL));
    assert_true(store_load_state(store, lu, before, &id, &stale, NULL));
    assert_true(store_save_state(store, id, lu, before, after, NULL));
    assert_true(store_commit(store, NULL));
}

/* A state with one reservation holder (SPC-4 5.12.7). */
static PrState *reserved_state(void)
{
    PrState *s = pr_state_new();

    s->generation = 3;
    s->aptpl = true;
    s->res_type = PR_TYPE_WRITE_EXCLUSIVE;
    add_reg(s, "iqn.2026-11.test:a", 1, 0xa, true);
    add_reg(s, "iqn.2026-11.test:b", 2, 0xb, false);
    return s;
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */
/* ------------------------------------------------------------------ */

/* Opening creates and migrates an empty database; it opens again
 * without create, and says which backend it is for the logs. */
static void test_open_migrate(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    g_autofree char *what = store_describe(store);

    assert_true(store_schema_version() > 0);
    assert_non_null(strstr(what, f->backend->name));
    assert_true(store_check_integrity(store, soon(), NULL));
    assert_true(store_check_writable(store, soon(), NULL));
    store_close(store);
    f->options.create = false;
    store_close(open_ok(f));
}

/* A rollback leaves nothing; a commit is seen by another connection. */
static void test_transactions(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    Store *other = open_ok(f);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) after = reserved_state();
    g_autoptr(PrState) seen = NULL;
    gint64 id = -1;

    assert_false(store_in_transaction(store));
    assert_true(store_begin(store, true, soon(), NULL));
    assert_true(store_in_transaction(store));
    assert_true(store_save_state(store, 0, &lu_here, empty, after, NULL));
    store_rollback(store);
    assert_false(store_in_transaction(store));
    seen = load(other, &lu_here, &id, NULL);
    assert_int_equal(id, 0);
    assert_int_equal(seen->regs->len, 0);
    g_clear_pointer(&seen, pr_state_free);

    save(store, &lu_here, after);
    seen = load(other, &lu_here, &id, NULL);
    assert_true(id > 0);
    assert_true(pr_state_equal(seen, after));
    store_close(other);
    store_close(store);
}

/* Group commit's unit: a savepoint undone alone keeps the changes made
 * before it; one released is committed with them. */
static void test_savepoints(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) first = reserved_state();
    g_autoptr(PrState) second = reserved_state();
    g_autoptr(PrState) third = reserved_state();
    g_autoptr(PrState) loaded = pr_state_new();
    g_autoptr(PrState) seen = NULL;
    gint64 id = 0;
    bool stale = false;

    add_reg(second, "iqn.2026-11.test:c", 1, 0xc, false);
    second->generation++;
    add_reg(third, "iqn.2026-11.test:d", 1, 0xd, false);
    third->generation++;
    assert_true(store_begin(store, true, soon(), NULL));
    assert_true(store_save_state(store, 0, &lu_here, empty, first, NULL));
    assert_true(store_load_state(store, &lu_here, loaded, &id, &stale, NULL));
    assert_true(store_savepoint(store, NULL));
    assert_true(store_save_state(store, id, &lu_here, first, second, NULL));
    store_savepoint_rollback(store);
    assert_true(store_in_transaction(store));
    assert_true(store_savepoint(store, NULL));
    assert_true(store_save_state(store, id, &lu_here, first, third, NULL));
    assert_true(store_savepoint_release(store, NULL));
    assert_true(store_commit(store, NULL));
    seen = load(store, &lu_here, NULL, NULL);
    assert_true(pr_state_equal(seen, third));
    store_close(store);
}

/*
 * Every field of the PR state survives a round trip (SPC-4 5.12: keys,
 * ports, the holder, APTPL, PRgeneration, pending unit attentions), a
 * save writes only the difference, and a load says whether the LU was
 * last seen elsewhere.
 */
static void test_state_round_trip(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    g_autoptr(PrState) s = reserved_state();
    g_autoptr(PrState) changed = NULL;
    g_autoptr(PrState) seen = NULL;
    PrUnitAttention ua = {.initiator = tid("iqn.2026-11.test:b"),
                          .rtpi = 2,
                          .asc = 0x2a,
                          .ascq = 0x03};
    PrRegistration all_ports = {
        .initiator = tid("iqn.2026-11.test:e"), .all_tg_pt = true, .key = 0xe};
    StoreLuInfo elsewhere = {
        .name = LU, .id_source = "naa", .path = "/dev/sdz"};
    bool stale = true;

    s->info_lost = true;
    g_array_append_val(s->uas, ua);
    g_array_append_val(s->regs, all_ports);
    save(store, &lu_here, s);
    seen = load(store, &lu_here, NULL, &stale);
    assert_true(pr_state_equal(seen, s));
    assert_false(stale);
    g_clear_pointer(&seen, pr_state_free);

    /* Key B changed, A released its reservation, the UA consumed. */
    changed = pr_state_copy(s);
    g_array_index(changed->regs, PrRegistration, 1).key = 0xbb;
    g_array_index(changed->regs, PrRegistration, 0).holder = false;
    changed->res_type = PR_TYPE_NONE;
    g_array_set_size(changed->uas, 0);
    changed->generation++;
    save(store, &lu_here, changed);
    seen = load(store, &lu_here, NULL, NULL);
    assert_true(pr_state_equal(seen, changed));
    g_clear_pointer(&seen, pr_state_free);

    seen = load(store, &elsewhere, NULL, &stale);
    assert_true(stale);
    store_close(store);
}

/* History: PR OUT fields, sense codes and the filter, in the report
 * rows the tool formats (oldest first). */
static void test_history(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    TransportId a = tid("iqn.2026-11.test:a");
    PrOutFields reg = {.service_action = PR_OUT_REGISTER, .sark = 0xa};
    PrOutFields move = {.service_action = PR_OUT_REGISTER_AND_MOVE,
                        .type = PR_TYPE_WRITE_EXCLUSIVE,
                        .rk = 0xa,
                        .sark = 0xf,
                        .unreg = true,
                        .move_rtpi = 2};
    uint8_t sense[18] = {
        0x70, 0, SCSI_KEY_ILLEGAL_REQUEST, [7] = 10, [12] = 0x26, [13] = 0x00};
    StoreHistoryEntry e1 = {.origin = "softprd",
                            .action = "REGISTER",
                            .initiator = &a,
                            .rtpi = 1,
                            .fields = &reg,
                            .generation = 1};
    StoreHistoryEntry e2 = {.origin = "softprd",
                            .action = "REGISTER AND MOVE",
                            .initiator = &a,
                            .rtpi = 1,
                            .fields = &move,
                            .status = SCSI_STATUS_CHECK_CONDITION,
                            .sense = sense,
                            .generation = 1};
    StoreHistoryEntry e3 = {.origin = "softpr",
                            .action = "clear",
                            .generation = 2,
                            .detail = "by hand"};
    StoreFilter all = {0};
    StoreFilter by_key = {.has_key = true, .key = 0xf};
    g_autoptr(GArray) rows = NULL;
    const StoreHistoryRow *r;

    assert_true(store_history_enabled(store));
    assert_true(store_begin(store, true, soon(), NULL));
    assert_true(store_add_history(store, LU, &e1, NULL));
    assert_true(store_add_history(store, LU, &e2, NULL));
    assert_true(store_add_history(store, LU, &e3, NULL));
    assert_true(store_commit(store, NULL));

    rows = store_history(store, &all, soon(), NULL);
    assert_int_equal(rows->len, 3);
    r = &g_array_index(rows, StoreHistoryRow, 0);
    assert_string_equal(r->action, "REGISTER");
    assert_true(r->has_fields && !r->has_move && !r->has_sense);
    assert_int_equal(r->sa_key, 0xa);
    r = &g_array_index(rows, StoreHistoryRow, 1);
    assert_true(r->has_move && r->unreg);
    assert_int_equal(r->move_rtpi, 2);
    assert_true(r->has_sense);
    assert_int_equal(r->sense_key, SCSI_KEY_ILLEGAL_REQUEST);
    assert_int_equal(r->asc, 0x26);
    r = &g_array_index(rows, StoreHistoryRow, 2);
    assert_null(r->initiator);
    assert_false(r->has_fields);
    assert_string_equal(r->detail, "by hand");
    g_clear_pointer(&rows, g_array_unref);

    rows = store_history(store, &by_key, soon(), NULL);
    assert_int_equal(rows->len, 1);
    assert_string_equal(g_array_index(rows, StoreHistoryRow, 0).action,
                        "REGISTER AND MOVE");
    store_close(store);
}

/* History keeps the newest history_keep_rows rows. */
static void test_history_retention(void **state)
{
    Fixture *f = fixture(state);
    Store *store;
    StoreHistoryEntry e = {.origin = "softpr", .action = "clear"};
    StoreFilter all = {0};
    g_autoptr(GArray) rows = NULL;
    unsigned i;

    f->options.history_keep_rows = 2;
    store = open_ok(f);
    for (i = 1; i <= 4; i++) {
        e.generation = i;
        assert_true(store_begin(store, true, soon(), NULL));
        assert_true(store_add_history(store, LU, &e, NULL));
        assert_true(store_commit(store, NULL));
    }
    rows = store_history(store, &all, soon(), NULL);
    assert_int_equal(rows->len, 2);
    assert_int_equal(g_array_index(rows, StoreHistoryRow, 0).generation, 3);
    assert_int_equal(g_array_index(rows, StoreHistoryRow, 1).generation, 4);
    store_close(store);
}

/* The VM registry: a VM keeps its name, another that prefers it gets a
 * suffix, and a forgotten one is gone. */
static void test_vm_registry(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    StoreVm one = {.key = "uuid:1",
                   .preferred_name = "iqn.2026-11.test:vm",
                   .vm_name = "one",
                   .vm_uuid = "1"};
    StoreVm two = {.key = "uuid:2",
                   .preferred_name = "iqn.2026-11.test:vm",
                   .vm_name = "two",
                   .vm_uuid = "2"};
    g_autofree char *name1 = NULL;
    g_autofree char *again = NULL;
    g_autofree char *name2 = NULL;
    g_autoptr(StoreDump) dump = NULL;
    StoreFilter all = {0};
    bool removed = false;

    assert_true(store_vm_initiator(store, &one, soon(), &name1, NULL));
    assert_string_equal(name1, "iqn.2026-11.test:vm");
    assert_true(store_vm_initiator(store, &one, soon(), &again, NULL));
    assert_string_equal(again, name1);
    assert_true(store_vm_initiator(store, &two, soon(), &name2, NULL));
    assert_string_equal(name2, "iqn.2026-11.test:vm-2");

    dump = store_dump(store, &all, soon(), NULL);
    assert_int_equal(dump->vms->len, 2);
    assert_string_equal(g_array_index(dump->vms, StoreVmDump, 1).vm_name,
                        "two");
    g_clear_pointer(&dump, store_dump_free);

    assert_true(store_begin(store, true, soon(), NULL));
    assert_true(store_forget_vm(store, name2, &removed, NULL));
    assert_true(removed);
    assert_true(
        store_forget_vm(store, "iqn.2026-11.test:none", &removed, NULL));
    assert_false(removed);
    assert_true(store_commit(store, NULL));
    dump = store_dump(store, &all, soon(), NULL);
    assert_int_equal(dump->vms->len, 1);
    store_close(store);
}

/*
 * The dump's rows: an LU with where it was seen, its registrations
 * with the holder, and for an all-registrants reservation every
 * registrant as a holder (SPC-4 5.12.10.2.6); filters select LUs and
 * registrations; lu_names matches names and paths.
 */
static void test_report_rows(void **state)
{
    Fixture *f = fixture(state);
    Store *store = open_ok(f);
    g_autoptr(PrState) s = reserved_state();
    g_autoptr(PrState) ar = pr_state_new();
    StoreLuInfo other = {
        .name = "naa.6001405bbbbbbbbb", .id_source = "naa", .path = "/dev/sdb"};
    StoreFilter all = {0};
    StoreFilter by_initiator = {.initiator = "*:B"};
    g_autoptr(StoreDump) dump = NULL;
    g_autoptr(GPtrArray) names = NULL;
    const StoreLuDump *lu;
    char **paths = NULL;

    save(store, &lu_here, s);
    ar->res_type = PR_TYPE_EXCLUSIVE_ACCESS_AR;
    ar->generation = 2;
    add_reg(ar, "iqn.2026-11.test:a", 1, 0xa, false);
    add_reg(ar, "iqn.2026-11.test:c", 1, 0xc, false);
    save(store, &other, ar);

    dump = store_dump(store, &all, soon(), NULL);
    assert_int_equal(dump->lus->len, 2);
    lu = g_ptr_array_index(dump->lus, 0);
    assert_string_equal(lu->name, LU);
    assert_int_equal(lu->generation, 3);
    assert_true(lu->aptpl);
    assert_int_equal(lu->res_type, PR_TYPE_WRITE_EXCLUSIVE);
    assert_int_equal(lu->seen->len, 1);
    assert_string_equal(g_array_index(lu->seen, StoreSeen, 0).path, "/dev/sda");
    assert_int_equal(lu->regs->len, 2);
    assert_true(g_array_index(lu->regs, StoreRegDump, 0).holder);
    assert_false(g_array_index(lu->regs, StoreRegDump, 1).holder);
    assert_int_equal(g_array_index(lu->regs, StoreRegDump, 1).key, 0xb);
    assert_string_equal(g_array_index(lu->regs, StoreRegDump, 1).initiator,
                        "iqn.2026-11.test:b");
    assert_int_equal(lu->holder->len, 1);
    lu = g_ptr_array_index(dump->lus, 1);
    assert_int_equal(lu->regs->len, 2);
    assert_true(g_array_index(lu->regs, StoreRegDump, 0).holder);
    assert_true(g_array_index(lu->regs, StoreRegDump, 1).holder);
    g_clear_pointer(&dump, store_dump_free);

    /* Only the LU where B is registered, and only B's registration; its
     * reservation's holder (A) still comes with it. */
    dump = store_dump(store, &by_initiator, soon(), NULL);
    assert_int_equal(dump->lus->len, 1);
    lu = g_ptr_array_index(dump->lus, 0);
    assert_int_equal(lu->regs->len, 1);
    assert_int_equal(g_array_index(lu->regs, StoreRegDump, 0).key, 0xb);
    assert_int_equal(lu->holder->len, 1);
    assert_int_equal(g_array_index(lu->holder, StoreRegDump, 0).key, 0xa);

    names = store_lu_names(store, "/dev/sdb", soon(), NULL);
    assert_int_equal(names->len, 1);
    assert_string_equal(g_ptr_array_index(names, 0), other.name);
    assert_true(store_lu_paths_here(store, LU, soon(), &paths, NULL));
    assert_int_equal(g_strv_length(paths), 1);
    assert_string_equal(paths[0], "/dev/sda");
    g_strfreev(paths);
    store_close(store);
}

/* A write transaction that has loaded @lu_here's state (and so holds
 * its lock), or false with @error, holding nothing. */
static bool begin_and_load(Store *store, gint64 deadline, GError **error)
{
    g_autoptr(PrState) s = pr_state_new();
    gint64 lu_id = 0;
    bool stale = false;

    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    if (!store_load_state(store, &lu_here, s, &lu_id, &stale, error)) {
        store_rollback(store);
        return false;
    }
    return true;
}

/* While another connection's write transaction holds an LU (sqlite
 * locks the whole database at BEGIN, PostgreSQL the LU as its state is
 * loaded), a command for that LU fails BUSY once its deadline passes,
 * holding nothing. */
static void test_busy_at_deadline(void **state)
{
    Fixture *f = fixture(state);
    Store *holder = open_ok(f);
    Store *waiter = open_ok(f);
    GError *error = NULL;

    assert_true(begin_and_load(holder, soon(), NULL));
    assert_false(begin_and_load(waiter, g_get_monotonic_time() + 100 * 1000,
                                &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    g_clear_error(&error);
    assert_false(store_in_transaction(waiter));
    store_rollback(holder);
    assert_true(begin_and_load(waiter, soon(), NULL));
    assert_true(store_commit(waiter, NULL));
    store_close(waiter);
    store_close(holder);
}

int main(void)
{
    static const TestPerBackend contract[] = {
        {"open_migrate", test_open_migrate, true, true},
        {"transactions", test_transactions, true, true},
        {"savepoints", test_savepoints, true, true},
        {"state_round_trip", test_state_round_trip, true, true},
        {"history", test_history, true, true},
        {"history_retention", test_history_retention, true, true},
        {"vm_registry", test_vm_registry, true, true},
        {"report_rows", test_report_rows, true, true},
        {"busy_at_deadline", test_busy_at_deadline, true, true},
    };

    return testutil_run_per_backend_with("test_store_backend", contract,
                                         G_N_ELEMENTS(contract), fixture_setup,
                                         fixture_teardown);
}
