/*
 * sgshim: for tests only, an LD_PRELOAD library that lets the real
 * sg_persist (sg3_utils) talk to softprd, so that its output can be
 * compared with `softpr persist`'s.
 *
 * sg_persist sends SCSI commands with ioctl(SG_IO) and an sg v3 header
 * on the device it opened; on a disk image file the kernel would refuse.
 * For the file named by SOFTPR_SHIM_DEVICE (matched by device and inode)
 * the shim answers instead:
 *   - PERSISTENT RESERVE IN/OUT go to softprd at SOFTPR_SHIM_SOCKET,
 *     declaring the initiator SOFTPR_SHIM_INITIATOR (the identity
 *     extension), with the very descriptor sg_persist used, and the reply
 *     fills the header as QEMU's pr-manager-helper fills it;
 *   - a standard INQUIRY gets the data softpr persist prints (inquiry.h);
 *   - anything else gets CHECK CONDITION, INVALID COMMAND OPERATION CODE.
 * Every other ioctl goes to the C library's.
 *
 * It runs inside a program built without sanitizers, so it is built
 * without them too (see the Makefile), and uses no test framework.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <scsi/sg.h>

#include <glib.h>

#include "client.h"
#include "error.h"
#include "inquiry.h"
#include "scsi.h"
#include "tid.h"
#include "wire.h"

/* As sg3_utils waits for a command. */
#define SHIM_TIMEOUT_MS 60000

/* The sg driver version the shim claims to be (3.5.36). */
#define SHIM_SG_VERSION 30536

#define SCSI_OP_INQUIRY 0x12

typedef int (*IoctlFn)(int fd, unsigned long request, ...);

/* One connection for the whole process, as QEMU keeps one. */
static PrClient *shim_client;

/* Whether @fd is the disk image named by SOFTPR_SHIM_DEVICE. */
static bool shim_device(int fd)
{
    const char *path = getenv("SOFTPR_SHIM_DEVICE");
    struct stat fd_st;
    struct stat path_st;

    return path != NULL && fstat(fd, &fd_st) == 0 &&
           stat(path, &path_st) == 0 && fd_st.st_dev == path_st.st_dev &&
           fd_st.st_ino == path_st.st_ino;
}

/* Complete @h with CHECK CONDITION and @code, as a device would. */
static void shim_check_condition(sg_io_hdr_t *h, ScsiSenseCode code)
{
    uint8_t sense[WIRE_SENSE_LEN] = {0};
    unsigned n = MIN(h->mx_sb_len, sizeof(sense));

    scsi_sense_build(sense, code);
    h->status = SCSI_STATUS_CHECK_CONDITION;
    h->masked_status = SCSI_STATUS_CHECK_CONDITION >> 1;
    h->driver_status = 0x08; /* DRIVER_SENSE */
    if (h->sbp != NULL && n > 0) {
        memcpy(h->sbp, sense, n);
        h->sb_len_wr = (unsigned char)n;
    }
    h->resid = (int)h->dxfer_len;
    h->info = SG_INFO_CHECK;
}

/* A standard INQUIRY; VPD pages are not emulated. */
static int shim_inquiry(sg_io_hdr_t *h, const uint8_t *cdb)
{
    uint8_t data[INQUIRY_STANDARD_LEN];
    unsigned alloc = ((unsigned)cdb[3] << 8) | cdb[4];
    unsigned n;

    if ((cdb[1] & 0x01) || cdb[2] != 0) {
        shim_check_condition(h, SENSE_INVALID_FIELD_IN_CDB);
        return 0;
    }
    inquiry_standard(data);
    n = MIN(MIN(alloc, (unsigned)sizeof(data)), h->dxfer_len);
    if (h->dxferp != NULL && n > 0) {
        memcpy(h->dxferp, data, n);
    }
    h->resid = (int)(h->dxfer_len - n);
    return 0;
}

/* The connection to softprd, made at the first PR command. */
static PrClient *shim_connect(GError **error)
{
    const char *socket_path = getenv("SOFTPR_SHIM_SOCKET");
    const char *initiator = getenv("SOFTPR_SHIM_INITIATOR");
    TransportId tid;

    if (shim_client != NULL) {
        return shim_client;
    }
    if (socket_path == NULL || initiator == NULL) {
        g_set_error_literal(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "SOFTPR_SHIM_SOCKET and SOFTPR_SHIM_INITIATOR "
                            "must be set");
        return NULL;
    }
    if (!tid_parse(initiator, &tid, error)) {
        return NULL;
    }
    shim_client = client_connect_as(socket_path, &tid, SHIM_TIMEOUT_MS, error);
    return shim_client;
}

