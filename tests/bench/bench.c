/*
 * softpr-bench: softprd's latency and throughput through the real
 * protocol, next to the limits it is judged against (make bench).
 *
 * It starts real softprd processes on a scratch directory (identity
 * "client", so that each connection is its own initiator), drives them
 * with N concurrent connections speaking the pr-helper protocol, and
 * reports p50/p99 latency and throughput per workload: a table, and one
 * "BENCH ..." line per figure for machines.  In the same run it
 * measures the baselines: a bare Unix-socket round trip carrying an
 * SCM_RIGHTS descriptor to the bench's own echo server, in a child
 * process (the limit for PR IN), one durable sqlite commit through the store on
 * the same filesystem and journal mode (the limit for PR OUT), and Debian's
 * qemu-pr-helper answering PR IN on a regular file (its no-work path)
 * when it is installed.  "TARGET ..." lines compare the ratios with
 * docs/performance.md's targets; nothing here asserts a time.  The same
 * workloads on PostgreSQL, with their own baselines, are in bench_pg.c
 * (--backend chooses one database's part).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "bench.h"

#include "bytes.h"
#include "cdb.h"
#include "client.h"
#include "command.h"
#include "engine.h"
#include "scsi.h"
#include "store.h"
#include "tid.h"
#include "wire.h"

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

double opt_seconds = 3.0;
gboolean opt_quick;
static char *opt_softprd;
static char *opt_qemu_pr_helper;
static char *opt_dir;
static int opt_luns = 100000;
static int opt_idle = 1000;
static char *opt_backend;

static GOptionEntry entries[] = {
    {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
     "Seconds per workload (default 3)", "S"},
    {"quick", 0, 0, G_OPTION_ARG_NONE, &opt_quick,
     "A short smoke run with small sizes (for CI)", NULL},
    {"softprd", 0, 0, G_OPTION_ARG_FILENAME, &opt_softprd,
     "The softprd binary (default build/softprd)", "PATH"},
    {"qemu-pr-helper", 0, 0, G_OPTION_ARG_FILENAME, &opt_qemu_pr_helper,
     "qemu-pr-helper for the baseline (skipped when absent)", "PATH"},
    {"dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_dir,
     "Scratch directory, on the filesystem to measure (default: a new "
     "directory under build/)",
     "DIR"},
    {"luns", 0, 0, G_OPTION_ARG_INT, &opt_luns,
     "Logical units in the large database (default 100000)", "N"},
    {"idle", 0, 0, G_OPTION_ARG_INT, &opt_idle,
     "Idle connections (default 1000)", "N"},
    {"backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend,
     "The workloads of one database only: sqlite or pg (default all)",
     "NAME"},
    {NULL}};

/* ------------------------------------------------------------------ */
/* Figures                                                             */
/* ------------------------------------------------------------------ */

static GHashTable *figures; /* name -> Figure * */
unsigned failures;

gint64 now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double percentile(GArray *sorted, double p)
{
    guint i;

    if (sorted->len == 0) {
        return 0;
    }
    i = (guint)(p * (sorted->len - 1) + 0.5);
    return g_array_index(sorted, double, i);
}

Figure *figure_add(const char *name, unsigned conns, GArray *lat,
                   double wall_s, guint64 errors)
{
    Figure *f = g_new0(Figure, 1);

    g_array_sort(lat, compare_double);
    f->name = g_strdup(name);
    f->conns = conns;
    f->p50_us = percentile(lat, 0.50);
    f->p99_us = percentile(lat, 0.99);
    f->ops = lat->len;
    f->ops_per_s = wall_s > 0 ? lat->len / wall_s : 0;
    f->errors = errors;
    g_hash_table_insert(figures, f->name, f);
    printf("%-32s %5u %10.1f %10.1f %12.0f %9" G_GUINT64_FORMAT
           " %6" G_GUINT64_FORMAT "\n",
           name, conns, f->p50_us, f->p99_us, f->ops_per_s, f->ops, errors);
    printf("BENCH name=%s conns=%u p50_us=%.1f p99_us=%.1f ops_per_s=%.0f "
           "ops=%" G_GUINT64_FORMAT " errors=%" G_GUINT64_FORMAT "\n",
           name, conns, f->p50_us, f->p99_us, f->ops_per_s, f->ops, errors);
    fflush(stdout);
    if (errors > 0 || f->ops == 0) {
        failures++;
    }
    return f;
}

const Figure *figure(const char *name)
{
    return g_hash_table_lookup(figures, name);
}

static void figure_free(gpointer data)
{
    Figure *f = data;

    g_free(f->name);
    g_free(f);
}

void target(const char *name, double measured, double limit, bool at_least,
            const char *what)
{
    bool met = at_least ? measured >= limit : measured <= limit;

    printf("TARGET %s measured=%.2f %s%.2f %s (%s)\n", name, measured,
           at_least ? ">=" : "<=", limit, met ? "met" : "missed", what);
}

