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
 *     extension; without it, as QEMU connects, so that qemu-pr-helper
 *     and passthrough daemons can be the other end), with the very
 *     descriptor sg_persist used, and the reply fills the header as
 *     QEMU's pr-manager-helper fills it; with SOFTPR_SHIM_TRACE=FILE
 *     each reply is also appended to FILE in hex, to compare helpers
 *     byte for byte;
 *   - a standard INQUIRY gets the data softpr persist prints (inquiry.h);
 *   - anything else gets CHECK CONDITION, INVALID COMMAND OPERATION CODE.
 * With SOFTPR_SHIM_PASS_OTHERS=1 the device is a real SCSI device and the
 * shim does what QEMU's scsi-block does with a pr-manager: PR commands
 * to the helper, every other command to the device.  A PR IN allocation
 * length above the protocol's 8192 is then sent as 8192 and the data
 * returned as the device would (QEMU refuses such commands instead; the
 * answers of softprd differ only past 8192 bytes, which no test reaches).
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
    if (socket_path == NULL) {
        g_set_error_literal(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "SOFTPR_SHIM_SOCKET must be set");
        return NULL;
    }
    if (initiator == NULL) {
        shim_client = client_connect(socket_path, 0, SHIM_TIMEOUT_MS, error);
        return shim_client;
    }
    if (!tid_parse(initiator, &tid, error)) {
        return NULL;
    }
    shim_client = client_connect_as(socket_path, &tid, SHIM_TIMEOUT_MS, error);
    return shim_client;
}

/*
 * Copy between the header's transfer buffer and @buf: a flat buffer, or
 * with iovec_count an array of sg_iovec (libiscsi sends data-out so).
 * @to_header: from @buf into the header's buffer.  Returns the bytes
 * copied, at most @len and dxfer_len.
 */
static size_t transfer(sg_io_hdr_t *h, uint8_t *buf, size_t len, bool to_header)
{
    size_t limit = MIN(len, (size_t)h->dxfer_len);
    size_t done = 0;
    unsigned i;

    if (h->dxferp == NULL) {
        return 0;
    }
    if (h->iovec_count == 0) {
        if (to_header) {
            memcpy(h->dxferp, buf, limit);
        } else {
            memcpy(buf, h->dxferp, limit);
        }
        return limit;
    }
    for (i = 0; i < h->iovec_count && done < limit; i++) {
        const sg_iovec_t *v = &((const sg_iovec_t *)h->dxferp)[i];
        size_t n = MIN(v->iov_len, limit - done);

        if (to_header) {
            memcpy(v->iov_base, buf + done, n);
        } else {
            memcpy(buf + done, v->iov_base, n);
        }
        done += n;
    }
    return done;
}

static void trace_hex(FILE *out, const char *name, const uint8_t *bytes,
                      size_t len)
{
    size_t i;

    fprintf(out, " %s=", name);
    for (i = 0; i < len; i++) {
        fprintf(out, "%02x", bytes[i]);
    }
}

/* Append the reply to @cdb to the file SOFTPR_SHIM_TRACE names. */
static void trace_reply(const uint8_t *cdb, const ClientReply *reply)
{
    const char *path = getenv("SOFTPR_SHIM_TRACE");
    FILE *out;

    if (path == NULL || (out = fopen(path, "a")) == NULL) {
        return;
    }
    trace_hex(out, "cdb", cdb, WIRE_CDB_LEN);
    fprintf(out, " status=%02x", reply->status);
    trace_hex(out, "sense", reply->sense, WIRE_SENSE_LEN);
    trace_hex(out, "data", reply->data, reply->data_len);
    fprintf(out, "\n");
    fclose(out);
}

/* PERSISTENT RESERVE IN/OUT through softprd, on @fd. */
static int shim_persistent_reserve(int fd, sg_io_hdr_t *h,
                                   const uint8_t *cdb_in)
{
    uint8_t cdb[WIRE_CDB_LEN];
    static ClientReply reply;
    g_autoptr(GError) error = NULL;
    g_autofree uint8_t *param = NULL;
    bool pr_in = cdb_in[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    size_t param_len = 0;
    gint64 start = g_get_monotonic_time();
    PrClient *client = shim_connect(&error);

    memcpy(cdb, cdb_in, sizeof(cdb));
    if (pr_in && ((cdb[7] << 8) | cdb[8]) > WIRE_DATA_MAX) {
        cdb[7] = WIRE_DATA_MAX >> 8;
        cdb[8] = WIRE_DATA_MAX & 0xff;
    }
    if (!pr_in) {
        /* softprd reads as many parameter bytes as the CDB announces. */
        param_len = wire_transfer_length(cdb);
        param = g_malloc0(MAX(param_len, 1));
        if (h->dxfer_direction == SG_DXFER_TO_DEV) {
            transfer(h, param, param_len, false);
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
    trace_reply(cdb, &reply);
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
        size_t n = transfer(h, reply.data, reply.data_len, true);

        h->resid = (int)(h->dxfer_len - n);
    }
    h->duration = (unsigned)((g_get_monotonic_time() - start) / 1000);
    h->info = (h->status != 0 || h->driver_status != 0) ? SG_INFO_CHECK : 0;
    return 0;
}

static IoctlFn real_ioctl;

/* SG_IO on the shim's device. */
static int shim_sg_io(int fd, sg_io_hdr_t *h)
{
    const char *pass = getenv("SOFTPR_SHIM_PASS_OTHERS");
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
    if (pass != NULL && strcmp(pass, "1") == 0 &&
        cdb[0] != SCSI_OP_PERSISTENT_RESERVE_IN &&
        cdb[0] != SCSI_OP_PERSISTENT_RESERVE_OUT) {
        return real_ioctl(fd, SG_IO, h);
    }
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
    const char *pass = getenv("SOFTPR_SHIM_PASS_OTHERS");
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (real_ioctl == NULL) {
        real_ioctl = (IoctlFn)dlsym(RTLD_NEXT, "ioctl");
        if (real_ioctl == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    if (request == SG_IO && shim_device(fd)) {
        return shim_sg_io(fd, arg);
    }
    if (request == SG_GET_VERSION_NUM && shim_device(fd) &&
        (pass == NULL || strcmp(pass, "1") != 0)) {
        *(int *)arg = SHIM_SG_VERSION;
        return 0;
    }
    return real_ioctl(fd, request, arg);
}
