/*
 * crashload: the load and the verification of the crash tests
 * (tests/integration/test_crash.c), for either backend.  Two daemons
 * (two hosts) share one database, sqlite or PostgreSQL; six client
 * threads issue PR OUT through either of them while the test breaks
 * something (kills a daemon, restarts the database server, fails it
 * over to a standby).  Afterwards every command is checked on its own
 * against the database.
 *
 * Each client owns one logical unit that nobody else writes and sends it
 * REGISTER AND IGNORE EXISTING KEY with a new key each time.  On its own
 * LU such a command can only succeed (SPC-4 5.12.11.2.2: the key is
 * replaced whatever was registered, no reservation to conflict with), or
 * meet the database's lock bound or an unreachable server (BUSY) or a
 * failure (ABORTED COMMAND, INTERNAL TARGET FAILURE, 0B/44/00), the two
 * retryable answers docs/emulation.md documents; any other answer fails
 * the test.  When a kill takes the answer, the client reads its keys to
 * learn whether the command committed, once the database has ended it
 * (crashload_settled()).  Clients also contend on one
 * shared LU with RESERVE, RELEASE, PREEMPT, CLEAR and REGISTER, where
 * conflicts are answers SPC-4 gives, and read it with READ FULL STATUS
 * (GOOD or a retryable answer) while it changes.
 *
 * crashload_check(): the backend's own integrity check passes
 * (store_check_integrity: PRAGMA integrity_check on sqlite); each owned
 * LU's history holds, in order, one GOOD row for each command that
 * committed, with its key and the PRgeneration it raised (6.14.2: one per
 * REGISTER AND IGNORE EXISTING KEY), and nothing for the others, and the
 * LU holds the last key with that PRgeneration; each client's history on
 * the shared LU holds its answered commands, in order, with the answer it
 * got (a row for every PR OUT that reached the database, none for BUSY
 * or ABORTED COMMAND); the shared LU's PRgeneration counts its GOOD
 * generation-raising rows; every LU's state satisfies SPC-4
 * (engine_state_consistent); and no daemon loaded a state that breaks
 * it (a read that saw half of a commit), as its log would say.
 */
#ifndef SOFTPR_TEST_CRASHLOAD_H
#define SOFTPR_TEST_CRASHLOAD_H

#include <stdbool.h>

#include <glib.h>

typedef struct CrashLoad CrashLoad;

/* What a run did, summed over the clients. */
typedef struct CrashFigures {
    guint good;
    guint busy;
    guint aborted; /* ABORTED COMMAND, INTERNAL TARGET FAILURE */
    guint lost;    /* answers lost to a kill */
    guint lost_committed;
    guint shared_ops;
    guint shared_reads; /* READ FULL STATUS answered on the shared LU */
    guint events;        /* crashload_event() calls */
    guint landed_lost;   /* events that took a command's answer */
    guint landed_flight; /* events that began with a command in flight */
    /* PostgreSQL: COMMITs whose answer the daemon's connection lost and
     * that it found committed by their command id (src/store_pg.c). */
    guint resolved_commits;
} CrashFigures;

/*
 * A scratch directory with the clients' LUs, and two daemons (hosts
 * "host-a" and "host-b", lock-timeout 2 s, all history kept) on @db: a
 * PostgreSQL connection string, or NULL for sqlite's pr.db in the
 * directory.  @max_events bounds crashload_event() calls.
 */
CrashLoad *crashload_new(const char *db, guint max_events);

/* Start the client threads. */
void crashload_start(CrashLoad *c);

/* The commands answered GOOD so far, over every client. */
guint crashload_good(CrashLoad *c);

/*
 * Wait until @more commands beyond @since were answered GOOD, at most
 * @timeout_ms; false on timeout.  The load is flowing again.
 */
bool crashload_wait_good(CrashLoad *c, guint since, guint more,
                         unsigned timeout_ms);

/* A kill, restart or failover begins now: an answer lost from here on is
 * charged to it, and whether a command is in flight is noted. */
void crashload_event(CrashLoad *c);

/*
 * Every command the events so far interrupted has ended in the database
 * (committed or rolled back): a client whose answer one of them took
 * reads its keys only then.  Call it once the server was stopped (its
 * transactions end with it).
 */
void crashload_settled(CrashLoad *c);

/* SIGKILL daemon @which (0 or 1), wait until its commands have ended in
 * the database (crashload_settled()), and start it again. */
void crashload_kill_daemon(CrashLoad *c, int which);

/* Stop the clients (joining them) and the daemons. */
void crashload_finish(CrashLoad *c);

/* Check the database against every command (see the top). */
void crashload_check(CrashLoad *c);

/* The figures, and fail the test unless every client had a command
 * answered GOOD. */
void crashload_figures(CrashLoad *c, CrashFigures *f);

/* Close the disks, remove the scratch directory, free. */
void crashload_free(CrashLoad *c);

#endif /* SOFTPR_TEST_CRASHLOAD_H */
