/*
 * test_initiators: each identity policy against real daemons.  "auto":
 * QEMU-like peers (processes named qemu-system-x86_64 whose command line
 * carries -name guest= and -uuid) are one nexus per VM, kept across a VM
 * restart and across hosts; other peers are the host.  "client": the peer
 * declares its TransportID (feature bit 0).  A fixed name.  READ FULL
 * STATUS shows readable iSCSI names.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "peer.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

typedef struct Fixture {
    char *dir;
    char *disk; /* a disk image file */
    char *qemu; /* a symlink named qemu-system-x86_64 to prpeer */
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    int fd;

    f->dir = testutil_tmpdir();
    f->disk = g_build_filename(f->dir, "disk.img", NULL);
    fd = testd_disk(f->dir, "disk.img", O_RDWR);
    close(fd);
    f->qemu = testpeer_qemu(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->disk);
    g_free(f->qemu);
    g_free(f);
    return 0;
}

/* Run @program (f->qemu, or prpeer) through @d: testpeer_run(). */
static char *peer(Fixture *f, TestDaemon *d, const char *program,
                  const char *args, const char *commands)
{
    return testpeer_run(program, args, d->socket, f->disk, commands);
}

static void stop_ok(TestDaemon *d)
{
    int code = testd_stop(d);

    if (code != 0) {
        g_autofree char *out = testd_output(d);

        fail_msg("softprd exited %d:\n%s", code, out);
    }
    testd_free(d);
}

static const char *const host_a[] = {"--host-id", "host-a", NULL};
static const char *const host_b[] = {"--host-id", "host-b", NULL};

/*
 * auto: two QEMU processes on one host, two VMs, are two nexuses with
 * readable names; READ FULL STATUS shows iqn...:vm:<name>.
 */
static void test_auto_two_vms_one_host(void **state)
{
    Fixture *f = *state;
    TestDaemon *d = testd_start(f->dir, "prh", NULL, host_a);
    g_autofree char *out = NULL;

    g_free(peer(f, d, f->qemu,
                "-name guest=vm1,debug-threads=on -uuid "
                "11111111-1111-4111-8111-111111111111",
                "register 1"));
    g_free(peer(f, d, f->qemu,
                "-machine pc -name guest=vm2 -uuid "
                "22222222-2222-4222-8222-222222222222",
                "register 2"));
    out = peer(f, d, f->qemu,
               "-name guest=vm1 -uuid 11111111-1111-4111-8111-111111111111",
               "readkeys fullstatus");
    assert_non_null(strstr(out, "generation=2 keys=0x1,0x2"));
    assert_non_null(strstr(out, "key=0x1 holder=0 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm1\n"));
    assert_non_null(strstr(out, "key=0x2 holder=0 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm2\n"));
    stop_ok(d);
}

/*
 * auto: a VM restarted on another host (another daemon on the same
 * database) is the same nexus: it changes its own key instead of adding
 * one, keeps its name, and the database records where it was seen.  A
 * VM without -uuid is known by its name.
 */
static void test_auto_vm_follows_across_hosts(void **state)
{
    Fixture *f = *state;
    TestDaemon *a = testd_start(f->dir, "a", NULL, host_a);
    TestDaemon *b = testd_start(f->dir, "b", NULL, host_b);
    const char *vm1 = "-name guest=vm1 -uuid "
                      "11111111-1111-4111-8111-111111111111";
    g_autofree char *out = NULL;

    g_free(peer(f, a, f->qemu, vm1, "register 1 reserve 5 1"));
    g_free(peer(f, a, f->qemu, "-name guest=named-only", "register 3"));
    out = peer(f, b, f->qemu, vm1, "register 4 readkeys fullstatus");
    assert_non_null(strstr(out, "generation=3 keys=0x4,0x3"));
    /* Still the holder of its reservation, under its new key. */
    assert_non_null(strstr(out, "key=0x4 holder=1 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm1\n"));
    assert_non_null(
        strstr(out, "initiator=iqn.2026-11.org.softpr:vm:named-only\n"));
    assert_int_equal(
        testutil_sql_int(a->db,
                         "SELECT count(*) FROM initiator WHERE key = "
                         "'uuid:11111111-1111-4111-8111-111111111111' AND "
                         "last_host = 'host-b'"),
        1);
    assert_int_equal(
        testutil_sql_int(a->db, "SELECT count(*) FROM initiator WHERE key = "
                                "'name:named-only'"),
        1);
    stop_ok(a);
    stop_ok(b);
}

