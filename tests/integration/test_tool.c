/*
 * test_tool: the softpr tool's database subcommands against real
 * daemons and a real database: dump (table and JSON, filters, while
 * daemons write), history, power-cycle, clear, forget (confirmation,
 * SPC-4 effects, history), check-fs with two processes, and the answers
 * to bad usage.  The tests of the database subcommands run on both
 * store backends (--db: a sqlite file or a PostgreSQL database); backup,
 * restore and check-fs, which are about sqlite files, on sqlite, and
 * PostgreSQL's own (mark-lost in place, backup refused) on PostgreSQL.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "peer.h"
#include "tool.h"

#include "engine.h"
#include "scsi.h"
#include "tid.h"

#include <sqlite3.h>

typedef struct Fixture {
    TestStore *store;
    const char *dir; /* the store's */
    const char *db;  /* the store's: a sqlite path or a conninfo */
    char *disk;
    char *qemu; /* prpeer looking like QEMU */
    TestDaemon *host1;
    TestDaemon *host2;
} Fixture;

static const char *const utc[] = {"TZ=UTC", NULL};


#define VM1 "-name guest=node1 -uuid 6b1c6a5e-0000-4000-8000-000000000001"
#define VM2 "-name guest=node2 -uuid 6b1c6a5e-0000-4000-8000-000000000002"
#define NODE1 "iqn.2026-11.org.softpr:vm:node1"
#define NODE2 "iqn.2026-11.org.softpr:vm:node2"

/* Each test's fixture, beside its TestStore (as its priv). */
static int setup(TestStore *s)
{
    Fixture *f = g_new0(Fixture, 1);

    f->store = s;
    f->dir = s->dir;
    f->db = s->db;
    f->disk = g_build_filename(f->dir, "disk.img", NULL);
    close(testd_disk(f->dir, "disk.img", O_RDWR));
    f->qemu = testpeer_qemu(f->dir);
    s->priv = f;
    return 0;
}

static void teardown(TestStore *s)
{
    Fixture *f = s->priv;

    if (f->host1 != NULL) {
        assert_int_equal(testd_stop(f->host1), 0);
        testd_free(f->host1);
    }
    if (f->host2 != NULL) {
        assert_int_equal(testd_stop(f->host2), 0);
        testd_free(f->host2);
    }
    g_free(f->disk);
    g_free(f->qemu);
    g_free(f);
}

/* The test's fixture; skips the test when its backend cannot run. */
static Fixture *fixture(void **state)
{
    return testutil_store(state)->priv;
}

/* A daemon as host @host ("host1", "host2") on the test's database. */
static TestDaemon *start_host(Fixture *f, const char *host)
{
    const char *const args[] = {"--host-id", host, "--db", f->db, NULL};

    return testd_start(f->dir, host, NULL, args);
}

/* Two hosts' daemons on one database. */
static void start_hosts(Fixture *f)
{
    f->host1 = start_host(f, "host1");
    f->host2 = start_host(f, "host2");
}

/* VM @vm sends @commands through host daemon @d. */
static void vm(Fixture *f, TestDaemon *d, const char *vm, const char *commands)
{
    g_free(testpeer_run(f->qemu, vm, d->socket, f->disk, commands));
}

/*
 * The two-host, two-VM scenario: node1 on host1 registers 0x5eed0001
 * and reserves Write Exclusive, registrants only; node2 on host2
 * registers 0x5eed0002 and its RESERVE conflicts.
 */
static void scenario(Fixture *f)
{
    start_hosts(f);
    vm(f, f->host1, VM1, "register 5eed0001 reserve 5 5eed0001");
    vm(f, f->host2, VM2, "register 5eed0002 reserve 5 5eed0002");
}

/* Run softpr with @args and "--db" f->db; returns the exit status. */
static int tool(Fixture *f, const char *const *args, const char *input,
                char **out, char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    size_t i;

    for (i = 0; args[i] != NULL; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, (char *)"--db");
    g_ptr_array_add(argv, (char *)f->db);
    g_ptr_array_add(argv, NULL);
    return testtool_run((const char *const *)argv->pdata, utc, input, out, err);
}

/* Run softpr and expect exit status 0; returns its output. */
static char *tool_ok(Fixture *f, const char *const *args)
{
    char *out = NULL;
    g_autofree char *err = NULL;
    int status = tool(f, args, NULL, &out, &err);

    if (status != 0) {
        fail_msg("softpr %s: exit %d\n%s%s", args[0], status, out, err);
    }
    return out;
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL) {
        fail_msg("expected \"%s\" in:\n%s", part, text);
    }
}

static void assert_lacks(const char *text, const char *part)
{
    if (strstr(text, part) != NULL) {
        fail_msg("did not expect \"%s\" in:\n%s", part, text);
    }
}

/*
 * The table shows the LU, how it was identified, each host and path it
 * was seen through, PRgeneration, APTPL, the reservation with its
 * holder, every registration with key, initiator, port, host, and the
 * VMs behind the initiators.
 */
static void test_dump_two_hosts_two_vms(void **state)
{
    Fixture *f = fixture(state);
    static const char *const dump[] = {"dump", NULL};
    g_autofree char *out = NULL;

    scenario(f);
    out = tool_ok(f, dump);
    print_message("%s", out);
    assert_contains(out, "logical unit lu-");
    assert_contains(out, "identified by:  xattr");
    assert_contains(out, "host1:");
    assert_contains(out, "host2:");
    /* 5.12.7: two REGISTERs raised PRgeneration twice; RESERVE did not. */
    assert_contains(out, "PRgeneration:   0x2\n");
    assert_contains(out, "APTPL:          off\n");
    assert_contains(out, "reservation:    Write Exclusive, registrants only, "
                         "held by 0x5eed0001 (" NODE1 ")");
    assert_contains(out, "registrations:  2\n");
    assert_contains(out, "0x5eed0001  " NODE1 "  1     yes     host1");
    assert_contains(out, "0x5eed0002  " NODE2 "  1     no      host2");
    assert_contains(out, NODE1 "  node1  6b1c6a5e-0000-4000-8000-000000000001"
                               "  host1");
}

static void test_dump_json(void **state)
{
    Fixture *f = fixture(state);
    static const char *const dump[] = {"dump", "--json", NULL};
    g_autofree char *out = NULL;
    g_autofree char *valid = NULL;
    static const char *const expect[][2] = {
        {"$.logical_units[0].id_source", "xattr"},
        {"$.logical_units[0].generation", "2"},
        {"$.logical_units[0].reservation.type", "5"},
        {"$.logical_units[0].reservation.holder.key", "0x5eed0001"},
        {"$.logical_units[0].reservation.holder.initiator", NODE1},
        {"$.logical_units[0].registrations[0].host", "host1"},
        {"$.logical_units[0].registrations[1].key", "0x5eed0002"},
        {"$.logical_units[0].registrations[1].host", "host2"},
        {"$.logical_units[0].seen[1].host", "host2"},
        {"$.initiators[1].vm_name", "node2"},
        {"$.initiators[1].last_host", "host2"},
    };
    size_t i;

    scenario(f);
    out = tool_ok(f, dump);
    valid = testutil_sql_text("SELECT json_valid(?1)", out, NULL);
    assert_string_equal(valid, "1");
    for (i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_autofree char *value = testutil_json_text(out, expect[i][0]);

        if (value == NULL || strcmp(value, expect[i][1]) != 0) {
            fail_msg("%s: expected %s, got %s in\n%s", expect[i][0],
                     expect[i][1], value, out);
        }
    }
}

