/*
 * test_units: every setup the documentation recommends works under the
 * shipped systemd units.  The restrictions are read from
 * systemd/softprd.service.in and softprd.socket and applied as systemd
 * applies them (a mount namespace for ProtectSystem=strict and friends,
 * the capability bounding set, no new privileges, the state and runtime
 * directories, socket activation with the socket unit's blocking socket,
 * Type=notify), so that the test follows the units when they change: a
 * directive it does not know fails it.  The setups are taken from
 * docs/softprd.conf.example and systemd/softpr.sysusers.
 *
 * PID 1 here is not systemd, so the units themselves cannot be started;
 * what systemd-analyze checks of them is in make check-docs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "daemon.h"
#include "launch.h"
#include "sandbox.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

/* What the test does with each directive of [Service] and [Socket]. */
typedef enum Handling {
    EMULATED,
    /* A seccomp or kernel-interface filter on calls softprd never makes:
     * not emulated, named here so that a new directive is noticed. */
    NOT_APPLICABLE,
} Handling;

static const struct {
    const char *key;
    Handling handling;
} known_directives[] = {
    {"Type", EMULATED},
    {"ExecStart", EMULATED},
    {"Restart", NOT_APPLICABLE},
    {"StateDirectory", EMULATED},
    {"StateDirectoryMode", EMULATED},
    {"RuntimeDirectory", EMULATED},
    {"RuntimeDirectoryMode", EMULATED},
    {"ReadWritePaths", EMULATED},
    {"CapabilityBoundingSet", EMULATED},
    {"NoNewPrivileges", EMULATED},
    {"ProtectSystem", EMULATED},
    {"ProtectHome", EMULATED},
    {"PrivateTmp", EMULATED},
    {"ProtectKernelTunables", EMULATED},
    {"ProtectControlGroups", EMULATED},
    {"RestrictAddressFamilies", NOT_APPLICABLE},
    {"RestrictNamespaces", NOT_APPLICABLE},
    {"RestrictRealtime", NOT_APPLICABLE},
    {"ProtectKernelModules", NOT_APPLICABLE},
    {"ProtectClock", NOT_APPLICABLE},
    {"LockPersonality", NOT_APPLICABLE},
    {"MemoryDenyWriteExecute", NOT_APPLICABLE},
    {"SystemCallArchitectures", NOT_APPLICABLE},
    {"ListenStream", EMULATED},
    {"SocketMode", EMULATED},
};

/* The units, as the test applies them. */
typedef struct Unit {
    char **exec_start; /* argv, @BINDIR@ resolved */
    bool notify;
    char *state_dir; /* /var/lib/... */
    unsigned state_mode;
    char *runtime_dir; /* /run/... */
    unsigned runtime_mode;
    GPtrArray *read_write; /* ReadWritePaths */
    guint64 bounding;      /* capability mask */
    bool no_new_privs;
    bool protect_system_strict;
    bool protect_home;
    bool private_tmp;
    bool protect_kernel; /* ProtectKernelTunables/ControlGroups */
    char *listen;        /* the socket unit's ListenStream */
    unsigned socket_mode;
} Unit;

typedef struct Fixture {
    char *dir;
    char *srcdir; /* the source tree (the tests run from it) */
    Unit unit;
    int disk;
} Fixture;

/* ------------------------------------------------------------------ */
/* Reading the units                                                   */
/* ------------------------------------------------------------------ */

