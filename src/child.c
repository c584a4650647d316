/*
 * child: a helper process the daemon forks, tied to it by one pipe.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "error.h"

pid_t child_start(ChildPipe direction, ChildMain main, gpointer data,
                  int *parent_fd, GError **error)
{
    int fds[2];
    int child_end = direction == CHILD_WRITES ? 1 : 0;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "pipe: %s",
                    g_strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "fork: %s",
                    g_strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[1 - child_end]);
        main(fds[child_end], data);
        _exit(127); /* main must not return: never go on as the daemon */
    }
    close(fds[child_end]);
    *parent_fd = fds[1 - child_end];
    return pid;
}
