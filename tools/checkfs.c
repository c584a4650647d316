/*
 * checkfs: `softpr check-fs DIR`, the acceptance test of a shared
 * filesystem, run at the same time on every host that will share the
 * database (two by default).
 *
 * It works on a scratch softpr database in DIR (the subject) with the
 * code softprd itself runs: store transactions and PR commands through
 * command_execute().  The hosts coordinate through a second scratch
 * database in DIR (the board): each one's progress is the reservation
 * key it registers there, as its host initiator, so the coordination
 * itself also depends on the filesystem's locks and visibility, and
 * every step is bounded by --timeout.
 *
 * The checks: for each host in turn, while it holds the subject's write
 * lock, every other host fails to take it (lock exclusion, in every
 * direction); after it commits a change, every other host sees it
 * (visibility); then all hosts send a burst of PR OUT commands at once
 * and PRgeneration must have risen by exactly the number answered GOOD
 * (no lost or torn updates), and sqlite's integrity check must pass.
 *
 * On NFSv4, before any of that, each host posts the client identity it
 * presents to the server in a plain file of its own (not through sqlite,
 * whose locks are what two hosts sharing one identity break), and the
 * hosts must all present distinct ones.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "cdb.h"
#include "command.h"
#include "error.h"
#include "fscheck.h"
#include "identity.h"
#include "softpr.h"
#include "store.h"
#include "table.h"

#define SUBJECT_FILE ".softpr-check-fs.db"
#define BOARD_FILE ".softpr-check-fs-board.db"
/* Followed by a random suffix: one file per host and run. */
#define IDENTITY_PREFIX ".softpr-check-fs-nfsid."
#define CHECK_LU "softpr-check-fs"

/* How long a host that must not get the lock tries to take it. */
#define TRY_LOCK_MS 1000
/* Lock waits of the subject and the board while all hosts write. */
#define LOCK_TIMEOUT_MS 5000
#define POLL_US (20 * 1000)
/* A host that gave up this long before this one started was in an
 * earlier run (clocks of hosts that share storage agree this well). */
#define JOIN_SLACK_S 5

/*
 * The steps a host posts on the board: the step in the key's high 32
 * bits, a value in the low 32 bits.  A host's key only grows, and no
 * host posts its next step before every host that needs the current
 * one's value has read it.
 */
enum {
    STEP_JOINED = 1,
    /* Round r (host r holds the lock): STEP_ROUND + 8 r + ... */
    STEP_ROUND = 16,
    ROUND_HOLDING = 0,  /* the holder has the write lock */
    ROUND_BLOCKED = 1,  /* value 1: could not take the lock (good) */
    ROUND_RELEASED = 2, /* value: PRgeneration after the holder's change */
    ROUND_SAW = 3,      /* value 1: saw the change and took the lock */
    ROUND_DONE = 4,
    STEP_STORM_READY = 0x7ffffff0,
    STEP_STORM_DONE, /* value: commands answered GOOD */
    STEP_FINISHED,   /* value: the same */
    STEP_LEFT,       /* value: the same; done with both files, which the
                      * first host then removes */
    STEP_ABORTED,    /* gave up: nobody waits for it any longer */
};

typedef struct Peer {
    char *name; /* initiator name */
    char *host; /* escaped for the terminal (table_escape()) */
    uint32_t step;
    uint32_t value;
} Peer;

typedef struct Check {
    char *dir;
    char *host_id;
    unsigned n_peers;
    unsigned timeout_s;
    unsigned writes;
    const char *vfs;
    Store *subject;
    Store *board;
    TransportId me;
    char *my_name;
    uint16_t port;
    PrConfig pr;
    gint64 started_s;
    GArray *peers; /* Peer, sorted by name, after joining */
    char *nfs_identity;  /* NULL: not NFSv4 */
    char *identity_file; /* this host's, once posted */
    unsigned failures;
    uint32_t good; /* storm commands answered GOOD here */
} Check;

static uint64_t make_key(uint32_t step, uint32_t value)
{
    return ((uint64_t)step << 32) | value;
}