/* ------------------------------------------------------------------ */
/* Daemons                                                             */
/* ------------------------------------------------------------------ */

static bool wait_for_socket(const char *path, GPid pid)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_TIME_SPAN_SECOND;

    while (g_get_monotonic_time() < deadline) {
        PrClient *c = client_connect(path, 0, 1000, NULL);

        if (c != NULL) {
            client_close(c);
            return true;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return false;
        }
        g_usleep(20 * 1000);
    }
    return false;
}

/* Start @argv (its output to @log) and wait until @socket answers. */
static Daemon *daemon_start(const char *const *argv, const char *socket,
                            const char *log)
{
    Daemon *d = g_new0(Daemon, 1);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;

    if (out < 0) {
        g_printerr("softpr-bench: %s: %s\n", log, g_strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid == 0) {
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(out);
    d->pid = pid;
    d->socket = g_strdup(socket);
    if (pid < 0 || !wait_for_socket(socket, pid)) {
        g_printerr("softpr-bench: %s did not start (see %s)\n", argv[0], log);
        exit(1);
    }
    return d;
}

/* The bench is one process holding every connection, the idle ones
 * too: no per-peer cap. */
Daemon *softprd_start(const char *dir, const char *name, const char *db)
{
    g_autofree char *socket = g_strdup_printf("%s/%s.sock", dir, name);
    g_autofree char *log = g_strdup_printf("%s/%s.log", dir, name);
    g_autofree char *conf = g_strdup_printf("%s/%s.conf", dir, name);
    const char *argv[] = {opt_softprd, "-k",         socket,   "--db",
                          db,          "--identity", "client", "--host-id",
                          name,        "-c",         conf,     NULL};

    if (!g_file_set_contents(
            conf, "[daemon]\nmax-connections-per-peer = 65536\n", -1, NULL)) {
        g_printerr("softpr-bench: cannot write %s\n", conf);
        exit(1);
    }

    return daemon_start(argv, socket, log);
}

/* Resident memory of @pid in KiB. */
static long daemon_rss_kib(const Daemon *d)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)d->pid);
    g_autofree char *text = NULL;
    const char *line;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        (line = strstr(text, "VmRSS:")) == NULL) {
        return -1;
    }
    return strtol(line + 6, NULL, 10);
}

void daemon_stop(Daemon *d)
{
    int status;

    kill(d->pid, SIGTERM);
    waitpid(d->pid, &status, 0);
    g_free(d->socket);
    g_free(d);
}

/* ------------------------------------------------------------------ */
/* Load                                                                */
/* ------------------------------------------------------------------ */

typedef struct Worker {
    const Load *load;
    unsigned index;
    PrClient *client;
    int disk;   /* the one in use */
    int *disks; /* with load->n_disks: this connection's LUs */
    unsigned n_disks;
    GArray *lat; /* µs */
    guint64 errors;
} Worker;

typedef struct Run {
    GMutex lock;
    GCond cond;
    unsigned ready;
    unsigned total;
    bool go;
    gint64 stop_ns;
} Run;

static Run run_state;

static PrClient *connect_as(const char *socket, bool declare, unsigned index)
{
    g_autofree char *name =
        g_strdup_printf("iqn.2026-11.org.softpr:bench:i%u", index);
    TransportId tid;

    if (!declare) {
        return client_connect(socket, 0, 30000, NULL);
    }
    if (!tid_from_iscsi_name(name, &tid, NULL)) {
        return NULL;
    }
    return client_connect_as(socket, &tid, 30000, NULL);
}

/* Send one command; false on a transport failure or an unexpected status. */
static bool command(Worker *w, const uint8_t *cdb, const uint8_t *param,
                    size_t len, bool conflict_ok)
{
    ClientReply reply;

    if (!client_command(w->client, cdb, w->disk, param, len, &reply, NULL)) {
        return false;
    }
    return reply.status == SCSI_STATUS_GOOD ||
           (conflict_ok && reply.status == SCSI_STATUS_RESERVATION_CONFLICT) ||
           /* qemu-pr-helper's answer on a regular file. */
           (!w->load->declare && reply.status == SCSI_STATUS_CHECK_CONDITION);
}

static bool pr_in(Worker *w, uint8_t sa)
{
    uint8_t cdb[WIRE_CDB_LEN];

    cdb_pr_in(cdb, sa, WIRE_DATA_MAX);
    return command(w, cdb, NULL, 0, false);
}

static bool pr_out(Worker *w, uint8_t sa, uint8_t type, uint64_t rk,
                   uint64_t sark, bool conflict_ok)
{
    uint8_t cdb[WIRE_CDB_LEN];
    uint8_t param[24];

    cdb_prout_basic(param, rk, sark, 0, NULL, 0);
    cdb_pr_out(cdb, sa, 0, type, sizeof(param));
    return command(w, cdb, param, sizeof(param), conflict_ok);
}

