/*
 * fdlimit: raising RLIMIT_NOFILE for the daemon's connections.
 */
#include "fdlimit.h"

#include <sys/resource.h>

#include <glib.h>

void fdlimit_raise(unsigned max_connections, unsigned workers)
{
    rlim_t need = (rlim_t)max_connections + 4 * (rlim_t)workers + 32;
    struct rlimit rl;
    rlim_t was;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = was;
        }
    }
    if (rl.rlim_cur < need) {
        g_warning("the descriptor limit is %llu (hard limit %llu): too low "
                  "for max-connections = %u, which needs about %llu; raise "
                  "it (LimitNOFILE=, ulimit -n) or lower max-connections",
                  (unsigned long long)rl.rlim_cur,
                  (unsigned long long)rl.rlim_max, max_connections,
                  (unsigned long long)need);
    } else {
        g_info("descriptor limit %llu (was %llu)",
               (unsigned long long)rl.rlim_cur, (unsigned long long)was);
    }
}
