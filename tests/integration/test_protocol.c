/*
 * test_protocol: the pr-helper protocol against a real softprd: what QEMU
 * sends and must get back (QEMU's client, scsi/pr-manager-helper.c, and
 * the server side of scsi/qemu-pr-helper.c), every
 * protocol violation closing only its own connection, descriptors, and
 * clients that stall.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "daemon.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

typedef struct Fixture {
    char *dir;
    TestDaemon *d;
    int disk;
} Fixture;

static int setup_with(void **state, const char *config)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    f->d = testd_start(f->dir, "prh", config, NULL);
    f->disk = testd_disk(f->dir, "disk0.img", O_RDWR);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_patient(void **state)
{
    return setup_with(state, "[daemon]\nrequest-timeout = 600\n");
}

static int setup_impatient(void **state)
{
    return setup_with(state, "[daemon]\nrequest-timeout = 0.2\n");
}

static int setup_four(void **state)
{
    return setup_with(state, "[daemon]\nmax-connections = 4\n");
}

/* One process (the test) opens many connections. */
static int setup_crowd(void **state)
{
    return setup_with(state, "[daemon]\nmax-connections-per-peer = 1000\n");
}

static int teardown(void **state)
{
    Fixture *f = *state;
    int code = testd_stop(f->d);

    if (code != 0) {
        g_autofree char *out = testd_output(f->d);

        fprintf(stderr, "%s", out);
    }
    assert_int_equal(code, 0);
    close(f->disk);
    testd_free(f->d);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* A raw connection that has done the handshake. */
static int raw_connect(Fixture *f)
{
    struct sockaddr_un addr;
    uint8_t word[4];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {30, 0};

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, f->d->socket);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(recv(fd, word, 4, MSG_WAITALL), 4);
    memset(word, 0, sizeof(word));
    assert_int_equal(send(fd, word, 4, MSG_NOSIGNAL), 4);
    return fd;
}

/* Send @len bytes with @n_fds copies of @fd attached. */
static void send_with_fds(int sock, const void *buf, size_t len, int fd,
                          int n_fds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg;
    int i;

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n_fds > 0) {
        struct cmsghdr *cmsg;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        for (i = 0; i < n_fds; i++) {
            memcpy(CMSG_DATA(cmsg) + i * sizeof(int), &fd, sizeof(int));
        }
    }
    assert_int_equal(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* The daemon closed @sock without replying. */
static void assert_closed(int sock)
{
    uint8_t buf[128];

    assert_int_equal(recv(sock, buf, sizeof(buf), 0), 0);
}

/* The daemon still serves: a PR IN on a new connection works. */
static void assert_serving(Fixture *f)
{
    g_autoptr(PrClient) c = testd_connect(f->d);
    ClientReply reply;

    assert_int_equal(testd_prin(c, f->disk, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_GOOD);
}

/* The feature word is written immediately on accept: QEMU waits for it
 * before it sends anything. */
static void test_feature_word_first(void **state)
{
    Fixture *f = *state;
    struct sockaddr_un addr;
    struct pollfd pfd;
    uint8_t word[4] = {0xff, 0xff, 0xff, 0xff};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, f->d->socket);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    pfd.fd = fd;
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 30000), 1);
    assert_int_equal(recv(fd, word, 4, MSG_WAITALL), 4);
    assert_memory_equal(word, "\0\0\0\0", 4);
    close(fd);
}

