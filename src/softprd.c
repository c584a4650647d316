/*
 * softprd: the daemon.  A drop-in replacement for qemu-pr-helper that
 * answers PERSISTENT RESERVE IN/OUT from an SPC-4 emulation kept in
 * sqlite.
 *
 * Startup order matters: options and configuration, then the listening
 * socket (before anything slow: libvirt waits for the socket file), then
 * daemonizing, the pid file, dropping privileges, and only then the
 * database (an sqlite connection must not cross fork()) and the threads.
 * Every startup failure is one line on stderr and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "config.h"
#include "error.h"
#include "fscheck.h"
#include "log.h"
#include "pidfile.h"
#include "privs.h"
#include "server.h"
#include "store.h"
#include "systemd.h"
#include "tid.h"

static int opt_verbose;
static gboolean opt_quiet;
static gboolean opt_daemon;
static gboolean opt_version;
static char *opt_socket;
static char *opt_pidfile;
static char *opt_user;
static char *opt_group;
static char *opt_trace;
static char *opt_config;
static char *opt_db;
static char *opt_identity;
static char *opt_mode;
static char *opt_host_id;

/* How long start-up waits for other hosts' database locks. */
#define STARTUP_LOCK_TIMEOUT_MS 60000

/* With -d: where the child reports startup success or failure. */
static int startup_pipe = -1;

/* Process-lifetime objects: file scope, so that they stay reachable when
 * the -d parent or a startup failure exits without unwinding main(). */
static GOptionContext *option_context;
static Config *daemon_config;
/* Socket files this process bound: removed again if startup fails. */
static GPtrArray *sockets_to_unlink;

static gboolean count_verbose(const char *name, const char *value,
                              gpointer data, GError **error)
{
    opt_verbose++;
    return TRUE;
}

static const GOptionEntry entries[] = {
    {"socket", 'k', 0, G_OPTION_ARG_FILENAME, &opt_socket,
     "Listen on the Unix socket PATH (absolute)", "PATH"},
    {"pidfile", 'f', 0, G_OPTION_ARG_FILENAME, &opt_pidfile,
     "Write the process id to PATH (also done with -d)", "PATH"},
    {"daemon", 'd', 0, G_OPTION_ARG_NONE, &opt_daemon, "Run in the background",
     NULL},
    {"trace", 'T', 0, G_OPTION_ARG_STRING, &opt_trace,
     "Accepted for compatibility; softprd has no trace points",
     "[[enable=]PATTERN][,events=FILE][,file=FILE]"},
    {"user", 'u', 0, G_OPTION_ARG_STRING, &opt_user,
     "Run as USER after binding the socket", "USER"},
    {"group", 'g', 0, G_OPTION_ARG_STRING, &opt_group,
     "Run as GROUP after binding the socket", "GROUP"},
    {"verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK,
     (gpointer)count_verbose, "Log more (repeat for each command)", NULL},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet,
     "Do not log protocol errors", NULL},
    {"version", 'V', 0, G_OPTION_ARG_NONE, &opt_version,
     "Print the version and exit", NULL},
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
     "Read settings from FILE (default " SOFTPR_SYSCONFDIR
     "/softpr/softprd.conf if it exists)",
     "FILE"},
    {"db", 0, 0, G_OPTION_ARG_FILENAME, &opt_db, "The sqlite database file",
     "PATH"},
    {"identity", 0, 0, G_OPTION_ARG_STRING, &opt_identity,
     "Whose commands arrive on the -k socket: auto (a QEMU peer's VM, "
     "else this host), client (the peer declares it) or an initiator name",
     "auto|client|NAME"},
    {"mode", 0, 0, G_OPTION_ARG_STRING, &opt_mode,
     "emulation (the default: reservations in the database) or passthrough "
     "(forwarded to the device with SG_IO)",
     "emulation|passthrough"},
    {"host-id", 0, 0, G_OPTION_ARG_STRING, &opt_host_id,
     "This host's name in the database and in its initiator name "
     "(default: the host name)",
     "NAME"},
    {NULL},
};