/* Filters by LU, initiator and key, in both forms. */
static void test_dump_filters(void **state)
{
    Fixture *f = fixture(state);
    static const char *const by_initiator[] = {"dump", "--initiator", "*:node2",
                                               NULL};
    static const char *const by_key[] = {"dump", "--key", "5EED0001", NULL};
    static const char *const by_key_json[] = {"dump", "--json", "--key",
                                              "0x5eed0002", NULL};
    static const char *const by_path[] = {"dump", "--lu", "*/disk.img", NULL};
    static const char *const none[] = {"dump", "--lu", "lu-nothing*", NULL};
    g_autofree char *lu_name = NULL;
    char *out;

    scenario(f);
    out = tool_ok(f, by_initiator);
    assert_contains(out, NODE2);
    assert_lacks(out, "0x5eed0001  ");
    g_free(out);
    out = tool_ok(f, by_key);
    assert_contains(out, "0x5eed0001  " NODE1);
    assert_lacks(out, "0x5eed0002");
    g_free(out);
    out = tool_ok(f, by_key_json);
    lu_name = testutil_json_text(out, "$.logical_units[0].name");
    assert_int_equal(
        testutil_json_int(out, "$.logical_units[0].registrations[#-1].rtpi"),
        1);
    {
        g_autofree char *n = testutil_sql_text(
            "SELECT json_array_length(?1, '$.logical_units[0].registrations')",
            out, NULL);
        g_autofree char *key =
            testutil_json_text(out, "$.logical_units[0].registrations[0].key");

        assert_string_equal(n, "1");
        assert_string_equal(key, "0x5eed0002");
    }
    g_free(out);
    out = tool_ok(f, by_path);
    assert_contains(out, lu_name);
    g_free(out);
    out = tool_ok(f, none);
    assert_contains(out, "no logical units match");
    g_free(out);
}

/*
 * The history has every PR OUT that reached the database, GOOD or not,
 * with time, host, initiator, LU, service action, type, keys and result
 * (a RESERVATION CONFLICT, a CHECK CONDITION with its sense), oldest
 * first; filters and JSON agree.
 */
static void test_history(void **state)
{
    Fixture *f = fixture(state);
    static const char *const all[] = {"history", NULL};
    static const char *const json[] = {"history", "--json", NULL};
    static const char *const node2[] = {"history", "--initiator", "*node2",
                                        "--since", "1h",          NULL};
    static const char *const newest[] = {"history", "-n", "1", "--json", NULL};
    g_autofree char *out = NULL;
    g_autofree char *js = NULL;
    g_autofree char *mine = NULL;
    g_autofree char *last = NULL;
    char **lines;

    scenario(f);
    /* Type 2 is reserved (6.14.2 table 169): ILLEGAL REQUEST, INVALID
     * FIELD IN CDB. */
    vm(f, f->host1, VM1, "reserve 2 5eed0001");
    out = tool_ok(f, all);
    print_message("%s", out);
    lines = g_strsplit(g_strstrip(out), "\n", -1);
    assert_int_equal(g_strv_length(lines), 5);
    assert_contains(lines[0], " host1 lu-");
    assert_contains(lines[0],
                    NODE1 ": REGISTER AND IGNORE EXISTING KEY key "
                          "0x0 sa-key 0x5eed0001 -> GOOD, PRgeneration "
                          "0x1");
    assert_contains(lines[1], NODE1 ": RESERVE key 0x5eed0001 type Write "
                                    "Exclusive, registrants only -> GOOD");
    assert_contains(lines[2], " host2 ");
    assert_contains(lines[3],
                    NODE2 ": RESERVE key 0x5eed0002 type Write "
                          "Exclusive, registrants only -> RESERVATION "
                          "CONFLICT, PRgeneration 0x2");
    assert_contains(lines[4], "-> CHECK CONDITION ILLEGAL REQUEST, INVALID "
                              "FIELD IN CDB");
    g_strfreev(lines);

    js = tool_ok(f, json);
    assert_int_equal(testutil_json_int(js, "$[3].status"),
                     SCSI_STATUS_RESERVATION_CONFLICT);
    assert_int_equal(testutil_json_int(js, "$[4].sense.key"), 0x5);
    {
        g_autofree char *asc = testutil_json_text(js, "$[4].sense.asc");
        g_autofree char *origin = testutil_json_text(js, "$[0].origin");

        assert_string_equal(asc, "0x24");
        assert_string_equal(origin, "softprd");
    }
    mine = tool_ok(f, node2);
    assert_int_equal(
        g_strv_length(lines = g_strsplit(g_strstrip(mine), "\n", -1)), 2);
    g_strfreev(lines);
    last = tool_ok(f, newest);
    assert_int_equal(testutil_json_int(last, "$[0].id"), 5);
    assert_null(testutil_json_text(last, "$[1]"));
}

/*
 * history --lu matches a path the LU was seen at, as dump --lu does,
 * and each entry shows where its host sees the LU; an administrator's
 * entry from a host that never saw it shows none.
 */
static void test_history_by_path(void **state)
{
    Fixture *f = fixture(state);
    static const char *const by_path[] = {"history", "--lu", "*/disk.img",
                                          NULL};
    static const char *const json[] = {"history", "--json", "--lu",
                                       "*/disk.img", NULL};
    static const char *const other[] = {"history", "--lu", "*/other.img", NULL};
    static const char *const clear[] = {"clear",     "--yes",  "*/disk.img",
                                        "--host-id", "admin1", NULL};
    g_autofree char *out = NULL;
    g_autofree char *js = NULL;
    g_autofree char *none = NULL;
    g_autofree char *path = NULL;
    g_autofree char *shown = g_strdup_printf(" (%s): ", f->disk);
    g_auto(GStrv) lines = NULL;
    guint i;

    scenario(f);
    g_free(tool_ok(f, clear));
    out = tool_ok(f, by_path);
    lines = g_strsplit(g_strstrip(out), "\n", -1);
    assert_int_equal(g_strv_length(lines), 5);
    for (i = 0; i < 4; i++) {
        assert_contains(lines[i], shown);
    }
    assert_contains(lines[4], " admin1 lu-");
    assert_contains(lines[4], ": administrator: clear");
    assert_lacks(lines[4], f->disk);
    js = tool_ok(f, json);
    path = testutil_json_text(js, "$[2].paths[0]");
    assert_string_equal(path, f->disk);
    assert_null(testutil_json_text(js, "$[4].paths[0]"));
    none = tool_ok(f, other);
    assert_string_equal(none, "");
}

/* The PRgeneration and registration count of the (single) LU. */
static void lu_state(Fixture *f, gint64 *generation, gint64 *registrations)
{
    *generation = testutil_db_int(f->store, "SELECT generation FROM lu");
    *registrations =
        testutil_db_int(f->store, "SELECT count(*) FROM registration");
}

/*
 * Destructive commands ask first: anything but yes changes nothing.
 * With yes, power-cycle is SPC-4 5.12.4's power loss (APTPL off: all
 * gone, PRgeneration 0), named by the disk's path; it is in the
 * history as the administrator's.
 */