/* A fresh LU: READ KEYS answers GOOD with an empty 8-byte list. */
static void test_read_keys_new_lu(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    ClientReply reply;

    assert_int_equal(testd_prin(c, f->disk, PR_IN_READ_KEYS, 255, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(reply.data_len, 8);
    assert_memory_equal(reply.data, "\0\0\0\0\0\0\0\0", 8);
}

/* REGISTER, RESERVE and READ RESERVATION through the daemon. */
static void test_register_reserve(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    ClientReply reply;

    assert_int_equal(
        testd_prout(c, f->disk, PR_OUT_REGISTER, 0, 0, 0x5eed, 0, &reply),
        SCSI_STATUS_GOOD);
    assert_int_equal(testd_prout(c, f->disk, PR_OUT_RESERVE,
                                 PR_TYPE_WRITE_EXCLUSIVE_RO, 0x5eed, 0, 0,
                                 &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(
        testd_prin(c, f->disk, PR_IN_READ_RESERVATION, 8192, &reply),
        SCSI_STATUS_GOOD);
    assert_int_equal(reply.data_len, 24);
    assert_int_equal(get_be32(reply.data), 1);
    assert_true(get_be64(reply.data + 8) == 0x5eed);
    assert_int_equal(reply.data[21], PR_TYPE_WRITE_EXCLUSIVE_RO);
    /* A second registration from the same nexus with RK 0 conflicts. */
    assert_int_equal(
        testd_prout(c, f->disk, PR_OUT_REGISTER, 0, 0, 0x1, 0, &reply),
        SCSI_STATUS_RESERVATION_CONFLICT);
}

/* PR OUT through a descriptor opened read-only: 05/20/00, as
 * qemu-pr-helper answers; nothing is registered. */
static void test_pr_out_read_only_fd(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    int ro = testd_disk(f->dir, "disk0.img", O_RDONLY);
    ClientReply reply;
    ScsiSenseCode code;

    assert_int_equal(
        testd_prout(c, ro, PR_OUT_REGISTER, 0, 0, 0x5eed, 0, &reply),
        SCSI_STATUS_CHECK_CONDITION);
    assert_true(scsi_sense_parse(reply.sense, sizeof(reply.sense), &code));
    assert_int_equal(code.key, 0x5);
    assert_int_equal(code.asc, 0x20);
    assert_int_equal(code.ascq, 0x00);
    /* Fixed format, ADDITIONAL SENSE LENGTH 10, zero-padded to 96. */
    assert_int_equal(reply.sense[0], 0x70);
    assert_int_equal(reply.sense[7], 0x0a);
    assert_int_equal(reply.sense[95], 0);
    /* PR IN through it works. */
    assert_int_equal(testd_prin(c, ro, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 0);
    close(ro);
}

/* The descriptor may come with any chunk of the CDB. */
static void test_fd_on_later_chunk(void **state)
{
    Fixture *f = *state;
    int sock = raw_connect(f);
    uint8_t cdb[CDB_LEN];
    uint8_t reply[WIRE_REPLY_HEADER_LEN + 8];

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    send_with_fds(sock, cdb, 4, -1, 0);
    send_with_fds(sock, cdb + 4, 12, f->disk, 1);
    assert_int_equal(recv(sock, reply, sizeof(reply), MSG_WAITALL),
                     (ssize_t)sizeof(reply));
    assert_int_equal(get_be32(reply), SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply + 4), 8);
    close(sock);
}

typedef enum Violation {
    NO_FD,
    TWO_FDS,
    OTHER_OPCODE,
    ALLOCATION_TOO_LONG,
    PARAMETERS_TOO_LONG,
    EOF_MID_CDB,
    EOF_MID_PARAMETERS,
    FD_WITH_PARAMETERS,
} Violation;

static void violate(Fixture *f, Violation v)
{
    int sock = raw_connect(f);
    uint8_t cdb[CDB_LEN];
    uint8_t param[24] = {0};

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    switch (v) {
    case NO_FD:
        send_with_fds(sock, cdb, 16, -1, 0);
        break;
    case TWO_FDS:
        send_with_fds(sock, cdb, 16, f->disk, 2);
        break;
    case OTHER_OPCODE:
        cdb[0] = 0x12;
        send_with_fds(sock, cdb, 16, f->disk, 1);
        break;
    case ALLOCATION_TOO_LONG:
        cdb_pr_in(cdb, PR_IN_READ_KEYS, 8193);
        send_with_fds(sock, cdb, 16, f->disk, 1);
        break;
    case PARAMETERS_TOO_LONG:
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 8193);
        send_with_fds(sock, cdb, 16, f->disk, 1);
        break;
    case EOF_MID_CDB:
        send_with_fds(sock, cdb, 7, f->disk, 1);
        shutdown(sock, SHUT_WR);
        break;
    case EOF_MID_PARAMETERS:
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
        send_with_fds(sock, cdb, 16, f->disk, 1);
        send_with_fds(sock, param, 10, -1, 0);
        shutdown(sock, SHUT_WR);
        break;
    case FD_WITH_PARAMETERS:
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
        send_with_fds(sock, cdb, 16, f->disk, 1);
        send_with_fds(sock, param, 24, f->disk, 1);
        break;
    }
    assert_closed(sock);
    close(sock);
    assert_serving(f);
}

/* Each violation closes that one connection; the daemon keeps serving
 * and logs what happened (qemu-pr-helper's messages where it has one). */
static void test_violations_close_connection(void **state)
{
    Fixture *f = *state;
    Violation v;

    for (v = NO_FD; v <= FD_WITH_PARAMETERS; v++) {
        violate(f, v);
    }
    assert_true(
        testd_wait_output(f->d, "No file descriptor in request.", 30000));
    assert_true(testd_wait_output(f->d, "Invalid CDB, closing socket.", 30000));
    assert_true(
        testd_wait_output(f->d, "More than one file descriptor", 30000));
    assert_true(testd_wait_output(f->d, "end of file in the middle", 30000));
    /* Nothing was registered by the aborted PR OUTs. */
    {
        g_autoptr(PrClient) c = testd_connect(f->d);
        ClientReply reply;

        testd_prin(c, f->disk, PR_IN_READ_KEYS, 8, &reply);
        assert_int_equal(get_be32(reply.data + 4), 0);
    }
}

/* A requested feature the daemon does not grant closes the connection. */
static void test_unsupported_feature(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    PrClient *c = client_connect(f->d->socket, 0x1, 30000, &error);
    uint8_t buf[4];

    assert_non_null(c);
    assert_int_equal(client_server_features(c), 0);
    assert_int_equal(recv(client_socket(c), buf, sizeof(buf), 0), 0);
    client_close(c);
    assert_serving(f);
}

/* Allocation lengths up to 8192 are served; the payload never exceeds
 * the allocation length (QEMU asserts it) and ADDITIONAL LENGTH is whole. */
static void test_allocation_lengths(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    ClientReply reply;
    unsigned alloc;

    testd_prout(c, f->disk, PR_OUT_REGISTER, 0, 0, 0x1234, 0, &reply);
    for (alloc = 0; alloc <= 20; alloc++) {
        assert_int_equal(testd_prin(c, f->disk, PR_IN_READ_FULL_STATUS,
                                    (uint16_t)alloc, &reply),
                         SCSI_STATUS_GOOD);
        assert_true(reply.data_len <= alloc);
    }
    assert_int_equal(testd_prin(c, f->disk, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(reply.data_len, 16);
    assert_int_equal(testd_prin(c, f->disk, PR_IN_READ_KEYS, 10, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(reply.data_len, 10);
    assert_int_equal(get_be32(reply.data + 4), 8);
}

static guint count_fds(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    GDir *dir = g_dir_open(path, 0, NULL);
    guint n = 0;

    assert_non_null(dir);
    while (g_dir_read_name(dir) != NULL) {
        n++;
    }
    g_dir_close(dir);
    return n;
}

/* Received descriptors are closed after each command, and their status
 * flags (shared with QEMU's open file) are never changed. */
static void test_descriptors_closed_flags_kept(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    int nonblock = testd_disk(f->dir, "disk0.img", O_RDWR | O_NONBLOCK);
    ClientReply reply;
    guint before;
    guint after;
    int i;

    /* Warm up: the workers open their database connections. */
    testd_prin(c, f->disk, PR_IN_READ_KEYS, 8, &reply);
    testd_prout(c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0, 0x1000, 0, &reply);
    before = count_fds(f->d->pid);
    for (i = 0; i < 100; i++) {
        testd_prin(c, nonblock, PR_IN_READ_KEYS, 8, &reply);
        testd_prout(c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0, (uint64_t)i + 1,
                    0, &reply);
        assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    }
    after = count_fds(f->d->pid);
    /* A worker writing a group answers before it returns its database
     * connection, so another worker may open its own (one per worker, at
     * most 4 by default); 200 descriptors were received. */
    assert_true(after >= before && after <= before + 3);
    assert_true(fcntl(nonblock, F_GETFL) & O_NONBLOCK);
    assert_false(fcntl(f->disk, F_GETFL) & O_NONBLOCK);
    close(nonblock);
}

/*
 * A client stuck in the middle of a request delays nobody: another
 * connection is served while it waits, and it is served when it goes on.
 */
static void test_stalled_client_does_not_block_others(void **state)
{
    Fixture *f = *state;
    int stalled = raw_connect(f);
    g_autoptr(PrClient) c = testd_connect(f->d);
    uint8_t cdb[CDB_LEN];
    uint8_t reply_buf[WIRE_REPLY_HEADER_LEN];
    ClientReply reply;
    int i;

    cdb_pr_in(cdb, PR_IN_REPORT_CAPABILITIES, 0);
    send_with_fds(stalled, cdb, 5, f->disk, 1);
    for (i = 0; i < 20; i++) {
        assert_int_equal(testd_prout(c, f->disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                                     (uint64_t)i + 1, 0, &reply),
                         SCSI_STATUS_GOOD);
    }
    /* The stalled connection is still open and unanswered. */
    assert_int_equal(recv(stalled, reply_buf, 1, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    send_with_fds(stalled, cdb + 5, 11, -1, 0);
    assert_int_equal(recv(stalled, reply_buf, sizeof(reply_buf), MSG_WAITALL),
                     (ssize_t)sizeof(reply_buf));
    assert_int_equal(get_be32(reply_buf), SCSI_STATUS_GOOD);
    close(stalled);
}

/* A request that starts but never completes is closed after the request
 * timeout, with a log line. */
static void test_request_timeout(void **state)
{
    Fixture *f = *state;
    int stalled = raw_connect(f);
    uint8_t cdb[CDB_LEN];

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    send_with_fds(stalled, cdb, 3, f->disk, 1);
    assert_closed(stalled);
    close(stalled);
    assert_true(testd_wait_output(f->d, "incomplete after", 30000));
    assert_serving(f);
}

/* Many connections with commands in flight at once. */
static void test_many_connections(void **state)
{
    Fixture *f = *state;
    enum { N = 64 };
    int socks[N];
    uint8_t cdb[CDB_LEN];
    int i;

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    for (i = 0; i < N; i++) {
        socks[i] = raw_connect(f);
    }
    for (i = 0; i < N; i++) {
        send_with_fds(socks[i], cdb, 16, f->disk, 1);
    }
    for (i = 0; i < N; i++) {
        uint8_t reply[WIRE_REPLY_HEADER_LEN + 8];

        assert_int_equal(recv(socks[i], reply, sizeof(reply), MSG_WAITALL),
                         (ssize_t)sizeof(reply));
        assert_int_equal(get_be32(reply), SCSI_STATUS_GOOD);
        close(socks[i]);
    }
}

/* Beyond max-connections a new connection is closed at once; when one
 * goes, a new one is accepted again. */
static void test_max_connections(void **state)
{
    Fixture *f = *state;
    PrClient *held[4];
    PrClient *extra = NULL;
    int i;

    /* The start-up probe's connection may not be reaped yet: retry. */
    for (i = 0; i < 4; i++) {
        int tries;

        held[i] = NULL;
        for (tries = 0; tries < 3000 && held[i] == NULL; tries++) {
            held[i] = client_connect(f->d->socket, 0, 30000, NULL);
            if (held[i] == NULL) {
                g_usleep(10000);
            }
        }
        assert_non_null(held[i]);
    }
    assert_null(client_connect(f->d->socket, 0, 30000, NULL));
    client_close(held[0]);
    for (i = 0; i < 3000 && extra == NULL; i++) {
        extra = client_connect(f->d->socket, 0, 30000, NULL);
        if (extra == NULL) {
            g_usleep(10000);
        }
    }
    assert_non_null(extra);
    client_close(extra);
    for (i = 1; i < 4; i++) {
        client_close(held[i]);
    }
    assert_true(testd_wait_output(f->d, "max-connections reached", 30000));
}

/*
 * A client that may only read a file (a root-owned 0644 file, opened
 * O_RDONLY) makes the daemon write nothing to it: a PR IN identifies it
 * without creating user.softpr.lu, a PR OUT through that descriptor is
 * refused (05/20/00, as qemu-pr-helper refuses it) before anything is
 * written.  A PR OUT through a descriptor open for writing labels it.
 */
static void test_read_only_client_writes_nothing(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    g_autofree char *path = g_build_filename(f->dir, "readonly.img", NULL);
    ClientReply reply;
    ScsiSenseCode code;
    char value[256];
    int ro;
    int rw;

    rw = testd_disk(f->dir, "readonly.img", O_RDWR);
    if (fsetxattr(rw, "user.softpr.probe", "x", 1, 0) != 0) {
        close(rw);
        skip();
    }
    assert_int_equal(fremovexattr(rw, "user.softpr.probe"), 0);
    assert_int_equal(chmod(path, 0644), 0);
    ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);

    assert_int_equal(testd_prin(c, ro, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(testd_prin(c, ro, PR_IN_READ_RESERVATION, 8, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(fgetxattr(ro, "user.softpr.lu", value, sizeof(value)), -1);
    assert_int_equal(errno, ENODATA);

    assert_int_equal(testd_prout(c, ro, PR_OUT_REGISTER, 0, 0, 0x77, 0, &reply),
                     SCSI_STATUS_CHECK_CONDITION);
    assert_true(scsi_sense_parse(reply.sense, sizeof(reply.sense), &code));
    assert_int_equal(code.key, 0x5);
    assert_int_equal(code.asc, 0x20);
    assert_int_equal(fgetxattr(ro, "user.softpr.lu", value, sizeof(value)), -1);
    assert_int_equal(errno, ENODATA);

    assert_int_equal(testd_prout(c, rw, PR_OUT_REGISTER, 0, 0, 0x77, 0, &reply),
                     SCSI_STATUS_GOOD);
    assert_true(fgetxattr(ro, "user.softpr.lu", value, sizeof(value)) > 0);
    /* Labelled now, the read-only descriptor reaches the same LU. */
    assert_int_equal(testd_prin(c, ro, PR_IN_READ_KEYS, 16, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    close(ro);
    close(rw);
}

/*
 * cp -a copies user.softpr.lu: two different files would be one LU
 * without a word.  The first command through the copy still reaches
 * that LU (the attribute says so), and the log names both files and how
 * to part them; a hard link (the same file) is no copy and gets no
 * warning.
 */
static void test_copied_attribute_warned(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    g_autofree char *orig = g_build_filename(f->dir, "orig.img", NULL);
    g_autofree char *copy = g_build_filename(f->dir, "copy.img", NULL);
    g_autofree char *link_path = g_build_filename(f->dir, "link.img", NULL);
    g_autofree char *cp = g_strdup_printf("cp -a %s %s", orig, copy);
    g_autofree char *out = NULL;
    ClientReply reply;
    int fd;
    int copy_fd;
    int link_fd;

    fd = testd_disk(f->dir, "orig.img", O_RDWR);
    if (fsetxattr(fd, "user.softpr.probe", "x", 1, 0) != 0) {
        close(fd);
        skip();
    }
    assert_int_equal(fremovexattr(fd, "user.softpr.probe"), 0);
    assert_int_equal(testd_prout(c, fd, PR_OUT_REGISTER, 0, 0, 0x42, 0, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(link(orig, link_path), 0);
    link_fd = open(link_path, O_RDWR | O_CLOEXEC);
    assert_int_equal(testd_prin(c, link_fd, PR_IN_READ_KEYS, 16, &reply),
                     SCSI_STATUS_GOOD);
    assert_true(g_spawn_command_line_sync(cp, NULL, NULL, NULL, NULL));
    copy_fd = open(copy, O_RDWR | O_CLOEXEC);
    assert_true(copy_fd >= 0);
    assert_int_equal(testd_prin(c, copy_fd, PR_IN_READ_KEYS, 16, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_true(testd_wait_output(f->d, "copy made with cp -a", 30000));
    out = testd_output(f->d);
    assert_non_null(strstr(out, copy));
    assert_non_null(strstr(out, "setfattr -x user.softpr.lu"));
    /* One warning, about the copy: the hard link is the same file. */
    assert_null(strstr(strstr(out, "copy made with cp -a") + 1,
                       "copy made with cp -a"));
    assert_null(strstr(out, "link.img and"));
    close(copy_fd);
    close(link_fd);
    close(fd);
}

/* A descriptor that is not a disk gets LOGICAL UNIT NOT SUPPORTED. */
static void test_not_a_disk(void **state)
{
    Fixture *f = *state;
    g_autoptr(PrClient) c = testd_connect(f->d);
    ClientReply reply;
    int fds[2];
    ScsiSenseCode code;

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(testd_prin(c, fds[0], PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_CHECK_CONDITION);
    assert_true(scsi_sense_parse(reply.sense, sizeof(reply.sense), &code));
    assert_int_equal(code.key, 0x5);
    assert_int_equal(code.asc, 0x25);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_feature_word_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_keys_new_lu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pr_out_read_only_fd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fd_on_later_chunk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_violations_close_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_feature, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_allocation_lengths, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_descriptors_closed_flags_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stalled_client_does_not_block_others, setup_patient, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout, setup_impatient,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_connections, setup_crowd,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup_four,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_a_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_client_writes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_attribute_warned, setup,
                                        teardown),
    };

    return TESTUTIL_RUN("protocol", tests, NULL, NULL);
}
