/*
 * test_preload: libsoftpr-preload.so as users start it, preloaded into
 * Debian's unmodified sg3-utils and fence-agents, on a disk image and on
 * loop devices over it (losetup: root), against real softprd processes.
 *
 * - A file and every loop device over it are one LU for softprd, and the
 *   VPD page 83h designator names that LU wherever it is opened.
 * - TEST UNIT READY, INQUIRY, READ CAPACITY are answered as a disk would;
 *   anything else is INVALID COMMAND OPERATION CODE; a descriptor not in
 *   SOFTPR_DEVICES is left to the C library.
 * - A daemon that is absent, silent or refuses the initiator costs the
 *   tool an I/O error and one line naming the socket, never a hang.
 * - sg_persist, every PR IN and PR OUT action with and without -n, on a
 *   loop device prints and exits as `softpr persist` does for the same
 *   state; sg_turs is GOOD.
 * - fence_scsi, three nodes, each with its own loop device and its own
 *   /run, as Pacemaker runs it: on, status, off, monitor, on again.
 *
 * Tests skip with a line saying why when sg3-utils, fence-agents, root
 * or loop devices are missing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "daemon.h"
#include "tool.h"

#include "identity.h"

#define SG_PERSIST "/usr/bin/sg_persist"
#define FENCE_SCSI "/usr/sbin/fence_scsi"
#define DISK_SIZE (64 << 20)

#define NODE1 "iqn.2024-01.org.example:node1"
#define NODE2 "iqn.2024-01.org.example:node2"
#define NODE3 "iqn.2024-01.org.example:node3"
#define NODE4 "iqn.2024-01.org.example:node4"

static const char *const client_identity[] = {"--identity", "client", NULL};

typedef struct Fixture {
    char *dir;
    char *disk;    /* the shared disk image */
    char *preload; /* absolute path of libsoftpr-preload.so */
    char *loops[3];
    TestDaemon *d;
    TestDaemon *other; /* the second daemon of a comparison */
} Fixture;

static void skip_because(const char *why)
{
    printf("test_preload: SKIP: %s\n", why);
    skip();
}

static void require_program(const char *path, const char *package)
{
    if (!g_file_test(path, G_FILE_TEST_IS_EXECUTABLE)) {
        g_autofree char *why = g_strdup_printf(
            "%s is not installed (apt-get install %s)", path, package);

        skip_because(why);
    }
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *lib =
        g_build_filename(testutil_build_dir(), "libsoftpr-preload.so", NULL);
    g_autofree char *dir = testutil_tmpdir();
    int fd;

    /* Canonical, as the library and softprd see it. */
    f->dir = realpath(dir, NULL);
    f->disk = g_build_filename(f->dir, "disk.img", NULL);
    fd = open(f->disk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
    close(fd);
    f->preload = g_path_is_absolute(lib) ? g_strdup(lib)
                                         : g_build_filename(cwd, lib, NULL);
    assert_true(g_file_test(f->preload, G_FILE_TEST_IS_REGULAR));
    *state = f;
    return 0;
}

static void stop_daemon(TestDaemon **d)
{
    if (*d != NULL) {
        assert_int_equal(testd_stop(*d), 0);
        testd_free(*d);
        *d = NULL;
    }
}

static int teardown(void **state)
{
    Fixture *f = *state;

    stop_daemon(&f->d);
    stop_daemon(&f->other);
    for (size_t i = 0; i < G_N_ELEMENTS(f->loops); i++) {
        if (f->loops[i] != NULL) {
            const char *const argv[] = {"losetup", "-d", f->loops[i], NULL};

            testtool_run_program(argv, NULL, NULL, NULL, NULL);
            g_free(f->loops[i]);
        }
    }
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->disk);
    g_free(f->preload);
    g_free(f);
    return 0;
}

static TestDaemon *start_daemon(Fixture *f, const char *name,
                                const char *config, const char *const *extra)
{
    g_autofree char *dir = g_build_filename(f->dir, name, NULL);

    assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
    return testd_start(dir, "prh", config, extra);
}