static void test_power_cycle(void **state)
{
    Fixture *f = fixture(state);
    static const char *const ask[] = {"power-cycle", "lu-*", NULL};
    const char *by_path[] = {"power-cycle", "--yes", f->disk, NULL};
    static const char *const history[] = {"history", "-n", "1", NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *done = NULL;
    g_autofree char *last = NULL;
    gint64 generation;
    gint64 registrations;

    scenario(f);
    assert_int_equal(tool(f, ask, "n\n", &out, &err), 1);
    assert_contains(out, "2 registrations, reservation Write Exclusive, "
                         "registrants only, PRgeneration 0x2");
    assert_contains(err, "Simulate power loss of this 1 logical unit? [y/N]");
    assert_contains(err, "not confirmed; nothing changed");
    lu_state(f, &generation, &registrations);
    assert_int_equal(generation, 2);
    assert_int_equal(registrations, 2);
    g_free(out);
    g_free(err);
    /* End of input is no answer either. */
    assert_int_equal(tool(f, ask, "", &out, &err), 1);
    lu_state(f, &generation, &registrations);
    assert_int_equal(registrations, 2);

    done = tool_ok(f, by_path);
    assert_contains(done, ": registrations 2 -> 0, reservation Write "
                          "Exclusive, registrants only -> none, PRgeneration "
                          "0x2 -> 0x0");
    lu_state(f, &generation, &registrations);
    assert_int_equal(generation, 0);
    assert_int_equal(registrations, 0);
    last = tool_ok(f, history);
    assert_contains(last, "administrator: power-cycle -> GOOD, PRgeneration "
                          "0x0");
}

/*
 * clear is PR OUT CLEAR without a key (5.12.11.2.7): PRgeneration + 1,
 * nothing left, RESERVATIONS PREEMPTED pending for both nexuses (dump
 * shows them); answering "y" is enough.
 */
static void test_clear(void **state)
{
    Fixture *f = fixture(state);
    static const char *const clear[] = {"clear", "lu-*", NULL};
    static const char *const dump[] = {"dump", NULL};
    g_autofree char *out = NULL;
    g_autofree char *shown = NULL;
    gint64 generation;
    gint64 registrations;

    scenario(f);
    assert_int_equal(tool(f, clear, "y\n", &out, NULL), 0);
    lu_state(f, &generation, &registrations);
    assert_int_equal(generation, 3);
    assert_int_equal(registrations, 0);
    shown = tool_ok(f, dump);
    assert_contains(shown, "unit attentions pending: 2");
    assert_contains(shown, NODE1 " (port 1): RESERVATIONS PREEMPTED (2ah/03h)");
    assert_contains(shown, NODE2 " (port 1): RESERVATIONS PREEMPTED (2ah/03h)");
}

/*
 * forget removes the initiator's registrations as an unregistration
 * would (5.12.11.2.3: the Write Exclusive, registrants only reservation
 * it held is released, RESERVATIONS RELEASED for node2), and the VM
 * from the registry.  The VM registers anew afterwards.
 */
static void test_forget(void **state)
{
    Fixture *f = fixture(state);
    static const char *const forget[] = {"forget", "--yes", NODE1, NULL};
    static const char *const dump[] = {"dump", NULL};
    static const char *const history[] = {"history", "-n", "1", NULL};
    static const char *const bad[] = {"forget", "--yes", "not a name", NULL};
    g_autofree char *out = NULL;
    g_autofree char *shown = NULL;
    g_autofree char *last = NULL;
    g_autofree char *err = NULL;

    scenario(f);
    out = tool_ok(f, forget);
    assert_contains(out, ": registrations 2 -> 1, reservation Write "
                         "Exclusive, registrants only -> none, PRgeneration "
                         "0x2 -> 0x3");
    assert_contains(out, NODE1 ": removed from the VM registry");
    shown = tool_ok(f, dump);
    assert_lacks(shown, "0x5eed0001");
    assert_contains(shown, "reservation:    none");
    assert_contains(shown, NODE2 " (port 1): RESERVATIONS RELEASED (2ah/04h)");
    assert_contains(shown, "virtual machines (initiators that follow a VM): 1");
    last = tool_ok(f, history);
    assert_contains(last, "administrator: forget " NODE1 " -> GOOD");
    assert_int_equal(tool(f, bad, NULL, NULL, &err), 2);
    assert_contains(err, "softpr: forget: ");
    /* The VM comes back and gets its name again. */
    vm(f, f->host2, VM1, "register 1");
    assert_int_equal(testutil_db_int(f->store,
                                      "SELECT count(*) FROM registration WHERE "
                                      "initiator_name = '" NODE1 "'"),
                     1);
}

/* Usage errors exit 2, failures 1, each with one clear line, as
 * softpr(1)'s EXIT STATUS says. */
static void test_errors(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *missing = g_build_filename(f->dir, "none.db", NULL);
    const char *no_db[] = {"dump", "--db", missing, NULL};
    static const char *const bad_option[] = {"dump", "--frobnicate", NULL};
    static const char *const bad_key[] = {"dump", "--key", "xyz", NULL};
    static const char *const bad_since[] = {"history", "--since", "soon", NULL};
    static const char *const no_lu[] = {"clear", "--yes", NULL};
    static const char *const unknown_lu[] = {"clear", "--yes", "nothing", NULL};
    static const char *const unknown_cmd[] = {"frobnicate", NULL};
    static const char *const no_command[] = {NULL};
    static const char *const bad_wait[] = {"dump", "--lock-timeout", "-1",
                                           NULL};
    static const char *const bad_wait_clear[] = {
        "clear", "--yes", "--lock-timeout", "601", "lu-*", NULL};
    static const char *const version[] = {"--version", NULL};
    struct {
        const char *const *args;
        bool with_db;
        int status;
        const char *message;
    } cases[] = {
        {no_db, false, 1, "does not exist"},
        {bad_option, true, 2, "Unknown option --frobnicate"},
        {bad_key, true, 2, "is not a reservation key"},
        {bad_since, true, 2, "is neither an ISO 8601 time"},
        {no_lu, true, 2, "name at least one logical unit"},
        {unknown_lu, true, 1, "no logical unit in"},
        {unknown_cmd, false, 2, "unknown command 'frobnicate'"},
        {no_command, false, 2, "Usage: softpr COMMAND"},
        {bad_wait, true, 2, "--lock-timeout: expected 0 to 600 seconds"},
        {bad_wait_clear, true, 2, "--lock-timeout: expected 0 to 600"},
    };
    size_t i;

    f->host1 = start_host(f, "host1");
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        int status = cases[i].with_db
                         ? tool(f, cases[i].args, NULL, &out, &err)
                         : testtool_run(cases[i].args, NULL, NULL, &out, &err);

        if (status != cases[i].status ||
            strstr(err, cases[i].message) == NULL) {
            fail_msg("softpr %s: exit %d, expected %d with \"%s\":\n%s",
                     cases[i].args[0], status, cases[i].status,
                     cases[i].message, err);
        }
    }
    {
        g_autofree char *out = NULL;

        assert_int_equal(testtool_run(version, NULL, NULL, &out, NULL), 0);
        assert_contains(out, "softpr " SOFTPR_VERSION);
    }
}

/*
 * Friction a new user met: forget of an initiator softpr has never
 * seen says so and asks nothing; --since takes weeks; the help texts
 * print their "…" in a UTF-8 locale.
 */
static void test_friction(void **state)
{
    Fixture *f = fixture(state);
    static const char *const forget[] = {
        "forget", "iqn.2026-11.org.softpr:vm:never-seen", NULL};
    static const char *const weeks[] = {"history", "--since", "1w", NULL};
    static const char *const help[] = {"forget", "--help", NULL};
    static const char *const utf8[] = {"LC_ALL=C.UTF-8", NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *recent = NULL;
    g_autofree char *text = NULL;

    scenario(f);
    assert_int_equal(tool(f, forget, "y\n", &out, &err), 1);
    assert_contains(err, "iqn.2026-11.org.softpr:vm:never-seen has no "
                         "registrations and no entry in the VM registry; "
                         "nothing changed");
    assert_lacks(err, "[y/N]");
    assert_string_equal(out, "");
    recent = tool_ok(f, weeks);
    assert_contains(recent, "REGISTER AND IGNORE EXISTING KEY");
    assert_int_equal(testtool_run(help, utf8, NULL, &text, NULL), 0);
    assert_contains(text, "iqn.\u2026");
}

/* ------------------------------------------------------------------ */
/* A database with something of everything                             */
/* ------------------------------------------------------------------ */

/* Open @dir/@name (created) and return its descriptor. */
static int disk(Fixture *f, const char *name)
{
    return testd_disk(f->dir, name, O_RDWR);
}

/* PR OUT @sa through @client on the disk @name; the status. */
static uint8_t prout(Fixture *f, PrClient *client, const char *name, uint8_t sa,
                     uint8_t type, uint64_t rk, uint64_t sark, uint8_t flags)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    int fd = open(path, O_RDWR);
    ClientReply reply;
    uint8_t status;

    assert_true(fd >= 0);
    status = testd_prout(client, fd, sa, type, rk, sark, flags, &reply);
    close(fd);
    return status;
}

/* @commands from VM @vm_args on the disk @name through @d. */
static void vm_on(Fixture *f, TestDaemon *d, const char *vm_args,
                  const char *name, const char *commands)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);

    g_free(testpeer_run(f->qemu, vm_args, d->socket, path, commands));
}

/*
 * Every kind of state the reports show: one LU per reservation type
 * (SPC-4 6.14.2 table 169), registrations with and without ALL_TG_PT,
 * an APTPL registration, unit attentions for one port and for every
 * port, REGISTER AND MOVE and SPEC_I_PT in the history, a RESERVATION
 * CONFLICT and a CHECK CONDITION, administrators' entries, a VM without
 * a uuid, and an LU whose PR information is marked lost.
 */