static int capability_number(const char *name)
{
    static const struct {
        const char *name;
        int cap;
    } caps[] = {
        {"CAP_CHOWN", CAP_CHOWN},
        {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
        {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
        {"CAP_FOWNER", CAP_FOWNER},
        {"CAP_SETGID", CAP_SETGID},
        {"CAP_SETUID", CAP_SETUID},
        {"CAP_SETPCAP", CAP_SETPCAP},
        {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
        {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(caps); i++) {
        if (strcmp(name, caps[i].name) == 0) {
            return caps[i].cap;
        }
    }
    fail_msg("CapabilityBoundingSet: %s is not known to this test", name);
    return -1;
}

static bool yes(const char *value)
{
    return g_ascii_strcasecmp(value, "yes") == 0 ||
           g_ascii_strcasecmp(value, "true") == 0;
}

/* Apply [Service] or [Socket] directive @key=@value to @unit. */
static void apply_directive(Fixture *f, const char *key, const char *value)
{
    Unit *u = &f->unit;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(known_directives); i++) {
        if (strcmp(known_directives[i].key, key) == 0) {
            break;
        }
    }
    if (i == G_N_ELEMENTS(known_directives)) {
        fail_msg("the units have %s=, which this test does not apply: "
                 "teach it",
                 key);
    }
    if (strcmp(key, "Type") == 0) {
        u->notify = strcmp(value, "notify") == 0;
    } else if (strcmp(key, "ExecStart") == 0) {
        g_autofree char *bin =
            g_canonicalize_filename(testutil_build_dir(), f->srcdir);
        g_autofree char *line = NULL;
        GRegex *at = g_regex_new("@BINDIR@", 0, 0, NULL);

        line = g_regex_replace_literal(at, value, -1, 0, bin, 0, NULL);
        g_regex_unref(at);
        assert_true(g_shell_parse_argv(line, NULL, &u->exec_start, NULL));
    } else if (strcmp(key, "StateDirectory") == 0) {
        u->state_dir = g_build_filename("/var/lib", value, NULL);
    } else if (strcmp(key, "StateDirectoryMode") == 0) {
        u->state_mode = (unsigned)g_ascii_strtoull(value, NULL, 8);
    } else if (strcmp(key, "RuntimeDirectory") == 0) {
        u->runtime_dir = g_build_filename("/run", value, NULL);
    } else if (strcmp(key, "RuntimeDirectoryMode") == 0) {
        u->runtime_mode = (unsigned)g_ascii_strtoull(value, NULL, 8);
    } else if (strcmp(key, "ReadWritePaths") == 0) {
        g_ptr_array_add(u->read_write, g_strdup(value));
    } else if (strcmp(key, "CapabilityBoundingSet") == 0) {
        g_auto(GStrv) names = g_strsplit(value, " ", -1);
        guint j;

        for (j = 0; names[j] != NULL; j++) {
            if (*names[j] != '\0') {
                u->bounding |= G_GUINT64_CONSTANT(1)
                               << capability_number(names[j]);
            }
        }
    } else if (strcmp(key, "NoNewPrivileges") == 0) {
        u->no_new_privs = yes(value);
    } else if (strcmp(key, "ProtectSystem") == 0) {
        assert_string_equal(value, "strict");
        u->protect_system_strict = true;
    } else if (strcmp(key, "ProtectHome") == 0) {
        u->protect_home = yes(value);
    } else if (strcmp(key, "PrivateTmp") == 0) {
        u->private_tmp = yes(value);
    } else if (strcmp(key, "ProtectKernelTunables") == 0 ||
               strcmp(key, "ProtectControlGroups") == 0) {
        u->protect_kernel = u->protect_kernel || yes(value);
    } else if (strcmp(key, "ListenStream") == 0) {
        u->listen = g_strdup(value);
    } else if (strcmp(key, "SocketMode") == 0) {
        u->socket_mode = (unsigned)g_ascii_strtoull(value, NULL, 8);
    }
}

/* The directives of section @section of unit file @name. */
static void read_unit(Fixture *f, const char *name, const char *section)
{
    g_autofree char *path = g_build_filename(f->srcdir, "systemd", name, NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    bool in_section = false;
    guint i;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] != NULL; i++) {
        char *line = g_strstrip(lines[i]);
        char *eq;

        if (*line == '\0' || *line == '#' || *line == ';') {
            continue;
        }
        if (*line == '[') {
            in_section = strncmp(line + 1, section, strlen(section)) == 0;
            continue;
        }
        eq = strchr(line, '=');
        if (in_section && eq != NULL) {
            *eq = '\0';
            apply_directive(f, g_strstrip(line), g_strstrip(eq + 1));
        }
    }
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    chmod(f->dir, 0755);
    f->srcdir = g_get_current_dir();
    f->unit.state_mode = 0755;
    f->unit.runtime_mode = 0755;
    f->unit.socket_mode = 0666;
    f->unit.read_write = g_ptr_array_new_with_free_func(g_free);
    read_unit(f, "softprd.service.in", "Service");
    read_unit(f, "softprd.socket", "Socket");
    assert_non_null(f->unit.exec_start);
    assert_non_null(f->unit.listen);
    f->disk = testd_disk(f->dir, "disk.img", O_RDWR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    close(f->disk);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->srcdir);
    g_strfreev(f->unit.exec_start);
    g_free(f->unit.state_dir);
    g_free(f->unit.runtime_dir);
    g_ptr_array_unref(f->unit.read_write);
    g_free(f->unit.listen);
    g_free(f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Running the service as systemd would                                */
/* ------------------------------------------------------------------ */

/* One start of the service: what the child needs. */
typedef struct Service {
    const Unit *unit;
    char *run;      /* the test's directory standing for /run */
    char *var_lib;  /* ... for /var/lib */
    char *etc_cow;  /* scratch for the overlay over /etc */
    char *config;   /* /etc/softpr/softprd.conf, or NULL */
    char *sysusers; /* a sysusers.d file to apply first, or NULL */
    char *log;
} Service;

G_GNUC_NORETURN static void child_fail(const char *what)
{
    fprintf(stderr, "unit: %s: %s\n", what, g_strerror(errno));
    _exit(SANDBOX_FAILED);
}

/* What installing the package and systemd-sysusers did: in /etc of the
 * namespace only. */
static void child_install(const Service *s)
{
    sandbox_overlay("/etc", s->etc_cow);
    if (s->config != NULL &&
        ((mkdir("/etc/softpr", 0755) != 0 && errno != EEXIST) ||
         !g_file_set_contents("/etc/softpr/softprd.conf", s->config, -1,
                              NULL))) {
        child_fail("writing /etc/softpr/softprd.conf");
    }
    if (s->sysusers != NULL) {
        g_autofree char *cmd =
            g_strdup_printf("systemd-sysusers %s >&2", s->sysusers);

        if (system(cmd) != 0) {
            child_fail("systemd-sysusers");
        }
    }
}

/* The socket unit: a listening socket (blocking: no NonBlocking=yes)
 * on descriptor 3 for socket activation. */
static void child_socket(const Unit *u)
{
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    char pid[32];

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, u->listen, sizeof(addr.sun_path));
    unlink(u->listen);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        chmod(u->listen, u->socket_mode) != 0 || listen(fd, SOMAXCONN) != 0 ||
        (fd != 3 && dup2(fd, 3) != 3)) {
        child_fail(u->listen);
    }
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
}

/* The file system the unit's directives leave the service. */
static void child_mounts(const Unit *u)
{
    GPtrArray *writable = g_ptr_array_new();
    guint i;

    for (i = 0; i < u->read_write->len; i++) {
        g_ptr_array_add(writable, g_ptr_array_index(u->read_write, i));
    }
    if (u->state_dir != NULL) {
        g_ptr_array_add(writable, u->state_dir);
    }
    if (u->runtime_dir != NULL) {
        g_ptr_array_add(writable, u->runtime_dir);
    }
    g_ptr_array_add(writable, NULL);
    if (u->protect_system_strict) {
        sandbox_protect_system((const char *const *)writable->pdata);
    }
    if (u->protect_kernel) {
        sandbox_bind("/proc/sys", "/proc/sys", true);
        sandbox_bind("/sys", "/sys", true);
    }
    if (u->protect_home) {
        static const char *const homes[] = {"/home", "/root", "/run/user"};

        for (i = 0; i < G_N_ELEMENTS(homes); i++) {
            if (g_file_test(homes[i], G_FILE_TEST_IS_DIR)) {
                sandbox_tmpfs(homes[i], 0);
            }
        }
    }
    if (u->private_tmp) {
        sandbox_tmpfs("/tmp", 01777);
        sandbox_tmpfs("/var/tmp", 01777);
    }
}

/* systemd's path_chown_recursive() of a StateDirectory= to the unit's
 * user, root here: at every start. */
static void chown_tree_to_root(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    lchown(path, 0, 0);
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
            !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
            chown_tree_to_root(child);
        } else {
            lchown(child, 0, 0);
        }
    }
    if (dir != NULL) {
        g_dir_close(dir);
    }
}

