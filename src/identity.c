/*
 * identity: logical unit identification from a received descriptor
 * (identity_peer.c identifies the initiators).
 */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <linux/loop.h>
#include <linux/major.h>

#include "error.h"
#include "sgio.h"

/* The character devices that are disks: SCSI generic (Linux's sg). */
#define SCSI_GENERIC_MAJOR 21

#define VPD_BUFFER_LEN 1024
#define SG_IO_TIMEOUT_MS 5000

/* ------------------------------------------------------------------ */
/* Logical units                                                       */
/* ------------------------------------------------------------------ */

void identity_lu_clear(LuIdentity *id)
{
    g_clear_pointer(&id->name, g_free);
    g_clear_pointer(&id->path, g_free);
    id->source = NULL;
}

bool identity_fd_read_only(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    return flags >= 0 && (flags & O_ACCMODE) == O_RDONLY;
}

/* The first line of a sysfs attribute, or NULL when absent or empty. */
static char *read_attribute(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    g_strstrip(text);
    if (*text == '\0') {
        g_free(text);
        return NULL;
    }
    return text;
}

static char *hex_string(const char *prefix, const uint8_t *p, size_t n)
{
    GString *s = g_string_new(prefix);
    size_t i;

    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%02x", p[i]);
    }
    return g_string_free(s, FALSE);
}

/* Printable text of @n bytes, trailing spaces and NULs removed. */
static char *text_string(const char *prefix, const uint8_t *p, size_t n)
{
    GString *s = g_string_new(prefix);
    size_t i;

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0')) {
        n--;
    }
    for (i = 0; i < n; i++) {
        g_string_append_c(s, g_ascii_isprint(p[i]) ? (char)p[i] : '_');
    }
    return g_string_free(s, FALSE);
}

/* Rank of a designator type: higher is preferred; 0 is unusable. */
static int designator_rank(uint8_t type)
{
    switch (type) {
    case 0x3: /* NAA */
        return 4;
    case 0x2: /* EUI-64 based */
        return 3;
    case 0x8: /* SCSI name string */
        return 2;
    case 0x1: /* T10 vendor ID based */
        return 1;
    default:
        return 0;
    }
}

char *identity_wwid_from_vpd83(const uint8_t *page, size_t len)
{
    const uint8_t *best = NULL;
    int best_rank = 0;
    size_t off;
    size_t end;

    if (len < 4 || page[1] != 0x83) {
        return NULL;
    }
    end = 4 + (size_t)((page[2] << 8) | page[3]);
    if (end > len) {
        end = len;
    }
    for (off = 4; off + 4 <= end;) {
        const uint8_t *d = page + off;
        size_t dlen = d[3];
        int rank = designator_rank(d[1] & 0x0f);

        if (off + 4 + dlen > end) {
            break;
        }
        /* Only designators of the logical unit itself (association 0). */
        if ((d[1] & 0x30) == 0 && dlen > 0 &&
            (rank > best_rank ||
             (rank == best_rank && best != NULL && dlen > best[3]))) {
            best = d;
            best_rank = rank;
        }
        off += 4 + dlen;
    }
    if (best == NULL) {
        return NULL;
    }
    switch (best[1] & 0x0f) {
    case 0x3:
        return hex_string("naa.", best + 4, best[3]);
    case 0x2:
        return hex_string("eui.", best + 4, best[3]);
    case 0x8:
        return text_string("", best + 4, best[3]);
    default:
        return text_string("t10.", best + 4, best[3]);
    }
}

char *identity_wwid_from_dm_uuid(const char *uuid)
{
    const char *wwid;

    if (!g_str_has_prefix(uuid, "mpath-") || uuid[6] == '\0') {
        return NULL;
    }
    /* multipath names a map by its paths' scsi_id: the first digit is
     * the VPD page 83h designator type. */
    wwid = uuid + 6;
    switch (wwid[0]) {
    case '3':
    case '2': {
        g_autofree char *lower = g_ascii_strdown(wwid + 1, -1);

        return g_strconcat(wwid[0] == '3' ? "naa." : "eui.", lower, NULL);
    }
    case '1':
        return g_strconcat("t10.", wwid + 1, NULL);
    case '8':
        return g_strdup(wwid + 1);
    default:
        return g_strdup(wwid);
    }
}

