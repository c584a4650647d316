/*
 * server: sockets, descriptor passing, connections, the worker threads
 * and the group commit of the commands that write.
 *
 * A connection waiting for its next request sits, armed once
 * (EPOLLONESHOT), in the workers' epoll set: the worker thread that wakes
 * reads the request, runs it and sends the answer, so a PR IN costs the
 * client no more wake-ups than a bare socket round trip.  The main thread
 * accepts, negotiates the features, finishes frames that arrive in
 * pieces (with the request timeout), writes answers the socket did not
 * take at once, and closes; while every worker is busy it also reads the
 * requests that arrive in their set, so that none waits unread.  A
 * command's deadline (lock-timeout) counts from its first bytes' reading,
 * which is their arrival.  Conn.owner says which side has a connection.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "command.h"
#include "error.h"
#include "identity.h"
#include "log.h"
#include "passthrough.h"
#include "scsi.h"
#include "wire.h"
#include "writer.h"

/* Room for more descriptors than allowed, to see that there were more. */
#define MAX_FDS_PER_READ 8

typedef struct Listener {
    Server *server;
    int fd;
    char *unlink_path;
    ListenerConfig config;
    GSource *source;
} Listener;

/* Who has a connection; only that thread touches it (but .owner). */
typedef enum ConnOwner {
    CONN_MAIN,   /* the main thread */
    CONN_ARMED,  /* nobody: armed in the workers' epoll set */
    CONN_WORKER, /* a worker thread, or a job in the pool */
} ConnOwner;

typedef struct Conn {
    Server *server;
    Listener *listener;
    guint64 id;
    int fd;
    pid_t peer_pid;
    uid_t peer_uid;
    PeerInfo peer; /* the peer's command line, with "auto" */
    char *vm_key;  /* its VM's registry key, until resolved */
    PrNexus nexus; /* valid when nexus_ready */
    bool nexus_ready;
    guint nexus_file; /* the database's generation it was read from */
    WireReader reader;
    gint64 request_started; /* when the request's first bytes were read */
    int request_fd;         /* descriptor of the request being read */
    GIOCondition watching;  /* what the server's epoll set waits for */
    GSource *timer;         /* a started frame must finish by then */
    uint8_t *out;           /* reply (or feature word) being written */
    size_t out_len;
    size_t out_off;
    ConnOwner owner;  /* under Server.conn_lock */
    bool in_work_set; /* registered in Server.work_epoll_fd */
    char *end_why;    /* a worker found it must be closed, because */
    bool end_warn;    /* ...of a fault of the client's (a warning) */
} Conn;

typedef struct Job {
    Conn *conn;
    int fd;
    gint64 received_at; /* its first bytes: its deadline counts from then */
} Job;

/* A command waiting for its group's commit, with all it needs. */
typedef struct WriteJob {
    WriterItem item; /* first: writer callbacks get &item */
    Server *server;
    Job *job;
    LuIdentity lu;
    StoreLuInfo info; /* points into lu */
    CommandRequest request;
} WriteJob;

struct Server {
    GMainContext *context;
    GMainLoop *loop;
    /* Every connection's descriptor is in one epoll set, which the main
     * loop watches as one source: a thousand idle connections cost the
     * loop nothing, where a GSource each would be polled every time. */
    int epoll_fd;
    GSource *epoll_source;
    /* The workers: threads waiting on the connections armed in their own
     * epoll set, which also holds stop_fd (an eventfd) to end them. */
    int work_epoll_fd;
    int stop_fd;
    GPtrArray *workers; /* GThread * */
    /* While every worker is busy (a lock wait, say), the main thread reads
     * the requests that arrive in their set, so that each is stamped when
     * it arrives and waits for a thread in the pool, not unread in the
     * socket: its deadline counts from its arrival either way. */
    gint idle_workers;      /* in epoll_wait, or about to be (atomic) */
    gint overflow_on;       /* the main thread was told (atomic) */
    int overflow_fd;        /* eventfd: every worker went busy */
    GSource *overflow_wake; /* main loop: overflow_fd */
    GSource *overflow;      /* main loop: work_epoll_fd, while it lasts */
    /* Requests the main thread finished reading run in the pool. */
    GThreadPool *pool;
    /* Conn.owner, and stopping as the workers read it. */
    GMutex conn_lock;
    GAsyncQueue *stores; /* idle database connections, for PR IN */
    Writer *writer;      /* every command that writes */
    StoreGroup *group;   /* theirs and the writer's */
    StoreOptions store_options;
    char *db_path;
    char *host_id;
    char *vfs;
    char *sysfs;
    LuMapping *lu_maps;
    IdentityOptions lu;
    TransportId host_initiator; /* non-QEMU peers of "auto" sockets */
    uint16_t *ports;
    PrConfig pr;
    unsigned max_connections;
    unsigned request_timeout_ms;
    unsigned lock_timeout_ms;
    LuMode mode;
    unsigned passthrough_timeout_ms;
    GPtrArray *listeners;
    GHashTable *conns;      /* Conn * set, the main thread's */
    GHashTable *peer_conns; /* peer pid -> its connections, the same */
    unsigned max_connections_per_peer;
    guint64 next_conn_id;
    bool stopping;
    gint64 last_refusal_log; /* main thread */
    /* "LU\npath" of the xattr-named LUs already checked for copies. */
    GHashTable *places_checked;
    GMutex places_lock;
    GMutex log_lock; /* last_fd_log, last_db_log */
    gint64 last_fd_log;
    gint64 last_db_log;
};

static void conn_close(Conn *conn, const char *why);
static unsigned peer_count(Server *server, pid_t pid, int delta);
static void overflow_end(Server *server);
static void conn_watch(Conn *conn, GIOCondition cond);
static void conn_write(Conn *conn);
static bool conn_arm(Conn *conn);

/* ------------------------------------------------------------------ */
/* Listening sockets                                                   */
/* ------------------------------------------------------------------ */

/*
 * Whether the socket file at @path still accepts connections: a server
 * (a second daemon on the same path, say) is behind it.  A connection
 * refused means a socket file its server left behind.
 */
static bool socket_file_live(const char *path, const struct sockaddr_un *addr,
                             GError **error)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err;

    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "socket: %s",
                    g_strerror(errno));
        return true;
    }
    /* Non-blocking: a live server whose backlog is full says EAGAIN. */
    err = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0
              ? 0
              : errno;
    close(fd);
    if (err == ECONNREFUSED || err == ENOENT) {
        return false;
    }
    if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "%s is in use: another process (another softprd?) "
                    "accepts connections on it",
                    path);
    } else {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot tell whether %s is in use: connecting to it: %s",
                    path, g_strerror(err));
    }
    return true;
}

/*
 * Whether a socket may be bound at @path: nothing there, or a stale
 * socket (removed when @remove_stale).
 */
static bool socket_path_free(const char *path, const struct sockaddr_un *addr,
                             bool remove_stale, GError **error)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            return true;
        }
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "%s: %s", path,
                    g_strerror(errno));
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "%s exists and is not a socket; not replacing it", path);
        return false;
    }
    if (socket_file_live(path, addr, error)) {
        return false;
    }
    if (remove_stale && unlink(path) != 0 && errno != ENOENT) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot remove the stale socket %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

static bool socket_address(const char *path, struct sockaddr_un *addr,
                           GError **error)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "socket path %s is longer than %zu bytes", path,
                    sizeof(addr->sun_path) - 1);
        return false;
    }
    strcpy(addr->sun_path, path);
    return true;
}

bool server_socket_path_free(const char *path, GError **error)
{
    struct sockaddr_un addr;

    return socket_address(path, &addr, error) &&
           socket_path_free(path, &addr, false, error);
}

