/*
 * persist: `softpr persist [--socket SOCK] [--initiator NAME]
 * [sg_persist options] DEVICE`, sg_persist with softprd as the device.
 *
 * It takes sg_persist 1.46's options, sends the PERSISTENT RESERVE IN or
 * OUT command sg_persist would send, and prints what sg_persist would
 * print and exits as it would, so that a script written for sg_persist
 * (fence_scsi's parsing included) works with its command prefix replaced.
 * The command goes to softprd (by default on the socket softprd itself
 * listens on) over the pr-helper protocol with DEVICE's descriptor
 * attached, as QEMU sends it.  With --initiator the connection declares
 * NAME as its initiator (the identity extension; the socket's identity
 * policy must be "client"); without it softprd names the initiator as
 * for any other peer.  softprd identifies the logical unit from
 * the descriptor and refuses PR OUT through a read-only one, so DEVICE is
 * opened exactly as sg_persist opens it.
 *
 * sg_persist's INQUIRY (skipped with -n) has no counterpart in softprd's
 * protocol; the data printed instead is in inquiry.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "cdb.h"
#include "client.h"
#include "config.h"
#include "engine.h"
#include "inquiry.h"
#include "persist.h"
#include "scsi.h"
#include "softpr.h"
#include "tid.h"
#include "wire.h"

/* The sg_persist whose interface this is: its version string. */
#define SG_PERSIST_VERSION "0.67 20190913"

/* sg3_utils' sense buffer for each command. */
#define SG3_SENSE_LEN 64

/* How long one command may take, sg3_utils' pass-through timeout. */
#define COMMAND_TIMEOUT_MS 60000

/* The PR IN response buffer: room past the largest allocation length,
 * zeroed, for headers that claim more than was returned. */
#define RESPONSE_BUF_LEN (WIRE_DATA_MAX + 64)

/* send_command() failed to reach softprd and has said why. */
#define TRANSPORT_FAILED (-1)

/* Long options without a short form. */
enum {
    OPT_SOCKET = 0x100,
    OPT_INITIATOR,
    OPT_CONFIG,
};

typedef struct Persist {
    /* sg_persist's options */
    bool inquiry; /* without -n */
    bool param_alltgpt;
    bool param_aptpl;
    bool param_unreg;
    bool pr_in;
    bool readonly;
    bool readwrite_force; /* -yy */
    bool verbose_given;
    bool version_given;
    int hex;
    int verbose;
    int help;
    int prin_sa;
    int prout_sa;
    unsigned alloc_len;
    unsigned param_rtp;
    unsigned prout_type;
    uint64_t param_rk;
    uint64_t param_sark;
    const char *device;
    PersistTids tids;
    /* softpr's */
    const char *socket_path;
    const char *config_path;
    const char *initiator_text; /* NULL: act as any non-QEMU peer */
    TransportId initiator;
    Config *config;   /* softprd's, for its default socket */
    PrClient *client; /* connected at the first command */
    bool flagged;     /* a failure was reported already */
} Persist;

static void persist_free(Persist *p)
{
    client_close(p->client);
    config_free(p->config);
    g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Persist, persist_free)

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/* sg_persist's short options. */
static const char short_options[] = "AcCd:GHhiIkK:l:Lm:MnoPQ:rRsS:T:UvVX:yYzZ";

/* sg_persist's long options (both spellings), and softpr's two. */
static const struct option long_options[] = {
    {"alloc-length", required_argument, NULL, 'l'},
    {"alloc_length", required_argument, NULL, 'l'},
    {"clear", no_argument, NULL, 'C'},
    {"device", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {"hex", no_argument, NULL, 'H'},
    {"in", no_argument, NULL, 'i'},
    {"maxlen", required_argument, NULL, 'm'},
    {"no-inquiry", no_argument, NULL, 'n'},
    {"no_inquiry", no_argument, NULL, 'n'},
    {"out", no_argument, NULL, 'o'},
    {"param-alltgpt", no_argument, NULL, 'Y'},
    {"param_alltgpt", no_argument, NULL, 'Y'},
    {"param-aptpl", no_argument, NULL, 'Z'},
    {"param_aptpl", no_argument, NULL, 'Z'},
    {"param-rk", required_argument, NULL, 'K'},
    {"param_rk", required_argument, NULL, 'K'},
    {"param-sark", required_argument, NULL, 'S'},
    {"param_sark", required_argument, NULL, 'S'},
    {"param-unreg", no_argument, NULL, 'U'},
    {"param_unreg", no_argument, NULL, 'U'},
    {"preempt", no_argument, NULL, 'P'},
    {"preempt-abort", no_argument, NULL, 'A'},
    {"preempt_abort", no_argument, NULL, 'A'},
    {"prout-type", required_argument, NULL, 'T'},
    {"prout_type", required_argument, NULL, 'T'},
    {"read-full-status", no_argument, NULL, 's'},
    {"read_full_status", no_argument, NULL, 's'},
    {"read-keys", no_argument, NULL, 'k'},
    {"read_keys", no_argument, NULL, 'k'},
    {"readonly", no_argument, NULL, 'y'},
    {"read-reservation", no_argument, NULL, 'r'},
    {"read_reservation", no_argument, NULL, 'r'},
    {"read-status", no_argument, NULL, 's'},
    {"read_status", no_argument, NULL, 's'},
    {"register", no_argument, NULL, 'G'},
    {"register-ignore", no_argument, NULL, 'I'},
    {"register_ignore", no_argument, NULL, 'I'},
    {"register-move", no_argument, NULL, 'M'},
    {"register_move", no_argument, NULL, 'M'},
    {"release", no_argument, NULL, 'L'},
    {"relative-target-port", required_argument, NULL, 'Q'},
    {"relative_target_port", required_argument, NULL, 'Q'},
    {"replace-lost", no_argument, NULL, 'z'},
    {"replace_lost", no_argument, NULL, 'z'},
    {"report-capabilities", no_argument, NULL, 'c'},
    {"report_capabilities", no_argument, NULL, 'c'},
    {"reserve", no_argument, NULL, 'R'},
    {"transport-id", required_argument, NULL, 'X'},
    {"transport_id", required_argument, NULL, 'X'},
    {"unreg", no_argument, NULL, 'U'},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"initiator", required_argument, NULL, OPT_INITIATOR},
    {"config", required_argument, NULL, OPT_CONFIG},
    {NULL, 0, NULL, 0},
};

