/*
 * daemon: starting, reaching and stopping real softprd processes in
 * tests, each in its own scratch directory, optionally under the
 * valgrind command in $SOFTPR_VALGRIND.
 *
 * A daemon's exit status is part of every test that starts one: valgrind
 * (--error-exitcode) and the sanitizers report a memory error in the
 * daemon only through it.  Whenever a daemon is seen to exit, and at the
 * latest in testd_free() (which stops a running daemon with SIGTERM, as
 * a clean stop), an exit other than the expected one fails the test and
 * shows the daemon's output.  Expected is 0, or death by SIGKILL after
 * testd_stop_signal(d, SIGKILL), or what testd_expect_exit() sets.
 */
#ifndef SOFTPR_TEST_DAEMON_H
#define SOFTPR_TEST_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#include "testutil.h"

#include "cdb.h"
#include "client.h"

typedef struct TestDaemon {
    char *dir;
    char *socket;
    char *db;
    char *config; /* configuration file, or NULL */
    char *log;    /* stdout and stderr */
    pid_t pid;
    int status; /* wait status once reaped */
    bool reaped;
    int expected_exit; /* exit code, or 128 + signal; 0 unless told */
    bool exit_checked; /* the exit status was compared with it */
} TestDaemon;

/* Path of the softprd binary under test. */
char *testd_binary(void);

/*
 * Start softprd with socket @dir/@name.sock and database @dir/pr.db (both
 * overridable through @extra), a configuration file holding
 * @config_text when not NULL, and the NULL-terminated @extra arguments.
 * Waits until the socket answers; fails the test if it never does.
 */
TestDaemon *testd_start(const char *dir, const char *name,
                        const char *config_text, const char *const *extra);

/* Start softprd with exactly @args (after the binary) without waiting. */
TestDaemon *testd_spawn(const char *dir, const char *name,
                        const char *const *args, const char *const *env);

/* Wait for the socket to answer; false if the daemon exited first. */
bool testd_wait_ready(TestDaemon *d);

/*
 * Send @sig and wait for exit; returns the exit status, or 128+signal.
 * Fails the test unless the daemon exits 0 (killed, for SIGKILL).
 */
int testd_stop_signal(TestDaemon *d, int sig);

/* SIGTERM and wait; fails the test unless the daemon exits 0. */
int testd_stop(TestDaemon *d);

/*
 * Wait (at most @timeout_ms) for the process to exit; returns as above,
 * or -1 when it is still running.  An exit other than the expected one
 * fails the test.
 */
int testd_wait_exit(TestDaemon *d, unsigned timeout_ms);

/* The daemon is to exit with @code (or 128 + the signal that kills it)
 * rather than 0, by itself: the test sees to it. */
void testd_expect_exit(TestDaemon *d, int code);

/* Stop the daemon if it still runs (SIGTERM), check how it exited, free. */
void testd_free(TestDaemon *d);

/* A connected client (fails the test if it cannot connect).  This and
 * the command helpers below may run in threads of the test: their
 * failures go through testutil_fail(). */
PrClient *testd_connect(TestDaemon *d);
PrClient *testd_connect_path(const char *socket_path);

/* The daemon's output so far (g_free() it). */
char *testd_output(TestDaemon *d);

/*
 * Run softprd with @args to completion (at most 60 s); returns its exit
 * status and, in *@output, what it printed.
 */
int testd_run(const char *dir, const char *const *args, char **output);

/* Open @dir/@name, created with @size bytes, with open(2) @flags. */
int testd_disk(const char *dir, const char *name, int flags);

/* Run one command through @client; fail the test on a protocol error. */
void testd_command(PrClient *client, int disk_fd, const uint8_t *cdb,
                   const uint8_t *param, size_t len, ClientReply *reply);

/* PR OUT with a basic 24-byte parameter list; returns the status. */
uint8_t testd_prout(PrClient *client, int disk_fd, uint8_t sa, uint8_t type,
                    uint64_t rk, uint64_t sark, uint8_t flags,
                    ClientReply *reply);

/* PR IN; returns the status. */
uint8_t testd_prin(PrClient *client, int disk_fd, uint8_t sa, uint16_t alloc,
                   ClientReply *reply);

/* Wait until the daemon's output contains @text; false on timeout. */
bool testd_wait_output(TestDaemon *d, const char *text, unsigned timeout_ms);

#endif /* SOFTPR_TEST_DAEMON_H */
