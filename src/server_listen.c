/*
 * server_listen: the listening Unix sockets: binding one (never over a
 * live daemon's), adopting an inherited one, accepting connections and
 * admitting their peers (peer-uids, peer-groups, max-connections,
 * max-connections-per-peer).  Main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "error.h"
#include "server_int.h"

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

/* A socket listening at @addr (@path, for messages), or -1. */
static int listen_at(const struct sockaddr_un *addr, const char *path,
                     GError **error)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "socket: %s",
                    g_strerror(errno));
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot listen on %s: %s", path, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int server_bind(const char *path, GError **error)
{
    struct sockaddr_un addr;
    struct sockaddr_un tmp;
    g_autofree char *tmp_path = NULL;
    int fd;
    int err;

    if (!socket_address(path, &addr, error) ||
        !socket_path_free(path, &addr, true, error)) {
        return -1;
    }
    /* The file must appear only once a socket listens behind it: libvirt
     * takes its appearance for "the helper is up" and QEMU connects at
     * once, which a socket bound but not yet listening refuses.  So it
     * listens at a name of this process's first and is linked into place
     * (link() never replaces a file another process made meanwhile); a
     * path too long for that name is bound where it is. */
    tmp_path = g_strdup_printf("%s.%d", path, (int)getpid());
    if (!socket_address(tmp_path, &tmp, NULL)) {
        return listen_at(&addr, path, error);
    }
    unlink(tmp_path); /* left by an earlier process with this pid */
    fd = listen_at(&tmp, path, error);
    if (fd < 0) {
        return -1;
    }
    err = link(tmp_path, path) == 0 ? 0 : errno;
    unlink(tmp_path);
    if (err == 0) {
        return fd;
    }
    close(fd);
    if (err == EEXIST) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "%s is in use: another process made it while this one "
                    "was binding",
                    path);
    } else {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot listen on %s: %s", path, g_strerror(err));
    }
    return -1;
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

static gboolean listener_resume(gpointer data);

/*
 * accept() failed with @err on @listener: whether to try again at once.
 * Out of descriptors, accepting pauses for a moment (the source is gone)
 * rather than spin on a socket that stays readable.
 */
static bool accept_failed(Listener *listener, int err)
{
    GSource *pause;

    if (err == EINTR || err == ECONNABORTED) {
        return true;
    }
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        return false;
    }
    refusal_warning(listener->server, "cannot accept a connection: out of "
                                      "file descriptors");
    g_source_destroy(listener->source);
    g_source_unref(listener->source);
    listener->source = NULL;
    pause = g_timeout_source_new(100);
    g_source_set_callback(pause, listener_resume, listener, NULL);
    g_source_attach(pause, listener->server->context);
    g_source_unref(pause);
    return false;
}

/* Who is at the other end of @cfd (pid -1 when unknown). */
static void peer_credentials(int cfd, struct ucred *cred)
{
    socklen_t len = sizeof(*cred);

    memset(cred, 0, sizeof(*cred));
    cred->pid = -1;
    cred->uid = (uid_t)-1;
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, cred, &len) != 0) {
        cred->pid = -1;
    }
}

static gboolean listener_event(gint fd, GIOCondition cond, gpointer data)
{
    Listener *listener = data;
    Server *server = listener->server;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct ucred cred;

        if (cfd < 0) {
            if (accept_failed(listener, errno)) {
                continue;
            }
            return listener->source != NULL ? G_SOURCE_CONTINUE
                                            : G_SOURCE_REMOVE;
        }
        if (g_hash_table_size(server->conns) >= server->max_connections) {
            close(cfd);
            refusal_warning(server, "connection refused: max-connections "
                                    "reached");
            continue;
        }
        peer_credentials(cfd, &cred);
        if (peer_admitted(server, listener, cfd, &cred)) {
            server_conn_open(listener, cfd, cred.pid, cred.uid);
        }
    }
}

void server_listener_watch(Listener *listener)
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
        server_listener_watch(listener);
    }
    return G_SOURCE_REMOVE;
}

void server_listener_close(Listener *listener)
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
