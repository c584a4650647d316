/*
 * test_fscheck: the database's filesystem from mountinfo, and the mounts
 * whose locks do not keep hosts apart (nfs(5) nolock and local_lock=,
 * gfs2(5) localflocks, mount.cifs(8) nobrl), or WAL on shared storage;
 * the NFSv4 client identity a Linux host presents, and hosts that share
 * one.
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

/* Linux's client identity: uniform for NFSv4.1+ (RFC 8881 2.4: one
 * co_ownerid per client), the namespace identifier before the module
 * parameter; NFSv4.0 adds the server address; none for NFSv3 or ext4. */
static void test_nfs_identity_build(void **state)
{
    FsInfo info;
    char *id;

    inspect("/srv/cluster/pr.db", &info);
    id = fscheck_nfs_identity_build(&info, "node-a", NULL, NULL);
    assert_string_equal(id, "Linux NFSv4.2 node-a");
    g_free(id);
    id = fscheck_nfs_identity_build(&info, "node-a", "", "mod-id");
    assert_string_equal(id, "Linux NFSv4.2 mod-id/node-a");
    g_free(id);
    id = fscheck_nfs_identity_build(&info, "node-a", "ns-id", "mod-id");
    assert_string_equal(id, "Linux NFSv4.2 ns-id/node-a");
    g_free(id);
    fscheck_info_clear(&info);

    inspect("/srv/ll/pr.db", &info);
    id = fscheck_nfs_identity_build(&info, "n", NULL, NULL);
    assert_string_equal(id, "Linux NFSv4.1 n");
    g_free(id);
    fscheck_info_clear(&info);

    inspect("/srv/v3/pr.db", &info);
    assert_null(fscheck_nfs_identity_build(&info, "n", NULL, NULL));
    fscheck_info_clear(&info);
    inspect("/srv/over/pr.db", &info); /* nfs4 without vers= */
    assert_null(fscheck_nfs_identity_build(&info, "n", NULL, NULL));
    fscheck_info_clear(&info);
    inspect("/var/lib/softpr/pr.db", &info);
    assert_null(fscheck_nfs_identity_build(&info, "n", NULL, NULL));
    fscheck_info_clear(&info);

    assert_true(fscheck_parse_mountinfo(
        "50 22 0:50 / /v40 rw - nfs4 s:/ rw,vers=4.0,addr=10.0.0.9\n",
        "/v40/pr.db", &info));
    id = fscheck_nfs_identity_build(&info, "n", NULL, NULL);
    assert_string_equal(id, "Linux NFSv4.0 n/10.0.0.9");
    g_free(id);
    fscheck_info_clear(&info);
}

/* Two hosts presenting one identity are one client to the server: the
 * refusal names both hosts, the identity and the two fixes. */
static void test_nfs_identities_shared(void **state)
{
    const char *hosts[] = {"host-a", "host-b", "host-c"};
    const char *distinct[] = {"Linux NFSv4.2 a", "Linux NFSv4.2 b", NULL};
    const char *shared[] = {"Linux NFSv4.2 a", "Linux NFSv4.2 clone",
                            "Linux NFSv4.2 clone"};
    const char *not_nfs[] = {NULL, NULL, NULL};
    GError *error = NULL;

    assert_true(fscheck_nfs_identities_distinct(hosts, distinct, 3, NULL));
    assert_true(fscheck_nfs_identities_distinct(hosts, not_nfs, 3, NULL));
    assert_false(fscheck_nfs_identities_distinct(hosts, shared, 3, &error));
    assert_non_null(strstr(error->message, "host-b and host-c share one "
                                           "NFSv4 client identity "
                                           "(\"Linux NFSv4.2 clone\")"));
    assert_non_null(strstr(error->message, "distinct hostnames"));
    assert_non_null(
        strstr(error->message, "/sys/fs/nfs/net/nfs_client/identifier"));
    g_error_free(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_and_last_mount),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_inspect_here),
        cmocka_unit_test(test_nfs_identity_build),
        cmocka_unit_test(test_nfs_identities_shared),
    };

    return TESTUTIL_RUN("fscheck", tests, NULL, NULL);
}