static void child_service(const void *data)
{
    const Service *s = data;
    const Unit *u = s->unit;
    int cap;

    sandbox_enter();
    sandbox_bind(s->run, "/run", false);
    sandbox_bind(s->var_lib, "/var/lib", false);
    child_install(s);
    if (u->state_dir != NULL) {
        if ((mkdir(u->state_dir, u->state_mode) != 0 && errno != EEXIST) ||
            chmod(u->state_dir, u->state_mode) != 0) {
            child_fail(u->state_dir);
        }
        chown_tree_to_root(u->state_dir);
    }
    if (u->runtime_dir != NULL &&
        (mkdir(u->runtime_dir, u->runtime_mode) != 0 ||
         chmod(u->runtime_dir, u->runtime_mode) != 0)) {
        child_fail(u->runtime_dir);
    }
    child_socket(u);
    setenv("NOTIFY_SOCKET", "/run/notify", 1);
    child_mounts(u);
    for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
        if (!(u->bounding & (G_GUINT64_CONSTANT(1) << cap)) &&
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
            child_fail("dropping from the bounding set");
        }
    }
    if (u->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        child_fail("no new privileges");
    }
}

/* The service, its notify socket and where to reach it. */
typedef struct Running {
    pid_t pid;
    int notify_fd;
    char *socket; /* the socket unit's, as the test reaches it */
} Running;

