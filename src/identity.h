/*
 * identity: which logical unit a received file descriptor is, so that the
 * same disk is the same LU on every host that shares it.
 *
 * In order: a block or SCSI device's WWID from sysfs (the kernel's own
 * choice of VPD page 83h designator), a dm-multipath device's map uuid,
 * VPD page 83h read with SG_IO INQUIRY; a regular file's user.softpr.lu
 * extended attribute; else the canonical path this host sees.
 */
#ifndef SOFTPR_IDENTITY_H
#define SOFTPR_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* The extended attribute naming a file-backed LU. */
#define IDENTITY_XATTR "user.softpr.lu"

/* How a logical unit was identified. */
#define IDENTITY_SOURCE_WWID "sysfs-wwid"
#define IDENTITY_SOURCE_DM "dm-uuid"
#define IDENTITY_SOURCE_VPD "vpd-83h"
#define IDENTITY_SOURCE_XATTR "xattr"
#define IDENTITY_SOURCE_PATH "path"

typedef struct LuIdentity {
    char *name;         /* the LU id */
    const char *source; /* IDENTITY_SOURCE_* */
    char *path;         /* where this host sees it */
} LuIdentity;

/*
 * Identify the logical unit behind @fd.  Fails (SOFTPR_ERROR_NOT_FOUND)
 * for descriptors that cannot be a disk: pipes, sockets, directories.
 * @sysfs is the sysfs mount point ("/sys"; tests pass a fake tree).
 */
bool identity_lu(int fd, const char *sysfs, LuIdentity *id, GError **error);

void identity_lu_clear(LuIdentity *id);

/* Whether @fd was opened read-only (its status flags are not changed). */
bool identity_fd_read_only(int fd);

/*
 * Choose a WWID from VPD page 83h data (@len bytes, page header
 * included): NAA before EUI-64 before SCSI name string before T10 vendor
 * ID, logical-unit designators only, longest first.  Returns NULL when
 * there is none.  Formats as the kernel's sysfs wwid does: "naa.<hex>",
 * "eui.<hex>", "t10.<text>", or the SCSI name string itself.
 */
char *identity_wwid_from_vpd83(const uint8_t *page, size_t len);

/*
 * Turn a dm-multipath map uuid ("mpath-3600140...") into the WWID its
 * paths report ("naa.600140...").  Returns NULL for other dm uuids.
 */
char *identity_wwid_from_dm_uuid(const char *uuid);

#endif /* SOFTPR_IDENTITY_H */