/* The @step'th command of @w's workload. */
static bool step(Worker *w, guint64 step)
{
    uint64_t key = 0xbe0000000000ull + w->index + 1;

    switch (w->load->op) {
    case OP_READ_KEYS:
        return pr_in(w, PR_IN_READ_KEYS);
    case OP_FULL_STATUS:
        return pr_in(w, PR_IN_READ_FULL_STATUS);
    case OP_REGISTER_TOGGLE:
        return step % 2 == 0
                   ? pr_out(w, PR_OUT_REGISTER_IGNORE, 0, 0, key, false)
                   : pr_out(w, PR_OUT_REGISTER, 0, key, 0, false);
    case OP_RESERVE_RELEASE:
        return pr_out(w, step % 2 == 0 ? PR_OUT_RESERVE : PR_OUT_RELEASE,
                      PR_TYPE_WRITE_EXCLUSIVE, key, 0, false);
    case OP_FENCE_MIX:
        switch (step % 6) {
        case 0:
            return pr_in(w, PR_IN_READ_KEYS);
        case 1:
            return pr_out(w, PR_OUT_REGISTER_IGNORE, 0, 0, key, false);
        case 2:
            return pr_in(w, PR_IN_READ_RESERVATION);
        case 3:
            return pr_out(w, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, key, 0,
                          true);
        case 4:
            return pr_in(w, PR_IN_READ_FULL_STATUS);
        default:
            return pr_out(w, PR_OUT_REGISTER_IGNORE, 0, 0, 0, false);
        }
    }
    return false;
}

static gpointer worker_run(gpointer data)
{
    Worker *w = data;
    Run *r = &run_state;
    bool ok = w->client != NULL && w->disk >= 0;
    guint64 i;

    /* Reserve/release needs a registration first. */
    if (ok && w->load->op == OP_RESERVE_RELEASE) {
        ok = pr_out(w, PR_OUT_REGISTER_IGNORE, 0, 0,
                    0xbe0000000000ull + w->index + 1, false);
    }
    g_mutex_lock(&r->lock);
    r->ready++;
    g_cond_broadcast(&r->cond);
    while (!r->go) {
        g_cond_wait(&r->cond, &r->lock);
    }
    g_mutex_unlock(&r->lock);
    if (!ok) {
        w->errors++;
        return NULL;
    }
    for (i = 0; now_ns() < r->stop_ns; i++) {
        gint64 t0 = now_ns();
        double us;

        /* A pair of commands (register, unregister) stays on one LU. */
        if (w->n_disks > 1) {
            w->disk = w->disks[(i / 2) % w->n_disks];
        }
        if (!step(w, i)) {
            w->errors++;
            break;
        }
        us = (now_ns() - t0) / 1000.0;
        g_array_append_val(w->lat, us);
    }
    return NULL;
}

/*
 * The @j'th connection of @load, with its disk: @load's disk, or with
 * @load->disks the LUs j, j + conns, j + 2 * conns... of them (or LU
 * j % n_disks when there are more connections than LUs).
 */
static Worker *worker_new(const Load *load, unsigned j)
{
    Worker *w = g_new0(Worker, 1);
    unsigned k;

    w->load = load;
    w->index = load->first + j;
    w->client = connect_as(load->socket, load->declare, w->index);
    w->lat = g_array_new(FALSE, FALSE, sizeof(double));
    if (load->n_disks == 0) {
        w->disk = open(load->disk, O_RDWR | O_CLOEXEC);
        return w;
    }
    w->disks = g_new(int, load->n_disks / load->conns + 1);
    for (k = j % load->n_disks; k < load->n_disks; k += load->conns) {
        w->disks[w->n_disks++] = open(load->disks[k], O_RDWR | O_CLOEXEC);
        if (w->disks[w->n_disks - 1] < 0) {
            w->disk = -1;
            return w;
        }
    }
    w->disk = w->disks[0];
    return w;
}

/* Close @w's connection and disks, and free it (not its latencies). */
static void worker_free(Worker *w)
{
    unsigned k;

    if (w->client != NULL) {
        client_close(w->client);
    }
    if (w->n_disks == 0 && w->disk >= 0) {
        close(w->disk);
    }
    for (k = 0; k < w->n_disks; k++) {
        if (w->disks[k] >= 0) {
            close(w->disks[k]);
        }
    }
    g_free(w->disks);
    g_array_free(w->lat, TRUE);
    g_free(w);
}