/* Our own words: this usage describes softpr persist, not sg_persist. */
static void usage(int help)
{
    if (help < 2) {
        fprintf(stderr,
                "Usage: softpr persist [--socket=SOCKET] [--initiator=NAME] "
                "[OPTIONS] [DEVICE]\n"
                "Send one PERSISTENT RESERVE IN or OUT command for DEVICE "
                "through softprd,\n"
                "with sg_persist's options, output and exit status.\n"
                "  softpr's options:\n"
                "    --socket=SOCKET            softprd's socket (default: "
                "the one softprd\n"
                "                               listens on by default or "
                "as configured)\n"
                "    --config=FILE              softprd's configuration file, "
                "for that socket\n"
                "    --initiator=NAME           act as this initiator, on a "
                "socket whose identity\n"
                "                               policy is 'client': an iSCSI "
                "name (iqn./eui./\n"
                "                               naa., optionally ',i,0x' and "
                "a 12-digit ISID),\n"
                "                               fcp,<16 hex> or sas,<16 hex>; "
                "without it, softprd\n"
                "                               names the initiator (this "
                "host under 'auto')\n"
                "  the main sg_persist options:\n"
                "    --in|-i                    PR In (the default)\n"
                "    --out|-o                   PR Out (needed with every "
                "PR Out action)\n"
                "    --read-keys|-k             PR In: Read Keys (the "
                "default)\n"
                "    --read-reservation|-r      PR In: Read Reservation\n"
                "    --report-capabilities|-c   PR In: Report "
                "Capabilities\n"
                "    --read-full-status|-s      PR In: Read Full Status "
                "(also --read-status)\n"
                "    --register|-G              PR Out: Register\n"
                "    --register-ignore|-I       PR Out: Register and Ignore "
                "Existing Key\n"
                "    --reserve|-R               PR Out: Reserve\n"
                "    --release|-L               PR Out: Release\n"
                "    --clear|-C                 PR Out: Clear\n"
                "    --preempt|-P               PR Out: Preempt\n"
                "    --preempt-abort|-A         PR Out: Preempt and Abort\n"
                "    --register-move|-M         PR Out: Register and Move\n"
                "    --replace-lost|-z          PR Out: Replace Lost "
                "Reservation\n"
                "    --param-rk=RK|-K RK        reservation key, in hex\n"
                "    --param-sark=SARK|-S SARK  service action reservation "
                "key, in hex\n"
                "    --prout-type=TYPE|-T TYPE  reservation type, in hex "
                "(see -hh)\n"
                "    --unreg|-U                 Register and Move: "
                "unregister the issuer\n"
                "    --help|-h                  this text; -hh for the "
                "other options\n");
        return;
    }
    fprintf(stderr,
            "Usage: softpr persist [--socket=SOCKET] [--initiator=NAME] "
            "[OPTIONS] [DEVICE]\n"
            "  the other sg_persist options:\n"
            "    --alloc-length=LEN|-l LEN  PR In allocation length, in hex "
            "(default\n"
            "                               2000, at most 2000)\n"
            "    --maxlen=LEN|-m LEN        the same in decimal (default and "
            "most 8192)\n"
            "    --device=DEVICE|-d DEVICE  DEVICE as an option\n"
            "    --hex|-H                   PR In response in hex (-HH, -HHH: "
            "all of it)\n"
            "    --no-inquiry|-n            do not print the device's "
            "identification first\n"
            "    --param-alltgpt|-Y         PR Out: ALL_TG_PT\n"
            "    --param-aptpl|-Z           PR Out: APTPL\n"
            "    --readonly|-y              open DEVICE read-only (-yy: "
            "read-write even\n"
            "                               with SG_PERSIST_IN_RDONLY "
            "set)\n"
            "    --relative-target-port=RTPI|-Q RTPI  Register and Move: "
            "the target port\n"
            "    --transport-id=TIDS|-X TIDS  TransportIDs: hex bytes, "
            "iqn.NAME[,i,0xISID],\n"
            "                               fcp,<16 hex>, sas,<16 hex>, "
            "'-' (standard\n"
            "                               input) or file=NAME, one per "
            "line\n"
            "    --verbose|-v               say more (-vv, -vvv: more "
            "still)\n"
            "    --version|-V               print the version\n"
            "\n"
            "Reservation types (-T):\n"
            "  1: write exclusive\n"
            "  3: exclusive access\n"
            "  5: write exclusive, registrants only\n"
            "  6: exclusive access, registrants only\n"
            "  7: write exclusive, all registrants\n"
            "  8: exclusive access, all registrants\n"
            "  0, 2, 4: obsolete\n");
}

