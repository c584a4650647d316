/*
 * test_dbfile: the database file as an administrator handles it while
 * softprd runs: restored by moving a backup over it (mv), deleted, put
 * back.  The daemon never serves from, nor writes to, a file that is no
 * longer at its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "peer.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

typedef struct Fixture {
    char *dir;
    TestDaemon *d;
    int disk;
    PrClient *c;
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    f->d = testd_start(f->dir, "prh", NULL, NULL);
    f->disk = testd_disk(f->dir, "disk.img", O_RDWR);
    f->c = testd_connect(f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    int code;

    client_close(f->c);
    code = testd_stop(f->d);
    if (code != 0) {
        g_autofree char *out = testd_output(f->d);

        fprintf(stderr, "%s", out);
    }
    assert_int_equal(code, 0);
    testd_free(f->d);
    close(f->disk);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* A consistent copy of the database at @db in @copy (sqlite's backup). */
static void backup(const char *db, const char *copy)
{
    sqlite3 *src = NULL;
    sqlite3 *dst = NULL;
    sqlite3_backup *b;

    assert_int_equal(sqlite3_open(db, &src), SQLITE_OK);
    sqlite3_busy_timeout(src, 60000);
    assert_int_equal(sqlite3_open(copy, &dst), SQLITE_OK);
    b = sqlite3_backup_init(dst, "main", src, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
    sqlite3_close(dst);
    sqlite3_close(src);
}

/* READ KEYS through the fixture's connection: GOOD, with @generation
 * and the one key @key (0: none). */
static void expect_keys(Fixture *f, uint32_t generation, uint64_t key)
{
    ClientReply reply;

    assert_int_equal(testd_prin(f->c, f->disk, PR_IN_READ_KEYS, 64, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), generation);
    assert_int_equal(get_be32(reply.data + 4), key != 0 ? 8 : 0);
    if (key != 0) {
        assert_true(get_be64(reply.data + 8) == key);
    }
}

/* CHECK CONDITION, ABORTED COMMAND, INTERNAL TARGET FAILURE: retry. */
static void expect_target_failure(const ClientReply *reply)
{
    ScsiSenseCode code;

    assert_int_equal(reply->status, SCSI_STATUS_CHECK_CONDITION);
    assert_true(scsi_sense_parse(reply->sense, sizeof(reply->sense), &code));
    assert_int_equal(code.key, 0xb);
    assert_int_equal(code.asc, 0x44);
    assert_int_equal(code.ascq, 0x00);
}

/*
 * A restore by mv of a backup over the live path, the daemon running:
 * the next command on an open connection reads the restored state (not
 * the unlinked file's), a PR OUT is written to the restored file (not
 * refused as a "readonly database"), and another process reading the
 * file sees that write: one view of the state.
 */
static void test_restore_by_mv(void **state)
{
    Fixture *f = *state;
    g_autofree char *copy = g_build_filename(f->dir, "backup.db", NULL);
    ClientReply reply;

    assert_int_equal(
        testd_prout(f->c, f->disk, PR_OUT_REGISTER, 0, 0, 0xa, 0, &reply),
        SCSI_STATUS_GOOD);
    backup(f->d->db, copy);
    assert_int_equal(testd_prout(f->c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 0xb, 0, &reply),
                     SCSI_STATUS_GOOD);
    expect_keys(f, 2, 0xb);

    assert_int_equal(rename(copy, f->d->db), 0);
    expect_keys(f, 1, 0xa);
    assert_int_equal(testd_prout(f->c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 0xc, 0, &reply),
                     SCSI_STATUS_GOOD);
    expect_keys(f, 2, 0xc);
    assert_int_equal(testutil_sql_int(f->d->db, "SELECT key FROM registration"),
                     0xc);
    assert_true(testd_wait_output(f->d, "was replaced by another file", 30000));
    testutil_integrity_ok(f->d->db);
}

/*
 * A VM connected across the restore looks its initiator name up again in
 * the restored registry (which did not know it): it is recorded there,
 * so that no other VM can be given its name, and its next registration
 * carries that name.
 */
static void test_restore_refreshes_vm_names(void **state)
{
    Fixture *f = *state;
    g_autofree char *copy = g_build_filename(f->dir, "backup.db", NULL);
    g_autofree char *flag = g_build_filename(f->dir, "restored", NULL);
    g_autofree char *disk = g_build_filename(f->dir, "disk.img", NULL);
    g_autofree char *qemu = testpeer_qemu(f->dir);
    const char *argv[] = {qemu,
                          "-name",
                          "guest=vm1",
                          "-uuid",
                          "11111111-1111-4111-8111-111111111111",
                          "--",
                          f->d->socket,
                          disk,
                          "register",
                          "5",
                          "wait",
                          flag,
                          "register",
                          "6",
                          "fullstatus",
                          NULL};
    g_autoptr(GError) error = NULL;
    GPid pid;
    int out_fd;
    char buf[4096] = "";
    size_t have = 0;
    int status = 0;

    backup(f->d->db, copy);
    assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &pid, NULL, &out_fd, NULL, &error));
    while (strstr(buf, "waiting") == NULL) {
        ssize_t n = read(out_fd, buf + have, sizeof(buf) - 1 - have);

        assert_true(n > 0);
        have += (size_t)n;
        buf[have] = '\0';
    }
    assert_int_equal(
        testutil_sql_int(f->d->db, "SELECT count(*) FROM initiator"), 1);
    assert_int_equal(rename(copy, f->d->db), 0);
    assert_true(g_file_set_contents(flag, "", 0, NULL));
    for (;;) {
        ssize_t n = read(out_fd, buf + have, sizeof(buf) - 1 - have);

        if (n <= 0) {
            break;
        }
        have += (size_t)n;
        buf[have] = '\0';
    }
    close(out_fd);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("prpeer failed: %s", buf);
    }
    assert_non_null(strstr(buf, "key=0x6 holder=0 rtpi=1 "
                                "initiator=iqn.2026-11.org.softpr:vm:vm1\n"));
    assert_int_equal(
        testutil_sql_int(f->d->db,
                         "SELECT count(*) FROM initiator WHERE key = "
                         "'uuid:11111111-1111-4111-8111-111111111111'"),
        1);
}

