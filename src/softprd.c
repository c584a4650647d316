/*
 * softprd: the daemon.  A drop-in replacement for qemu-pr-helper that
 * answers PERSISTENT RESERVE IN/OUT from an SPC-4 emulation kept in
 * sqlite.
 *
 * Startup order matters.  libvirt takes the socket file's existence as
 * "the helper is up" and starts QEMU then, reading the helper's stderr
 * only if it has died; so every check comes before the socket appears,
 * and a failure is one line on stderr and exit status 1:
 *   options, configuration, where logs go, systemd's environment (before
 *   any fork), the descriptor limit, the users; -d's fork (its parent
 *   waits for the verdict); the pid file; the socket paths (no live
 *   daemon behind them); the database, checked as the final user in a
 *   child process (dbcheck.c); only then the sockets are bound, the
 *   process that will remove them is forked, privileges are dropped, and
 *   the server's threads start (an sqlite connection must not cross a
 *   fork).
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/capability.h>

#include <glib-unix.h>

#include "config.h"
#include "config_server.h"
#include "daemonize.h"
#include "dbcheck.h"
#include "error.h"
#include "fdlimit.h"
#include "fscheck.h"
#include "log.h"
#include "pidfile.h"
#include "privs.h"
#include "server.h"
#include "sockfile.h"
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
static char *opt_log;

/* Process-lifetime objects: file scope, so that they stay reachable when
 * the -d parent or a startup failure exits without unwinding main(). */
static GOptionContext *option_context;
static Config *daemon_config;
/* The socket files this process bound: removed again at exit, or when
 * startup fails after binding them. */
static SocketFiles *socket_files;

/* Who the daemon runs as once privileges are dropped. */
typedef struct Credentials {
    uid_t uid;         /* (uid_t)-1: stay */
    gid_t gid;         /* (gid_t)-1: stay */
    guint64 keep_caps; /* capabilities kept (privs_drop()) */
} Credentials;

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
    {"log", 0, 0, G_OPTION_ARG_STRING, &opt_log,
     "Where messages go: auto (stderr, or the system log when stderr is "
     "closed or /dev/null), stderr, journal or syslog",
     "auto|stderr|journal|syslog"},
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
    /* A socket file nobody serves would only make libvirt wait. */
    sockfile_remove_all(socket_files);
    log_fatal(line + 9);
    line[len] = '\n';
    if (!daemonize_report_failure(line, len + 1) &&
        write(STDERR_FILENO, line, len + 1) < 0) {
        /* Nowhere to say it but the system log, done above. */
    }
    exit(1);
}

static void die_error(GError *error)
{
    die("%s", error->message);
}

static gboolean on_signal(gpointer data)
{
    static bool stopping;
    Server *server = data;

    if (stopping) {
        return G_SOURCE_CONTINUE; /* a second signal changes nothing */
    }
    stopping = true;
    g_message("stopping: finishing commands in flight");
    systemd_notify("STOPPING=1", NULL);
    /* While the listeners still accept: a file at the path then is ours,
     * unless another daemon replaced it, which the remover checks. */
    sockfile_remove_all(socket_files);
    server_stop(server);
    return G_SOURCE_CONTINUE;
}

/* Absolute form of @path, relative to the current directory. */
static char *absolute(const char *path)
{
    return g_canonicalize_filename(path, NULL);
}

