/*
 * faultvfs: a fault-injecting sqlite VFS shim for the tests.
 */
#include "faultvfs.h"

#include <string.h>

#include <glib.h>
#include <sqlite3.h>

typedef struct FaultFile {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct in the same allocation */
} FaultFile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_methods;

static gint counting;
static gint armed_op = -1;
static gint armed_nth;
static gint fired;
static gint counters[FAULT_OPS];

void faultvfs_count(void)
{
    int i;

    g_atomic_int_set(&armed_op, -1);
    g_atomic_int_set(&fired, 0);
    for (i = 0; i < FAULT_OPS; i++) {
        g_atomic_int_set(&counters[i], 0);
    }
    g_atomic_int_set(&counting, 1);
}

void faultvfs_fail(FaultOp op, unsigned nth)
{
    faultvfs_count();
    g_atomic_int_set(&armed_nth, (gint)nth);
    g_atomic_int_set(&armed_op, (gint)op);
}

void faultvfs_off(void)
{
    g_atomic_int_set(&counting, 0);
    g_atomic_int_set(&armed_op, -1);
}

unsigned faultvfs_counted(FaultOp op)
{
    return (unsigned)g_atomic_int_get(&counters[op]);
}

bool faultvfs_fired(void)
{
    return g_atomic_int_get(&fired) != 0;
}

const char *faultvfs_op_name(FaultOp op)
{
    static const char *const names[FAULT_OPS] = {
        "read", "write", "sync", "lock", "truncate", "delete",
    };

    return names[op];
}

/* Count an operation of kind @op; true when it is the one to fail. */
static bool hit(FaultOp op)
{
    int n;

    if (!g_atomic_int_get(&counting)) {
        return false;
    }
    n = g_atomic_int_add(&counters[op], 1) + 1;
    if (g_atomic_int_get(&armed_op) == (gint)op &&
        n == g_atomic_int_get(&armed_nth)) {
        g_atomic_int_set(&fired, 1);
        return true;
    }
    return false;
}

#define REAL(f) (((FaultFile *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    if (hit(FAULT_READ)) {
        return SQLITE_IOERR_READ;
    }
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (hit(FAULT_WRITE)) {
        return SQLITE_IOERR_WRITE;
    }
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (hit(FAULT_TRUNCATE)) {
        return SQLITE_IOERR_TRUNCATE;
    }
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    if (hit(FAULT_SYNC)) {
        return SQLITE_IOERR_FSYNC;
    }
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
    if (hit(FAULT_LOCK)) {
        return SQLITE_IOERR_LOCK;
    }
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int page, int size, int extend,
                     void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), page, size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                  int flags, int *out_flags)
{
    FaultFile *ff = (FaultFile *)file;
    int rc;

    ff->real = (sqlite3_file *)(ff + 1);
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    file->pMethods = ff->real->pMethods != NULL ? &fault_methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    if (hit(FAULT_DELETE)) {
        return SQLITE_IOERR_DELETE;
    }
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xGetLastError(real_vfs, n, out);
}

void faultvfs_register(void)
{
    if (real_vfs != NULL) {
        return;
    }
    real_vfs = sqlite3_vfs_find(NULL);
    memset(&fault_methods, 0, sizeof(fault_methods));
    fault_methods.iVersion = 2;
    fault_methods.xClose = f_close;
    fault_methods.xRead = f_read;
    fault_methods.xWrite = f_write;
    fault_methods.xTruncate = f_truncate;
    fault_methods.xSync = f_sync;
    fault_methods.xFileSize = f_file_size;
    fault_methods.xLock = f_lock;
    fault_methods.xUnlock = f_unlock;
    fault_methods.xCheckReservedLock = f_check_reserved;
    fault_methods.xFileControl = f_file_control;
    fault_methods.xSectorSize = f_sector_size;
    fault_methods.xDeviceCharacteristics = f_device_characteristics;
    fault_methods.xShmMap = f_shm_map;
    fault_methods.xShmLock = f_shm_lock;
    fault_methods.xShmBarrier = f_shm_barrier;
    fault_methods.xShmUnmap = f_shm_unmap;

    memset(&fault_vfs, 0, sizeof(fault_vfs));
    fault_vfs.iVersion = 2;
    fault_vfs.szOsFile = (int)sizeof(FaultFile) + real_vfs->szOsFile;
    fault_vfs.mxPathname = real_vfs->mxPathname;
    fault_vfs.zName = FAULTVFS_NAME;
    fault_vfs.xOpen = v_open;
    fault_vfs.xDelete = v_delete;
    fault_vfs.xAccess = v_access;
    fault_vfs.xFullPathname = v_full_pathname;
    fault_vfs.xRandomness = v_randomness;
    fault_vfs.xSleep = v_sleep;
    fault_vfs.xCurrentTime = v_current_time;
    fault_vfs.xGetLastError = v_get_last_error;
    fault_vfs.xCurrentTimeInt64 = v_current_time_int64;
    sqlite3_vfs_register(&fault_vfs, 0);
}
