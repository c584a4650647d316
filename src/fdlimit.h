/*
 * fdlimit: the daemon's descriptor limit, raised to what the hard limit
 * allows, since every client holds a socket.
 */
#ifndef SOFTPR_FDLIMIT_H
#define SOFTPR_FDLIMIT_H

/*
 * Raise RLIMIT_NOFILE's soft limit to its hard limit, and warn when that
 * is still too few for @max_connections connections served by @workers
 * threads (each with a database connection and a disk descriptor in
 * flight); otherwise log the limit at info level.
 */
void fdlimit_raise(unsigned max_connections, unsigned workers);

#endif /* SOFTPR_FDLIMIT_H */
