/*
 * faultvfs: a fault-injecting sqlite VFS shim for the tests, and the
 * feed of a power-cut model.
 */
#include "faultvfs.h"

#include <string.h>

#include <glib.h>
#include <sqlite3.h>

typedef struct Handle {
    sqlite3_file base;
    sqlite3_file *real; /* follows this struct in the same allocation */
    FaultFile file;
    PowerCutFile *pc; /* its data in the power-cut model, or NULL */
} Handle;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_methods;
static sqlite3_syscall_ptr real_open_directory;

static gint counting;
static gint armed_op = -1;
static gint armed_nth;
static gint fired;
static gint counters[FAULT_OPS];

/* Under lock: the changes' order, the power-cut model, and the names of
 * the files opened here (for the directory syncs of their directory). */
static GMutex lock;
static GArray *events; /* FaultEvent */
static PowerCut *model;
static unsigned cut_at; /* the change that cuts the power; 0: none */
static unsigned changes;
static bool power_off;
static GHashTable *opened; /* path -> FaultFile + 1 */

static void reset(void)
{
    int i;

    g_atomic_int_set(&counting, 0);
    g_atomic_int_set(&armed_op, -1);
    g_atomic_int_set(&fired, 0);
    for (i = 0; i < FAULT_OPS; i++) {
        g_atomic_int_set(&counters[i], 0);
    }
    g_mutex_lock(&lock);
    g_array_set_size(events, 0);
    model = NULL;
    cut_at = 0;
    changes = 0;
    power_off = false;
    g_mutex_unlock(&lock);
}

void faultvfs_count(void)
{
    reset();
    g_atomic_int_set(&counting, 1);
}

void faultvfs_fail(FaultOp op, unsigned nth)
{
    faultvfs_count();
    g_atomic_int_set(&armed_nth, (gint)nth);
    g_atomic_int_set(&armed_op, (gint)op);
}

void faultvfs_power(PowerCut *pc, unsigned nth)
{
    faultvfs_count();
    g_mutex_lock(&lock);
    model = pc;
    cut_at = nth;
    g_mutex_unlock(&lock);
}

void faultvfs_off(void)
{
    g_atomic_int_set(&counting, 0);
    g_atomic_int_set(&armed_op, -1);
    g_mutex_lock(&lock);
    model = NULL;
    g_mutex_unlock(&lock);
}

unsigned faultvfs_counted(FaultOp op)
{
    return (unsigned)g_atomic_int_get(&counters[op]);
}