static void report(Check *check, bool pass, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void report(Check *check, bool pass, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("  %s %s\n", pass ? "PASS" : "FAIL", text);
    fflush(stdout);
    if (!pass) {
        check->failures++;
    }
}

/* A PR OUT REGISTER AND IGNORE EXISTING KEY for @key through @store. */
static uint8_t register_key(Check *check, Store *store, uint64_t key,
                            unsigned lock_ms)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, 0, key, 0, NULL, 0);
    PrNexus nexus = {.initiator = check->me, .rtpi = check->port};
    StoreLuInfo lu = {CHECK_LU, "check-fs", check->dir};
    CommandRequest request = {
        .cdb = cdb,
        .data = param,
        .data_len = len,
        .deadline = g_get_monotonic_time() + (gint64)lock_ms * 1000,
    };
    g_autofree PrResult *result = g_new0(PrResult, 1);

    cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, (uint32_t)len);
    command_execute(store, &check->pr, &nexus, &lu, &request, result);
    return result->status;
}

/* Post @step with @value on the board, retrying while it is busy. */
static bool post(Check *check, uint32_t step, uint32_t value)
{
    gint64 give_up =
        g_get_monotonic_time() + (gint64)check->timeout_s * G_USEC_PER_SEC;

    while (register_key(check, check->board, make_key(step, value),
                        LOCK_TIMEOUT_MS) != SCSI_STATUS_GOOD) {
        if (g_get_monotonic_time() > give_up) {
            report(check, false,
                   "could not write to the coordination database %s/%s "
                   "within %u s",
                   check->dir, BOARD_FILE, check->timeout_s);
            return false;
        }
        g_usleep(POLL_US);
    }
    return true;
}

static void peers_clear(GArray *peers)
{
    guint i;

    for (i = 0; i < peers->len; i++) {
        Peer *p = &g_array_index(peers, Peer, i);

        g_free(p->name);
        g_free(p->host);
    }
    g_array_set_size(peers, 0);
}

/*
 * Read the board: every host registered within --timeout; while
 * @joining, not those that finished (an earlier run: nobody finishes
 * before all have joined), nor those that gave up well before this host
 * started.
 */
static bool read_board(Check *check, bool joining, GArray *peers,
                       GError **error)
{
    StoreFilter filter = {.lu = CHECK_LU};
    g_autoptr(StoreDump) dump = store_dump(
        check->board, &filter,
        g_get_monotonic_time() + (gint64)LOCK_TIMEOUT_MS * 1000, error);
    guint i;

    peers_clear(peers);
    if (dump == NULL) {
        return false;
    }
    for (i = 0; i < dump->lus->len; i++) {
        StoreLuDump *lu = g_ptr_array_index(dump->lus, i);
        guint j;

        for (j = 0; strcmp(lu->name, CHECK_LU) == 0 && j < lu->regs->len; j++) {
            StoreRegDump *reg = &g_array_index(lu->regs, StoreRegDump, j);
            Peer peer = {
                .step = (uint32_t)(reg->key >> 32),
                .value = (uint32_t)reg->key,
            };

            if (reg->registered_at < check->started_s - check->timeout_s ||
                (joining &&
                 (peer.step == STEP_FINISHED || peer.step == STEP_LEFT)) ||
                (joining && peer.step == STEP_ABORTED &&
                 reg->registered_at < check->started_s - JOIN_SLACK_S)) {
                continue;
            }
            peer.name = g_strdup(reg->initiator);
            /* Only ever printed; another host chose it. */
            peer.host = table_escape(reg->host);
            g_array_append_val(peers, peer);
        }
    }
    return true;
}

static int peer_compare(gconstpointer a, gconstpointer b)
{
    return strcmp(((const Peer *)a)->name, ((const Peer *)b)->name);
}

