/*
 * log: where the softpr programs' GLib log messages go and which are
 * shown.
 *
 * Destinations (--log, [daemon] log):
 *   auto    the journal when stderr is connected to it; stderr when it
 *           is a terminal, a file or a pipe; the system log when stderr
 *           is closed or /dev/null (libvirt, -d).  A stderr that stops
 *           taking lines (libvirt closes its end once the socket is up)
 *           hands over to the system log, with the lines it had taken
 *           so far repeated there.
 *   stderr  "softprd: text" lines on stderr, whatever stderr is.
 *   journal the journal's native protocol (structured fields), else
 *           stderr when no journal listens.
 *   syslog  syslog(3), facility daemon.
 * The system log is the journal when it listens, else syslog(3).
 *
 * Verbosity follows qemu-pr-helper: 1 (default) shows warnings and the
 * messages of startup and stop, 2 (-v) adds connections and PR OUT
 * outcomes, 3 (-vv) every command.  -q silences protocol errors only
 * (log_protocol_error()), as qemu-pr-helper's does.
 */
#ifndef SOFTPR_LOG_H
#define SOFTPR_LOG_H

#include <stdbool.h>

#include <glib.h>

typedef enum LogTarget {
    LOG_TARGET_AUTO,
    LOG_TARGET_STDERR,
    LOG_TARGET_JOURNAL,
    LOG_TARGET_SYSLOG,
} LogTarget;

/* The names of the targets, indexed by LogTarget, NULL-terminated. */
extern const char *const log_target_names[];

/* Parse a target name ("auto", "stderr", "journal", "syslog"). */
bool log_parse_target(const char *text, LogTarget *target, GError **error);

/* Install the writer; call once, early in main(). */
void log_setup(const char *program, int verbosity);

/* Change the verbosity later (after parsing options). */
void log_set_verbosity(int verbosity);

/* -q: drop protocol errors (log_protocol_error()), nothing else. */
void log_set_quiet(bool quiet);

/* Choose the destination (the default is LOG_TARGET_AUTO). */
void log_set_target(LogTarget target);

/*
 * Standard error now points elsewhere (daemonizing made it /dev/null):
 * decide again where "auto" sends messages; lines stderr took so far are
 * repeated in the system log when that is where they go now.
 */
void log_stderr_changed(void);

/* Where messages go now, in words ("stderr", "the journal", ...). */
const char *log_destination(void);

/*
 * Also send @line (a fatal startup error its caller prints on stderr)
 * to the system log when that is where messages go: a daemon whose
 * stderr nobody reads must still leave its reason somewhere.
 */
void log_fatal(const char *line);

/*
 * A protocol error: a client broke the protocol (or was too slow) and
 * its connection is closed.  A warning that -q silences.
 */
#define log_protocol_error(...)                                                \
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "SOFTPR_EVENT",        \
                     "protocol-error", "MESSAGE", __VA_ARGS__)

/*
 * Whether a message of @level would be shown, so that a hot path can
 * skip formatting one that would not (GLib formats before it filters).
 * Before log_setup(), GLib's default writer decides.
 */
bool log_enabled(GLogLevelFlags level);

#endif /* SOFTPR_LOG_H */