static char *recv_notify(int fd)
{
    struct timeval tv = {60, 0};
    char buf[256];
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    return n < 0 ? NULL : g_strndup(buf, (gsize)n);
}

/* Where the test reaches @path of the service's /run. */
static char *in_run(Service *s, const char *path)
{
    assert_true(g_str_has_prefix(path, "/run/"));
    return g_build_filename(s->run, path + strlen("/run/"), NULL);
}

static void service_init(Fixture *f, Service *s, const char *config,
                         bool sysusers)
{
    memset(s, 0, sizeof(*s));
    s->unit = &f->unit;
    s->run = g_build_filename(f->dir, "run", NULL);
    s->var_lib = g_build_filename(f->dir, "var-lib", NULL);
    s->etc_cow = g_build_filename(f->dir, "etc-cow", NULL);
    s->log = g_build_filename(f->dir, "service.log", NULL);
    s->config = g_strdup(config);
    if (sysusers) {
        s->sysusers =
            g_build_filename(f->srcdir, "systemd", "softpr.sysusers", NULL);
    }
    g_mkdir_with_parents(s->run, 0755);
    g_mkdir_with_parents(s->var_lib, 0755);
    g_mkdir_with_parents(s->etc_cow, 0755);
}

static void service_clear(Service *s)
{
    g_free(s->run);
    g_free(s->var_lib);
    g_free(s->etc_cow);
    g_free(s->log);
    g_free(s->config);
    g_free(s->sysusers);
}

/* Start the service; returns once it said READY=1. */
static void service_start(Service *s, Running *r)
{
    g_autofree char *notify = g_build_filename(s->run, "notify", NULL);
    g_autofree char *ready = NULL;
    Launch launch = LAUNCH_INIT(s->log);
    struct sockaddr_un addr;
    GPtrArray *args = g_ptr_array_new();
    guint i;

    r->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, notify, sizeof(addr.sun_path));
    unlink(notify);
    assert_int_equal(bind(r->notify_fd, (struct sockaddr *)&addr, sizeof(addr)),
                     0);
    /* As systemd's /run/systemd/notify: any service user may send. */
    assert_int_equal(chmod(notify, 0777), 0);
    /* ExecStart= names softprd; launch adds the valgrind prefix. */
    assert_true(g_str_has_suffix(s->unit->exec_start[0], "/softprd"));
    for (i = 1; s->unit->exec_start[i] != NULL; i++) {
        g_ptr_array_add(args, s->unit->exec_start[i]);
    }
    g_ptr_array_add(args, NULL);
    launch.args = (const char *const *)args->pdata;
    launch.exec_pid = true;
    launch.detach = true;
    launch.setup = child_service;
    launch.setup_data = s;
    r->socket = in_run(s, s->unit->listen);
    r->pid = launch_start(&launch);
    g_ptr_array_free(args, TRUE);
    if (s->unit->notify) {
        ready = recv_notify(r->notify_fd);
        if (g_strcmp0(ready, "READY=1") != 0) {
            g_autofree char *out = NULL;

            g_file_get_contents(s->log, &out, NULL, NULL);
            /* cmocka shortens long messages: the log goes out whole. */
            fprintf(stderr, "--- service log:\n%s---\n", out);
            fail_msg("the service did not say READY=1 (exit %d)",
                     launch_wait(r->pid, 0));
        }
    }
}