/* The index of @name among the joined peers, or -1. */
static int peer_index(const Check *check, const char *name)
{
    guint i;

    for (i = 0; i < check->peers->len; i++) {
        if (strcmp(g_array_index(check->peers, Peer, i).name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Wait until every joined peer selected by @who (-1: all but me) has
 * posted at least @step; afterwards check->peers holds their steps and
 * values.  Fails the check after --timeout.
 */
static bool wait_for(Check *check, int who, uint32_t step, const char *what)
{
    g_autoptr(GArray) board = g_array_new(FALSE, TRUE, sizeof(Peer));
    gint64 give_up =
        g_get_monotonic_time() + (gint64)check->timeout_s * G_USEC_PER_SEC;
    int me = peer_index(check, check->my_name);

    for (;;) {
        g_autoptr(GError) error = NULL;
        bool all = true;
        guint i;

        if (!read_board(check, false, board, &error)) {
            /* A busy board is retried like a slow peer. */
            if (!g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY)) {
                report(check, false, "%s", error->message);
                peers_clear(board);
                return false;
            }
            all = false;
        }
        for (i = 0; i < board->len; i++) {
            Peer *b = &g_array_index(board, Peer, i);

            if (b->step == STEP_ABORTED && peer_index(check, b->name) >= 0 &&
                strcmp(b->name, check->my_name) != 0) {
                report(check, false, "%s gave up (its output says why)",
                       b->host);
                peers_clear(board);
                return false;
            }
        }
        for (i = 0; all && i < check->peers->len; i++) {
            Peer *p = &g_array_index(check->peers, Peer, i);
            guint j;

            if ((who >= 0 && (int)i != who) || (who < 0 && (int)i == me)) {
                continue;
            }
            for (j = 0; j < board->len; j++) {
                Peer *b = &g_array_index(board, Peer, j);

                if (strcmp(b->name, p->name) == 0) {
                    p->step = b->step;
                    p->value = b->value;
                }
            }
            all = p->step >= step;
        }
        if (all) {
            peers_clear(board);
            return true;
        }
        if (g_get_monotonic_time() > give_up) {
            GString *late = g_string_new(NULL);

            for (i = 0; i < check->peers->len; i++) {
                Peer *p = &g_array_index(check->peers, Peer, i);

                if ((int)i != me && p->step < step) {
                    g_string_append_printf(late, " %s", p->host);
                }
            }
            report(check, false, "timed out after %u s waiting for%s to %s",
                   check->timeout_s, late->str, what);
            g_string_free(late, TRUE);
            peers_clear(board);
            return false;
        }
        g_usleep(POLL_US);
    }
}

/* Join the run and wait until --peers hosts have. */
static bool join(Check *check)
{
    g_autoptr(GError) error = NULL;
    gint64 give_up =
        g_get_monotonic_time() + (gint64)check->timeout_s * G_USEC_PER_SEC;
    guint i;

    /* Unregister first, so that the registration (and its time) is new. */
    if (register_key(check, check->board, 0, LOCK_TIMEOUT_MS) !=
            SCSI_STATUS_GOOD ||
        !post(check, STEP_JOINED, 0)) {
        report(check, false, "could not join through %s/%s", check->dir,
               BOARD_FILE);
        return false;
    }
    printf("  waiting for %u hosts to run softpr check-fs on %s...\n",
           check->n_peers, check->dir);
    fflush(stdout);
    for (;;) {
        if (!read_board(check, true, check->peers, &error)) {
            report(check, false, "%s", error->message);
            return false;
        }
        for (i = 0; i < check->peers->len; i++) {
            Peer *p = &g_array_index(check->peers, Peer, i);

            if (p->step == STEP_ABORTED) {
                report(check, false, "%s gave up (its output says why)",
                       p->host);
                return false;
            }
        }
        if (check->peers->len >= check->n_peers) {
            break;
        }
        if (g_get_monotonic_time() > give_up) {
            report(check, false,
                   "only %u of %u hosts joined within %u s (start softpr "
                   "check-fs %s on the others at the same time)",
                   check->peers->len, check->n_peers, check->timeout_s,
                   check->dir);
            return false;
        }
        g_usleep(POLL_US * 5);
    }
    if (check->peers->len > check->n_peers) {
        report(check, false, "%u hosts joined, more than --peers %u",
               check->peers->len, check->n_peers);
        return false;
    }
    g_array_sort(check->peers, peer_compare);
    printf("  hosts:");
    for (i = 0; i < check->peers->len; i++) {
        printf(" %s", g_array_index(check->peers, Peer, i).host);
    }
    printf("\n");
    return true;
}

/* The subject's PRgeneration and the key @name registered there. */
static bool read_subject(Check *check, uint32_t *generation, const char *name,
                         uint64_t *key, bool *found)
{
    g_autoptr(GError) error = NULL;
    StoreFilter filter = {.lu = CHECK_LU};
    g_autoptr(StoreDump) dump = store_dump(
        check->subject, &filter,
        g_get_monotonic_time() + (gint64)LOCK_TIMEOUT_MS * 1000, &error);
    guint i;

    *generation = 0;
    *found = false;
    if (dump == NULL) {
        report(check, false, "reading %s/%s: %s", check->dir, SUBJECT_FILE,
               error->message);
        return false;
    }
    for (i = 0; i < dump->lus->len; i++) {
        StoreLuDump *lu = g_ptr_array_index(dump->lus, i);
        guint j;

        if (strcmp(lu->name, CHECK_LU) != 0) {
            continue;
        }
        *generation = lu->generation;
        for (j = 0; name != NULL && j < lu->regs->len; j++) {
            StoreRegDump *reg = &g_array_index(lu->regs, StoreRegDump, j);

            if (strcmp(reg->initiator, name) == 0) {
                *key = reg->key;
                *found = true;
            }
        }
    }
    return true;
}

static uint32_t round_step(unsigned round, uint32_t part)
{
    return STEP_ROUND + 8 * round + part;
}

/* The holder's side of round @r. */
static bool hold_lock(Check *check, unsigned r)
{
    g_autoptr(GError) error = NULL;
    uint64_t marker = make_key(round_step(r, 0), g_random_int());
    uint32_t generation = 0;
    uint64_t key = 0;
    bool found = false;
    guint i;

    if (!store_begin(check->subject, true,
                     g_get_monotonic_time() + (gint64)LOCK_TIMEOUT_MS * 1000,
                     &error)) {
        report(check, false, "could not take the write lock of %s/%s: %s",
               check->dir, SUBJECT_FILE, error->message);
        return false;
    }
    if (!post(check, round_step(r, ROUND_HOLDING), 0) ||
        !wait_for(check, -1, round_step(r, ROUND_BLOCKED),
                  "try to take the lock")) {
        store_rollback(check->subject);
        return false;
    }
    for (i = 0; i < check->peers->len; i++) {
        Peer *p = &g_array_index(check->peers, Peer, i);

        if (strcmp(p->name, check->my_name) != 0) {
            report(check, p->value == 1,
                   "lock exclusion: %s %s the write lock while %s held it",
                   p->host, p->value == 1 ? "could not take" : "TOOK",
                   check->host_id);
        }
    }
    store_rollback(check->subject);

    /* A change the others must see. */
    if (register_key(check, check->subject, marker, LOCK_TIMEOUT_MS) !=
            SCSI_STATUS_GOOD ||
        !read_subject(check, &generation, check->my_name, &key, &found) ||
        !found || key != marker) {
        report(check, false, "could not commit a change to %s/%s", check->dir,
               SUBJECT_FILE);
        return false;
    }
    if (!post(check, round_step(r, ROUND_RELEASED), generation) ||
        !wait_for(check, -1, round_step(r, ROUND_SAW), "read the change")) {
        return false;
    }
    for (i = 0; i < check->peers->len; i++) {
        Peer *p = &g_array_index(check->peers, Peer, i);

        if (strcmp(p->name, check->my_name) != 0) {
            report(check, p->value == 1,
                   "visibility: %s %s %s's committed change and took the "
                   "lock after it",
                   p->host, p->value == 1 ? "saw" : "did NOT see",
                   check->host_id);
        }
    }
    return post(check, round_step(r, ROUND_DONE), 0);
}

/* A non-holder's side of round @r, held by peer @holder. */
static bool try_lock(Check *check, unsigned r, const Peer *holder_peer)
{
    g_autoptr(GError) error = NULL;
    int holder = peer_index(check, holder_peer->name);
    g_autofree char *holder_name = g_strdup(holder_peer->name);
    uint32_t blocked;
    uint32_t posted;
    uint32_t generation = 0;
    uint64_t key = 0;
    bool found = false;
    bool saw;

    if (!wait_for(check, holder, round_step(r, ROUND_HOLDING),
                  "take the write lock")) {
        return false;
    }
    if (store_begin(check->subject, true,
                    g_get_monotonic_time() + (gint64)TRY_LOCK_MS * 1000,
                    &error)) {
        store_rollback(check->subject);
        blocked = 0;
    } else if (g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY)) {
        blocked = 1;
    } else {
        report(check, false, "%s", error->message);
        blocked = 0;
    }
    if (!post(check, round_step(r, ROUND_BLOCKED), blocked) ||
        !wait_for(check, holder, round_step(r, ROUND_RELEASED),
                  "commit a change")) {
        return false;
    }
    posted = g_array_index(check->peers, Peer, holder).value;
    saw = read_subject(check, &generation, holder_name, &key, &found) &&
          found && (key >> 32) == round_step(r, 0) && generation == posted;
    g_clear_error(&error);
    if (saw &&
        !store_begin(check->subject, true,
                     g_get_monotonic_time() + (gint64)LOCK_TIMEOUT_MS * 1000,
                     &error)) {
        saw = false;
    } else if (saw) {
        store_rollback(check->subject);
    }
    return post(check, round_step(r, ROUND_SAW), saw) &&
           wait_for(check, holder, round_step(r, ROUND_DONE),
                    "finish its turn");
}

/* Every host sends --writes commands at once; nothing may be lost. */
static bool storm(Check *check)
{
    g_autoptr(GError) error = NULL;
    uint32_t before = 0;
    uint32_t after = 0;
    uint32_t good = 0;
    uint32_t busy = 0;
    uint64_t total = 0;
    uint64_t key = 0;
    bool found = false;
    unsigned i;

    if (!read_subject(check, &before, NULL, &key, &found) ||
        !post(check, STEP_STORM_READY, before) ||
        !wait_for(check, -1, STEP_STORM_READY, "get ready to write")) {
        return false;
    }
    for (i = 0; i < check->writes; i++) {
        uint8_t status =
            register_key(check, check->subject,
                         make_key(STEP_STORM_READY, i + 1), LOCK_TIMEOUT_MS);

        if (status == SCSI_STATUS_GOOD) {
            good++;
        } else if (status == SCSI_STATUS_BUSY) {
            busy++;
        } else {
            report(check, false, "write storm: a command answered %s",
                   scsi_status_name(status));
            return false;
        }
    }
    if (!post(check, STEP_STORM_DONE, good) ||
        !wait_for(check, -1, STEP_STORM_DONE, "finish writing")) {
        return false;
    }
    total = good;
    for (i = 0; i < check->peers->len; i++) {
        Peer *p = &g_array_index(check->peers, Peer, i);

        if (strcmp(p->name, check->my_name) != 0) {
            total += p->value;
        }
    }
    if (!read_subject(check, &after, NULL, &key, &found)) {
        return false;
    }
    report(check, (uint32_t)(after - before) == (uint32_t)total,
           "write storm: %u hosts, %" G_GUINT64_FORMAT
           " commands answered GOOD (%u BUSY here), PRgeneration rose by %u",
           check->peers->len, total, busy, (uint32_t)(after - before));
    if (!store_check_integrity(
            check->subject,
            g_get_monotonic_time() + (gint64)LOCK_TIMEOUT_MS * 1000, &error)) {
        report(check, false, "%s", error->message);
    } else {
        report(check, true, "integrity: sqlite finds %s/%s intact", check->dir,
               SUBJECT_FILE);
    }
    check->good = good;
    return post(check, STEP_FINISHED, good);
}

/* The filesystem holding the directory, and whether softprd accepts it. */
static bool check_mount(Check *check)
{
    g_autoptr(GError) error = NULL;
    FsInfo fs;
    bool ok;

    if (!fscheck_inspect(check->dir, &fs, &error)) {
        report(check, false, "%s", error->message);
        return false;
    }
    printf("  %s is on %s (%s at %s), %s\n", check->dir, fs.fstype, fs.source,
           fs.mount_point,
           fs.shared ? "a filesystem hosts share"
                     : "a local filesystem: only processes of this host "
                       "can share it");
    ok = fscheck_verdict(&fs, STORE_JOURNAL_DELETE, &error);
    report(check, ok, "mount: %s",
           ok ? "softprd accepts its locking options" : error->message);
    check->nfs_identity = fscheck_nfs_identity(&fs);
    fscheck_info_clear(&fs);
    return ok;
}

/*
 * Read the identity files of this run (written since --timeout before
 * this host started) into @hosts and @identities: this host's own, and
 * the newest of each other host (one left by an earlier run that failed,
 * perhaps before its hostname was fixed, is the same host).
 */
static void read_identities(Check *check, GPtrArray *hosts,
                            GPtrArray *identities)
{
    g_autoptr(GDir) dir = g_dir_open(check->dir, 0, NULL);
    g_autoptr(GArray) mtimes = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_autofree char *me = table_escape(check->host_id);
    const char *name;

    g_ptr_array_set_size(hosts, 0);
    g_ptr_array_set_size(identities, 0);
    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = NULL;
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autofree char *host = NULL;
        GStatBuf st;
        guint i;

        if (!g_str_has_prefix(name, IDENTITY_PREFIX)) {
            continue;
        }
        path = g_build_filename(check->dir, name, NULL);
        if (g_stat(path, &st) != 0 ||
            st.st_mtime < check->started_s - (gint64)check->timeout_s ||
            !g_file_get_contents(path, &text, NULL, NULL)) {
            continue;
        }
        lines = g_strsplit(text, "\n", 3);
        if (g_strv_length(lines) < 2 || lines[1][0] == '\0') {
            continue; /* being written: its rename has not landed */
        }
        /* Only ever printed; another host chose it. */
        host = table_escape(lines[0]);
        if (strcmp(host, me) == 0 && strcmp(path, check->identity_file) != 0) {
            continue;
        }
        if (g_ptr_array_find_with_equal_func(hosts, host, g_str_equal, &i)) {
            if (st.st_mtime > g_array_index(mtimes, gint64, i)) {
                g_free(identities->pdata[i]);
                identities->pdata[i] = g_strdup(lines[1]);
                g_array_index(mtimes, gint64, i) = st.st_mtime;
            }
            continue;
        }
        g_ptr_array_add(hosts, g_steal_pointer(&host));
        g_ptr_array_add(identities, g_strdup(lines[1]));
        g_array_append_val(mtimes, (gint64){st.st_mtime});
    }
}

/*
 * On NFSv4: post this host's client identity, wait until --peers hosts
 * have, and fail when two present the same one.
 */
static bool check_identity(Check *check)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) identities = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *name = NULL;
    g_autofree char *text = NULL;
    gint64 give_up =
        g_get_monotonic_time() + (gint64)check->timeout_s * G_USEC_PER_SEC;
    bool ok;

    if (check->nfs_identity == NULL) {
        return true;
    }
    printf("  NFSv4 client identity of this host: \"%s\"\n",
           check->nfs_identity);
    name = g_strdup_printf(IDENTITY_PREFIX "%08x%08x", g_random_int(),
                           g_random_int());
    check->identity_file = g_build_filename(check->dir, name, NULL);
    text = g_strdup_printf("%s\n%s\n", check->host_id, check->nfs_identity);
    if (!g_file_set_contents(check->identity_file, text, -1, &error)) {
        report(check, false, "could not post the NFS client identity: %s",
               error->message);
        return false;
    }
    for (;;) {
        read_identities(check, hosts, identities);
        if (hosts->len >= check->n_peers) {
            break;
        }
        if (g_get_monotonic_time() > give_up) {
            report(check, false,
                   "only %u of %u hosts posted their NFS client identity in "
                   "%s within %u s (start softpr check-fs %s on the others "
                   "at the same time)",
                   hosts->len, check->n_peers, check->dir, check->timeout_s,
                   check->dir);
            return false;
        }
        g_usleep(POLL_US * 5);
    }
    ok = fscheck_nfs_identities_distinct(
        (const char *const *)hosts->pdata,
        (const char *const *)identities->pdata, hosts->len, &error);
    report(check, ok, "NFS client identity: %s",
           ok ? "each host presents its own to the server" : error->message);
    if (!ok) {
        printf("  %s/" IDENTITY_PREFIX "* stay for the others (remove them "
               "when no check runs)\n",
               check->dir);
    }
    return ok;
}

