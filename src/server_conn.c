/*
 * server_conn: a connection's life on the main thread: the feature
 * negotiation (and a client's declared initiator), the request timeout
 * of frames that arrive in pieces, writing what a worker could not send,
 * handing the connection to the workers between requests, and closing.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "server_int.h"
#include "tid.h"

static unsigned peer_count(Server *server, pid_t pid, int delta);

/* Set who has @conn.  The thread giving it away, or taking it back. */
void server_conn_set_owner(Conn *conn, ConnOwner owner)
{
    g_mutex_lock(&conn->server->conn_lock);
    conn->owner = owner;
    g_mutex_unlock(&conn->server->conn_lock);
}

/* Note that @conn must be closed, and why (server_conn_end logs it). */
void server_conn_fail(Conn *conn, bool warn, const char *why)
{
    if (conn->end_why == NULL) {
        conn->end_why = g_strdup(why);
        conn->end_warn = warn;
    }
}

void server_maybe_finish(Server *server)
{
    if (server->stopping && g_hash_table_size(server->conns) == 0) {
        g_main_loop_quit(server->loop);
    }
}

/* Close @conn for the reason server_conn_fail() recorded.  Main thread. */
void server_conn_end(Conn *conn)
{
    g_autofree char *why = g_steal_pointer(&conn->end_why);

    if (conn->end_warn) {
        log_protocol_error("connection %" G_GUINT64_FORMAT " (pid %d): %s",
                           conn->id, (int)conn->peer_pid, why);
        server_conn_close(conn, NULL);
    } else {
        server_conn_close(conn, why);
    }
}

/*
 * Main thread: @conn has nothing to send and waits for its next request;
 * give it to the workers, or close it.
 */
void server_conn_wait_request(Conn *conn)
{
    server_conn_watch(conn, 0);
    if (server_conn_arm(conn)) {
        return;
    }
    if (conn->end_why != NULL) {
        server_conn_end(conn);
    } else {
        server_conn_close(conn, "stopping");
    }
}

void server_timer_stop(Conn *conn)
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
    server_conn_close(conn, NULL);
    return G_SOURCE_REMOVE;
}

/* Bound the time a frame (or the reply being written) may take. */
void server_timer_start(Conn *conn)
{
    if (conn->timer != NULL) {
        return;
    }
    conn->timer = g_timeout_source_new(conn->server->request_timeout_ms);
    g_source_set_callback(conn->timer, timer_fired, conn, NULL);
    g_source_attach(conn->timer, conn->server->context);
}

/* Log a protocol violation and drop the connection.  Main thread. */
static void violation(Conn *conn, const char *what)
{
    server_conn_fail(conn, true, what);
    server_conn_end(conn);
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
    server_timer_stop(conn);
    wire_reader_next_request(&conn->reader);
    *again = false;
    server_conn_wait_request(conn);
    return true;
}

/* The client declared its initiator: check it and accept it. */
static bool conn_identity(Conn *conn, bool *again)
{
    TransportId tid;
    size_t used = 0;
    g_autofree char *name = NULL;

    server_timer_stop(conn);
    if (tid_decode(conn->reader.identity, conn->reader.identity_len, &tid,
                   &used) != TID_OK ||
        used != conn->reader.identity_len) {
        violation(conn, "malformed initiator TransportID");
        return false;
    }
    dispatch_peer_declare(&conn->peer, &tid);
    name = tid_to_string(&tid);
    g_info("connection %" G_GUINT64_FORMAT " (pid %d): declared initiator %s",
           conn->id, (int)conn->peer_pid, name);
    /* Accepted: the answer goes out, then requests follow. */
    wire_features_encode(conn->out, WIRE_IDENTITY_ACCEPTED);
    conn->out_len = WIRE_FEATURES_LEN;
    conn->out_off = 0;
    server_conn_write(conn);
    *again = false;
    return true;
}

/*
 * Main thread: read once and act on it.  Returns false once @conn is
 * closed; *@again says whether to read again (@conn is still ours).
 */
static bool conn_read_once(Conn *conn, bool *again)
{
    *again = false;
    switch (server_conn_recv(conn)) {
    case RECV_RETRY:
        *again = true;
        return true;
    case RECV_WAIT:
        return true;
    case RECV_MORE:
        /* A started frame must finish within the request timeout. */
        server_timer_start(conn);
        *again = true;
        return true;
    case RECV_FEATURES:
        return conn_features(conn, again);
    case RECV_IDENTITY:
        return conn_identity(conn, again);
    case RECV_REQUEST:
        server_timer_stop(conn);
        server_conn_dispatch(conn);
        return true;
    case RECV_END:
        break;
    }
    server_conn_end(conn);
    return false;
}

