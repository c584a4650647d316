/*
 * dispatch: a peer's PR command to its answer: the initiator, the LU,
 * passthrough or database, a pooled read or the writer's group commit.
 * No sockets (the server's), no SQL (the store's).
 */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "error.h"
#include "log.h"
#include "passthrough.h"
#include "scsi.h"
#include "tid.h"
#include "writer.h"

/* At most this many places are remembered as checked (then forgotten). */
#define PLACES_CHECKED_MAX 4096

struct Dispatch {
    GAsyncQueue *stores; /* idle database connections, for PR IN */
    Writer *writer;      /* every command that writes */
    StoreGroup *group;   /* theirs and the writer's */
    StoreOptions store_options;
    char *db_path;
    char *host_id;
    char *vfs;
    char *sysfs;
    LuMapping *lu_maps;
    IdentityOptions lu;
    TransportId host_initiator; /* non-QEMU peers of "auto" sockets */
    uint16_t *ports;
    PrConfig pr;
    unsigned lock_timeout_ms;
    LuMode mode;
    unsigned passthrough_timeout_ms;
    /* "LU\npath" of the xattr-named LUs already checked for copies. */
    GHashTable *places_checked;
    GMutex places_lock;
    GMutex log_lock; /* last_fd_log, last_db_log */
    gint64 last_fd_log;
    gint64 last_db_log;
};

/* A command waiting for its group's commit, with all it needs. */
typedef struct WriteJob {
    WriterItem item; /* first: writer callbacks get &item */
    LuIdentity lu;
    StoreLuInfo info; /* points into lu */
    CommandRequest request;
    DispatchDone done;
    gpointer user_data;
} WriteJob;

/* ------------------------------------------------------------------ */
/* Database connections                                                */
/* ------------------------------------------------------------------ */

/* An idle connection, or a new one opened before @deadline. */
static Store *store_acquire(Dispatch *dispatch, gint64 deadline, GError **error)
{
    Store *store = g_async_queue_try_pop(dispatch->stores);

    if (store != NULL) {
        return store;
    }
    /* At most one per thread running commands ever exists. */
    return store_open_until(&dispatch->store_options, deadline, error);
}

static void store_release(Dispatch *dispatch, Store *store)
{
    g_async_queue_push(dispatch->stores, store);
}

/* Whether a message logged at most once a second (*@last) is due; any
 * thread. */
static bool rate_limit_due(Dispatch *dispatch, gint64 *last)
{
    gint64 now = g_get_monotonic_time();
    bool due;

    g_mutex_lock(&dispatch->log_lock);
    due = now - *last >= G_USEC_PER_SEC;
    if (due) {
        *last = now;
    }
    g_mutex_unlock(&dispatch->log_lock);
    return due;
}

/* ------------------------------------------------------------------ */
/* Which database, which initiator                                     */
/* ------------------------------------------------------------------ */

/* Whether @lu at its path is seen for the first time (then remembered). */
static bool place_first_seen(Dispatch *dispatch, const char *key)
{
    bool known;

    g_mutex_lock(&dispatch->places_lock);
    known = g_hash_table_contains(dispatch->places_checked, key);
    if (!known) {
        if (g_hash_table_size(dispatch->places_checked) >= PLACES_CHECKED_MAX) {
            g_hash_table_remove_all(dispatch->places_checked);
        }
        g_hash_table_add(dispatch->places_checked, g_strdup(key));
    }
    g_mutex_unlock(&dispatch->places_lock);
    return !known;
}

/* The paths this host has seen @lu at; NULL (and the place forgotten,
 * to be checked again) when the database could not say. */
static char **places_of(Dispatch *dispatch, const LuIdentity *lu,
                        const char *key, gint64 deadline)
{
    g_autoptr(GError) error = NULL;
    char **paths = NULL;
    Store *store = store_acquire(dispatch, deadline, &error);

    if (store == NULL ||
        !store_lu_paths_here(store, lu->name, deadline, &paths, &error)) {
        g_debug("LU %s: not checked for copies: %s", lu->name, error->message);
        g_mutex_lock(&dispatch->places_lock);
        g_hash_table_remove(dispatch->places_checked, key);
        g_mutex_unlock(&dispatch->places_lock);
    }
    if (store != NULL) {
        store_release(dispatch, store);
    }
    return paths;
}