/* Multiplier suffixes of a count (dd's, as sg3_utils takes them). */
static const struct {
    const char *suffix;
    int64_t factor;
} count_suffixes[] = {
    {"", 1},
    {"c", 1},
    {"w", 2},
    {"b", 512},
    {"k", 1024},
    {"kib", 1024},
    {"kb", 1000},
    {"kd", 1000},
    {"m", 1024 * 1024},
    {"mib", 1024 * 1024},
    {"mb", 1000 * 1000},
    {"md", 1000 * 1000},
    {"g", 1024 * 1024 * 1024},
    {"gib", 1024 * 1024 * 1024},
    {"gb", 1000 * 1000 * 1000},
    {"gd", 1000 * 1000 * 1000},
};

/*
 * A count as -m takes it: decimal, optionally followed by a multiplier
 * suffix (k = 1024, kb = 1000, ...), or hexadecimal with "0x" before or
 * "h" after.  Reading stops at a blank, ',' or '#'.  -1 when it is none
 * of these, after saying so for an unknown suffix.
 */
static int parse_count(const char *text)
{
    g_autofree char *token = NULL;
    const char *start = text + strspn(text, " \t");
    size_t len = strcspn(start, " \t,#");
    guint64 value;
    char *end = NULL;
    size_t i;

    if (len == 0) {
        return -1;
    }
    token = g_strndup(start, len);
    if (g_str_has_prefix(token, "0x") || g_str_has_prefix(token, "0X")) {
        return g_ascii_string_to_unsigned(token + 2, 16, 0, G_MAXINT, &value,
                                          NULL)
                   ? (int)value
                   : -1;
    }
    if (g_ascii_tolower(token[len - 1]) == 'h') {
        token[len - 1] = '\0';
        return g_ascii_string_to_unsigned(token, 16, 0, G_MAXINT, &value, NULL)
                   ? (int)value
                   : -1;
    }
    if (!g_ascii_isdigit(token[0])) {
        return -1;
    }
    value = g_ascii_strtoull(token, &end, 10);
    for (i = 0; i < G_N_ELEMENTS(count_suffixes); i++) {
        if (g_ascii_strcasecmp(end, count_suffixes[i].suffix) == 0) {
            guint64 product = value * (guint64)count_suffixes[i].factor;

            if (value > G_MAXINT || product > G_MAXINT) {
                return -1;
            }
            return (int)product;
        }
    }
    fprintf(stderr, "unrecognized multiplier\n");
    return -1;
}

/* -l (hex) and -m (decimal): the allocation length.  Returns -1 or an
 * exit status. */
static int option_alloc_len(Persist *p, int c, const char *arg)
{
    const char *name = c == 'm' ? "maxlen" : "alloc-length";
    bool ok;

    if (c == 'm') {
        int k = parse_count(arg);

        ok = k != -1;
        p->alloc_len = (unsigned)k;
    } else {
        ok = sscanf(arg, "%x", &p->alloc_len) == 1;
    }
    if (!ok) {
        fprintf(stderr, "bad argument to '--%s'\n", name);
        return PERSIST_EXIT_SYNTAX;
    }
    /* sg_persist's own limit on -l and -m is the most the pr-helper
     * protocol carries, so one name serves both. */
    if (p->alloc_len > WIRE_DATA_MAX) {
        fprintf(stderr, "'--%s' argument exceeds maximum value (%d)\n", name,
                WIRE_DATA_MAX);
        return PERSIST_EXIT_SYNTAX;
    }
    return -1;
}

/* A hex option argument as sg_persist reads it (scanf "%x"). */
static bool scan_hex_u64(const char *arg, uint64_t *value)
{
    return sscanf(arg, "%" SCNx64, value) == 1;
}

typedef struct OptionCounts {
    int prin_sa;
    int prout_sa;
    bool want_prin;
    bool want_prout;
} OptionCounts;

static void set_prin(Persist *p, OptionCounts *n, int sa)
{
    p->prin_sa = sa;
    n->prin_sa++;
}

static void set_prout(Persist *p, OptionCounts *n, int sa)
{
    p->prout_sa = sa;
    n->prout_sa++;
}

/* The options that choose the service action, sg_persist's letters. */
static const struct {
    int option;
    bool prout;
    int service_action;
} service_options[] = {
    {'A', true, PR_OUT_PREEMPT_AND_ABORT},
    {'c', false, PR_IN_REPORT_CAPABILITIES},
    {'C', true, PR_OUT_CLEAR},
    {'G', true, PR_OUT_REGISTER},
    {'I', true, PR_OUT_REGISTER_IGNORE},
    {'k', false, PR_IN_READ_KEYS},
    {'L', true, PR_OUT_RELEASE},
    {'M', true, PR_OUT_REGISTER_AND_MOVE},
    {'P', true, PR_OUT_PREEMPT},
    {'r', false, PR_IN_READ_RESERVATION},
    {'R', true, PR_OUT_RESERVE},
    {'s', false, PR_IN_READ_FULL_STATUS},
    {'z', true, PR_OUT_REPLACE_LOST},
};

/* Option @c when it names a service action: records it, returns true. */
static bool option_service_action(Persist *p, OptionCounts *n, int c)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(service_options); i++) {
        if (service_options[i].option != c) {
            continue;
        }
        if (service_options[i].prout) {
            set_prout(p, n, service_options[i].service_action);
        } else {
            set_prin(p, n, service_options[i].service_action);
        }
        return true;
    }
    return false;
}