static Store *open_scratch(Check *check, const char *file, const char *vfs,
                           GError **error)
{
    g_autofree char *path = g_build_filename(check->dir, file, NULL);
    StoreOptions options = {
        .path = path,
        .journal = STORE_JOURNAL_DELETE,
        .lock_timeout_ms = LOCK_TIMEOUT_MS,
        .open_timeout_ms = check->timeout_s * 1000,
        .host_id = check->host_id,
        .vfs = vfs,
        .create = true,
        .history_keep_rows = 0,
    };

    return store_open(&options, error);
}

/*
 * After a run every host finished: the others say they are done with
 * the scratch files, and the first host (by name) waits for that, at
 * most --timeout, and removes them.
 */
static void leave(Check *check)
{
    g_autoptr(GArray) board = g_array_new(FALSE, TRUE, sizeof(Peer));
    gint64 give_up =
        g_get_monotonic_time() + (gint64)check->timeout_s * G_USEC_PER_SEC;
    const char *const files[] = {SUBJECT_FILE, BOARD_FILE};
    size_t i;

    if (peer_index(check, check->my_name) != 0) {
        post(check, STEP_LEFT, check->good);
        return;
    }
    for (;;) {
        g_autoptr(GError) error = NULL;
        unsigned left = 0;
        guint j;

        if (read_board(check, false, board, &error)) {
            for (j = 0; j < board->len; j++) {
                const Peer *b = &g_array_index(board, Peer, j);

                left += peer_index(check, b->name) > 0 && b->step >= STEP_LEFT;
            }
            peers_clear(board);
        }
        if (left + 1 >= check->peers->len) {
            break;
        }
        if (g_get_monotonic_time() > give_up) {
            printf("  another host is still running; %s/.softpr-check-fs*.db "
                   "stay (remove them when no check runs)\n",
                   check->dir);
            return;
        }
        if (check->failures > 0) {
            printf("  %s/.softpr-check-fs*.db stay for a look (remove them "
                   "when no check runs)\n",
                   check->dir);
            return;
        }
        g_usleep(POLL_US);
    }
    g_clear_pointer(&check->subject, store_close);
    g_clear_pointer(&check->board, store_close);
    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_build_filename(check->dir, files[i], NULL);
        g_autofree char *journal = g_strconcat(path, "-journal", NULL);

        if (g_unlink(path) != 0 && errno != ENOENT) {
            printf("  could not remove %s: %s\n", path, g_strerror(errno));
        }
        g_unlink(journal);
    }
    printf("  removed the scratch files %s/.softpr-check-fs*.db\n", check->dir);
}

