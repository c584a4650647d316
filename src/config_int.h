/*
 * config_int: what config.c and config_file.c share and nobody else
 * needs.
 */
#ifndef SOFTPR_CONFIG_INT_H
#define SOFTPR_CONFIG_INT_H

#include "config.h"

/* A socket's configuration with its defaults (identity auto, relative
 * target port 1), named @name (NULL: the main socket). */
SocketConfig *config_socket_new(const char *name);

/* The values of the mode keys (NULL-terminated), and the modes they
 * stand for, index for index. */
extern const char *const config_mode_names[];
extern const LuMode config_mode_values[];

#endif /* SOFTPR_CONFIG_INT_H */