/* Option @c when it takes no argument: records it, returns true. */
static bool option_flag(Persist *p, OptionCounts *n, int c)
{
    switch (c) {
    case 'h':
        p->help++;
        break;
    case 'H':
        p->hex++;
        break;
    case 'i':
        n->want_prin = true;
        break;
    case 'n':
        p->inquiry = false;
        break;
    case 'o':
        n->want_prout = true;
        break;
    case 'U':
        p->param_unreg = true;
        break;
    case 'v':
        p->verbose_given = true;
        p->verbose++;
        break;
    case 'V':
        p->version_given = true;
        break;
    case 'y':
        /* -y read-only; -yy read-write whatever SG_PERSIST_IN_RDONLY. */
        if (!p->readwrite_force) {
            p->readwrite_force = p->readonly;
            p->readonly = !p->readonly;
        }
        break;
    case 'Y':
        p->param_alltgpt = true;
        break;
    case 'Z':
        p->param_aptpl = true;
        break;
    default:
        return false;
    }
    return true;
}

/* -Q: the RELATIVE TARGET PORT IDENTIFIER, hex, 16 bits.  Returns -1 or
 * an exit status. */
static int option_rtp(Persist *p, const char *arg)
{
    if (sscanf(arg, "%x", &p->param_rtp) != 1) {
        fprintf(stderr, "bad argument to '--relative-target-port'\n");
        return PERSIST_EXIT_SYNTAX;
    }
    if (p->param_rtp > 0xffff) {
        fprintf(stderr, "argument to '--relative-target-port' 0 to ffff "
                        "inclusive\n");
        return PERSIST_EXIT_SYNTAX;
    }
    return -1;
}

/* Option @c with its argument @arg, or an unknown option.  Returns -1 to
 * go on, or the exit status. */
static int option_with_argument(Persist *p, int c, const char *arg)
{
    const char *bad = NULL; /* the option whose argument is wrong */

    switch (c) {
    case 'd':
        p->device = arg;
        break;
    case 'K':
        bad = scan_hex_u64(arg, &p->param_rk) ? NULL : "param-rk";
        break;
    case 'l':
    case 'm':
        return option_alloc_len(p, c, arg);
    case 'Q':
        return option_rtp(p, arg);
    case 'S':
        bad = scan_hex_u64(arg, &p->param_sark) ? NULL : "param-sark";
        break;
    case 'T':
        bad = sscanf(arg, "%x", &p->prout_type) == 1 ? NULL : "prout-type";
        break;
    case 'X':
        bad = persist_tids_add(&p->tids, arg) ? NULL : "transport-id";
        break;
    case OPT_SOCKET:
        p->socket_path = arg;
        break;
    case OPT_INITIATOR:
        p->initiator_text = arg;
        break;
    case OPT_CONFIG:
        p->config_path = arg;
        break;
    default:
        /*
         * getopt has named the option.  sg_persist 1.46 prints its usage
         * and exits 0 here, which would let a mistyped PR OUT in a fencing
         * script pass for success; this is a syntax error.
         */
        usage(1);
        return PERSIST_EXIT_SYNTAX;
    }
    if (bad) {
        fprintf(stderr, "bad argument to '--%s'\n", bad);
        return PERSIST_EXIT_SYNTAX;
    }
    return -1;
}

/* One option.  Returns -1 to go on, or the exit status. */
static int parse_option(Persist *p, OptionCounts *n, int c, const char *arg)
{
    if (option_service_action(p, n, c) || option_flag(p, n, c)) {
        return -1;
    }
    return option_with_argument(p, c, arg);
}

/* sg_persist's checks of the options taken together.  Returns -1 to go
 * on, or the exit status. */
static int check_options(Persist *p, const OptionCounts *n)
{
    if (p->help > 0) {
        usage(p->help);
        return PERSIST_EXIT_OK;
    }
    if (p->verbose_given && p->version_given) {
        fprintf(stderr, "Not in DEBUG mode, so '-vV' has no special action\n");
    }
    if (p->version_given) {
        fprintf(stderr, "version: %s (softpr %s)\n", SG_PERSIST_VERSION,
                SOFTPR_VERSION);
        return PERSIST_EXIT_OK;
    }
    if (p->device == NULL) {
        fprintf(stderr, "No device name given\n");
        usage(1);
        return PERSIST_EXIT_SYNTAX;
    }
    if (n->want_prout && n->want_prin) {
        fprintf(stderr, "choose '--in' _or_ '--out' (not both)\n");
        usage(1);
        return PERSIST_EXIT_CONTRADICT;
    }
    if (n->want_prout) {
        p->pr_in = false;
        if (n->prout_sa != 1 || n->prin_sa != 0) {
            fprintf(stderr, ">> For Persistent Reserve Out one and only one "
                            "appropriate\n>> service action must be chosen "
                            "(e.g. '--register')\n");
            return PERSIST_EXIT_CONTRADICT;
        }
    } else {
        if (n->prout_sa > 0) {
            fprintf(stderr, ">> When a service action for Persistent Reserve "
                            "Out is chosen the\n>> '--out' option must be "
                            "given (as a safeguard)\n");
            return PERSIST_EXIT_CONTRADICT;
        }
        if (n->prin_sa == 0) {
            fprintf(stderr, ">> No service action given; assume Persistent "
                            "Reserve In command\n>> with Read Keys service "
                            "action\n");
            p->prin_sa = PR_IN_READ_KEYS;
        } else if (n->prin_sa > 1) {
            fprintf(stderr,
                    "Too many service actions given; choose one only\n");
            usage(1);
            return PERSIST_EXIT_CONTRADICT;
        }
    }
    if ((p->param_unreg || p->param_rtp) &&
        p->prout_sa != PR_OUT_REGISTER_AND_MOVE) {
        fprintf(stderr, "--unreg or --relative-target-port only useful with "
                        "--register-move\n");
        usage(1);
        return PERSIST_EXIT_CONTRADICT;
    }
    if (p->prout_sa == PR_OUT_REGISTER_AND_MOVE && p->tids.count != 1) {
        fprintf(stderr, "with --register-move one (and only one) "
                        "--transport-id should be given\n");
        usage(1);
        return PERSIST_EXIT_CONTRADICT;
    }
    if ((p->prout_sa == PR_OUT_RESERVE || p->prout_sa == PR_OUT_RELEASE ||
         p->prout_sa == PR_OUT_PREEMPT ||
         p->prout_sa == PR_OUT_PREEMPT_AND_ABORT) &&
        p->prout_type == 0) {
        fprintf(stderr, "warning>>> --prout-type probably needs to be given\n");
    }
    return -1;
}