/*
 * The first time this daemon sees the LU @lu, named by its attribute,
 * at its path: warn when another path this host has seen it at holds a
 * different file with the same attribute (cp -a copies it), because
 * softprd takes both for one LU.  The check costs a read transaction
 * once per LU and path; failing it fails nothing.
 */
static void check_copies(Dispatch *dispatch, int fd, const LuIdentity *lu,
                         gint64 deadline)
{
    g_autofree char *key = NULL;
    g_auto(GStrv) paths = NULL;
    g_autoptr(GHashTable) warned =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;

    if (strcmp(lu->source, IDENTITY_SOURCE_XATTR) != 0) {
        return;
    }
    key = g_strconcat(lu->name, "\n", lu->path, NULL);
    if (!place_first_seen(dispatch, key)) {
        return;
    }
    paths = places_of(dispatch, lu, key, deadline);
    for (i = 0; paths != NULL && paths[i] != NULL; i++) {
        struct stat st;
        char *file;

        if (strcmp(paths[i], lu->path) == 0 ||
            !identity_is_labelled_copy(fd, paths[i], lu->name) ||
            stat(paths[i], &st) != 0) {
            continue;
        }
        /* Another path of a file already named (a hard link): once. */
        file = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev,
                               (uintmax_t)st.st_ino);
        if (!g_hash_table_add(warned, file)) {
            continue;
        }
        g_warning("LU %s: %s and %s are different files with the same %s "
                  "attribute (a copy made with cp -a or rsync -X?): softprd "
                  "takes them for one logical unit, with the same "
                  "registrations.  If one is a disk of its own, remove its "
                  "attribute before a VM uses it (setfattr -x %s FILE): it "
                  "then gets one of its own",
                  lu->name, lu->path, paths[i], IDENTITY_XATTR, IDENTITY_XATTR);
    }
}

/*
 * Before a command for @lu (open at @fd) uses the database: whether
 * there is one at its path (else @result is set, and the log says so).
 * When another file has taken its place, the connections reopen it
 * (store_group_check()) and @peer's VM looks its name up again in the
 * registry now there.  A place @lu is seen at first is checked for
 * copies.
 */
static bool database_ready(Dispatch *dispatch, DispatchPeer *peer, int fd,
                           const LuIdentity *lu, gint64 deadline,
                           PrResult *result)
{
    g_autoptr(GError) error = NULL;
    guint generation;

    if (!store_group_check(dispatch->group, &generation, &error)) {
        if (rate_limit_due(dispatch, &dispatch->last_db_log)) {
            g_warning("%s", error->message);
        }
        pr_result_sense(result, SENSE_INTERNAL_TARGET_FAILURE);
        return false;
    }
    if (peer->vm_key != NULL && peer->nexus_file != generation) {
        peer->nexus_ready = false;
        peer->nexus_file = generation;
    }
    check_copies(dispatch, fd, lu, deadline);
    return true;
}

/*
 * The nexus of a peer that is a VM: its registry name, looked up (or
 * given) on its first command, and again when the database is replaced.
 * Returns false with @result set when the database could not answer.
 */
static bool resolve_vm_nexus(Dispatch *dispatch, DispatchPeer *peer,
                             gint64 deadline, PrResult *result)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *preferred = identity_vm_initiator_name(&peer->info);
    g_autofree char *name = NULL;
    StoreVm vm = {.key = peer->vm_key,
                  .preferred_name = preferred,
                  .vm_name = peer->info.vm_name,
                  .vm_uuid = peer->info.vm_uuid};
    Store *store = store_acquire(dispatch, deadline, &error);
    uint16_t rtpi = peer->nexus.rtpi;
    bool ok;

    if (store == NULL) {
        command_store_failure(result, error, peer->vm_key);
        return false;
    }
    ok = store_vm_initiator(store, &vm, deadline, &name, &error);
    store_release(dispatch, store);
    if (!ok) {
        command_store_failure(result, error, peer->vm_key);
        return false;
    }
    memset(&peer->nexus, 0, sizeof(peer->nexus));
    peer->nexus.rtpi = rtpi;
    if (!tid_from_iscsi_name(name, &peer->nexus.initiator, &error)) {
        command_store_failure(result, error, peer->vm_key);
        return false;
    }
    peer->nexus_ready = true;
    g_info("connection %" G_GUINT64_FORMAT " (pid %d): VM %s is initiator "
           "%s",
           peer->id, (int)peer->pid, peer->vm_key, name);
    return true;
}