const FaultEvent *faultvfs_events(unsigned *n)
{
    *n = events->len;
    return (const FaultEvent *)events->data;
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

const char *faultvfs_file_name(FaultFile file)
{
    static const char *const names[] = {
        "database",
        "journal",
        "other file",
        "directory",
    };

    return names[file];
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

/*
 * Note change @op of @file.  False when the power is off (or goes now):
 * the change must fail.  *@pc is the model to record it in, or NULL.
 */
static bool change(FaultOp op, FaultFile file, PowerCut **pc)
{
    FaultEvent event = {op, file};
    bool on = true;

    *pc = NULL;
    if (!g_atomic_int_get(&counting)) {
        return true;
    }
    g_mutex_lock(&lock);
    g_array_append_val(events, event);
    changes++;
    if (!power_off && changes == cut_at) {
        power_off = true;
        g_atomic_int_set(&fired, 1);
    }
    if (power_off) {
        on = false;
    } else {
        *pc = model;
    }
    g_mutex_unlock(&lock);
    return on;
}

#define REAL(f) (((Handle *)(f))->real)
#define HANDLE(f) ((Handle *)(f))

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
    PowerCut *pc;

    if (hit(FAULT_WRITE) || !change(FAULT_WRITE, HANDLE(f)->file, &pc)) {
        return SQLITE_IOERR_WRITE;
    }
    if (pc != NULL && HANDLE(f)->pc != NULL) {
        powercut_write(pc, HANDLE(f)->pc, buf, (size_t)n, off);
    }
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    PowerCut *pc;

    if (hit(FAULT_TRUNCATE) || !change(FAULT_TRUNCATE, HANDLE(f)->file, &pc)) {
        return SQLITE_IOERR_TRUNCATE;
    }
    if (pc != NULL && HANDLE(f)->pc != NULL) {
        powercut_truncate(pc, HANDLE(f)->pc, size);
    }
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    PowerCut *pc;

    if (hit(FAULT_SYNC) || !change(FAULT_SYNC, HANDLE(f)->file, &pc)) {
        return SQLITE_IOERR_FSYNC;
    }
    /* Durable before the real sync, which may sync the directory too. */
    if (pc != NULL && HANDLE(f)->pc != NULL) {
        powercut_sync(pc, HANDLE(f)->pc);
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

static FaultFile file_kind(int flags)
{
    if (flags & SQLITE_OPEN_MAIN_DB) {
        return FAULT_FILE_DATABASE;
    }
    if (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL)) {
        return FAULT_FILE_JOURNAL;
    }
    return FAULT_FILE_OTHER;
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                  int flags, int *out_flags)
{
    Handle *h = (Handle *)file;
    int rc;

    h->real = (sqlite3_file *)(h + 1);
    h->file = file_kind(flags);
    h->pc = NULL;
    if (name != NULL) {
        g_mutex_lock(&lock);
        g_hash_table_insert(opened, g_strdup(name),
                            GINT_TO_POINTER(h->file + 1));
        if (model != NULL && !power_off && powercut_covers(model, name) &&
            ((flags & SQLITE_OPEN_CREATE) ||
             g_file_test(name, G_FILE_TEST_EXISTS))) {
            h->pc = powercut_open(model, name);
        }
        g_mutex_unlock(&lock);
    }
    rc = real_vfs->xOpen(real_vfs, name, h->real, flags, out_flags);
    file->pMethods = h->real->pMethods != NULL ? &fault_methods : NULL;
    return rc;
}

/* What @path was opened as here, if it was. */
static bool opened_as(const char *path, FaultFile *file)
{
    gpointer kind;

    g_mutex_lock(&lock);
    kind = g_hash_table_lookup(opened, path);
    g_mutex_unlock(&lock);
    if (kind != NULL) {
        *file = GPOINTER_TO_INT(kind) - 1;
    }
    return kind != NULL;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    FaultFile file = FAULT_FILE_OTHER;
    PowerCut *pc;

    opened_as(name, &file);
    if (hit(FAULT_DELETE) || !change(FAULT_DELETE, file, &pc)) {
        return SQLITE_IOERR_DELETE;
    }
    if (pc != NULL && powercut_covers(pc, name)) {
        powercut_unlink(pc, name);
    }
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

/*
 * sqlite's unix VFS opens a directory only to fsync it, after creating
 * a journal (on the journal's first sync) and after deleting one when
 * asked to (synchronous EXTRA): @path is that file.  Those of files
 * opened here are changes like the others.  When the power is off the
 * sync does not happen; sqlite carries on as for a directory it cannot
 * open, but no answer given from then on reaches anyone.
 */
static int open_directory(const char *path, int *fd)
{
    int (*real)(const char *, int *) =
        (int (*)(const char *, int *))real_open_directory;
    FaultFile file;
    PowerCut *pc;

    if (opened_as(path, &file)) {
        if (!change(FAULT_SYNC, FAULT_FILE_DIRECTORY, &pc)) {
            return SQLITE_CANTOPEN;
        }
        if (pc != NULL && powercut_covers(pc, path)) {
            powercut_sync_dir(pc);
        }
    }
    return real(path, fd);
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
    events = g_array_new(FALSE, FALSE, sizeof(FaultEvent));
    opened = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    real_open_directory = real_vfs->xGetSystemCall(real_vfs, "openDirectory");
    if (real_vfs->iVersion < 3 || real_open_directory == NULL ||
        real_vfs->xSetSystemCall(real_vfs, "openDirectory",
                                 (sqlite3_syscall_ptr)open_directory) !=
            SQLITE_OK) {
        g_error("faultvfs: cannot see the directory syncs of VFS %s",
                real_vfs->zName);
    }
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
    fault_vfs.szOsFile = (int)sizeof(Handle) + real_vfs->szOsFile;
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
