/*
 * dbcheck: the startup check that the daemon, as its final user, can
 * write its database, run in a child process.
 */
#include "dbcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "child.h"
#include "error.h"
#include "privs.h"

/* The name of the owner @uid, for messages. */
static char *owner_name(uid_t uid)
{
    struct passwd *pw = getpwuid(uid);

    return pw != NULL ? g_strdup(pw->pw_name)
                      : g_strdup_printf("uid %u", (unsigned)uid);
}

/* " (mode 0755, owner root)" for @path, or "" when it cannot be read. */
static char *describe_mode(const char *path)
{
    g_autofree char *owner = NULL;
    struct stat st;

    if (lstat(path, &st) != 0) {
        return g_strdup("");
    }
    owner = owner_name(st.st_uid);
    return g_strdup_printf(" (mode %04o, owner %s)",
                           (unsigned)(st.st_mode & 07777), owner);
}

/* Give @path, when it exists and is root's, to @uid/@gid. */
static bool give(const char *path, uid_t uid, gid_t gid, GError **error)
{
    struct stat st;

    if (lstat(path, &st) != 0 || st.st_uid != 0) {
        return true;
    }
    if (lchown(path, uid, gid) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot give %s to uid %u: %s", path, (unsigned)uid,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool dbcheck_prepare_default_dir(const char *path, uid_t uid, gid_t gid,
                                 GError **error)
{
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm",
                                           NULL};
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *who = NULL;
    struct stat st;
    size_t i;

    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot create the database directory %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    if (geteuid() != 0 || uid == (uid_t)-1 || uid == 0 ||
        lstat(dir, &st) != 0 || st.st_uid != 0) {
        return true;
    }
    /* The files first: once the directory (mode 0700) is the user's,
     * root without CAP_DAC_OVERRIDE (a unit's bounding set) cannot
     * reach into it. */
    for (i = 0; suffixes[i] != NULL; i++) {
        g_autofree char *file = g_strconcat(path, suffixes[i], NULL);

        if (!give(file, uid, gid, error)) {
            return false;
        }
    }
    if (!give(dir, uid, gid, error)) {
        return false;
    }
    who = privs_describe_user(uid);
    g_message("gave the database directory %s to %s, the user softprd runs "
              "as",
              dir, who);
    return true;
}

/*
 * Why @errno_value stops the user from using @path as @what needs
 * ("write", "search"), with @why added.
 */
static void access_error(GError **error, int errno_value, const char *path,
                         const char *what, const char *why)
{
    g_autofree char *who = privs_describe_user(geteuid());
    g_autofree char *mode = describe_mode(path);

    if (errno_value == EROFS) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "%s is on a read-only filesystem%s", path, why);
        return;
    }
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                "user %s cannot %s %s%s%s%s", who, what, path, mode,
                errno_value == EACCES || errno_value == EPERM ? "" : ": ",
                errno_value == EACCES || errno_value == EPERM
                    ? why
                    : g_strerror(errno_value));
}

/* Each directory above and including @dir must be searchable. */
static bool check_reach(const char *dir, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(dir, "/", -1);
    GString *prefix = g_string_new("/");
    bool ok = true;
    guint i;

    for (i = 0; parts[i] != NULL && ok; i++) {
        if (*parts[i] == '\0') {
            continue;
        }
        if (prefix->len > 1) {
            g_string_append_c(prefix, '/');
        }
        g_string_append(prefix, parts[i]);
        if (access(prefix->str, X_OK) != 0 && errno != ENOENT) {
            access_error(error, errno, prefix->str, "search directory",
                         ": the database is below it");
            ok = false;
        }
    }
    g_string_free(prefix, TRUE);
    return ok;
}

/*
 * What access(2) can tell before sqlite tries: the directory, the file
 * and any journal or WAL files, as the user the daemon runs as.
 */