/* Report a startup failure and exit 1. */
G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) static void die(const char *fmt, ...)
{
    /* No allocation: exit() does not run g_autofree cleanups. */
    char line[2048];
    size_t len;
    va_list ap;

    strcpy(line, "softprd: ");
    va_start(ap, fmt);
    vsnprintf(line + 9, sizeof(line) - 10, fmt, ap);
    va_end(ap);
    len = strlen(line);
    line[len] = '\n';
    /* A socket file nobody serves would only make libvirt wait. */
    if (sockets_to_unlink != NULL) {
        guint i;

        for (i = 0; i < sockets_to_unlink->len; i++) {
            unlink(g_ptr_array_index(sockets_to_unlink, i));
        }
    }
    if (startup_pipe >= 0) {
        if (write(startup_pipe, line, len + 1) < 0) {
            /* The parent is gone; nobody to tell. */
        }
    } else {
        fwrite(line, 1, len + 1, stderr);
    }
    exit(1);
}

static void die_error(GError *error)
{
    die("%s", error->message);
}

/*
 * Fork into the background.  The parent waits until the child reports
 * that it is serving (exit 0) or why it failed (exit 1), so that -d
 * still gives a one-line error and a non-zero status.
 */
static void daemonize(void)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        die("pipe: %s", g_strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        die("fork: %s", g_strerror(errno));
    }
    if (pid > 0) {
        GString *report = g_string_new(NULL);
        char buf[256];
        ssize_t n;

        close(fds[1]);
        while ((n = read(fds[0], buf, sizeof(buf))) > 0 ||
               (n < 0 && errno == EINTR)) {
            if (n > 0) {
                g_string_append_len(report, buf, n);
            }
        }
        if (g_str_equal(report->str, "ready")) {
            _exit(0);
        }
        if (report->len == 0) {
            fputs("softprd: the daemon exited during startup\n", stderr);
        } else {
            fputs(report->str, stderr);
        }
        _exit(1);
    }
    close(fds[0]);
    startup_pipe = fds[1];
    if (setsid() < 0 || chdir("/") != 0) {
        die("cannot detach: %s", g_strerror(errno));
    }
}