/* Tell the others not to wait for this host; returns false. */
static bool abort_run(Check *check)
{
    /* Registered anew, so that its time says it belongs to this run. */
    register_key(check, check->board, 0, LOCK_TIMEOUT_MS);
    register_key(check, check->board, make_key(STEP_ABORTED, 0),
                 LOCK_TIMEOUT_MS);
    return false;
}

static bool run(Check *check)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *name = identity_host_initiator_name(check->host_id);
    unsigned r;

    check->my_name = g_steal_pointer(&name);
    if (!tid_from_iscsi_name(check->my_name, &check->me, &error)) {
        report(check, false, "--host-id: %s", error->message);
        return false;
    }
    if (!check_mount(check) || !check_identity(check)) {
        return false;
    }
    check->board = open_scratch(check, BOARD_FILE, NULL, &error);
    if (check->board == NULL) {
        report(check, false,
               "%s (when no check runs, removing %s/.softpr-check-fs*.db "
               "starts afresh)",
               error->message, check->dir);
        return false;
    }
    check->subject = open_scratch(check, SUBJECT_FILE, check->vfs, &error);
    if (check->subject == NULL) {
        report(check, false,
               "%s (when no check runs, removing %s/.softpr-check-fs*.db "
               "starts afresh)",
               error->message, check->dir);
        return abort_run(check);
    }
    if (!join(check)) {
        return abort_run(check);
    }
    for (r = 0; r < check->peers->len; r++) {
        Peer holder = g_array_index(check->peers, Peer, r);

        if (strcmp(holder.name, check->my_name) == 0
                ? !hold_lock(check, r)
                : !try_lock(check, r, &holder)) {
            return abort_run(check);
        }
    }
    if (!storm(check)) {
        return abort_run(check);
    }
    leave(check);
    /* Every host read it before it joined. */
    if (check->identity_file != NULL) {
        g_unlink(check->identity_file);
    }
    return true;
}