/* VPD page 83h through SG_IO INQUIRY; NULL when the device cannot. */
static char *wwid_from_inquiry(int fd)
{
    uint8_t cdb[6] = {
        0x12, 0x01, 0x83, VPD_BUFFER_LEN >> 8, VPD_BUFFER_LEN & 0xff, 0};
    uint8_t page[VPD_BUFFER_LEN];
    uint8_t sense[32];
    SgioRequest req = {
        .cdb = cdb,
        .cdb_len = sizeof(cdb),
        .direction = SGIO_DATA_FROM_DEV,
        .data = page,
        .data_len = sizeof(page),
        .sense = sense,
        .sense_cap = sizeof(sense),
        .timeout_ms = SG_IO_TIMEOUT_MS,
    };
    SgOutcome sg;

    memset(page, 0, sizeof(page));
    sgio_issue(fd, &req, &sg);
    if (!sgio_good(&sg)) {
        return NULL;
    }
    return identity_wwid_from_vpd83(page, sg.data_len);
}

/* The path this host sees @fd at. */
static char *fd_path(int fd)
{
    g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
    char *path = g_file_read_link(link, NULL);

    return path != NULL ? path : g_strdup_printf("fd:%d", fd);
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISFIFO(mode)) {
        return "a pipe";
    }
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
    if (S_ISLNK(mode)) {
        return "a symbolic link";
    }
    return "not a disk";
}

static bool device_identity(int fd, const struct stat *st, const char *sysfs,
                            LuIdentity *id)
{
    g_autofree char *base = g_strdup_printf(
        "%s/dev/%s/%u:%u", sysfs, S_ISBLK(st->st_mode) ? "block" : "char",
        major(st->st_rdev), minor(st->st_rdev));
    g_autofree char *attr = NULL;
    char *value;

    if (S_ISBLK(st->st_mode)) {
        attr = g_build_filename(base, "dm", "uuid", NULL);
        value = read_attribute(attr);
        if (value != NULL) {
            id->name = identity_wwid_from_dm_uuid(value);
            if (id->name == NULL) {
                id->name = g_strconcat("dm:", value, NULL);
            }
            g_free(value);
            id->source = IDENTITY_SOURCE_DM;
            return true;
        }
        g_free(attr);
    }
    attr = g_build_filename(base, "device", "wwid", NULL);
    value = read_attribute(attr);
    if (value != NULL) {
        id->name = value;
        id->source = IDENTITY_SOURCE_WWID;
        return true;
    }
    id->name = wwid_from_inquiry(fd);
    if (id->name != NULL) {
        id->source = IDENTITY_SOURCE_VPD;
        return true;
    }
    return false;
}

/* The user.softpr.lu attribute of @fd, or NULL. */
static char *read_lu_xattr(int fd)
{
    char value[256];
    ssize_t n = fgetxattr(fd, IDENTITY_XATTR, value, sizeof(value) - 1);
    size_t i;

    if (n <= 0) {
        return NULL;
    }
    value[n] = '\0';
    g_strstrip(value);
    for (i = 0; value[i] != '\0'; i++) {
        if (!g_ascii_isprint(value[i])) {
            return NULL;
        }
    }
    return value[0] != '\0' ? g_strdup(value) : NULL;
}

static bool file_identity(int fd, bool create, LuIdentity *id)
{
    id->name = read_lu_xattr(fd);
    if (id->name == NULL && create) {
        g_autofree char *uuid = g_uuid_string_random();
        g_autofree char *fresh = g_strconcat("lu-", uuid, NULL);

        /* XATTR_CREATE: when two hosts race, one wins and both read it. */
        if (fsetxattr(fd, IDENTITY_XATTR, fresh, strlen(fresh), XATTR_CREATE) ==
                0 ||
            errno == EEXIST) {
            id->name = read_lu_xattr(fd);
        }
    }
    if (id->name == NULL) {
        return false;
    }
    id->source = IDENTITY_SOURCE_XATTR;
    return true;
}

