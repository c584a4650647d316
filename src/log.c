/*
 * log: the GLib structured log writer of the softpr programs, and where
 * it sends each message.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "error.h"

const char *const log_target_names[] = {"auto", "stderr", "journal", "syslog",
                                        NULL};

/* Where a message goes. */
typedef enum Sink {
    SINK_STDERR,
    SINK_JOURNAL, /* journald's native socket, else stderr */
    SINK_SYSLOG,
    SINK_SYSTEM, /* journald's native socket, else syslog(3) */
} Sink;

/* Lines stderr took, kept for the system log in case it stops taking
 * them (auto only): enough for startup and the first warnings. */
#define BACKLOG_MAX 64

typedef struct BacklogLine {
    GLogLevelFlags level;
    char *message;
} BacklogLine;

static const char *log_program = "softprd";
static volatile int log_verbosity = 1;
static volatile bool log_quiet;
static LogTarget log_target = LOG_TARGET_AUTO;
static gint log_sink = SINK_STDERR; /* atomic */
static bool log_installed;
static GMutex backlog_lock;
static GArray *backlog; /* BacklogLine, while auto logs to stderr */

bool log_parse_target(const char *text, LogTarget *target, GError **error)
{
    int i;

    for (i = 0; log_target_names[i] != NULL; i++) {
        if (g_ascii_strcasecmp(text, log_target_names[i]) == 0) {
            *target = (LogTarget)i;
            return true;
        }
    }
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                "expected auto, stderr, journal or syslog, got '%s'", text);
    return false;
}

/* The verbosity at which a message of @level is shown. */
static int level_verbosity(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        return 0;
    }
    if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) {
        return 1;
    }
    if (level & G_LOG_LEVEL_INFO) {
        return 2;
    }
    return 3;
}

static const char *level_prefix(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        return "error: ";
    }
    if (level & G_LOG_LEVEL_WARNING) {
        return "warning: ";
    }
    if (level & G_LOG_LEVEL_DEBUG) {
        return "debug: ";
    }
    return "";
}

static int syslog_priority(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR) {
        return LOG_ERR;
    }
    if (level & G_LOG_LEVEL_CRITICAL) {
        return LOG_CRIT;
    }
    if (level & G_LOG_LEVEL_WARNING) {
        return LOG_WARNING;
    }
    if (level & G_LOG_LEVEL_MESSAGE) {
        return LOG_NOTICE;
    }
    if (level & G_LOG_LEVEL_INFO) {
        return LOG_INFO;
    }
    return LOG_DEBUG;
}

/* The value of field @key, or NULL. */
static const char *field(const GLogField *fields, gsize n, const char *key)
{
    gsize i;

    for (i = 0; i < n; i++) {
        if (strcmp(fields[i].key, key) == 0 && fields[i].length < 0) {
            return fields[i].value;
        }
    }
    return NULL;
}