int server_bind(const char *path, GError **error)
{
    struct sockaddr_un addr;
    int fd;

    if (!socket_address(path, &addr, error) ||
        !socket_path_free(path, &addr, true, error)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "socket: %s",
                    g_strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot listen on %s: %s", path, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

bool server_adopt_listener(int fd, GError **error)
{
    int domain = 0;
    int type = 0;
    int listening = 0;
    socklen_t len = sizeof(int);
    int flags;
    struct stat st;

    if (fstat(fd, &st) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "invalid file descriptor fd = %d: %s", fd,
                    g_strerror(errno));
        return false;
    }
    if (!S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
        domain != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        listening == 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "file descriptor %d is not a listening Unix stream socket",
                    fd);
        return false;
    }
    /* systemd passes it blocking unless the unit says NonBlocking=yes;
     * a blocking accept() would stall the main loop once the backlog is
     * drained, and every client (and SIGTERM) with it. */
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot make file descriptor %d non-blocking: %s", fd,
                    g_strerror(errno));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Database connections for the workers                                */
/* ------------------------------------------------------------------ */

/* An idle connection, or a new one opened before @deadline. */
static Store *store_acquire(Server *server, gint64 deadline, GError **error)
{
    Store *store = g_async_queue_try_pop(server->stores);

    if (store != NULL) {
        return store;
    }
    /* At most one per thread running commands ever exists. */
    return store_open_until(&server->store_options, deadline, error);
}

static void store_release(Server *server, Store *store)
{
    g_async_queue_push(server->stores, store);
}

/* ------------------------------------------------------------------ */
/* Running a command (worker threads)                                  */
/* ------------------------------------------------------------------ */

static gboolean job_done(gpointer data);

/* Whether a message logged at most once a second (*@last) is due; any
 * thread. */
static bool rate_limit_due(Server *server, gint64 *last)
{
    gint64 now = g_get_monotonic_time();
    bool due;

    g_mutex_lock(&server->log_lock);
    due = now - *last >= G_USEC_PER_SEC;
    if (due) {
        *last = now;
    }
    g_mutex_unlock(&server->log_lock);
    return due;
}

/* At most this many places are remembered as checked (then forgotten). */
#define PLACES_CHECKED_MAX 4096

/*
 * The first time this daemon sees the LU @lu, named by its attribute,
 * at its path: warn when another path this host has seen it at holds a
 * different file with the same attribute (cp -a copies it), because
 * softprd takes both for one LU.  The check costs a read transaction
 * once per LU and path; failing it fails nothing.
 */
static void check_copies(Server *server, int fd, const LuIdentity *lu,
                         gint64 deadline)
{
    g_autofree char *key = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) paths = NULL;
    g_autoptr(GHashTable) warned =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    Store *store;
    bool known;
    guint i;

    if (strcmp(lu->source, IDENTITY_SOURCE_XATTR) != 0) {
        return;
    }
    key = g_strconcat(lu->name, "\n", lu->path, NULL);
    g_mutex_lock(&server->places_lock);
    known = g_hash_table_contains(server->places_checked, key);
    if (!known) {
        if (g_hash_table_size(server->places_checked) >= PLACES_CHECKED_MAX) {
            g_hash_table_remove_all(server->places_checked);
        }
        g_hash_table_add(server->places_checked, g_strdup(key));
    }
    g_mutex_unlock(&server->places_lock);
    if (known) {
        return;
    }
    store = store_acquire(server, deadline, &error);
    if (store == NULL ||
        !store_lu_paths_here(store, lu->name, deadline, &paths, &error)) {
        g_debug("LU %s: not checked for copies: %s", lu->name, error->message);
        g_mutex_lock(&server->places_lock);
        g_hash_table_remove(server->places_checked, key);
        g_mutex_unlock(&server->places_lock);
    }
    if (store != NULL) {
        store_release(server, store);
    }
    for (i = 0; paths != NULL && paths[i] != NULL; i++) {
        struct stat st;
        char *file;

        if (strcmp(paths[i], lu->path) == 0 ||
            !identity_is_labelled_copy(fd, paths[i], lu->name) ||
            stat(paths[i], &st) != 0) {
            continue;
        }
        /* Another path of a file already named (a hard link): once. */
        file = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev,
                               (uintmax_t)st.st_ino);
        if (!g_hash_table_add(warned, file)) {
            continue;
        }
        g_warning("LU %s: %s and %s are different files with the same %s "
                  "attribute (a copy made with cp -a or rsync -X?): softprd "
                  "takes them for one logical unit, with the same "
                  "registrations.  If one is a disk of its own, remove its "
                  "attribute before a VM uses it (setfattr -x %s FILE): it "
                  "then gets one of its own",
                  lu->name, lu->path, paths[i], IDENTITY_XATTR, IDENTITY_XATTR);
    }
}

/*
 * Before a command for @lu (open at @fd) uses the database: whether
 * there is one at its path (else @result is set, and the log says so).
 * When another file has taken its place, the connections reopen it
 * (store_group_check()) and @conn's VM looks its name up again in the
 * registry now there.  A place @lu is seen at first is checked for
 * copies.
 */
static bool database_ready(Server *server, Conn *conn, int fd,
                           const LuIdentity *lu, gint64 deadline,
                           PrResult *result)
{
    g_autoptr(GError) error = NULL;
    guint generation;

    if (!store_group_check(server->group, &generation, &error)) {
        if (rate_limit_due(server, &server->last_db_log)) {
            g_warning("%s", error->message);
        }
        pr_result_sense(result, SENSE_INTERNAL_TARGET_FAILURE);
        return false;
    }
    if (conn->vm_key != NULL && conn->nexus_file != generation) {
        conn->nexus_ready = false;
        conn->nexus_file = generation;
    }
    check_copies(server, fd, lu, deadline);
    return true;
}

/*
 * The nexus of a connection from a VM: its registry name, looked up (or
 * given) on its first command, and again when the database is replaced. Returns
 * false with @result set when the database could not answer.
 */
static bool resolve_vm_nexus(Server *server, Conn *conn, gint64 deadline,
                             PrResult *result)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *preferred = identity_vm_initiator_name(&conn->peer);
    g_autofree char *name = NULL;
    StoreVm vm = {conn->vm_key, preferred, conn->peer.vm_name,
                  conn->peer.vm_uuid};
    Store *store = store_acquire(server, deadline, &error);
    bool ok;

    if (store == NULL) {
        command_store_failure(result, error, conn->vm_key);
        return false;
    }
    ok = store_vm_initiator(store, &vm, deadline, &name, &error);
    store_release(server, store);
    if (!ok) {
        command_store_failure(result, error, conn->vm_key);
        return false;
    }
    memset(&conn->nexus, 0, sizeof(conn->nexus));
    if (!tid_from_iscsi_name(name, &conn->nexus.initiator, &error)) {
        command_store_failure(result, error, conn->vm_key);
        return false;
    }
    conn->nexus.rtpi = conn->listener->config.rtpi;
    conn->nexus_ready = true;
    g_info("connection %" G_GUINT64_FORMAT " (pid %d): VM %s is initiator "
           "%s",
           conn->id, (int)conn->peer_pid, conn->vm_key, name);
    return true;
}

/*
 * Send what the socket takes of @conn's pending reply without waiting.
 * Returns 0 when all of it is sent, else the errno that stopped it
 * (EAGAIN: the socket is full).  Any thread that owns the connection's
 * output: a worker while its command is in flight, else the main thread.
 */
