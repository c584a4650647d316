/*
 * bench_pg: softpr-bench's PostgreSQL workloads (make bench).
 *
 * On a throwaway server of its own (tests/support/pgserver.c, started
 * with fsync on so that a commit is as durable as in production), it
 * measures the limits (a bare round trip and one durable INSERT with
 * libpq), PR IN and PR OUT through softprd on that server, the aggregate
 * PR OUT throughput of 1, 2 and 4 daemons sharing 64 LUs, and two
 * daemons on one LU.  What each figure means is in docs/performance.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libpq-fe.h>

#include "bench.h"
#include "pgserver.h"

/* The LUs the daemons share out, and each daemon's connections. */
#define PG_LUS 64
#define PG_CONNS_PER_DAEMON 8

static const unsigned daemon_counts[] = {1, 2, 4};

/* Whether the workloads ran (the targets need their figures). */
static bool measured;

/* A connection to @conninfo; exits on failure (the bench's own server). */
static PGconn *pg_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);

    if (PQstatus(conn) != CONNECTION_OK) {
        g_printerr("softpr-bench: PostgreSQL: %s", PQerrorMessage(conn));
        exit(1);
    }
    return conn;
}

/* Run @sql on @conn, which must succeed; exits otherwise. */
static void pg_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        g_printerr("softpr-bench: %s: %s", sql, PQresultErrorMessage(res));
        exit(1);
    }
    PQclear(res);
}