Figure *run_loads(const char *name, const Load *loads, size_t n,
                         double seconds)
{
    GPtrArray *workers = g_ptr_array_new();
    GPtrArray *threads = g_ptr_array_new();
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(double));
    Run *r = &run_state;
    guint64 errors = 0;
    unsigned conns = 0;
    gint64 start;
    size_t i, j;
    Figure *f;

    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->ready = 0;
    r->go = false;
    for (i = 0; i < n; i++) {
        for (j = 0; j < loads[i].conns; j++) {
            g_ptr_array_add(workers, worker_new(&loads[i], (unsigned)j));
        }
    }
    r->total = workers->len;
    for (i = 0; i < workers->len; i++) {
        g_ptr_array_add(threads, g_thread_new("bench", worker_run,
                                              g_ptr_array_index(workers, i)));
    }
    g_mutex_lock(&r->lock);
    while (r->ready < r->total) {
        g_cond_wait(&r->cond, &r->lock);
    }
    start = now_ns();
    r->stop_ns = start + (gint64)(seconds * 1e9);
    r->go = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
    for (i = 0; i < threads->len; i++) {
        g_thread_join(g_ptr_array_index(threads, i));
    }
    for (i = 0; i < workers->len; i++) {
        Worker *w = g_ptr_array_index(workers, i);

        g_array_append_vals(all, w->lat->data, w->lat->len);
        errors += w->errors;
        conns++;
        worker_free(w);
    }
    f = figure_add(name, conns, all, (now_ns() - start) / 1e9, errors);
    g_ptr_array_free(workers, TRUE);
    g_ptr_array_free(threads, TRUE);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
    return f;
}

Figure *run_load(const char *name, const char *socket, bool declare,
                 const char *disk, Op op, unsigned conns)
{
    Load load = {socket, declare, disk, op, conns, 0};

    return run_loads(name, &load, 1, opt_seconds);
}

void register_many(const char *socket, const char *disk, unsigned n)
{
    int fd = open(disk, O_RDWR | O_CLOEXEC);
    unsigned i;

    for (i = 0; i < n; i++) {
        Worker w = {0};
        Load load = {socket, true, disk, OP_READ_KEYS, 1, 0};

        w.load = &load;
        w.disk = fd;
        w.index = 100000 + i;
        w.client = connect_as(socket, true, w.index);
        if (w.client == NULL ||
            !pr_out(&w, PR_OUT_REGISTER_IGNORE, 0, 0, 0x5eed0000 + i, false)) {
            g_printerr("softpr-bench: registering %u on %s failed\n", i, disk);
            exit(1);
        }
        client_close(w.client);
    }
    close(fd);
}

char *make_disk(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL);

    if (!g_file_set_contents(path, "", 0, NULL)) {
        g_printerr("softpr-bench: cannot create %s\n", path);
        exit(1);
    }
    return path;
}

/* ------------------------------------------------------------------ */
/* Baseline: the bare socket round trip                                */
/* ------------------------------------------------------------------ */

/* Read exactly @len bytes, the first read also taking descriptors. */
static bool echo_read(int fd, uint8_t *buf, size_t len, int *passed)
{
    size_t got = 0;

    while (got < len) {
        char control[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec iov = {buf + got, len - got};
        struct msghdr msg = {0};
        struct cmsghdr *cmsg;
        ssize_t n;

        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0) {
            return false;
        }
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
             cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            if (cmsg->cmsg_level == SOL_SOCKET &&
                cmsg->cmsg_type == SCM_RIGHTS) {
                memcpy(passed, CMSG_DATA(cmsg), sizeof(int));
            }
        }
        got += (size_t)n;
    }
    return true;
}

/*
 * One connection of the echo server: the feature word, then for each
 * request its CDB, descriptor and parameter list, answered GOOD with an
 * empty READ KEYS payload.  It does what any helper must do and nothing
 * else.
 */
static gpointer echo_conn(gpointer data)
{
    int fd = GPOINTER_TO_INT(data);
    uint8_t word[WIRE_FEATURES_LEN] = {0};
    uint8_t cdb[WIRE_CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    uint8_t reply[WIRE_REPLY_MAX];
    static const uint8_t empty_keys[8];

    if (write(fd, word, sizeof(word)) != sizeof(word) ||
        read(fd, word, sizeof(word)) != sizeof(word)) {
        close(fd);
        return NULL;
    }
    for (;;) {
        int passed = -1;
        size_t len;

        if (!echo_read(fd, cdb, sizeof(cdb), &passed)) {
            break;
        }
        len = get_be16(cdb + 7);
        if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT &&
            (len > sizeof(param) || !echo_read(fd, param, len, &passed))) {
            break;
        }
        if (passed >= 0) {
            close(passed);
        }
        len = wire_reply_encode(reply, cdb, SCSI_STATUS_GOOD, NULL, 0,
                                empty_keys, sizeof(empty_keys));
        if (write(fd, reply, len) != (ssize_t)len) {
            break;
        }
    }
    close(fd);
    return NULL;
}

static gpointer echo_accept(gpointer data)
{
    int listener = GPOINTER_TO_INT(data);
    int fd;

    while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        g_thread_unref(g_thread_new("echo", echo_conn, GINT_TO_POINTER(fd)));
    }
    return NULL;
}

/*
 * The echo server runs in a child process, as softprd and qemu-pr-helper
 * do: a round trip between two threads of one process is cheaper (the
 * scheduler keeps them together) and would not be the limit for a
 * daemon.  Returns the child's pid.
 */
