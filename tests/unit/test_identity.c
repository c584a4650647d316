/*
 * test_identity: which logical unit a descriptor is: files by path or by
 * the user.softpr.lu attribute, devices by sysfs WWID (a fake sysfs tree)
 * or VPD page 83h (SPC-4 7.8.6), dm-multipath maps by uuid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "testutil.h"

#include "error.h"
#include "identity.h"

/* Identification without mappings or attribute creation. */
static const IdentityOptions plain = {"/sys", false, NULL, 0};

/* A regular file is named by its canonical path, symlinks resolved. */
static void test_file_by_path(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *link = g_build_filename(dir, "link.img", NULL);
    LuIdentity id;
    int fd;

    assert_true(g_file_set_contents(file, "", 0, NULL));
    assert_int_equal(symlink(file, link), 0);
    fd = open(link, O_RDONLY);
    assert_true(identity_lu(fd, &plain, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_PATH);
    assert_string_equal(id.name, file);
    assert_string_equal(id.path, file);
    assert_true(identity_fd_read_only(fd));
    identity_lu_clear(&id);
    close(fd);
    fd = open(file, O_RDWR);
    assert_false(identity_fd_read_only(fd));
    close(fd);
    testutil_rmtree(dir);
}

/* The user.softpr.lu attribute names a file-backed LU wherever it is. */
static void test_file_by_xattr(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
    LuIdentity id;
    int fd;

    assert_true(g_file_set_contents(file, "", 0, NULL));
    fd = open(file, O_RDWR);
    if (fsetxattr(fd, IDENTITY_XATTR, " cluster-disk-1\n", 16, 0) != 0) {
        close(fd);
        testutil_rmtree(dir);
        skip();
    }
    assert_true(identity_lu(fd, &plain, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_XATTR);
    assert_string_equal(id.name, "cluster-disk-1");
    assert_string_equal(id.path, file);
    identity_lu_clear(&id);
    close(fd);
    testutil_rmtree(dir);
}

/* Pipes, sockets and directories are not disks. */
static void test_not_a_disk(void **state)
{
    LuIdentity id;
    GError *error = NULL;
    int fds[2];
    int dir;

    assert_int_equal(pipe(fds), 0);
    assert_false(identity_lu(fds[0], &plain, false, &id, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_NOT_FOUND);
    assert_non_null(strstr(error->message, "pipe"));
    g_clear_error(&error);
    close(fds[0]);
    close(fds[1]);
    dir = open("/", O_RDONLY | O_DIRECTORY);
    assert_false(identity_lu(dir, &plain, false, &id, &error));
    assert_non_null(strstr(error->message, "directory"));
    g_clear_error(&error);
    close(dir);
}

/*
 * A SCSI generic device (a node of major 21, opened O_PATH: no such sg
 * device exists here) with device/wwid in sysfs is named by it; without
 * one (and without SG_IO), by its path.
 */
static void test_device_by_sysfs_wwid(void **state)
{
    g_autofree char *sysfs = testutil_tmpdir();
    g_autofree char *node = g_build_filename(sysfs, "sg99", NULL);
    g_autofree char *devdir = NULL;
    g_autofree char *wwid = NULL;
    struct stat st;
    LuIdentity id;
    IdentityOptions opts = {sysfs, false, NULL, 0};
    int fd;

    if (mknod(node, S_IFCHR | 0600, makedev(21, 99)) != 0) {
        testutil_rmtree(sysfs);
        skip(); /* not root */
    }
    fd = open(node, O_PATH | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(identity_lu(fd, &opts, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_PATH);
    assert_string_equal(id.name, node);
    identity_lu_clear(&id);

    devdir = g_strdup_printf("%s/dev/char/%u:%u/device", sysfs,
                             major(st.st_rdev), minor(st.st_rdev));
    assert_int_equal(g_mkdir_with_parents(devdir, 0755), 0);
    wwid = g_build_filename(devdir, "wwid", NULL);
    assert_true(g_file_set_contents(
        wwid, "naa.6001405c3214b06a400d19a4f0ac4f04\n", -1, NULL));
    assert_true(identity_lu(fd, &opts, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_WWID);
    assert_string_equal(id.name, "naa.6001405c3214b06a400d19a4f0ac4f04");
    assert_string_equal(id.path, node);
    identity_lu_clear(&id);
    close(fd);
    testutil_rmtree(sysfs);
}

/*
 * Character devices other than SCSI generic (sg) are not disks: /dev/null
 * and a pseudo-terminal are refused, so that nothing (no SG_IO INQUIRY)
 * is sent to them and they never become logical units.
 */
static void test_char_devices_refused(void **state)
{
    LuIdentity id;
    GError *error = NULL;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

    assert_true(null_fd >= 0);
    assert_false(identity_lu(null_fd, &plain, false, &id, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_NOT_FOUND);
    assert_non_null(strstr(error->message, "character device 1:3"));
    g_clear_error(&error);
    close(null_fd);
    assert_true(pty >= 0);
    assert_false(identity_lu(pty, &plain, false, &id, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_NOT_FOUND);
    assert_non_null(strstr(error->message, "not SCSI generic"));
    g_clear_error(&error);
    close(pty);
}

/* A file without the attribute gets one on first use ("lu-" and a
 * random uuid), and keeps it: the same name every time, from any path. */
static void test_file_xattr_created(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *hard = g_build_filename(dir, "other-name.img", NULL);
    IdentityOptions create = {"/sys", true, NULL, 0};
    LuIdentity first;
    LuIdentity again;
    char value[256];
    ssize_t n;
    int fd;

    assert_true(g_file_set_contents(file, "", 0, NULL));
    fd = open(file, O_RDWR);
    if (fsetxattr(fd, "user.softpr.probe", "x", 1, 0) != 0) {
        close(fd);
        testutil_rmtree(dir);
        skip();
    }
    assert_true(identity_lu(fd, &create, true, &first, NULL));
    assert_string_equal(first.source, IDENTITY_SOURCE_XATTR);
    assert_true(g_str_has_prefix(first.name, "lu-"));
    assert_int_equal(strlen(first.name), 3 + 36);
    n = fgetxattr(fd, IDENTITY_XATTR, value, sizeof(value) - 1);
    assert_true(n > 0);
    value[n] = '\0';
    assert_string_equal(value, first.name);
    close(fd);

    assert_int_equal(link(file, hard), 0);
    fd = open(hard, O_RDONLY);
    assert_true(identity_lu(fd, &create, false, &again, NULL));
    assert_string_equal(again.name, first.name);
    identity_lu_clear(&first);
    identity_lu_clear(&again);
    close(fd);
    testutil_rmtree(dir);
}

/*
 * A PR IN, or a PR OUT through a read-only descriptor, never writes the
 * attribute (identity_lu() without may_write): the file is known by its
 * path and stays as it was, even with create_xattr.
 */
static void test_file_not_labelled_without_write(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *canonical = NULL;
    IdentityOptions create = {"/sys", true, NULL, 0};
    LuIdentity id;
    char value[256];
    int fd;

    assert_true(g_file_set_contents(file, "", 0, NULL));
    canonical = realpath(file, NULL);
    fd = open(file, O_RDWR);
    if (fsetxattr(fd, "user.softpr.probe", "x", 1, 0) != 0) {
        close(fd);
        testutil_rmtree(dir);
        skip();
    }
    assert_true(identity_lu(fd, &create, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_PATH);
    assert_string_equal(id.name, canonical);
    assert_int_equal(fgetxattr(fd, IDENTITY_XATTR, value, sizeof(value)), -1);
    assert_int_equal(errno, ENODATA);
    identity_lu_clear(&id);
    close(fd);
    testutil_rmtree(dir);
}

/* A configured mapping wins over every other identification, matched by
 * the file behind the path (symlinks followed). */
static void test_mapping_wins(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
    g_autofree char *alias = g_build_filename(dir, "by-id", NULL);
    LuMapping maps[2] = {{(char *)"other", (char *)"/nonexistent"},
                         {(char *)"cluster-disk", alias}};
    IdentityOptions opts = {"/sys", true, maps, 2};
    LuIdentity id;
    int fd;

    assert_true(g_file_set_contents(file, "", 0, NULL));
    assert_int_equal(symlink(file, alias), 0);
    fd = open(file, O_RDWR);
    assert_true(identity_lu(fd, &opts, false, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_CONFIG);
    assert_string_equal(id.name, "cluster-disk");
    assert_string_equal(id.path, file);
    identity_lu_clear(&id);
    close(fd);
    testutil_rmtree(dir);
}

/* Parse a command line written with spaces between arguments. */
static void parse(const char *args, PeerInfo *peer)
{
    g_autofree char *buf = g_strconcat(args, " ", NULL);
    size_t len = strlen(buf);
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] == ' ') {
            buf[i] = '\0';
        }
    }
    identity_parse_cmdline(buf, len, peer);
}

/* QEMU peers are recognised by program name; -uuid and -name (QEMU's
 * option syntax) are read; other programs are not VMs. */
static void test_cmdline(void **state)
{
    PeerInfo p;
    char *key;

    parse("/usr/bin/qemu-system-x86_64 -machine pc -name "
          "guest=Web1,debug-threads=on -uuid 0B8E1D2F-0000-4000-8000-"
          "00000000ABCD -m 1024",
          &p);
    assert_true(p.is_qemu);
    assert_string_equal(p.vm_name, "Web1");
    assert_string_equal(p.vm_uuid, "0b8e1d2f-0000-4000-8000-00000000abcd");
    key = identity_vm_key(&p);
    assert_string_equal(key, "uuid:0b8e1d2f-0000-4000-8000-00000000abcd");
    g_free(key);
    identity_peer_clear(&p);

    parse("qemu-kvm -name db,,main,process=qemu:db", &p);
    assert_true(p.is_qemu);
    assert_string_equal(p.vm_name, "db,main");
    assert_null(p.vm_uuid);
    key = identity_vm_key(&p);
    assert_string_equal(key, "name:db,main");
    g_free(key);
    identity_peer_clear(&p);

    parse("kvm --name guest=x", &p);
    assert_true(p.is_qemu);
    assert_string_equal(p.vm_name, "x");
    identity_peer_clear(&p);

    parse("qemu-system-aarch64 -nographic", &p);
    assert_true(p.is_qemu);
    assert_null(identity_vm_key(&p));
    identity_peer_clear(&p);

    parse("/usr/bin/python3 fake.py -name guest=vm1", &p);
    assert_false(p.is_qemu);
    assert_null(identity_vm_key(&p));
    identity_peer_clear(&p);

    /* A command line cut short: the partial argument is not read. */
    identity_parse_cmdline("qemu\0-name\0guest=abc", 20, &p);
    assert_true(p.is_qemu);
    assert_null(p.vm_name);
    identity_peer_clear(&p);
}

/* Initiator names are valid iSCSI names a person can read. */
static void test_initiator_names(void **state)
{
    PeerInfo p;
    char *name;

    memset(&p, 0, sizeof(p));
    p.is_qemu = true;
    p.vm_name = g_strdup("Web Server #1");
    p.vm_uuid = g_strdup("0b8e1d2f-0000-4000-8000-00000000abcd");
    name = identity_vm_initiator_name(&p);
    assert_string_equal(name, IDENTITY_IQN_PREFIX ":vm:web-server--1");
    assert_true(tid_iscsi_name_valid(name));
    g_free(name);
    g_clear_pointer(&p.vm_name, g_free);
    name = identity_vm_initiator_name(&p);
    assert_string_equal(name, IDENTITY_IQN_PREFIX
                        ":vm:0b8e1d2f-0000-4000-8000-00000000abcd");
    g_free(name);
    identity_peer_clear(&p);

    name = identity_host_initiator_name("Node_1.Example");
    assert_string_equal(name, IDENTITY_IQN_PREFIX ":host:node-1.example");
    assert_true(tid_iscsi_name_valid(name));
    g_free(name);
}

/* Append a designation descriptor (SPC-4 7.8.6.1 table 484). */
static size_t add_designator(uint8_t *page, size_t off, uint8_t code_set,
                             uint8_t assoc, uint8_t type, const void *id,
                             uint8_t len)
{
    page[off] = code_set;
    page[off + 1] = (uint8_t)((assoc << 4) | type);
    page[off + 2] = 0;
    page[off + 3] = len;
    memcpy(page + off + 4, id, len);
    return off + 4 + len;
}

static void finish_page(uint8_t *page, size_t end)
{
    page[0] = 0;
    page[1] = 0x83;
    page[2] = (uint8_t)((end - 4) >> 8);
    page[3] = (uint8_t)(end - 4);
}

/* VPD 83h: NAA of the logical unit wins over EUI-64, SCSI name, T10
 * vendor ID, and over designators of a target port. */
static void test_vpd83_preference(void **state)
{
    static const uint8_t naa_port[8] = {0x50, 1, 2, 3, 4, 5, 6, 7};
    static const uint8_t naa_lu[16] = {0x60, 0x01, 0x40, 0x5c, 0x32, 0x14,
                                       0xb0, 0x6a, 0x40, 0x0d, 0x19, 0xa4,
                                       0xf0, 0xac, 0x4f, 0x04};
    static const uint8_t eui[8] = {0x00, 0x11, 0x22, 0x33,
                                   0x44, 0x55, 0x66, 0x77};
    uint8_t page[256];
    size_t off = 4;
    g_autofree char *wwid = NULL;

    memset(page, 0, sizeof(page));
    off = add_designator(page, off, 2, 0, 1, "LIO-ORG disk0   ", 16);
    off = add_designator(page, off, 1, 0, 2, eui, sizeof(eui));
    off = add_designator(page, off, 1, 1, 3, naa_port, sizeof(naa_port));
    off = add_designator(page, off, 1, 0, 3, naa_lu, sizeof(naa_lu));
    finish_page(page, off);
    wwid = identity_wwid_from_vpd83(page, off);
    assert_string_equal(wwid, "naa.6001405c3214b06a400d19a4f0ac4f04");
}

/* Without NAA: EUI-64, then SCSI name string, then T10 vendor ID. */
static void test_vpd83_fallbacks(void **state)
{
    static const uint8_t eui[8] = {0xab, 0xcd, 0, 0, 0, 0, 0, 1};
    uint8_t page[256];
    size_t off;
    char *wwid;

    memset(page, 0, sizeof(page));
    off = add_designator(page, 4, 2, 0, 1, "ATA     QEMU HARDDISK   ", 24);
    off = add_designator(page, off, 1, 0, 2, eui, sizeof(eui));
    finish_page(page, off);
    wwid = identity_wwid_from_vpd83(page, off);
    assert_string_equal(wwid, "eui.abcd000000000001");
    g_free(wwid);

    off = add_designator(page, 4, 2, 0, 1, "ATA     QEMU HARDDISK   ", 24);
    off = add_designator(page, off, 3, 0, 8, "iqn.2026-11.test:lu\0\0\0\0", 24);
    finish_page(page, off);
    wwid = identity_wwid_from_vpd83(page, off);
    assert_string_equal(wwid, "iqn.2026-11.test:lu");
    g_free(wwid);

    off = add_designator(page, 4, 2, 0, 1, "ATA     QEMU HARDDISK   ", 24);
    finish_page(page, off);
    wwid = identity_wwid_from_vpd83(page, off);
    assert_string_equal(wwid, "t10.ATA     QEMU HARDDISK");
    g_free(wwid);
}

/* Malformed pages: no read past the data, no identity. */
static void test_vpd83_malformed(void **state)
{
    uint8_t page[16];

    memset(page, 0, sizeof(page));
    assert_null(identity_wwid_from_vpd83(page, 3));
    page[1] = 0x80; /* another page */
    assert_null(identity_wwid_from_vpd83(page, sizeof(page)));
    page[1] = 0x83;
    page[3] = 12;
    page[4 + 1] = 0x03; /* NAA */
    page[4 + 3] = 200;  /* longer than the page */
    assert_null(identity_wwid_from_vpd83(page, sizeof(page)));
    page[3] = 0;
    assert_null(identity_wwid_from_vpd83(page, sizeof(page)));
}

/* dm-multipath names a map after its paths' scsi_id. */
static void test_dm_uuid(void **state)
{
    char *w;

    w = identity_wwid_from_dm_uuid("mpath-36001405C3214B06A400D19A4F0AC4F04");
    assert_string_equal(w, "naa.6001405c3214b06a400d19a4f0ac4f04");
    g_free(w);
    w = identity_wwid_from_dm_uuid("mpath-2abcd000000000001");
    assert_string_equal(w, "eui.abcd000000000001");
    g_free(w);
    assert_null(identity_wwid_from_dm_uuid("LVM-Q1w2e3r4"));
    assert_null(identity_wwid_from_dm_uuid("mpath-"));
}

/*
 * peer-uids and peer-groups: anyone without them; with them, a peer
 * whose uid is listed, or whose primary or a supplementary group is.
 */
static void test_peer_allowed(void **state)
{
    PeerPolicy open_policy = {NULL, NULL, NULL};
    PeerPolicy policy = {NULL, NULL, NULL};
    uid_t uid = 107;
    gid_t gid = 36;
    gid_t groups[] = {1000, 36};

    assert_true(identity_peer_allowed(&open_policy, 1234, 1234, NULL, 0));
    policy.uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
    g_array_append_val(policy.uids, uid);
    assert_true(identity_peer_allowed(&policy, 107, 107, NULL, 0));
    assert_false(identity_peer_allowed(&policy, 0, 0, NULL, 0));
    policy.gids = g_array_new(FALSE, FALSE, sizeof(gid_t));
    g_array_append_val(policy.gids, gid);
    assert_true(identity_peer_allowed(&policy, 1000, 36, NULL, 0));
    assert_true(identity_peer_allowed(&policy, 1000, 1000, groups, 2));
    assert_false(identity_peer_allowed(&policy, 1000, 1000, groups, 1));
    identity_policy_clear(&policy);
    assert_null(policy.uids);
}

/*
 * qemu-binaries: a process running a listed executable matches; another
 * does not, and says what it runs; without the list anything matches.
 */
static void test_peer_binary(void **state)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    char *list[] = {(char *)"/usr/bin/qemu-system-x86_64", self, NULL};
    char *other[] = {(char *)"/usr/bin/qemu-system-x86_64", NULL};
    PeerPolicy none = {NULL, NULL, NULL};
    PeerPolicy listed = {NULL, NULL, list};
    PeerPolicy unlisted = {NULL, NULL, other};
    PeerPolicy copy = {NULL, NULL, NULL};
    char *exe = NULL;

    assert_non_null(self);
    assert_true(identity_peer_binary_allowed(&none, getpid(), &exe));
    assert_null(exe);
    assert_true(identity_peer_binary_allowed(&listed, getpid(), &exe));
    assert_string_equal(exe, self);
    g_free(exe);
    assert_false(identity_peer_binary_allowed(&unlisted, getpid(), &exe));
    assert_string_equal(exe, self);
    g_free(exe);
    identity_policy_copy(&copy, &listed);
    assert_true(identity_peer_binary_allowed(&copy, getpid(), &exe));
    g_free(exe);
    identity_policy_clear(&copy);
}

/*
 * A labelled copy: another file (cp -a) with the same attribute is one;
 * the same file by another name (a hard link), a file with another
 * attribute, or none at all is not.
 */
static void test_labelled_copy(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *orig = g_build_filename(dir, "orig.img", NULL);
    g_autofree char *copy = g_build_filename(dir, "copy.img", NULL);
    g_autofree char *other = g_build_filename(dir, "other.img", NULL);
    g_autofree char *hard = g_build_filename(dir, "hard.img", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.img", NULL);
    int fd;

    assert_true(g_file_set_contents(orig, "", 0, NULL));
    assert_true(g_file_set_contents(copy, "", 0, NULL));
    assert_true(g_file_set_contents(other, "", 0, NULL));
    if (setxattr(orig, IDENTITY_XATTR, "lu-1", 4, 0) != 0) {
        testutil_rmtree(dir);
        skip();
    }
    assert_int_equal(setxattr(copy, IDENTITY_XATTR, "lu-1", 4, 0), 0);
    assert_int_equal(setxattr(other, IDENTITY_XATTR, "lu-2", 4, 0), 0);
    assert_int_equal(link(orig, hard), 0);
    fd = open(orig, O_RDONLY | O_CLOEXEC);
    assert_true(identity_is_labelled_copy(fd, copy, "lu-1"));
    assert_false(identity_is_labelled_copy(fd, hard, "lu-1"));
    assert_false(identity_is_labelled_copy(fd, other, "lu-1"));
    assert_false(identity_is_labelled_copy(fd, missing, "lu-1"));
    assert_false(identity_is_labelled_copy(fd, dir, "lu-1"));
    close(fd);
    testutil_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_by_path),
        cmocka_unit_test(test_file_by_xattr),
        cmocka_unit_test(test_file_xattr_created),
        cmocka_unit_test(test_file_not_labelled_without_write),
        cmocka_unit_test(test_mapping_wins),
        cmocka_unit_test(test_cmdline),
        cmocka_unit_test(test_initiator_names),
        cmocka_unit_test(test_not_a_disk),
        cmocka_unit_test(test_device_by_sysfs_wwid),
        cmocka_unit_test(test_char_devices_refused),
        cmocka_unit_test(test_peer_allowed),
        cmocka_unit_test(test_peer_binary),
        cmocka_unit_test(test_labelled_copy),
        cmocka_unit_test(test_vpd83_preference),
        cmocka_unit_test(test_vpd83_fallbacks),
        cmocka_unit_test(test_vpd83_malformed),
        cmocka_unit_test(test_dm_uuid),
    };

    return TESTUTIL_RUN("identity", tests, NULL, NULL);
}
