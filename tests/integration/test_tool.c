/*
 * test_tool: the softpr tool's database subcommands against real
 * daemons and a real database: dump (table and JSON, filters, while
 * daemons write), history, power-cycle, clear, forget (confirmation,
 * SPC-4 effects, history), check-fs with two processes, and the answers
 * to bad usage.
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

typedef struct Fixture {
    char *dir;
    char *db;
    char *disk;
    char *qemu; /* prpeer looking like QEMU */
    TestDaemon *host1;
    TestDaemon *host2;
} Fixture;

static const char *const utc[] = {"TZ=UTC", NULL};

static const char *const host1_args[] = {"--host-id", "host1", NULL};
static const char *const host2_args[] = {"--host-id", "host2", NULL};

#define VM1 "-name guest=node1 -uuid 6b1c6a5e-0000-4000-8000-000000000001"
#define VM2 "-name guest=node2 -uuid 6b1c6a5e-0000-4000-8000-000000000002"
#define NODE1 "iqn.2026-11.org.softpr:vm:node1"
#define NODE2 "iqn.2026-11.org.softpr:vm:node2"

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    f->db = g_build_filename(f->dir, "pr.db", NULL);
    f->disk = g_build_filename(f->dir, "disk.img", NULL);
    close(testd_disk(f->dir, "disk.img", O_RDWR));
    f->qemu = testpeer_qemu(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    if (f->host1 != NULL) {
        assert_int_equal(testd_stop(f->host1), 0);
        testd_free(f->host1);
    }
    if (f->host2 != NULL) {
        assert_int_equal(testd_stop(f->host2), 0);
        testd_free(f->host2);
    }
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->db);
    g_free(f->disk);
    g_free(f->qemu);
    g_free(f);
    return 0;
}

/* Two hosts' daemons on one database. */
static void start_hosts(Fixture *f)
{
    f->host1 = testd_start(f->dir, "host1", NULL, host1_args);
    f->host2 = testd_start(f->dir, "host2", NULL, host2_args);
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
    g_ptr_array_add(argv, f->db);
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
    Fixture *f = *state;
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
    Fixture *f = *state;
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
    Fixture *f = *state;
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
    Fixture *f = *state;
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

/* The PRgeneration and registration count of the (single) LU. */
static void lu_state(Fixture *f, gint64 *generation, gint64 *registrations)
{
    *generation = testutil_sql_int(f->db, "SELECT generation FROM lu");
    *registrations =
        testutil_sql_int(f->db, "SELECT count(*) FROM registration");
}

/*
 * Destructive commands ask first: anything but yes changes nothing.
 * With yes, power-cycle is SPC-4 5.12.4's power loss (APTPL off: all
 * gone, PRgeneration 0), named by the disk's path; it is in the
 * history as the administrator's.
 */
static void test_power_cycle(void **state)
{
    Fixture *f = *state;
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
    Fixture *f = *state;
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
    Fixture *f = *state;
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
    assert_int_equal(testutil_sql_int(f->db,
                                      "SELECT count(*) FROM registration WHERE "
                                      "initiator_name = '" NODE1 "'"),
                     1);
}

/* Usage errors exit 2, failures 1, each with one clear line. */
static void test_errors(void **state)
{
    Fixture *f = *state;
    g_autofree char *missing = g_build_filename(f->dir, "none.db", NULL);
    const char *no_db[] = {"dump", "--db", missing, NULL};
    static const char *const bad_option[] = {"dump", "--frobnicate", NULL};
    static const char *const bad_key[] = {"dump", "--key", "xyz", NULL};
    static const char *const bad_since[] = {"history", "--since", "soon", NULL};
    static const char *const no_lu[] = {"clear", "--yes", NULL};
    static const char *const unknown_lu[] = {"clear", "--yes", "nothing", NULL};
    static const char *const unknown_cmd[] = {"frobnicate", NULL};
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
        {unknown_cmd, false, 1, "unknown command 'frobnicate'"},
    };
    size_t i;

    f->host1 = testd_start(f->dir, "host1", NULL, host1_args);
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
    Fixture *f = *state;
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
 * processes, both pass every check.
 */
static void test_check_fs_passes(void **state)
{
    Fixture *f = *state;
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
}

/*
 * A host whose locks do not reach the others (here: sqlite's unix-none
 * VFS, which takes no locks, as NFS with nolock would) makes the test
 * fail, naming the broken direction, and nobody waits out the timeout.
 */
static void test_check_fs_detects_missing_locks(void **state)
{
    Fixture *f = *state;
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
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_dump_two_hosts_two_vms),
        T(test_dump_json),
        T(test_dump_filters),
        T(test_history),
        T(test_power_cycle),
        T(test_clear),
        T(test_forget),
        T(test_errors),
        T(test_dump_while_daemons_write),
        T(test_check_fs_passes),
        T(test_check_fs_detects_missing_locks),
    };
#undef T

    return TESTUTIL_RUN("tool", tests, NULL, NULL);
}