/* -vvv: the TransportIDs as read (on stdout, as sg_persist prints them). */
static void print_given_tids(const Persist *p)
{
    int k;

    fprintf(stderr,
            "number of tranport-ids decoded from command line (or stdin): "
            "%d\n",
            p->tids.count);
    fprintf(stderr, "  Decode given transport-ids:\n");
    for (k = 0; k < p->tids.count && k < PERSIST_TID_ROWS; k++) {
        g_autoptr(GString) text = g_string_new(NULL);
        size_t off = (size_t)k * PERSIST_TID_ROW;

        persist_tid_append(text, "      ", p->tids.rows + off,
                           sizeof(p->tids.rows) - off, PERSIST_TID_ROW);
        fputs(text->str, stdout);
    }
}

/*
 * What softpr persist needs besides sg_persist's options: without
 * --socket, softprd's own main socket, from its configuration file as
 * softprd reads it (-c there, --config here) or its default.
 */
static int check_softpr_options(Persist *p)
{
    g_autoptr(GError) error = NULL;

    if (p->initiator_text != NULL &&
        !tid_parse(p->initiator_text, &p->initiator, &error)) {
        fprintf(stderr, "softpr persist: --initiator: %s\n", error->message);
        return PERSIST_EXIT_SYNTAX;
    }
    if (p->socket_path != NULL) {
        return -1;
    }
    p->config = config_new();
    if (!config_load(p->config, p->config_path, &error)) {
        fprintf(stderr, "softpr persist: %s\n", error->message);
        return PERSIST_EXIT_SYNTAX;
    }
    p->socket_path = config_main_socket(p->config)->path;
    if (p->socket_path == NULL) {
        fprintf(stderr, "softpr persist: softprd's configuration names no "
                        "socket (socket activation); give --socket\n");
        return PERSIST_EXIT_SYNTAX;
    }
    return -1;
}

/*
 * Parse @argv as sg_persist does, with getopt_long() as it does.
 * GOption cannot stand in: it rejects an argument attached to a short
 * option ("-K0x12"), abbreviated long options ("--param-r=1") and reads
 * "-Ki 5" differently, all of which sg_persist accepts.  Returns -1 to
 * go on, or the exit status.
 */
static int parse_options(Persist *p, int argc, char **argv)
{
    g_autofree char **args = g_new0(char *, (size_t)argc + 1);
    OptionCounts n = {0};
    int c;
    int ret;
    int i;

    /* getopt's messages name the program: they are sg_persist's. */
    args[0] = (char *)"sg_persist";
    for (i = 1; i < argc; i++) {
        args[i] = argv[i];
    }
    optind = 0; /* a fresh scan, in case getopt ran before */
    while ((c = getopt_long(argc, args, short_options, long_options, NULL)) !=
           -1) {
        ret = parse_option(p, &n, c, optarg);
        if (ret >= 0) {
            return ret;
        }
    }
    if (optind < argc) {
        if (p->device == NULL) {
            p->device = args[optind++];
        }
        if (optind < argc) {
            for (; optind < argc; optind++) {
                fprintf(stderr, "Unexpected extra argument: %s\n",
                        args[optind]);
            }
            usage(1);
            return PERSIST_EXIT_SYNTAX;
        }
    }
    ret = check_options(p, &n);
    if (ret >= 0) {
        return ret;
    }
    if (p->verbose > 2 && p->tids.count > 0) {
        print_given_tids(p);
    }
    return check_softpr_options(p);
}

/* ------------------------------------------------------------------ */
/* The device and softprd                                              */
/* ------------------------------------------------------------------ */

/* sg3_utils' exit status for an errno. */
static int exit_from_errno(int err)
{
    if (err <= 0) {
        return err < 0 ? PERSIST_EXIT_OS_BASE : 0;
    }
    if (err < PERSIST_EXIT_MALFORMED - PERSIST_EXIT_OS_BASE) {
        return PERSIST_EXIT_OS_BASE + err;
    }
    return PERSIST_EXIT_OS_BASE;
}

/* Open the device as sg3_utils opens it.  Returns the descriptor or
 * -errno. */
static int open_device(const Persist *p, bool read_only)
{
    int flags = O_NONBLOCK | (read_only ? O_RDONLY : O_RDWR);
    int fd;

    if (p->verbose > 1) {
        fprintf(stderr, "open %s with flags=0x%x\n", p->device, flags);
    }
    fd = open(p->device, flags);
    if (fd < 0) {
        int err = errno;

        if (p->verbose > 1) {
            fprintf(stderr, "scsi_pt_open_flags: open(%s, 0x%x) failed: %s\n",
                    p->device, flags, g_strerror(err));
        }
        return -err;
    }
    return fd;
}