/* ------------------------------------------------------------------ */
/* Running a command                                                   */
/* ------------------------------------------------------------------ */

/* The writer answered @item: pass the answer on. */
static void write_done(WriterItem *item)
{
    WriteJob *write = (WriteJob *)item;

    identity_lu_clear(&write->lu);
    write->done(item->command.result, write->user_data);
    g_free(write);
}

/*
 * Hand @request from @peer to the writer, to share a commit with its
 * neighbours: it takes @lu's strings and answers in @result.
 */
static void write_submit(Dispatch *dispatch, DispatchPeer *peer, LuIdentity *lu,
                         const CommandRequest *request, PrResult *result,
                         DispatchDone done, gpointer user_data)
{
    WriteJob *write = g_new0(WriteJob, 1);

    write->lu = *lu;
    memset(lu, 0, sizeof(*lu));
    write->info.name = write->lu.name;
    write->info.id_source = write->lu.source;
    write->info.path = write->lu.path;
    write->request = *request;
    write->done = done;
    write->user_data = user_data;
    write->item.command.nexus = &peer->nexus;
    write->item.command.lu = &write->info;
    write->item.command.request = &write->request;
    write->item.command.result = result;
    write->item.done = write_done;
    writer_submit(dispatch->writer, &write->item);
}

/* A request whose descriptor could not be received: BUSY, to retry. */
static void answer_no_fd(Dispatch *dispatch, const DispatchPeer *peer,
                         PrResult *result)
{
    if (rate_limit_due(dispatch, &dispatch->last_fd_log)) {
        g_warning("connection %" G_GUINT64_FORMAT " (pid %d): out of "
                  "file descriptors: a request's disk descriptor could "
                  "not be received; answering BUSY",
                  peer->id, (int)peer->pid);
    }
    pr_result_status(result, SCSI_STATUS_BUSY);
}

/* The LU behind @fd; false with @result set when it is none. */
static bool lu_of(Dispatch *dispatch, const DispatchPeer *peer, int fd,
                  const CommandRequest *request, bool is_out, LuIdentity *lu,
                  PrResult *result)
{
    g_autoptr(GError) error = NULL;

    /* Only what may change the file labels it: never a PR IN, nor a PR
     * OUT through a descriptor its client could only read. */
    if (!identity_lu(fd, &dispatch->lu,
                     is_out && !request->fd_read_only &&
                         dispatch->mode != LU_MODE_PASSTHROUGH,
                     lu, &error)) {
        g_warning("connection %" G_GUINT64_FORMAT ": %s", peer->id,
                  error->message);
        pr_result_sense(result, SENSE_LU_NOT_SUPPORTED);
        return false;
    }
    return true;
}

/*
 * Answer a PR IN from the database with a pooled connection.  Returns
 * false when it must write after all (command_execute_read()).
 */
static bool read_answer(Dispatch *dispatch, const DispatchPeer *peer,
                        const LuIdentity *lu, const CommandRequest *request,
                        PrResult *result)
{
    g_autoptr(GError) error = NULL;
    StoreLuInfo info = {
        .name = lu->name, .id_source = lu->source, .path = lu->path};
    Store *store = store_acquire(dispatch, request->deadline, &error);
    bool answered;

    if (store == NULL) {
        /* BUSY when another process holds the lock, as for any command. */
        command_store_failure(result, error, lu->name);
        return true;
    }
    answered = command_execute_read(store, &dispatch->pr, &peer->nexus, &info,
                                    request, result);
    /* Released first: the client's next command may need it at once. */
    store_release(dispatch, store);
    return answered;
}

/*
 * Answer @request for @lu without the writer when it can: the device's
 * answer, a failure, or a PR IN that only reads.  Returns false when it
 * must go to the writer.
 */
