/*
 * launch: starting softprd the ways its users do, with every detail that
 * matters under the test's control: where its standard streams go (a
 * file, closed, /dev/null, a pipe), socket activation (a listening
 * socket on descriptor 3 with LISTEN_PID and LISTEN_FDS, as systemd
 * passes it), the environment (NOTIFY_SOCKET, SYSTEMD_EXEC_PID), a
 * descriptor limit, and a hook run in the child before exec (a
 * sandbox).  And libvirt's managed mode, as libvirt starts a pr-helper.
 * Daemons run under the valgrind command in $SOFTPR_VALGRIND, if any.
 */
#ifndef SOFTPR_TEST_LAUNCH_H
#define SOFTPR_TEST_LAUNCH_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "testutil.h"

typedef enum LaunchOutput {
    LAUNCH_OUT_LOG,    /* stdout and stderr appended to .log */
    LAUNCH_OUT_CLOSED, /* stdout and stderr closed */
    LAUNCH_OUT_NULL,   /* stdout and stderr on /dev/null */
    LAUNCH_OUT_PIPE,   /* stdout and stderr on .pipe_fd */
} LaunchOutput;

typedef struct Launch {
    const char *const *args; /* softprd's arguments, NULL-terminated */
    const char *const *env;  /* "NAME=VALUE" to add, or NULL */
    LaunchOutput out;
    const char *log;    /* LAUNCH_OUT_LOG */
    int pipe_fd;        /* LAUNCH_OUT_PIPE */
    int listen_fd;      /* >= 0: passed as descriptor 3, LISTEN_FDS=1 */
    bool exec_pid;      /* SYSTEMD_EXEC_PID=<its own pid>, as systemd sets */
    bool detach;        /* a new session, stdin /dev/null (libvirt, systemd) */
    rlim_t nofile_soft; /* with nofile_hard: RLIMIT_NOFILE (0: inherited) */
    rlim_t nofile_hard;
    void (*setup)(const void *data); /* run in the child before exec */
    const void *setup_data;
} Launch;

/* A Launch with no listening socket and output to @log. */
#define LAUNCH_INIT(log_path)                                                  \
    {                                                                          \
        .out = LAUNCH_OUT_LOG, .log = (log_path), .pipe_fd = -1,               \
        .listen_fd = -1,                                                       \
    }

/* Start softprd as @launch says; returns its pid. */
pid_t launch_start(const Launch *launch);

/* Wait at most @timeout_ms for @pid to exit: its exit status, 128 +
 * signal when killed, or -1 when it is still running. */
int launch_wait(pid_t pid, unsigned timeout_ms);

/* Send @sig and wait for the exit (fails the test after 60 s). */
int launch_stop(pid_t pid, int sig);

/*
 * Wait (at most 60 s) until a client connects to @socket_path and reads
 * the feature word: true.  False when @pid exits first (*@code: its exit
 * status) or the time runs out (*@code: -1).
 */
bool launch_wait_serving(const char *socket_path, pid_t pid, int *code);

/* What libvirt saw when it started a pr-helper. */
typedef struct LibvirtHelper {
    pid_t pid;
    bool up;      /* the socket file appeared */
    int code;     /* !up: the helper's exit status */
    char *reason; /* !up: what it wrote, as libvirt reports it */
} LibvirtHelper;

/*
 * Start softprd as libvirt's managed mode does (qemu_process.c,
 * qemuProcessStartManagedPRDaemon): "<pr_helper> -k @socket_path" (then
 * @extra, NULL-terminated), in a new session with stdin on /dev/null and
 * stdout and stderr on a pipe, with libvirtd's environment (@env: its
 * NOTIFY_SOCKET and SYSTEMD_EXEC_PID, say); then poll until the socket
 * file exists or the helper has died, and only in the second case read
 * the pipe.  libvirt closes its end of the pipe either way.  @setup, if
 * not NULL, runs in the child before exec.
 */
void launch_libvirt(const char *socket_path, const char *const *extra,
                    const char *const *env, void (*setup)(const void *),
                    const void *setup_data, LibvirtHelper *helper);

void launch_libvirt_clear(LibvirtHelper *helper);

#endif /* SOFTPR_TEST_LAUNCH_H */
