/*
 * test_persist: `softpr persist` is sg_persist with softprd as the device.
 *
 * Comparison tests run each scenario twice, step by step: once through
 * the real /usr/bin/sg_persist (sg3_utils 1.46), whose SG_IO
 * libsoftpr-preload.so hands to softprd, and once through softpr persist, each
 * against its own fresh softprd and database on the same disk image.
 * Every step must print the same on stdout and on stderr and exit with
 * the same status.  Where the two differ on purpose (the usage text, the
 * version line, the exit status after an unknown option) the tests say
 * so and check the difference.
 *
 * Format tests pin softpr persist's output to the format strings of
 * sg_persist.c and sg_lib.c directly, so that the two drifting together
 * (a changed shim, a changed daemon) would still be caught; they do not
 * need sg3-utils.  fence_scsi tests replay fence_scsi's command sequences
 * from two nodes and parse the output as fence_scsi does.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "daemon.h"
#include "tool.h"

#define SG_PERSIST "/usr/bin/sg_persist"
#define SG_PERSIST_VERSION_LINE "version: 0.67 20190913"

#define NODE1 "iqn.2024-01.org.example:node1"
#define NODE2 "iqn.2024-01.org.example:node2"
#define NODE3 "iqn.2024-01.org.example:node3"

/* Every daemon: LU named by the file's path (no xattr that the other
 * daemon of the pair would read), client-declared initiators. */
#define CONFIG_BASE "[lu]\ncreate-xattr = false\n"
#define CONFIG_REPORT_UA CONFIG_BASE "[scsi]\nunit-attentions = report\n"

static const char *const client_identity[] = {"--identity", "client", NULL};

typedef struct Fixture {
    char *dir;
    char *disk;       /* the disk image both tools address */
    char *shim;       /* absolute path of libsoftpr-preload.so */
    TestDaemon *sg;   /* serves sg_persist */
    TestDaemon *tool; /* serves softpr persist */
    char *out;        /* softpr persist's stdout at the last step */
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *shim =
        g_build_filename(testutil_build_dir(), "libsoftpr-preload.so", NULL);
    int fd;

    f->dir = testutil_tmpdir();
    f->disk = g_build_filename(f->dir, "disk.img", NULL);
    fd = testd_disk(f->dir, "disk.img", O_RDWR);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    f->shim = g_path_is_absolute(shim) ? g_strdup(shim)
                                       : g_build_filename(cwd, shim, NULL);
    *state = f;
    return 0;
}

static void stop_daemon(TestDaemon **d)
{
    if (*d != NULL) {
        testd_stop(*d);
        testd_free(*d);
        *d = NULL;
    }
}

static int teardown(void **state)
{
    Fixture *f = *state;

    stop_daemon(&f->sg);
    stop_daemon(&f->tool);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->disk);
    g_free(f->shim);
    g_free(f->out);
    g_free(f);
    return 0;
}

/* A fresh daemon with @config in directory @name (its own database). */
static TestDaemon *start_daemon(Fixture *f, const char *name,
                                const char *config)
{
    g_autofree char *dir = g_build_filename(f->dir, name, NULL);

    assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
    return testd_start(dir, "prh", config, client_identity);
}

/* The daemon for softpr persist only (format tests). */
static void start_tool_daemon(Fixture *f, const char *config)
{
    f->tool = start_daemon(f, "tool", config);
}

/*
 * Fail clearly when the reference is missing or another version: its
 * output is what the comparison tests hold softpr persist to.
 */
static void require_sg_persist(void)
{
    static bool checked;
    const char *const argv[] = {SG_PERSIST, "-V", NULL};
    g_autofree char *err = NULL;

    if (checked) {
        return;
    }
    if (!g_file_test(SG_PERSIST, G_FILE_TEST_IS_EXECUTABLE)) {
        fail_msg("%s is missing: the comparison tests need sg_persist from "
                 "the Debian package sg3-utils (apt-get install sg3-utils)",
                 SG_PERSIST);
    }
    assert_int_equal(testtool_run_program(argv, NULL, NULL, NULL, &err), 0);
    if (!g_str_has_prefix(err, SG_PERSIST_VERSION_LINE)) {
        fail_msg("%s says '%s': the comparison tests expect sg_persist %s "
                 "from sg3-utils 1.46",
                 SG_PERSIST, g_strstrip(err), SG_PERSIST_VERSION_LINE + 9);
    }
    checked = true;
}

/* Both daemons of a comparison. */
static void start_pair(Fixture *f, const char *config)
{
    require_sg_persist();
    if (!g_file_test(f->shim, G_FILE_TEST_IS_REGULAR)) {
        fail_msg("%s is missing: 'make tests' builds it", f->shim);
    }
    f->sg = start_daemon(f, "sg", config);
    f->tool = start_daemon(f, "tool", config);
}

/* @args with "@DEV" replaced by the disk image's path. */
static GPtrArray *expand_args(Fixture *f, const char *const *args)
{
    GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; args[i] != NULL; i++) {
        g_auto(GStrv) parts = g_strsplit(args[i], "@DEV", -1);

        g_ptr_array_add(v, g_strjoinv(f->disk, parts));
    }
    return v;
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

/* sg_persist through libsoftpr-preload.so, as @initiator, against f->sg. */
static void run_sg(Fixture *f, const char *initiator, const char *input,
                   const char *const *env_extra, const char *const *args,
                   Run *r)
{
    g_autoptr(GPtrArray) argv = expand_args(f, args);
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    g_ptr_array_insert(argv, 0, g_strdup(SG_PERSIST));
    g_ptr_array_add(argv, NULL);
    g_ptr_array_add(env, g_strconcat("LD_PRELOAD=", f->shim, NULL));
    g_ptr_array_add(env, g_strconcat("SOFTPR_DEVICES=", f->disk, NULL));
    g_ptr_array_add(env, g_strconcat("SOFTPR_SOCKET=", f->sg->socket, NULL));
    g_ptr_array_add(env, g_strconcat("SOFTPR_INITIATOR=", initiator, NULL));
    for (i = 0; env_extra != NULL && env_extra[i] != NULL; i++) {
        g_ptr_array_add(env, g_strdup(env_extra[i]));
    }
    g_ptr_array_add(env, NULL);
    r->status = testtool_run_program((const char *const *)argv->pdata,
                                     (const char *const *)env->pdata, input,
                                     &r->out, &r->err);
}

/* softpr persist as @initiator against @d. */
static void run_tool_on(Fixture *f, TestDaemon *d, const char *initiator,
                        const char *input, const char *const *env,
                        const char *const *args, Run *r)
{
    g_autoptr(GPtrArray) argv = expand_args(f, args);

    g_ptr_array_insert(argv, 0, g_strdup("persist"));
    g_ptr_array_insert(argv, 1, g_strconcat("--socket=", d->socket, NULL));
    g_ptr_array_insert(argv, 2, g_strconcat("--initiator=", initiator, NULL));
    g_ptr_array_add(argv, NULL);
    r->status = testtool_run((const char *const *)argv->pdata, env, input,
                             &r->out, &r->err);
}

/* getopt names the program as it was started: sg_persist's full path. */
static char *normalise_program_name(const char *text)
{
    g_autoptr(GRegex) re =
        g_regex_new("^" SG_PERSIST ":", G_REGEX_MULTILINE, 0, NULL);

    return g_regex_replace_literal(re, text, -1, 0, "sg_persist:", 0, NULL);
}