static bool answer_here(Dispatch *dispatch, DispatchPeer *peer, int fd,
                        const LuIdentity *lu, const CommandRequest *request,
                        bool is_out, PrResult *result)
{
    LuMode mode = lu->mode != LU_MODE_DEFAULT ? lu->mode : dispatch->mode;

    if (mode == LU_MODE_PASSTHROUGH) {
        /* The device keeps the reservations; the database is not used. */
        passthrough_execute(fd, request, dispatch->passthrough_timeout_ms,
                            result);
        g_debug("connection %" G_GUINT64_FORMAT ": LU %s: passed through, "
                "status 0x%02x",
                peer->id, lu->name, result->status);
        return true;
    }
    if (!database_ready(dispatch, peer, fd, lu, request->deadline, result)) {
        return true; /* there is no database to use */
    }
    if (!peer->nexus_ready &&
        !resolve_vm_nexus(dispatch, peer, request->deadline, result)) {
        return true; /* the store's failure */
    }
    if (is_out) {
        return false;
    }
    return read_answer(dispatch, peer, lu, request, result);
}

void dispatch_run(Dispatch *dispatch, const DispatchRequest *request,
                  DispatchDone done, gpointer user_data)
{
    PrResult *result = g_new(PrResult, 1);
    LuIdentity lu = {0};
    CommandRequest command = {
        .cdb = request->cdb,
        .data = request->data,
        .data_len = request->data_len,
        .deadline = request->received_at +
                    (gint64)dispatch->lock_timeout_ms * G_TIME_SPAN_MILLISECOND,
    };
    bool is_out = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT;
    bool write = false;

    if (request->fd < 0) {
        answer_no_fd(dispatch, request->peer, result);
        done(result, user_data);
        return;
    }
    /* Only a PR OUT asks (command_refuse_read_only): no fcntl per PR IN. */
    command.fd_read_only = is_out && identity_fd_read_only(request->fd);
    if (lu_of(dispatch, request->peer, request->fd, &command, is_out, &lu,
              result)) {
        write = !answer_here(dispatch, request->peer, request->fd, &lu,
                             &command, is_out, result);
    }
    /* The descriptor is the client's: close our copy only. */
    close(request->fd);
    if (write) {
        write_submit(dispatch, request->peer, &lu, &command, result, done,
                     user_data);
        return;
    }
    identity_lu_clear(&lu);
    done(result, user_data);
}

/* ------------------------------------------------------------------ */
/* Peers                                                               */
/* ------------------------------------------------------------------ */

/*
 * Whether @peer, which calls itself QEMU, runs one of @peers'
 * qemu-binaries (when they are set); else it is not taken for a VM and
 * acts as this host.
 */
static bool peer_runs_qemu(DispatchPeer *peer, const PeerPolicy *peers)
{
    g_autofree char *exe = NULL;

    if (!peer->info.is_qemu ||
        identity_peer_binary_allowed(peers, peer->pid, &exe)) {
        return true;
    }
    g_warning("connection %" G_GUINT64_FORMAT ": pid %d calls itself QEMU "
              "but runs %s, not one of qemu-binaries: it acts as this host",
              peer->id, (int)peer->pid, exe);
    peer->info.is_qemu = false;
    return false;
}

void dispatch_peer_init(Dispatch *dispatch, DispatchPeer *peer, guint64 id,
                        pid_t pid, IdentityPolicy identity,
                        const TransportId *fixed, uint16_t rtpi,
                        const PeerPolicy *peers)
{
    memset(peer, 0, sizeof(*peer));
    peer->id = id;
    peer->pid = pid;
    peer->nexus.rtpi = rtpi;
    switch (identity) {
    case IDENTITY_FIXED:
        peer->nexus.initiator = *fixed;
        peer->nexus_ready = true;
        break;
    case IDENTITY_CLIENT:
        break;
    case IDENTITY_AUTO:
        if (identity_peer_from_pid(pid, &peer->info) &&
            peer_runs_qemu(peer, peers)) {
            peer->vm_key = identity_vm_key(&peer->info);
        }
        if (peer->vm_key == NULL) {
            peer->nexus.initiator = dispatch->host_initiator;
            peer->nexus_ready = true;
        }
        break;
    }
}

void dispatch_peer_declare(DispatchPeer *peer, const TransportId *tid)
{
    uint16_t rtpi = peer->nexus.rtpi;

    memset(&peer->nexus, 0, sizeof(peer->nexus));
    peer->nexus.initiator = *tid;
    peer->nexus.rtpi = rtpi;
    peer->nexus_ready = true;
}