static void rich_scenario(Fixture *f)
{
    static const uint8_t types[] = {
        PR_TYPE_WRITE_EXCLUSIVE,    PR_TYPE_EXCLUSIVE_ACCESS,
        PR_TYPE_WRITE_EXCLUSIVE_RO, PR_TYPE_EXCLUSIVE_ACCESS_RO,
        PR_TYPE_WRITE_EXCLUSIVE_AR, PR_TYPE_EXCLUSIVE_ACCESS_AR,
    };
    g_autoptr(PrClient) h1 = NULL;
    g_autoptr(PrClient) h2 = NULL;
    const char *power_cycle[] = {"power-cycle", "--yes", "*/admin.img", NULL};
    const char *clear[] = {"clear", "--yes", "*/admin.img", NULL};
    uint8_t param[WIRE_DATA_MAX];
    uint8_t cdb[CDB_LEN];
    TransportId tids[2];
    ClientReply reply;
    size_t len;
    size_t i;
    int fd;

    start_hosts(f);
    h1 = testd_connect(f->host1);
    h2 = testd_connect(f->host2);
    for (i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autofree char *name = g_strdup_printf("t%u.img", types[i]);
        g_autofree char *cmds = g_strdup_printf(
            "register 100%u reserve %u 100%u", types[i], types[i], types[i]);

        close(disk(f, name));
        vm_on(f, f->host1, VM1, name, cmds);
        assert_int_equal(prout(f, h2, name, PR_OUT_REGISTER_IGNORE, 0, 0,
                               0x200 + types[i], PROUT_ALL_TG_PT),
                         SCSI_STATUS_GOOD);
    }
    /* 5.12.11.2.5: the preempted holder gets REGISTRATIONS PREEMPTED. */
    assert_int_equal(
        prout(f, h2, "t5.img", PR_OUT_PREEMPT, 5, 0x205, 0x1005, 0),
        SCSI_STATUS_GOOD);
    /* Preempting host2's ALL_TG_PT registration (a key that is not the
     * holder's): a unit attention for every port of its initiator. */
    vm_on(f, f->host1, VM2, "t6.img", "register 2006");
    assert_int_equal(
        prout(f, h1, "t6.img", PR_OUT_REGISTER, 0, 0, 0x306, PROUT_APTPL),
        SCSI_STATUS_GOOD);
    assert_int_equal(prout(f, h1, "t6.img", PR_OUT_PREEMPT, 6, 0x306, 0x206, 0),
                     SCSI_STATUS_GOOD);
    assert_int_equal(prout(f, h2, "t1.img", PR_OUT_RESERVE, 1, 0x201, 0, 0),
                     SCSI_STATUS_RESERVATION_CONFLICT);
    assert_int_equal(prout(f, h2, "t3.img", PR_OUT_RESERVE, 2, 0x203, 0, 0),
                     SCSI_STATUS_CHECK_CONDITION);

    /* REGISTER AND MOVE (6.14.4) and SPEC_I_PT (5.12.11.2.3). */
    close(disk(f, "move.img"));
    assert_int_equal(
        prout(f, h1, "move.img", PR_OUT_REGISTER_IGNORE, 0, 0, 0x401, 0),
        SCSI_STATUS_GOOD);
    assert_int_equal(prout(f, h1, "move.img", PR_OUT_RESERVE, 1, 0x401, 0, 0),
                     SCSI_STATUS_GOOD);
    assert_true(tid_parse("iqn.2026-11.org.softpr:test:mover", &tids[0], NULL));
    len = cdb_prout_move(param, 0x401, 0x402, true, false, 1, &tids[0]);
    cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, 1, (uint32_t)len);
    {
        g_autofree char *path = g_build_filename(f->dir, "move.img", NULL);

        fd = open(path, O_RDWR);
        testd_command(h1, fd, cdb, param, len, &reply);
        assert_int_equal(reply.status, SCSI_STATUS_GOOD);
        assert_true(tid_parse("fcp,21000024ff123456", &tids[0], NULL));
        assert_true(tid_parse("sas,5000c50005b32001", &tids[1], NULL));
        len = cdb_prout_basic(param, 0, 0x501, PROUT_SPEC_I_PT, tids, 2);
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
        testd_command(h2, fd, cdb, param, len, &reply);
        assert_int_equal(reply.status, SCSI_STATUS_GOOD);
        close(fd);
    }
    vm_on(f, f->host2, "-name guest=named-only", "move.img", "register 601");

    /* Administrators' entries; CLEAR leaves RESERVATIONS PREEMPTED. */
    close(disk(f, "admin.img"));
    vm_on(f, f->host1, VM1, "admin.img", "register 701 reserve 1 701");
    g_free(tool_ok(f, power_cycle));
    vm_on(f, f->host1, VM1, "admin.img", "register 702");
    g_free(tool_ok(f, clear));

    /* SPC-5 5.14.11.3: PR information lost. */
    assert_int_equal(testutil_db_int(f->store,
                                      "UPDATE lu SET info_lost = 1 WHERE id IN "
                                      "(SELECT lu_id FROM lu_seen WHERE path "
                                      "LIKE '%/t8.img')"),
                     -1);
    /* Rows as earlier versions wrote them: one ALL_TG_PT registration
     * standing for every port, and a unit attention for every port.  The
     * engine writes one row per I_T nexus now (SPC-4 5.12.7), but a dump
     * of an older database must still show these. */
    assert_int_equal(testutil_db_int(f->store,
                                      "UPDATE registration SET rtpi = 0, "
                                      "all_tg_pt = 1 WHERE key = 513"),
                     -1);
    assert_int_equal(testutil_db_int(f->store,
                                      "UPDATE unit_attention SET rtpi = 0 "
                                      "WHERE id = (SELECT min(id) FROM "
                                      "unit_attention)"),
                     -1);
}

/* The dump of rich_scenario() has every kind of value in it. */
static void assert_rich_dump(const char *json)
{
    static const char *const parts[] = {
        "\"all_registrants\":true",
        "\"all_registrants\":false",
        "\"holder\":null",
        "\"reservation\":null",
        "\"pr_information_lost\":true",
        "\"aptpl\":true",
        "\"rtpi\":null,\"asc\"",
        "\"rtpi\":1,\"asc\"",
        "\"rtpi\":null,\"all_tg_pt\":true",
        "\"vm_uuid\":null",
        "\"vm_name\":\"node2\"",
        "\"condition\":\"RESERVATIONS PREEMPTED\"",
        "\"condition\":\"REGISTRATIONS PREEMPTED\"",
        "\"initiator\":\"fcp,21000024ff123456\"",
        "\"initiator\":\"iqn.2026-11.org.softpr:test:mover\"",
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(parts); i++) {
        assert_contains(json, parts[i]);
    }
}

/* The history of rich_scenario() likewise. */
static void assert_rich_history(const char *json)
{
    static const char *const parts[] = {
        "\"unreg\":true,\"move_rtpi\":1",
        "\"spec_i_pt\":true",
        "\"status\":24",
        "\"sense\":{\"key\":5",
        "\"origin\":\"softpr\",\"lu\"",
        "\"initiator\":null,\"rtpi\":null",
        "\"detail\":\"registrations",
        "\"aptpl\":true",
        "\"all_tg_pt\":true",
        "\"type\":8",
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(parts); i++) {
        assert_contains(json, parts[i]);
    }
}

/*
 * The member names of every object named @name in @json (a member
 * @name, or an element of an array @name), as "a,b,c", each distinct
 * list once, " | " between them; "$" for the document itself.
 */
static char *members_of(const char *json, const char *name)
{
    return testutil_sql_text(
        "SELECT group_concat(m, ' | ') FROM (SELECT DISTINCT (SELECT "
        "group_concat(key) FROM json_each(t.value)) AS m FROM json_tree(?1) t "
        "LEFT JOIN json_tree(?1) p ON p.id = t.parent WHERE t.type = 'object' "
        "AND (t.fullkey = ?2 OR t.key = ?2 OR (p.type = 'array' AND "
        "p.key = ?2)))",
        json, name);
}

/* The JSON types a member @name has anywhere in @json, sorted. */
static char *types_of(const char *json, const char *name)
{
    return testutil_sql_text(
        "SELECT group_concat(t) FROM (SELECT DISTINCT CASE WHEN type IN "
        "('true', 'false') THEN 'bool' ELSE type END AS t FROM json_tree(?1) "
        "WHERE key = ?2 ORDER BY t)",
        json, name);
}