static bool check_access(const StoreOptions *options, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(options->path);
    bool wal = options->journal == STORE_JOURNAL_WAL;
    const char *const journals[] = {wal ? "-wal" : "-journal",
                                    wal ? "-shm" : NULL, NULL};
    size_t i;

    if (!store_path_is_file(options->path)) {
        return true; /* a server: the connection tells */
    }
    if (!check_reach(dir, error)) {
        return false;
    }
    if (access(dir, F_OK) != 0) {
        return true; /* store_open() says it does not exist */
    }
    if (access(dir, W_OK | X_OK) != 0) {
        access_error(error, errno, dir, "write directory",
                     wal ? ": the -wal and -shm files are created there"
                         : ": sqlite creates the rollback journal there");
        return false;
    }
    /* A file that is not there (or no longer: another daemon just
     * committed and deleted its journal) is not in the way. */
    if (access(options->path, R_OK | W_OK) != 0 && errno != ENOENT) {
        access_error(error, errno, options->path, "write", "");
        return false;
    }
    for (i = 0; journals[i] != NULL; i++) {
        g_autofree char *file = g_strconcat(options->path, journals[i], NULL);

        if (access(file, R_OK | W_OK) != 0 && errno != ENOENT) {
            access_error(error, errno, file, "write",
                         wal ? ""
                             : ": it holds an interrupted transaction "
                               "that must be rolled back");
            return false;
        }
    }
    return true;
}

/* The child: the checks as the final user; the verdict as one line. */
static DbCheckResult check_as_user(const StoreOptions *options, uid_t uid,
                                   gid_t gid, guint64 keep_caps, GError **error)
{
    gint64 deadline =
        g_get_monotonic_time() + (gint64)options->lock_timeout_ms * 1000;
    StoreOptions opts = *options;
    g_autoptr(Store) store = NULL;

    if (!privs_drop(uid, gid, keep_caps, error) ||
        !check_access(options, error)) {
        return DBCHECK_FAILED;
    }
    opts.create = true;
    opts.open_timeout_ms = options->lock_timeout_ms;
    store = store_open(&opts, error);
    if (store == NULL || !store_check_writable(store, deadline, error)) {
        if (g_error_matches(*error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY)) {
            return DBCHECK_BUSY;
        }
        if (g_error_matches(*error, SOFTPR_ERROR, SOFTPR_ERROR_IO)) {
            g_autofree char *who = privs_describe_user(geteuid());

            g_prefix_error(error, "as user %s: ", who);
        }
        return DBCHECK_FAILED;
    }
    return DBCHECK_OK;
}

/* What the child checks, as whom. */
typedef struct CheckArgs {
    const StoreOptions *options;
    uid_t uid;
    gid_t gid;
    guint64 keep_caps;
} CheckArgs;

G_GNUC_NORETURN static void child_main(int fd, gpointer data)
{
    const CheckArgs *args = data;
    GError *error = NULL;
    DbCheckResult result = check_as_user(args->options, args->uid, args->gid,
                                         args->keep_caps, &error);
    g_autofree char *line =
        g_strdup_printf("%d%s", (int)result, error ? error->message : "");
    size_t off = 0;

    g_clear_error(&error);
    while (off < strlen(line)) {
        ssize_t n = write(fd, line + off, strlen(line) - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    g_clear_pointer(&line, g_free);
    _exit(0);
}

DbCheckResult dbcheck_run(const StoreOptions *options, uid_t uid, gid_t gid,
                          guint64 keep_caps, GError **error)
{
    CheckArgs args = {options, uid, gid, keep_caps};
    g_autoptr(GString) report = NULL;
    int fd = -1;
    int status = 0;
    pid_t pid;
    char buf[256];
    ssize_t n;

    pid = child_start(CHILD_WRITES, child_main, &args, &fd, error);
    if (pid < 0) {
        return DBCHECK_FAILED;
    }
    /* Only now: the child _exit()s with nothing of ours allocated. */
    report = g_string_new(NULL);
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n > 0) {
            g_string_append_len(report, buf, n);
        } else if (errno != EINTR) {
            break;
        }
    }
    close(fd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (report->len == 0 || report->str[0] < '0' + DBCHECK_OK ||
        report->str[0] > '0' + DBCHECK_FAILED) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "the database check ended without a verdict (wait "
                    "status 0x%x)",
                    (unsigned)status);
        return DBCHECK_FAILED;
    }
    if (report->str[0] != '0' + DBCHECK_OK) {
        g_set_error_literal(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                            report->str + 1);
    }
    return (DbCheckResult)(report->str[0] - '0');
}