void dispatch_peer_clear(DispatchPeer *peer)
{
    identity_peer_clear(&peer->info);
    g_clear_pointer(&peer->vm_key, g_free);
}

/* ------------------------------------------------------------------ */
/* The dispatcher                                                      */
/* ------------------------------------------------------------------ */

/* Keep copies of what @options points to. */
static void copy_options(Dispatch *dispatch, const DispatchOptions *options)
{
    size_t i;

    dispatch->db_path = g_strdup(options->store.path);
    dispatch->host_id = g_strdup(options->store.host_id);
    dispatch->vfs = g_strdup(options->store.vfs);
    dispatch->store_options = options->store;
    dispatch->store_options.path = dispatch->db_path;
    dispatch->store_options.host_id = dispatch->host_id;
    dispatch->store_options.vfs = dispatch->vfs;
    dispatch->store_options.create = false;
    dispatch->sysfs =
        g_strdup(options->lu.sysfs != NULL ? options->lu.sysfs : "/sys");
    dispatch->lu_maps = g_new0(LuMapping, options->lu.n_maps + 1);
    for (i = 0; i < options->lu.n_maps; i++) {
        dispatch->lu_maps[i].name = g_strdup(options->lu.maps[i].name);
        dispatch->lu_maps[i].path = g_strdup(options->lu.maps[i].path);
        dispatch->lu_maps[i].mode = options->lu.maps[i].mode;
    }
    dispatch->lu.sysfs = dispatch->sysfs;
    dispatch->lu.create_xattr = options->lu.create_xattr;
    dispatch->lu.maps = dispatch->lu_maps;
    dispatch->lu.n_maps = options->lu.n_maps;
    dispatch->ports = g_new(uint16_t, options->pr.n_ports);
    for (i = 0; i < options->pr.n_ports; i++) {
        dispatch->ports[i] = options->pr.ports[i];
    }
    dispatch->pr = options->pr;
    dispatch->pr.ports = dispatch->ports;
    dispatch->lock_timeout_ms = options->lock_timeout_ms;
    dispatch->mode =
        options->mode == LU_MODE_DEFAULT ? LU_MODE_EMULATION : options->mode;
    dispatch->passthrough_timeout_ms = options->passthrough_timeout_ms != 0
                                           ? options->passthrough_timeout_ms
                                           : PASSTHROUGH_TIMEOUT_MS_DEFAULT;
}

Dispatch *dispatch_new(const DispatchOptions *options, GError **error)
{
    Dispatch *dispatch = g_new0(Dispatch, 1);
    g_autofree char *host = identity_host_initiator_name(
        options->store.host_id != NULL ? options->store.host_id
                                       : g_get_host_name());

    g_mutex_init(&dispatch->log_lock);
    g_mutex_init(&dispatch->places_lock);
    dispatch->places_checked =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    dispatch->stores = g_async_queue_new();
    copy_options(dispatch, options);
    dispatch->group = store_group_new(dispatch->db_path);
    dispatch->store_options.group = dispatch->group;
    dispatch->writer = writer_new(&dispatch->store_options, &dispatch->pr);
    if (!tid_from_iscsi_name(host, &dispatch->host_initiator, error)) {
        dispatch_free(dispatch);
        return NULL;
    }
    return dispatch;
}

void dispatch_free(Dispatch *dispatch)
{
    Store *store;
    size_t i;

    if (dispatch == NULL) {
        return;
    }
    while ((store = g_async_queue_try_pop(dispatch->stores)) != NULL) {
        store_close(store);
    }
    g_async_queue_unref(dispatch->stores);
    writer_free(dispatch->writer);
    store_group_free(dispatch->group);
    g_mutex_clear(&dispatch->log_lock);
    g_mutex_clear(&dispatch->places_lock);
    g_hash_table_destroy(dispatch->places_checked);
    g_free(dispatch->db_path);
    g_free(dispatch->host_id);
    g_free(dispatch->vfs);
    g_free(dispatch->sysfs);
    for (i = 0; i < dispatch->lu.n_maps; i++) {
        g_free(dispatch->lu_maps[i].name);
        g_free(dispatch->lu_maps[i].path);
    }
    g_free(dispatch->lu_maps);
    g_free(dispatch->ports);
    g_free(dispatch);
}
