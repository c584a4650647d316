/*
 * peer: prpeer runs for tests.
 */
#include "peer.h"

#include <unistd.h>

char *testpeer_prpeer(void)
{
    g_autofree char *path =
        g_build_filename(testutil_build_dir(), "tests", "prpeer", NULL);

    return g_canonicalize_filename(path, NULL);
}

char *testpeer_qemu(const char *dir)
{
    g_autofree char *bin = g_build_filename(dir, "bin", NULL);
    g_autofree char *prpeer = testpeer_prpeer();
    char *qemu = g_build_filename(bin, "qemu-system-x86_64", NULL);

    assert_int_equal(g_mkdir_with_parents(bin, 0755), 0);
    assert_int_equal(symlink(prpeer, qemu), 0);
    return qemu;
}

char *testpeer_run(const char *program, const char *args, const char *socket,
                   const char *disk, const char *commands)
{
    g_autofree char *line =
        g_strdup_printf("%s %s -- %s %s %s", program, args != NULL ? args : "",
                        socket, disk, commands);
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;

    assert_true(g_shell_parse_argv(line, NULL, &argv, NULL));
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                      &status, &error)) {
        fail_msg("spawn %s: %s", argv[0], error->message);
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        fail_msg("%s failed:\n%s%s", line, out, err);
    }
    return out;
}