/* PERSISTENT RESERVE IN/OUT through softprd, on @fd. */
static int shim_persistent_reserve(int fd, sg_io_hdr_t *h, const uint8_t *cdb)
{
    static ClientReply reply;
    g_autoptr(GError) error = NULL;
    g_autofree uint8_t *param = NULL;
    bool pr_in = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    size_t param_len = 0;
    gint64 start = g_get_monotonic_time();
    PrClient *client = shim_connect(&error);

    if (!pr_in) {
        /* softprd reads as many parameter bytes as the CDB announces. */
        param_len = wire_transfer_length(cdb);
        param = g_malloc0(MAX(param_len, 1));
        if (h->dxfer_direction == SG_DXFER_TO_DEV && h->dxferp != NULL) {
            memcpy(param, h->dxferp, MIN(param_len, h->dxfer_len));
        }
    }
    if (client == NULL ||
        !client_command(client, cdb, fd, param, param_len, &reply, &error)) {
        fprintf(stderr, "sgshim: %s\n", error->message);
        client_close(shim_client);
        shim_client = NULL;
        errno = EIO;
        return -1;
    }
    h->status = reply.status;
    h->masked_status = (reply.status >> 1) & 0x7f;
    if (reply.status == SCSI_STATUS_CHECK_CONDITION) {
        /* pr-manager-helper copies all the sense that fits. */
        unsigned n = MIN(h->mx_sb_len, WIRE_SENSE_LEN);

        h->driver_status = 0x08; /* DRIVER_SENSE */
        if (h->sbp != NULL && n > 0) {
            memcpy(h->sbp, reply.sense, n);
            h->sb_len_wr = (unsigned char)n;
        }
    }
    if (pr_in) {
        size_t n = MIN(reply.data_len, (size_t)h->dxfer_len);

        if (h->dxferp != NULL && n > 0) {
            memcpy(h->dxferp, reply.data, n);
        }
        h->resid = (int)(h->dxfer_len - n);
    }
    h->duration = (unsigned)((g_get_monotonic_time() - start) / 1000);
    h->info = (h->status != 0 || h->driver_status != 0) ? SG_INFO_CHECK : 0;
    return 0;
}

/* SG_IO on the shim's device. */
static int shim_sg_io(int fd, sg_io_hdr_t *h)
{
    uint8_t cdb[WIRE_CDB_LEN] = {0};

    if (h->interface_id != 'S') {
        errno = ENOSYS;
        return -1;
    }
    if (h->cmdp == NULL || h->cmd_len == 0 || h->cmd_len > sizeof(cdb)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(cdb, h->cmdp, h->cmd_len);
    h->status = 0;
    h->masked_status = 0;
    h->msg_status = 0;
    h->sb_len_wr = 0;
    h->host_status = 0;
    h->driver_status = 0;
    h->resid = 0;
    h->duration = 0;
    h->info = 0;
    switch (cdb[0]) {
    case SCSI_OP_INQUIRY:
        return shim_inquiry(h, cdb);
    case SCSI_OP_PERSISTENT_RESERVE_IN:
    case SCSI_OP_PERSISTENT_RESERVE_OUT:
        return shim_persistent_reserve(fd, h, cdb);
    default:
        shim_check_condition(h, SENSE_INVALID_OPCODE);
        return 0;
    }
}

/*
 * The C library's ioctl(), interposed: SG_IO and SG_GET_VERSION_NUM on
 * the shim's device are answered here, everything else is passed on.
 */
int ioctl(int fd, unsigned long request, ...)
{
    static IoctlFn real_ioctl;
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if ((request == SG_IO || request == SG_GET_VERSION_NUM) &&
        shim_device(fd)) {
        if (request == SG_GET_VERSION_NUM) {
            *(int *)arg = SHIM_SG_VERSION;
            return 0;
        }
        return shim_sg_io(fd, arg);
    }
    if (real_ioctl == NULL) {
        real_ioctl = (IoctlFn)dlsym(RTLD_NEXT, "ioctl");
        if (real_ioctl == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    return real_ioctl(fd, request, arg);
}
