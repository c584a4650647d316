/*
 * faultvfs: an sqlite VFS over the default one that counts I/O
 * operations by kind and fails the Nth one of a chosen kind, as a disk
 * or a network filesystem might: read, write, sync, lock, truncate and
 * delete fail with the matching SQLITE_IOERR_* code.  It also records
 * the order of the changes a transaction makes, directory syncs
 * included, and can cut the power at the Nth change, keeping what the
 * disk held then in a powercut model.
 */
#ifndef SOFTPR_FAULTVFS_H
#define SOFTPR_FAULTVFS_H

#include <stdbool.h>

#include "powercut.h"

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

/* Which file an operation was on. */
typedef enum FaultFile {
    FAULT_FILE_DATABASE,
    FAULT_FILE_JOURNAL, /* rollback journal or WAL */
    FAULT_FILE_OTHER,
    /* The directory of a file opened through faultvfs: sqlite's unix
     * VFS syncs it when a journal was created or deleted. */
    FAULT_FILE_DIRECTORY,
} FaultFile;

/* One change: a write, sync, truncate or delete, in the order made. */
typedef struct FaultEvent {
    FaultOp op;
    FaultFile file;
} FaultEvent;

/* Register FAULTVFS_NAME (once per process). */
void faultvfs_register(void);

/* From now on count operations, failing none. */
void faultvfs_count(void);

/* From now on count operations and fail the @nth one of kind @op. */
void faultvfs_fail(FaultOp op, unsigned nth);

/*
 * From now on count operations, hand every change to @model, and cut
 * the power at the @nth change (0: never): that change and every later
 * one fail with SQLITE_IOERR_*, and @model keeps what the disk held
 * before it.  Files must be opened after this call to be in @model.
 */
void faultvfs_power(PowerCut *model, unsigned nth);

/* Stop counting and failing; forget the model. */
void faultvfs_off(void);

/* Operations of kind @op counted since faultvfs_count/_fail/_power. */
unsigned faultvfs_counted(FaultOp op);

/* The changes counted since then, in order (@n of them); directory
 * syncs are FAULT_SYNC of FAULT_FILE_DIRECTORY. */
const FaultEvent *faultvfs_events(unsigned *n);

/* Whether the armed failure or power cut happened. */
bool faultvfs_fired(void);

const char *faultvfs_op_name(FaultOp op);
const char *faultvfs_file_name(FaultFile file);

#endif /* SOFTPR_FAULTVFS_H */
