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

/* With -d: where the child reports startup success or failure. */
static int startup_pipe = -1;

/* Process-lifetime objects: file scope, so that they stay reachable when
 * the -d parent or a startup failure exits without unwinding main(). */
static GOptionContext *option_context;
static Config *daemon_config;
static char *socket_to_unlink;

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
    if (socket_to_unlink != NULL) {
        unlink(socket_to_unlink);
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

    if (opt_config != NULL) {
        if (!config_load_file(config, opt_config, &error)) {
            die_error(error);
        }
    } else if (g_file_test(config_default_file(), G_FILE_TEST_EXISTS)) {
        if (!config_load_file(config, config_default_file(), &error)) {
            die_error(error);
        }
    }
    if (opt_socket != NULL) {
        g_free(config->socket_path);
        config->socket_path = g_strdup(opt_socket);
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

/* The listening socket: inherited from systemd, or bound at -k. */
static int open_listener(Config *config, char **unlink_path)
{
    g_autoptr(GError) error = NULL;
    int n = systemd_listen_fds();
    int fd;

    *unlink_path = NULL;
    if (n > 0) {
        if (opt_socket != NULL) {
            die("Unix socket can't be set when using socket activation");
        }
        if (n > 1) {
            die("softprd does not support socket activation with "
                "LISTEN_FDS > 1");
        }
        if (!server_check_listener(SYSTEMD_FIRST_FD, &error)) {
            die("Socket activation failed: %s", error->message);
        }
        g_clear_pointer(&config->socket_path, g_free);
        return SYSTEMD_FIRST_FD;
    }
    if (!g_path_is_absolute(config->socket_path)) {
        die("socket path must be absolute");
    }
    fd = server_bind(config->socket_path, &error);
    if (fd < 0) {
        die_error(error);
    }
    *unlink_path = g_strdup(config->socket_path);
    return fd;
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
    /* Emulation touches no device: no capability is needed. */
    if (!privs_drop(uid, gid, false, &error)) {
        die_error(error);
    }
}

/* Open (creating or migrating) the database once, to fail early. */
static void check_database(const Config *config, const StoreOptions *opts)
{
    g_autoptr(GError) error = NULL;
    Store *store;

    if (config->db_path_is_default) {
        g_autofree char *dir = g_path_get_dirname(config->db_path);

        g_mkdir_with_parents(dir, 0700);
    }
    store = store_open(opts, &error);
    if (store == NULL) {
        die_error(error);
    }
    store_close(store);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args = NULL;
    ServerOptions options;
    PrNexus nexus;
    Server *server;
    int listen_fd;

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
    listen_fd = open_listener(daemon_config, &socket_to_unlink);

    if (opt_daemon) {
        daemonize();
    }
    if ((opt_daemon || opt_pidfile != NULL) &&
        !pidfile_write(daemon_config->pidfile, &error)) {
        die_error(error);
    }
    drop_privileges(daemon_config);

    memset(&options, 0, sizeof(options));
    options.workers = daemon_config->workers;
    options.max_connections = daemon_config->max_connections;
    options.request_timeout_ms = daemon_config->request_timeout_ms;
    options.lock_timeout_ms = daemon_config->lock_timeout_ms;
    options.store.path = daemon_config->db_path;
    options.store.journal = daemon_config->journal;
    options.store.lock_timeout_ms = daemon_config->lock_timeout_ms;
    options.store.host_id = daemon_config->host_id;
    options.store.create = true;
    options.pr.ports = &daemon_config->rtpi;
    options.pr.n_ports = 1;
    options.pr.max_registrations = daemon_config->max_registrations;
    options.pr.ua_policy = daemon_config->ua_policy;
    options.sysfs = "/sys";
    check_database(daemon_config, &options.store);

    memset(&nexus, 0, sizeof(nexus));
    if (!tid_from_iscsi_name(daemon_config->initiator, &nexus.initiator,
                             &error)) {
        die_error(error);
    }
    nexus.rtpi = daemon_config->rtpi;

    server = server_new(&options, &error);
    if (server == NULL) {
        die_error(error);
    }
    server_add_listener(server, listen_fd, &nexus, socket_to_unlink);
    g_unix_signal_add(SIGTERM, on_signal, server);
    g_unix_signal_add(SIGINT, on_signal, server);
    g_unix_signal_add(SIGHUP, on_signal, server);

    g_message(
        "listening on %s; database %s (%s journal); initiator %s, "
        "relative target port %u; unit attentions %s",
        daemon_config->socket_path != NULL ? daemon_config->socket_path
                                           : "the socket-activated socket",
        daemon_config->db_path,
        daemon_config->journal == STORE_JOURNAL_WAL ? "WAL" : "rollback",
        daemon_config->initiator, daemon_config->rtpi,
        daemon_config->ua_policy == PR_UA_REPORT ? "reported" : "recorded");
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
    g_free(socket_to_unlink);
    g_option_context_free(option_context);
    return 0;
}