/* Every string value of members named @name matches @regex. */
static void assert_values_match(const char *json, const char *name,
                                const char *regex)
{
    g_autofree char *all = testutil_sql_text(
        "SELECT group_concat(atom, char(10)) FROM json_tree(?1) WHERE key = ?2 "
        "AND type = 'text'",
        json, name);
    g_auto(GStrv) values = NULL;
    size_t i;

    if (all == NULL) {
        fail_msg("no string values of %s", name);
    }
    values = g_strsplit(all, "\n", -1);
    for (i = 0; values[i] != NULL; i++) {
        if (!g_regex_match_simple(regex, values[i], 0, 0)) {
            fail_msg("%s: \"%s\" does not match %s", name, values[i], regex);
        }
    }
}

typedef struct Shape {
    const char *name;
    const char *types; /* as types_of() lists them */
    const char *regex; /* for the strings, or NULL */
} Shape;

static void assert_shapes(const char *json, const Shape *shapes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        g_autofree char *types = types_of(json, shapes[i].name);

        if (g_strcmp0(types, shapes[i].types) != 0) {
            fail_msg("%s: types %s, expected %s", shapes[i].name, types,
                     shapes[i].types);
        }
        if (shapes[i].regex != NULL) {
            assert_values_match(json, shapes[i].name, shapes[i].regex);
        }
    }
}

#define KEY_RE "^0x[0-9a-f]{1,16}$"
#define TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
#define BYTE_RE "^0x[0-9a-f]{2}$"

/*
 * softpr dump --json is the document softpr(1) describes: its members,
 * in that order, with those types and formats (keys "0x5eed", times UTC
 * ISO 8601, the TransportID in hex), on a database holding something of
 * everything.
 */
static void test_dump_json_format(void **state)
{
    Fixture *f = fixture(state);
    static const char *const dump[] = {"dump", "--json", NULL};
    static const char *const objects[][2] = {
        {"$", "database,logical_units,initiators"},
        {"logical_units", "name,id_source,generation,aptpl,pr_information_lost,"
                          "created_at,seen,reservation,registrations,"
                          "unit_attentions"},
        {"seen", "host,path,id_source,first_seen,last_seen"},
        {"reservation", "type,type_name,scope,all_registrants,holder"},
        {"holder", "key,initiator,rtpi"},
        {"registrations", "key,initiator,transport_id,rtpi,all_tg_pt,holder,"
                          "host,registered_at"},
        {"unit_attentions", "initiator,rtpi,asc,ascq,condition,raised_at"},
        {"initiators", "name,vm_name,vm_uuid,last_host,first_seen,last_seen"},
    };
    Shape shapes[] = {
        /* The one value that differs: how the database is named. */
        {"database", "text",
         testutil_store_is_pg(f->store) ? "^PostgreSQL /[^ ]+$"
                                        : "^/.*/pr\\.db$"},
        {"generation", "integer", NULL},
        {"aptpl", "bool", NULL},
        {"pr_information_lost", "bool", NULL},
        {"created_at", "text", TIME_RE},
        {"first_seen", "text", TIME_RE},
        {"last_seen", "text", TIME_RE},
        {"registered_at", "text", TIME_RE},
        {"raised_at", "text", TIME_RE},
        {"reservation", "null,object", NULL},
        {"type", "integer", NULL},
        {"scope", "text", "^LU$"},
        {"all_registrants", "bool", NULL},
        {"holder", "bool,null,object", NULL},
        {"key", "text", KEY_RE},
        {"transport_id", "text", "^([0-9a-f]{8})+$"},
        {"rtpi", "integer,null", NULL},
        {"all_tg_pt", "bool", NULL},
        {"asc", "text", BYTE_RE},
        {"ascq", "text", BYTE_RE},
        {"vm_uuid", "null,text", NULL},
    };
    g_autofree char *json = NULL;
    g_autofree char *valid = NULL;
    size_t i;

    rich_scenario(f);
    json = tool_ok(f, dump);
    valid = testutil_sql_text("SELECT json_valid(?1)", json, NULL);
    assert_string_equal(valid, "1");
    assert_rich_dump(json);
    for (i = 0; i < G_N_ELEMENTS(objects); i++) {
        g_autofree char *members = members_of(json, objects[i][0]);

        if (g_strcmp0(members, objects[i][1]) != 0) {
            fail_msg("%s: members %s, expected %s", objects[i][0], members,
                     objects[i][1]);
        }
    }
    assert_shapes(json, shapes, G_N_ELEMENTS(shapes));
}

/* softpr history --json likewise. */
static void test_history_json_format(void **state)
{
    Fixture *f = fixture(state);
    static const char *const history[] = {"history", "--json", NULL};
    static const Shape shapes[] = {
        {"id", "integer", NULL},
        {"time", "text",
         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"},
        {"origin", "text", "^softpr[d]?$"},
        {"paths", "array", NULL},
        {"initiator", "null,text", NULL},
        {"rtpi", "integer,null", NULL},
        {"service_action", "integer,null", NULL},
        {"type", "integer,null", NULL},
        {"key", "integer,null,text", KEY_RE},
        {"sa_key", "null,text", KEY_RE},
        {"spec_i_pt", "bool,null", NULL},
        {"unreg", "bool,null", NULL},
        {"move_rtpi", "integer,null", NULL},
        {"status", "integer", NULL},
        {"sense", "null,object", NULL},
        {"asc", "text", BYTE_RE},
        {"generation", "integer", NULL},
        {"detail", "null,text", NULL},
    };
    g_autofree char *json = NULL;
    g_autofree char *entries = NULL;
    g_autofree char *sense = NULL;

    rich_scenario(f);
    json = tool_ok(f, history);
    assert_rich_history(json);
    entries = testutil_sql_text(
        "SELECT group_concat(m, ' | ') FROM (SELECT DISTINCT (SELECT "
        "group_concat(key) FROM json_each(e.value)) AS m FROM json_each(?1) e)",
        json, NULL);
    assert_string_equal(entries,
                        "id,time,host,origin,lu,paths,initiator,rtpi,action,"
                        "service_action,type,type_name,scope,key,sa_key,"
                        "spec_i_pt,all_tg_pt,aptpl,unreg,move_rtpi,status,"
                        "status_name,sense,generation,detail");
    sense = members_of(json, "sense");
    assert_string_equal(sense, "key,key_name,asc,ascq,name");
    assert_shapes(json, shapes, G_N_ELEMENTS(shapes));
}

/* ------------------------------------------------------------------ */
/* Output an administrator can trust                                   */
/* ------------------------------------------------------------------ */

/* A VM name that would clear the terminal and retitle it, with a byte
 * that is not UTF-8, and a file name with a newline. */
#define EVIL_VM "-name 'guest=x\033[2J\033]0;owned\007\377y'"
#define EVIL_FILE "two\nlines.img"

/* Whether @text holds a byte below 0x20 other than newlines. */
static bool has_controls(const char *text)
{
    const char *p;

    for (p = text; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\n') {
            return true;
        }
    }
    return false;
}

/*
 * A QEMU whose command line holds an escape sequence and a byte that is
 * not UTF-8, on a disk whose path holds a newline, through the real
 * daemon: the tables print them escaped (\x1b, \n, \xff) and nothing
 * raw, every line stays one line; the JSON is valid, valid UTF-8, the
 * invalid byte U+FFFD.  On PostgreSQL, whose text must be UTF-8, the
 * same: the store keeps the bytes as they are.
 */