static int conn_send_pending(Conn *conn)
{
    while (conn->out_off < conn->out_len) {
        ssize_t n =
            send(conn->fd, conn->out + conn->out_off,
                 conn->out_len - conn->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        conn->out_off += (size_t)n;
    }
    return 0;
}

/*
 * Put the reply to @job in its connection's buffer and send it.  When the
 * socket takes all of it, the connection goes straight back to the
 * workers' set for its next request; otherwise (the rest of the reply,
 * an error, the server stopping) the main thread takes it over
 * (job_done).  The thread that ran the job: sending from here spares the
 * client a wake-up of the main loop.
 */
static void job_finish(Server *server, Job *job, PrResult *result)
{
    Conn *conn = job->conn;
    const WireRequest *req = &conn->reader.request;

    conn->out_len = wire_reply_encode(conn->out, req->cdb, result->status,
                                      result->sense, sizeof(result->sense),
                                      result->data, result->data_len);
    conn->out_off = 0;
    g_free(result);
    if (conn_send_pending(conn) == 0) {
        conn->out_len = 0;
        conn->out_off = 0;
        wire_reader_next_request(&conn->reader);
        if (conn_arm(conn)) {
            g_free(job);
            return;
        }
    }
    g_main_context_invoke(server->context, job_done, job);
}

/* The writer answered @item: send it. */
static void write_done(WriterItem *item)
{
    WriteJob *write = (WriteJob *)item;

    identity_lu_clear(&write->lu);
    job_finish(write->server, write->job, item->command.result);
    g_free(write);
}

/*
 * A write job for @job's command, to share a commit with its neighbours
 * (writer_submit): it takes @lu's strings and answers in @result.
 */
static WriteJob *write_job_new(Server *server, Job *job, LuIdentity *lu,
                               const CommandRequest *request, PrResult *result)
{
    WriteJob *write = g_new0(WriteJob, 1);

    write->server = server;
    write->job = job;
    write->lu = *lu;
    memset(lu, 0, sizeof(*lu));
    write->info.name = write->lu.name;
    write->info.id_source = write->lu.source;
    write->info.path = write->lu.path;
    write->request = *request;
    write->item.command.nexus = &job->conn->nexus;
    write->item.command.lu = &write->info;
    write->item.command.request = &write->request;
    write->item.command.result = result;
    write->item.done = write_done;
    return write;
}

/*
 * Run @data's command and answer it.  A PR IN that only reads runs here
 * with a database connection from the pool; every write (a PR OUT, or a
 * PR IN that drops a unit attention or records where the LU is seen)
 * goes to the writer, so that the daemon's writes never wait for each
 * other's locks.
 */
static void job_run(gpointer data, gpointer user_data)
{
    Job *job = data;
    Server *server = user_data;
    Conn *conn = job->conn;
    const WireRequest *req = &conn->reader.request;
    g_autoptr(GError) error = NULL;
    PrResult *result = g_new(PrResult, 1);
    LuIdentity lu = {0};
    gint64 deadline = job->received_at + (gint64)server->lock_timeout_ms * 1000;
    CommandRequest request;
    Store *store = NULL;
    bool is_out = req->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT;
    bool write = false;

    if (job->fd < 0) {
        /* Its descriptor could not be received (conn_recv). */
        if (rate_limit_due(server, &server->last_fd_log)) {
            g_warning("connection %" G_GUINT64_FORMAT " (pid %d): out of "
                      "file descriptors: a request's disk descriptor could "
                      "not be received; answering BUSY",
                      conn->id, (int)conn->peer_pid);
        }
        pr_result_status(result, SCSI_STATUS_BUSY);
        job_finish(server, job, result);
        return;
    }
    request.cdb = req->cdb;
    request.data = req->data;
    request.data_len = req->data_len;
    /* Only a PR OUT asks (command_refuse_read_only): no fcntl per PR IN. */
    request.fd_read_only = is_out && identity_fd_read_only(job->fd);
    request.deadline = deadline;
    /* Only what may change the file labels it: never a PR IN, nor a PR
     * OUT through a descriptor its client could only read. */
    if (!identity_lu(job->fd, &server->lu,
                     is_out && !request.fd_read_only &&
                         server->mode != LU_MODE_PASSTHROUGH,
                     &lu, &error)) {
        g_warning("connection %" G_GUINT64_FORMAT ": %s", conn->id,
                  error->message);
        pr_result_sense(result, SENSE_LU_NOT_SUPPORTED);
    } else if ((lu.mode != LU_MODE_DEFAULT ? lu.mode : server->mode) ==
               LU_MODE_PASSTHROUGH) {
        /* The device keeps the reservations; the database is not used. */
        passthrough_execute(job->fd, &request, server->passthrough_timeout_ms,
                            result);
        g_debug("connection %" G_GUINT64_FORMAT ": LU %s: passed through, "
                "status 0x%02x",
                conn->id, lu.name, result->status);
    } else if (!database_ready(server, conn, job->fd, &lu, deadline, result)) {
        /* Answered: there is no database to use. */
    } else if (!conn->nexus_ready &&
               !resolve_vm_nexus(server, conn, deadline, result)) {
        /* Answered with the store's failure. */
    } else if (is_out) {
        write = true;
    } else if ((store = store_acquire(server, deadline, &error)) == NULL) {
        /* BUSY when another process holds the lock, as for any command. */
        command_store_failure(result, error, lu.name);
    } else {
        StoreLuInfo info = {lu.name, lu.source, lu.path};

        write = !command_execute_read(store, &server->pr, &conn->nexus, &info,
                                      &request, result);
        /* Released first: the client's next command may need it at once. */
        store_release(server, store);
    }
    /* The descriptor is QEMU's: close our copy, never touch its flags. */
    close(job->fd);
    job->fd = -1;
    if (write) {
        WriteJob *w = write_job_new(server, job, &lu, &request, result);

        writer_submit(server->writer, &w->item);
        return;
    }
    identity_lu_clear(&lu);
    job_finish(server, job, result);
}

/* The job for @conn's complete request; its owner's thread. */
static Job *job_new(Conn *conn)
{
    Job *job = g_new0(Job, 1);

    job->conn = conn;
    job->fd = conn->request_fd;
    job->received_at = conn->request_started;
    conn->request_fd = -1;
    if (log_enabled(G_LOG_LEVEL_DEBUG)) {
        g_debug(
            "connection %" G_GUINT64_FORMAT ": %s received", conn->id,
            conn->reader.request.cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN
                ? engine_in_action_name(conn->reader.request.cdb[1] & 0x1f)
                : engine_out_action_name(conn->reader.request.cdb[1] & 0x1f));
    }
    return job;
}

/* Set who has @conn.  The thread giving it away, or taking it back. */
static void conn_set_owner(Conn *conn, ConnOwner owner)
{
    g_mutex_lock(&conn->server->conn_lock);
    conn->owner = owner;
    g_mutex_unlock(&conn->server->conn_lock);
}

/* Note that @conn must be closed, and why (conn_end logs it). */
static void conn_fail(Conn *conn, bool warn, const char *why)
{
    if (conn->end_why == NULL) {
        conn->end_why = g_strdup(why);
        conn->end_warn = warn;
    }
}

/*
 * Hand @conn, waiting for the start of its next request with nothing to
 * send, to the workers.  Returns false with @conn still the caller's when
 * the server is stopping, or when the epoll set refused it (then
 * conn_fail() recorded why).  The thread that has @conn.
 */
static bool conn_arm(Conn *conn)
{
    Server *server = conn->server;
    struct epoll_event ev = {0};
    int op = conn->in_work_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    ConnOwner was = conn->owner;

    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = conn;
    g_mutex_lock(&server->conn_lock);
    if (server->stopping) {
        g_mutex_unlock(&server->conn_lock);
        return false;
    }
    /* Before epoll_ctl: from then on a worker may have it.  A stop in
     * between shuts the socket down, which wakes a worker once armed. */
    conn->owner = CONN_ARMED;
    g_mutex_unlock(&server->conn_lock);
    conn->in_work_set = true;
    if (epoll_ctl(server->work_epoll_fd, op, conn->fd, &ev) != 0) {
        int err = errno;
        g_autofree char *why =
            g_strdup_printf("epoll_ctl: %s", g_strerror(err));

        conn->in_work_set = op == EPOLL_CTL_MOD;
        conn_set_owner(conn, was);
        conn_fail(conn, true, why);
        return false;
    }
    return true;
}

static void maybe_finish(Server *server)
{
    if (server->stopping && g_hash_table_size(server->conns) == 0) {
        g_main_loop_quit(server->loop);
    }
}

/* Close @conn for the reason conn_fail() recorded.  Main thread. */
static void conn_end(Conn *conn)
{
    g_autofree char *why = g_steal_pointer(&conn->end_why);

    if (conn->end_warn) {
        log_protocol_error("connection %" G_GUINT64_FORMAT " (pid %d): %s",
                           conn->id, (int)conn->peer_pid, why);
        conn_close(conn, NULL);
    } else {
        conn_close(conn, why);
    }
}

/*
 * Main thread: @conn has nothing to send and waits for its next request;
 * give it to the workers, or close it.
 */
static void conn_wait_request(Conn *conn)
{
    conn_watch(conn, 0);
    if (conn_arm(conn)) {
        return;
    }
    if (conn->end_why != NULL) {
        conn_end(conn);
    } else {
        conn_close(conn, "stopping");
    }
}

/* Back on the main thread after a job: send the rest of the reply. */
static gboolean job_done(gpointer data)
{
    Job *job = data;
    Conn *conn = job->conn;

    g_free(job);
    conn_set_owner(conn, CONN_MAIN);
    if (conn->end_why != NULL) {
        conn_end(conn);
    } else {
        conn_write(conn);
    }
    return G_SOURCE_REMOVE;
}

/* Main thread: run @conn's request, which it finished reading. */
static void dispatch(Conn *conn)
{
    Job *job = job_new(conn);

    /* Not reading while the command runs: one request at a time. */
    conn_watch(conn, 0);
    conn_set_owner(conn, CONN_WORKER);
    g_thread_pool_push(conn->server->pool, job, NULL);
}

/* ------------------------------------------------------------------ */
/* Connections (main thread)                                           */
/* ------------------------------------------------------------------ */

static void timer_stop(Conn *conn)
{
    if (conn->timer != NULL) {
        g_source_destroy(conn->timer);
        g_source_unref(conn->timer);
        conn->timer = NULL;
    }
}

static gboolean timer_fired(gpointer data)
{
    Conn *conn = data;
    g_autofree char *why = g_strdup_printf("incomplete after %u ms",
                                           conn->server->request_timeout_ms);

    log_protocol_error("connection %" G_GUINT64_FORMAT " (pid %d): request "
                       "%s, closing it",
                       conn->id, (int)conn->peer_pid, why);
    conn_close(conn, NULL);
    return G_SOURCE_REMOVE;
}

/* Bound the time a frame (or the reply being written) may take. */
static void timer_start(Conn *conn)
{
    if (conn->timer != NULL) {
        return;
    }
    conn->timer = g_timeout_source_new(conn->server->request_timeout_ms);
    g_source_set_callback(conn->timer, timer_fired, conn, NULL);
    g_source_attach(conn->timer, conn->server->context);
}

static void close_fds(const int *fds, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* Log a protocol violation and drop the connection.  Main thread. */
static void violation(Conn *conn, const char *what)
{
    conn_fail(conn, true, what);
    conn_end(conn);
}

/* The features a connection on @listener may request. */
static uint32_t supported_features(const Listener *listener)
{
    return listener->config.identity == IDENTITY_CLIENT
               ? WIRE_FEATURE_INITIATOR_ID
               : 0;
}

/* The client's feature word arrived. */
static bool conn_features(Conn *conn, bool *again)
{
    uint32_t supported = supported_features(conn->listener);
    uint32_t requested = conn->reader.features;

    if (requested & ~supported) {
        g_autofree char *what = g_strdup_printf(
            "requested features 0x%08x, only 0x%08x are supported", requested,
            supported);

        violation(conn, what);
        return false;
    }
    if (conn->listener->config.identity == IDENTITY_CLIENT) {
        if (!(requested & WIRE_FEATURE_INITIATOR_ID)) {
            violation(conn, "this socket needs the client to declare its "
                            "initiator (feature bit 0)");
            return false;
        }
        /* Still mid-frame: the declaration has the request timeout. */
        wire_reader_expect_identity(&conn->reader);
        *again = true;
        return true;
    }
    timer_stop(conn);
    wire_reader_next_request(&conn->reader);
    *again = false;
    conn_wait_request(conn);
    return true;
}

/* The client declared its initiator: check it and accept it. */
static bool conn_identity(Conn *conn, bool *again)
{
    TransportId tid;
    size_t used = 0;
    g_autofree char *name = NULL;

    timer_stop(conn);
    if (tid_decode(conn->reader.identity, conn->reader.identity_len, &tid,
                   &used) != TID_OK ||
        used != conn->reader.identity_len) {
        violation(conn, "malformed initiator TransportID");
        return false;
    }
    memset(&conn->nexus, 0, sizeof(conn->nexus));
    conn->nexus.initiator = tid;
    conn->nexus.rtpi = conn->listener->config.rtpi;
    conn->nexus_ready = true;
    name = tid_to_string(&tid);
    g_info("connection %" G_GUINT64_FORMAT " (pid %d): declared initiator %s",
           conn->id, (int)conn->peer_pid, name);
    /* Accepted: the answer goes out, then requests follow. */
    wire_features_encode(conn->out, WIRE_IDENTITY_ACCEPTED);
    conn->out_len = WIRE_FEATURES_LEN;
    conn->out_off = 0;
    conn_write(conn);
    *again = false;
    return true;
}

/* What one read of a connection did. */
typedef enum RecvResult {
    RECV_RETRY, /* interrupted: read again */
    RECV_WAIT,  /* nothing to read now */
    RECV_MORE,  /* part of a frame: read again */
    RECV_FEATURES,
    RECV_IDENTITY,
    RECV_REQUEST, /* complete, in conn->reader.request */
    RECV_END,     /* must close: conn_fail() recorded why */
} RecvResult;

/*
 * Read what the current frame of @conn still needs, without waiting.
 * The thread that has @conn; it touches nothing but the connection.
 */
static RecvResult conn_recv(Conn *conn)
{
    uint8_t buf[WIRE_DATA_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_READ)];
        struct cmsghdr align;
    } control;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    int fds[MAX_FDS_PER_READ];
    unsigned n_fds = 0;
    unsigned lost = 0; /* descriptors sent but not received */
    size_t want = wire_reader_want(&conn->reader);
    bool starts_request = conn->reader.phase == WIRE_PHASE_CDB &&
                          !wire_reader_mid_frame(&conn->reader);
    ssize_t n;
    WireEvent ev;

    iov.iov_base = buf;
    iov.iov_len = want;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    n = recvmsg(conn->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR) {
            return RECV_RETRY;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return RECV_WAIT;
        }
        conn_fail(conn, false, g_strerror(errno));
        return RECV_END;
    }
    if (starts_request) {
        /* Read as soon as it arrives (the workers, else the main thread). */
        conn->request_started = g_get_monotonic_time();
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            unsigned count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            unsigned i;

            for (i = 0; i < count; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                if (n_fds < MAX_FDS_PER_READ) {
                    fds[n_fds++] = fd;
                } else {
                    close(fd);
                }
            }
        }
    }
    if ((msg.msg_flags & MSG_CTRUNC) && n_fds > 0) {
        /* There was room for more than one: more than one was sent. */
        close_fds(fds, n_fds);
        conn_fail(conn, true, "More than one file descriptor in request.");
        return RECV_END;
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        /* Sent, but not one could be installed: this process is out of
         * descriptors (EMFILE, ENFILE).  The request goes on without it
         * and is answered BUSY (job_run), so that the guest retries. */
        lost = 1;
    }
    if (n == 0) {
        close_fds(fds, n_fds);
        if (wire_reader_mid_frame(&conn->reader)) {
            conn_fail(conn, true, "end of file in the middle of a request");
        } else {
            conn_fail(conn, false, "closed by the client");
        }
        return RECV_END;
    }
    /* Keep the request's one descriptor; the reader judges the count. */
    if (n_fds > 0 && conn->reader.phase == WIRE_PHASE_CDB &&
        conn->request_fd < 0) {
        conn->request_fd = fds[0];
        close_fds(fds + 1, n_fds - 1);
    } else {
        close_fds(fds, n_fds);
    }

    ev = wire_reader_feed(&conn->reader, buf, (size_t)n, n_fds + lost);
    switch (ev) {
    case WIRE_NEED_MORE:
        return RECV_MORE;
    case WIRE_FEATURES:
        return RECV_FEATURES;
    case WIRE_IDENTITY:
        return RECV_IDENTITY;
    case WIRE_REQUEST:
        return RECV_REQUEST;
    default:
        conn_fail(conn, true, wire_event_describe(ev));
        return RECV_END;
    }
}

