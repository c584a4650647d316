/*
 * config_server: softprd's configuration as the server takes it: the
 * server's options and each socket's listener settings, in one place,
 * so that a setting added to Config has one mapping to extend.
 */
#ifndef SOFTPR_CONFIG_SERVER_H
#define SOFTPR_CONFIG_SERVER_H

#include <stdint.h>

#include "config.h"
#include "server.h"

/*
 * Fill @options from @config: threads, connection limits, timeouts, the
 * database (created when missing), the engine (the target ports are the
 * sockets' relative target port ids, each once), the LU mappings and the
 * mode.  @options points into @config, and into *@ports, which is the
 * caller's to g_free(); both must outlive @options.
 */
void config_to_server_options(const Config *config, ServerOptions *options,
                              uint16_t **ports);

/* Fill @listener from @socket (pointing into it: peers are not copied). */
void config_to_listener(const SocketConfig *socket, ListenerConfig *listener);

/* A line for the log: where @socket is and whose commands it carries. */
char *config_describe_socket(const SocketConfig *socket);

#endif /* SOFTPR_CONFIG_SERVER_H */