/* Whether stderr is open and goes somewhere (not /dev/null). */
static bool stderr_usable(void)
{
    struct stat st;

    if (fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return !(S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
             minor(st.st_rdev) == 3);
}

/* Where "auto" sends messages, given what stderr is now. */
static Sink auto_sink(void)
{
    if (g_log_writer_is_journald(STDERR_FILENO)) {
        return SINK_JOURNAL;
    }
    return stderr_usable() ? SINK_STDERR : SINK_SYSTEM;
}

static Sink target_sink(LogTarget target)
{
    switch (target) {
    case LOG_TARGET_STDERR:
        return SINK_STDERR;
    case LOG_TARGET_JOURNAL:
        return SINK_JOURNAL;
    case LOG_TARGET_SYSLOG:
        return SINK_SYSLOG;
    case LOG_TARGET_AUTO:
        break;
    }
    return auto_sink();
}

/* One "program: text" line on stderr, in one write; false when stderr
 * did not take it. */
static bool stderr_write(GLogLevelFlags level, const char *message)
{
    g_autofree char *line = g_strdup_printf("%s: %s%s\n", log_program,
                                            level_prefix(level), message);
    size_t len = strlen(line);
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(STDERR_FILENO, line + off, len - off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        off += (size_t)n;
    }
    return true;
}

static void syslog_write(GLogLevelFlags level, const char *message)
{
    syslog(syslog_priority(level), "%s%s", level_prefix(level), message);
}

/* The journal's native protocol, with our SYSLOG_IDENTIFIER; false when
 * no journal takes it. */
static bool journal_write(GLogLevelFlags level, const GLogField *fields,
                          gsize n)
{
    GLogField *all = g_newa(GLogField, n + 1);

    memcpy(all, fields, n * sizeof(*fields));
    if (field(fields, n, "SYSLOG_IDENTIFIER") == NULL) {
        all[n].key = "SYSLOG_IDENTIFIER";
        all[n].value = log_program;
        all[n].length = -1;
        n++;
    }
    return g_log_writer_journald(level, all, n, NULL) == G_LOG_WRITER_HANDLED;
}

/* The journal when it listens, else syslog(3). */
static void system_write(GLogLevelFlags level, const GLogField *fields, gsize n,
                         const char *message)
{
    if (!journal_write(level, fields, n)) {
        syslog_write(level, message);
    }
}

/* A message without fields of its own, for the system log. */
static void system_write_text(GLogLevelFlags level, const char *message)
{
    g_autofree char *priority = g_strdup_printf("%d", syslog_priority(level));
    const GLogField fields[] = {
        {"MESSAGE", message, -1},
        {"PRIORITY", priority, -1},
    };

    system_write(level, fields, G_N_ELEMENTS(fields), message);
}

static void backlog_clear(void)
{
    guint i;

    for (i = 0; backlog != NULL && i < backlog->len; i++) {
        g_free(g_array_index(backlog, BacklogLine, i).message);
    }
    g_clear_pointer(&backlog, g_array_unref);
}

/* Under backlog_lock: auto stops using stderr (@why); what stderr took
 * goes to the system log too, then everything else does. */
static void switch_to_system(const char *why)
{
    g_autofree char *note = NULL;
    guint i;

    if (g_atomic_int_get(&log_sink) == SINK_SYSTEM) {
        return;
    }
    g_atomic_int_set(&log_sink, SINK_SYSTEM);
    note = g_strdup_printf("%s: logging to the system log from now on%s", why,
                           backlog != NULL && backlog->len > 0
                               ? "; the lines written to stderr before:"
                               : "");
    system_write_text(G_LOG_LEVEL_MESSAGE, note);
    for (i = 0; backlog != NULL && i < backlog->len; i++) {
        BacklogLine *line = &g_array_index(backlog, BacklogLine, i);

        system_write_text(line->level, line->message);
    }
    backlog_clear();
}

/* auto, stderr: write, keep a copy, or hand over when stderr fails. */
static void auto_stderr_write(GLogLevelFlags level, const GLogField *fields,
                              gsize n, const char *message)
{
    g_mutex_lock(&backlog_lock);
    if (g_atomic_int_get(&log_sink) != SINK_STDERR) {
        g_mutex_unlock(&backlog_lock);
        system_write(level, fields, n, message);
        return;
    }
    if (stderr_write(level, message)) {
        if (backlog != NULL && backlog->len < BACKLOG_MAX) {
            BacklogLine line = {level, g_strdup(message)};

            g_array_append_val(backlog, line);
        }
        g_mutex_unlock(&backlog_lock);
        return;
    }
    {
        g_autofree char *why = g_strdup_printf(
            "stderr no longer takes log lines (%s)", g_strerror(errno));

        switch_to_system(why);
    }
    g_mutex_unlock(&backlog_lock);
    system_write(level, fields, n, message);
}

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields,
                               gsize n_fields, gpointer data)
{
    const char *message = field(fields, n_fields, "MESSAGE");

    if (level_verbosity(level) > log_verbosity) {
        return G_LOG_WRITER_HANDLED;
    }
    if (log_quiet && g_strcmp0(field(fields, n_fields, "SOFTPR_EVENT"),
                               "protocol-error") == 0) {
        return G_LOG_WRITER_HANDLED;
    }
    if (message == NULL) {
        return G_LOG_WRITER_UNHANDLED;
    }
    switch ((Sink)g_atomic_int_get(&log_sink)) {
    case SINK_JOURNAL:
        if (!journal_write(level, fields, n_fields)) {
            stderr_write(level, message);
        }
        break;
    case SINK_SYSLOG:
        syslog_write(level, message);
        break;
    case SINK_SYSTEM:
        system_write(level, fields, n_fields, message);
        break;
    case SINK_STDERR:
        if (log_target == LOG_TARGET_AUTO) {
            auto_stderr_write(level, fields, n_fields, message);
        } else {
            stderr_write(level, message);
        }
        break;
    }
    return G_LOG_WRITER_HANDLED;
}