static pid_t echo_start(const char *path)
{
    struct sockaddr_un addr = {0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    pid_t pid;

    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        g_printerr("softpr-bench: echo server on %s: %s\n", path,
                   g_strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        g_printerr("softpr-bench: fork: %s\n", g_strerror(errno));
        exit(1);
    }
    if (pid == 0) {
        echo_accept(GINT_TO_POINTER(fd));
        _exit(0);
    }
    close(fd);
    return pid;
}

/* ------------------------------------------------------------------ */
/* Baseline: one durable commit                                        */
/* ------------------------------------------------------------------ */

static void fail_store(const char *what, GError *error)
{
    g_printerr("softpr-bench: %s: %s\n", what,
               error != NULL ? error->message : "failed");
    exit(1);
}

/*
 * Create database @db (or open it) as softprd keeps its own: rollback
 * journal, the default history retention.  Exits on failure.
 */
static Store *bench_store_open(const char *db)
{
    StoreOptions o = {0};
    g_autoptr(GError) error = NULL;
    Store *store;

    o.path = db;
    o.journal = STORE_JOURNAL_DELETE;
    o.lock_timeout_ms = 20000;
    o.host_id = "bench";
    o.create = true;
    o.history_keep_rows = STORE_HISTORY_KEEP_ROWS_DEFAULT;
    o.history_keep_days = STORE_HISTORY_KEEP_DAYS_DEFAULT;
    store = store_open(&o, &error);
    if (store == NULL) {
        fail_store(db, error);
    }
    return store;
}

/*
 * Durable commits of one small row (an audit history entry) through the
 * store, in the journal mode and with the synchronous setting softprd
 * uses, for @seconds: the floor under any PR OUT answered GOOD.
 */
static void bench_commit(const char *dir)
{
    g_autofree char *db = g_build_filename(dir, "commit.db", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = bench_store_open(db);
    g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
    StoreHistoryEntry entry = {.origin = "softpr", .action = "bench"};
    gint64 start = now_ns();
    gint64 stop = start + (gint64)(opt_seconds * 1e9);

    while (now_ns() < stop) {
        gint64 t0 = now_ns();
        double us;

        if (!store_begin(store, true, G_MAXINT64, &error) ||
            !store_add_history(store, "bench", &entry, &error) ||
            !store_commit(store, &error)) {
            fail_store("commit", error);
        }
        us = (now_ns() - t0) / 1000.0;
        g_array_append_val(lat, us);
    }
    figure_add("baseline-durable-commit", 1, lat, (now_ns() - start) / 1e9, 0);
}

/*
 * REGISTER AND IGNORE EXISTING KEY and unregister, alternately, through
 * the daemon's command module in this process, on a database in @dir,
 * for @seconds: a PR OUT's durable transaction without the socket and
 * without identifying the disk.  Between the commit above and the PR OUT
 * through softprd, it tells what the pages and statements of a PR OUT
 * cost from what the round trip costs.
 */
static void bench_pr_out_in_process(const char *dir)
{
    g_autofree char *db = g_build_filename(dir, "in-process.db", NULL);
    g_autoptr(Store) store = bench_store_open(db);
    g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
    static const uint16_t ports[] = {1};
    PrConfig pr = {.ports = ports,
                   .n_ports = 1,
                   .max_registrations = PR_MAX_REGISTRATIONS_DEFAULT,
                   .ua_policy = PR_UA_RECORD};
    PrNexus nexus = {0};
    StoreLuInfo info = {"bench-in-process", "xattr", "/bench/in-process.img"};
    g_autofree PrResult *result = g_new(PrResult, 1);
    gint64 start = now_ns();
    gint64 stop = start + (gint64)(opt_seconds * 1e9);
    unsigned errors = 0;
    unsigned i;

    tid_from_iscsi_name("iqn.2026-11.org.softpr:bench:in-process",
                        &nexus.initiator, NULL);
    nexus.rtpi = 1;
    for (i = 0; now_ns() < stop; i++) {
        uint8_t cdb[WIRE_CDB_LEN];
        uint8_t param[24];
        CommandRequest request = {cdb, param, sizeof(param), false, 0};
        gint64 t0 = now_ns();
        double us;

        cdb_prout_basic(param, 0, i % 2 == 0 ? 0x1234 : 0, 0, NULL, 0);
        cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, sizeof(param));
        request.deadline = g_get_monotonic_time() + G_USEC_PER_SEC * 10;
        command_execute(store, &pr, &nexus, &info, &request, result);
        us = (now_ns() - t0) / 1000.0;
        g_array_append_val(lat, us);
        if (result->status != SCSI_STATUS_GOOD) {
            errors++;
        }
    }
    figure_add("register-unregister-in-process", 1, lat,
               (now_ns() - start) / 1e9, errors);
}

/* ------------------------------------------------------------------ */
/* A large database                                                    */
/* ------------------------------------------------------------------ */

/*
 * @luns logical units named bench-lu-NNNNNN with @regs registrations
 * each, written through the store and the engine (the daemon's own
 * code) in transactions of 1000 LUs.
 */
static void bulk_load(const char *db, unsigned luns, unsigned regs)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = bench_store_open(db);
    static const uint16_t ports[] = {1};
    PrConfig pr = {.ports = ports,
                   .n_ports = 1,
                   .max_registrations = PR_MAX_REGISTRATIONS_DEFAULT,
                   .ua_policy = PR_UA_RECORD};
    g_autofree PrNexus *nexus = g_new0(PrNexus, regs);
    g_autofree PrResult *result = g_new(PrResult, 1);
    unsigned lu, r;

    for (r = 0; r < regs; r++) {
        g_autofree char *name =
            g_strdup_printf("iqn.2026-11.org.softpr:bench:load%u", r);

        tid_from_iscsi_name(name, &nexus[r].initiator, NULL);
        nexus[r].rtpi = 1;
    }
    for (lu = 0; lu < luns; lu++) {
        g_autofree char *name = g_strdup_printf("bench-lu-%06u", lu);
        StoreLuInfo info = {name, "xattr", "/bench"};
        g_autoptr(PrState) before = pr_state_new();
        g_autoptr(PrState) state = NULL;
        gint64 id = 0;
        bool stale;

        if (lu % 1000 == 0 && !store_begin(store, true, G_MAXINT64, &error)) {
            fail_store("bulk load", error);
        }
        if (!store_load_state(store, &info, before, &id, &stale, &error)) {
            fail_store("bulk load", error);
        }
        state = pr_state_copy(before);
        for (r = 0; r < regs; r++) {
            uint8_t cdb[WIRE_CDB_LEN];
            uint8_t param[24];

            cdb_prout_basic(param, 0, 0x10000 + r, 0, NULL, 0);
            cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, sizeof(param));
            engine_execute(&pr, &nexus[r], cdb, param, sizeof(param), state,
                           result);
        }
        if (!store_save_state(store, id, &info, before, state, &error) ||
            ((lu % 1000 == 999 || lu + 1 == luns) &&
             !store_commit(store, &error))) {
            fail_store("bulk load", error);
        }
    }
}

