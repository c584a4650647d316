/*
 * powercut: what a disk holds after a power cut, for power-cut tests.
 *
 * A model of the files of one directory as a disk with a volatile
 * write cache keeps them.  A file's writes and truncations since its
 * last fsync are not durable yet, nor are the directory's entries
 * created or removed since the directory's last fsync.  A cut loses
 * them: all of them, or a random subset, since the cache writes back in
 * any order (a write in 512-byte sectors, each kept or lost on its own;
 * an entry's changes one by one).  faultvfs feeds the model every
 * change sqlite makes through it (faultvfs_power()).
 */
#ifndef SOFTPR_TEST_POWERCUT_H
#define SOFTPR_TEST_POWERCUT_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

typedef struct PowerCut PowerCut;
typedef struct PowerCutFile PowerCutFile; /* one file's data (an inode) */

/* A model of directory @dir, whose present files are durable. */
PowerCut *powercut_new(const char *dir);
void powercut_free(PowerCut *pc);

/* Whether @path is a file of the modelled directory. */
bool powercut_covers(const PowerCut *pc, const char *path);

/*
 * @path was opened: its data.  A file the model has not seen is taken
 * as it is on disk, durable; one that did not exist is created empty,
 * its directory entry not durable until the directory is synced.
 */
PowerCutFile *powercut_open(PowerCut *pc, const char *path);

/* A write or truncation of @file, not durable until powercut_sync(). */
void powercut_write(PowerCut *pc, PowerCutFile *file, const void *data,
                    size_t len, gint64 offset);
void powercut_truncate(PowerCut *pc, PowerCutFile *file, gint64 size);

/* fsync of @file: its data so far is durable (not its entry). */
void powercut_sync(PowerCut *pc, PowerCutFile *file);

/* @path was removed; not durable until powercut_sync_dir(). */
void powercut_unlink(PowerCut *pc, const char *path);

/* fsync of the directory: its entries so far are durable. */
void powercut_sync_dir(PowerCut *pc);

typedef enum PowerCutLoss {
    POWERCUT_LOSE_ALL,  /* nothing that was not synced survives */
    POWERCUT_LOSE_SOME, /* a random subset of it survives */
} PowerCutLoss;

/*
 * Write into the existing empty directory @out the files as the disk
 * holds them after a cut now that loses what @loss says, chosen with
 * @rand.  Returns a line per file saying what was lost (g_free() it).
 */
char *powercut_restore(PowerCut *pc, const char *out, PowerCutLoss loss,
                       GRand *rand);

#endif /* SOFTPR_TEST_POWERCUT_H */