/* sg3_utils' "pass-through requested N bytes" line. */
static void print_resid(const char *name, bool din, int requested, int got)
{
    fprintf(stderr,
            "    %s: pass-through requested %d bytes (data-%s  got %d "
            "bytes%s\n",
            name, requested, din ? "in), got" : "out) but reported", got,
            din ? "" : " sent");
}

/*
 * A CHECK CONDITION (or COMMAND TERMINATED) reply: the sense printed as
 * sg3_utils prints it, unless the category is one sg_persist's caller
 * reports itself.  @req_din and @act_din are the data-in lengths asked
 * for and returned.  Returns 0 or the exit status of the sense.
 */
static int judge_check_condition(const Persist *p, const char *name,
                                 const ClientReply *reply, int req_din,
                                 int act_din)
{
    /* Sense comes only with CHECK CONDITION, as long as the device says
     * it is (what SG_IO on a disk, a guest's kernel and
     * libsoftpr-preload.so hand over), cut to sg3_utils' buffer. */
    int slen = (int)scsi_sense_length(reply->sense, SG3_SENSE_LEN);
    int category = persist_sense_category(reply->sense, slen);
    bool noisy = true;
    bool check_data_in = false;

    switch (category) {
    case PERSIST_EXIT_NOT_READY:
    case PERSIST_EXIT_INVALID_OPCODE:
    case PERSIST_EXIT_ILLEGAL_REQUEST:
    case PERSIST_EXIT_LBA_OUT_OF_RANGE:
    case PERSIST_EXIT_ABORTED_COMMAND:
    case PERSIST_EXIT_COPY_ABORTED:
    case PERSIST_EXIT_DATA_PROTECT:
    case PERSIST_EXIT_PROTECTION:
    case PERSIST_EXIT_NO_SENSE:
    case PERSIST_EXIT_MISCOMPARE:
        noisy = false; /* the caller says what went wrong */
        break;
    case PERSIST_EXIT_RECOVERED:
    case PERSIST_EXIT_MEDIUM_HARD:
        check_data_in = true;
        break;
    default:
        break;
    }
    if (p->verbose || noisy) {
        g_autoptr(GString) text = g_string_new(NULL);

        fprintf(stderr, "%s:\n", name);
        persist_sense_append(text, reply->sense, slen, p->verbose > 1);
        fputs(text->str, stderr);
        if (req_din > 0 && act_din != req_din &&
            (p->verbose > 2 || check_data_in || act_din > 0)) {
            print_resid(name, true, req_din, act_din);
        }
    }
    if (category == PERSIST_EXIT_RECOVERED ||
        category == PERSIST_EXIT_NO_SENSE) {
        return PERSIST_EXIT_OK;
    }
    return category;
}

/* Any other status but GOOD: its exit status, or for one sg3_utils does
 * not know, a message and 0 (it carries on as if all went well, and so
 * does sg_persist). */
static int judge_other_status(const char *name, uint8_t status)
{
    g_autoptr(GString) text = g_string_new(NULL);

    switch (status) {
    case SCSI_STATUS_RESERVATION_CONFLICT:
        return PERSIST_EXIT_RESERVATION_CONFLICT;
    case 0x04: /* CONDITION MET */
        return PERSIST_EXIT_CONDITION_MET;
    case SCSI_STATUS_BUSY:
        return PERSIST_EXIT_BUSY;
    case SCSI_STATUS_TASK_SET_FULL:
        return PERSIST_EXIT_TASK_SET_FULL;
    case 0x30: /* ACA ACTIVE */
        return PERSIST_EXIT_ACA_ACTIVE;
    case SCSI_STATUS_TASK_ABORTED:
        return PERSIST_EXIT_TASK_ABORTED;
    default:
        persist_status_append(text, status);
        fprintf(stderr, "%s: scsi status: %s\n", name, text->str);
        return PERSIST_EXIT_OK;
    }
}

/* GOOD: with -vv a short transfer, with -vvv the PR IN data @resp. */
static void judge_good(const Persist *p, const char *name, bool pr_in,
                       const uint8_t *resp, int req_din, int act_din)
{
    if (req_din > 0 && act_din != req_din && p->verbose > 1) {
        print_resid(name, true, req_din, act_din);
    }
    if (pr_in && p->verbose > 2 && act_din > 0) {
        fprintf(stderr, "    %s: response", name);
        if (p->verbose == 3) {
            fprintf(stderr, "%s:\n", act_din > 256 ? ", first 256 bytes" : "");
            persist_hex_print(stderr, resp, MIN(act_din, 256), -1);
        } else {
            fprintf(stderr, ":\n");
            persist_hex_print(stderr, resp, act_din, 0);
        }
    }
}

/*
 * Judge softprd's @reply to a command named @name as sg3_utils judges
 * the pass-through's result (sg_cmds_process_resp() and the
 * sg_ll_persistent_reserve_in/out() around it), printing what they print.
 * PR IN data goes to @resp.  Returns 0 or an exit status.
 */
static int judge_reply(const Persist *p, const char *name, bool pr_in,
                       const ClientReply *reply, uint8_t *resp,
                       unsigned alloc_len, unsigned duration_ms)
{
    int req_din = pr_in ? (int)alloc_len : 0;
    int act_din = pr_in ? (int)reply->data_len : 0;
    /* sg3_utils masks off the reserved and vendor bits of the status. */
    uint8_t masked = reply->status & 0x7e;

    if (pr_in && reply->data_len > 0) {
        memcpy(resp, reply->data, reply->data_len);
    }
    if (p->verbose > 2) {
        fprintf(stderr, "      duration=%u ms\n", duration_ms);
    }
    if (masked == SCSI_STATUS_CHECK_CONDITION ||
        masked == 0x22 /* COMMAND TERMINATED, obsolete */) {
        return judge_check_condition(p, name, reply, req_din, act_din);
    }
    if (masked != SCSI_STATUS_GOOD) {
        return judge_other_status(name, reply->status);
    }
    judge_good(p, name, pr_in, resp, req_din, act_din);
    return PERSIST_EXIT_OK;
}