/* A disk file that softprd identifies as LU @name (its xattr). */
static char *named_disk(const char *dir, const char *file, const char *name)
{
    char *path = make_disk(dir, file);

    if (setxattr(path, "user.softpr.lu", name, strlen(name), 0) != 0) {
        g_printerr("softpr-bench: %s: user.softpr.lu: %s\n", path,
                   g_strerror(errno));
        exit(1);
    }
    return path;
}

/* PR IN READ KEYS on one LU with 10 registrations, in a database of
 * @luns LUs, as figure @name. */
static void bench_database_size(const char *dir, const char *name,
                                unsigned luns)
{
    g_autofree char *db = g_strdup_printf("%s/%s.db", dir, name);
    g_autofree char *lu = g_strdup_printf("bench-lu-%06u", luns / 2);
    g_autofree char *disk = NULL;
    g_autofree char *file = g_strdup_printf("%s.img", name);
    gint64 t0 = now_ns();
    Daemon *d;

    bulk_load(db, luns, 10);
    printf("# %s: %u LUs x 10 registrations loaded in %.1f s\n", name, luns,
           (now_ns() - t0) / 1e9);
    disk = named_disk(dir, file, lu);
    d = softprd_start(dir, name, db);
    run_load(name, d->socket, true, disk, OP_READ_KEYS, 1);
    daemon_stop(d);
}

/* ------------------------------------------------------------------ */
/* Idle connections                                                    */
/* ------------------------------------------------------------------ */

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Remove @path and everything below it (the bench's own scratch
 * directory: files and sockets, no subdirectories). */
static void remove_tree(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *file = g_build_filename(path, name, NULL);

        g_unlink(file);
    }
    g_rmdir(path);
}

/* ------------------------------------------------------------------ */
/* The sqlite workloads                                                */
/* ------------------------------------------------------------------ */

/* The limits of PR IN: the bare socket round trip and, when installed,
 * qemu-pr-helper's no-work path. */
static void bench_baselines(const char *dir, const char *disk)
{
    g_autofree char *echo_sock = g_build_filename(dir, "echo.sock", NULL);
    pid_t echo_pid = echo_start(echo_sock);

    run_load("baseline-socket-roundtrip", echo_sock, false, disk, OP_READ_KEYS,
             1);
    kill(echo_pid, SIGTERM);
    waitpid(echo_pid, NULL, 0);
    if (g_file_test(opt_qemu_pr_helper, G_FILE_TEST_IS_EXECUTABLE)) {
        g_autofree char *sock =
            g_build_filename(dir, "qemu-pr-helper.sock", NULL);
        g_autofree char *log = g_build_filename(dir, "qemu-pr-helper.log", NULL);
        const char *qargv[] = {opt_qemu_pr_helper, "-k", sock, NULL};
        Daemon *q = daemon_start(qargv, sock, log);

        run_load("baseline-qemu-pr-helper-in", sock, false, disk, OP_READ_KEYS,
                 1);
        daemon_stop(q);
    } else {
        printf("# %s not installed: no qemu-pr-helper baseline\n",
               opt_qemu_pr_helper);
    }
}

