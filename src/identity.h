/*
 * identity: who sent a command and which logical unit it addresses.
 *
 * Initiators: each listening socket has a policy.  "auto" makes a QEMU
 * peer's nexus follow its VM (-uuid, else -name guest=), so that the VM
 * keeps its registrations wherever it runs, and makes any other peer act
 * as this host; "client" lets the peer declare its TransportID (wire
 * feature bit 0); a fixed TransportID names every peer alike.
 *
 * Logical units, so that the same disk is the same LU on every host: a
 * mapping in the configuration; a block or SCSI device's WWID from sysfs
 * (the kernel's choice of VPD page 83h designator), a dm-multipath map's
 * uuid, VPD page 83h read with SG_IO INQUIRY; a regular file's
 * user.softpr.lu extended attribute (created by the first PR OUT through
 * a descriptor open for writing, where the filesystem allows it); else
 * the canonical path this host sees.  A loop device is identified as the
 * file behind it.
 */
#ifndef SOFTPR_IDENTITY_H
#define SOFTPR_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <glib.h>

#include "tid.h"

/* The iSCSI naming authority of the initiator names softprd makes up. */
#define IDENTITY_IQN_PREFIX "iqn.2026-11.org.softpr"

/* The extended attribute naming a file-backed LU. */
#define IDENTITY_XATTR "user.softpr.lu"

/* How a logical unit was identified. */
#define IDENTITY_SOURCE_CONFIG "config"
#define IDENTITY_SOURCE_WWID "sysfs-wwid"
#define IDENTITY_SOURCE_DM "dm-uuid"
#define IDENTITY_SOURCE_VPD "vpd-83h"
#define IDENTITY_SOURCE_XATTR "xattr"
#define IDENTITY_SOURCE_PATH "path"

/* ------------------------------------------------------------------ */
/* Initiators                                                          */
/* ------------------------------------------------------------------ */

typedef enum IdentityPolicy {
    IDENTITY_AUTO,   /* QEMU peers follow their VM; others are the host */
    IDENTITY_CLIENT, /* the peer declares its TransportID */
    IDENTITY_FIXED,  /* one configured TransportID */
} IdentityPolicy;

/* What a peer process told us about itself on its command line. */
typedef struct PeerInfo {
    bool is_qemu;
    char *vm_uuid; /* -uuid, lower case; NULL without one */
    char *vm_name; /* -name guest=; NULL without one */
} PeerInfo;

/*
 * Parse a command line as /proc/PID/cmdline holds it (@len bytes of
 * NUL-terminated arguments).  A QEMU peer is one whose program name
 * starts with "qemu" or is "kvm"; its -uuid and -name (QEMU's option
 * syntax: "guest=NAME,..." or "NAME,...", ",," for a comma) are kept.
 */
void identity_parse_cmdline(const char *cmdline, size_t len, PeerInfo *peer);

/*
 * Who may use a listening socket, and which of its peers may be taken for
 * VMs.  Whoever can connect to a socket may act for any initiator its
 * policy gives: narrowing who connects is what protects registrations.
 */
typedef struct PeerPolicy {
    GArray *uids; /* uid_t; NULL: any user */
    GArray *gids; /* gid_t; NULL: any group */
    /* Canonical executables a VM's peer must run (/proc/PID/exe); NULL:
     * any program named qemu* or kvm. */
    char **qemu_binaries;
} PeerPolicy;

void identity_policy_clear(PeerPolicy *policy);

/* Make @to a deep copy of @from. */
void identity_policy_copy(PeerPolicy *to, const PeerPolicy *from);

/*
 * Whether a peer running as @uid, with primary group @gid and the
 * @n_groups supplementary @groups, may connect: anyone when neither uids
 * nor gids is set; else one whose uid is in uids, or one of whose groups
 * is in gids.
 */
bool identity_peer_allowed(const PeerPolicy *policy, uid_t uid, gid_t gid,
                           const gid_t *groups, size_t n_groups);