/* Loop device @i over the disk (losetup @opts...); skips without root. */
static const char *loop_device(Fixture *f, size_t i, const char *opt)
{
    const char *const argv[] = {"losetup",
                                "-f",
                                "--show",
                                opt != NULL ? opt : f->disk,
                                opt != NULL ? f->disk : NULL,
                                NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (geteuid() != 0) {
        skip_because("loop devices need root (losetup)");
    }
    if (testtool_run_program(argv, NULL, NULL, &out, &err) != 0) {
        g_autofree char *why = g_strdup_printf(
            "losetup cannot attach a loop device: %s", g_strstrip(err));

        skip_because(why);
    }
    f->loops[i] = g_strdup(g_strstrip(out));
    return f->loops[i];
}

typedef struct Run {
    int status;
    char *out;
    char *err;
} Run;

static void run_clear(Run *r)
{
    g_clear_pointer(&r->out, g_free);
    g_clear_pointer(&r->err, g_free);
}

/*
 * Run @argv with the library preloaded: SOFTPR_DEVICES @devices,
 * SOFTPR_SOCKET @socket, SOFTPR_INITIATOR @initiator (each left out when
 * NULL).
 */
static void run_preloaded(Fixture *f, const char *devices, const char *socket,
                          const char *initiator, const char *const *argv,
                          Run *r)
{
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(env, g_strconcat("LD_PRELOAD=", f->preload, NULL));
    if (devices != NULL) {
        g_ptr_array_add(env, g_strconcat("SOFTPR_DEVICES=", devices, NULL));
    }
    if (socket != NULL) {
        g_ptr_array_add(env, g_strconcat("SOFTPR_SOCKET=", socket, NULL));
    }
    if (initiator != NULL) {
        g_ptr_array_add(env, g_strconcat("SOFTPR_INITIATOR=", initiator, NULL));
    }
    g_ptr_array_add(env, NULL);
    r->status = testtool_run_program(argv, (const char *const *)env->pdata,
                                     NULL, &r->out, &r->err);
}

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A tool on @dev through f->d as @initiator; fails unless it exits 0. */
static char *ok_on(Fixture *f, const char *initiator, const char *const *argv)
{
    Run r = {0};

    run_preloaded(f, f->disk, f->d->socket, initiator, argv, &r);
    if (r.status != 0) {
        fprintf(stderr, "--- %s exit %d\n--- stdout:\n%s--- stderr:\n%s",
                argv[0], r.status, r.out, r.err);
        fail_msg("%s failed", argv[0]);
    }
    g_free(r.err);
    return r.out;
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The hex keys in sg_persist -i -k output, sorted, space-separated. */
static char *keys_of(const char *out)
{
    g_autoptr(GRegex) re =
        g_regex_new("^\\s+0x([0-9a-f]+)$", G_REGEX_MULTILINE, 0, NULL);
    g_autoptr(GMatchInfo) m = NULL;
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);

    g_regex_match(re, out, 0, &m);
    while (g_match_info_matches(m)) {
        g_ptr_array_add(keys, g_match_info_fetch(m, 1));
        g_match_info_next(m, NULL);
    }
    g_ptr_array_sort(keys, compare_strings);
    g_ptr_array_add(keys, NULL);
    return g_strjoinv(" ", (char **)keys->pdata);
}

/* The T10 vendor ID designator's name in sg_vpd -p 0x83 output. */
static char *vpd83_name(const char *out)
{
    const char *p = strstr(out, "vendor specific: ");

    assert_non_null(p);
    p += strlen("vendor specific: ");
    return g_strndup(p, strcspn(p, "\n"));
}

/* The LU names softpr dump lists for @db, space-separated. */
static char *dumped_lus(const char *db)
{
    const char *const args[] = {"dump", "--db", db, NULL};
    g_autofree char *out = NULL;
    g_autoptr(GRegex) re =
        g_regex_new("^logical unit (\\S+)$", G_REGEX_MULTILINE, 0, NULL);
    g_autoptr(GMatchInfo) m = NULL;
    GString *names = g_string_new(NULL);

    assert_int_equal(testtool_run(args, NULL, NULL, &out, NULL), 0);
    g_regex_match(re, out, 0, &m);
    while (g_match_info_matches(m)) {
        g_autofree char *name = g_match_info_fetch(m, 1);

        g_string_append_printf(names, "%s%s", names->len ? " " : "", name);
        g_match_info_next(m, NULL);
    }
    return g_string_free(names, FALSE);
}

/* ------------------------------------------------------------------ */
/* One LU, one identity                                                */
/* ------------------------------------------------------------------ */

/*
 * Two loop devices over one file and the file itself are one LU: a key
 * registered through one is read through the others, the database holds
 * one LU, named by the file's user.softpr.lu attribute that the first
 * PR OUT created, and VPD page 83h names it on every path, a hard link
 * (the file seen at another path, as another host sees it) included.
 */
static void test_loops_and_file_are_one_lu(void **state)
{
    Fixture *f = *state;
    const char *a;
    const char *b;
    g_autofree char *other = g_build_filename(f->dir, "elsewhere.img", NULL);
    g_autofree char *lus = NULL;
    g_autofree char *out = NULL;
    g_autofree char *keys = NULL;
    char xattr[256] = {0};

    require_program(SG_PERSIST, "sg3-utils");
    a = loop_device(f, 0, NULL);
    b = loop_device(f, 1, NULL);
    f->d = start_daemon(f, "d", NULL, client_identity);
    g_free(
        ok_on(f, NODE1, ARGV(SG_PERSIST, "-n", "-o", "-G", "-S", "0xabc", a)));
    out = ok_on(f, NODE2, ARGV(SG_PERSIST, "-n", "-i", "-k", b));
    keys = keys_of(out);
    assert_string_equal(keys, "abc");
    g_free(out);
    g_free(keys);
    out = ok_on(f, NODE3, ARGV(SG_PERSIST, "-n", "-i", "-k", f->disk));
    keys = keys_of(out);
    assert_string_equal(keys, "abc");

    assert_true(getxattr(f->disk, IDENTITY_XATTR, xattr, sizeof(xattr) - 1) >
                0);
    lus = dumped_lus(f->d->db);
    assert_string_equal(lus, xattr);

    assert_int_equal(link(f->disk, other), 0);
    {
        const char *paths[] = {a, b, f->disk, other};
        g_autofree char *devices = g_strconcat(f->disk, ":", other, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
            Run r = {0};
            g_autofree char *name = NULL;

            run_preloaded(f, devices, f->d->socket, NODE1,
                          ARGV("sg_vpd", "-p", "0x83", paths[i]), &r);
            assert_int_equal(r.status, 0);
            name = vpd83_name(r.out);
            assert_string_equal(name, xattr);
            run_clear(&r);
        }
    }
}

/*
 * Without the attribute (create-xattr = false) the LU is the canonical
 * path of the file, whether a loop device or the file is opened.
 */
static void test_unlabelled_file_is_its_path(void **state)
{
    Fixture *f = *state;
    const char *a;
    g_autofree char *lus = NULL;
    g_autofree char *out = NULL;

    require_program(SG_PERSIST, "sg3-utils");
    a = loop_device(f, 0, NULL);
    f->d =
        start_daemon(f, "d", "[lu]\ncreate-xattr = false\n", client_identity);
    g_free(ok_on(f, NODE1, ARGV(SG_PERSIST, "-n", "-o", "-G", "-S", "1", a)));
    g_free(ok_on(f, NODE2,
                 ARGV(SG_PERSIST, "-n", "-o", "-G", "-S", "2", f->disk)));
    lus = dumped_lus(f->d->db);
    assert_string_equal(lus, f->disk);
    out = ok_on(f, NODE1, ARGV("sg_vpd", "-p", "0x83", a));
    g_autofree char *name = vpd83_name(out);
    assert_string_equal(name, f->disk);
}

/* ------------------------------------------------------------------ */
/* What is answered without softprd                                    */
/* ------------------------------------------------------------------ */

/*
 * TEST UNIT READY is GOOD; standard INQUIRY is a disk; READ CAPACITY
 * gives the file's size, and a loop device's own size and block length
 * (losetup --sector-size); any other command is CHECK CONDITION, ILLEGAL
 * REQUEST, INVALID COMMAND OPERATION CODE (sg3_utils exit status 9).
 */
static void test_emulated_commands(void **state)
{
    Fixture *f = *state;
    const char *a;
    g_autofree char *out = NULL;
    Run r = {0};

    require_program(SG_PERSIST, "sg3-utils");
    a = loop_device(f, 0, "--sector-size=4096");
    f->d = start_daemon(f, "d", NULL, client_identity);
    out = ok_on(f, NODE1, ARGV("sg_turs", f->disk));
    assert_string_equal(out, "");
    g_free(out);
    out = ok_on(f, NODE1, ARGV("sg_turs", a));
    assert_string_equal(out, "");
    g_free(out);
    out = ok_on(f, NODE1, ARGV("sg_inq", a));
    assert_non_null(strstr(out, "Peripheral device type: disk"));
    assert_non_null(strstr(out, "Vendor identification: SOFTPR"));
    g_free(out);
    out = ok_on(f, NODE1, ARGV("sg_readcap", f->disk));
    assert_non_null(strstr(out, "Logical block length=512 bytes"));
    assert_non_null(strstr(out, "Device size: 67108864 bytes"));
    g_free(out);
    out = ok_on(f, NODE1, ARGV("sg_readcap", "--long", a));
    assert_non_null(strstr(out, "Logical block length=4096 bytes"));
    assert_non_null(strstr(out, "Last LBA=16383 (0x3fff)"));

    run_preloaded(f, f->disk, f->d->socket, NODE1,
                  ARGV("sg_raw", "-r", "512", a, "28", "00", "00", "00", "00",
                       "00", "00", "00", "01", "00"),
                  &r);
    assert_int_equal(r.status, 9);
    assert_non_null(strstr(r.err, "Invalid command operation code"));
    run_clear(&r);
}

/*
 * A descriptor SOFTPR_DEVICES does not name is the C library's: sg_turs
 * on the file fails as it does without the library, byte for byte.
 */
static void test_unmatched_untouched(void **state)
{
    Fixture *f = *state;
    g_autofree char *other = g_build_filename(f->dir, "other*.img", NULL);
    const char *const argv[] = {"sg_turs", f->disk, NULL};
    Run plain = {0};
    Run pre = {0};

    require_program(SG_PERSIST, "sg3-utils");
    plain.status =
        testtool_run_program(argv, NULL, NULL, &plain.out, &plain.err);
    run_preloaded(f, other, "/nonexistent.sock", NODE1, argv, &pre);
    assert_int_not_equal(plain.status, 0);
    assert_int_equal(pre.status, plain.status);
    assert_string_equal(pre.out, plain.out);
    assert_string_equal(pre.err, plain.err);
    run_clear(&plain);
    run_clear(&pre);
}

/* ------------------------------------------------------------------ */
/* When softprd cannot answer                                          */
/* ------------------------------------------------------------------ */

/* Lines of @text that start with the library's name. */
static unsigned library_lines(const char *text, const char *socket)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    unsigned n = 0;

    for (size_t i = 0; lines[i] != NULL; i++) {
        if (g_str_has_prefix(lines[i], "libsoftpr-preload: ")) {
            assert_non_null(strstr(lines[i], socket));
            n++;
        }
    }
    return n;
}