/* Run the check on @dir with the options given; the exit status. */
static int check_fs_run(const char *dir, const char *host_id,
                        unsigned n_peers, unsigned timeout_s,
                        unsigned writes, const char *vfs)
{
    Check check = {0};
    int status = TOOL_EXIT_FAILURE;

    check.dir = realpath(dir, NULL);
    check.host_id = g_strdup(host_id != NULL ? host_id : g_get_host_name());
    check.n_peers = n_peers;
    check.timeout_s = timeout_s;
    check.writes = writes;
    check.vfs = vfs;
    check.port = 1;
    check.pr.ports = &check.port;
    check.pr.n_ports = 1;
    check.pr.max_registrations = PR_MAX_REGISTRATIONS_DEFAULT;
    check.pr.ua_policy = PR_UA_RECORD;
    check.started_s = g_get_real_time() / G_USEC_PER_SEC;
    check.peers = g_array_new(FALSE, TRUE, sizeof(Peer));

    printf("softpr check-fs %s as %s\n", check.dir, check.host_id);
    fflush(stdout);
    if (run(&check) && check.failures == 0) {
        printf("PASS\n");
        status = TOOL_EXIT_OK;
    } else {
        printf("FAIL\n");
    }
    peers_clear(check.peers);
    g_array_unref(check.peers);
    store_close(check.subject);
    store_close(check.board);
    g_free(check.my_name);
    g_free(check.host_id);
    g_free(check.nfs_identity);
    g_free(check.identity_file);
    free(check.dir);
    return status;
}

