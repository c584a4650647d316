/*
 * defaults: the default socket path.
 */
#include "defaults.h"

#include <unistd.h>

#include <glib.h>

char *defaults_socket_path(void)
{
    if (geteuid() == 0) {
        return g_strdup("/run/softprd.sock");
    }
    return g_build_filename(g_get_user_runtime_dir(), "softprd.sock", NULL);
}