/*
 * Main thread: read once and act on it.  Returns false once @conn is
 * closed; *@again says whether to read again (@conn is still ours).
 */
static bool conn_read_once(Conn *conn, bool *again)
{
    *again = false;
    switch (conn_recv(conn)) {
    case RECV_RETRY:
        *again = true;
        return true;
    case RECV_WAIT:
        return true;
    case RECV_MORE:
        /* A started frame must finish within the request timeout. */
        timer_start(conn);
        *again = true;
        return true;
    case RECV_FEATURES:
        return conn_features(conn, again);
    case RECV_IDENTITY:
        return conn_identity(conn, again);
    case RECV_REQUEST:
        timer_stop(conn);
        dispatch(conn);
        return true;
    case RECV_END:
        break;
    }
    conn_end(conn);
    return false;
}

/* Main thread: @conn's socket is ready for what it is watched for. */
static void conn_event(Conn *conn)
{
    bool again;

    /* While a reply is pending nothing is read: one request at a time. */
    if (conn->out_len > 0) {
        conn_write(conn);
        return;
    }
    do {
        if (!conn_read_once(conn, &again)) {
            return; /* closed, and out of the epoll set */
        }
    } while (again);
}

/*
 * Main thread, from a worker: @conn must close, or the rest of its frame
 * is late and is read here, within the request timeout.
 */
