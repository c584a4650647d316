/*
 * client: a pr-helper protocol client over a blocking Unix socket.
 */
#include "client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "scsi.h"

struct PrClient {
    int fd;
    uint32_t server_features;
};

static bool io_error(GError **error, const char *what, ssize_t n)
{
    if (n == 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL,
                    "%s: the daemon closed the connection", what);
    } else {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL, "%s: %s", what,
                    errno == EAGAIN ? "timed out" : g_strerror(errno));
    }
    return false;
}

static bool read_all(int fd, void *buf, size_t len, const char *what,
                     GError **error)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return io_error(error, what, n);
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_all(int fd, const void *buf, size_t len, const char *what,
                      GError **error)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return io_error(error, what, n < 0 ? -1 : 0);
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

PrClient *client_connect(const char *socket_path, uint32_t features,
                         unsigned timeout_ms, GError **error)
{
    g_autoptr(PrClient) client = g_new0(PrClient, 1);
    struct sockaddr_un addr;
    struct timeval tv;
    uint8_t word[WIRE_FEATURES_LEN];

    client->fd = -1;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof(addr.sun_path)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "socket path %s is too long", socket_path);
        return NULL;
    }
    strcpy(addr.sun_path, socket_path);
    client->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client->fd < 0 ||
        connect(client->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "Failed to connect to '%s': %s", socket_path,
                    g_strerror(errno));
        return NULL;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    setsockopt(client->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(client->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!read_all(client->fd, word, sizeof(word), "reading the feature word",
                  error)) {
        return NULL;
    }
    client->server_features = wire_features_decode(word);
    wire_features_encode(word, features);
    if (!write_all(client->fd, word, sizeof(word), "requesting features",
                   error)) {
        return NULL;
    }
    return g_steal_pointer(&client);
}

PrClient *client_connect_as(const char *socket_path,
                            const TransportId *initiator, unsigned timeout_ms,
                            GError **error)
{
    g_autoptr(PrClient) client = client_connect(
        socket_path, WIRE_FEATURE_INITIATOR_ID, timeout_ms, error);
    uint8_t decl[2 + TID_ENCODED_MAX];
    uint8_t answer[WIRE_FEATURES_LEN];
    size_t len;

    if (client == NULL) {
        return NULL;
    }
    if (!(client->server_features & WIRE_FEATURE_INITIATOR_ID)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL,
                    "%s does not let clients declare their initiator (its "
                    "identity policy is not 'client')",
                    socket_path);
        return NULL;
    }
    len = tid_encode(initiator, decl + 2);
    decl[0] = (uint8_t)(len >> 8);
    decl[1] = (uint8_t)len;
    if (!write_all(client->fd, decl, 2 + len, "declaring the initiator",
                   error) ||
        !read_all(client->fd, answer, sizeof(answer),
                  "reading the answer to the initiator declaration", error)) {
        return NULL;
    }
    if (wire_features_decode(answer) != WIRE_IDENTITY_ACCEPTED) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL,
                    "the daemon did not accept the initiator (answer %u)",
                    wire_features_decode(answer));
        return NULL;
    }
    return g_steal_pointer(&client);
}

uint32_t client_server_features(const PrClient *client)
{
    return client->server_features;
}

int client_socket(const PrClient *client)
{
    return client->fd;
}

bool client_send(PrClient *client, const uint8_t *cdb, int disk_fd,
                 const uint8_t *data, size_t data_len, GError **error)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cmsg;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    memset(&control, 0, sizeof(control));
    iov.iov_base = (void *)cdb;
    iov.iov_len = WIRE_CDB_LEN;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &disk_fd, sizeof(int));
    do {
        n = sendmsg(client->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return io_error(error, "sending the CDB", -1);
    }
    /* The descriptor went with the first chunk; the rest follows. */
    if ((size_t)n < WIRE_CDB_LEN &&
        !write_all(client->fd, cdb + n, WIRE_CDB_LEN - (size_t)n,
                   "sending the CDB", error)) {
        return false;
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT && data_len > 0 &&
        !write_all(client->fd, data, data_len, "sending parameters", error)) {
        return false;
    }
    return true;
}

bool client_receive(PrClient *client, const uint8_t *cdb, ClientReply *reply,
                    GError **error)
{
    uint8_t header[WIRE_REPLY_HEADER_LEN];
    WireReplyHeader h;
    bool pr_in = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    size_t alloc = wire_transfer_length(cdb);

    if (!read_all(client->fd, header, sizeof(header), "reading the reply",
                  error)) {
        return false;
    }
    wire_reply_header_decode(header, &h);
    if (h.status < 0 || h.status > 0xff) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL,
                    "the daemon answered status %d", h.status);
        return false;
    }
    /* What QEMU asserts (a failure would abort the VM). */
    if (h.size < 0 || (pr_in && (size_t)h.size > alloc) ||
        (!pr_in && h.size != 0)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_PROTOCOL,
                    "the daemon answered %d payload bytes to %s with "
                    "allocation length %zu",
                    h.size, pr_in ? "PR IN" : "PR OUT", alloc);
        return false;
    }
    reply->status = (uint8_t)h.status;
    memcpy(reply->sense, h.sense, sizeof(reply->sense));
    reply->data_len = (size_t)h.size;
    return read_all(client->fd, reply->data, reply->data_len,
                    "reading the payload", error);
}

bool client_command(PrClient *client, const uint8_t *cdb, int disk_fd,
                    const uint8_t *data, size_t data_len, ClientReply *reply,
                    GError **error)
{
    return client_send(client, cdb, disk_fd, data, data_len, error) &&
           client_receive(client, cdb, reply, error);
}

void client_close(PrClient *client)
{
    if (client == NULL) {
        return;
    }
    if (client->fd >= 0) {
        close(client->fd);
    }
    g_free(client);
}