int check_fs_main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("DIR");
    char *host_id = NULL;
    int peers = 2;
    int timeout_s = 120;
    int writes = 100;
    char *vfs = NULL;
    int status = TOOL_EXIT_FAILURE;
    const GOptionEntry entries[] = {
        {"host-id", 0, 0, G_OPTION_ARG_STRING, &host_id,
         "This host's name (default: the host name); unique per host", "NAME"},
        {"peers", 0, 0, G_OPTION_ARG_INT, &peers,
         "How many hosts take part (default 2)", "N"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
         "Give up when another host is silent this long (default 120)",
         "SECONDS"},
        {"writes", 0, 0, G_OPTION_ARG_INT, &writes,
         "Commands each host sends in the write storm (default 100)", "N"},
        /* For the tests: a VFS without locks shows what failure looks
         * like. */
        {"vfs", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &vfs,
         "sqlite VFS for the tested database", "NAME"},
        {NULL},
    };

    g_option_context_set_summary(
        context,
        "Test that DIR, on a filesystem several hosts mount, can hold "
        "softprd's database.\nRun it at the same time on each host (as "
        "many as --peers) against the same\ndirectory.  It checks the mount "
        "options, that each host's write lock keeps every\nother host out, "
        "that committed changes are seen everywhere, and that a burst\nof "
        "concurrent writes loses nothing.  It works on its own files in "
        "DIR (" SUBJECT_FILE ",\n" BOARD_FILE "), never on the real "
        "database, and removes them after a PASS.\nExit status 0: PASS, 1: "
        "FAIL.");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!tool_parse_options(context, &argc, &argv)) {
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (argc != 2) {
        tool_error("check-fs: name the shared directory to test");
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (peers < 1 || peers > 64 || timeout_s < 1 || writes < 1 ||
        writes > 1000000) {
        tool_error("check-fs: --peers is 1 to 64, --timeout and --writes "
                   "positive");
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (!g_file_test(argv[1], G_FILE_TEST_IS_DIR)) {
        tool_error("check-fs: %s is not a directory", argv[1]);
        goto out;
    }
    status = check_fs_run(argv[1], host_id, (unsigned)peers,
                          (unsigned)timeout_s, (unsigned)writes, vfs);
out:
    g_free(host_id);
    g_free(vfs);
    return status;
}