static gboolean conn_resume(gpointer data)
{
    Conn *conn = data;

    conn_set_owner(conn, CONN_MAIN);
    if (conn->end_why != NULL) {
        conn_end(conn);
    } else if (conn->server->stopping) {
        conn_close(conn, "stopping");
    } else {
        timer_start(conn);
        conn_watch(conn, G_IO_IN);
    }
    return G_SOURCE_REMOVE;
}

/*
 * A worker: @conn, armed in the workers' set, is readable (or was shut
 * down by server_stop).  Read its request, run it and answer it here;
 * the main thread takes over anything else.
 */
static void conn_serve(Conn *conn)
{
    Server *server = conn->server;
    bool stopping;
    RecvResult got = RECV_END;

    g_mutex_lock(&server->conn_lock);
    conn->owner = CONN_WORKER;
    stopping = server->stopping;
    g_mutex_unlock(&server->conn_lock);
    if (!stopping) {
        do {
            got = conn_recv(conn);
        } while (got == RECV_RETRY || got == RECV_MORE);
    }
    if (got == RECV_REQUEST) {
        job_run(job_new(conn), server);
        return;
    }
    if (got == RECV_WAIT && !wire_reader_mid_frame(&conn->reader) &&
        conn_arm(conn)) {
        return; /* woken for nothing */
    }
    if (got == RECV_FEATURES || got == RECV_IDENTITY) {
        /* A reader between requests yields neither. */
        conn_fail(conn, true, "negotiation after the first request");
    }
    g_main_context_invoke(server->context, conn_resume, conn);
}

/*
 * A worker: it was the last one idle.  Have the main thread read what
 * arrives until one is idle again (overflow_event), unless it was told.
 */
static void overflow_begin(Server *server)
{
    uint64_t one = 1;

    if (g_atomic_int_compare_and_exchange(&server->overflow_on, 0, 1) &&
        write(server->overflow_fd, &one, sizeof(one)) != sizeof(one)) {
        /* Only a full counter, which a read empties: it is awake. */
        g_debug("overflow eventfd: %s", g_strerror(errno));
    }
}

/* A worker thread: serve the connections that become readable. */
static gpointer worker_main(gpointer data)
{
    Server *server = data;

    for (;;) {
        struct epoll_event ev;
        int n;

        g_atomic_int_inc(&server->idle_workers);
        n = epoll_wait(server->work_epoll_fd, &ev, 1, -1);
        if (g_atomic_int_dec_and_test(&server->idle_workers) && n > 0 &&
            ev.data.ptr != NULL) {
            overflow_begin(server);
        }
        if (n < 0 && errno != EINTR) {
            g_critical("epoll_wait: %s", g_strerror(errno));
            return NULL;
        }
        if (n <= 0) {
            continue;
        }
        if (ev.data.ptr == NULL) {
            return NULL; /* stop_fd: server_free */
        }
        conn_serve(ev.data.ptr);
    }
}

/*
 * Main thread, while every worker is busy: @conn, armed in the workers'
 * set, is readable.  Read its request now and queue it to the pool, as a
 * frame that arrives in pieces is (conn_serve does the same on a worker).
 */
static void conn_overflow(Conn *conn)
{
    Server *server = conn->server;
    RecvResult got;
    bool stopping;

    g_mutex_lock(&server->conn_lock);
    conn->owner = CONN_MAIN;
    stopping = server->stopping;
    g_mutex_unlock(&server->conn_lock);
    if (stopping) {
        conn_close(conn, "stopping");
        return;
    }
    do {
        got = conn_recv(conn);
    } while (got == RECV_RETRY || got == RECV_MORE);
    switch (got) {
    case RECV_REQUEST:
        dispatch(conn);
        return;
    case RECV_WAIT:
        if (!wire_reader_mid_frame(&conn->reader)) {
            conn_wait_request(conn); /* woken for nothing */
        } else {
            timer_start(conn);
            conn_watch(conn, G_IO_IN);
        }
        return;
    case RECV_FEATURES:
    case RECV_IDENTITY:
        /* A reader between requests yields neither. */
        conn_fail(conn, true, "negotiation after the first request");
        break;
    default:
        break;
    }
    conn_end(conn);
}

/* Main thread: stop reading the workers' set; one of them is idle. */
static void overflow_end(Server *server)
{
    g_source_destroy(server->overflow);
    g_source_unref(server->overflow);
    server->overflow = NULL;
}

