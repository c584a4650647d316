/*
 * config_server: Config to ServerOptions and ListenerConfig (see the
 * header), and how a socket is described in the log.
 */
#include "config_server.h"

#include <string.h>

/* The distinct relative target port ids of @config's sockets, in
 * order, into *@ports (allocated); returns how many. */
static size_t target_ports(const Config *config, uint16_t **ports)
{
    size_t n_ports = 0;
    guint i;

    *ports = g_new(uint16_t, config->sockets->len);
    for (i = 0; i < config->sockets->len; i++) {
        const SocketConfig *socket = g_ptr_array_index(config->sockets, i);
        size_t j;

        for (j = 0; j < n_ports && (*ports)[j] != socket->rtpi; j++) {
        }
        if (j == n_ports) {
            (*ports)[n_ports++] = socket->rtpi;
        }
    }
    return n_ports;
}

void config_to_server_options(const Config *config, ServerOptions *options,
                              uint16_t **ports)
{
    memset(options, 0, sizeof(*options));
    options->workers = config->workers;
    options->max_connections = config->max_connections;
    options->max_connections_per_peer = config->max_connections_per_peer;
    options->request_timeout_ms = config->request_timeout_ms;
    options->lock_timeout_ms = config->lock_timeout_ms;
    config_store_options(config, &options->store);
    options->store.create = true;
    options->store.open_unreachable = true;
    options->pr.n_ports = target_ports(config, ports);
    options->pr.ports = *ports;
    options->pr.max_registrations = config->max_registrations;
    options->pr.ua_policy = config->ua_policy;
    options->lu.sysfs = "/sys";
    options->lu.create_xattr = config->create_xattr;
    options->lu.maps = (const LuMapping *)config->lu_maps->data;
    options->lu.n_maps = config->lu_maps->len;
    options->mode = config->mode;
    options->passthrough_timeout_ms = config->passthrough_timeout_ms;
}

void config_to_listener(const SocketConfig *socket, ListenerConfig *listener)
{
    memset(listener, 0, sizeof(*listener));
    listener->identity = socket->identity;
    listener->initiator = socket->initiator;
    listener->rtpi = socket->rtpi;
    listener->peers = socket->peers;
}

char *config_describe_socket(const SocketConfig *socket)
{
    g_autofree char *who = NULL;

    switch (socket->identity) {
    case IDENTITY_AUTO:
        who = g_strdup("auto: QEMU peers by VM, others as this host");
        break;
    case IDENTITY_CLIENT:
        who = g_strdup("client: declared by the peer");
        break;
    case IDENTITY_FIXED:
        who = tid_to_string(&socket->initiator);
        break;
    }
    return g_strdup_printf("%s (initiator %s, relative target port %u)",
                           socket->path != NULL ? socket->path
                                                : "socket-activated",
                           who, socket->rtpi);
}
