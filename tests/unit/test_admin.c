/*
 * test_admin: an administrator's changes (softpr power-cycle, clear,
 * forget, mark-lost) on a real database: what SPC-4 says each one does, that
 * each is recorded in the history in its own transaction, and that a lock not
 * obtained in time changes nothing.
 */
#include <string.h>

#include "testutil.h"

#include "admin.h"
#include "error.h"
#include "store.h"

#define LU_NAME "lu-admin"

typedef struct Fixture {
    char *dir;
    char *path;
    Store *store;
} Fixture;

static StoreOptions options_for(const char *path)
{
    StoreOptions o = testutil_store_options(path);

    o.lock_timeout_ms = 200;
    o.host_id = "admin-host";
    o.history_keep_days = 0;
    return o;
}

static PrRegistration registration(const char *name, uint64_t key, bool holder)
{
    PrRegistration reg = {0};

    assert_true(tid_from_iscsi_name(name, &reg.initiator, NULL));
    reg.rtpi = 1;
    reg.key = key;
    reg.holder = holder;
    return reg;
}

/* a (key 0xa, holding Write Exclusive, registrants only) and b (0xb),
 * with a condition pending for b; APTPL as given. */
static void seed(Fixture *f, bool aptpl)
{
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = pr_state_new();
    PrRegistration a = registration("iqn.2026-11.test:a", 0xa, true);
    PrRegistration b = registration("iqn.2026-11.test:b", 0xb, false);
    PrUnitAttention ua = {
        .initiator = b.initiator, .rtpi = 1, .asc = 0x2a, .ascq = 0x05};
    StoreLuInfo lu = {LU_NAME, "path", "/srv/disk.img"};

    s->generation = 7;
    s->aptpl = aptpl;
    s->res_type = PR_TYPE_WRITE_EXCLUSIVE_RO;
    g_array_append_val(s->regs, a);
    g_array_append_val(s->regs, b);
    g_array_append_val(s->uas, ua);
    assert_true(
        store_begin(f->store, true, g_get_monotonic_time() + 1000000, NULL));
    assert_true(store_save_state(f->store, 0, &lu, empty, s, NULL));
    assert_true(store_commit(f->store, NULL));
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    StoreOptions o;

    f->dir = testutil_tmpdir();
    f->path = g_build_filename(f->dir, "pr.db", NULL);
    o = options_for(f->path);
    f->store = store_open(&o, NULL);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    store_close(f->store);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->path);
    g_free(f);
    return 0;
}

static gint64 sql(Fixture *f, const char *query)
{
    return testutil_sql_int(f->path, query);
}

static gint64 deadline(void)
{
    return g_get_monotonic_time() + 1000000;
}

/*
 * SPC-4 5.12.4: power loss without APTPL drops every registration and
 * the reservation; PRgeneration returns to zero; pending unit
 * attentions go too (a device that lost power has none).
 */
static void test_5_12_4_power_cycle_without_aptpl(void **state)
{
    Fixture *f = *state;
    AdminOutcome o;

    seed(f, false);
    assert_true(admin_power_cycle(f->store, LU_NAME, deadline(), &o, NULL));
    assert_true(o.changed);
    assert_int_equal(o.generation_before, 7);
    assert_int_equal(o.generation_after, 0);
    assert_int_equal(o.registrations_before, 2);
    assert_int_equal(o.registrations_after, 0);
    assert_int_equal(o.type_after, PR_TYPE_NONE);
    assert_int_equal(sql(f, "SELECT count(*) FROM registration"), 0);
    assert_int_equal(sql(f, "SELECT count(*) FROM unit_attention"), 0);
    assert_int_equal(sql(f, "SELECT generation + res_type FROM lu"), 0);
    assert_int_equal(
        sql(f, "SELECT count(*) FROM history WHERE origin = 'softpr' AND "
               "action = 'power-cycle' AND initiator IS NULL AND "
               "lu_name = '" LU_NAME "' AND generation = 0 AND status = 0 "
               "AND host = 'admin-host'"),
        1);
}

/* SPC-4 5.12.4: with APTPL the registrations and the reservation
 * persist through the power loss; PRgeneration still returns to zero. */