/* The main loop's source for the workers' set while they are all busy. */
static gboolean overflow_event(gint fd, GIOCondition cond, gpointer data)
{
    Server *server = data;
    struct epoll_event events[64];
    int n;
    int i;

    /* Cleared before looking, so that a worker going busy after the look
     * tells again (overflow_begin). */
    g_atomic_int_set(&server->overflow_on, 0);
    if (g_atomic_int_get(&server->idle_workers) > 0) {
        overflow_end(server);
        return G_SOURCE_REMOVE;
    }
    g_atomic_int_set(&server->overflow_on, 1);
    n = epoll_wait(fd, events, G_N_ELEMENTS(events), 0);
    for (i = 0; i < n; i++) {
        /* stop_fd (NULL) is the workers' own, once the loop is over. */
        if (events[i].data.ptr != NULL) {
            conn_overflow(events[i].data.ptr);
        }
    }
    return G_SOURCE_CONTINUE;
}

/* Main thread: a worker said every one is busy. */
static gboolean overflow_wake(gint fd, GIOCondition cond, gpointer data)
{
    Server *server = data;
    uint64_t count;

    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
        g_warning("overflow eventfd: %s", g_strerror(errno));
    }
    if (server->overflow == NULL && !server->stopping) {
        server->overflow = g_unix_fd_source_new(server->work_epoll_fd, G_IO_IN);
        g_source_set_callback(server->overflow, G_SOURCE_FUNC(overflow_event),
                              server, NULL);
        g_source_attach(server->overflow, server->context);
    }
    return G_SOURCE_CONTINUE;
}

/* Watch @conn for @cond (0: not at all). */
static void conn_watch(Conn *conn, GIOCondition cond)
{
    struct epoll_event ev = {0};
    int op;

    if (conn->watching == cond) {
        return;
    }
    op = conn->watching == 0 ? EPOLL_CTL_ADD
         : cond == 0         ? EPOLL_CTL_DEL
                             : EPOLL_CTL_MOD;
    ev.events =
        ((cond & G_IO_IN) ? EPOLLIN : 0) | ((cond & G_IO_OUT) ? EPOLLOUT : 0);
    ev.data.ptr = conn;
    if (epoll_ctl(conn->server->epoll_fd, op, conn->fd, &ev) != 0) {
        /* Only ENOMEM can get here: the connection cannot be served. */
        g_warning("connection %" G_GUINT64_FORMAT ": epoll_ctl: %s", conn->id,
                  g_strerror(errno));
    }
    conn->watching = cond;
}

/* The main loop's source for the epoll set: dispatch what is ready. */
static gboolean epoll_event_ready(gint fd, GIOCondition cond, gpointer data)
{
    struct epoll_event events[64];
    int n = epoll_wait(fd, events, G_N_ELEMENTS(events), 0);
    int i;

    /* Each connection appears once per batch, and only its own event
     * closes it, so no event here refers to a freed connection.  A hang-up
     * or an error is found by the read or the write it wakes. */
    for (i = 0; i < n; i++) {
        conn_event(events[i].data.ptr);
    }
    return G_SOURCE_CONTINUE;
}

/* Write what is pending; then read the next request (or close). */
static void conn_write(Conn *conn)
{
    int err = conn_send_pending(conn);

    if (err == EAGAIN || err == EWOULDBLOCK) {
        /* A client not reading its reply gets the request timeout. */
        timer_start(conn);
        conn_watch(conn, G_IO_OUT);
        return;
    }
    if (err != 0) {
        conn_close(conn, g_strerror(err));
        return;
    }
    conn->out_len = 0;
    conn->out_off = 0;
    timer_stop(conn);
    if (conn->server->stopping) {
        conn_close(conn, "stopping");
        return;
    }
    if (conn->reader.phase == WIRE_PHASE_FEATURES) {
        /* The feature word went out: the client's comes next. */
        timer_start(conn);
        conn_watch(conn, G_IO_IN);
        return;
    }
    wire_reader_next_request(&conn->reader);
    conn_wait_request(conn);
}

static void conn_free(Conn *conn)
{
    identity_peer_clear(&conn->peer);
    g_free(conn->vm_key);
    timer_stop(conn);
    conn_watch(conn, 0);
    if (conn->in_work_set && epoll_ctl(conn->server->work_epoll_fd,
                                       EPOLL_CTL_DEL, conn->fd, NULL) != 0) {
        g_warning("connection %" G_GUINT64_FORMAT ": epoll_ctl: %s", conn->id,
                  g_strerror(errno));
    }
    g_free(conn->end_why);
    if (conn->request_fd >= 0) {
        close(conn->request_fd);
    }
    close(conn->fd);
    g_free(conn->out);
    g_free(conn);
}

/* Close and forget @conn; @why (debug detail) may be NULL. */
static void conn_close(Conn *conn, const char *why)
{
    Server *server = conn->server;

    g_debug("connection %" G_GUINT64_FORMAT " closed%s%s", conn->id,
            why != NULL ? ": " : "", why != NULL ? why : "");
    g_hash_table_remove(server->conns, conn);
    peer_count(server, conn->peer_pid, -1);
    conn_free(conn);
    maybe_finish(server);
}

/*
 * Change the number of connections of peer process @pid by @delta;
 * returns the new number.  Main thread.
 */
static unsigned peer_count(Server *server, pid_t pid, int delta)
{
    gpointer key = GINT_TO_POINTER(pid);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(server->peer_conns, key));

    n = (unsigned)((int)n + delta);
    if (n == 0) {
        g_hash_table_remove(server->peer_conns, key);
    } else {
        g_hash_table_insert(server->peer_conns, key, GUINT_TO_POINTER(n));
    }
    return n;
}

/* Log refusals at most once a second: a flood must not flood the log. */
static bool refusal_due(Server *server)
{
    gint64 now = g_get_monotonic_time();

    if (now - server->last_refusal_log < G_USEC_PER_SEC) {
        return false;
    }
    server->last_refusal_log = now;
    return true;
}

static void refusal_warning(Server *server, const char *what)
{
    if (refusal_due(server)) {
        g_warning("%s", what);
    }
}

/*
 * Whether @conn's peer, which calls itself QEMU, runs one of the
 * listener's qemu-binaries (when they are set); else it is not taken for
 * a VM and acts as this host.
 */
static bool conn_runs_qemu(Conn *conn)
{
    g_autofree char *exe = NULL;

    if (!conn->peer.is_qemu ||
        identity_peer_binary_allowed(&conn->listener->config.peers,
                                     conn->peer_pid, &exe)) {
        return true;
    }
    g_warning("connection %" G_GUINT64_FORMAT ": pid %d calls itself QEMU "
              "but runs %s, not one of qemu-binaries: it acts as this host",
              conn->id, (int)conn->peer_pid, exe);
    conn->peer.is_qemu = false;
    return false;
}

/*
 * Decide what a new connection's commands are attributed to, as far as
 * it can be without the database: a fixed name, this host, or (resolved
 * on the first command) the VM of a QEMU peer.  A "client" socket waits
 * for the declaration.
 */