/* SIGTERM as systemctl stop sends it: STOPPING=1, then exit 0. */
static void service_stop(Service *s, Running *r)
{
    g_autofree char *stopping = NULL;
    int code;

    kill(r->pid, SIGTERM);
    if (s->unit->notify) {
        stopping = recv_notify(r->notify_fd);
        assert_string_equal(stopping, "STOPPING=1");
    }
    code = launch_wait(r->pid, 60000);
    if (code != 0) {
        g_autofree char *out = NULL;

        g_file_get_contents(s->log, &out, NULL, NULL);
        fprintf(stderr, "--- service log:\n%s---\n", out);
        fail_msg("the service exited %d", code);
    }
    close(r->notify_fd);
    g_free(r->socket);
    /* systemd removes the RuntimeDirectory= once the service stopped. */
    if (s->unit->runtime_dir != NULL) {
        g_autofree char *runtime = in_run(s, s->unit->runtime_dir);

        testutil_rmtree(runtime);
    }
}

static guint64 status_hex(pid_t pid, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *line;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, key);
    assert_non_null(line);
    return g_ascii_strtoull(line + strlen(key), NULL, 16);
}

static uid_t status_uid(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *line;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "\nUid:");
    assert_non_null(line);
    return (uid_t)g_ascii_strtoull(line + strlen("\nUid:"), NULL, 10);
}

/*
 * PR OUT REGISTER AND IGNORE EXISTING KEY of @key (whatever an earlier
 * start registered), then READ KEYS: both GOOD, @key the one key.
 */
static void register_and_read(PrClient *c, int disk, uint64_t key)
{
    ClientReply reply;

    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER_IGNORE, 0, 0, key, 0, &reply),
        SCSI_STATUS_GOOD);
    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_true(get_be64(reply.data + 8) == key);
}

/*
 * The lines of group @group in docs/softprd.conf.example, uncommented
 * where they are "#key = value" lines among @keys (NULL: all of the
 * group's), as a user enables them.
 */
static char *example_group(Fixture *f, const char *group,
                           const char *const *keys)
{
    g_autofree char *path =
        g_build_filename(f->srcdir, "docs", "softprd.conf.example", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree char *header = g_strdup_printf("[%s]", group);
    GString *out = g_string_new(NULL);
    bool in_group = false;
    guint i;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];
        const char *bare = line[0] == '#' ? line + 1 : line;
        g_auto(GStrv) kv = NULL;

        if (bare[0] == '[') {
            in_group = strcmp(bare, header) == 0;
            if (in_group) {
                g_string_append_printf(out, "%s\n", header);
            }
            continue;
        }
        if (!in_group || line[0] != '#' || strchr(bare, '=') == NULL ||
            bare[0] == ' ') {
            continue;
        }
        kv = g_strsplit(bare, "=", 2);
        if (keys == NULL || g_strv_contains(keys, g_strstrip(kv[0]))) {
            g_string_append_printf(out, "%s\n", bare);
        }
    }
    if (strchr(out->str, '=') == NULL) {
        fail_msg("docs/softprd.conf.example has no %s in [%s]",
                 keys != NULL ? keys[0] : "keys", group);
    }
    return g_string_free(out, FALSE);
}