bool identity_is_labelled_copy(int fd, const char *other_path, const char *name)
{
    struct stat here;
    struct stat there;
    int other;
    g_autofree char *label = NULL;

    if (fstat(fd, &here) != 0 || stat(other_path, &there) != 0 ||
        !S_ISREG(there.st_mode) ||
        (here.st_dev == there.st_dev && here.st_ino == there.st_ino)) {
        return false;
    }
    other = open(other_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (other < 0) {
        return false;
    }
    /* Still the file stat() saw (not something put there since). */
    if (fstat(other, &there) == 0 && S_ISREG(there.st_mode) &&
        !(here.st_dev == there.st_dev && here.st_ino == there.st_ino)) {
        label = read_lu_xattr(other);
    }
    close(other);
    return label != NULL && strcmp(label, name) == 0;
}

/* A configured mapping whose path is the file or device behind @st. */
static bool mapped_identity(const struct stat *st,
                            const IdentityOptions *options, LuIdentity *id)
{
    size_t i;

    for (i = 0; i < options->n_maps; i++) {
        struct stat map;

        if (stat(options->maps[i].path, &map) != 0 ||
            (map.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
            continue;
        }
        if ((S_ISBLK(st->st_mode) || S_ISCHR(st->st_mode))
                ? map.st_rdev == st->st_rdev
                : map.st_dev == st->st_dev && map.st_ino == st->st_ino) {
            id->name = g_strdup(options->maps[i].name);
            id->source = IDENTITY_SOURCE_CONFIG;
            id->mode = options->maps[i].mode;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Loop devices                                                        */
/* ------------------------------------------------------------------ */

char *identity_loop_backing_path(int fd, const struct stat *st,
                                 const char *sysfs)
{
    g_autofree char *attr = NULL;
    struct loop_info64 info;
    char *path;

    if (!S_ISBLK(st->st_mode) || major(st->st_rdev) != LOOP_MAJOR) {
        return NULL;
    }
    attr = g_strdup_printf("%s/dev/block/%u:%u/loop/backing_file", sysfs,
                           major(st->st_rdev), minor(st->st_rdev));
    path = read_attribute(attr);
    if (path != NULL) {
        return path;
    }
    /* Without sysfs (some containers): the name losetup gave, which the
     * kernel keeps to 63 bytes. */
    memset(&info, 0, sizeof(info));
    if (ioctl(fd, LOOP_GET_STATUS64, &info) != 0 || info.lo_file_name[0] == 0) {
        return NULL;
    }
    return g_strndup((const char *)info.lo_file_name,
                     sizeof(info.lo_file_name));
}

/*
 * Open the file at @path behind loop device @fd, read-only, when it is
 * that very file (LOOP_GET_STATUS64 gives its device and inode: a path
 * seen through another mount namespace may name another file).  Returns
 * -1 when it cannot be opened or is not the file.
 */
static int loop_backing_open(int fd, const char *path, struct stat *st)
{
    struct loop_info64 info;
    int file;

    memset(&info, 0, sizeof(info));
    if (ioctl(fd, LOOP_GET_STATUS64, &info) != 0) {
        return -1;
    }
    file = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (file < 0) {
        return -1;
    }
    if (fstat(file, st) != 0 || !S_ISREG(st->st_mode) ||
        (uint64_t)st->st_dev != info.lo_device ||
        (uint64_t)st->st_ino != info.lo_inode) {
        close(file);
        return -1;
    }
    return file;
}

bool identity_lu(int fd, const IdentityOptions *options, bool may_write,
                 LuIdentity *id, GError **error)
{
    struct stat st;
    bool found = false;
    g_autofree char *loop_path = NULL;
    int file = fd; /* what is identified: @fd, or a loop device's file */

    memset(id, 0, sizeof(*id));
    if (fstat(fd, &st) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "fstat of the received descriptor: %s", g_strerror(errno));
        return false;
    }
    if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND,
                    "the received descriptor is %s, not a disk or file",
                    file_kind(st.st_mode));
        return false;
    }
    /* /dev/null, a tty: nothing to identify, and no SG_IO for them. */
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) != SCSI_GENERIC_MAJOR) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND,
                    "the received descriptor is character device %u:%u, "
                    "not SCSI generic (sg), a block device or a file",
                    major(st.st_rdev), minor(st.st_rdev));
        return false;
    }
    found = mapped_identity(&st, options, id);
    if (!found) {
        /* A loop device is the LU of its file, as the file itself is. */
        loop_path = identity_loop_backing_path(fd, &st, options->sysfs);
        if (loop_path != NULL) {
            file = loop_backing_open(fd, loop_path, &st);
            found = file >= 0 && mapped_identity(&st, options, id);
        }
    }
    if (!found && loop_path != NULL && file < 0) {
        id->name = g_strdup(loop_path);
        id->source = IDENTITY_SOURCE_PATH;
        found = true;
    } else if (!found && S_ISREG(st.st_mode)) {
        found = file_identity(file, options->create_xattr && may_write, id);
    } else if (!found) {
        found = device_identity(fd, &st, options->sysfs, id);
    }
    id->path = fd_path(fd);
    if (!found) {
        id->name = fd_path(file);
        id->source = IDENTITY_SOURCE_PATH;
    }
    if (file >= 0 && file != fd) {
        close(file);
    }
    return true;
}