static void conn_attribute(Conn *conn)
{
    const Listener *listener = conn->listener;

    memset(&conn->nexus, 0, sizeof(conn->nexus));
    conn->nexus.rtpi = listener->config.rtpi;
    switch (listener->config.identity) {
    case IDENTITY_FIXED:
        conn->nexus.initiator = listener->config.initiator;
        conn->nexus_ready = true;
        break;
    case IDENTITY_CLIENT:
        break;
    case IDENTITY_AUTO:
        if (identity_peer_from_pid(conn->peer_pid, &conn->peer) &&
            conn_runs_qemu(conn)) {
            conn->vm_key = identity_vm_key(&conn->peer);
        }
        if (conn->vm_key == NULL) {
            conn->nexus.initiator = conn->server->host_initiator;
            conn->nexus_ready = true;
        }
        break;
    }
    g_info("connection %" G_GUINT64_FORMAT " from pid %d (uid %u)%s%s",
           conn->id, (int)conn->peer_pid, (unsigned)conn->peer_uid,
           conn->vm_key != NULL ? ": QEMU, VM " : "",
           conn->vm_key != NULL ? conn->vm_key : "");
}

static gboolean listener_resume(gpointer data);

/* Whether @listener's peer-uids and peer-groups let @cred's peer in. */
static bool peer_allowed(const Listener *listener, int cfd,
                         const struct ucred *cred)
{
    const PeerPolicy *peers = &listener->config.peers;
    gid_t groups[NGROUPS_MAX];
    socklen_t len = sizeof(groups);

    if (peers->gids == NULL ||
        getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) {
        len = 0;
    }
    return identity_peer_allowed(peers, cred->uid, cred->gid, groups,
                                 len / sizeof(gid_t));
}

/*
 * Whether the peer @cred of the connection @cfd just accepted on
 * @listener may use it; when not, @cfd is closed.  It must be one that
 * peer-uids and peer-groups allow, and one process (SO_PEERCRED pid)
 * holding many idle connections must not lock QEMU out: a process that
 * forks counts per child, so max-connections still bounds them all.
 */
static bool peer_admitted(Server *server, const Listener *listener, int cfd,
                          const struct ucred *cred)
{
    unsigned cap = server->max_connections_per_peer;
    gpointer n =
        g_hash_table_lookup(server->peer_conns, GINT_TO_POINTER(cred->pid));

    if (!peer_allowed(listener, cfd, cred)) {
        close(cfd);
        if (refusal_due(server)) {
            g_warning("connection refused: pid %d (uid %d, gid %d) is not "
                      "in the socket's peer-uids or peer-groups",
                      (int)cred->pid, (int)cred->uid, (int)cred->gid);
        }
        return false;
    }
    if (cap == 0 || GPOINTER_TO_UINT(n) < cap) {
        return true;
    }
    close(cfd);
    if (refusal_due(server)) {
        g_warning("connection refused: pid %d (uid %d) has %u open, "
                  "max-connections-per-peer",
                  (int)cred->pid, (int)cred->uid, cap);
    }
    return false;
}

static gboolean listener_event(gint fd, GIOCondition cond, gpointer data)
{
    Listener *listener = data;
    Server *server = listener->server;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct ucred cred;
        socklen_t len = sizeof(cred);
        Conn *conn;

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors: pause accepting for a moment rather
                 * than spin on a socket that stays readable. */
                refusal_warning(server, "cannot accept a connection: out of "
                                        "file descriptors");
                g_source_destroy(listener->source);
                g_source_unref(listener->source);
                listener->source = NULL;
                {
                    GSource *pause = g_timeout_source_new(100);

                    g_source_set_callback(pause, listener_resume, listener,
                                          NULL);
                    g_source_attach(pause, server->context);
                    g_source_unref(pause);
                }
                return G_SOURCE_REMOVE;
            }
            return G_SOURCE_CONTINUE;
        }
        if (g_hash_table_size(server->conns) >= server->max_connections) {
            close(cfd);
            refusal_warning(server, "connection refused: max-connections "
                                    "reached");
            continue;
        }
        memset(&cred, 0, sizeof(cred));
        cred.pid = -1;
        cred.uid = (uid_t)-1;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            cred.pid = -1;
        }
        if (!peer_admitted(server, listener, cfd, &cred)) {
            continue;
        }
        conn = g_new0(Conn, 1);
        conn->server = server;
        conn->listener = listener;
        conn->id = ++server->next_conn_id;
        conn->fd = cfd;
        conn->request_fd = -1;
        conn->out = g_malloc(WIRE_REPLY_MAX);
        conn->peer_pid = cred.pid;
        conn->peer_uid = cred.uid;
        wire_reader_init(&conn->reader);
        g_hash_table_add(server->conns, conn);
        peer_count(server, conn->peer_pid, +1);
        conn_attribute(conn);
        /* QEMU blocks until the feature word arrives: send it now. */
        wire_features_encode(conn->out, supported_features(listener));
        conn->out_len = WIRE_FEATURES_LEN;
        conn->out_off = 0;
        conn_write(conn);
    }
}

static void listener_watch(Listener *listener)
{
    listener->source = g_unix_fd_source_new(listener->fd, G_IO_IN);
    g_source_set_callback(listener->source, G_SOURCE_FUNC(listener_event),
                          listener, NULL);
    g_source_attach(listener->source, listener->server->context);
}

static gboolean listener_resume(gpointer data)
{
    Listener *listener = data;

    if (!listener->server->stopping && listener->source == NULL) {
        listener_watch(listener);
    }
    return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

/* Start @n worker threads and the epoll set they wait on. */
static bool workers_start(Server *server, unsigned n, GError **error)
{
    struct epoll_event ev = {0};
    unsigned i;

    server->work_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    server->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (server->work_epoll_fd < 0 || server->stop_fd < 0 ||
        epoll_ctl(server->work_epoll_fd, EPOLL_CTL_ADD, server->stop_fd, &ev) !=
            0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot make the workers' epoll set: %s",
                    g_strerror(errno));
        return false;
    }
    for (i = 0; i < n; i++) {
        GThread *thread =
            g_thread_try_new("softprd-worker", worker_main, server, error);

        if (thread == NULL) {
            return false;
        }
        g_ptr_array_add(server->workers, thread);
    }
    return true;
}

/* End the worker threads once what they are running is done. */
static void workers_stop(Server *server)
{
    uint64_t one = 1;
    guint i;

    /* stop_fd stays readable: it wakes every worker, each once idle. */
    if (server->workers->len > 0 &&
        write(server->stop_fd, &one, sizeof(one)) != sizeof(one)) {
        g_critical("cannot stop the workers: %s", g_strerror(errno));
        abort();
    }
    for (i = 0; i < server->workers->len; i++) {
        g_thread_join(g_ptr_array_index(server->workers, i));
    }
    g_ptr_array_set_size(server->workers, 0);
}