/*
 * Send the PR command @cdb (named @name, as sg3_utils names it) with its
 * @param_len parameter bytes to softprd, for @fd, and judge the reply.
 * Returns 0, an exit status, or TRANSPORT_FAILED after saying why.
 */
static int send_command(Persist *p, int fd, const char *name,
                        const uint8_t *cdb, const uint8_t *param,
                        size_t param_len, uint8_t *resp, unsigned alloc_len)
{
    /* sg_persist's PR CDBs are 10 bytes: the rest of ours is zero. */
    enum { PR_CDB_SHOWN = 10 };
    bool pr_in = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    g_autofree ClientReply *reply = g_new0(ClientReply, 1);
    g_autoptr(GError) error = NULL;
    gint64 start;

    if (p->verbose) {
        g_autoptr(GString) text = g_string_new(NULL);

        persist_cdb_append(text, cdb, PR_CDB_SHOWN);
        fprintf(stderr, "    %s cdb: %s\n", name, text->str);
        if (!pr_in && p->verbose > 1) {
            fprintf(stderr, "    %s parameters:\n", name);
            persist_hex_print(stderr, param, (int)param_len, 0);
        }
    }
    if (p->client == NULL) {
        /* Without --initiator, as QEMU connects: softprd names the
         * initiator by its socket's policy (the host, for a peer that is
         * not QEMU, under the default "auto"). */
        p->client =
            p->initiator_text != NULL
                ? client_connect_as(p->socket_path, &p->initiator,
                                    COMMAND_TIMEOUT_MS, &error)
                : client_connect(p->socket_path, 0, COMMAND_TIMEOUT_MS, &error);
    }
    start = g_get_monotonic_time();
    if (p->client == NULL ||
        !client_command(p->client, cdb, fd, param, param_len, reply, &error)) {
        fprintf(stderr, "softpr persist: %s\n", error->message);
        p->flagged = true;
        return TRANSPORT_FAILED;
    }
    return judge_reply(p, name, pr_in, reply, resp, alloc_len,
                       (unsigned)((g_get_monotonic_time() - start) / 1000));
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

/* sg_persist's names of the service actions, for its messages. */
static const char *const prin_names[] = {
    "Read keys",        "Read reservation", "Report capabilities",
    "Read full status", "[reserved 0x4]",   "[reserved 0x5]",
    "[reserved 0x6]",   "[reserved 0x7]",
};
static const char *const prout_names[] = {
    "Register",
    "Reserve",
    "Release",
    "Clear",
    "Preempt",
    "Preempt and abort",
    "Register and ignore existing key",
    "Register and move",
    "Replace lost reservation",
    "[reserved 0x9]",
};

/* "PR in (Read keys): ..." after a failed command. */
static void print_failure(const Persist *p, const char *what,
                          const char *action, int res)
{
    if (res == PERSIST_EXIT_INVALID_OPCODE) {
        fprintf(stderr, "%s (%s): command not supported\n", what, action);
    } else if (res == PERSIST_EXIT_ILLEGAL_REQUEST) {
        fprintf(stderr,
                "%s (%s): bad field in cdb or parameter list (perhaps "
                "unsupported service action)\n",
                what, action);
    } else {
        g_autofree char *category = persist_category_str(res, p->verbose);

        fprintf(stderr, "%s (%s): %s\n", what, action, category);
    }
}

/* Without -n: what sg_persist prints of the device's INQUIRY data. */
static int print_inquiry(Persist *p)
{
    static const uint8_t cdb[6] = {0x12, 0, 0, 0, INQUIRY_STANDARD_LEN, 0};
    uint8_t data[INQUIRY_STANDARD_LEN];
    int fd = open_device(p, true);

    if (fd < 0) {
        fprintf(stderr, "sg_persist: error opening file (ro): %s: %s\n",
                p->device, g_strerror(-fd));
        p->flagged = true;
        return exit_from_errno(-fd);
    }
    if (p->verbose) {
        g_autoptr(GString) text = g_string_new(NULL);

        persist_cdb_append(text, cdb, sizeof(cdb));
        fprintf(stderr, "    inquiry cdb: %s\n", text->str);
    }
    if (p->verbose > 2) {
        fprintf(stderr, "      duration=0 ms\n");
    }
    inquiry_standard(data);
    printf("  %.8s  %.16s  %.4s\n", (const char *)data + 8,
           (const char *)data + 16, (const char *)data + 32);
    /* The only device type there is: INQUIRY_PDT_DISK. */
    printf("  Peripheral device type: disk\n");
    /* Like sg_persist, ignore how closing a read-only descriptor went. */
    (void)close(fd);
    return PERSIST_EXIT_OK;
}

static int prin_work(Persist *p, int fd)
{
    g_autofree uint8_t *buf = g_malloc0(RESPONSE_BUF_LEN);
    uint8_t cdb[CDB_LEN];
    int res;

    cdb_pr_in(cdb, (uint8_t)p->prin_sa, (uint16_t)p->alloc_len);
    res = send_command(p, fd, "Persistent reservation in", cdb, NULL, 0, buf,
                       p->alloc_len);
    if (res == TRANSPORT_FAILED) {
        return PERSIST_EXIT_OTHER;
    }
    if (res != 0) {
        print_failure(p, "PR in", prin_names[p->prin_sa & 0x7], res);
        return res;
    }
    return persist_print_prin(p->prin_sa, p->hex, p->verbose, buf,
                              RESPONSE_BUF_LEN, p->alloc_len);
}

/* The -X TransportIDs did not fit in a parameter list (sg_persist would
 * overrun its buffer). */
static int tids_too_long(Persist *p)
{
    fprintf(stderr,
            "softpr persist: the TransportIDs make a parameter list longer "
            "than %d bytes\n",
            WIRE_DATA_MAX);
    p->flagged = true;
    return PERSIST_EXIT_SYNTAX;
}

/* Every PR OUT service action but REGISTER AND MOVE. */
static int prout_work(Persist *p, int fd)
{
    g_autofree uint8_t *param = g_malloc0(WIRE_DATA_MAX);
    size_t tids_len = persist_tids_compact(&p->tids);
    uint8_t flags = (uint8_t)((p->param_alltgpt ? PROUT_ALL_TG_PT : 0) |
                              (p->param_aptpl ? PROUT_APTPL : 0) |
                              (tids_len > 0 ? PROUT_SPEC_I_PT : 0));
    const char *action = prout_names[p->prout_sa];
    uint8_t cdb[CDB_LEN];
    size_t len = 0;
    int res;

    if (tids_len <= sizeof(p->tids.rows)) {
        len = cdb_prout_basic_raw(param, p->param_rk, p->param_sark, flags,
                                  p->tids.rows, tids_len);
    }
    if (len == 0) {
        return tids_too_long(p);
    }
    cdb_pr_out(cdb, (uint8_t)p->prout_sa, PR_SCOPE_LU, (uint8_t)p->prout_type,
               (uint32_t)len);
    res = send_command(p, fd, "Persistent reservation out", cdb, param, len,
                       NULL, 0);
    if (res == TRANSPORT_FAILED) {
        return PERSIST_EXIT_OTHER;
    }
    if (res != 0) {
        print_failure(p, "PR out", action, res);
        return res;
    }
    if (p->verbose) {
        fprintf(stderr, "PR out: command (%s) successful\n", action);
    }
    return PERSIST_EXIT_OK;
}

/* REGISTER AND MOVE, whose parameter list has its own layout. */
static int prout_move_work(Persist *p, int fd)
{
    g_autofree uint8_t *param = g_malloc0(WIRE_DATA_MAX);
    size_t tids_len = persist_tids_compact(&p->tids);
    uint8_t cdb[CDB_LEN];
    size_t len = 0;
    int res;

    if (tids_len <= sizeof(p->tids.rows)) {
        len = cdb_prout_move_raw(
            param, p->param_rk, p->param_sark, p->param_unreg, p->param_aptpl,
            (uint16_t)p->param_rtp, p->tids.rows, tids_len);
    }
    if (len == 0) {
        return tids_too_long(p);
    }
    cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, PR_SCOPE_LU,
               (uint8_t)p->prout_type, (uint32_t)len);
    res = send_command(p, fd, "Persistent reservation out", cdb, param, len,
                       NULL, 0);
    if (res == TRANSPORT_FAILED) {
        return PERSIST_EXIT_OTHER;
    }
    if (res != 0) {
        print_failure(p, "PR out", "register and move", res);
        return res;
    }
    if (p->verbose) {
        fprintf(stderr, "PR out: 'register and move' command successful\n");
    }
    return PERSIST_EXIT_OK;
}

