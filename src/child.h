/*
 * child: a helper process the daemon forks, tied to it by one pipe.
 *
 * Used where work must run with other credentials than the daemon's
 * (dbcheck.c: the database check as the final user) or must outlive it
 * (sockfile.c: the remover of socket files).  The pipe is the child's
 * only channel: one direction, close-on-exec on both ends.
 */
#ifndef SOFTPR_CHILD_H
#define SOFTPR_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

/* Which way the pipe carries data. */
typedef enum ChildPipe {
    CHILD_WRITES, /* the child writes, the daemon reads */
    CHILD_READS,  /* the daemon writes, the child reads */
} ChildPipe;

/*
 * The child's body: runs in the child with its end of the pipe @fd and
 * @data, and never returns (it ends with _exit(), so that nothing of
 * the daemon's, atexit handlers or stdio buffers, runs twice).
 */
typedef void (*ChildMain)(int fd, gpointer data);

/*
 * Fork a child running @main(@fd, @data), joined by a pipe carrying
 * data as @direction says.  Returns its pid and sets *@parent_fd to the
 * daemon's end (the caller closes it); -1 with @error set (and nothing
 * left open) when the pipe or the fork fails.
 */
pid_t child_start(ChildPipe direction, ChildMain main, gpointer data,
                  int *parent_fd, GError **error);

#endif /* SOFTPR_CHILD_H */