/*
 * No daemon at SOFTPR_SOCKET: the PR command fails like an I/O error of
 * the pass-through (EIO), with one line naming the socket.
 */
static void test_daemon_absent(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = g_build_filename(f->dir, "absent.sock", NULL);
    Run r = {0};

    require_program(SG_PERSIST, "sg3-utils");
    run_preloaded(f, f->disk, sock, NODE1,
                  ARGV(SG_PERSIST, "-n", "-i", "-k", f->disk), &r);
    assert_int_not_equal(r.status, 0);
    assert_int_equal(library_lines(r.err, sock), 1);
    assert_non_null(strstr(r.err, "No such file or directory"));
    assert_non_null(strstr(r.err, "pass-through os error: Input/output error"));
    run_clear(&r);
}

/*
 * A socket that accepts and never answers: the tool's own timeout
 * (sg_raw -t 2) bounds the wait, then the same error.  The test's
 * bound is generous; the point is that it ends.
 */
static void test_daemon_silent(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = g_build_filename(f->dir, "silent.sock", NULL);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gint64 start;
    Run r = {0};

    require_program(SG_PERSIST, "sg3-utils");
    g_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path));
    assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(listener, 4), 0);
    start = g_get_monotonic_time();
    run_preloaded(f, f->disk, sock, NULL,
                  ARGV("sg_raw", "-t", "2", "-r", "16", f->disk, "5e", "00",
                       "00", "00", "00", "00", "00", "00", "10", "00"),
                  &r);
    assert_true(g_get_monotonic_time() - start < 60 * G_USEC_PER_SEC);
    assert_int_not_equal(r.status, 0);
    assert_int_equal(library_lines(r.err, sock), 1);
    assert_non_null(strstr(r.err, "timed out"));
    close(listener);
    run_clear(&r);
}

