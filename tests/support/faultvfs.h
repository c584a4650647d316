/*
 * faultvfs: an sqlite VFS over the default one that counts I/O
 * operations by kind and fails the Nth one of a chosen kind, as a disk
 * or a network filesystem might: read, write, sync, lock, truncate and
 * delete fail with the matching SQLITE_IOERR_* code.
 */
#ifndef SOFTPR_FAULTVFS_H
#define SOFTPR_FAULTVFS_H

#include <stdbool.h>

#define FAULTVFS_NAME "faultvfs"

typedef enum FaultOp {
    FAULT_READ,
    FAULT_WRITE,
    FAULT_SYNC,
    FAULT_LOCK,
    FAULT_TRUNCATE,
    FAULT_DELETE,
    FAULT_OPS
} FaultOp;

/* Register FAULTVFS_NAME (once per process). */
void faultvfs_register(void);

/* From now on count operations, failing none. */
void faultvfs_count(void);

/* From now on count operations and fail the @nth one of kind @op. */
void faultvfs_fail(FaultOp op, unsigned nth);

/* Stop counting and failing. */
void faultvfs_off(void);

/* Operations of kind @op counted since faultvfs_count/_fail. */
unsigned faultvfs_counted(FaultOp op);

/* Whether the armed failure happened. */
bool faultvfs_fired(void);

const char *faultvfs_op_name(FaultOp op);

#endif /* SOFTPR_FAULTVFS_H */