static void test_output_escapes_what_is_not_printable(void **state)
{
    Fixture *f = fixture(state);
    static const char *const dump[] = {"dump", NULL};
    static const char *const dump_json[] = {"dump", "--json", NULL};
    static const char *const history[] = {"history", NULL};
    static const char *const history_json[] = {"history", "--json", NULL};
    g_autofree char *evil = g_build_filename(f->dir, EVIL_FILE, NULL);
    g_autofree char *link = g_build_filename(f->dir, "plain.img", NULL);
    g_autofree char *out = NULL;
    g_autofree char *hist = NULL;
    g_autofree char *json = NULL;
    g_autofree char *hjson = NULL;
    g_autofree char *valid = NULL;
    g_autofree char *vm_name = NULL;
    g_autofree char *path = NULL;
    g_auto(GStrv) lines = NULL;

    close(disk(f, EVIL_FILE));
    /* prpeer takes the disk on a command line split at spaces and
     * newlines; the daemon sees the file's own path. */
    assert_int_equal(symlink(evil, link), 0);
    f->host1 = start_host(f, "host1");
    vm_on(f, f->host1, EVIL_VM, "plain.img", "register 1 reserve 1 1");

    out = tool_ok(f, dump);
    assert_true(g_utf8_validate(out, -1, NULL));
    assert_false(has_controls(out));
    assert_contains(out, "x\\x1b[2J\\x1b]0;owned\\x07\\xffy");
    assert_contains(out, "two\\nlines.img (xattr)");

    hist = tool_ok(f, history);
    assert_true(g_utf8_validate(hist, -1, NULL));
    assert_false(has_controls(hist));
    lines = g_strsplit(g_strstrip(hist), "\n", -1);
    assert_int_equal(g_strv_length(lines), 2);

    json = tool_ok(f, dump_json);
    assert_true(g_utf8_validate(json, -1, NULL));
    valid = testutil_sql_text("SELECT json_valid(?1)", json, NULL);
    assert_string_equal(valid, "1");
    vm_name = testutil_json_text(json, "$.initiators[0].vm_name");
    assert_string_equal(vm_name, "x\033[2J\033]0;owned\007\357\277\275y");
    path = testutil_json_text(json, "$.logical_units[0].seen[0].path");
    assert_string_equal(path, evil);

    hjson = tool_ok(f, history_json);
    assert_true(g_utf8_validate(hjson, -1, NULL));
    g_free(valid);
    valid = testutil_sql_text("SELECT json_valid(?1)", hjson, NULL);
    assert_string_equal(valid, "1");
}

/* ------------------------------------------------------------------ */
/* dump while daemons write                                            */
/* ------------------------------------------------------------------ */

typedef struct Writer {
    TestDaemon *daemon;
    const char *disk;
    uint64_t key;
    volatile gint *stop;
    unsigned good;
    unsigned conflict;
    unsigned busy;
    unsigned other;
} Writer;

/* PR OUT in a loop: register, try to reserve, preempt the other. */
static gpointer write_loop(gpointer data)
{
    Writer *w = data;
    g_autoptr(PrClient) client = testd_connect(w->daemon);
    int disk = open(w->disk, O_RDWR);
    uint64_t other = w->key ^ 3;
    unsigned i;

    for (i = 0; !g_atomic_int_get(w->stop); i++) {
        ClientReply r;
        uint8_t status;

        switch (i % 3) {
        case 0:
            status = testd_prout(client, disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 w->key, 0, &r);
            break;
        case 1:
            status = testd_prout(client, disk, PR_OUT_RESERVE,
                                 PR_TYPE_WRITE_EXCLUSIVE, w->key, 0, 0, &r);
            break;
        default:
            status = testd_prout(client, disk, PR_OUT_PREEMPT,
                                 PR_TYPE_WRITE_EXCLUSIVE, w->key, other, 0, &r);
            break;
        }
        if (status == SCSI_STATUS_GOOD) {
            w->good++;
        } else if (status == SCSI_STATUS_RESERVATION_CONFLICT) {
            w->conflict++;
        } else if (status == SCSI_STATUS_BUSY) {
            w->busy++;
        } else {
            w->other++;
        }
    }
    close(disk);
    return NULL;
}

/*
 * softpr dump reads a live database: while two daemons on two hosts
 * answer a stream of PR OUT commands, every dump succeeds with valid
 * JSON showing a state SPC-4 allows (a Write Exclusive reservation has
 * exactly one holder, who is registered), and PRgeneration never goes
 * back between successive dumps.
 */
static void test_dump_while_daemons_write(void **state)
{
    Fixture *f = fixture(state);
    static const char *const dump[] = {"dump", "--json", NULL};
    volatile gint stop = 0;
    Writer writers[2] = {
        {.key = 0x1001, .stop = &stop},
        {.key = 0x1002, .stop = &stop},
    };
    GThread *threads[2];
    gint64 last_generation = -1;
    unsigned dumps = 0;
    unsigned held = 0;
    int i;

    start_hosts(f);
    writers[0].daemon = f->host1;
    writers[1].daemon = f->host2;
    for (i = 0; i < 2; i++) {
        writers[i].disk = f->disk;
        threads[i] = g_thread_new("writer", write_loop, &writers[i]);
    }
    for (dumps = 0; dumps < 15; dumps++) {
        g_autofree char *out = tool_ok(f, dump);
        g_autofree char *valid =
            testutil_sql_text("SELECT json_valid(?1)", out, NULL);
        g_autofree char *holder = NULL;
        g_autofree char *type = NULL;
        gint64 generation;

        assert_string_equal(valid, "1");
        type = testutil_json_text(out, "$.logical_units[0].reservation.type");
        if (type == NULL) {
            /* Before the first command landed, or nothing reserved. */
            continue;
        }
        generation = testutil_json_int(out, "$.logical_units[0].generation");
        assert_true(generation >= last_generation);
        last_generation = generation;
        holder =
            testutil_sql_text("SELECT count(*) FROM json_each(?1, "
                              "'$.logical_units[0].registrations') WHERE "
                              "json_extract(value, '$.holder') AND "
                              "json_extract(value, '$.key') = json_extract(?1, "
                              "'$.logical_units[0].reservation.holder.key')",
                              out, NULL);
        assert_string_equal(type, "1");
        assert_string_equal(holder, "1");
        held++;
    }
    g_atomic_int_set(&stop, 1);
    for (i = 0; i < 2; i++) {
        testutil_thread_join(threads[i]);
    }
    print_message("dump while writing: %u dumps (%u with a reservation); "
                  "writers: %u GOOD, %u RESERVATION CONFLICT, %u BUSY, %u "
                  "other\n",
                  dumps, held, writers[0].good + writers[1].good,
                  writers[0].conflict + writers[1].conflict,
                  writers[0].busy + writers[1].busy,
                  writers[0].other + writers[1].other);
    assert_int_equal(writers[0].other + writers[1].other, 0);
    assert_true(writers[0].good > 0 && writers[1].good > 0);
    assert_true(held > 0);
}

/* ------------------------------------------------------------------ */
/* backup, restore, mark-lost                                          */
/* ------------------------------------------------------------------ */

/* The JSON dump of the database @db (not f->db). */
static char *dump_of(Fixture *f, const char *db)
{
    const char *const args[] = {"dump", "--json", "--db", db, NULL};
    char *out = NULL;
    g_autofree char *err = NULL;

    if (testtool_run(args, utc, NULL, &out, &err) != 0) {
        fail_msg("softpr dump --db %s:\n%s", db, err);
    }
    return out;
}

/*
 * softpr backup while two daemons on two hosts answer a stream of PR
 * OUT commands: every copy is made, is a softpr database sqlite finds
 * intact, and holds a state SPC-4 allows (a Write Exclusive reservation
 * has one registered holder): a snapshot, not a mix of two moments.
 * An existing copy is not overwritten without --force.
 */
static void test_backup_while_daemons_write(void **state)
{
    Fixture *f = fixture(state);
    volatile gint stop = 0;
    Writer writers[2] = {
        {.key = 0x1001, .stop = &stop},
        {.key = 0x1002, .stop = &stop},
    };
    GThread *threads[2];
    g_autofree char *copy = g_build_filename(f->dir, "copy.db", NULL);
    const char *backup[] = {"backup", copy, NULL};
    const char *force[] = {"backup", "--force", copy, NULL};
    unsigned held = 0;
    unsigned n;
    int i;

    start_hosts(f);
    g_free(tool_ok(f, backup));
    {
        g_autofree char *err = NULL;

        /* Without --force the copy stays as it is. */
        assert_int_equal(tool(f, backup, NULL, NULL, &err), 1);
        assert_contains(err, "exists already; --force replaces it");
    }
    writers[0].daemon = f->host1;
    writers[1].daemon = f->host2;
    for (i = 0; i < 2; i++) {
        writers[i].disk = f->disk;
        threads[i] = g_thread_new("writer", write_loop, &writers[i]);
    }
    for (n = 0; n < 10; n++) {
        g_autofree char *json = NULL;
        g_autofree char *type = NULL;
        g_autofree char *holders = NULL;

        g_free(tool_ok(f, force));
        testutil_integrity_ok(copy);
        json = dump_of(f, copy);
        type = testutil_json_text(json, "$.logical_units[0].reservation.type");
        if (type == NULL) {
            continue;
        }
        holders = testutil_sql_text(
            "SELECT count(*) FROM json_each(?1, "
            "'$.logical_units[0].registrations') WHERE "
            "json_extract(value, '$.holder') AND json_extract(value, '$.key') "
            "= json_extract(?1, '$.logical_units[0].reservation.holder.key')",
            json, NULL);
        assert_string_equal(type, "1");
        assert_string_equal(holders, "1");
        held++;
    }
    g_atomic_int_set(&stop, 1);
    for (i = 0; i < 2; i++) {
        g_thread_join(threads[i]);
    }
    print_message("backup while writing: %u copies (%u with a reservation); "
                  "writers: %u GOOD, %u BUSY, %u other\n",
                  n, held, writers[0].good + writers[1].good,
                  writers[0].busy + writers[1].busy,
                  writers[0].other + writers[1].other);
    assert_int_equal(writers[0].other + writers[1].other, 0);
    assert_true(writers[0].good > 0 && writers[1].good > 0);
}