/*
 * softprd refuses: a socket whose identity policy is not "client" does
 * not let SOFTPR_INITIATOR be declared; a "client" socket needs it.
 * Each is one line that says so.
 */
static void test_daemon_refuses(void **state)
{
    Fixture *f = *state;
    Run r = {0};

    require_program(SG_PERSIST, "sg3-utils");
    f->d = start_daemon(f, "d", NULL, NULL);
    run_preloaded(f, f->disk, f->d->socket, NODE1,
                  ARGV(SG_PERSIST, "-n", "-i", "-k", f->disk), &r);
    assert_int_not_equal(r.status, 0);
    assert_int_equal(library_lines(r.err, f->d->socket), 1);
    assert_non_null(strstr(r.err, "does not let clients declare"));
    run_clear(&r);

    f->other = start_daemon(f, "other", NULL, client_identity);
    run_preloaded(f, f->disk, f->other->socket, NULL,
                  ARGV(SG_PERSIST, "-n", "-i", "-k", f->disk), &r);
    assert_int_not_equal(r.status, 0);
    assert_int_equal(library_lines(r.err, f->other->socket), 1);
    assert_non_null(strstr(r.err, "set SOFTPR_INITIATOR"));
    run_clear(&r);
}

/*
 * Without SOFTPR_INITIATOR the daemon's policy decides, as for any peer
 * that is not QEMU: under "auto" that is this host's initiator name,
 * which READ FULL STATUS shows.
 */