/* The daemon is serving: release a waiting parent and detach stdio. */
static void startup_done(void)
{
    int null;

    if (startup_pipe < 0) {
        return;
    }
    if (write(startup_pipe, "ready", 5) != 5) {
        /* The parent is gone; nothing to do. */
    }
    close(startup_pipe);
    startup_pipe = -1;
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

static gboolean on_signal(gpointer data)
{
    Server *server = data;

    g_message("stopping: finishing commands in flight");
    server_stop(server);
    return G_SOURCE_CONTINUE;
}

/* Many clients each hold a socket: allow as many descriptors as we may. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Absolute form of @path, relative to the current directory. */
static char *absolute(const char *path)
{
    return g_canonicalize_filename(path, NULL);
}

static Config *load_config(void)
{
    g_autoptr(Config) config = config_new();
    g_autoptr(GError) error = NULL;

    if (!config_load(config, opt_config, &error)) {
        die_error(error);
    }
    if (opt_socket != NULL) {
        g_free(config_main_socket(config)->path);
        config_main_socket(config)->path = g_strdup(opt_socket);
    }
    if (opt_mode != NULL &&
        !config_parse_mode(opt_mode, &config->mode, &error)) {
        die("--mode: %s", error->message);
    }
    if (opt_identity != NULL &&
        !config_parse_identity(opt_identity, config_main_socket(config),
                               &error)) {
        die("--identity: %s", error->message);
    }
    if (opt_host_id != NULL) {
        g_free(config->host_id);
        config->host_id = g_strdup(opt_host_id);
    }
    if (opt_pidfile != NULL) {
        g_free(config->pidfile);
        config->pidfile = absolute(opt_pidfile);
    }
    if (opt_user != NULL) {
        g_free(config->user);
        config->user = g_strdup(opt_user);
    }
    if (opt_group != NULL) {
        g_free(config->group);
        config->group = g_strdup(opt_group);
    }
    if (opt_db != NULL) {
        g_free(config->db_path);
        config->db_path = g_strdup(opt_db);
        config->db_path_is_default = false;
    }
    {
        char *db = absolute(config->db_path);

        g_free(config->db_path);
        config->db_path = db;
    }
    if (!config_finish(config, &error)) {
        die_error(error);
    }
    return g_steal_pointer(&config);
}

/*
 * Every listening socket, in the order of config->sockets: the main one
 * inherited from systemd or bound at -k, the others bound at their paths.
 */
static int *open_listeners(Config *config)
{
    g_autoptr(GError) error = NULL;
    int *fds = g_new(int, config->sockets->len);
    int activated = systemd_listen_fds();
    guint i;

    sockets_to_unlink = g_ptr_array_new_with_free_func(g_free);
    for (i = 0; i < config->sockets->len; i++) {
        SocketConfig *socket = g_ptr_array_index(config->sockets, i);

        if (i == 0 && activated > 0) {
            if (opt_socket != NULL) {
                die("Unix socket can't be set when using socket activation");
            }
            if (activated > 1) {
                die("softprd does not support socket activation with "
                    "LISTEN_FDS > 1");
            }
            if (!server_check_listener(SYSTEMD_FIRST_FD, &error)) {
                die("Socket activation failed: %s", error->message);
            }
            g_clear_pointer(&socket->path, g_free);
            fds[i] = SYSTEMD_FIRST_FD;
            continue;
        }
        fds[i] = server_bind(socket->path, &error);
        if (fds[i] < 0) {
            die_error(error);
        }
        g_ptr_array_add(sockets_to_unlink, g_strdup(socket->path));
    }
    return fds;
}

/* A line for the log: where a socket is and whose commands it carries. */
static char *describe_socket(const SocketConfig *socket)
{
    g_autofree char *who = NULL;

    switch (socket->identity) {
    case IDENTITY_AUTO:
        who = g_strdup("auto: QEMU peers by VM, others as this host");
        break;
    case IDENTITY_CLIENT:
        who = g_strdup("client: declared by the peer");
        break;
    case IDENTITY_FIXED:
        who = tid_to_string(&socket->initiator);
        break;
    }
    return g_strdup_printf("%s (initiator %s, relative target port %u)",
                           socket->path != NULL ? socket->path
                                                : "socket-activated",
                           who, socket->rtpi);
}

static void drop_privileges(const Config *config)
{
    g_autoptr(GError) error = NULL;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;

    if (config->user != NULL &&
        !privs_lookup_user(config->user, &uid, &gid, &error)) {
        die_error(error);
    }
    if (config->group != NULL &&
        !privs_lookup_group(config->group, &gid, &error)) {
        die_error(error);
    }
    /* Emulation touches no device and needs no capability; passthrough
     * needs CAP_SYS_RAWIO for SG_IO and keeps only that. */
    if (!privs_drop(uid, gid, config_uses_passthrough(config), &error)) {
        die_error(error);
    }
}

/*
 * Log the filesystem the database is on, and refuse one whose locks would
 * not keep hosts apart.
 */
static void check_filesystem(const Config *config)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_path_get_dirname(config->db_path);
    FsInfo fs;

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        return; /* opening the database says what is wrong */
    }
    if (!fscheck_inspect(dir, &fs, &error)) {
        g_warning("cannot tell which filesystem holds the database: %s",
                  error->message);
        return;
    }
    g_message("database %s is on %s (%s at %s), %s", config->db_path, fs.fstype,
              fs.source, fs.mount_point,
              fs.shared ? "shared by hosts" : "local to this host");
    if (!fscheck_verdict(&fs, config->journal, &error)) {
        fscheck_info_clear(&fs);
        die_error(error);
    }
    fscheck_info_clear(&fs);
}

/*
 * Open (creating or migrating) the database once, to fail early.  No
 * guest waits on start-up, so it may wait longer for busy hosts' locks
 * than a command may.
 */