/* Everything after the options, in sg_persist's order. */
static int persist_run(Persist *p)
{
    int ret = PERSIST_EXIT_OK;
    int fd = -1;

    if (p->inquiry) {
        ret = print_inquiry(p);
        if (ret != 0) {
            goto fini;
        }
    }
    if (p->readwrite_force) {
        p->readonly = false;
    } else if (p->pr_in && getenv("SG_PERSIST_IN_RDONLY") != NULL) {
        p->readonly = true;
    }
    fd = open_device(p, p->readonly);
    if (fd < 0) {
        fprintf(stderr, "sg_persist: error opening file %s (r%s): %s\n",
                p->device, p->readonly ? "o" : "w", g_strerror(-fd));
        ret = exit_from_errno(-fd);
        p->flagged = true;
        goto fini;
    }
    if (p->pr_in) {
        ret = prin_work(p, fd);
    } else if (p->prout_sa == PR_OUT_REGISTER_AND_MOVE) {
        ret = prout_move_work(p, fd);
    } else {
        ret = prout_work(p, fd);
    }
fini:
    if (ret != 0 && p->verbose == 0 && !p->flagged) {
        g_autofree char *text = persist_exit_str(ret);

        if (text != NULL) {
            fprintf(stderr, "sg_persist failed: %s\n", text);
        } else {
            fprintf(stderr, "Some error occurred [%d]\n", ret);
        }
    }
    if (fd >= 0 && close(fd) < 0) {
        int err = errno;

        fprintf(stderr, "close error: %s\n", g_strerror(err));
        if (ret == 0) {
            ret = exit_from_errno(err);
        }
    }
    return ret >= 0 ? ret : PERSIST_EXIT_OTHER;
}

int persist_main(int argc, char **argv)
{
    g_autoptr(Persist) p = g_new0(Persist, 1);
    int ret;

    p->inquiry = true;
    p->pr_in = true;
    p->prin_sa = -1;
    p->prout_sa = -1;
    p->alloc_len = WIRE_DATA_MAX;
    ret = parse_options(p, argc, argv);
    if (ret >= 0) {
        return ret;
    }
    return persist_run(p);
}