static void test_5_12_4_power_cycle_with_aptpl(void **state)
{
    Fixture *f = *state;
    AdminOutcome o;

    seed(f, true);
    assert_true(admin_power_cycle(f->store, LU_NAME, deadline(), &o, NULL));
    assert_int_equal(o.registrations_after, 2);
    assert_int_equal(o.type_after, PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(sql(f, "SELECT generation FROM lu"), 0);
    assert_int_equal(sql(f, "SELECT count(*) FROM registration WHERE holder"),
                     1);
    assert_int_equal(sql(f, "SELECT count(*) FROM unit_attention"), 0);
}

/* softpr clear as PR OUT CLEAR (5.12.11.2.7): all gone, RESERVATIONS
 * PREEMPTED for every registrant, PRgeneration + 1. */
static void test_5_12_11_2_7_clear(void **state)
{
    Fixture *f = *state;
    AdminOutcome o;

    seed(f, false);
    assert_true(admin_clear(f->store, LU_NAME, deadline(), &o, NULL));
    assert_int_equal(o.generation_after, 8);
    assert_int_equal(sql(f, "SELECT count(*) FROM registration"), 0);
    assert_int_equal(sql(f, "SELECT res_type FROM lu"), PR_TYPE_NONE);
    assert_int_equal(
        sql(f, "SELECT count(DISTINCT initiator_name) FROM unit_attention "
               "WHERE asc = 42 AND ascq = 3"),
        2);
    assert_int_equal(
        sql(f, "SELECT count(*) FROM history WHERE action = 'clear' AND "
               "generation = 8"),
        1);
}

/*
 * softpr forget as an unregistration (5.12.11.2.3): the holder's
 * registrants-only reservation is released, with RESERVATIONS RELEASED
 * for the one left; an LU where the initiator has nothing is untouched
 * and not in the history.
 */
static void test_5_12_11_2_3_forget(void **state)
{
    Fixture *f = *state;
    TransportId a;
    TransportId c;
    AdminOutcome o;

    assert_true(tid_from_iscsi_name("iqn.2026-11.test:a", &a, NULL));
    assert_true(tid_from_iscsi_name("iqn.2026-11.test:c", &c, NULL));
    seed(f, false);
    assert_true(admin_forget(f->store, LU_NAME, &c, deadline(), &o, NULL));
    assert_false(o.changed);
    assert_int_equal(sql(f, "SELECT count(*) FROM history"), 0);
    assert_int_equal(sql(f, "SELECT generation FROM lu"), 7);

    assert_true(admin_forget(f->store, LU_NAME, &a, deadline(), &o, NULL));
    assert_true(o.changed);
    assert_int_equal(o.registrations_after, 1);
    assert_int_equal(o.type_after, PR_TYPE_NONE);
    assert_int_equal(sql(f, "SELECT generation FROM lu"), 8);
    assert_int_equal(
        sql(f, "SELECT count(*) FROM unit_attention WHERE initiator_name = "
               "'iqn.2026-11.test:b' AND asc = 42 AND ascq = 4"),
        1);
    assert_int_equal(
        sql(f, "SELECT count(*) FROM history WHERE action = 'forget' AND "
               "initiator_name = 'iqn.2026-11.test:a'"),
        1);
}

/*
 * SPC-5 5.14.11.3: marking PR information lost keeps the registrations,
 * the reservation and PRgeneration (PR IN still reports them) and sets
 * the flag the engine answers PR OUT with DATA PROTECT for; it is in
 * the history.  Marking again changes nothing and records nothing.
 */
static void test_spc5_mark_lost(void **state)
{
    Fixture *f = *state;
    AdminOutcome o;

    seed(f, false);
    assert_true(admin_mark_lost(f->store, LU_NAME, deadline(), &o, NULL));
    assert_true(o.changed);
    assert_false(o.lost_before);
    assert_true(o.lost_after);
    assert_int_equal(o.registrations_after, 2);
    assert_int_equal(o.generation_after, 7);
    assert_int_equal(sql(f, "SELECT info_lost FROM lu"), 1);
    assert_int_equal(sql(f, "SELECT count(*) FROM registration"), 2);
    assert_int_equal(sql(f, "SELECT res_type FROM lu"),
                     PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(sql(f, "SELECT count(*) FROM history WHERE origin = "
                            "'softpr' AND action = 'mark-lost' AND "
                            "initiator IS NULL AND generation = 7 AND "
                            "detail LIKE '%PR information marked lost'"),
                     1);
    assert_true(admin_mark_lost(f->store, LU_NAME, deadline(), &o, NULL));
    assert_false(o.changed);
    assert_true(o.lost_before);
    assert_int_equal(sql(f, "SELECT count(*) FROM history"), 1);
}

static void test_unknown_lu(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    AdminOutcome o;

    assert_false(admin_clear(f->store, "lu-nothing", deadline(), &o, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND));
    assert_non_null(strstr(error->message, "lu-nothing"));
    assert_int_equal(sql(f, "SELECT count(*) FROM history"), 0);
}

/* The same lock rules as the daemon: while another host holds the
 * write lock, the change fails BUSY at the deadline and writes nothing. */
static void test_busy_changes_nothing(void **state)
{
    Fixture *f = *state;
    StoreOptions other_options = options_for(f->path);
    g_autoptr(Store) other = NULL;
    g_autoptr(GError) error = NULL;
    AdminOutcome o;

    seed(f, false);
    other_options.host_id = "other-host";
    other = store_open(&other_options, NULL);
    assert_non_null(other);
    assert_true(store_begin(other, true, deadline(), NULL));
    assert_false(admin_power_cycle(
        f->store, LU_NAME, g_get_monotonic_time() + 100 * 1000, &o, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    store_rollback(other);
    assert_int_equal(sql(f, "SELECT generation FROM lu"), 7);
    assert_int_equal(sql(f, "SELECT count(*) FROM registration"), 2);
    assert_int_equal(sql(f, "SELECT count(*) FROM history"), 0);
    /* Once released, it goes through. */
    assert_true(admin_power_cycle(f->store, LU_NAME, deadline(), &o, NULL));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_5_12_4_power_cycle_without_aptpl),
        T(test_5_12_4_power_cycle_with_aptpl),
        T(test_5_12_11_2_7_clear),
        T(test_5_12_11_2_3_forget),
        T(test_spc5_mark_lost),
        T(test_unknown_lu),
        T(test_busy_changes_nothing),
    };
#undef T

    return TESTUTIL_RUN("admin", tests, NULL, NULL);
}