static void test_undeclared_initiator_is_the_host(void **state)
{
    Fixture *f = *state;
    const char *const host[] = {"--host-id", "nodeh", NULL};
    g_autofree char *out = NULL;

    require_program(SG_PERSIST, "sg3-utils");
    f->d = start_daemon(f, "d", NULL, host);
    g_free(ok_on(f, NULL,
                 ARGV(SG_PERSIST, "-n", "-o", "-G", "-S", "0x77", f->disk)));
    out = ok_on(f, NULL, ARGV(SG_PERSIST, "-n", "-i", "-s", f->disk));
    assert_non_null(strstr(out, IDENTITY_IQN_PREFIX ":host:nodeh"));
}

/* ------------------------------------------------------------------ */
/* sg_persist compared with softpr persist                             */
/* ------------------------------------------------------------------ */

typedef struct Step {
    const char *initiator;
    int expect;
    const char *args; /* space-separated */
} Step;

/*
 * Every PR IN (SPC-4 6.13) and PR OUT (6.14) service action sg_persist
 * offers, with and without -n, from three nexuses: READ KEYS, READ
 * RESERVATION, REPORT CAPABILITIES, READ FULL STATUS; REGISTER, REGISTER
 * AND IGNORE EXISTING KEY, RESERVE, RELEASE, PREEMPT, PREEMPT AND ABORT,
 * REGISTER AND MOVE, REPLACE LOST RESERVATION, CLEAR.
 */