/* auto: a peer that is not QEMU acts as the host; two hosts are two
 * nexuses named iqn...:host:<host id>. */
static void test_auto_other_peers_are_the_host(void **state)
{
    Fixture *f = *state;
    TestDaemon *a = testd_start(f->dir, "a", NULL, host_a);
    TestDaemon *b = testd_start(f->dir, "b", NULL, host_b);
    g_autofree char *plain = testpeer_prpeer();
    g_autofree char *out = NULL;

    /* -name on a program that is not QEMU makes no VM. */
    g_free(peer(f, a, plain, "-name guest=vm1", "register a"));
    g_free(peer(f, b, plain, NULL, "register b"));
    out = peer(f, a, plain, NULL, "fullstatus");
    assert_non_null(strstr(out,
                           "key=0xa holder=0 rtpi=1 "
                           "initiator=iqn.2026-11.org.softpr:host:host-a\n"));
    assert_non_null(strstr(out,
                           "key=0xb holder=0 rtpi=1 "
                           "initiator=iqn.2026-11.org.softpr:host:host-b\n"));
    stop_ok(a);
    stop_ok(b);
}

/*
 * auto with qemu-binaries: a peer that calls itself QEMU (its program is
 * named qemu-system-x86_64, it carries -uuid) but runs another executable
 * is not taken for a VM: it acts as the host, and the log says why.  With
 * its real executable in the list, the same peer is the VM.  The daemon
 * reads /proc/PID/exe, which Linux shows only to who may trace the peer:
 * the peers run without capabilities (setpriv), as QEMU under libvirt
 * does; a peer with more capabilities than the daemon (which keeps none)
 * cannot be checked and is not taken for a VM either.
 */
static void test_auto_qemu_binaries(void **state)
{
    Fixture *f = *state;
    g_autofree char *prpeer = testpeer_prpeer();
    g_autofree char *other = g_strdup_printf(
        "[daemon]\nqemu-binaries = /usr/bin/qemu-system-x86_64;%s/bin/qemu\n",
        f->dir);
    g_autofree char *real = g_strdup_printf(
        "[daemon]\nqemu-binaries = /usr/bin/qemu-system-x86_64;%s\n", prpeer);
    g_autofree char *vm1 =
        g_strdup_printf("--bounding-set -all %s -name guest=vm1 -uuid "
                        "11111111-1111-4111-8111-111111111111",
                        f->qemu);
    TestDaemon *d;
    g_autofree char *out = NULL;

    if (!g_file_test("/usr/bin/setpriv", G_FILE_TEST_IS_EXECUTABLE)) {
        skip();
    }
    d = testd_start(f->dir, "a", other, host_a);
    g_free(peer(f, d, "/usr/bin/setpriv", vm1, "register 1"));
    out = peer(f, d, "/usr/bin/setpriv", vm1, "fullstatus");
    assert_non_null(strstr(out,
                           "key=0x1 holder=0 rtpi=1 "
                           "initiator=iqn.2026-11.org.softpr:host:host-a\n"));
    assert_true(testd_wait_output(d, "not one of qemu-binaries", 30000));
    stop_ok(d);
    g_free(out);

    d = testd_start(f->dir, "b", real, host_a);
    g_free(peer(f, d, "/usr/bin/setpriv", vm1, "register 2"));
    out = peer(f, d, "/usr/bin/setpriv", vm1, "fullstatus");
    assert_non_null(strstr(out, "key=0x2 holder=0 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm1\n"));
    g_free(out);
    /* With every capability, the peer's executable cannot be read. */
    out = peer(f, d, f->qemu,
               "-name guest=vm1 -uuid 11111111-1111-4111-8111-111111111111",
               "fullstatus");
    if (geteuid() == 0) {
        assert_true(testd_wait_output(d, "runs unknown", 30000));
    }
    stop_ok(d);
}

