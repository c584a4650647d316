/*
 * inproc: a softprd server in a thread of the test program.
 */
#include "inproc.h"

struct Inproc {
    GThread *thread;
    GMainContext *context;
    Server *server;
    ServerOptions options;
    ListenerConfig listener;
    int fd;
    char *path;
    GMutex lock;
    GCond ready;
    bool started;
};

static gpointer serve(gpointer data)
{
    Inproc *in = data;
    g_autoptr(GError) error = NULL;

    g_main_context_push_thread_default(in->context);
    in->server = server_new(&in->options, &error);
    if (in->server == NULL) {
        fail_msg("server_new: %s", error->message);
    }
    server_add_listener(in->server, in->fd, &in->listener, in->path);
    g_mutex_lock(&in->lock);
    in->started = true;
    g_cond_signal(&in->ready);
    g_mutex_unlock(&in->lock);
    server_run(in->server);
    server_free(in->server);
    g_main_context_pop_thread_default(in->context);
    return NULL;
}

Inproc *inproc_start(const char *socket_path, const ServerOptions *options,
                     const char *initiator)
{
    Inproc *in = g_new0(Inproc, 1);
    g_autoptr(GError) error = NULL;

    in->context = g_main_context_new();
    in->options = *options;
    in->listener.identity = IDENTITY_FIXED;
    in->listener.rtpi = 1;
    if (!tid_from_iscsi_name(initiator, &in->listener.initiator, &error)) {
        fail_msg("%s", error->message);
    }
    in->path = g_strdup(socket_path);
    in->fd = server_bind(socket_path, &error);
    if (in->fd < 0) {
        fail_msg("%s", error->message);
    }
    g_mutex_init(&in->lock);
    g_cond_init(&in->ready);
    in->thread = g_thread_new("inproc-server", serve, in);
    g_mutex_lock(&in->lock);
    while (!in->started) {
        g_cond_wait(&in->ready, &in->lock);
    }
    g_mutex_unlock(&in->lock);
    return in;
}

static gboolean stop_server(gpointer data)
{
    server_stop(data);
    return G_SOURCE_REMOVE;
}

void inproc_stop(Inproc *in)
{
    g_main_context_invoke(in->context, stop_server, in->server);
    g_thread_join(in->thread);
    g_main_context_unref(in->context);
    g_mutex_clear(&in->lock);
    g_cond_clear(&in->ready);
    g_free(in->path);
    g_free(in);
}
