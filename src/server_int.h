/*
 * server_int: what the files of the server module share, and only they:
 * the server, its listeners and connections, and who owns a connection.
 *
 *   server.c         creating, running, stopping and freeing the server
 *   server_listen.c  listening sockets, accepting, admitting peers
 *   server_conn.c    a connection on the main thread: negotiation,
 *                    timeouts, writing replies, closing
 *   server_io.c      one read of a frame (with its descriptor), sending
 *   server_work.c    the worker threads and the pool that run requests
 *                    (through dispatch) and answer them
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
#ifndef SOFTPR_SERVER_INT_H
#define SOFTPR_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "dispatch.h"
#include "server.h"
#include "wire.h"

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
    DispatchPeer peer; /* whose commands these are */
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
    Dispatch *dispatch; /* what runs the commands */
    unsigned max_connections;
    unsigned request_timeout_ms;
    GPtrArray *listeners;
    GHashTable *conns;      /* Conn * set, the main thread's */
    GHashTable *peer_conns; /* peer pid -> its connections, the same */
    unsigned max_connections_per_peer;
    guint64 next_conn_id;
    bool stopping;
    gint64 last_refusal_log; /* main thread */
};

/* What one read of a connection did. */
typedef enum RecvResult {
    RECV_RETRY, /* interrupted: read again */
    RECV_WAIT,  /* nothing to read now */
    RECV_MORE,  /* part of a frame: read again */
    RECV_FEATURES,
    RECV_IDENTITY,
    RECV_REQUEST, /* complete, in conn->reader.request */
    RECV_END,     /* must close: server_conn_fail() recorded why */
} RecvResult;

/* ---- server_io.c: the thread that has @conn ---- */

/*
 * Read what the current frame of @conn still needs, without waiting,
 * keeping a request's descriptor in conn->request_fd.
 */
RecvResult server_conn_recv(Conn *conn);

/*
 * Send what the socket takes of @conn's pending reply without waiting.
 * Returns 0 when all of it is sent, else the errno that stopped it
 * (EAGAIN: the socket is full).
 */
int server_conn_send_pending(Conn *conn);

/* ---- server_conn.c: the main thread, but where said ---- */

/* Main thread: a connection @fd accepted on @listener from process
 * @pid of user @uid: count it, attribute it (dispatch_peer_init()) and
 * send the feature word. */
void server_conn_open(Listener *listener, int fd, pid_t pid, uid_t uid);

/* Set who has @conn.  The thread giving it away, or taking it back. */
void server_conn_set_owner(Conn *conn, ConnOwner owner);

/* Note that @conn must be closed, and why (server_conn_end logs it); the
 * thread that has @conn. */
void server_conn_fail(Conn *conn, bool warn, const char *why);

/* Close @conn for the reason server_conn_fail() recorded. */
void server_conn_end(Conn *conn);

/* Close and forget @conn; @why (debug detail) may be NULL. */
void server_conn_close(Conn *conn, const char *why);

/* Free @conn (not counted any more). */
void server_conn_free(Conn *conn);

/* @conn has nothing to send: give it to the workers, or close it. */
void server_conn_wait_request(Conn *conn);

/* Write what is pending; then read the next request (or close). */
void server_conn_write(Conn *conn);

/* Watch @conn in the main epoll set for @cond (0: not at all). */
void server_conn_watch(Conn *conn, GIOCondition cond);

/* From a worker: @conn must close, or the rest of its frame is read on
 * the main thread within the request timeout.  A GSourceFunc. */
gboolean server_conn_resume(gpointer data);

/* Bound the time a frame (or the reply being written) may take. */
void server_timer_start(Conn *conn);
void server_timer_stop(Conn *conn);

/* Quit the main loop once stopping and every connection is gone. */
void server_maybe_finish(Server *server);

/* The main loop's source for the main epoll set. */
gboolean server_epoll_ready(gint fd, GIOCondition cond, gpointer data);

/* ---- server_listen.c: main thread ---- */

void server_listener_watch(Listener *listener);
void server_listener_close(Listener *listener);

/* ---- server_work.c ---- */

/*
 * Hand @conn, waiting for the start of its next request with nothing to
 * send, to the workers.  Returns false with @conn still the caller's when
 * the server is stopping, or when the epoll set refused it (then
 * server_conn_fail() recorded why).  The thread that has @conn.
 */
bool server_conn_arm(Conn *conn);

/* Main thread: run @conn's request, which it finished reading, in the
 * pool. */
void server_conn_dispatch(Conn *conn);

/* The pool's function: run a job (a Job *), @user_data the server. */
void server_job_run(gpointer data, gpointer user_data);

/* Start @n worker threads and the epoll set they wait on. */
bool server_workers_start(Server *server, unsigned n, GError **error);

/* End the worker threads once what they are running is done. */
void server_workers_stop(Server *server);

/* Main thread: a worker said every one is busy.  A GUnixFDSourceFunc. */
gboolean server_overflow_wake(gint fd, GIOCondition cond, gpointer data);

/* Main thread: stop reading the workers' set. */
void server_overflow_end(Server *server);

#endif /* SOFTPR_SERVER_INT_H */