static void check_database(const Config *config, const StoreOptions *opts)
{
    g_autoptr(GError) error = NULL;
    StoreOptions startup = *opts;
    Store *store;

    if (config->db_path_is_default) {
        g_autofree char *dir = g_path_get_dirname(config->db_path);

        g_mkdir_with_parents(dir, 0700);
    }
    check_filesystem(config);
    startup.open_timeout_ms = STARTUP_LOCK_TIMEOUT_MS;
    store = store_open(&startup, &error);
    if (store == NULL) {
        die_error(error);
    }
    store_close(store);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args = NULL;
    g_autofree int *listen_fds = NULL;
    g_autofree uint16_t *ports = NULL;
    ServerOptions options;
    Server *server;
    guint n_ports = 0;
    guint i;

    signal(SIGPIPE, SIG_IGN);
    log_setup("softprd", 1);

    option_context = g_option_context_new(NULL);
    g_option_context_set_summary(
        option_context,
        "Emulate SCSI persistent reservations for QEMU's "
        "pr-manager-helper,\nkeeping them in an sqlite database.");
    g_option_context_add_main_entries(option_context, entries, NULL);
    args = g_strdupv(argv);
    if (!g_option_context_parse_strv(option_context, &args, &error)) {
        fprintf(stderr,
                "softprd: %s\nTry 'softprd --help' for more information.\n",
                error->message);
        return 1;
    }
    if (opt_version) {
        printf("softprd %s\n", SOFTPR_VERSION);
        printf("SCSI persistent reservations emulated in sqlite, "
               "for QEMU's pr-manager-helper.\n");
        return 0;
    }
    if (g_strv_length(args) > 1) {
        fprintf(stderr,
                "softprd: unexpected argument '%s'\n"
                "Try 'softprd --help' for more information.\n",
                args[1]);
        return 1;
    }
    log_set_verbosity(opt_quiet ? 0 : 1 + opt_verbose);
    if (opt_trace != NULL) {
        g_warning("-T/--trace is accepted for compatibility; softprd has "
                  "no trace points");
    }

    daemon_config = load_config();
    raise_fd_limit();
    listen_fds = open_listeners(daemon_config);

    if (opt_daemon) {
        daemonize();
    }
    if ((opt_daemon || opt_pidfile != NULL) &&
        !pidfile_write(daemon_config->pidfile, &error)) {
        die_error(error);
    }
    drop_privileges(daemon_config);

    /* The target ports are the sockets' relative target port ids. */
    ports = g_new(uint16_t, daemon_config->sockets->len);
    for (i = 0; i < daemon_config->sockets->len; i++) {
        const SocketConfig *socket =
            g_ptr_array_index(daemon_config->sockets, i);
        guint j;

        for (j = 0; j < n_ports && ports[j] != socket->rtpi; j++) {
        }
        if (j == n_ports) {
            ports[n_ports++] = socket->rtpi;
        }
    }

    memset(&options, 0, sizeof(options));
    options.workers = daemon_config->workers;
    options.max_connections = daemon_config->max_connections;
    options.max_connections_per_peer = daemon_config->max_connections_per_peer;
    options.request_timeout_ms = daemon_config->request_timeout_ms;
    options.lock_timeout_ms = daemon_config->lock_timeout_ms;
    config_store_options(daemon_config, &options.store);
    options.store.create = true;
    options.pr.ports = ports;
    options.pr.n_ports = n_ports;
    options.pr.max_registrations = daemon_config->max_registrations;
    options.pr.ua_policy = daemon_config->ua_policy;
    options.lu.sysfs = "/sys";
    options.lu.create_xattr = daemon_config->create_xattr;
    options.lu.maps = (const LuMapping *)daemon_config->lu_maps->data;
    options.lu.n_maps = daemon_config->lu_maps->len;
    options.mode = daemon_config->mode;
    options.passthrough_timeout_ms = daemon_config->passthrough_timeout_ms;
    check_database(daemon_config, &options.store);

    server = server_new(&options, &error);
    if (server == NULL) {
        die_error(error);
    }
    for (i = 0; i < daemon_config->sockets->len; i++) {
        const SocketConfig *socket =
            g_ptr_array_index(daemon_config->sockets, i);
        g_autofree char *line = describe_socket(socket);
        ListenerConfig listener;

        memset(&listener, 0, sizeof(listener));
        listener.identity = socket->identity;
        listener.initiator = socket->initiator;
        listener.rtpi = socket->rtpi;
        listener.peers = socket->peers;
        server_add_listener(server, listen_fds[i], &listener, socket->path);
        g_message("listening on %s", line);
    }
    g_unix_signal_add(SIGTERM, on_signal, server);
    g_unix_signal_add(SIGINT, on_signal, server);
    g_unix_signal_add(SIGHUP, on_signal, server);

    g_message("host %s; database %s (%s journal); unit attentions %s",
              daemon_config->host_id, daemon_config->db_path,
              daemon_config->journal == STORE_JOURNAL_WAL ? "WAL" : "rollback",
              daemon_config->ua_policy == PR_UA_REPORT ? "reported"
                                                       : "recorded");
    if (config_uses_passthrough(daemon_config)) {
        g_message("passthrough: %s forwarded to the device with SG_IO, "
                  "timeout %.1f s",
                  daemon_config->mode == LU_MODE_PASSTHROUGH
                      ? "PR commands are"
                      : "PR commands for LUs mapped with mode=passthrough "
                        "are",
                  daemon_config->passthrough_timeout_ms / 1000.0);
    }
    if (!systemd_notify("READY=1", &error)) {
        g_warning("%s", error->message);
        g_clear_error(&error);
    }
    startup_done();

    server_run(server);

    systemd_notify("STOPPING=1", NULL);
    server_free(server);
    g_message("stopped");
    config_free(daemon_config);
    g_ptr_array_unref(sockets_to_unlink);
    g_option_context_free(option_context);
    return 0;
}
