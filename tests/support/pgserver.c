/*
 * pgserver: a throwaway PostgreSQL server for the tests (see pgserver.h),
 * and a synchronous streaming standby of one for the failover tests.
 */
#include "pgserver.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libpq-fe.h>

#include "testutil.h"

struct PgServer {
    char *bindir;
    char *dir;     /* scratch directory, owned by the server's user */
    char *datadir; /* dir/data */
    char *logfile; /* dir/server.log */
    char *conninfo;
    char *options; /* more server options (-o), or NULL */
    bool running;
    unsigned next_db;
    uid_t uid; /* the server's user when the tests run as root */
    gid_t gid;
    bool drop_privileges;
};

char *pgserver_bindir(void)
{
    const char *env = g_getenv("SOFTPR_PG_BINDIR");
    if (env != NULL && *env != '\0') {
        g_autofree char *initdb = g_build_filename(env, "initdb", NULL);
        return g_file_test(initdb, G_FILE_TEST_IS_EXECUTABLE) ? g_strdup(env)
                                                              : NULL;
    }
    g_autoptr(GDir) top = g_dir_open("/usr/lib/postgresql", 0, NULL);
    if (top == NULL) {
        return NULL;
    }
    /* The newest version with a complete server (initdb and pg_ctl). */
    char *best = NULL;
    long best_version = -1;
    const char *entry;
    while ((entry = g_dir_read_name(top)) != NULL) {
        g_autofree char *bin =
            g_build_filename("/usr/lib/postgresql", entry, "bin", NULL);
        g_autofree char *initdb = g_build_filename(bin, "initdb", NULL);
        g_autofree char *pg_ctl = g_build_filename(bin, "pg_ctl", NULL);
        long version = strtol(entry, NULL, 10);
        if (g_file_test(initdb, G_FILE_TEST_IS_EXECUTABLE) &&
            g_file_test(pg_ctl, G_FILE_TEST_IS_EXECUTABLE) &&
            version > best_version) {
            g_free(best);
            best = g_steal_pointer(&bin);
            best_version = version;
        }
    }
    return best;
}

/* In the child before exec: become the server's user (initdb and
 * postgres refuse to run as root). */
static void become_server_user(gpointer data)
{
    const PgServer *server = data;
    if (!server->drop_privileges) {
        return;
    }
    if (setgroups(0, NULL) != 0 || setgid(server->gid) != 0 ||
        setuid(server->uid) != 0) {
        _exit(127);
    }
}

/* Run the server binary @name with @args (NULL-terminated) as the
 * server's user; output goes to the log file. */
static bool run_tool(PgServer *server, const char *name,
                     const char *const *args, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_build_filename(server->bindir, name, NULL));
    for (const char *const *arg = args; *arg != NULL; arg++) {
        g_ptr_array_add(argv, g_strdup(*arg));
    }
    g_ptr_array_add(argv, NULL);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    if (!g_spawn_sync(server->dir, (char **)argv->pdata, NULL,
                      G_SPAWN_DEFAULT, become_server_user, server, &out, &err,
                      &status, error)) {
        return false;
    }
    if (!g_spawn_check_wait_status(status, error)) {
        g_prefix_error(error, "%s: %s%s: ", name, out, err);
        return false;
    }
    return true;
}

static void print_log(const PgServer *server)
{
    g_autofree char *text = NULL;
    if (g_file_get_contents(server->logfile, &text, NULL, NULL)) {
        g_printerr("--- PostgreSQL log ---\n%s----------------------\n", text);
    }
}

static bool server_user(PgServer *server, GError **error)
{
    /* The socket is reached through the directory by every user a
     * test runs (softprd may drop its privileges). */
    if (chmod(server->dir, 0755) != 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "chmod %s: %s", server->dir, g_strerror(errno));
        return false;
    }
    if (geteuid() != 0) {
        return true;
    }
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "running as root and there is no user nobody");
        return false;
    }
    server->uid = pw->pw_uid;
    server->gid = pw->pw_gid;
    server->drop_privileges = true;
    if (chown(server->dir, server->uid, server->gid) != 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "chown %s: %s", server->dir, g_strerror(errno));
        return false;
    }
    return true;
}

