/*
 * test_qemu: Debian's QEMU (qemu-system-x86_64 -machine none) creates
 * pr-manager-helper objects against a real softprd, and QMP's
 * query-pr-managers reports them connected; across a softprd restart a
 * new object connects again.  QMP answers are parsed with sqlite's JSON
 * functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"

typedef struct Qemu {
    pid_t pid;
    int qmp;
    FILE *in;
    char *log;
} Qemu;

static const char *qemu_binary(void)
{
    const char *bin = g_getenv("SOFTPR_QEMU");

    return bin != NULL ? bin : "qemu-system-x86_64";
}

/* Read QMP lines until a command's answer (skipping events). */
static char *qmp_answer(Qemu *q)
{
    char line[65536];

    while (fgets(line, sizeof(line), q->in) != NULL) {
        g_autofree char *ret = testutil_json_text(line, "$.return");
        g_autofree char *err = testutil_json_text(line, "$.error");

        if (ret != NULL || err != NULL) {
            return g_strdup(g_strstrip(line));
        }
    }
    fail_msg("QMP connection closed");
    return NULL;
}

/* Send @command (with its newline, in one write: QEMU acts on a
 * command as soon as its JSON object is complete). */
static void qmp_send(Qemu *q, const char *command)
{
    g_autofree char *line = g_strconcat(command, "\n", NULL);
    size_t len = strlen(line);

    assert_int_equal(send(q->qmp, line, len, MSG_NOSIGNAL), (ssize_t)len);
}

static char *qmp(Qemu *q, const char *command)
{
    qmp_send(q, command);
    return qmp_answer(q);
}

static Qemu *qemu_start(const char *dir, const char *pr_socket)
{
    Qemu *q = g_new0(Qemu, 1);
    g_autofree char *qmp_path = g_build_filename(dir, "qmp.sock", NULL);
    g_autofree char *object =
        g_strdup_printf("pr-manager-helper,id=pr0,path=%s", pr_socket);
    g_autofree char *qmp_arg =
        g_strdup_printf("unix:%s,server=on,wait=off", qmp_path);
    struct sockaddr_un addr;
    char greeting[4096];
    int i;

    q->log = g_build_filename(dir, "qemu.log", NULL);
    q->pid = fork();
    if (q->pid == 0) {
        int fd = open(q->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        testutil_die_with_parent();

        dup2(fd, 1);
        dup2(fd, 2);
        execlp(qemu_binary(), qemu_binary(), "-nodefaults", "-display", "none",
               "-machine", "none", "-object", object, "-qmp", qmp_arg,
               (char *)NULL);
        fprintf(stderr, "cannot run %s: %s (install qemu-system-x86)\n",
                qemu_binary(), g_strerror(errno));
        _exit(127);
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, qmp_path);
    q->qmp = -1;
    for (i = 0; i < 6000; i++) {
        int status;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            q->qmp = fd;
            break;
        }
        close(fd);
        if (waitpid(q->pid, &status, WNOHANG) == q->pid) {
            g_autofree char *text = NULL;

            g_file_get_contents(q->log, &text, NULL, NULL);
            fail_msg("QEMU exited:\n%s", text);
        }
        g_usleep(10000);
    }
    assert_true(q->qmp >= 0);
    q->in = fdopen(dup(q->qmp), "r");
    assert_non_null(fgets(greeting, sizeof(greeting), q->in));
    assert_non_null(strstr(greeting, "\"QMP\""));
    g_free(qmp(q, "{\"execute\": \"qmp_capabilities\"}"));
    return q;
}

static void qemu_quit(Qemu *q)
{
    int status = 0;

    /* QEMU may exit before its answer to quit is read: just wait. */
    qmp_send(q, "{\"execute\": \"quit\"}");
    fclose(q->in);
    close(q->qmp);
    assert_int_equal(waitpid(q->pid, &status, 0), q->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_free(q->log);
    g_free(q);
}

/* The "connected" member of the query-pr-managers entry @id, or NULL. */
static char *manager_connected(const char *answer, const char *id)
{
    return testutil_sql_text("SELECT json_extract(value, '$.connected') "
                             "FROM json_each(?1, '$.return') "
                             "WHERE json_extract(value, '$.id') = ?2",
                             answer, id);
}

/* query-pr-managers lists @id as connected. */
static void assert_connected(Qemu *q, const char *id)
{
    g_autofree char *answer = qmp(q, "{\"execute\": \"query-pr-managers\"}");
    g_autofree char *connected = manager_connected(answer, id);

    print_message("QEMU answered: %s\n", answer);
    assert_non_null(connected);
    assert_string_equal(connected, "1");
}

/*
 * QEMU creates pr-manager-helper objects (at start-up and hot-plugged)
 * against softprd, and query-pr-managers reports them connected; after
 * softprd restarts, a new object connects to the new daemon.
 */
static void test_query_pr_managers(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    TestDaemon *d = testd_start(dir, "prh", NULL, NULL);
    Qemu *q = qemu_start(dir, d->socket);
    g_autofree char *add = NULL;
    g_autofree char *answer = NULL;

    assert_connected(q, "pr0");

    add = g_strdup_printf("{\"execute\": \"object-add\", \"arguments\": "
                          "{\"qom-type\": \"pr-manager-helper\", "
                          "\"id\": \"pr1\", \"path\": \"%s\"}}",
                          d->socket);
    answer = qmp(q, add);
    assert_non_null(strstr(answer, "\"return\": {}"));
    assert_connected(q, "pr1");

    /* Restart: a new pr-manager object reaches the new daemon. */
    assert_int_equal(testd_stop(d), 0);
    testd_free(d);
    d = testd_start(dir, "prh", NULL, NULL);
    g_free(add);
    g_free(answer);
    add = g_strdup_printf("{\"execute\": \"object-add\", \"arguments\": "
                          "{\"qom-type\": \"pr-manager-helper\", "
                          "\"id\": \"pr2\", \"path\": \"%s\"}}",
                          d->socket);
    answer = qmp(q, add);
    assert_non_null(strstr(answer, "\"return\": {}"));
    assert_connected(q, "pr2");

    qemu_quit(q);
    assert_int_equal(testd_stop(d), 0);
    testd_free(d);
    testutil_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_pr_managers),
    };

    return TESTUTIL_RUN("qemu", tests, NULL, NULL);
}