/* Say which server and settings the figures are from. */
static void print_server(const char *conninfo)
{
    PGconn *conn = pg_connect(conninfo);
    PGresult *res =
        PQexec(conn, "SELECT current_setting('server_version'), "
                     "current_setting('fsync'), "
                     "current_setting('synchronous_commit'), "
                     "current_setting('wal_sync_method')");

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        printf("# PostgreSQL %s on a Unix socket: fsync=%s "
               "synchronous_commit=%s wal_sync_method=%s\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    PQfinish(conn);
}

/*
 * @sql, one statement in its own implicit transaction (one round trip),
 * over and over on one libpq connection for opt_seconds, as figure
 * @name.
 */
static void bench_sql(const char *name, PGconn *conn, const char *sql)
{
    g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
    gint64 start = now_ns();
    gint64 stop = start + (gint64)(opt_seconds * 1e9);
    guint64 errors = 0;

    while (now_ns() < stop) {
        gint64 t0 = now_ns();
        PGresult *res = PQexec(conn, sql);
        ExecStatusType st = PQresultStatus(res);
        double us = (now_ns() - t0) / 1000.0;

        PQclear(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            errors++;
            break;
        }
        g_array_append_val(lat, us);
    }
    figure_add(name, 1, lat, (now_ns() - start) / 1e9, errors);
}

/*
 * The limits, in a database of their own on the server: a bare round
 * trip (SELECT 1), the floor of a PR IN's queries, and one small INSERT
 * committed on its own (synchronous_commit on: the answer waits for the
 * WAL flush), the floor of a PR OUT answered GOOD.
 */
static void bench_pg_baselines(PgServer *server)
{
    g_autofree char *conninfo = pgserver_new_database(server);
    PGconn *conn = pg_connect(conninfo);

    pg_exec(conn, "CREATE TABLE bench_commit (id bigserial PRIMARY KEY, "
                  "at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)");
    bench_sql("baseline-pg-roundtrip", conn, "SELECT 1");
    bench_sql("baseline-pg-commit", conn,
              "INSERT INTO bench_commit (note) VALUES ('bench')");
    PQfinish(conn);
}

/* One daemon on its own database: PR IN, then PR OUT by 1 and 16
 * connections on one LU. */
static void bench_pg_one_daemon(const char *dir, PgServer *server)
{
    g_autofree char *conninfo = pgserver_new_database(server);
    g_autofree char *in = make_disk(dir, "pg-in.img");
    g_autofree char *out = make_disk(dir, "pg-out.img");
    Daemon *d = softprd_start(dir, "pg", conninfo);

    register_many(d->socket, in, 1);
    run_load("read-keys-1reg-pg", d->socket, true, in, OP_READ_KEYS, 1);
    run_load("register-unregister-pg", d->socket, true, out,
             OP_REGISTER_TOGGLE, 1);
    run_load("register-unregister-16-pg", d->socket, true, out,
             OP_REGISTER_TOGGLE, 16);
    daemon_stop(d);
}

/* The machine's CPU time so far (/proc/stat, in ticks): busy and all. */
static void cpu_ticks(guint64 *busy, guint64 *total)
{
    g_autofree char *text = NULL;
    guint64 v[8] = {0};

    *busy = *total = 0;
    if (!g_file_get_contents("/proc/stat", &text, NULL, NULL) ||
        sscanf(text,
               "cpu %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
               " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
               " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
               " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
        return;
    }
    /* user nice system idle iowait irq softirq steal */
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - v[3] - v[4];
}

/* CPU seconds (user and system) process @pid has used; 0 when gone. */
static double process_cpu_s(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *text = NULL;
    unsigned long utime, stime;
    const char *rest;

    /* Fields 14 and 15, counted after the name's closing parenthesis. */
    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        (rest = strrchr(text, ')')) == NULL ||
        sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2) {
        return 0;
    }
    return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

/*
 * CPU seconds used so far by everything a PR OUT costs: the server's
 * processes (every one pg_stat_activity lists, its background writers
 * included), the @n daemons @d and this process (the clients).
 */
static double cpu_used_s(PGconn *conn, Daemon *const *d, unsigned n)
{
    PGresult *res = PQexec(conn, "SELECT pid FROM pg_stat_activity");
    struct rusage self;
    double sum = 0;
    int i;

    for (i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res);
         i++) {
        sum += process_cpu_s(atoi(PQgetvalue(res, i, 0)));
    }
    PQclear(res);
    for (i = 0; i < (int)n; i++) {
        sum += process_cpu_s((int)d[i]->pid);
    }
    if (getrusage(RUSAGE_SELF, &self) == 0) {
        sum += self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 +
               self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6;
    }
    return sum;
}

/*
 * Print what figure @f cost in CPU: @cpu_s seconds over its operations,
 * the throughput the machine's CPUs would allow at that cost, and how
 * busy they were (@busy and @total ticks, every process's).
 */
static void print_cpu(const Figure *f, double cpu_s, guint64 busy,
                      guint64 total)
{
    double us_per_op = f->ops > 0 ? cpu_s * 1e6 / f->ops : 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    printf("BENCH name=%s cpu_us_per_op=%.0f cpu_limit_ops_per_s=%.0f "
           "cpus=%ld machine_cpu_busy_pct=%.0f\n",
           f->name, us_per_op, us_per_op > 0 ? cpus * 1e6 / us_per_op : 0,
           cpus, total > 0 ? 100.0 * busy / total : 0);
}

/*
 * @n daemons on one new database, each driving its own share of the
 * PG_LUS @disks with PG_CONNS_PER_DAEMON connections (REGISTER and
 * unregister), all at once: the aggregate PR OUT throughput.
 */
static void bench_pg_daemons(const char *dir, PgServer *server,
                             const char *const *disks, unsigned n)
{
    g_autofree char *conninfo = pgserver_new_database(server);
    g_autofree char *name = g_strdup_printf("pr-out-64lu-%ud-pg", n);
    g_autofree Daemon **d = g_new0(Daemon *, n);
    g_autofree Load *loads = g_new0(Load, n);
    unsigned share = PG_LUS / n;
    guint64 busy0, total0, busy1, total1;
    PGconn *conn = pg_connect(conninfo);
    double cpu0;
    Figure *f;
    unsigned k;

    for (k = 0; k < n; k++) {
        g_autofree char *host = g_strdup_printf("pg-%ud-%u", n, k);

        d[k] = softprd_start(dir, host, conninfo);
        loads[k] = (Load){.socket = d[k]->socket,
                          .declare = true,
                          .op = OP_REGISTER_TOGGLE,
                          .conns = PG_CONNS_PER_DAEMON,
                          .first = k * PG_CONNS_PER_DAEMON,
                          .disks = disks + k * share,
                          .n_disks = share};
    }
    /* Whether the CPUs, not the daemons, are the limit. */
    cpu0 = cpu_used_s(conn, d, n);
    cpu_ticks(&busy0, &total0);
    f = run_loads(name, loads, n, opt_seconds);
    cpu_ticks(&busy1, &total1);
    print_cpu(f, cpu_used_s(conn, d, n) - cpu0, busy1 - busy0,
              total1 - total0);
    PQfinish(conn);
    for (k = 0; k < n; k++) {
        daemon_stop(d[k]);
    }
}

/* Two daemons on one database and one LU, 8 connections each: their
 * commands meet on the LU's row. */
static void bench_pg_two_daemons_one_lu(const char *dir, PgServer *server)
{
    g_autofree char *conninfo = pgserver_new_database(server);
    g_autofree char *shared = make_disk(dir, "pg-two.img");
    Daemon *a = softprd_start(dir, "pg-host-a", conninfo);
    Daemon *b = softprd_start(dir, "pg-host-b", conninfo);
    Load loads[2];

    loads[0] = (Load){a->socket, true, shared, OP_REGISTER_TOGGLE, 8, 0};
    loads[1] = (Load){b->socket, true, shared, OP_REGISTER_TOGGLE, 8, 8};
    run_loads("register-unregister-16-two-daemons-pg", loads, 2, opt_seconds);
    daemon_stop(a);
    daemon_stop(b);
}

void bench_pg(const char *dir)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PgServer) server = pgserver_start_durable(&error);
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    unsigned i;

    if (server == NULL) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
            printf("# PostgreSQL: %s\n", PGSERVER_SKIP_MESSAGE);
        } else {
            g_printerr("softpr-bench: PostgreSQL: %s\n", error->message);
            failures++;
        }
        return;
    }
    print_server(pgserver_conninfo(server));
    for (i = 0; i < PG_LUS; i++) {
        g_autofree char *file = g_strdup_printf("pg-lu-%02u.img", i);

        g_ptr_array_add(disks, make_disk(dir, file));
    }
    bench_pg_baselines(server);
    bench_pg_one_daemon(dir, server);
    for (i = 0; i < G_N_ELEMENTS(daemon_counts); i++) {
        bench_pg_daemons(dir, server, (const char *const *)disks->pdata,
                         daemon_counts[i]);
    }
    bench_pg_two_daemons_one_lu(dir, server);
    measured = true;
}

