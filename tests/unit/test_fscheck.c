/*
 * test_fscheck: the database's filesystem from mountinfo, and the mounts
 * whose locks do not keep hosts apart (nfs(5) nolock and local_lock=,
 * gfs2(5) localflocks, mount.cifs(8) nobrl), or WAL on shared storage.
 */
#include <string.h>

#include "testutil.h"

#include "error.h"
#include "fscheck.h"

static const char mountinfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "35 22 0:40 / /srv/cluster rw,relatime shared:20 - nfs4 "
    "server:/export rw,vers=4.2,rsize=1048576,hard,proto=tcp,"
    "local_lock=none,addr=10.0.0.1\n"
    "36 22 0:41 / /srv/v3 rw,relatime - nfs server:/v3 "
    "rw,vers=3,nolock,proto=tcp\n"
    "37 22 0:42 / /srv/ll rw - nfs4 s:/ll rw,vers=4.1,local_lock=posix\n"
    "38 22 253:3 / /srv/gfs rw,relatime - gfs2 /dev/mapper/vg-gfs "
    "rw,localflocks\n"
    "39 22 0:43 / /srv/ceph rw - ceph 10.0.0.1:6789:/ rw,name=admin\n"
    "40 22 8:16 / /mnt/with\\040space rw - ext4 /dev/sdb rw\n"
    "41 35 0:45 / /srv/cluster/sub rw - tmpfs tmpfs rw\n"
    "42 22 0:46 / /srv/smb rw - cifs //nas/share rw,nobrl\n"
    "43 22 0:47 / /srv/over rw - ext4 /dev/sdc rw\n"
    "44 22 0:48 / /srv/over rw - nfs4 s:/over rw,local_lock=all\n";

static void inspect(const char *path, FsInfo *info)
{
    if (!fscheck_parse_mountinfo(mountinfo, path, info)) {
        fail_msg("no mount for %s", path);
    }
}

/* The mount holding a path is the longest mount point above it, the
 * last one where several are mounted on the same point. */
static void test_longest_and_last_mount(void **state)
{
    FsInfo info;

    inspect("/srv/cluster/softpr/pr.db", &info);
    assert_string_equal(info.fstype, "nfs4");
    assert_string_equal(info.mount_point, "/srv/cluster");
    assert_string_equal(info.source, "server:/export");
    assert_true(info.shared);
    fscheck_info_clear(&info);

    inspect("/srv/cluster/sub/pr.db", &info);
    assert_string_equal(info.fstype, "tmpfs");
    assert_false(info.shared);
    fscheck_info_clear(&info);

    inspect("/srv/clusterx/pr.db", &info);
    assert_string_equal(info.mount_point, "/");
    assert_string_equal(info.fstype, "ext4");
    fscheck_info_clear(&info);

    inspect("/mnt/with space/pr.db", &info);
    assert_string_equal(info.mount_point, "/mnt/with space");
    fscheck_info_clear(&info);

    inspect("/srv/over/pr.db", &info);
    assert_string_equal(info.fstype, "nfs4");
    fscheck_info_clear(&info);
}

static void expect_verdict(const char *path, StoreJournal journal,
                           const char *refusal)
{
    FsInfo info;
    GError *error = NULL;
    bool ok;

    inspect(path, &info);
    ok = fscheck_verdict(&info, journal, &error);
    fscheck_info_clear(&info);
    if (refusal == NULL) {
        if (!ok) {
            fail_msg("%s refused: %s", path, error->message);
        }
        return;
    }
    assert_false(ok);
    if (strstr(error->message, refusal) == NULL) {
        fail_msg("%s: '%s' lacks '%s'", path, error->message, refusal);
    }
    g_error_free(error);
}

/* Local filesystems take either journal mode; shared ones with locks
 * that reach the other hosts take the rollback journal. */
static void test_accepted(void **state)
{
    expect_verdict("/var/lib/softpr/pr.db", STORE_JOURNAL_DELETE, NULL);
    expect_verdict("/var/lib/softpr/pr.db", STORE_JOURNAL_WAL, NULL);
    expect_verdict("/srv/cluster/pr.db", STORE_JOURNAL_DELETE, NULL);
    expect_verdict("/srv/ceph/pr.db", STORE_JOURNAL_DELETE, NULL);
}

/* Host-local locks, and WAL on shared storage, are refused. */
static void test_refused(void **state)
{
    expect_verdict("/srv/cluster/pr.db", STORE_JOURNAL_WAL, "shared memory");
    expect_verdict("/srv/ceph/pr.db", STORE_JOURNAL_WAL, "shared memory");
    expect_verdict("/srv/v3/pr.db", STORE_JOURNAL_DELETE, "nolock");
    expect_verdict("/srv/ll/pr.db", STORE_JOURNAL_DELETE, "local_lock");
    expect_verdict("/srv/over/pr.db", STORE_JOURNAL_DELETE, "local_lock");
    expect_verdict("/srv/gfs/pr.db", STORE_JOURNAL_DELETE, "localflocks");
    expect_verdict("/srv/smb/pr.db", STORE_JOURNAL_DELETE, "nobrl");
}

/* This machine's real mountinfo describes a real directory. */
static void test_inspect_here(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    FsInfo info;

    assert_true(fscheck_inspect(dir, &info, NULL));
    assert_non_null(info.fstype);
    assert_true(g_str_has_prefix(dir, info.mount_point));
    fscheck_info_clear(&info);
    assert_false(fscheck_inspect("/nonexistent/dir", &info, NULL));
    testutil_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_and_last_mount),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_inspect_here),
    };

    return TESTUTIL_RUN("fscheck", tests, NULL, NULL);
}