/* Under backlog_lock: set the sink @target leads to now. */
static void choose_sink(void)
{
    Sink sink = target_sink(log_target);

    if (log_target == LOG_TARGET_AUTO && sink == SINK_SYSTEM) {
        switch_to_system("stderr is closed or /dev/null");
        return;
    }
    g_atomic_int_set(&log_sink, sink);
    if (log_target == LOG_TARGET_AUTO && sink == SINK_STDERR) {
        if (backlog == NULL) {
            backlog = g_array_new(FALSE, FALSE, sizeof(BacklogLine));
        }
    } else {
        backlog_clear();
    }
}

void log_setup(const char *program, int verbosity)
{
    log_program = program;
    log_verbosity = verbosity;
    /* Connected on first use: no descriptor before it is needed. */
    openlog(program, LOG_PID, LOG_DAEMON);
    g_mutex_lock(&backlog_lock);
    g_atomic_int_set(&log_sink, target_sink(log_target));
    if (g_atomic_int_get(&log_sink) == SINK_STDERR) {
        backlog = g_array_new(FALSE, FALSE, sizeof(BacklogLine));
    }
    g_mutex_unlock(&backlog_lock);
    g_log_set_writer_func(writer, NULL, NULL);
    log_installed = TRUE;
}

void log_set_target(LogTarget target)
{
    g_mutex_lock(&backlog_lock);
    log_target = target;
    choose_sink();
    g_mutex_unlock(&backlog_lock);
}

void log_stderr_changed(void)
{
    g_mutex_lock(&backlog_lock);
    choose_sink();
    g_mutex_unlock(&backlog_lock);
}

const char *log_destination(void)
{
    switch ((Sink)g_atomic_int_get(&log_sink)) {
    case SINK_STDERR:
        return "stderr";
    case SINK_JOURNAL:
        return "the journal";
    case SINK_SYSLOG:
        return "syslog";
    case SINK_SYSTEM:
        break;
    }
    return "the system log";
}

void log_fatal(const char *line)
{
    switch ((Sink)g_atomic_int_get(&log_sink)) {
    case SINK_STDERR:
        break;
    case SINK_JOURNAL:
        if (!g_log_writer_is_journald(STDERR_FILENO)) {
            system_write_text(G_LOG_LEVEL_CRITICAL, line);
        }
        break;
    case SINK_SYSLOG:
        syslog_write(G_LOG_LEVEL_CRITICAL, line);
        break;
    case SINK_SYSTEM:
        system_write_text(G_LOG_LEVEL_CRITICAL, line);
        break;
    }
}

bool log_enabled(GLogLevelFlags level)
{
    if (!log_installed) {
        return !g_log_writer_default_would_drop(level, G_LOG_DOMAIN);
    }
    return level_verbosity(level) <= log_verbosity;
}

void log_set_verbosity(int verbosity)
{
    log_verbosity = verbosity;
}

void log_set_quiet(bool quiet)
{
    log_quiet = quiet;
}