bool pgserver_resume(PgServer *server)
{
    g_autofree char *options = g_strdup_printf(
        "-k %s -c listen_addresses= -c fsync=off -c max_connections=200%s%s",
        server->dir, server->options != NULL ? " " : "",
        server->options != NULL ? server->options : "");
    const char *args[] = {"start", "-w",           "-t", "60",    "-D",
                          server->datadir, "-l", server->logfile, "-o",
                          options,         NULL};
    g_autoptr(GError) error = NULL;
    if (!run_tool(server, "pg_ctl", args, &error)) {
        g_printerr("pg_ctl start: %s\n", error->message);
        print_log(server);
        return false;
    }
    server->running = true;
    return true;
}

bool pgserver_stop(PgServer *server)
{
    if (!server->running) {
        return true;
    }
    const char *args[] = {"stop", "-w", "-m", "immediate", "-D",
                          server->datadir, NULL};
    g_autoptr(GError) error = NULL;
    if (!run_tool(server, "pg_ctl", args, &error)) {
        g_printerr("pg_ctl stop: %s\n", error->message);
        return false;
    }
    server->running = false;
    return true;
}

bool pgserver_restart(PgServer *server, unsigned pause_ms)
{
    if (!pgserver_stop(server)) {
        return false;
    }
    g_usleep((gulong)pause_ms * 1000);
    return pgserver_resume(server);
}

/* A new server's scratch directory and names, owned by its user;
 * nothing in it yet.  NULL with @error set (NOT_FOUND: no binaries). */
static PgServer *server_new(GError **error)
{
    g_autofree char *bindir = pgserver_bindir();
    if (bindir == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "PostgreSQL not installed");
        return NULL;
    }
    /* Not testutil_tmpdir(): the socket path must stay short (108 bytes)
     * and the directory must be reachable by the server's user. */
    g_autofree char *dir = g_dir_make_tmp("softpr-pg-XXXXXX", error);
    if (dir == NULL) {
        return NULL;
    }
    PgServer *server = g_new0(PgServer, 1);
    server->bindir = g_steal_pointer(&bindir);
    server->dir = g_steal_pointer(&dir);
    server->datadir = g_build_filename(server->dir, "data", NULL);
    server->logfile = g_build_filename(server->dir, "server.log", NULL);
    server->conninfo = g_strdup_printf("host=%s dbname=postgres user=softpr",
                                       server->dir);
    if (!server_user(server, error)) {
        pgserver_free(server);
        return NULL;
    }
    return server;
}

/* A new primary, initdb'd and started with more server @options (or
 * NULL). */
static PgServer *start(const char *options, GError **error)
{
    PgServer *server = server_new(error);
    if (server == NULL) {
        return NULL;
    }
    server->options = g_strdup(options);
    const char *initdb[] = {"-D", server->datadir, "-U", "softpr",
                            "--auth=trust", "--no-sync", "-E", "UTF8",
                            "--locale=C", NULL};
    if (!run_tool(server, "initdb", initdb, error)) {
        pgserver_free(server);
        return NULL;
    }
    if (!pgserver_resume(server)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "PostgreSQL did not start");
        pgserver_free(server);
        return NULL;
    }
    return server;
}

PgServer *pgserver_start(GError **error)
{
    return start(NULL, error);
}

PgServer *pgserver_start_durable(GError **error)
{
    /* After the suite's fsync=off on the command line: the last wins. */
    return start("-c fsync=on", error);
}

void pgserver_free(PgServer *server)
{
    if (server == NULL) {
        return;
    }
    pgserver_stop(server);
    testutil_rmtree(server->dir);
    g_free(server->bindir);
    g_free(server->dir);
    g_free(server->datadir);
    g_free(server->logfile);
    g_free(server->conninfo);
    g_free(server->options);
    g_free(server);
}

bool pgserver_sql(const char *conninfo, const char *sql, char **value,
                  GError **error)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "connecting to the test server: %s",
                    PQerrorMessage(conn));
        PQfinish(conn);
        return false;
    }
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", sql,
                    PQresultErrorMessage(res));
    } else if (value != NULL) {
        *value = st == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
                         !PQgetisnull(res, 0, 0)
                     ? g_strdup(PQgetvalue(res, 0, 0))
                     : NULL;
    }
    PQclear(res);
    PQfinish(conn);
    return ok;
}

char *pgserver_create_database(PgServer *server)
{
    char *name =
        g_strdup_printf("t%u_%u", (unsigned)getpid(), server->next_db++);
    g_autofree char *sql = g_strdup_printf("CREATE DATABASE %s", name);
    g_autoptr(GError) error = NULL;
    if (!pgserver_sql(server->conninfo, sql, NULL, &error)) {
        testutil_fail("%s", error->message);
    }
    return name;
}

