/*
 * preload: libsoftpr-preload.so, the ioctl() that unmodified SCSI tools
 * (sg_persist, sg_turs, fence_scsi) call, interposed with LD_PRELOAD.
 *
 * On a descriptor that SOFTPR_DEVICES names (preload_match), SG_IO and
 * SG_GET_VERSION_NUM are answered as a SCSI disk would answer them: PR
 * commands by softprd (preload_pr), the rest by the emulation
 * (preload_scsi) on regular files and loop devices, by the device itself
 * on any other device.  Every other call goes to the C library's ioctl()
 * unchanged.  sg3_utils 1.46 asks a disk nothing but SG_IO (strace of
 * sg_persist, sg_turs, sg_inq, sg_vpd, sg_readcap); SG_GET_VERSION_NUM is
 * how other SG_IO users (QEMU, libiscsi, sg_map) check for SG_IO.
 *
 * It runs inside arbitrary programs: it never aborts them, keeps no state
 * between calls but the C library's ioctl(), writes nothing on the
 * host's descriptors, and prints only the one line of preload_pr when
 * softprd cannot answer.  Only ioctl() is exported (see the Makefile).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>
#include <scsi/sg.h>

#include <glib.h>

#include "identity.h"
#include "preload_match.h"
#include "preload_pr.h"
#include "preload_scsi.h"
#include "scsi.h"

#define DEFAULT_BLOCK_SIZE 512

typedef int (*IoctlFn)(int fd, unsigned long request, ...);

static IoctlFn libc_ioctl(void)
{
    static IoctlFn real;
    IoctlFn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);

    if (fn == NULL) {
        fn = (IoctlFn)dlsym(RTLD_NEXT, "ioctl");
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

static unsigned elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned)((now.tv_sec - start->tv_sec) * 1000 +
                      (now.tv_nsec - start->tv_nsec) / 1000000);
}

/* What the emulation needs of the LU behind @fd. */
static void lu_describe(int fd, PreloadKind kind, PreloadLu *lu, char **name)
{
    IdentityOptions options = {.sysfs = "/sys", .create_xattr = false};
    LuIdentity id;
    struct stat st;
    uint64_t size = 0;
    int block_size = 0;

    if (identity_lu(fd, &options, false, &id, NULL)) {
        *name = g_steal_pointer(&id.name);
        identity_lu_clear(&id);
    } else {
        *name = g_strdup_printf("fd:%d", fd);
    }
    lu->name = *name;
    lu->block_size = DEFAULT_BLOCK_SIZE;
    lu->size = 0;
    if (kind == PRELOAD_LOOP) {
        /* The device's own size and block length (losetup --offset,
         * --sizelimit, --sector-size). */
        if (libc_ioctl()(fd, BLKGETSIZE64, &size) == 0) {
            lu->size = size;
        }
        if (libc_ioctl()(fd, BLKSSZGET, &block_size) == 0 && block_size > 0) {
            lu->block_size = (uint32_t)block_size;
        }
    } else if (fstat(fd, &st) == 0) {
        lu->size = (uint64_t)st.st_size;
    }
}

/* PERSISTENT RESERVE IN/OUT through softprd; -1 with errno EIO when it
 * cannot answer. */
static int answer_pr(int fd, sg_io_hdr_t *h, const uint8_t *cdb,
                     PreloadAnswer *a)
{
    uint8_t wire_cdb[WIRE_CDB_LEN];
    uint8_t *param = NULL;
    size_t param_len = 0;
    size_t consumed = 0;
    unsigned timeout =
        h->timeout != 0 ? h->timeout : PRELOAD_DEFAULT_TIMEOUT_MS;

    if (preload_pr_frame(cdb, h->dxfer_direction, h->dxfer_len, wire_cdb,
                         &param_len, a)) {
        param = calloc(1, param_len + 1);
        if (param == NULL) {
            errno = ENOMEM;
            return -1;
        }
        consumed = preload_sgio_transfer(h, param, param_len, false);
        if (!preload_pr_command(fd, wire_cdb, param, param_len, timeout, a)) {
            free(param);
            errno = EIO;
            return -1;
        }
        free(param);
    }
    preload_sgio_complete(h, a, consumed);
    return 0;
}

static int answer_sg_io(int fd, PreloadKind kind, sg_io_hdr_t *h)
{
    uint8_t cdb[WIRE_CDB_LEN] = {0};
    struct timespec start;
    PreloadAnswer *a;
    int err = preload_sgio_check(h);
    int rc = 0;

    if (err != 0) {
        errno = err;
        return -1;
    }
    memcpy(cdb, h->cmdp, h->cmd_len);
    if (kind == PRELOAD_DEVICE && cdb[0] != SCSI_OP_PERSISTENT_RESERVE_IN &&
        cdb[0] != SCSI_OP_PERSISTENT_RESERVE_OUT) {
        return libc_ioctl()(fd, SG_IO, h);
    }
    a = malloc(sizeof(*a));
    if (a == NULL) {
        errno = ENOMEM;
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN ||
        cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT) {
        rc = answer_pr(fd, h, cdb, a);
    } else {
        g_autofree char *name = NULL;
        PreloadLu lu;

        lu_describe(fd, kind, &lu, &name);
        preload_scsi_answer(&lu, cdb, a);
        preload_sgio_complete(h, a, 0);
    }
    h->duration = elapsed_ms(&start);
    free(a);
    return rc;
}

/*
 * The C library's ioctl(), interposed.  glibc declares the request
 * unsigned long; the argument of every request handled here is a pointer.
 */
__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request,
                                                 ...)
{
    IoctlFn real = libc_ioctl();
    PreloadKind kind = PRELOAD_NONE;
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (request == SG_IO || request == SG_GET_VERSION_NUM) {
        kind = preload_match_fd(fd, getenv(PRELOAD_DEVICES_ENV));
    }
    if (kind == PRELOAD_NONE || arg == NULL) {
        return real(fd, request, arg);
    }
    if (request == SG_GET_VERSION_NUM) {
        if (kind == PRELOAD_DEVICE) {
            return real(fd, request, arg);
        }
        *(int *)arg = PRELOAD_SG_VERSION;
        return 0;
    }
    {
        int saved = errno;
        int rc = answer_sg_io(fd, kind, arg);

        if (rc == 0) {
            errno = saved;
        }
        return rc;
    }
}