static const Step compare_steps[] = {
    {NODE1, 0, "-i -k"},
    {NODE1, 0, "-n -i -k"},
    {NODE1, 0, "-i -r"},
    {NODE1, 0, "-n -i -c"},
    {NODE1, 0, "-i -c"},
    {NODE1, 0, "-n -i -s"},
    {NODE1, 0, "-o -G -S 0xa1"},
    {NODE2, 0, "-n -o -G -S 0xb1"},
    {NODE1, 0, "-o -G -K 0xa1 -S 0xa2"},
    {NODE2, 0, "-n -o -I -S 0xb2"},
    {NODE3, 0, "-o -I -S 0xc3"},
    {NODE1, 0, "-i -k"},
    {NODE1, 0, "-o -R -T 5 -K 0xa2"},
    {NODE2, 24, "-n -o -R -T 1 -K 0xb2"},
    {NODE2, 24, "-o -R -T 1 -K 0xb2"},
    {NODE2, 0, "-n -i -r"},
    {NODE2, 0, "-i -r"},
    {NODE3, 0, "-n -i -s"},
    {NODE3, 0, "-i -s"},
    {NODE1, 0, "-n -o -L -T 5 -K 0xa2"},
    {NODE2, 0, "-o -R -T 1 -K 0xb2"},
    {NODE1, 0, "-o -P -T 1 -K 0xa2 -S 0xb2"},
    {NODE1, 0, "-n -i -r"},
    {NODE2, 0, "-n -o -I -S 0xb4"},
    {NODE1, 0, "-n -o -A -T 5 -K 0xa2 -S 0xb4"},
    {NODE2, 0, "-o -I -S 0xb5"},
    {NODE1, 0, "-o -A -T 5 -K 0xa2 -S 0xb5"},
    {NODE1, 0, "-i -k"},
    {NODE1, 0, "-n -o -M -K 0xa2 -S 0xd6 -Q 1 -X " NODE2},
    {NODE2, 0, "-o -M -K 0xd6 -S 0xa7 -Q 1 -X " NODE1},
    {NODE1, 0, "-n -i -s"},
    /* Table 66: from an unregistered nexus, RESERVATION CONFLICT. */
    {NODE4, 24, "-n -o -z -S 0xe4 -T 5"},
    {NODE4, 24, "-o -z -S 0xe4 -T 5"},
    {NODE3, 0, "-n -o -C -K 0xc3"},
    {NODE3, 24, "-o -C -K 0xc3"},
    {NODE1, 0, "-o -I -S 0xa8"},
    {NODE1, 0, "-n -o -C -K 0xa8"},
    {NODE1, 0, "-i -k"},
    {NODE1, 0, "-n -i -r"},
};

static void compare_step(Fixture *f, const char *loop, const Step *s)
{
    g_auto(GStrv) words = g_strsplit(s->args, " ", -1);
    g_autoptr(GPtrArray) sg = g_ptr_array_new();
    g_autoptr(GPtrArray) tool = g_ptr_array_new_with_free_func(g_free);
    Run a = {0};
    Run b = {0};

    g_ptr_array_add(sg, (gpointer)SG_PERSIST);
    g_ptr_array_add(tool, g_strdup("persist"));
    g_ptr_array_add(tool, g_strconcat("--socket=", f->other->socket, NULL));
    g_ptr_array_add(tool, g_strconcat("--initiator=", s->initiator, NULL));
    for (size_t i = 0; words[i] != NULL; i++) {
        g_ptr_array_add(sg, words[i]);
        g_ptr_array_add(tool, g_strdup(words[i]));
    }
    g_ptr_array_add(sg, (gpointer)loop);
    g_ptr_array_add(sg, NULL);
    g_ptr_array_add(tool, g_strdup(f->disk));
    g_ptr_array_add(tool, NULL);
    run_preloaded(f, f->disk, f->d->socket, s->initiator,
                  (const char *const *)sg->pdata, &a);
    b.status = testtool_run((const char *const *)tool->pdata, NULL, NULL,
                            &b.out, &b.err);
    if (a.status != b.status || strcmp(a.out, b.out) != 0 ||
        strcmp(a.err, b.err) != 0 || a.status != s->expect) {
        fprintf(stderr,
                "--- [%s] %s (expected exit %d)\n"
                "--- sg_persist on %s (exit %d) stdout:\n%s--- stderr:\n%s"
                "--- softpr persist (exit %d) stdout:\n%s--- stderr:\n%s---\n",
                s->initiator, s->args, s->expect, loop, a.status, a.out, a.err,
                b.status, b.out, b.err);
        fail_msg("sg_persist and softpr persist differ for %s", s->args);
    }
    run_clear(&a);
    run_clear(&b);
}

