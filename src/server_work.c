/*
 * server_work: the worker threads and the pool that run requests.
 *
 * A worker waits on the connections armed in its epoll set; the one that
 * wakes reads the request, has dispatch run it and sends the answer
 * itself.  Requests the main thread finished reading (frames that came
 * in pieces, or every worker busy) run in the pool the same way.  The
 * main thread takes a connection back for anything else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cdb.h"
#include "error.h"
#include "log.h"
#include "scsi.h"
#include "server_int.h"

/* A request on its way through dispatch. */
typedef struct Job {
    Conn *conn;
    int fd;
    gint64 received_at; /* its first bytes: its deadline counts from then */
} Job;

static gboolean job_done(gpointer data);

/*
 * Put the reply to @job in its connection's buffer and send it.  When the
 * socket takes all of it, the connection goes straight back to the
 * workers' set for its next request; otherwise (the rest of the reply,
 * an error, the server stopping) the main thread takes it over
 * (job_done).  The thread that ran the job, or the writer's: sending from
 * here spares the client a wake-up of the main loop.  A DispatchDone.
 */
static void job_finish(PrResult *result, gpointer data)
{
    Job *job = data;
    Conn *conn = job->conn;
    const WireRequest *req = &conn->reader.request;

    conn->out_len = wire_reply_encode(conn->out, req->cdb, result->status,
                                      result->sense, sizeof(result->sense),
                                      result->data, result->data_len);
    conn->out_off = 0;
    g_free(result);
    if (server_conn_send_pending(conn) == 0) {
        conn->out_len = 0;
        conn->out_off = 0;
        wire_reader_next_request(&conn->reader);
        if (server_conn_arm(conn)) {
            g_free(job);
            return;
        }
    }
    g_main_context_invoke(conn->server->context, job_done, job);
}

void server_job_run(gpointer data, gpointer user_data)
{
    Job *job = data;
    Server *server = user_data;
    Conn *conn = job->conn;
    const WireRequest *req = &conn->reader.request;
    DispatchRequest request = {.cdb = req->cdb,
                               .data = req->data,
                               .data_len = req->data_len,
                               .fd = job->fd,
                               .received_at = job->received_at,
                               .peer = &conn->peer};

    job->fd = -1;
    dispatch_run(server->dispatch, &request, job_finish, job);
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
                ? engine_in_action_name(
                      cdb_service_action(conn->reader.request.cdb))
                : engine_out_action_name(
                      cdb_service_action(conn->reader.request.cdb)));
    }
    return job;
}

/*
 * Hand @conn, waiting for the start of its next request with nothing to
 * send, to the workers.  Returns false with @conn still the caller's when
 * the server is stopping, or when the epoll set refused it (then
 * server_conn_fail() recorded why).  The thread that has @conn.
 */
bool server_conn_arm(Conn *conn)
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
        server_conn_set_owner(conn, was);
        server_conn_fail(conn, true, why);
        return false;
    }
    return true;
}

/* Back on the main thread after a job: send the rest of the reply. */
static gboolean job_done(gpointer data)
{
    Job *job = data;
    Conn *conn = job->conn;

    g_free(job);
    server_conn_set_owner(conn, CONN_MAIN);
    if (conn->end_why != NULL) {
        server_conn_end(conn);
    } else {
        server_conn_write(conn);
    }
    return G_SOURCE_REMOVE;
}

/* Main thread: run @conn's request, which it finished reading. */
void server_conn_dispatch(Conn *conn)
{
    Job *job = job_new(conn);

    /* Not reading while the command runs: one request at a time. */
    server_conn_watch(conn, 0);
    server_conn_set_owner(conn, CONN_WORKER);
    g_thread_pool_push(conn->server->pool, job, NULL);
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
            got = server_conn_recv(conn);
        } while (got == RECV_RETRY || got == RECV_MORE);
    }
    if (got == RECV_REQUEST) {
        server_job_run(job_new(conn), server);
        return;
    }
    if (got == RECV_WAIT && !wire_reader_mid_frame(&conn->reader) &&
        server_conn_arm(conn)) {
        return; /* woken for nothing */
    }
    if (got == RECV_FEATURES || got == RECV_IDENTITY) {
        /* A reader between requests yields neither. */
        server_conn_fail(conn, true, "negotiation after the first request");
    }
    g_main_context_invoke(server->context, server_conn_resume, conn);
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
        server_conn_close(conn, "stopping");
        return;
    }
    do {
        got = server_conn_recv(conn);
    } while (got == RECV_RETRY || got == RECV_MORE);
    switch (got) {
    case RECV_REQUEST:
        server_conn_dispatch(conn);
        return;
    case RECV_WAIT:
        if (!wire_reader_mid_frame(&conn->reader)) {
            server_conn_wait_request(conn); /* woken for nothing */
        } else {
            server_timer_start(conn);
            server_conn_watch(conn, G_IO_IN);
        }
        return;
    case RECV_FEATURES:
    case RECV_IDENTITY:
        /* A reader between requests yields neither. */
        server_conn_fail(conn, true, "negotiation after the first request");
        break;
    default:
        break;
    }
    server_conn_end(conn);
}

/* Main thread: stop reading the workers' set; one of them is idle. */
void server_overflow_end(Server *server)
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
        server_overflow_end(server);
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
gboolean server_overflow_wake(gint fd, GIOCondition cond, gpointer data)
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

/* Start @n worker threads and the epoll set they wait on. */
bool server_workers_start(Server *server, unsigned n, GError **error)
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
void server_workers_stop(Server *server)
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
