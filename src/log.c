/*
 * log: the GLib structured log writer of the softpr programs.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_program = "softprd";
static volatile int log_verbosity = 1;
static gboolean log_to_journal;
static gboolean log_installed;

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

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields,
                               gsize n_fields, gpointer data)
{
    const char *message = NULL;
    gsize i;

    if (level_verbosity(level) > log_verbosity) {
        return G_LOG_WRITER_HANDLED;
    }
    if (log_to_journal && g_log_writer_journald(level, fields, n_fields,
                                                data) == G_LOG_WRITER_HANDLED) {
        return G_LOG_WRITER_HANDLED;
    }
    for (i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0) {
            message = fields[i].value;
        }
    }
    if (message == NULL) {
        return G_LOG_WRITER_UNHANDLED;
    }
    /* One fprintf per line keeps lines from threads whole. */
    fprintf(stderr, "%s: %s%s\n", log_program, level_prefix(level), message);
    return G_LOG_WRITER_HANDLED;
}

void log_setup(const char *program, int verbosity)
{
    log_program = program;
    log_verbosity = verbosity;
    log_to_journal = g_log_writer_is_journald(fileno(stderr));
    g_log_set_writer_func(writer, NULL, NULL);
    log_installed = TRUE;
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