/*
 * One softprd on a sqlite database: PR IN by registrations, PR OUT next
 * to the durable commit, and PR IN with idle connections open.  Returns
 * the daemon's resident KiB with them.
 */
static long bench_sqlite_daemon(const char *dir, const char *disk)
{
    g_autofree char *db = g_build_filename(dir, "pr.db", NULL);
    g_autofree char *disk_rr = make_disk(dir, "rr.img");
    g_autofree char *disk_mix = make_disk(dir, "mix.img");
    g_autofree char *disk_in1 = NULL;
    Daemon *d = softprd_start(dir, "softprd", db);
    static const unsigned regs[] = {1, 16, 256};
    GPtrArray *idle;
    long rss_before, rss_after;
    guint i;

    for (i = 0; i < G_N_ELEMENTS(regs); i++) {
        g_autofree char *file = g_strdup_printf("in-%u.img", regs[i]);
        g_autofree char *path = make_disk(dir, file);
        g_autofree char *keys = g_strdup_printf("read-keys-%ureg", regs[i]);
        g_autofree char *full =
            g_strdup_printf("read-full-status-%ureg", regs[i]);

        register_many(d->socket, path, regs[i]);
        run_load(keys, d->socket, true, path, OP_READ_KEYS, 1);
        run_load(full, d->socket, true, path, OP_FULL_STATUS, 1);
    }
    /* The durable commit next to the PR OUT it is the floor of: the
     * disk's speed drifts over a run. */
    bench_commit(dir);
    bench_pr_out_in_process(dir);
    run_load("register-unregister", d->socket, true, disk, OP_REGISTER_TOGGLE,
             1);
    run_load("register-unregister-16", d->socket, true, disk,
             OP_REGISTER_TOGGLE, 16);
    run_load("reserve-release", d->socket, true, disk_rr, OP_RESERVE_RELEASE,
             1);
    run_load("fence-mix-16", d->socket, true, disk_mix, OP_FENCE_MIX, 16);

    /* Idle connections: memory, and the others' latency. */
    disk_in1 = g_build_filename(dir, "in-1.img", NULL);
    rss_before = daemon_rss_kib(d);
    idle = g_ptr_array_new_with_free_func((GDestroyNotify)client_close);
    for (i = 0; i < (guint)opt_idle; i++) {
        PrClient *c = connect_as(d->socket, true, 200000 + i);

        if (c == NULL) {
            g_printerr("softpr-bench: idle connection %u refused\n", i);
            failures++;
            break;
        }
        g_ptr_array_add(idle, c);
    }
    run_load("read-keys-1reg-with-idle", d->socket, true, disk_in1,
             OP_READ_KEYS, 1);
    rss_after = daemon_rss_kib(d);
    printf("BENCH name=idle-connections conns=%u rss_kib_before=%ld "
           "rss_kib_after=%ld\n",
           idle->len, rss_before, rss_after);
    g_ptr_array_free(idle, TRUE);
    daemon_stop(d);
    return rss_after;
}

/* Two daemons on one sqlite database against one daemon: PR OUT. */
static void bench_sqlite_two_daemons(const char *dir)
{
    g_autofree char *db2 = g_build_filename(dir, "two.db", NULL);
    g_autofree char *shared = make_disk(dir, "two.img");
    Daemon *d = softprd_start(dir, "host-a", db2);
    Daemon *d2 = softprd_start(dir, "host-b", db2);
    Load loads[2];

    loads[0] = (Load){d->socket, true, shared, OP_REGISTER_TOGGLE, 8, 0};
    loads[1] = (Load){d2->socket, true, shared, OP_REGISTER_TOGGLE, 8, 8};
    run_loads("register-unregister-16-two-daemons", loads, 2, opt_seconds);
    daemon_stop(d);
    daemon_stop(d2);
}

/* The sqlite targets (docs/performance.md); @large is the large
 * database's figure, @rss_kib softprd's memory with idle connections. */