/* Main thread: @conn's socket is ready for what it is watched for. */
static void conn_event(Conn *conn)
{
    bool again;

    /* While a reply is pending nothing is read: one request at a time. */
    if (conn->out_len > 0) {
        server_conn_write(conn);
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
gboolean server_conn_resume(gpointer data)
{
    Conn *conn = data;

    server_conn_set_owner(conn, CONN_MAIN);
    if (conn->end_why != NULL) {
        server_conn_end(conn);
    } else if (conn->server->stopping) {
        server_conn_close(conn, "stopping");
    } else {
        server_timer_start(conn);
        server_conn_watch(conn, G_IO_IN);
    }
    return G_SOURCE_REMOVE;
}

/* Watch @conn for @cond (0: not at all). */
void server_conn_watch(Conn *conn, GIOCondition cond)
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
gboolean server_epoll_ready(gint fd, GIOCondition cond, gpointer data)
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
void server_conn_write(Conn *conn)
{
    int err = server_conn_send_pending(conn);

    if (err == EAGAIN || err == EWOULDBLOCK) {
        /* A client not reading its reply gets the request timeout. */
        server_timer_start(conn);
        server_conn_watch(conn, G_IO_OUT);
        return;
    }
    if (err != 0) {
        server_conn_close(conn, g_strerror(err));
        return;
    }
    conn->out_len = 0;
    conn->out_off = 0;
    server_timer_stop(conn);
    if (conn->server->stopping) {
        server_conn_close(conn, "stopping");
        return;
    }
    if (conn->reader.phase == WIRE_PHASE_FEATURES) {
        /* The feature word went out: the client's comes next. */
        server_timer_start(conn);
        server_conn_watch(conn, G_IO_IN);
        return;
    }
    wire_reader_next_request(&conn->reader);
    server_conn_wait_request(conn);
}

void server_conn_free(Conn *conn)
{
    dispatch_peer_clear(&conn->peer);
    server_timer_stop(conn);
    server_conn_watch(conn, 0);
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
void server_conn_close(Conn *conn, const char *why)
{
    Server *server = conn->server;

    g_debug("connection %" G_GUINT64_FORMAT " closed%s%s", conn->id,
            why != NULL ? ": " : "", why != NULL ? why : "");
    g_hash_table_remove(server->conns, conn);
    peer_count(server, conn->peer_pid, -1);
    server_conn_free(conn);
    server_maybe_finish(server);
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

/*
 * Decide what a new connection's commands are attributed to, as far as
 * it can be without the database (dispatch_peer_init()).
 */
static void conn_attribute(Conn *conn)
{
    const ListenerConfig *config = &conn->listener->config;
    const char *vm_key;

    dispatch_peer_init(conn->server->dispatch, &conn->peer, conn->id,
                       conn->peer_pid, config->identity, &config->initiator,
                       config->rtpi, &config->peers);
    vm_key = conn->peer.vm_key;
    g_info("connection %" G_GUINT64_FORMAT " from pid %d (uid %u)%s%s",
           conn->id, (int)conn->peer_pid, (unsigned)conn->peer_uid,
           vm_key != NULL ? ": QEMU, VM " : "", vm_key != NULL ? vm_key : "");
}

void server_conn_open(Listener *listener, int fd, pid_t pid, uid_t uid)
{
    Server *server = listener->server;
    Conn *conn = g_new0(Conn, 1);

    conn->server = server;
    conn->listener = listener;
    conn->id = ++server->next_conn_id;
    conn->fd = fd;
    conn->request_fd = -1;
    conn->out = g_malloc(WIRE_REPLY_MAX);
    conn->peer_pid = pid;
    conn->peer_uid = uid;
    wire_reader_init(&conn->reader);
    g_hash_table_add(server->conns, conn);
    peer_count(server, conn->peer_pid, +1);
    conn_attribute(conn);
    /* QEMU blocks until the feature word arrives: send it now. */
    wire_features_encode(conn->out, supported_features(listener));
    conn->out_len = WIRE_FEATURES_LEN;
    conn->out_off = 0;
    server_conn_write(conn);
}