/*
 * The same steps through sg_persist on a loop device (preloaded, to one
 * softprd) and through softpr persist on the file (to another softprd
 * with its own database) print the same and exit the same at every
 * step; sg_turs on the loop device is GOOD throughout, for a preempted
 * nexus too (its unit attention is recorded, not reported).
 */
static void test_sg_persist_every_action_like_softpr_persist(void **state)
{
    Fixture *f = *state;
    const char *config = "[lu]\ncreate-xattr = false\n";
    const char *loop;

    require_program(SG_PERSIST, "sg3-utils");
    loop = loop_device(f, 0, NULL);
    f->d = start_daemon(f, "sg", config, client_identity);
    f->other = start_daemon(f, "tool", config, client_identity);
    for (size_t i = 0; i < G_N_ELEMENTS(compare_steps); i++) {
        compare_step(f, loop, &compare_steps[i]);
        if (strcmp(compare_steps[i].initiator, NODE2) == 0) {
            g_autofree char *out = ok_on(f, NODE2, ARGV("sg_turs", loop));

            assert_string_equal(out, "");
        }
    }
    printf("test_preload: %zu sg_persist steps agree with softpr persist\n",
           G_N_ELEMENTS(compare_steps));
}

/* ------------------------------------------------------------------ */
/* fence_scsi                                                          */
/* ------------------------------------------------------------------ */

static const char *const node_keys[] = {"1a2b0001", "1a2b0002", "1a2b0003"};
static const char *const node_names[] = {NODE1, NODE2, NODE3};

/*
 * fence_scsi as node @n (0-2) with @action (and --key @key): its own
 * loop device, its own /run (fence_scsi keeps the node's key in
 * /run/cluster.key), its own initiator.  Returns the exit status.
 */
static int fence(Fixture *f, size_t n, const char *action, const char *key)
{
    g_autofree char *run = g_strdup_printf("%s/run%zu", f->dir, n + 1);
    g_autofree char *a_action = g_strconcat("--action=", action, NULL);
    g_autofree char *a_key = g_strconcat("--key=", key, NULL);
    g_autofree char *a_dev = g_strconcat("--devices=", f->loops[n], NULL);
    g_autofree char *a_node = g_strdup_printf("--nodename=node%zu", n + 1);
    const char *const argv[] = {"unshare",
                                "-m",
                                "sh",
                                "-c",
                                "mount --bind \"$0\" /run && exec \"$@\"",
                                run,
                                FENCE_SCSI,
                                a_action,
                                a_dev,
                                a_node,
                                key != NULL ? a_key : NULL,
                                NULL};
    Run r = {0};

    assert_int_equal(g_mkdir_with_parents(run, 0755), 0);
    run_preloaded(f, f->disk, f->d->socket, node_names[n], argv, &r);
    printf("test_preload: fence_scsi node%zu %s%s%s: exit %d: %s", n + 1,
           action, key != NULL ? " --key=" : "", key != NULL ? key : "",
           r.status, r.out[0] != '\0' ? r.out : "\n");
    if (r.err[0] != '\0') {
        printf("%s", r.err);
    }
    run_clear(&r);
    return r.status;
}