/*
 * Whether process @pid runs one of @policy's qemu_binaries (always true
 * when none are set).  An executable replaced since it started (a QEMU
 * upgraded under a running VM: " (deleted)") counts as its path; one that
 * cannot be read (another user's process, without privileges) does not
 * match.  *@exe: the executable, or why it is not known (g_free() it).
 */
bool identity_peer_binary_allowed(const PeerPolicy *policy, pid_t pid,
                                  char **exe);

/* Read and parse the command line of process @pid. */
bool identity_peer_from_pid(pid_t pid, PeerInfo *peer);

void identity_peer_clear(PeerInfo *peer);

/*
 * The registry key of a VM ("uuid:<uuid>" or "name:<name>"), or NULL when
 * @peer is not a QEMU process with a uuid or name (g_free() it).
 */
char *identity_vm_key(const PeerInfo *peer);

/*
 * The readable initiator name a VM asks for:
 * IDENTITY_IQN_PREFIX ":vm:<name>" (or ":vm:<uuid>" without a name).
 */
char *identity_vm_initiator_name(const PeerInfo *peer);

/* The initiator name of host @host_id: IDENTITY_IQN_PREFIX ":host:<id>". */
char *identity_host_initiator_name(const char *host_id);

/* ------------------------------------------------------------------ */
/* Logical units                                                       */
/* ------------------------------------------------------------------ */

/* How an LU's PR commands are answered. */
typedef enum LuMode {
    LU_MODE_DEFAULT,     /* as the daemon's mode says */
    LU_MODE_EMULATION,   /* from the database */
    LU_MODE_PASSTHROUGH, /* by the device, through SG_IO */
} LuMode;

/*
 * A configured mapping: whatever @path is, it is the LU @name, answered
 * in @mode.
 */
typedef struct LuMapping {
    char *name;
    char *path;
    LuMode mode;
} LuMapping;

typedef struct IdentityOptions {
    const char *sysfs; /* sysfs mount point ("/sys") */
    bool create_xattr; /* name unnamed files with a new attribute (when
                        * identity_lu() may write) */
    const LuMapping *maps;
    size_t n_maps;
} IdentityOptions;

typedef struct LuIdentity {
    char *name;         /* the LU id */
    const char *source; /* IDENTITY_SOURCE_* */
    char *path;         /* where this host sees it */
    LuMode mode;        /* its mapping's, else LU_MODE_DEFAULT */
} LuIdentity;

/*
 * Identify the logical unit behind @fd: a regular file, a block device
 * or a SCSI generic (sg) character device.  A regular file without the
 * attribute gets one (with create_xattr) only when @may_write: the
 * command is a PR OUT through a descriptor open for writing, whose
 * client may change the file; otherwise identifying writes nothing and
 * such a file is known by its path.  Fails (SOFTPR_ERROR_NOT_FOUND) for
 * descriptors that cannot be a disk: pipes, sockets, directories, other
 * character devices (/dev/null, a tty), without sending them anything.
 */
bool identity_lu(int fd, const IdentityOptions *options, bool may_write,
                 LuIdentity *id, GError **error);

void identity_lu_clear(LuIdentity *id);

/*
 * Whether @other_path is a regular file other than the one open at @fd
 * (another device or inode) that carries the same user.softpr.lu
 * attribute @name: a copy made with the attribute (cp -a, rsync -X),
 * which would be taken for the same logical unit.
 */
bool identity_is_labelled_copy(int fd, const char *other_path,
                               const char *name);

/* Whether @fd was opened read-only (its status flags are not changed). */
bool identity_fd_read_only(int fd);

/*
 * The path of the file behind loop device @fd (@st its fstat) as the
 * kernel reports it under @sysfs, else as losetup named it; NULL when @fd
 * is not a loop device or has no file.  identity_lu() identifies a loop
 * device as that file (mapping, attribute, canonical path), so that the
 * file and every loop device over it, on any host, are one LU.
 */
char *identity_loop_backing_path(int fd, const struct stat *st,
                                 const char *sysfs);

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