/* The command line's settings over the file's. */
static void apply_options(Config *config)
{
    g_autoptr(GError) error = NULL;

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
    if (opt_log != NULL &&
        !log_parse_target(opt_log, &config->log_target, &error)) {
        die("--log: %s", error->message);
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
}

static Config *load_config(void)
{
    g_autoptr(Config) config = config_new();
    g_autoptr(GError) error = NULL;

    if (!config_load(config, opt_config, &error)) {
        die_error(error);
    }
    apply_options(config);
    if (store_path_is_file(config->db_path)) {
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
 * A mapping whose path does not exist is kept (a disk may be hot-plugged,
 * a multipath map assembled, or the file mounted later: each command
 * looks the path up again), but said at start, where a typo shows.
 */
static void warn_missing_lu_paths(const Config *config)
{
    guint i;

    for (i = 0; i < config->lu_maps->len; i++) {
        const LuMapping *map = &g_array_index(config->lu_maps, LuMapping, i);
        struct stat st;

        if (stat(map->path, &st) != 0) {
            g_warning("[lu %s] path %s: %s; the mapping applies once it "
                      "exists",
                      map->name, map->path, g_strerror(errno));
        }
    }
}

/* Look up -u and -g before anything is created. */
static void lookup_credentials(const Config *config, Credentials *creds)
{
    g_autoptr(GError) error = NULL;

    creds->uid = (uid_t)-1;
    creds->gid = (gid_t)-1;
    if (config->user != NULL &&
        !privs_lookup_user(config->user, &creds->uid, &creds->gid, &error)) {
        die_error(error);
    }
    if (config->group != NULL &&
        !privs_lookup_group(config->group, &creds->gid, &error)) {
        die_error(error);
    }
    /* Emulation touches no device and needs no capability; passthrough
     * needs CAP_SYS_RAWIO for SG_IO and keeps only that. */
    creds->keep_caps =
        config_uses_passthrough(config) ? PRIVS_CAP(CAP_SYS_RAWIO) : 0;
}

/*
 * Before anything slow: the activated descriptor is usable, or each
 * socket path is free (not served by another daemon).
 */
static void check_listeners(Config *config, int activated)
{
    g_autoptr(GError) error = NULL;
    guint i;

    if (activated > 0) {
        if (opt_socket != NULL) {
            die("Unix socket can't be set when using socket activation");
        }
        if (activated > 1) {
            die("softprd does not support socket activation with "
                "LISTEN_FDS > 1");
        }
        if (!server_adopt_listener(SYSTEMD_FIRST_FD, &error)) {
            die("Socket activation failed: %s", error->message);
        }
        g_clear_pointer(&config_main_socket(config)->path, g_free);
    }
    for (i = 0; i < config->sockets->len; i++) {
        SocketConfig *socket = g_ptr_array_index(config->sockets, i);

        if (socket->path != NULL &&
            !server_socket_path_free(socket->path, &error)) {
            die_error(error);
        }
    }
}

/*
 * Every listening socket, in the order of config->sockets: the main one
 * inherited from systemd or bound at -k, the others bound at their paths.
 */
static int *open_listeners(const Config *config)
{
    g_autoptr(GError) error = NULL;
    int *fds = g_new(int, config->sockets->len);
    bool any_file = false;
    guint i;

    for (i = 0; i < config->sockets->len; i++) {
        any_file =
            any_file ||
            ((SocketConfig *)g_ptr_array_index(config->sockets, i))->path !=
                NULL;
    }
    /* The files' directory may not be writable once privileges are
     * dropped; the remover is forked before there is a listener it
     * could inherit. */
    if (any_file && geteuid() == 0 &&
        !sockfile_start_remover(socket_files, &error)) {
        die_error(error);
    }
    for (i = 0; i < config->sockets->len; i++) {
        SocketConfig *socket = g_ptr_array_index(config->sockets, i);

        if (socket->path == NULL) {
            fds[i] = SYSTEMD_FIRST_FD;
            continue;
        }
        fds[i] = server_bind(socket->path, &error);
        if (fds[i] < 0 || !sockfile_add(socket_files, socket->path, &error)) {
            die_error(error);
        }
    }
    return fds;
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

    if (!store_path_is_file(config->db_path) ||
        !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        return; /* the database check says what is wrong */
    }
    if (!fscheck_inspect(dir, &fs, &error)) {
        g_warning("cannot tell which filesystem holds the database: %s",
                  error->message);
        return;
    }
    g_message("database %s is on %s (%s at %s), %s", config->db_path, fs.fstype,
              fs.source, fs.mount_point,
              fs.shared ? "shared by hosts" : "local to this host");
    fscheck_log_nfs_identity(&fs);
    if (!fscheck_verdict(&fs, config->journal, &error)) {
        fscheck_info_clear(&fs);
        die_error(error);
    }
    fscheck_info_clear(&fs);
}

/*
 * The database must be usable by the user the daemon becomes, before the
 * socket appears.  Another host holding the lock is no reason not to
 * serve: the wait is bounded by the lock timeout (libvirt waits for the
 * socket meanwhile), then commands answer BUSY until the lock is free,
 * and the first one to get it brings the schema up to date if needed.
 */
static void check_database(const Config *config, const Credentials *creds,
                           const StoreOptions *store)
{
    g_autoptr(GError) error = NULL;

    if (config->db_path_is_default &&
        !dbcheck_prepare_default_dir(config->db_path, creds->uid, creds->gid,
                                     &error)) {
        die_error(error);
    }
    check_filesystem(config);
    switch (
        dbcheck_run(store, creds->uid, creds->gid, creds->keep_caps, &error)) {
    case DBCHECK_OK:
        break;
    case DBCHECK_BUSY:
        g_warning("the database was not available for the whole lock "
                  "timeout (%.1f s) at start (another process's lock, or "
                  "its server unreachable): %s; serving anyway: commands "
                  "answer BUSY until it is",
                  config->lock_timeout_ms / 1000.0, error->message);
        break;
    case DBCHECK_FAILED:
        die_error(error);
    }
}

static void drop_privileges(const Credentials *creds)
{
    g_autoptr(GError) error = NULL;

    if (!privs_drop(creds->uid, creds->gid, creds->keep_caps, &error)) {
        die_error(error);
    }
}

/* The server, serving every listener, with its signals. */
static Server *start_server(const Config *config, const ServerOptions *options,
                            const int *listen_fds)
{
    g_autoptr(GError) error = NULL;
    Server *server = server_new(options, &error);
    guint i;

    if (server == NULL) {
        die_error(error);
    }
    for (i = 0; i < config->sockets->len; i++) {
        const SocketConfig *socket = g_ptr_array_index(config->sockets, i);
        g_autofree char *line = config_describe_socket(socket);
        ListenerConfig listener;

        config_to_listener(socket, &listener);
        /* sockfile.c removes the files, and only ours. */
        server_add_listener(server, listen_fds[i], &listener, NULL);
        g_message("listening on %s", line);
    }
    g_unix_signal_add(SIGTERM, on_signal, server);
    g_unix_signal_add(SIGINT, on_signal, server);
    g_unix_signal_add(SIGHUP, on_signal, server);
    return server;
}

/* What the daemon serves with, said once it serves. */
static void log_ready(const Config *config)
{
    g_autofree char *db = store_path_for_logs(config->db_path);

    g_message("host %s; database %s%s; unit attentions %s", config->host_id,
              db,
              /* A server's description names its backend already. */
              !store_path_is_file(config->db_path) ? ""
              : config->journal == STORE_JOURNAL_WAL ? " (WAL journal)"
                                                     : " (rollback journal)",
              config->ua_policy == PR_UA_REPORT ? "reported" : "recorded");
    if (config_uses_passthrough(config)) {
        g_message("passthrough: %s forwarded to the device with SG_IO, "
                  "timeout %.1f s",
                  config->mode == LU_MODE_PASSTHROUGH
                      ? "PR commands are"
                      : "PR commands for LUs mapped with mode=passthrough "
                        "are",
                  config->passthrough_timeout_ms / 1000.0);
    }
}

/* Options; -h, -V and usage errors end here. */
static void parse_options(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args = g_strdupv(argv);

    option_context = g_option_context_new(NULL);
    g_option_context_set_summary(
        option_context,
        "Emulate SCSI persistent reservations for QEMU's "
        "pr-manager-helper,\nkeeping them in an sqlite database.");
    g_option_context_add_main_entries(option_context, entries, NULL);
    if (!g_option_context_parse_strv(option_context, &args, &error)) {
        fprintf(stderr,
                "softprd: %s\nTry 'softprd --help' for more information.\n",
                error->message);
        exit(1);
    }
    /* A password given in --db must not stay visible in ps. */
    for (int i = 1; i < argc; i++) {
        store_scrub_password(argv[i]);
    }
    if (opt_version) {
        printf("softprd %s\n", SOFTPR_VERSION);
        printf("SCSI persistent reservations emulated in sqlite, "
               "for QEMU's pr-manager-helper.\n");
        exit(0);
    }
    if (g_strv_length(args) > 1) {
        fprintf(stderr,
                "softprd: unexpected argument '%s'\n"
                "Try 'softprd --help' for more information.\n",
                args[1]);
        exit(1);
    }
}

/* Where messages go and how many, once the configuration says. */
static void setup_logging(const Config *config, const char *notify_ignored)
{
    log_set_target(config->log_target);
    log_set_verbosity(1 + opt_verbose);
    log_set_quiet(opt_quiet);
    if (notify_ignored != NULL) {
        g_info("%s", notify_ignored);
    }
    if (opt_trace != NULL) {
        g_warning("-T/--trace is accepted for compatibility; softprd has "
                  "no trace points");
    }
}

/* -d's fork, then the pid file: both before any socket exists. */
static void detach_and_record(const Config *config)
{
    g_autoptr(GError) error = NULL;

    if (opt_daemon && !daemonize_start(&error)) {
        die_error(error);
    }
    if ((opt_daemon || opt_pidfile != NULL) &&
        !pidfile_write(config->pidfile, &error)) {
        die_error(error);
    }
}

/* Serving: tell systemd and a waiting -d parent. */
static void announce_ready(const Config *config)
{
    g_autoptr(GError) error = NULL;

    log_ready(config);
    if (!systemd_notify("READY=1", &error)) {
        g_warning("%s", error->message);
    }
    daemonize_ready();
}

int main(int argc, char **argv)
{
    g_autofree int *listen_fds = NULL;
    g_autofree uint16_t *ports = NULL;
    g_autofree char *notify_ignored = NULL;
    ServerOptions options;
    Credentials creds;
    Server *server;
    int activated;

    daemonize_reserve_stdio();
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C"); /* "1.5 s" in every log */
    signal(SIGPIPE, SIG_IGN);
    log_setup("softprd", 1);
    parse_options(argc, argv);
    activated = systemd_setup(&notify_ignored);
    socket_files = sockfile_new();

    daemon_config = load_config();
    setup_logging(daemon_config, notify_ignored);
    fdlimit_raise(daemon_config->max_connections, daemon_config->workers);
    warn_missing_lu_paths(daemon_config);
    lookup_credentials(daemon_config, &creds);
    detach_and_record(daemon_config);
    check_listeners(daemon_config, activated);
    config_to_server_options(daemon_config, &options, &ports);
    check_database(daemon_config, &creds, &options.store);

    listen_fds = open_listeners(daemon_config);
    drop_privileges(&creds);
    server = start_server(daemon_config, &options, listen_fds);
    announce_ready(daemon_config);

    server_run(server);

    server_free(server);
    sockfile_free(socket_files);
    g_message("stopped");
    config_free(daemon_config);
    g_option_context_free(option_context);
    return 0;
}