/*
 * A backup waits for another host's write lock no longer than the lock
 * bound, then fails (exit 1) saying so, and leaves no file behind.
 */
static void test_backup_respects_lock_bound(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *copy = g_build_filename(f->dir, "copy.db", NULL);
    const char *backup[] = {"backup", "--lock-timeout", "1", copy, NULL};
    g_autofree char *err = NULL;
    g_autoptr(GDir) dir = NULL;
    const char *name;
    sqlite3 *db = NULL;
    gint64 start;
    gint64 waited;

    scenario(f);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    start = g_get_monotonic_time();
    assert_int_equal(tool(f, backup, NULL, NULL, &err), 1);
    waited = g_get_monotonic_time() - start;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    /* It waited for the lock (1 s), and gave up (well before the
     * 120 s the tool run is allowed). */
    assert_true(waited >= G_USEC_PER_SEC);
    assert_true(waited < 60 * G_USEC_PER_SEC);
    sqlite3_close(db);
    assert_contains(err, "database is locked");
    dir = g_dir_open(f->dir, 0, NULL);
    while ((name = g_dir_read_name(dir)) != NULL) {
        if (g_str_has_prefix(name, "copy.db")) {
            fail_msg("%s left behind", name);
        }
    }
}

/*
 * The restore procedure of softpr(1): a backup, marked "PR information
 * lost" with softpr mark-lost, put in place of the database while the
 * daemons are stopped.  Then (SPC-5 5.14.11.3) PR IN reports the
 * restored registrations, PR OUT other than REPLACE LOST RESERVATION
 * gets CHECK CONDITION, DATA PROTECT, PERSISTENT RESERVATION
 * INFORMATION LOST (07h/44h/01h), and REPLACE LOST RESERVATION from a
 * node replaces everything with its registration and reservation,
 * PRgeneration 0.
 */
static void assert_lost_then_replaced(Fixture *f);

static void test_restore_marks_lost(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *copy = g_build_filename(f->dir, "copy.db", NULL);
    const char *backup[] = {"backup", copy, NULL};
    const char *mark[] = {"mark-lost", "--yes", "--db", copy, "*", NULL};
    const char *mark_again[] = {"mark-lost", "--yes", "--db",
                                copy,        "lu-*",  NULL};
    static const char *const dump[] = {"dump", NULL};
    static const char *const history[] = {"history", "-n", "1", NULL};
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;
    g_autofree char *shown = NULL;
    g_autofree char *last = NULL;

    scenario(f);
    g_free(tool_ok(f, backup));
    /* Since the backup: node2 changes its key. */
    vm(f, f->host2, VM2, "register 5eed0022");
    /* Marked before it goes in place: no command ever sees the restored
     * state unmarked. */
    assert_int_equal(testtool_run(mark, utc, NULL, &out, NULL), 0);
    assert_contains(out, ": PR information lost: no -> yes");
    assert_int_equal(testtool_run(mark_again, utc, NULL, &again, NULL), 0);
    assert_contains(again, "already marked lost; unchanged");
    assert_int_equal(testd_stop(f->host1), 0);
    assert_int_equal(testd_stop(f->host2), 0);
    testd_free(f->host1);
    testd_free(f->host2);
    f->host1 = f->host2 = NULL;
    assert_int_equal(rename(copy, f->db), 0);

    start_hosts(f);
    shown = tool_ok(f, dump);
    assert_contains(shown, "PR information lost: yes");
    assert_contains(shown, "0x5eed0002");
    assert_lacks(shown, "0x5eed0022");
    last = tool_ok(f, history);
    assert_contains(last, "administrator: mark-lost -> GOOD");
    assert_lost_then_replaced(f);
}

/*
 * PostgreSQL has no file to copy or put in place: mark-lost marks the
 * live database (after a pg_restore, say), and the daemons' next
 * commands see it as test_restore_marks_lost's do.
 */
static void test_pg_mark_lost_in_place(void **state)
{
    Fixture *f = fixture(state);
    static const char *const mark[] = {"mark-lost", "--yes", "*", NULL};
    static const char *const dump[] = {"dump", NULL};
    static const char *const history[] = {"history", "-n", "1", NULL};
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;
    g_autofree char *shown = NULL;
    g_autofree char *last = NULL;

    scenario(f);
    out = tool_ok(f, mark);
    assert_contains(out, ": PR information lost: no -> yes");
    again = tool_ok(f, mark);
    assert_contains(again, "already marked lost; unchanged");
    shown = tool_ok(f, dump);
    assert_contains(shown, "PR information lost: yes");
    assert_contains(shown, "0x5eed0002");
    last = tool_ok(f, history);
    assert_contains(last, "administrator: mark-lost -> GOOD");
    assert_lost_then_replaced(f);
}

/* @text with its times and the name of @db (as the tool prints it)
 * replaced, so that two backends' outputs compare. */
static char *normalized(const char *text, const char *db)
{
    g_autoptr(GRegex) times = g_regex_new(
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?"
        "(\\.[0-9]+)?Z?",
        0, 0, NULL);
    g_autoptr(GRegex) pg = g_regex_new("PostgreSQL /[^ \"\\n]+", 0, 0, NULL);
    g_autofree char *a =
        g_regex_replace_literal(times, text, -1, 0, "TIME", 0, NULL);
    g_autofree char *b = g_regex_replace_literal(pg, a, -1, 0, "DB", 0, NULL);
    g_auto(GStrv) parts = g_strsplit(b, db, -1);

    return g_strjoinv("DB", parts);
}

/* What the tool prints of rich_scenario() on the fixture's database:
 * dump and history, as tables and as JSON, normalized. */
static char *rich_outputs(Fixture *f)
{
    static const char *const dump[] = {"dump", NULL};
    static const char *const dump_json[] = {"dump", "--json", NULL};
    static const char *const history[] = {"history", NULL};
    static const char *const history_json[] = {"history", "--json", NULL};
    const char *const *const which[] = {dump, dump_json, history,
                                        history_json};
    GString *all = g_string_new(NULL);
    size_t i;

    rich_scenario(f);
    for (i = 0; i < G_N_ELEMENTS(which); i++) {
        g_autofree char *out = tool_ok(f, which[i]);
        g_autofree char *norm = normalized(out, f->db);

        g_string_append_printf(all, "== %s\n%s", which[i][0], norm);
    }
    assert_int_equal(testd_stop(f->host1), 0);
    assert_int_equal(testd_stop(f->host2), 0);
    g_clear_pointer(&f->host1, testd_free);
    g_clear_pointer(&f->host2, testd_free);
    return g_string_free(all, false);
}

/*
 * The same commands through daemons on each backend: softpr's dump and
 * history, tables and JSON, print the same but for the database's name
 * and the times (the backends store what the tool formats once).
 */
