/*
 * tool: running the softpr command-line tool in tests, optionally under
 * the valgrind command in $SOFTPR_VALGRIND, with its input, output and
 * exit status captured.
 */
#ifndef SOFTPR_TEST_TOOL_H
#define SOFTPR_TEST_TOOL_H

#include "testutil.h"

/* Path of the softpr binary under test (g_free() it). */
char *testtool_binary(void);

/*
 * Run `softpr @args...` (NULL-terminated) with @input on its standard
 * input (NULL: empty) and the extra environment @env ("NAME=value",
 * NULL-terminated, may be NULL).  Fails the test when it does not finish
 * within 120 s.  Returns its exit status (128+N when killed by signal N);
 * *@out and *@err receive what it printed (either may be NULL).
 */
int testtool_run(const char *const *args, const char *const *env,
                 const char *input, char **out, char **err);

/* Like testtool_run() for an arbitrary program @argv[0]. */
int testtool_run_program(const char *const *argv, const char *const *env,
                         const char *input, char **out, char **err);

/* A softpr process running while the test goes on. */
typedef struct TestTool TestTool;

/* Start `softpr @args...` as testtool_run() would, without waiting. */
TestTool *testtool_start(const char *const *args, const char *const *env);

/* Wait for it as testtool_run() does; frees @tool. */
int testtool_finish(TestTool *tool, char **out, char **err);

#endif /* SOFTPR_TEST_TOOL_H */