char *pgserver_new_database(PgServer *server)
{
    g_autofree char *name = pgserver_create_database(server);
    return g_strdup_printf("host=%s dbname=%s user=softpr", server->dir, name);
}

char *pgserver_failover_conninfo(const PgServer *primary,
                                 const PgServer *standby, const char *dbname)
{
    return g_strdup_printf("host=%s,%s dbname=%s user=softpr "
                           "target_session_attrs=read-write",
                           primary->dir, standby->dir, dbname);
}

const char *pgserver_conninfo(const PgServer *server)
{
    return server->conninfo;
}

const char *pgserver_socket_dir(const PgServer *server)
{
    return server->dir;
}

bool pgserver_start_for_group(PgServer **server)
{
    g_autoptr(GError) error = NULL;

    *server = pgserver_start(&error);
    if (*server == NULL &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
        g_printerr("test PostgreSQL server: %s\n", error->message);
        return false;
    }
    return true;
}

/* The standby's name for synchronous_standby_names: its cluster_name,
 * which the walreceiver sends as its application_name. */
#define STANDBY_NAME "softpr_standby"

/* Poll @conninfo with @sql (a boolean query) until it answers 't', for
 * up to 60 s (a loaded test machine).  false with @error set otherwise. */
static bool wait_until(const char *conninfo, const char *sql, GError **error)
{
    gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *value = NULL;
        g_autoptr(GError) local = NULL;
        if (pgserver_sql(conninfo, sql, &value, &local) &&
            g_strcmp0(value, "t") == 0) {
            return true;
        }
        if (g_get_monotonic_time() > until) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "still not true after 60 s: %s (%s)", sql,
                        local != NULL ? local->message : "false");
            return false;
        }
        g_usleep(50 * 1000);
    }
}

/* Make @primary wait synchronously for the standby (ALTER SYSTEM after
 * the base backup, so that the standby, once promoted, does not wait
 * for itself) and wait until it streams as the sync standby. */
static bool make_synchronous(PgServer *primary, GError **error)
{
    return pgserver_sql(primary->conninfo,
                      "ALTER SYSTEM SET synchronous_standby_names = '"
                      STANDBY_NAME "'", NULL, error) &&
           pgserver_sql(primary->conninfo,
                      "ALTER SYSTEM SET synchronous_commit = on", NULL,
                      error) &&
           pgserver_sql(primary->conninfo, "SELECT pg_reload_conf()", NULL,
                      error) &&
           wait_until(primary->conninfo,
                      "SELECT EXISTS (SELECT 1 FROM pg_stat_replication "
                      "WHERE application_name = '" STANDBY_NAME "' "
                      "AND state = 'streaming' AND sync_state = 'sync')",
                      error);
}

PgServer *pgserver_start_standby(PgServer *primary, GError **error)
{
    PgServer *standby = server_new(error);
    if (standby == NULL) {
        return NULL;
    }
    standby->options = g_strdup("-c cluster_name=" STANDBY_NAME);
    /* initdb --auth=trust allows "local replication all trust". */
    const char *basebackup[] = {"-D", standby->datadir, "-h", primary->dir,
                                "-U", "softpr", "-R", "-X", "stream",
                                "-c", "fast", "--no-sync", NULL};
    if (!run_tool(standby, "pg_basebackup", basebackup, error)) {
        print_log(primary);
        pgserver_free(standby);
        return NULL;
    }
    if (!pgserver_resume(standby)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "the standby did not start");
        pgserver_free(standby);
        return NULL;
    }
    if (!make_synchronous(primary, error)) {
        print_log(primary);
        print_log(standby);
        pgserver_free(standby);
        return NULL;
    }
    return standby;
}

bool pgserver_promote(PgServer *standby)
{
    const char *args[] = {"promote", "-w", "-t", "60", "-D",
                          standby->datadir, NULL};
    g_autoptr(GError) error = NULL;
    if (!run_tool(standby, "pg_ctl", args, &error) ||
        !wait_until(standby->conninfo, "SELECT NOT pg_is_in_recovery()",
                    &error)) {
        g_printerr("promoting the standby: %s\n", error->message);
        print_log(standby);
        return false;
    }
    return true;
}

char *pgserver_sql_value(const char *conninfo, const char *sql)
{
    g_autoptr(GError) error = NULL;
    char *value = NULL;

    if (!pgserver_sql(conninfo, sql, &value, &error)) {
        testutil_fail("%s", error->message);
    }
    return value;
}
