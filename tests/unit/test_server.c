/*
 * test_server: the listening sockets of the server's transport
 * (server_listen.c): a second daemon never takes over a live daemon's
 * socket path, a stale socket file is replaced (by a socket that listens
 * as soon as its file exists, leaving no other name behind), a file that
 * is not a socket is kept, and an inherited descriptor (socket
 * activation) is taken only when it is a listening Unix stream socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"

#include "error.h"
#include "server.h"

typedef struct Fixture {
    char *dir;
    char *path; /* dir/s.sock, not created */
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    f->path = g_build_filename(f->dir, "s.sock", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->path);
    g_free(f);
    return 0;
}

/* Whether a client can connect to @path now. */
static bool accepts(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

/* A socket file at @path whose server is gone. */
static void make_stale(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
}

/* @dir holds @name and nothing else (no private name left behind). */
static void assert_only_entry(const char *dir, const char *name)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);

    assert_non_null(d);
    assert_string_equal(g_dir_read_name(d), name);
    assert_null(g_dir_read_name(d));
}

/* A live daemon's socket is refused, and keeps serving. */
static void test_bind_refuses_live_socket(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    int live = server_bind(f->path, NULL);

    assert_true(live >= 0);
    assert_false(server_socket_path_free(f->path, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG));
    g_clear_error(&error);
    assert_int_equal(server_bind(f->path, &error), -1);
    assert_non_null(strstr(error->message, "is in use"));
    assert_true(accepts(f->path));
    close(live);
}

/* A socket file left behind (connecting is refused) is replaced. */
static void test_bind_replaces_stale_socket(void **state)
{
    Fixture *f = *state;
    int fd;

    make_stale(f->path);
    assert_false(accepts(f->path));
    assert_true(server_socket_path_free(f->path, NULL));
    /* Only checked: still there. */
    assert_true(g_file_test(f->path, G_FILE_TEST_EXISTS));
    fd = server_bind(f->path, NULL);
    assert_true(fd >= 0);
    assert_true(accepts(f->path));
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_only_entry(f->dir, "s.sock");
    close(fd);
}

/* A file that is not a socket is never replaced. */
static void test_bind_keeps_other_file(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;

    assert_true(g_file_set_contents(f->path, "data", -1, NULL));
    assert_int_equal(server_bind(f->path, &error), -1);
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG));
    assert_true(g_file_test(f->path, G_FILE_TEST_IS_REGULAR));
}

/* Socket activation: a listening Unix stream socket is taken (made
 * non-blocking); a connected socket or a pipe is refused. */
static void test_adopt_listener(void **state)
{
    Fixture *f = *state;
    g_autoptr(GError) error = NULL;
    int pair[2];
    int fd = server_bind(f->path, NULL);
    int flags;

    assert_true(fd >= 0);
    flags = fcntl(fd, F_GETFL);
    assert_int_equal(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK), 0);
    assert_true(server_adopt_listener(fd, NULL));
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_false(server_adopt_listener(pair[0], &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG));
    g_clear_error(&error);
    close(pair[0]);
    close(pair[1]);
    assert_int_equal(pipe(pair), 0);
    assert_false(server_adopt_listener(pair[0], &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG));
    close(pair[0]);
    close(pair[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bind_refuses_live_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bind_replaces_stale_socket, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bind_keeps_other_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adopt_listener, setup, teardown),
    };

    return TESTUTIL_RUN("server", tests, NULL, NULL);
}