static void test_pg_output_same_as_sqlite(void **state)
{
    Fixture *f = fixture(state);
    static const TestBackend sqlite = {"sqlite", false};
    g_autofree char *from_pg = rich_outputs(f);
    g_autofree char *lite_db = g_build_filename(f->dir, "pr.db", NULL);
    TestStore *pg_store = f->store;
    TestStore lite = *pg_store;
    g_autofree char *from_sqlite = NULL;

    lite.backend = &sqlite;
    lite.db = lite_db;
    f->store = &lite;
    f->db = lite.db;
    from_sqlite = rich_outputs(f);
    f->store = pg_store;
    f->db = pg_store->db;
    if (strcmp(from_pg, from_sqlite) != 0) {
        g_autofree char *a = g_build_filename(f->dir, "pg.out", NULL);
        g_autofree char *b = g_build_filename(f->dir, "sqlite.out", NULL);
        g_autofree char *diff = NULL;
        const char *const argv[] = {"diff", "-u", b, a, NULL};

        assert_true(g_file_set_contents(a, from_pg, -1, NULL));
        assert_true(g_file_set_contents(b, from_sqlite, -1, NULL));
        testtool_run_program(argv, NULL, NULL, &diff, NULL);
        print_message("%s", diff);
        fail_msg("the backends' outputs differ (diff -u sqlite PostgreSQL "
                 "above)");
    }
}

/* softpr backup on PostgreSQL refuses, in one line naming pg_dump, and
 * writes nothing. */
static void test_pg_backup_refused(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *copy = g_build_filename(f->dir, "copy.db", NULL);
    const char *backup[] = {"backup", copy, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    const char *nl;

    start_hosts(f);
    assert_int_equal(tool(f, backup, NULL, &out, &err), 1);
    assert_string_equal(out, "");
    assert_contains(err, "softpr: backup: ");
    assert_contains(err, "pg_dump");
    nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, "");
    assert_false(g_file_test(copy, G_FILE_TEST_EXISTS));
}

/*
 * The LU is marked PR information lost: (SPC-5 5.14.11.3) PR IN reports
 * the registrations, PR OUT other than REPLACE LOST RESERVATION gets
 * CHECK CONDITION, DATA PROTECT, PERSISTENT RESERVATION INFORMATION LOST
 * (07h/44h/01h), and REPLACE LOST RESERVATION replaces everything with
 * its registration and reservation, PRgeneration 0.
 */
static void assert_lost_then_replaced(Fixture *f)
{
    g_autoptr(PrClient) client = NULL;
    ClientReply reply;
    int fd;

    client = testd_connect(f->host1);
    fd = open(f->disk, O_RDWR);
    assert_int_equal(testd_prin(client, fd, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(reply.data[7], 16); /* ADDITIONAL LENGTH: two keys */
    assert_int_equal(
        testd_prout(client, fd, PR_OUT_REGISTER_IGNORE, 0, 0, 7, 0, &reply),
        SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(reply.sense[2] & 0x0f, 0x07);
    assert_int_equal(reply.sense[12], 0x44);
    assert_int_equal(reply.sense[13], 0x01);
    assert_int_equal(testd_prout(client, fd, PR_OUT_REPLACE_LOST,
                                 PR_TYPE_WRITE_EXCLUSIVE, 0, 0x77, 0, &reply),
                     SCSI_STATUS_GOOD);
    close(fd);
    assert_int_equal(testutil_db_int(f->store, "SELECT info_lost FROM lu"), 0);
    assert_int_equal(testutil_db_int(f->store, "SELECT generation FROM lu"), 0);
    assert_int_equal(
        testutil_db_int(f->store, "SELECT count(*) FROM registration"), 1);
}

/* ------------------------------------------------------------------ */
/* check-fs                                                            */
/* ------------------------------------------------------------------ */

/* softpr check-fs as site-a (with sqlite VFS @vfs_a, or the default)
 * and site-b at the same time on f->dir; their outputs and statuses. */
static void check_fs_pair(Fixture *f, const char *vfs_a, char **out_a,
                          int *status_a, char **out_b, int *status_b)
{
    const char *a[] = {"check-fs", "--host-id", "site-a", "--timeout",
                       "60",       "--writes",  "20",     f->dir,
                       NULL,       NULL,        NULL};
    const char *b[] = {"check-fs", "--host-id", "site-b", "--timeout", "60",
                       "--writes", "20",        f->dir,   NULL};
    TestTool *ta;
    TestTool *tb;

    if (vfs_a != NULL) {
        a[8] = "--vfs";
        a[9] = vfs_a;
    }
    ta = testtool_start(a, NULL);
    tb = testtool_start(b, NULL);
    *status_a = testtool_finish(ta, out_a, NULL);
    *status_b = testtool_finish(tb, out_b, NULL);
    print_message("%s", *out_a);
    print_message("%s", *out_b);
}

/*
 * Two processes with different host ids run the site test against one
 * directory at once: on a local filesystem, whose locks work between
 * processes, both pass every check, and the first (site-a) removes the
 * scratch files once both are done with them.
 */
static void test_check_fs_passes(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *subject =
        g_build_filename(f->dir, ".softpr-check-fs.db", NULL);
    g_autofree char *board =
        g_build_filename(f->dir, ".softpr-check-fs-board.db", NULL);
    g_autofree char *out_a = NULL;
    g_autofree char *out_b = NULL;
    int status_a;
    int status_b;

    check_fs_pair(f, NULL, &out_a, &status_a, &out_b, &status_b);
    assert_int_equal(status_a, 0);
    assert_int_equal(status_b, 0);
    assert_contains(out_a, "PASS lock exclusion: site-b could not take the "
                           "write lock while site-a held it");
    assert_contains(out_a, "PASS visibility: site-b saw site-a's committed "
                           "change");
    assert_contains(out_b, "PASS lock exclusion: site-a could not take the "
                           "write lock while site-b held it");
    assert_contains(out_a, "PASS write storm: 2 hosts, 40 commands answered "
                           "GOOD");
    assert_contains(out_b, "PASS integrity");
    assert_contains(out_a, "\nPASS\n");
    assert_contains(out_b, "\nPASS\n");
    /* Nothing is left behind in the shared directory. */
    assert_contains(out_a, "removed the scratch files");
    assert_false(g_file_test(subject, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(board, G_FILE_TEST_EXISTS));
}

/*
 * A host whose locks do not reach the others (here: sqlite's unix-none
 * VFS, which takes no locks, as NFS with nolock would) makes the test
 * fail, naming the broken direction, and nobody waits out the timeout.
 */
static void test_check_fs_detects_missing_locks(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *out_a = NULL;
    g_autofree char *out_b = NULL;
    int status_a;
    int status_b;

    check_fs_pair(f, "unix-none", &out_a, &status_a, &out_b, &status_b);
    assert_int_equal(status_a, 1);
    assert_int_equal(status_b, 1);
    assert_contains(out_b, "\nFAIL\n");
    assert_lacks(out_a, "timed out");
    assert_lacks(out_b, "timed out");
    /* Whichever ran into the missing lock first reports it: the other
     * took the lock, or two writers at once broke a journal (sqlite's
     * "disk I/O error"). */
    if (strstr(out_a, "FAIL lock exclusion") == NULL &&
        strstr(out_b, "FAIL lock exclusion") == NULL &&
        strstr(out_a, "disk I/O error") == NULL &&
        strstr(out_b, "disk I/O error") == NULL) {
        fail_msg("no lock failure reported");
    }
}

int main(void)
{
#define SQLITE(t) TESTUTIL_SQLITE_ONLY(t)
#define BOTH(t) TESTUTIL_BOTH(t)
#define PG(t) TESTUTIL_PG_ONLY(t)
    static const TestPerBackend tests[] = {
        BOTH(test_dump_two_hosts_two_vms),
        BOTH(test_dump_json),
        BOTH(test_dump_filters),
        BOTH(test_history),
        BOTH(test_history_by_path),
        BOTH(test_power_cycle),
        BOTH(test_clear),
        BOTH(test_forget),
        BOTH(test_errors),
        BOTH(test_friction),
        BOTH(test_dump_json_format),
        BOTH(test_history_json_format),
        BOTH(test_output_escapes_what_is_not_printable),
        BOTH(test_dump_while_daemons_write),
        SQLITE(test_backup_while_daemons_write),
        SQLITE(test_backup_respects_lock_bound),
        SQLITE(test_restore_marks_lost),
        PG(test_pg_mark_lost_in_place),
        PG(test_pg_backup_refused),
        PG(test_pg_output_same_as_sqlite),
        SQLITE(test_check_fs_passes),
        SQLITE(test_check_fs_detects_missing_locks),
    };
#undef SQLITE
#undef BOTH
#undef PG

    return testutil_run_per_backend_with("tool", tests, G_N_ELEMENTS(tests),
                                         setup, teardown);
}