/* What precedes the usage text, which differs on purpose. */
static char *before_usage(const char *text)
{
    const char *usage = strstr(text, "Usage: ");

    return usage != NULL ? g_strndup(text, (size_t)(usage - text))
                         : g_strdup(text);
}

static char *join_args(const char *const *args)
{
    return g_strjoinv(" ", (char **)args);
}

static void report_mismatch(const char *what, const char *initiator,
                            const char *const *args, const Run *sg,
                            const Run *tool)
{
    g_autofree char *line = join_args(args);

    /* cmocka shortens long messages: the details go out whole. */
    fprintf(stderr,
            "--- %s differs for [%s] %s\n"
            "--- sg_persist (exit %d) stdout:\n%s--- stderr:\n%s"
            "--- softpr persist (exit %d) stdout:\n%s--- stderr:\n%s---\n",
            what, initiator, line, sg->status, sg->out, sg->err, tool->status,
            tool->out, tool->err);
    fail_msg("%s differs for %s", what, line);
}

typedef enum StepFlags {
    STEP_ALL = 0,
    STEP_STDOUT_ONLY = 1, /* stderr has timings (-vvv) */
    STEP_USAGE = 2,       /* stderr ends with the usage text */
} StepFlags;

/*
 * One step of a comparison: @args (with "@DEV") through both tools as
 * @initiator, with @input on standard input and @env added to the
 * environment.  Fails unless stdout, stderr and exit status agree.
 * Returns the exit status; f->out keeps the stdout.
 */
