/*
 * server: the server's life: creating it (its dispatcher, its epoll
 * sets, its pool and workers), adding listeners, running the main loop,
 * stopping and freeing.  The parts are in server_*.c (server_int.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "error.h"
#include "server_int.h"

/* The dispatcher, with what @options say about commands. */
static bool server_dispatch_new(Server *server, const ServerOptions *options,
                                GError **error)
{
    DispatchOptions d = {.store = options->store,
                         .pr = options->pr,
                         .lu = options->lu,
                         .mode = options->mode,
                         .lock_timeout_ms = options->lock_timeout_ms,
                         .passthrough_timeout_ms =
                             options->passthrough_timeout_ms};

    server->dispatch = dispatch_new(&d, error);
    return server->dispatch != NULL;
}

Server *server_new(const ServerOptions *options, GError **error)
{
    Server *server = g_new0(Server, 1);

    /* What server_free() expects of a half-made server. */
    server->epoll_fd = -1;
    server->work_epoll_fd = -1;
    server->stop_fd = -1;
    server->overflow_fd = -1;
    server->workers = g_ptr_array_new();
    g_mutex_init(&server->conn_lock);
    server->listeners = g_ptr_array_new();
    server->conns = g_hash_table_new(NULL, NULL);
    server->peer_conns = g_hash_table_new(NULL, NULL);
    server->context = g_main_context_ref_thread_default();
    server->loop = g_main_loop_new(server->context, FALSE);
    if (!server_dispatch_new(server, options, error)) {
        server_free(server);
        return NULL;
    }
    server->max_connections = options->max_connections;
    server->max_connections_per_peer = options->max_connections_per_peer;
    server->request_timeout_ms = options->request_timeout_ms;
    server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (server->epoll_fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "epoll_create1: %s", g_strerror(errno));
        server_free(server);
        return NULL;
    }
    server->epoll_source = g_unix_fd_source_new(server->epoll_fd, G_IO_IN);
    g_source_set_callback(server->epoll_source,
                          G_SOURCE_FUNC(server_epoll_ready), NULL, NULL);
    g_source_attach(server->epoll_source, server->context);
    server->overflow_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (server->overflow_fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "eventfd: %s",
                    g_strerror(errno));
        server_free(server);
        return NULL;
    }
    server->overflow_wake = g_unix_fd_source_new(server->overflow_fd, G_IO_IN);
    g_source_set_callback(server->overflow_wake,
                          G_SOURCE_FUNC(server_overflow_wake), server, NULL);
    g_source_attach(server->overflow_wake, server->context);
    server->pool = g_thread_pool_new(server_job_run, server,
                                     (int)options->workers, FALSE, error);
    if (server->pool == NULL ||
        !server_workers_start(server, options->workers, error)) {
        server_free(server);
        return NULL;
    }
    return server;
}

void server_add_listener(Server *server, int fd, const ListenerConfig *config,
                         const char *unlink_path)
{
    Listener *listener = g_new0(Listener, 1);

    listener->server = server;
    listener->fd = fd;
    listener->config = *config;
    identity_policy_copy(&listener->config.peers, &config->peers);
    listener->unlink_path = g_strdup(unlink_path);
    g_ptr_array_add(server->listeners, listener);
    server_listener_watch(listener);
}

void server_run(Server *server)
{
    g_main_loop_run(server->loop);
}

void server_stop(Server *server)
{
    GHashTableIter iter;
    gpointer key;
    GPtrArray *idle = g_ptr_array_new();
    guint i;

    if (server->stopping) {
        return;
    }
    for (i = 0; i < server->listeners->len; i++) {
        server_listener_close(g_ptr_array_index(server->listeners, i));
    }
    /* Idle connections go now; busy ones after their reply is sent.
     * An armed one belongs to the workers: shutting it down wakes one,
     * which sees the stop and gives it back (conn_serve). */
    g_mutex_lock(&server->conn_lock);
    server->stopping = true;
    g_hash_table_iter_init(&iter, server->conns);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        Conn *conn = key;

        if (conn->owner == CONN_ARMED) {
            shutdown(conn->fd, SHUT_RD);
        } else if (conn->owner == CONN_MAIN && conn->out_len == 0) {
            g_ptr_array_add(idle, conn);
        }
    }
    g_mutex_unlock(&server->conn_lock);
    for (i = 0; i < idle->len; i++) {
        server_conn_close(g_ptr_array_index(idle, i), "stopping");
    }
    g_ptr_array_free(idle, TRUE);
    server_maybe_finish(server);
}

void server_free(Server *server)
{
    GHashTableIter iter;
    gpointer key;
    guint i;

    if (server == NULL) {
        return;
    }
    /* Before stop_fd makes the workers' set readable for good. */
    if (server->overflow != NULL) {
        server_overflow_end(server);
    }
    if (server->overflow_wake != NULL) {
        g_source_destroy(server->overflow_wake);
        g_source_unref(server->overflow_wake);
    }
    server_workers_stop(server);
    if (server->pool != NULL) {
        g_thread_pool_free(server->pool, FALSE, TRUE);
    }
    /* Completions queued by the last jobs run here, then nothing is left. */
    while (g_main_context_iteration(server->context, FALSE)) {
    }
    g_hash_table_iter_init(&iter, server->conns);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        server_conn_free(key);
    }
    g_hash_table_destroy(server->conns);
    g_hash_table_destroy(server->peer_conns);
    if (server->epoll_source != NULL) {
        g_source_destroy(server->epoll_source);
        g_source_unref(server->epoll_source);
    }
    if (server->epoll_fd >= 0) {
        close(server->epoll_fd);
    }
    if (server->work_epoll_fd >= 0) {
        close(server->work_epoll_fd);
    }
    if (server->stop_fd >= 0) {
        close(server->stop_fd);
    }
    if (server->overflow_fd >= 0) {
        close(server->overflow_fd);
    }
    g_ptr_array_free(server->workers, TRUE);
    g_mutex_clear(&server->conn_lock);
    for (i = 0; i < server->listeners->len; i++) {
        Listener *listener = g_ptr_array_index(server->listeners, i);

        server_listener_close(listener);
        identity_policy_clear(&listener->config.peers);
        g_free(listener);
    }
    g_ptr_array_free(server->listeners, TRUE);
    dispatch_free(server->dispatch);
    g_main_loop_unref(server->loop);
    g_main_context_unref(server->context);
    g_free(server);
}
