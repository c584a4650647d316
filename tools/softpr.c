/*
 * softpr: inspect and administer softprd's database, and send PR
 * commands through a running softprd.  This file only dispatches to the
 * subcommands; each lives in its own file.
 */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "softpr.h"
#include "store.h"

typedef struct Subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Subcommand;

static const Subcommand subcommands[] = {
    {"dump", dump_main, "show who is registered and who holds what"},
    {"history", history_main, "show the audit log of PR OUT commands"},
    {"power-cycle", power_cycle_main,
     "simulate power loss of logical units (drops what APTPL does not keep)"},
    {"clear", clear_main, "remove every registration and reservation of LUs"},
    {"forget", forget_main, "remove an initiator's registrations"},
    {"backup", backup_main,
     "copy the database while daemons run (a consistent snapshot)"},
    {"mark-lost", mark_lost_main,
     "mark LUs' PR information lost, after restoring a backup"},
    {"check-fs", check_fs_main,
     "test that a shared filesystem can hold the database (run on 2 hosts)"},
    {"persist", persist_main,
     "send PR IN/OUT through softprd with sg_persist's options and output"},
};

bool tool_parse_options(GOptionContext *context, int *argc, char ***argv)
{
    g_autoptr(GError) error = NULL;
    /* Parsing reorders argv; the words stay where `ps` reads them. */
    g_autofree char **words =
        g_memdup2(*argv, sizeof(char *) * (gsize)(*argc + 1));
    bool parsed = g_option_context_parse(context, argc, argv, &error);

    /* A password given in --db must not stay visible in ps. */
    for (int i = 1; words[i] != NULL; i++) {
        store_scrub_password(words[i]);
    }
    if (!parsed) {
        fprintf(stderr,
                "softpr %s: %s\nTry 'softpr %s --help' for more "
                "information.\n",
                (*argv)[0], error->message, (*argv)[0]);
        return false;
    }
    return true;
}

bool tool_parse_key(const char *text, uint64_t *key)
{
    const char *digits = text;
    guint64 value;

    if (g_str_has_prefix(digits, "0x") || g_str_has_prefix(digits, "0X")) {
        digits += 2;
    }
    if (*digits == '\0' || strlen(digits) > 16 ||
        !g_ascii_string_to_unsigned(digits, 16, 0, G_MAXUINT64, &value, NULL)) {
        return false;
    }
    *key = value;
    return true;
}

void tool_error(const char *fmt, ...)
{
    g_autofree char *message = NULL;
    va_list ap;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "softpr: %s\n", message);
}

static void usage(FILE *out)
{
    size_t i;

    fprintf(out, "Usage: softpr COMMAND [OPTION...] [ARGUMENT...]\n\n"
                 "Inspect and administer softprd's persistent reservations.\n\n"
                 "Commands:\n");
    for (i = 0; i < G_N_ELEMENTS(subcommands); i++) {
        fprintf(out, "  %-12s %s\n", subcommands[i].name,
                subcommands[i].summary);
    }
    fprintf(out, "\n'softpr COMMAND --help' describes each command; "
                 "'softpr --version' prints the version.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    /* The help texts are UTF-8 (GLib prints them in the locale's
     * charset); numbers stay in the C locale's form for scripts. */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    log_setup("softpr", 1);
    if (argc < 2) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("softpr %s\n", SOFTPR_VERSION);
        return 0;
    }
    for (i = 0; i < G_N_ELEMENTS(subcommands); i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            return subcommands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr,
            "softpr: unknown command '%s'\n"
            "Try 'softpr --help' for the list of commands.\n",
            argv[1]);
    return TOOL_EXIT_USAGE;
}