/*
 * The database deleted under a running daemon: every command fails with
 * a retryable CHECK CONDITION (ABORTED COMMAND, INTERNAL TARGET FAILURE)
 * and a log line saying why, nothing is read from the unlinked file, and
 * no empty database is created in its place (it would lose every
 * registration).  Once a database is put back, commands run on it.
 */
static void test_deleted_database(void **state)
{
    Fixture *f = *state;
    g_autofree char *copy = g_build_filename(f->dir, "backup.db", NULL);
    ClientReply reply;

    assert_int_equal(
        testd_prout(f->c, f->disk, PR_OUT_REGISTER, 0, 0, 0xa, 0, &reply),
        SCSI_STATUS_GOOD);
    /* The daemon's connections are open: reading could go on. */
    expect_keys(f, 1, 0xa);
    backup(f->d->db, copy);
    assert_int_equal(unlink(f->d->db), 0);

    testd_prin(f->c, f->disk, PR_IN_READ_KEYS, 64, &reply);
    expect_target_failure(&reply);
    testd_prout(f->c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0, 0xb, 0, &reply);
    expect_target_failure(&reply);
    assert_true(testd_wait_output(f->d, "is gone", 30000));
    assert_false(g_file_test(f->d->db, G_FILE_TEST_EXISTS));

    assert_int_equal(rename(copy, f->d->db), 0);
    expect_keys(f, 1, 0xa);
    assert_int_equal(testd_prout(f->c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 0xb, 0, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(testutil_sql_int(f->d->db, "SELECT key FROM registration"),
                     0xb);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_restore_by_mv),
        T(test_restore_refreshes_vm_names),
        T(test_deleted_database),
    };
#undef T

    return TESTUTIL_RUN("dbfile", tests, NULL, NULL);
}