Server *server_new(const ServerOptions *options, GError **error)
{
    Server *server = g_new0(Server, 1);
    size_t i;

    /* What server_free() expects of a half-made server. */
    server->epoll_fd = -1;
    server->work_epoll_fd = -1;
    server->stop_fd = -1;
    server->overflow_fd = -1;
    server->workers = g_ptr_array_new();
    g_mutex_init(&server->conn_lock);
    g_mutex_init(&server->log_lock);
    g_mutex_init(&server->places_lock);
    server->places_checked =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    server->listeners = g_ptr_array_new();
    server->conns = g_hash_table_new(NULL, NULL);
    server->peer_conns = g_hash_table_new(NULL, NULL);
    server->context = g_main_context_ref_thread_default();
    server->loop = g_main_loop_new(server->context, FALSE);
    server->stores = g_async_queue_new();
    server->db_path = g_strdup(options->store.path);
    server->host_id = g_strdup(options->store.host_id);
    server->vfs = g_strdup(options->store.vfs);
    server->store_options = options->store;
    server->store_options.path = server->db_path;
    server->store_options.host_id = server->host_id;
    server->store_options.vfs = server->vfs;
    server->store_options.create = false;
    server->group = store_group_new(server->db_path);
    server->store_options.group = server->group;
    server->sysfs =
        g_strdup(options->lu.sysfs != NULL ? options->lu.sysfs : "/sys");
    server->lu_maps = g_new0(LuMapping, options->lu.n_maps + 1);
    for (i = 0; i < options->lu.n_maps; i++) {
        server->lu_maps[i].name = g_strdup(options->lu.maps[i].name);
        server->lu_maps[i].path = g_strdup(options->lu.maps[i].path);
        server->lu_maps[i].mode = options->lu.maps[i].mode;
    }
    server->lu.sysfs = server->sysfs;
    server->lu.create_xattr = options->lu.create_xattr;
    server->lu.maps = server->lu_maps;
    server->lu.n_maps = options->lu.n_maps;
    {
        g_autofree char *host = identity_host_initiator_name(
            options->store.host_id != NULL ? options->store.host_id
                                           : g_get_host_name());

        if (!tid_from_iscsi_name(host, &server->host_initiator, error)) {
            server_free(server);
            return NULL;
        }
    }
    server->ports = g_new(uint16_t, options->pr.n_ports);
    for (i = 0; i < options->pr.n_ports; i++) {
        server->ports[i] = options->pr.ports[i];
    }
    server->pr = options->pr;
    server->pr.ports = server->ports;
    server->writer = writer_new(&server->store_options, &server->pr);
    server->max_connections = options->max_connections;
    server->max_connections_per_peer = options->max_connections_per_peer;
    server->request_timeout_ms = options->request_timeout_ms;
    server->lock_timeout_ms = options->lock_timeout_ms;
    server->mode =
        options->mode == LU_MODE_DEFAULT ? LU_MODE_EMULATION : options->mode;
    server->passthrough_timeout_ms = options->passthrough_timeout_ms != 0
                                         ? options->passthrough_timeout_ms
                                         : PASSTHROUGH_TIMEOUT_MS_DEFAULT;
    server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server->epoll_fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "epoll_create1: %s", g_strerror(errno));
        server_free(server);
        return NULL;
    }
    server->epoll_source = g_unix_fd_source_new(server->epoll_fd, G_IO_IN);
    g_source_set_callback(server->epoll_source,
                          G_SOURCE_FUNC(epoll_event_ready), NULL, NULL);
    g_source_attach(server->epoll_source, server->context);
    server->overflow_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (server->overflow_fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "eventfd: %s",
                    g_strerror(errno));
        server_free(server);
        return NULL;
    }
    server->overflow_wake = g_unix_fd_source_new(server->overflow_fd, G_IO_IN);
    g_source_set_callback(server->overflow_wake, G_SOURCE_FUNC(overflow_wake),
                          server, NULL);
    g_source_attach(server->overflow_wake, server->context);
    server->pool =
        g_thread_pool_new(job_run, server, (int)options->workers, FALSE, error);
    if (server->pool == NULL ||
        !workers_start(server, options->workers, error)) {
        server_free(server);
        return NULL;
    }
    return server;
}

void server_add_listener(Server *server, int fd, const ListenerConfig *config,
                         const char *unlink_path)
{
    Listener *listener = g_new0(Listener, 1);

    listener->server = server;
    listener->fd = fd;
    listener->config = *config;
    identity_policy_copy(&listener->config.peers, &config->peers);
    listener->unlink_path = g_strdup(unlink_path);
    g_ptr_array_add(server->listeners, listener);
    listener_watch(listener);
}

void server_run(Server *server)
{
    g_main_loop_run(server->loop);
}

static void listener_close(Listener *listener)
{
    if (listener->source != NULL) {
        g_source_destroy(listener->source);
        g_source_unref(listener->source);
        listener->source = NULL;
    }
    if (listener->fd >= 0) {
        close(listener->fd);
        listener->fd = -1;
    }
    if (listener->unlink_path != NULL) {
        unlink(listener->unlink_path);
        g_clear_pointer(&listener->unlink_path, g_free);
    }
}

void server_stop(Server *server)
{
    GHashTableIter iter;
    gpointer key;
    GPtrArray *idle = g_ptr_array_new();
    guint i;

    if (server->stopping) {
        return;
    }
    for (i = 0; i < server->listeners->len; i++) {
        listener_close(g_ptr_array_index(server->listeners, i));
    }
    /* Idle connections go now; busy ones after their reply is sent.
     * An armed one belongs to the workers: shutting it down wakes one,
     * which sees the stop and gives it back (conn_serve). */
    g_mutex_lock(&server->conn_lock);
    server->stopping = true;
    g_hash_table_iter_init(&iter, server->conns);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        Conn *conn = key;

        if (conn->owner == CONN_ARMED) {
            shutdown(conn->fd, SHUT_RD);
        } else if (conn->owner == CONN_MAIN && conn->out_len == 0) {
            g_ptr_array_add(idle, conn);
        }
    }
    g_mutex_unlock(&server->conn_lock);
    for (i = 0; i < idle->len; i++) {
        conn_close(g_ptr_array_index(idle, i), "stopping");
    }
    g_ptr_array_free(idle, TRUE);
    maybe_finish(server);
}

void server_free(Server *server)
{
    GHashTableIter iter;
    gpointer key;
    Store *store;
    guint i;

    if (server == NULL) {
        return;
    }
    /* Before stop_fd makes the workers' set readable for good. */
    if (server->overflow != NULL) {
        overflow_end(server);
    }
    if (server->overflow_wake != NULL) {
        g_source_destroy(server->overflow_wake);
        g_source_unref(server->overflow_wake);
    }
    workers_stop(server);
    if (server->pool != NULL) {
        g_thread_pool_free(server->pool, FALSE, TRUE);
    }
    /* Completions queued by the last jobs run here, then nothing is left. */
    while (g_main_context_iteration(server->context, FALSE)) {
    }
    g_hash_table_iter_init(&iter, server->conns);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        conn_free(key);
    }
    g_hash_table_destroy(server->conns);
    g_hash_table_destroy(server->peer_conns);
    if (server->epoll_source != NULL) {
        g_source_destroy(server->epoll_source);
        g_source_unref(server->epoll_source);
    }
    if (server->epoll_fd >= 0) {
        close(server->epoll_fd);
    }
    if (server->work_epoll_fd >= 0) {
        close(server->work_epoll_fd);
    }
    if (server->stop_fd >= 0) {
        close(server->stop_fd);
    }
    if (server->overflow_fd >= 0) {
        close(server->overflow_fd);
    }
    g_ptr_array_free(server->workers, TRUE);
    g_mutex_clear(&server->conn_lock);
    g_mutex_clear(&server->log_lock);
    g_mutex_clear(&server->places_lock);
    g_hash_table_destroy(server->places_checked);
    for (i = 0; i < server->listeners->len; i++) {
        Listener *listener = g_ptr_array_index(server->listeners, i);

        listener_close(listener);
        identity_policy_clear(&listener->config.peers);
        g_free(listener);
    }
    g_ptr_array_free(server->listeners, TRUE);
    while ((store = g_async_queue_try_pop(server->stores)) != NULL) {
        store_close(store);
    }
    g_async_queue_unref(server->stores);
    writer_free(server->writer);
    store_group_free(server->group);
    g_main_loop_unref(server->loop);
    g_main_context_unref(server->context);
    g_free(server->db_path);
    g_free(server->host_id);
    g_free(server->vfs);
    g_free(server->sysfs);
    for (i = 0; server->lu_maps != NULL && i < server->lu.n_maps; i++) {
        g_free(server->lu_maps[i].name);
        g_free(server->lu_maps[i].path);
    }
    g_free(server->lu_maps);
    g_free(server->ports);
    g_free(server);
}
