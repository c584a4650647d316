/*
 * server_io: one connection's socket I/O: reading what a frame still
 * needs with the descriptors that come with it (SCM_RIGHTS), and sending
 * what the socket takes of a reply.  The thread that has the connection;
 * nothing here touches anything but that connection.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_int.h"

static void close_fds(const int *fds, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/*
 * The descriptors @msg carries, at most MAX_FDS_PER_READ of them in
 * @fds (*@n_fds); any beyond are closed.
 */
static void take_fds(struct msghdr *msg, int *fds, unsigned *n_fds)
{
    struct cmsghdr *cmsg;

    *n_fds = 0;
    for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
         cmsg = CMSG_NXTHDR(msg, cmsg)) {
        unsigned count;
        unsigned i;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < count; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (*n_fds < MAX_FDS_PER_READ) {
                fds[(*n_fds)++] = fd;
            } else {
                close(fd);
            }
        }
    }
}

/*
 * Keep the request's one descriptor of the @n_fds received (@fds); the
 * reader judges the count.  The rest are closed.
 */
static void keep_request_fd(Conn *conn, const int *fds, unsigned n_fds)
{
    if (n_fds > 0 && conn->reader.phase == WIRE_PHASE_CDB &&
        conn->request_fd < 0) {
        conn->request_fd = fds[0];
        close_fds(fds + 1, n_fds - 1);
    } else {
        close_fds(fds, n_fds);
    }
}

/* What the reader made of the bytes fed to it. */
static RecvResult recv_result(Conn *conn, WireEvent ev)
{
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
        server_conn_fail(conn, true, wire_event_describe(ev));
        return RECV_END;
    }
}

/* recvmsg() failed with errno @err. */
static RecvResult recv_failed(Conn *conn, int err)
{
    if (err == EINTR) {
        return RECV_RETRY;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
        return RECV_WAIT;
    }
    server_conn_fail(conn, false, g_strerror(err));
    return RECV_END;
}

/* The client closed its end (@fds came with it). */
static RecvResult recv_eof(Conn *conn, const int *fds, unsigned n_fds)
{
    close_fds(fds, n_fds);
    if (wire_reader_mid_frame(&conn->reader)) {
        server_conn_fail(conn, true, "end of file in the middle of a request");
    } else {
        server_conn_fail(conn, false, "closed by the client");
    }
    return RECV_END;
}

RecvResult server_conn_recv(Conn *conn)
{
    uint8_t buf[WIRE_DATA_MAX];
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_READ)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = buf,
                        .iov_len = wire_reader_want(&conn->reader)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    int fds[MAX_FDS_PER_READ];
    unsigned n_fds;
    unsigned lost = 0; /* descriptors sent but not received */
    bool starts_request = conn->reader.phase == WIRE_PHASE_CDB &&
                          !wire_reader_mid_frame(&conn->reader);
    ssize_t n = recvmsg(conn->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

    if (n < 0) {
        return recv_failed(conn, errno);
    }
    if (starts_request) {
        /* Read as soon as it arrives (the workers, else the main thread). */
        conn->request_started = g_get_monotonic_time();
    }
    take_fds(&msg, fds, &n_fds);
    if ((msg.msg_flags & MSG_CTRUNC) && n_fds > 0) {
        /* There was room for more than one: more than one was sent. */
        close_fds(fds, n_fds);
        server_conn_fail(conn, true,
                         "More than one file descriptor in request.");
        return RECV_END;
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        /* Sent, but not one could be installed: this process is out of
         * descriptors (EMFILE, ENFILE).  The request goes on without it
         * and is answered BUSY (dispatch_run), so that the guest
         * retries. */
        lost = 1;
    }
    if (n == 0) {
        return recv_eof(conn, fds, n_fds);
    }
    keep_request_fd(conn, fds, n_fds);
    return recv_result(
        conn, wire_reader_feed(&conn->reader, buf, (size_t)n, n_fds + lost));
}

int server_conn_send_pending(Conn *conn)
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
