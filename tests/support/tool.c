/*
 * tool: runs softpr (or another program) to completion for a test.
 */
#include "tool.h"

#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include <gio/gio.h>

#define TOOL_TIMEOUT_S 120

struct TestTool {
    GSubprocess *proc;
    char *name;
};

char *testtool_binary(void)
{
    return g_build_filename(testutil_build_dir(), "softpr", NULL);
}

static TestTool *start(const char *const *argv, const char *const *env)
{
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
        G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GError) error = NULL;
    TestTool *tool = g_new0(TestTool, 1);
    size_t i;

    for (i = 0; env != NULL && env[i] != NULL; i++) {
        g_auto(GStrv) kv = g_strsplit(env[i], "=", 2);

        g_subprocess_launcher_setenv(launcher, kv[0], kv[1] ? kv[1] : "", TRUE);
    }
    tool->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
    if (tool->proc == NULL) {
        fail_msg("cannot run %s: %s", argv[0], error->message);
    }
    tool->name = g_strdup(argv[0]);
    return tool;
}

typedef struct Run {
    GMainLoop *loop;
    char *out;
    char *err;
    GError *error;
    bool done;
} Run;

static void communicated(GObject *source, GAsyncResult *res, gpointer data)
{
    Run *run = data;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), res, &run->out,
                                         &run->err, &run->error);
    run->done = true;
    g_main_loop_quit(run->loop);
}

static gboolean timed_out(gpointer data)
{
    g_main_loop_quit(((Run *)data)->loop);
    return G_SOURCE_REMOVE;
}

/* Feed @input, collect the output, wait for the exit; frees @tool. */
static int finish(TestTool *tool, const char *input, char **out, char **err)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GSubprocess) proc = tool->proc;
    g_autofree char *name = tool->name;
    g_autoptr(GError) error = NULL;
    GSource *timeout;
    Run run = {0};
    int status;

    g_free(tool);
    g_main_context_push_thread_default(context);
    run.loop = g_main_loop_new(context, FALSE);
    g_subprocess_communicate_utf8_async(proc, input != NULL ? input : "", NULL,
                                        communicated, &run);
    timeout = g_timeout_source_new_seconds(TOOL_TIMEOUT_S);
    g_source_set_callback(timeout, timed_out, &run, NULL);
    g_source_attach(timeout, context);
    while (!run.done && !g_source_is_destroyed(timeout)) {
        g_main_context_iteration(context, TRUE);
    }
    g_source_destroy(timeout);
    g_source_unref(timeout);
    if (!run.done) {
        g_subprocess_force_exit(proc);
        g_subprocess_wait(proc, NULL, NULL);
        /* Let the cancelled read finish before the context goes. */
        while (!run.done) {
            g_main_context_iteration(context, TRUE);
        }
        g_main_loop_unref(run.loop);
        g_main_context_pop_thread_default(context);
        fail_msg("%s did not finish within %d s", name, TOOL_TIMEOUT_S);
    }
    g_main_loop_unref(run.loop);
    g_main_context_pop_thread_default(context);
    if (run.error != NULL) {
        fail_msg("%s: %s", name, run.error->message);
    }
    if (!g_subprocess_wait(proc, NULL, &error)) {
        fail_msg("%s: %s", name, error->message);
    }
    status = g_subprocess_get_status(proc);
    if (out != NULL) {
        *out = run.out;
    } else {
        g_free(run.out);
    }
    if (err != NULL) {
        *err = run.err;
    } else {
        g_free(run.err);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

int testtool_run_program(const char *const *argv, const char *const *env,
                         const char *input, char **out, char **err)
{
    return finish(start(argv, env), input, out, err);
}

/* argv: the valgrind prefix, if any, softpr, then @args. */
static GPtrArray *tool_argv(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    testutil_add_wrapper(argv);
    g_ptr_array_add(argv, testtool_binary());
    for (i = 0; args[i] != NULL; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

int testtool_run(const char *const *args, const char *const *env,
                 const char *input, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = tool_argv(args);

    return testtool_run_program((const char *const *)argv->pdata, env, input,
                                out, err);
}

TestTool *testtool_start(const char *const *args, const char *const *env)
{
    g_autoptr(GPtrArray) argv = tool_argv(args);

    return start((const char *const *)argv->pdata, env);
}

int testtool_finish(TestTool *tool, char **out, char **err)
{
    return finish(tool, NULL, out, err);
}