/* figure(@a)'s @field over figure(@b)'s, with both measured. */
static double ratio(const char *a, const char *b, bool throughput)
{
    const Figure *fa = figure(a);
    const Figure *fb = figure(b);
    double x = throughput ? fa->ops_per_s : fa->p50_us;
    double y = throughput ? fb->ops_per_s : fb->p50_us;

    return y > 0 ? x / y : 0;
}

void bench_pg_targets(void)
{
    if (!measured) {
        return;
    }
    /* Reported beside the target, not judged (docs/performance.md). */
    printf("RATIO pg-pr-in-vs-roundtrip measured=%.2f (PR IN p50 / bare "
           "PostgreSQL round trip p50)\n",
           ratio("read-keys-1reg-pg", "baseline-pg-roundtrip", false));
    printf("RATIO pg-pr-out-vs-commit measured=%.2f (PR OUT p50 / one "
           "PostgreSQL commit p50)\n",
           ratio("register-unregister-pg", "baseline-pg-commit", false));
    printf("RATIO pg-writers-16-vs-1 measured=%.2f (PR OUT throughput, 16 "
           "connections / 1, one LU)\n",
           ratio("register-unregister-16-pg", "register-unregister-pg", true));
    printf("RATIO pg-daemons-2-vs-1 measured=%.2f (PR OUT throughput over "
           "64 LUs, 2 daemons / 1)\n",
           ratio("pr-out-64lu-2d-pg", "pr-out-64lu-1d-pg", true));
    printf("RATIO pg-two-daemons-one-lu measured=%.2f (PR OUT throughput on "
           "one LU, two daemons / one daemon, 16 connections)\n",
           ratio("register-unregister-16-two-daemons-pg",
                 "register-unregister-16-pg", true));
    target("pg-daemons-4-vs-1",
           ratio("pr-out-64lu-4d-pg", "pr-out-64lu-1d-pg", true), 3.0, true,
           "PR OUT throughput over 64 LUs on one PostgreSQL server, "
           "4 daemons / 1");
}