static int step_full(Fixture *f, StepFlags flags, const char *initiator,
                     const char *input, const char *const *env,
                     const char *const *args)
{
    Run sg = {0};
    Run tool = {0};
    g_autofree char *sg_err = NULL;
    int status;

    run_sg(f, initiator, input, env, args, &sg);
    run_tool_on(f, f->tool, initiator, input, env, args, &tool);
    sg_err = normalise_program_name(sg.err);
    g_free(sg.err);
    sg.err = g_steal_pointer(&sg_err);
    if (flags & STEP_USAGE) {
        g_autofree char *a = before_usage(sg.err);
        g_autofree char *b = before_usage(tool.err);

        if (strstr(sg.err, "Usage: ") == NULL ||
            strstr(tool.err, "Usage: softpr persist") == NULL ||
            strcmp(a, b) != 0) {
            report_mismatch("stderr before the usage", initiator, args, &sg,
                            &tool);
        }
    } else if (!(flags & STEP_STDOUT_ONLY) && strcmp(sg.err, tool.err) != 0) {
        report_mismatch("stderr", initiator, args, &sg, &tool);
    }
    if (strcmp(sg.out, tool.out) != 0) {
        report_mismatch("stdout", initiator, args, &sg, &tool);
    }
    if (sg.status != tool.status) {
        report_mismatch("the exit status", initiator, args, &sg, &tool);
    }
    status = tool.status;
    g_free(f->out);
    f->out = g_steal_pointer(&tool.out);
    run_clear(&sg);
    run_clear(&tool);
    return status;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A step that must agree, and exit with @expect. */
#define STEP(f, expect, initiator, ...)                                        \
    assert_int_equal(                                                          \
        step_full((f), STEP_ALL, (initiator), NULL, NULL, ARGS(__VA_ARGS__)),  \
        (expect))

#define STEP_FLAGS(f, flags, expect, initiator, ...)                           \
    assert_int_equal(                                                          \
        step_full((f), (flags), (initiator), NULL, NULL, ARGS(__VA_ARGS__)),   \
        (expect))

/* softpr persist alone, for the format tests. */
static int tool(Fixture *f, const char *initiator, const char *const *args,
                char **out, char **err)
{
    Run r = {0};

    run_tool_on(f, f->tool, initiator, NULL, NULL, args, &r);
    *out = r.out;
    *err = r.err;
    return r.status;
}

/* softpr persist alone; fails unless it exits 0 with nothing on stderr.
 * Returns its stdout. */
static char *tool_ok(Fixture *f, const char *initiator, const char *const *args)
{
    g_autofree char *err = NULL;
    char *out = NULL;
    int status = tool(f, initiator, args, &out, &err);

    if (status != 0 || err[0] != '\0') {
        fprintf(stderr, "--- exit %d\n--- stdout:\n%s--- stderr:\n%s", status,
                out, err);
        fail_msg("softpr persist failed");
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Comparisons with sg_persist                                         */
/* ------------------------------------------------------------------ */

/*
 * Every PR IN service action (SPC-4 6.13) on a logical unit without
 * registrations, in every output form: decoded, -H, -HH, -HHH, with and
 * without the INQUIRY header, -v, -vv, short allocation lengths.
 */
static void test_compare_prin_empty(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-i", "-k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-c", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "-v", "@DEV");
    /* Without -n: the INQUIRY header; without -i: PR IN anyway; without
     * a service action: READ KEYS, with sg_persist's remark. */
    STEP(f, 0, NODE1, "-i", "-k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-k", "@DEV");
    STEP(f, 0, NODE1, "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-c", "-H", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-H", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-HH", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "-HHH", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "-H", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-v", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-c", "-vv", "@DEV");
    STEP(f, 0, NODE1, "-vv", "-i", "-r", "@DEV");
    STEP(f, 0, NODE1, "-n", "-m", "16", "-i", "-k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-l", "8", "-i", "-c", "@DEV");
    /* -vvv adds timings to stderr; stdout must still agree. */
    STEP_FLAGS(f, STEP_STDOUT_ONLY, 0, NODE1, "-n", "-vvv", "-i", "-s", "@DEV");
}

/*
 * REGISTER, RESERVE, RELEASE and unregistering (SPC-4 5.12.7, 6.14),
 * with READ KEYS, READ RESERVATION and READ FULL STATUS after each, from
 * two initiators; a reservation conflict (status 18h, exit 24); a key
 * with all 64 bits.
 */
static void test_compare_register_reserve_release(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-o", "-G", "-S", "0xabc", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "@DEV");
    STEP(f, 0, NODE2, "-n", "--out", "--register",
         "--param-sark=0x1234567890abcdef", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "1", "-K", "abc", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-r", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-s", "-HH", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-r", "-H", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-HHH", "@DEV");
    /* An allocation length shorter than the data: -H says so. */
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-H", "-l", "10", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-m", "20", "@DEV");
    /* Not the holder: RESERVE conflicts. */
    STEP(f, 24, NODE2, "-n", "-o", "-R", "-T", "1", "-K", "0x1234567890abcdef",
         "@DEV");
    STEP(f, 24, NODE2, "-n", "-v", "-o", "-R", "-T", "1", "-K",
         "0x1234567890abcdef", "@DEV");
    /* RESERVE by the holder again is fine; RELEASE ends it. */
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "1", "-K", "abc", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-L", "-T", "1", "-K", "abc", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "@DEV");
    /* REGISTER with SARK 0 unregisters (5.12.8). */
    STEP(f, 0, NODE1, "-n", "-o", "-G", "-K", "abc", "-S", "0", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    /* REGISTER with a wrong key: conflict. */
    STEP(f, 24, NODE2, "-n", "-o", "-G", "-K", "1", "-S", "2", "@DEV");
}

/*
 * The six reservation types (SPC-4 table 169) held and reported, and the
 * ones that are not (ILLEGAL REQUEST, exit 5); sg_persist's warning when
 * -T is missing.
 */
static void test_compare_types(void **state)
{
    Fixture *f = *state;
    static const char *const types[] = {"1", "3", "5", "6", "7", "8"};
    size_t i;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "0x10", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "0x20", "@DEV");
    for (i = 0; i < G_N_ELEMENTS(types); i++) {
        STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", types[i], "-K", "10", "@DEV");
        STEP(f, 0, NODE2, "-n", "-i", "-r", "@DEV");
        STEP(f, 0, NODE2, "-n", "-i", "-s", "@DEV");
        STEP(f, 0, NODE1, "-n", "-o", "-L", "-T", types[i], "-K", "10", "@DEV");
    }
    /* Obsolete and reserved types: INVALID FIELD IN CDB. */
    STEP(f, 5, NODE1, "-n", "-o", "-R", "-T", "2", "-K", "10", "@DEV");
    STEP(f, 5, NODE1, "-n", "-o", "-R", "-T", "9", "-K", "10", "@DEV");
    STEP(f, 5, NODE1, "-n", "-vv", "-o", "-R", "-T", "4", "-K", "10", "@DEV");
    /* No -T: a warning, and type 0 is sent. */
    STEP(f, 5, NODE1, "-n", "-o", "-R", "-K", "10", "@DEV");
    /* RELEASE of a reservation held with another type: INVALID RELEASE
     * OF PERSISTENT RESERVATION (5.12.11.2). */
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "3", "-K", "10", "@DEV");
    STEP(f, 5, NODE1, "-n", "-o", "-L", "-T", "1", "-K", "10", "@DEV");
    STEP(f, 5, NODE1, "-n", "-v", "-o", "-L", "-T", "1", "-K", "10", "@DEV");
}

/*
 * PREEMPT, PREEMPT AND ABORT, CLEAR and REGISTER AND IGNORE EXISTING KEY
 * (SPC-4 5.12.11.4, 5.12.11.5, 5.12.9), APTPL and ALL_TG_PT (6.14.3):
 * REPORT CAPABILITIES shows PTPL_A, READ FULL STATUS the all-target-ports
 * registration.
 */
static void test_compare_preempt_clear(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "1", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "2", "-Z", "@DEV");
    STEP(f, 0, NODE3, "-n", "-o", "-I", "-S", "3", "-Y", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-c", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "5", "-K", "1", "@DEV");
    /* PREEMPT the holder: the reservation moves to the preempter. */
    STEP(f, 0, NODE2, "-n", "-o", "-P", "-T", "5", "-K", "2", "-S", "1",
         "@DEV");
    STEP(f, 0, NODE3, "-n", "-i", "-r", "@DEV");
    STEP(f, 0, NODE3, "-n", "-i", "-k", "@DEV");
    /* PREEMPT AND ABORT a registrant that holds nothing. */
    STEP(f, 0, NODE2, "-n", "-o", "-A", "-T", "5", "-K", "2", "-S", "3",
         "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-s", "@DEV");
    /* The preempted node is no longer registered: conflict. */
    STEP(f, 24, NODE3, "-n", "-o", "-P", "-T", "5", "-K", "3", "-S", "2",
         "@DEV");
    /* No -T with PREEMPT: the warning. */
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "1", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-P", "-K", "1", "-S", "1", "@DEV");
    /* CLEAR removes everything (5.12.9). */
    STEP(f, 0, NODE2, "-n", "-o", "-C", "-K", "2", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-c", "-H", "@DEV");
    /* REPLACE LOST RESERVATION with nothing lost (SPC-5 5.14.11.3): its
     * reservation key must be zero, not the nexus's (SPC-5 6.16.3). */
    STEP(f, 24, NODE2, "-n", "-o", "-z", "-S", "5", "-T", "5", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "5", "@DEV");
    STEP(f, 24, NODE2, "-n", "-o", "-z", "-K", "5", "-S", "5", "-T", "5",
         "@DEV");
    STEP(f, 5, NODE2, "-n", "-o", "-z", "-S", "5", "-T", "5", "@DEV");
}

/* A file of TransportIDs for -X file=..., as sg_persist's man page
 * describes: one per line, symbolic or hex bytes, '#' comments. */
static const char tid_file[] =
    "# initiators to register\n"
    "iqn.2024-01.org.example:from-file\n"
    "  sas,5000c50005b32002   \n"
    "\n"
    "6,0,0,0, 50,0,c5,0,5,b3,20,3 # a SAS address in hex bytes\n";

#define NODE(n) "iqn.2024-01.org.example:node" #n

/*
 * TransportIDs (SPC-4 7.6.4) in every -X syntax sg_persist knows, sent
 * with REGISTER and SPEC_I_PT (6.14.3) from unregistered nexuses and
 * shown by READ FULL STATUS: iSCSI names in both formats, FCP and SAS,
 * hex bytes, standard input and a file; protocols softprd does not
 * support, and -X text sg_persist rejects itself.
 */
static void test_compare_transport_ids(void **state)
{
    Fixture *f = *state;
    g_autofree char *file = g_build_filename(f->dir, "tids.txt", NULL);
    g_autofree char *file_arg = g_strconcat("file=", file, NULL);
    g_autofree char *missing_arg =
        g_strconcat("file=", f->dir, "/missing", NULL);

    assert_true(g_file_set_contents(file, tid_file, -1, NULL));
    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-o", "-G", "-S", "1a", "-X",
         "iqn.2024-01.org.example:other", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-G", "-S", "2b", "-X",
         "iqn.2024-01.org.example:port,i,0x23d000000001", "@DEV");
    STEP(f, 0, NODE3, "-n", "-o", "-G", "-S", "3c", "-X",
         "fcp,21000024ff123456", "@DEV");
    STEP(f, 0, NODE(4), "-n", "-o", "-G", "-S", "4d", "-X",
         "SAS,5000C50005B32001", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "-HH", "@DEV");
    /* Hex bytes: an FCP TransportID (sg_persist says first that it is
     * not symbolic). */
    STEP(f, 0, NODE(5), "-n", "-o", "-G", "-S", "5e", "-X",
         "0,0,0,0,0,0,0,0,21,00,00,24,ff,65,43,21", "@DEV");
    assert_int_equal(
        step_full(f, STEP_ALL, NODE(6),
                  "fcp,21000024ff000001\n"
                  "# comment\n"
                  "iqn.2024-01.org.example:stdin\n",
                  NULL, ARGS("-n", "-o", "-G", "-S", "6f", "-X", "-", "@DEV")),
        0);
    STEP(f, 0, NODE(7), "-n", "-o", "-G", "-S", "70", "-X", file_arg, "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "@DEV");
    /* -vvv decodes the TransportIDs given, on stdout; SPEC_I_PT from a
     * registered nexus is refused (SPC-4 6.14.3). */
    STEP_FLAGS(f, STEP_STDOUT_ONLY, 5, NODE1, "-n", "-vvv", "-o", "-G", "-K",
               "1a", "-S", "1c", "-X", file_arg, "@DEV");
    /* Protocols softprd does not support: its answer. */
    STEP(f, 5, NODE(9), "-n", "-o", "-G", "-S", "9", "-X", "spi,3,1", "@DEV");
    STEP(f, 5, NODE(9), "-n", "-o", "-G", "-S", "9", "-X",
         "sbp,0123456789abcdef", "@DEV");
    STEP(f, 5, NODE(9), "-n", "-o", "-G", "-S", "9", "-X", "1,0,0,7,0,0,0,1",
         "@DEV");
    /* A TransportID already registered with another key. */
    STEP(f, 5, NODE(9), "-n", "-o", "-G", "-S", "9", "-X", NODE2, "@DEV");
    STEP(f, 0, NODE(9), "-n", "-i", "-k", "@DEV");
    /* What sg_persist rejects itself: exit 1 with its diagnostics. */
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "sas,12345", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "fcp,xyz", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "0x05,0", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "5,100", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "sop,1", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", "", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "1", "-X", missing_arg, "@DEV");
    assert_int_equal(
        step_full(f, STEP_ALL, NODE1, "5,0,zz\n", NULL,
                  ARGS("-n", "-o", "-G", "-S", "1", "-X", "-", "@DEV")),
        1);
}

/*
 * REGISTER AND MOVE (SPC-4 5.12.11.6): the reservation moves to the
 * TransportID given, on the relative target port given, the issuer
 * keeps or (-U) loses its registration; what sg_persist requires of -M.
 */
static void test_compare_register_move(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "-n", "-o", "-G", "-S", "0x11", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "6", "-K", "0x11", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-M", "-K", "0x11", "-S", "0x22", "-Q", "1",
         "-X", NODE2, "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE2, "-n", "-v", "-o", "-M", "-K", "0x22", "-S", "0x33", "-Q",
         "1", "-U", "-X", NODE3, "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "@DEV");
    /* A relative target port that is not this daemon's (6.14.4). */
    STEP(f, 5, NODE3, "-n", "-o", "-M", "-K", "0x33", "-S", "0x44", "-Q", "7",
         "-X", NODE1, "@DEV");
    /* Not registered: conflict. */
    STEP(f, 24, NODE2, "-n", "-o", "-M", "-K", "0x22", "-S", "0x44", "-Q", "1",
         "-X", NODE1, "@DEV");
    /* sg_persist's own rules for -M, -U, -Q. */
    STEP_FLAGS(f, STEP_USAGE, 31, NODE3, "-n", "-o", "-M", "-K", "0x33", "-S",
               "0x44", "@DEV");
    STEP_FLAGS(f, STEP_USAGE, 31, NODE3, "-n", "-o", "-G", "-U", "-S", "1",
               "@DEV");
    STEP_FLAGS(f, STEP_USAGE, 31, NODE3, "-n", "-o", "-G", "-Q", "2", "-S", "1",
               "@DEV");
    STEP(f, 1, NODE3, "-n", "-o", "-M", "-Q", "10000", "-X", NODE1, "@DEV");
}

/*
 * Exit statuses as sg_lib maps them: RESERVATION CONFLICT 24, ILLEGAL
 * REQUEST 5, INVALID OPCODE 9 (PR OUT through a read-only descriptor,
 * which softprd refuses as qemu-pr-helper does), an unopenable device
 * 50 + errno, syntax errors 1, contradictions 31; SG_PERSIST_IN_RDONLY
 * and -y/-yy.
 */
static void test_compare_errors(void **state)
{
    Fixture *f = *state;
    static const char *const in_rdonly[] = {"SG_PERSIST_IN_RDONLY=1", NULL};
    g_autofree char *missing = g_build_filename(f->dir, "missing.img", NULL);

    start_pair(f, CONFIG_BASE);
    STEP(f, 9, NODE1, "-n", "-y", "-o", "-G", "-S", "1", "@DEV");
    STEP(f, 9, NODE1, "-n", "--readonly", "-v", "-o", "-G", "-S", "1", "@DEV");
    STEP(f, 0, NODE1, "-n", "-y", "-i", "-k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-yy", "-o", "-G", "-S", "1", "@DEV");
    STEP(f, 0, NODE1, "-n", "-yyy", "-i", "-k", "@DEV");
    /* SG_PERSIST_IN_RDONLY opens read-only for PR IN only. */
    assert_int_equal(step_full(f, STEP_ALL, NODE1, NULL, in_rdonly,
                               ARGS("-n", "-vv", "-i", "-k", "@DEV")),
                     0);
    assert_int_equal(
        step_full(f, STEP_ALL, NODE1, NULL, in_rdonly,
                  ARGS("-n", "-vv", "-o", "-G", "-K", "1", "-S", "2", "@DEV")),
        0);
    assert_int_equal(step_full(f, STEP_ALL, NODE1, NULL, in_rdonly,
                               ARGS("-n", "-yy", "-vv", "-i", "-k", "@DEV")),
                     0);
    STEP(f, 24, NODE2, "-n", "-o", "-C", "-K", "5", "@DEV");
    STEP(f, 24, NODE2, "-n", "-o", "-L", "-T", "1", "-K", "5", "@DEV");
    /* SPEC_I_PT from a registered nexus: INVALID FIELD IN PARAMETER
     * LIST (SPC-4 6.14.3). */
    STEP(f, 0, NODE2, "-n", "-o", "-G", "-S", "1", "@DEV");
    STEP(f, 5, NODE2, "-n", "-o", "-G", "-K", "1", "-S", "2", "-X", NODE3,
         "@DEV");
    STEP(f, 5, NODE2, "-n", "-vv", "-o", "-G", "-K", "1", "-S", "2", "-X",
         NODE3, "@DEV");
    /* The device cannot be opened: 50 + ENOENT. */
    STEP(f, 52, NODE1, "-n", "-i", "-k", missing);
    STEP(f, 52, NODE1, "-i", "-k", missing);
    STEP(f, 52, NODE1, "-n", "-vv", "-o", "-G", "-S", "1", missing);
    /* Syntax errors and contradictions. */
    STEP_FLAGS(f, STEP_USAGE, 1, NODE1, "-n", "-i", "-k");
    STEP_FLAGS(f, STEP_USAGE, 31, NODE1, "-n", "-i", "-o", "-G", "@DEV");
    STEP(f, 31, NODE1, "-n", "-o", "@DEV");
    STEP(f, 31, NODE1, "-n", "-o", "-G", "-R", "@DEV");
    STEP(f, 31, NODE1, "-n", "-o", "-k", "-G", "@DEV");
    STEP(f, 31, NODE1, "-n", "-G", "@DEV");
    STEP_FLAGS(f, STEP_USAGE, 31, NODE1, "-n", "-i", "-k", "-r", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-S", "zz", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-G", "-K", "zz", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-R", "-T", "x", "@DEV");
    STEP(f, 1, NODE1, "-n", "-o", "-M", "-Q", "q", "@DEV");
    STEP(f, 1, NODE1, "-n", "-l", "3000", "@DEV");
    STEP(f, 1, NODE1, "-n", "-l", "zz", "@DEV");
    STEP(f, 1, NODE1, "-n", "-m", "9000", "@DEV");
    STEP(f, 1, NODE1, "-n", "-m", "2q", "@DEV");
    STEP(f, 0, NODE1, "-n", "-m", "4k", "@DEV");
    STEP(f, 0, NODE1, "-n", "-m", "0x100", "@DEV");
    STEP(f, 0, NODE1, "-n", "-m", "80h", "@DEV");
    STEP_FLAGS(f, STEP_USAGE, 1, NODE1, "-n", "-i", "@DEV", "extra", "more");
    STEP_FLAGS(f, STEP_USAGE, 0, NODE1, "-h");
    STEP_FLAGS(f, STEP_USAGE, 0, NODE1, "-hh", "@DEV");
}

/*
 * sg_persist's command line as getopt_long reads it: long options and
 * their underscore spellings, unambiguous abbreviations, arguments
 * attached to short options, grouped flags, -d, options after the
 * device, "--".
 */
static void test_compare_option_forms(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    STEP(f, 0, NODE1, "--no-inquiry", "--out", "--register-ignore",
         "--param-sark=0xfeed", "@DEV");
    STEP(f, 0, NODE1, "--no_inquiry", "--in", "--read_keys", "@DEV");
    STEP(f, 0, NODE1, "--no-inq", "--read-k", "@DEV");
    STEP(f, 0, NODE1, "-nik", "@DEV");
    STEP(f, 0, NODE1, "-noRT1", "-Kfeed", "@DEV");
    STEP(f, 0, NODE1, "-d", "@DEV", "-n", "-i", "-r");
    STEP(f, 0, NODE1, "@DEV", "-n", "-i", "--read-status");
    STEP(f, 0, NODE1, "--device=@DEV", "-ni", "--report-capabilities");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "--", "@DEV");
    STEP(f, 0, NODE1, "-n", "--out", "--release", "--prout-type", "1",
         "--param-rk", "feed", "@DEV");
    STEP(f, 0, NODE1, "-n", "--out", "--clear", "--param_rk=0xFEED", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "--hex", "--maxlen=64", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "--alloc-length", "40", "@DEV");
    STEP(f, 24, NODE1, "-n", "-o", "--preempt-abort", "--prout_type=5",
         "--param-rk=1", "--param-sark=2", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-G", "--param-alltgpt", "--param-aptpl",
         "-S", "7", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-s", "--verbose", "@DEV");
    /* -vV: sg_persist's remark, then the version. */
    assert_int_equal(
        step_full(f, STEP_STDOUT_ONLY, NODE1, NULL, NULL, ARGS("-vV")), 0);
}

/*
 * What differs on purpose.  The version line names softpr too, after
 * sg_persist's.  An unknown option or a missing argument is a syntax
 * error (exit 1), where sg_persist 1.46 prints its usage and exits 0: a
 * fencing script must not take a mistyped PR OUT for success.  The
 * diagnostics before the usage are getopt's, the same.
 */
static void test_compare_deliberate_differences(void **state)
{
    Fixture *f = *state;
    static const char *const unknown[][4] = {
        {"-n", "-q", "-i", "@DEV"},   {"-n", "--bogus", "-i", "@DEV"},
        {"-n", "--re", "-i", "@DEV"}, {"-n", "--in=1", "-k", "@DEV"},
        {"-n", "-i", "@DEV", "-K"},
    };
    Run sg = {0};
    Run tl = {0};
    size_t i;

    start_pair(f, CONFIG_BASE);
    run_sg(f, NODE1, NULL, NULL, ARGS("-V"), &sg);
    run_tool_on(f, f->tool, NODE1, NULL, NULL, ARGS("-V"), &tl);
    assert_int_equal(sg.status, 0);
    assert_int_equal(tl.status, 0);
    assert_string_equal(sg.err, SG_PERSIST_VERSION_LINE "\n");
    assert_string_equal(tl.err, SG_PERSIST_VERSION_LINE
                        " (softpr " SOFTPR_VERSION ")\n");
    run_clear(&sg);
    run_clear(&tl);
    for (i = 0; i < G_N_ELEMENTS(unknown); i++) {
        const char *args[5] = {unknown[i][0], unknown[i][1], unknown[i][2],
                               unknown[i][3], NULL};
        g_autofree char *sg_err = NULL;
        g_autofree char *a = NULL;
        g_autofree char *b = NULL;

        run_sg(f, NODE1, NULL, NULL, args, &sg);
        run_tool_on(f, f->tool, NODE1, NULL, NULL, args, &tl);
        sg_err = normalise_program_name(sg.err);
        a = before_usage(sg_err);
        b = before_usage(tl.err);
        assert_int_equal(sg.status, 0);
        assert_int_equal(tl.status, 1);
        assert_true(g_str_has_prefix(a, "sg_persist: "));
        assert_string_equal(a, b);
        assert_non_null(strstr(tl.err, "Usage: softpr persist"));
        assert_string_equal(sg.out, tl.out);
        run_clear(&sg);
        run_clear(&tl);
    }
}

/*
 * Unit attentions reported (unit-attentions = report): the preempted
 * node's next command gets REGISTRATIONS PREEMPTED (SPC-4 5.12.11.4.3,
 * table 49) and sg_persist exits 6 with the sense decoded; the one after
 * runs.  With -v and -vv too.
 */
static void test_compare_unit_attention(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_REPORT_UA);
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "a", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "b", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-R", "-T", "5", "-K", "b", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-P", "-T", "5", "-K", "a", "-S", "b",
         "@DEV");
    STEP(f, 6, NODE2, "-n", "-i", "-k", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "@DEV");
    /* RELEASE of a type 5 reservation by its holder: RESERVATIONS
     * RELEASED for the other registrants (5.12.11.2). */
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "b", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-L", "-T", "5", "-K", "a", "@DEV");
    STEP(f, 6, NODE2, "-n", "-v", "-i", "-r", "@DEV");
    /* CLEAR: RESERVATIONS PREEMPTED for every other registrant. */
    STEP(f, 0, NODE1, "-n", "-o", "-C", "-K", "a", "@DEV");
    STEP(f, 6, NODE2, "-n", "-vv", "-o", "-I", "-S", "c", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "c", "@DEV");
}

/*
 * fence_scsi (fence-agents agents/scsi/fence_scsi.py) from two nodes,
 * as the reference lists it: unfence both, node2 fences node1 with
 * PREEMPT AND ABORT, node1 comes back; a stale registration with node1's
 * key is removed by self-preempt.  Every step through both tools.
 */
static void test_compare_fence_scsi(void **state)
{
    Fixture *f = *state;

    start_pair(f, CONFIG_BASE);
    /* A stale nexus with node1's key (a previous incarnation). */
    STEP(f, 0, NODE3, "-n", "-o", "-I", "-S", "5f3a0001", "-d", "@DEV");
    /* Unfence node1: the key exists, so self-preempt, then register. */
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "5f3a0001", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-P", "-T", "5", "-K", "5f3a0001", "-S",
         "5f3a0001", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "5f3a0001", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-o", "-R", "-T", "5", "-K", "5f3a0001", "-d",
         "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "-d", "@DEV");
    /* Unfence node2. */
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE2, "-n", "-o", "-I", "-S", "5f3a0002", "-d", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-r", "-d", "@DEV");
    /* node2 fences node1. */
    STEP(f, 0, NODE2, "-n", "-o", "-A", "-T", "5", "-K", "5f3a0002", "-S",
         "5f3a0001", "-d", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE2, "-n", "-i", "-r", "-d", "@DEV");
    /* node1 is fenced: its reservation commands conflict; it sees the
     * keys (read-only open, as fence_scsi --readonly does). */
    STEP(f, 24, NODE1, "-n", "-o", "-R", "-T", "5", "-K", "5f3a0001", "-d",
         "@DEV");
    STEP(f, 0, NODE1, "-n", "-y", "-i", "-k", "-d", "@DEV");
    /* node1 comes back. */
    STEP(f, 0, NODE1, "-n", "-o", "-I", "-S", "5f3a0001", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-k", "-d", "@DEV");
    STEP(f, 0, NODE1, "-n", "-i", "-r", "-d", "@DEV");
}

/* ------------------------------------------------------------------ */
/* Output and exit statuses against sg_persist's formats               */
/* ------------------------------------------------------------------ */

/*
 * READ KEYS and READ RESERVATION as sg_persist.c prints them:
 * "  PR generation=0x%x, " then "there are NO registered reservation
 * keys", "1 registered reservation key follows:" or "%d registered
 * reservation keys follow:" and "    0x%" PRIx64 per key; "there is NO
 * reservation held" or "Reservation follows:", "    Key=0x%" PRIx64,
 * "    scope: LU_SCOPE, " " type: %s".  The INQUIRY header "  %.8s  %.16s
 * %.4s" and "  Peripheral device type: %s".
 */
static void test_format_keys_and_reservation(void **state)
{
    Fixture *f = *state;
    char *out;

    start_tool_daemon(f, CONFIG_BASE);
    out = tool_ok(f, NODE1, ARGS("-n", "-i", "-k", "@DEV"));
    assert_string_equal(
        out, "  PR generation=0x0, there are NO registered reservation keys\n");
    g_free(out);
    out = tool_ok(f, NODE1, ARGS("-i", "-r", "@DEV"));
    assert_string_equal(out, "  SOFTPR    PR EMULATION      0001\n"
                             "  Peripheral device type: disk\n"
                             "  PR generation=0x0, there is NO reservation "
                             "held\n");
    g_free(out);
    g_free(tool_ok(f, NODE1, ARGS("-n", "-o", "-G", "-S", "0x123abc", "@DEV")));
    out = tool_ok(f, NODE1, ARGS("-n", "-i", "-k", "@DEV"));
    assert_string_equal(out, "  PR generation=0x1, 1 registered reservation "
                             "key follows:\n"
                             "    0x123abc\n");
    g_free(out);
    g_free(tool_ok(f, NODE2,
                   ARGS("-n", "-o", "-G", "-S", "ffffffffffffffff", "@DEV")));
    g_free(tool_ok(
        f, NODE2,
        ARGS("-n", "-o", "-R", "-T", "7", "-K", "0xffffffffffffffff", "@DEV")));
    out = tool_ok(f, NODE1, ARGS("-n", "-i", "-k", "@DEV"));
    assert_string_equal(out, "  PR generation=0x2, 2 registered reservation "
                             "keys follow:\n"
                             "    0x123abc\n"
                             "    0xffffffffffffffff\n");
    g_free(out);
    /* All registrants hold a type 7 reservation; its key is zero. */
    out = tool_ok(f, NODE1, ARGS("-n", "-i", "-r", "@DEV"));
    assert_string_equal(out, "  PR generation=0x2, Reservation follows:\n"
                             "    Key=0x0\n"
                             "    scope: LU_SCOPE,  type: Write Exclusive, "
                             "all registrants\n");
    g_free(out);
}

/*
 * READ FULL STATUS and REPORT CAPABILITIES as sg_persist.c prints them,
 * with softprd's capabilities (SPC-4 6.13.4: RLR_C, SIP_C, ATP_C,
 * PTPL_C, TMV and every type) and sg_lib.c's TransportID decoding
 * ("      Transport Id of initiator:", "        iSCSI name: %.*s").
 */
static void test_format_full_status_and_capabilities(void **state)
{
    Fixture *f = *state;
    char *out;

    start_tool_daemon(f, CONFIG_BASE);
    g_free(tool_ok(f, NODE1, ARGS("-n", "-o", "-I", "-S", "1", "@DEV")));
    g_free(tool_ok(f, NODE1,
                   ARGS("-n", "-o", "-R", "-T", "5", "-K", "1", "@DEV")));
    /* ALL_TG_PT registers one I_T nexus per target port, each shown
     * with its port (SPC-4 5.12.7, 6.13.5); the daemon has one. */
    g_free(tool_ok(f, "sas,5000c50005b32001",
                   ARGS("-n", "-o", "-I", "-S", "2", "-Y", "@DEV")));
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-s", "@DEV"));
    assert_string_equal(out, "  PR generation=0x2\n"
                             "    Key=0x1\n"
                             "      All target ports bit clear\n"
                             "      Relative port address: 0x1\n"
                             "      << Reservation holder >>\n"
                             "      scope: LU_SCOPE,  type: Write Exclusive, "
                             "registrants only\n"
                             "      Transport Id of initiator:\n"
                             "        iSCSI name: " NODE1 "\n"
                             "    Key=0x2\n"
                             "      All target ports bit clear\n"
                             "      Relative port address: 0x1\n"
                             "      not reservation holder\n"
                             "      Transport Id of initiator:\n"
                             "        SAS address: 0x5000c50005b32001\n");
    g_free(out);
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-c", "@DEV"));
    assert_string_equal(out, "Report capabilities response:\n"
                             "  Replace Lost Reservation Capable(RLR_C): 1\n"
                             "  Compatible Reservation Handling(CRH): 0\n"
                             "  Specify Initiator Ports Capable(SIP_C): 1\n"
                             "  All Target Ports Capable(ATP_C): 1\n"
                             "  Persist Through Power Loss Capable(PTPL_C): 1\n"
                             "  Type Mask Valid(TMV): 1\n"
                             "  Allow Commands: 0\n"
                             "  Persist Through Power Loss Active(PTPL_A): 0\n"
                             "    Support indicated in Type mask:\n"
                             "      Write Exclusive, all registrants: 1\n"
                             "      Exclusive Access, registrants only: 1\n"
                             "      Write Exclusive, registrants only: 1\n"
                             "      Exclusive Access: 1\n"
                             "      Write Exclusive: 1\n"
                             "      Exclusive Access, all registrants: 1\n");
    g_free(out);
    /* -H: the header decoded, the keys in hex2stdout()'s layout. */
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-k", "-H", "@DEV"));
    assert_string_equal(out, "  PR generation=0x2, Additional length=16\n"
                             " 00     00 00 00 00 00 00 00 01  00 00 00 00 "
                             "00 00 00 02\n");
    g_free(out);
}

/* Run softpr persist and check its exit status and stderr exactly. */
static void expect_failure(Fixture *f, const char *initiator,
                           const char *const *args, int status,
                           const char *err_expected)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int got = tool(f, initiator, args, &out, &err);

    if (got != status || strcmp(err, err_expected) != 0) {
        fprintf(stderr, "--- exit %d, stderr:\n%s--- expected exit %d:\n%s",
                got, err, status, err_expected);
        fail_msg("unexpected failure output");
    }
}

/*
 * Exit statuses from include/sg_lib.h and the messages sg_persist.c and
 * sg_lib.c print: SG_LIB_CAT_RES_CONFLICT 24 "Reservation conflict",
 * SG_LIB_CAT_ILLEGAL_REQ 5 "bad field in cdb or parameter list",
 * SG_LIB_CAT_INVALID_OP 9 "command not supported",
 * SG_LIB_CAT_UNIT_ATTENTION 6 with the sense decoded ("Fixed format,
 * current; Sense key: Unit Attention"), SG_LIB_SYNTAX_ERROR 1,
 * SG_LIB_CONTRADICT 31, 50 + errno.
 */
static void test_format_exit_statuses(void **state)
{
    Fixture *f = *state;
    g_autofree char *missing = g_build_filename(f->dir, "nothing", NULL);
    g_autofree char *missing_err =
        g_strdup_printf("sg_persist: error opening file %s (rw): No such "
                        "file or directory\n",
                        missing);

    start_tool_daemon(f, CONFIG_REPORT_UA);
    expect_failure(f, NODE1,
                   ARGS("-n", "-o", "-R", "-T", "1", "-K", "1", "@DEV"), 24,
                   "PR out (Reserve): Reservation conflict\n"
                   "sg_persist failed: Reservation conflict\n");
    expect_failure(f, NODE1,
                   ARGS("-n", "-v", "-o", "-R", "-T", "1", "-K", "1", "@DEV"),
                   24,
                   "    Persistent reservation out cdb: [5f 01 01 00 00 00 "
                   "00 00 18 00]\n"
                   "PR out (Reserve): Reservation conflict, type: SCSI "
                   "status\n");
    g_free(tool_ok(f, NODE1, ARGS("-n", "-o", "-G", "-S", "1", "@DEV")));
    expect_failure(f, NODE1,
                   ARGS("-n", "-o", "-R", "-T", "2", "-K", "1", "@DEV"), 5,
                   "PR out (Reserve): bad field in cdb or parameter list "
                   "(perhaps unsupported service action)\n"
                   "sg_persist failed: Illegal request\n");
    expect_failure(f, NODE1,
                   ARGS("-n", "--readonly", "-o", "-C", "-K", "1", "@DEV"), 9,
                   "PR out (Clear): command not supported\n"
                   "sg_persist failed: Illegal request, Invalid opcode\n");
    g_free(tool_ok(f, NODE2, ARGS("-n", "-o", "-G", "-S", "2", "@DEV")));
    g_free(tool_ok(
        f, NODE1,
        ARGS("-n", "-o", "-P", "-T", "5", "-K", "1", "-S", "2", "@DEV")));
    expect_failure(f, NODE2, ARGS("-n", "-i", "-k", "@DEV"), 6,
                   "Persistent reservation in:\n"
                   "Fixed format, current; Sense key: Unit Attention\n"
                   "Additional sense: Registrations preempted\n"
                   "PR in (Read keys): Unit attention\n"
                   "sg_persist failed: Unit attention\n");
    expect_failure(f, NODE2, ARGS("-n", "-o", "@DEV"), 31,
                   ">> For Persistent Reserve Out one and only one "
                   "appropriate\n"
                   ">> service action must be chosen (e.g. '--register')\n");
    expect_failure(f, NODE2, ARGS("-n", "-o", "-G", "-K", "g", "@DEV"), 1,
                   "bad argument to '--param-rk'\n");
    expect_failure(f, NODE2, ARGS("-n", "-i", "-k", missing), 52, missing_err);
}

/*
 * Failures of softpr persist's own: no daemon on the configured socket,
 * --initiator wrong, no daemon, a socket whose identity policy is not
 * "client" asked to take --initiator.
 */
static void test_own_failures(void **state)
{
    Fixture *f = *state;
    g_autofree char *dir = g_build_filename(f->dir, "auto", NULL);
    g_autofree char *nowhere = g_build_filename(f->dir, "none.sock", NULL);
    g_autofree char *socket_arg = NULL;
    g_autofree char *auto_arg = NULL;
    g_autofree char *config = NULL;
    g_autofree char *config_text = NULL;
    g_autofree char *config_arg = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    TestDaemon *plain;
    int status;

    /* Without --socket, the socket softprd's configuration names. */
    config = g_build_filename(f->dir, "softprd.conf", NULL);
    config_text = g_strdup_printf("[daemon]\nsocket = %s\n", nowhere);
    assert_true(g_file_set_contents(config, config_text, -1, NULL));
    config_arg = g_strconcat("--config=", config, NULL);
    status =
        testtool_run(ARGS("persist", config_arg, "-n", "-i", "-k", f->disk),
                     NULL, NULL, &out, &err);
    assert_int_equal(status, 99);
    assert_non_null(strstr(err, nowhere));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    socket_arg = g_strconcat("--socket=", nowhere, NULL);
    status = testtool_run(ARGS("persist", socket_arg, "--initiator=bad name",
                               "-n", "-i", "-k", f->disk),
                          NULL, NULL, &out, &err);
    assert_int_equal(status, 1);
    assert_true(g_str_has_prefix(err, "softpr persist: --initiator: "));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* No daemon: the transport failed, "some other error" (99). */
    status = testtool_run(ARGS("persist", socket_arg, "--initiator=" NODE1,
                               "-n", "-i", "-k", f->disk),
                          NULL, NULL, &out, &err);
    assert_int_equal(status, 99);
    assert_true(g_str_has_prefix(err, "softpr persist: Failed to connect"));
    assert_string_equal(out, "");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* A socket with the default identity policy refuses the
     * declaration. */
    assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
    plain = testd_start(dir, "prh", CONFIG_BASE, NULL);
    auto_arg = g_strconcat("--socket=", plain->socket, NULL);
    status = testtool_run(ARGS("persist", auto_arg, "--initiator=" NODE1, "-n",
                               "-i", "-k", f->disk),
                          NULL, NULL, &out, &err);
    testd_stop(plain);
    testd_free(plain);
    assert_int_equal(status, 99);
    assert_non_null(strstr(err, "identity policy is not 'client'"));
}

/* ------------------------------------------------------------------ */
/* On softprd's defaults                                               */
/* ------------------------------------------------------------------ */

/* Run as nobody, as an unprivileged user runs softprd and softpr. */
#define AS_NOBODY                                                              \
    "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"

/* A directory nobody owns, under the test's. */
static char *nobody_dir(Fixture *f, const char *name)
{
    char *dir = g_build_filename(f->dir, name, NULL);

    assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    return dir;
}

/* softpr persist @args as nobody with @env; its status, output, errors. */
static int persist_as_nobody(const char *const *env, const char *const *args,
                             char **out, char **err)
{
    g_autofree char *softpr = testtool_binary();
    g_autofree char *binary = g_canonicalize_filename(softpr, NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *const prefix[] = {AS_NOBODY, NULL};
    size_t i;

    for (i = 0; prefix[i] != NULL; i++) {
        g_ptr_array_add(argv, (char *)prefix[i]);
    }
    g_ptr_array_add(argv, binary);
    g_ptr_array_add(argv, (char *)"persist");
    for (i = 0; args[i] != NULL; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    return testtool_run_program((const char *const *)argv->pdata, env, NULL,
                                out, err);
}

/*
 * The issue's case: softprd started as a user starts it, with no -k and
 * its default "auto" identity policy, and softpr persist with no
 * --socket nor --initiator, both as the same unprivileged user.  softpr
 * persist finds the daemon's default socket ($XDG_RUNTIME_DIR/
 * softprd.sock, softprd's own computation), reads the keys, and what it
 * registers belongs to this host's initiator, as for any peer that is
 * not QEMU; --initiator on that socket is refused (99).
 */
static void test_default_socket_as_host(void **state)
{
    Fixture *f = *state;
    g_autofree char *home = nobody_dir(f, "user");
    g_autofree char *run = g_build_filename(home, "run", NULL);
    g_autofree char *sock = g_build_filename(run, "softprd.sock", NULL);
    g_autofree char *conf = g_build_filename(home, "softprd.conf", NULL);
    g_autofree char *conf_arg = g_strconcat("--config=", conf, NULL);
    g_autofree char *disk = g_build_filename(home, "disk.img", NULL);
    g_autofree char *runtime = g_strconcat("XDG_RUNTIME_DIR=", run, NULL);
    g_autofree char *state_home = g_strconcat("XDG_STATE_HOME=", home, NULL);
    g_autofree char *daemon = testd_binary();
    g_autofree char *daemon_abs = g_canonicalize_filename(daemon, NULL);
    const char *const env[] = {runtime, state_home, NULL};
    const char *const daemon_argv[] = {AS_NOBODY,   daemon_abs, "-c", conf,
                                       "--host-id", "node-a",   NULL};
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    gint64 give_up = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    int fd;

    assert_true(
        g_file_set_contents(conf, "[lu]\ncreate-xattr = false\n", -1, NULL));
    assert_int_equal(g_mkdir_with_parents(run, 0700), 0);
    assert_int_equal(chown(run, 65534, 65534), 0);
    fd = open(disk, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
    assert_int_equal(fchown(fd, 65534, 65534), 0);
    close(fd);
    g_subprocess_launcher_setenv(launcher, "XDG_RUNTIME_DIR", run, TRUE);
    g_subprocess_launcher_setenv(launcher, "XDG_STATE_HOME", home, TRUE);
    proc = g_subprocess_launcher_spawnv(launcher, daemon_argv, &error);
    assert_non_null(proc);
    while (!g_file_test(sock, G_FILE_TEST_EXISTS)) {
        assert_true(g_get_monotonic_time() < give_up);
        g_usleep(20 * 1000);
    }

    assert_int_equal(persist_as_nobody(
                         env,
                         ARGS(conf_arg, "-n", "-o", "-I", "-S", "0x5eed", disk),
                         &out, &err),
                     0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    assert_int_equal(persist_as_nobody(env,
                                       ARGS(conf_arg, "-n", "--in", "-k", disk),
                                       &out, &err),
                     0);
    assert_non_null(strstr(out, "1 registered reservation key follows:\n"
                                "    0x5eed\n"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* SPC-4 6.13.5: READ FULL STATUS names the registrant's TransportID:
     * this host's initiator. */
    assert_int_equal(persist_as_nobody(env,
                                       ARGS(conf_arg, "-n", "-i", "-s", disk),
                                       &out, &err),
                     0);
    assert_non_null(strstr(out, "iqn.2026-11.org.softpr:host:node-a"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    assert_int_equal(persist_as_nobody(env,
                                       ARGS(conf_arg, "--initiator=" NODE1,
                                            "-n", "-i", "-k", disk),
                                       &out, &err),
                     99);
    assert_non_null(strstr(err, "identity policy is not 'client'"));

    g_subprocess_send_signal(proc, SIGTERM);
    assert_true(g_subprocess_wait(proc, NULL, NULL));
    assert_true(g_subprocess_get_if_exited(proc));
    assert_int_equal(g_subprocess_get_exit_status(proc), 0);
}

/*
 * fence_scsi's parsing of sg_persist's output, on softpr persist's:
 * registration keys are the matches of r"\s+0x(\S+)\s*" per line of
 * "-n -i -k -d DEV"; the reservation key is r"\s+key=0x(\S+)\s+"
 * (case-insensitive) in "-n -i -r -d DEV".  Node2 fences node1 with
 * PREEMPT AND ABORT; node1's key is gone, some reservation exists and
 * node2 holds it with the same type, 5.
 */
static GPtrArray *fence_keys(const char *out)
{
    g_autoptr(GRegex) re = g_regex_new("\\s+0x(\\S+)\\s*", 0, 0, NULL);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; lines[i] != NULL; i++) {
        g_autoptr(GMatchInfo) m = NULL;

        if (g_regex_match(re, lines[i], 0, &m)) {
            g_ptr_array_add(keys, g_match_info_fetch(m, 1));
        }
    }
    return keys;
}

static char *fence_reservation_key(const char *out)
{
    g_autoptr(GRegex) re =
        g_regex_new("\\s+key=0x(\\S+)\\s+", G_REGEX_CASELESS, 0, NULL);
    g_autoptr(GMatchInfo) m = NULL;

    return g_regex_match(re, out, 0, &m) ? g_match_info_fetch(m, 1) : NULL;
}

static bool has_key(GPtrArray *keys, const char *key)
{
    guint i;

    for (i = 0; i < keys->len; i++) {
        if (strcmp(g_ptr_array_index(keys, i), key) == 0) {
            return true;
        }
    }
    return false;
}

static void test_fence_scsi_parsing(void **state)
{
    Fixture *f = *state;
    g_autofree char *out = NULL;
    g_autofree char *key = NULL;
    g_autoptr(GPtrArray) keys = NULL;

    start_tool_daemon(f, CONFIG_BASE);
    g_free(tool_ok(f, NODE1,
                   ARGS("-n", "-o", "-I", "-S", "5f3a0001", "-d", "@DEV")));
    g_free(tool_ok(
        f, NODE1,
        ARGS("-n", "-o", "-R", "-T", "5", "-K", "5f3a0001", "-d", "@DEV")));
    g_free(tool_ok(f, NODE2,
                   ARGS("-n", "-o", "-I", "-S", "5f3a0002", "-d", "@DEV")));
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-k", "-d", "@DEV"));
    keys = fence_keys(out);
    assert_int_equal(keys->len, 2);
    assert_true(has_key(keys, "5f3a0001"));
    assert_true(has_key(keys, "5f3a0002"));
    g_clear_pointer(&keys, g_ptr_array_unref);
    g_free(out);
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-r", "-d", "@DEV"));
    key = fence_reservation_key(out);
    assert_string_equal(key, "5f3a0001");
    g_clear_pointer(&key, g_free);
    g_free(out);
    g_free(tool_ok(f, NODE2,
                   ARGS("-n", "-o", "-A", "-T", "5", "-K", "5f3a0002", "-S",
                        "5f3a0001", "-d", "@DEV")));
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-k", "-d", "@DEV"));
    keys = fence_keys(out);
    assert_int_equal(keys->len, 1);
    assert_false(has_key(keys, "5f3a0001"));
    g_free(out);
    out = tool_ok(f, NODE2, ARGS("-n", "-i", "-r", "-d", "@DEV"));
    key = fence_reservation_key(out);
    assert_string_equal(key, "5f3a0002");
    assert_non_null(strstr(out, "type: Write Exclusive, registrants only\n"));
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_compare_prin_empty),
        T(test_compare_register_reserve_release),
        T(test_compare_types),
        T(test_compare_preempt_clear),
        T(test_compare_transport_ids),
        T(test_compare_register_move),
        T(test_compare_errors),
        T(test_compare_option_forms),
        T(test_compare_deliberate_differences),
        T(test_compare_unit_attention),
        T(test_compare_fence_scsi),
        T(test_format_keys_and_reservation),
        T(test_format_full_status_and_capabilities),
        T(test_format_exit_statuses),
        T(test_own_failures),
        T(test_default_socket_as_host),
        T(test_fence_scsi_parsing),
    };

    return TESTUTIL_RUN("persist", tests, NULL, NULL);
}
