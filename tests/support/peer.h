/*
 * peer: running prpeer (tests/tools/prpeer.c), the pr-helper client
 * that can look like a QEMU process, against test daemons.
 */
#ifndef SOFTPR_TEST_PEER_H
#define SOFTPR_TEST_PEER_H

#include "testutil.h"

/* The absolute path of prpeer (g_free() it). */
char *testpeer_prpeer(void);

/*
 * A symlink named qemu-system-x86_64 to prpeer in @dir/bin: run through
 * it, prpeer is what softprd's "auto" identity takes for a VM.
 */
char *testpeer_qemu(const char *dir);

/*
 * Run @program (testpeer_qemu() or testpeer_prpeer()) with @args
 * (QEMU-like options, may be NULL), then "--", @socket, @disk and
 * @commands; fail the test unless it succeeds.  Returns its standard
 * output (g_free() it).
 */
char *testpeer_run(const char *program, const char *args, const char *socket,
                   const char *disk, const char *commands);

#endif /* SOFTPR_TEST_PEER_H */