static void sqlite_targets(const char *large, long rss_kib)
{
    target("pr-in-vs-socket",
           figure("read-keys-1reg")->p50_us /
               figure("baseline-socket-roundtrip")->p50_us,
           1.5, false, "PR IN READ KEYS p50 / bare socket round trip p50");
    if (figure("baseline-qemu-pr-helper-in") != NULL) {
        target("pr-in-vs-qemu-pr-helper",
               figure("read-keys-1reg")->p50_us /
                   figure("baseline-qemu-pr-helper-in")->p50_us,
               1.0, false, "PR IN p50 / qemu-pr-helper's no-work p50");
    }
    target("pr-out-vs-commit",
           figure("register-unregister")->p50_us /
               figure("baseline-durable-commit")->p50_us,
           1.2, false, "PR OUT p50 / one durable commit p50");
    target("writers-16-vs-1",
           figure("register-unregister-16")->ops_per_s /
               figure("register-unregister")->ops_per_s,
           8.0, true, "PR OUT throughput, 16 connections / 1");
    target("large-database",
           figure(large)->p50_us / figure("read-keys-10reg-1lu")->p50_us, 1.3,
           false, "PR IN p50 with the large database / with one LU");
    target("idle-rss-mib", rss_kib / 1024.0, 64, false,
           "softprd resident MiB with the idle connections");
    target("idle-latency",
           figure("read-keys-1reg-with-idle")->p50_us /
               figure("read-keys-1reg")->p50_us,
           1.1, false, "PR IN p50 with idle connections / without");
    target("two-daemons",
           figure("register-unregister-16-two-daemons")->ops_per_s /
               figure("register-unregister-16")->ops_per_s,
           0.8, true, "PR OUT throughput, two daemons / one daemon");
}

/* Every sqlite workload in @dir, in the order of docs/performance.md;
 * returns the large database's figure name and *@rss_kib. */
static char *bench_sqlite(const char *dir, long *rss_kib)
{
    g_autofree char *disk = make_disk(dir, "disk.img");
    char *large = g_strdup_printf("read-keys-10reg-%ulu", (unsigned)opt_luns);

    bench_baselines(dir, disk);
    *rss_kib = bench_sqlite_daemon(dir, disk);
    bench_sqlite_two_daemons(dir);
    bench_database_size(dir, "read-keys-10reg-1lu", 1);
    bench_database_size(dir, large, (unsigned)opt_luns);
    return large;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

/* Parse and check the options; false (with a message) to exit 2. */
static bool parse_options(int *argc, char ***argv)
{
    g_autoptr(GOptionContext) context =
        g_option_context_new("- softprd's latency and throughput");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, argc, argv, &error)) {
        g_printerr("softpr-bench: %s\n", error->message);
        return false;
    }
    if (opt_softprd == NULL) {
        opt_softprd = g_strdup("build/softprd");
    }
    if (opt_qemu_pr_helper == NULL) {
        opt_qemu_pr_helper = g_strdup("/usr/bin/qemu-pr-helper");
    }
    if (opt_quick) {
        opt_seconds = 0.3;
        opt_luns = 2000;
        opt_idle = 100;
    }
    if (opt_seconds <= 0 || opt_luns < 2 || opt_idle < 1) {
        g_printerr("softpr-bench: --seconds, --luns and --idle must be "
                   "positive\n");
        return false;
    }
    if (opt_backend == NULL) {
        opt_backend = g_strdup("all");
    }
    if (strcmp(opt_backend, "all") != 0 && strcmp(opt_backend, "sqlite") != 0 &&
        strcmp(opt_backend, "pg") != 0) {
        g_printerr("softpr-bench: --backend is all, sqlite or pg\n");
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *large = NULL;
    bool scratch = false; /* opt_dir is ours to remove */
    bool sqlite = false, pg = false;
    long rss_kib = 0;

    if (!parse_options(&argc, &argv)) {
        return 2;
    }
    sqlite = strcmp(opt_backend, "pg") != 0;
    pg = strcmp(opt_backend, "sqlite") != 0;
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    if (opt_dir == NULL) {
        opt_dir = g_dir_make_tmp("softpr-bench-XXXXXX", &error);
        scratch = true;
        if (opt_dir == NULL) {
            g_printerr("softpr-bench: %s\n", error->message);
            return 1;
        }
    } else if (g_mkdir_with_parents(opt_dir, 0755) != 0) {
        g_printerr("softpr-bench: %s: %s\n", opt_dir, g_strerror(errno));
        return 1;
    }
    figures = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, figure_free);
    printf("# softpr-bench: %.1f s per workload in %s\n", opt_seconds, opt_dir);
    printf("%-32s %5s %10s %10s %12s %9s %6s\n", "workload", "conns", "p50 us",
           "p99 us", "ops/s", "ops", "errors");
    if (sqlite) {
        large = bench_sqlite(opt_dir, &rss_kib);
    }
    if (pg) {
        bench_pg(opt_dir);
    }

    /* Targets (docs/performance.md). */
    printf("\n");
    if (sqlite) {
        sqlite_targets(large, rss_kib);
    }
    if (pg) {
        bench_pg_targets();
    }
    g_hash_table_destroy(figures);
    /* Kept after a failure: the daemons' logs say why. */
    if (scratch && failures == 0) {
        remove_tree(opt_dir);
    }
    if (failures > 0) {
        printf("softpr-bench: %u workloads had errors (logs in %s)\n", failures,
               opt_dir);
        return 1;
    }
    return 0;
}