/*
 * peer-uids and peer-groups, per socket: a peer whose uid is not listed,
 * and none of whose groups is, is closed as it connects (with a warning
 * naming it); one that is listed by uid or by group is served; another
 * socket of the same daemon without them serves anyone who can connect.
 */
static void test_peer_uids_and_groups(void **state)
{
    Fixture *f = *state;
    g_autofree char *by_uid = g_build_filename(f->dir, "uid.sock", NULL);
    g_autofree char *by_group = g_build_filename(f->dir, "group.sock", NULL);
    g_autofree char *config =
        g_strdup_printf("[socket uid]\npath = %s\npeer-uids = nobody\n"
                        "relative-target-port = 2\n"
                        "[socket group]\npath = %s\npeer-uids = nobody\n"
                        "peer-groups = %u\nrelative-target-port = 3\n",
                        by_uid, by_group, (unsigned)getegid());
    TestDaemon *d = testd_start(f->dir, "prh", config, NULL);
    g_autofree char *prpeer = testpeer_prpeer();
    g_autofree char *out = NULL;

    assert_null(client_connect(by_uid, 0, 30000, NULL));
    assert_true(
        testd_wait_output(d, "is not in the socket's peer-uids", 30000));
    out = testpeer_run(prpeer, NULL, by_group, f->disk, "readkeys");
    assert_non_null(strstr(out, "generation=0"));
    g_free(out);
    out = peer(f, d, prpeer, NULL, "readkeys");
    assert_non_null(strstr(out, "generation=0"));
    stop_ok(d);
}

/* A fixed initiator name and target port: every peer is that nexus. */
static void test_fixed_identity(void **state)
{
    Fixture *f = *state;
    TestDaemon *d = testd_start(f->dir, "prh",
                                "[daemon]\nidentity = iqn.2026-11.test:fixed\n"
                                "relative-target-port = 7\n",
                                NULL);
    g_autofree char *plain = testpeer_prpeer();
    g_autofree char *out = NULL;

    g_free(peer(f, d, f->qemu, "-name guest=vm1", "register 1"));
    out = peer(f, d, plain, NULL, "register 2 fullstatus");
    assert_non_null(strstr(out, "key=0x2 holder=0 rtpi=7 "
                                "initiator=iqn.2026-11.test:fixed\n"));
    assert_null(strstr(out, "key=0x1"));
    stop_ok(d);
}

