/*
 * pgserver: a throwaway PostgreSQL server for the tests.  It owns the
 * scratch directory it makes (initdb's data directory, the log and the
 * Unix socket: it never listens on TCP), and runs the server as an
 * unprivileged user (nobody) when the tests run as root.  One server per
 * test program; each test takes a fresh database on it.  A failover test
 * adds a synchronous streaming standby of its own primary.
 */
#ifndef SOFTPR_TEST_PGSERVER_H
#define SOFTPR_TEST_PGSERVER_H

#include <stdbool.h>

#include <glib.h>

typedef struct PgServer PgServer;

/* What a PostgreSQL test prints before it skips without the binaries. */
#define PGSERVER_SKIP_MESSAGE "skipped: PostgreSQL not installed"

/*
 * The directory holding Debian's server binaries (initdb, pg_ctl),
 * the newest /usr/lib/postgresql/<version>/bin, or $SOFTPR_PG_BINDIR;
 * NULL when none is installed.  g_free() it.
 */
char *pgserver_bindir(void);

/*
 * initdb a new cluster in a scratch directory and start it (pg_ctl,
 * waiting until it accepts connections).  NULL with @error set when the
 * binaries are missing (G_IO_ERROR_NOT_FOUND: the caller skips) or the
 * server does not start (its log is printed).
 */
PgServer *pgserver_start(GError **error);

/*
 * pgserver_start() with fsync on, as a production server runs: for
 * figures whose commits must be durable (the bench).  The tests'
 * servers keep fsync off: they check what a commit wrote, not that it
 * survives a power cut, and run faster without the flushes.
 */
PgServer *pgserver_start_durable(GError **error);

/*
 * pgserver_start() for a cmocka group setup: *@server NULL when the
 * binaries are missing (the group's tests then skip); false, with the
 * reason printed, when they are there and the server does not start.
 */
bool pgserver_start_for_group(PgServer **server);

/* Stop the server (when running) and remove the scratch directory. */
void pgserver_free(PgServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PgServer, pgserver_free)

/*
 * Stop the server (pg_ctl stop -m immediate: connections are cut as
 * by a crash) and start it again, on the same socket; with @pause_ms,
 * stay stopped that long first.  Returns whether it runs again.
 */
bool pgserver_restart(PgServer *server, unsigned pause_ms);

/* Stop the server without removing anything (pgserver_resume() again). */
bool pgserver_stop(PgServer *server);
bool pgserver_resume(PgServer *server);

/*
 * Create a new empty database on @server and return a libpq keyword/
 * value connection string for it (host = the socket directory).
 * g_free() it.  Fails the test when it cannot.
 */
char *pgserver_new_database(PgServer *server);

/*
 * Create a new empty database on @server and return its name (what
 * pgserver_new_database() connects to).  g_free() it.  Fails the test
 * when it cannot.
 */
char *pgserver_create_database(PgServer *server);

/*
 * A base backup of @primary (pg_basebackup -R -X stream over its
 * socket) in a scratch directory of its own, started on its own socket
 * directory as a streaming standby; @primary is then made to wait for
 * it synchronously (synchronous_standby_names, synchronous_commit on):
 * a COMMIT that returned is flushed on both.  Returns once the primary's
 * pg_stat_replication shows it streaming with sync_state 'sync'; NULL
 * with @error set (and the logs printed) otherwise.  pgserver_free()
 * stops it and removes its directory.  To fail over, pgserver_stop()
 * the primary (an immediate stop, as a crash) and pgserver_promote().
 */
PgServer *pgserver_start_standby(PgServer *primary, GError **error);

/*
 * Promote @standby (pg_ctl promote -w); returns once it accepts writes
 * (pg_is_in_recovery() false), false with the log printed otherwise.
 */
bool pgserver_promote(PgServer *standby);

/*
 * A libpq keyword/value string for database @dbname (made on @primary
 * with pgserver_create_database(): it replicates) that names both
 * hosts, primary first, and connects only to the one that accepts
 * writes (target_session_attrs=read-write).  g_free() it.
 */
char *pgserver_failover_conninfo(const PgServer *primary,
                                 const PgServer *standby, const char *dbname);

/*
 * Run @sql (one or several statements) on @conninfo, in a connection of
 * its own; the first column of its first row into *@value (NULL: none)
 * when @value is not NULL.  false with @error set.
 */
bool pgserver_sql(const char *conninfo, const char *sql, char **value,
                  GError **error);

/* pgserver_sql() that fails the test on an error; returns the value
 * (g_free() it). */
char *pgserver_sql_value(const char *conninfo, const char *sql);

/* The connection string of the server's maintenance database. */
const char *pgserver_conninfo(const PgServer *server);

/* The socket directory (a libpq host). */
const char *pgserver_socket_dir(const PgServer *server);

#endif /* SOFTPR_TEST_PGSERVER_H */