/* The value of @key in @group text from example_group(). */
static char *example_value(const char *text, const char *key)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint i;

    for (i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) kv = g_strsplit(lines[i], "=", 2);

        if (kv[0] != NULL && kv[1] != NULL &&
            strcmp(g_strstrip(kv[0]), key) == 0) {
            return g_strdup(g_strstrip(kv[1]));
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The documented setups                                               */
/* ------------------------------------------------------------------ */

/*
 * systemctl enable --now softprd.socket, nothing configured: QEMU's
 * commands on /run/softprd.sock are answered, the database is in the
 * state directory, and the daemon keeps no capability.
 */
static void test_default(void **state)
{
    Fixture *f = *state;
    g_autofree char *db = NULL;
    Service s;
    Running r;
    PrClient *c;

    service_init(f, &s, NULL, false);
    service_start(&s, &r);
    c = testd_connect_path(r.socket);
    register_and_read(c, f->disk, 0xd1);
    client_close(c);
    assert_true(status_hex(r.pid, "CapEff:") == 0);
    assert_true(status_hex(r.pid, "CapBnd:") == 0);
    service_stop(&s, &r);
    db = g_build_filename(s.var_lib, "softpr", "softpr.db", NULL);
    assert_true(g_file_test(db, G_FILE_TEST_IS_REGULAR));
    service_clear(&s);
}

/*
 * The tools socket of docs/softprd.conf.example ([socket tools], whose
 * peers declare their initiator): bound by softprd itself under
 * ProtectSystem=strict, served, and removed at stop.
 */
static void test_tools_socket(void **state)
{
    Fixture *f = *state;
    g_autofree char *group = example_group(f, "socket tools", NULL);
    g_autofree char *path = example_value(group, "path");
    g_autofree char *tools = NULL;
    g_autoptr(GError) error = NULL;
    TransportId admin;
    Service s;
    Running r;
    PrClient *c;

    assert_non_null(path);
    service_init(f, &s, group, false);
    tools = in_run(&s, path);
    service_start(&s, &r);
    assert_true(tid_parse("iqn.2026-11.org.example:admin", &admin, NULL));
    c = client_connect_as(tools, &admin, 20000, &error);
    if (c == NULL) {
        fail_msg("connecting to the tools socket %s: %s", path, error->message);
    }
    register_and_read(c, f->disk, 0x70);
    client_close(c);
    service_stop(&s, &r);
    assert_false(g_file_test(tools, G_FILE_TEST_EXISTS));
    service_clear(&s);
}

/*
 * user = softpr and group = softpr from docs/softprd.conf.example, the
 * user made by systemd/softpr.sysusers as make install makes it: the
 * daemon runs as softpr and answers, the state directory (root's at
 * every start) is softpr's, and a restart works as well.
 */
static void test_user_and_group(void **state)
{
    Fixture *f = *state;
    static const char *const keys[] = {"user", "group", NULL};
    g_autofree char *group = example_group(f, "daemon", keys);
    g_autofree char *user = example_value(group, "user");
    g_autofree char *state_dir = NULL;
    Service s;
    int start;

    if (!g_file_test("/usr/bin/systemd-sysusers", G_FILE_TEST_IS_EXECUTABLE) &&
        !g_file_test("/bin/systemd-sysusers", G_FILE_TEST_IS_EXECUTABLE)) {
        print_message("skipped: systemd-sysusers is not installed\n");
        skip();
    }
    assert_string_equal(user, "softpr");
    service_init(f, &s, group, true);
    state_dir = g_build_filename(s.var_lib, "softpr", NULL);
    for (start = 0; start < 2; start++) {
        Running r;
        PrClient *c;
        struct stat st;

        service_start(&s, &r);
        /* The user exists only in the service's /etc. */
        assert_true(status_uid(r.pid) != 0);
        assert_true(status_hex(r.pid, "CapEff:") == 0);
        c = testd_connect_path(r.socket);
        register_and_read(c, f->disk, 0x5f + start);
        client_close(c);
        assert_int_equal(stat(state_dir, &st), 0);
        assert_int_equal(st.st_uid, status_uid(r.pid));
        service_stop(&s, &r);
    }
    service_clear(&s);
}

/*
 * Passthrough (mode = passthrough): the daemon keeps CAP_SYS_RAWIO
 * alone, and a command is answered by the device path (a regular file
 * here: not a SCSI device, so CHECK CONDITION, never a hang).
 */
static void test_passthrough(void **state)
{
    Fixture *f = *state;
    Service s;
    Running r;
    PrClient *c;
    ClientReply reply;

    service_init(f, &s, "[daemon]\nmode = passthrough\n", false);
    service_start(&s, &r);
    assert_true(status_hex(r.pid, "CapEff:") ==
                (G_GUINT64_CONSTANT(1) << CAP_SYS_RAWIO));
    c = testd_connect_path(r.socket);
    testd_prin(c, f->disk, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_not_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);
    service_stop(&s, &r);
    service_clear(&s);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_default),
        T(test_tools_socket),
        T(test_user_and_group),
        T(test_passthrough),
    };
#undef T

    if (geteuid() != 0 || !sandbox_available()) {
        print_message("test_units skipped: it needs root and mount "
                      "namespaces\n");
        return 0;
    }
    return TESTUTIL_RUN("units", tests, NULL, NULL);
}