/* Keys and reservation as a fourth nexus reads them. */
static void assert_keys(Fixture *f, const char *expect, const char *holder)
{
    g_autofree char *out = ok_on(f, "iqn.2024-01.org.example:observer",
                                 ARGV(SG_PERSIST, "-n", "-i", "-k", f->disk));
    g_autofree char *keys = keys_of(out);
    g_autofree char *res = ok_on(f, "iqn.2024-01.org.example:observer",
                                 ARGV(SG_PERSIST, "-n", "-i", "-r", f->disk));
    g_autofree char *want = g_strdup_printf(
        "    Key=0x%s\n    scope: LU_SCOPE,  type: Write Exclusive, "
        "registrants only\n",
        holder);

    printf("test_preload:   keys: %s; reservation: 0x%s\n", keys, holder);
    assert_string_equal(keys, expect);
    assert_non_null(strstr(res, want));
}

/*
 * fence_scsi (fence-agents 4.12) for three nodes as Pacemaker runs it
 * (--action, --key, --devices, --nodename), exit codes as fencing
 * documents them: 0 done, 1 failed, 2 status OFF.  "on" registers and
 * the first node reserves (type 5, Write Exclusive - Registrants Only);
 * "off" from another node removes the victim's key with PREEMPT AND
 * ABORT, moving the reservation when the victim held it.
 */
static void test_fence_scsi_three_nodes(void **state)
{
    Fixture *f = *state;
    const char *const *k = node_keys;

    require_program(SG_PERSIST, "sg3-utils");
    require_program(FENCE_SCSI, "fence-agents");
    for (size_t n = 0; n < 3; n++) {
        loop_device(f, n, NULL);
    }
    f->d = start_daemon(f, "d", NULL, client_identity);

    assert_int_equal(fence(f, 0, "on", k[0]), 0);
    assert_keys(f, "1a2b0001", "1a2b0001");
    assert_int_equal(fence(f, 1, "on", k[1]), 0);
    assert_int_equal(fence(f, 2, "on", k[2]), 0);
    assert_keys(f, "1a2b0001 1a2b0002 1a2b0003", "1a2b0001");
    for (size_t n = 0; n < 3; n++) {
        assert_int_equal(fence(f, n, "status", k[n]), 0);
    }
    /* Fencing oneself is refused. */
    assert_int_equal(fence(f, 0, "off", k[0]), 1);
    /* node1 fences node3. */
    assert_int_equal(fence(f, 0, "off", k[2]), 0);
    assert_keys(f, "1a2b0001 1a2b0002", "1a2b0001");
    assert_int_equal(fence(f, 2, "status", k[2]), 2);
    for (size_t n = 0; n < 3; n++) {
        assert_int_equal(fence(f, n, "monitor", NULL), 0);
    }
    assert_int_equal(fence(f, 2, "on", k[2]), 0);
    assert_keys(f, "1a2b0001 1a2b0002 1a2b0003", "1a2b0001");
    /* node2 fences the reservation holder: the reservation moves. */
    assert_int_equal(fence(f, 1, "off", k[0]), 0);
    assert_keys(f, "1a2b0002 1a2b0003", "1a2b0002");
    assert_int_equal(fence(f, 0, "status", k[0]), 2);
    assert_int_equal(fence(f, 0, "on", k[0]), 0);
    assert_keys(f, "1a2b0001 1a2b0002 1a2b0003", "1a2b0002");
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_loops_and_file_are_one_lu),
        T(test_unlabelled_file_is_its_path),
        T(test_emulated_commands),
        T(test_unmatched_untouched),
        T(test_daemon_absent),
        T(test_daemon_silent),
        T(test_daemon_refuses),
        T(test_undeclared_initiator_is_the_host),
        T(test_sg_persist_every_action_like_softpr_persist),
        T(test_fence_scsi_three_nodes),
    };

    return TESTUTIL_RUN("preload", tests, NULL, NULL);
}