/* Read the TransportIDs in a READ FULL STATUS answer through @c. */
static char *full_status_names(PrClient *c, int disk)
{
    GString *names = g_string_new(NULL);
    ClientReply reply;
    size_t off = 8;

    assert_int_equal(testd_prin(c, disk, PR_IN_READ_FULL_STATUS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    while (off + 24 <= reply.data_len) {
        TransportId tid;
        size_t used = 0;
        size_t len = get_be32(reply.data + off + 20);
        g_autofree char *name = NULL;

        assert_int_equal(tid_decode(reply.data + off + 24, len, &tid, &used),
                         TID_OK);
        name = tid_to_string(&tid);
        g_string_append_printf(names, "%s;", name);
        off += 24 + len;
    }
    return g_string_free(names, FALSE);
}

/*
 * client: peers declare their initiator with feature bit 0; a peer that
 * does not, or declares a malformed TransportID, is refused; a socket
 * with another policy refuses the feature.
 */
static void test_client_identity(void **state)
{
    Fixture *f = *state;
    static const char *const client[] = {"--identity", "client", NULL};
    TestDaemon *d = testd_start(f->dir, "prh", NULL, client);
    TestDaemon *plain = testd_start(f->dir, "plain", NULL, NULL);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    TransportId x;
    TransportId y;
    g_autoptr(GError) error = NULL;
    PrClient *cx;
    PrClient *cy;
    ClientReply reply;
    g_autofree char *names = NULL;
    uint8_t buf[64];

    assert_true(
        tid_parse("iqn.2026-11.test:node-x,i,0x23d000000001", &x, NULL));
    assert_true(tid_parse("sas,5000c50012345678", &y, NULL));
    cx = client_connect_as(d->socket, &x, 30000, &error);
    assert_non_null(cx);
    assert_int_equal(client_server_features(cx), WIRE_FEATURE_INITIATOR_ID);
    cy = client_connect_as(d->socket, &y, 30000, NULL);
    assert_non_null(cy);
    testd_prout(cx, disk, PR_OUT_REGISTER, 0, 0, 0x10, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prout(cy, disk, PR_OUT_REGISTER, 0, 0, 0x20, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    names = full_status_names(cx, disk);
    assert_string_equal(names, "iqn.2026-11.test:node-x,i,0x23d000000001;"
                               "sas,5000c50012345678;");

    /* Without the declaration the connection is closed. */
    {
        PrClient *c = client_connect(d->socket, 0, 30000, NULL);

        assert_non_null(c);
        assert_int_equal(recv(client_socket(c), buf, sizeof(buf), 0), 0);
        client_close(c);
    }
    /* A declaration that is not a TransportID is refused. */
    {
        PrClient *c =
            client_connect(d->socket, WIRE_FEATURE_INITIATOR_ID, 30000, NULL);
        uint8_t junk[2 + 24] = {0,   24,  0x05, 0,   0,   20,  'n', 'o',
                                't', ' ', 'a',  ' ', 'n', 'a', 'm', 'e'};

        assert_non_null(c);
        assert_int_equal(send(client_socket(c), junk, sizeof(junk), 0),
                         (ssize_t)sizeof(junk));
        assert_int_equal(recv(client_socket(c), buf, sizeof(buf), 0), 0);
        client_close(c);
    }
    assert_true(testd_wait_output(d, "malformed initiator TransportID", 30000));
    /* An "auto" socket does not grant the feature. */
    g_clear_error(&error);
    assert_null(client_connect_as(plain->socket, &x, 30000, &error));
    assert_non_null(strstr(error->message, "not 'client'"));

    client_close(cx);
    client_close(cy);
    close(disk);
    stop_ok(d);
    stop_ok(plain);
}

/* Several sockets, each with its own policy and target port. */
static void test_several_sockets(void **state)
{
    Fixture *f = *state;
    g_autofree char *tools = g_build_filename(f->dir, "tools.sock", NULL);
    g_autofree char *config =
        g_strdup_printf("[socket tools]\npath = %s\nidentity = client\n"
                        "relative-target-port = 2\n",
                        tools);
    TestDaemon *d = testd_start(f->dir, "prh", config, host_a);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    TransportId t;
    PrClient *c;
    ClientReply reply;
    g_autofree char *out = NULL;

    assert_true(tid_parse("iqn.2026-11.test:tool", &t, NULL));
    c = client_connect_as(tools, &t, 30000, NULL);
    assert_non_null(c);
    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x7, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);
    out = peer(f, d, f->qemu, "-name guest=vm1", "register 1 fullstatus");
    assert_non_null(strstr(
        out, "key=0x7 holder=0 rtpi=2 initiator=iqn.2026-11.test:tool\n"));
    assert_non_null(strstr(out, "key=0x1 holder=0 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm1\n"));
    close(disk);
    stop_ok(d);
    assert_false(g_file_test(tools, G_FILE_TEST_EXISTS));
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_auto_qemu_binaries),
        T(test_peer_uids_and_groups),
        T(test_auto_two_vms_one_host),
        T(test_auto_vm_follows_across_hosts),
        T(test_auto_other_peers_are_the_host),
        T(test_fixed_identity),
        T(test_client_identity),
        T(test_several_sockets),
    };
#undef T

    return TESTUTIL_RUN("initiators", tests, NULL, NULL);
}
