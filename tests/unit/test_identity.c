/*
 * test_identity: which logical unit a descriptor is: files by path or by
 * the user.softpr.lu attribute, devices by sysfs WWID (a fake sysfs tree)
 * or VPD page 83h (SPC-4 7.8.6), dm-multipath maps by uuid.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "testutil.h"

#include "error.h"
#include "identity.h"

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
    assert_true(identity_lu(fd, "/sys", &id, NULL));
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
    assert_true(identity_lu(fd, "/sys", &id, NULL));
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
    assert_false(identity_lu(fds[0], "/sys", &id, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_NOT_FOUND);
    assert_non_null(strstr(error->message, "pipe"));
    g_clear_error(&error);
    close(fds[0]);
    close(fds[1]);
    dir = open("/", O_RDONLY | O_DIRECTORY);
    assert_false(identity_lu(dir, "/sys", &id, &error));
    assert_non_null(strstr(error->message, "directory"));
    g_clear_error(&error);
    close(dir);
}

/* A device with device/wwid in sysfs is named by it; without one (and
 * without SG_IO), by its path. */
static void test_device_by_sysfs_wwid(void **state)
{
    g_autofree char *sysfs = testutil_tmpdir();
    g_autofree char *devdir = NULL;
    g_autofree char *wwid = NULL;
    struct stat st;
    LuIdentity id;
    int fd = open("/dev/null", O_RDWR);

    assert_int_equal(fstat(fd, &st), 0);
    assert_true(identity_lu(fd, sysfs, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_PATH);
    assert_string_equal(id.name, "/dev/null");
    identity_lu_clear(&id);

    devdir = g_strdup_printf("%s/dev/char/%u:%u/device", sysfs,
                             major(st.st_rdev), minor(st.st_rdev));
    assert_int_equal(g_mkdir_with_parents(devdir, 0755), 0);
    wwid = g_build_filename(devdir, "wwid", NULL);
    assert_true(g_file_set_contents(
        wwid, "naa.6001405c3214b06a400d19a4f0ac4f04\n", -1, NULL));
    assert_true(identity_lu(fd, sysfs, &id, NULL));
    assert_string_equal(id.source, IDENTITY_SOURCE_WWID);
    assert_string_equal(id.name, "naa.6001405c3214b06a400d19a4f0ac4f04");
    assert_string_equal(id.path, "/dev/null");
    identity_lu_clear(&id);
    close(fd);
    testutil_rmtree(sysfs);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_by_path),
        cmocka_unit_test(test_file_by_xattr),
        cmocka_unit_test(test_not_a_disk),
        cmocka_unit_test(test_device_by_sysfs_wwid),
        cmocka_unit_test(test_vpd83_preference),
        cmocka_unit_test(test_vpd83_fallbacks),
        cmocka_unit_test(test_vpd83_malformed),
        cmocka_unit_test(test_dm_uuid),
    };

    return TESTUTIL_RUN("identity", tests, NULL, NULL);
}
