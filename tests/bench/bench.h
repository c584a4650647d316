/*
 * bench.h: what the parts of softpr-bench share: the figures and
 * targets it prints, the softprd processes it starts, and the workload
 * runners that drive them (tests/bench/bench.c); the PostgreSQL part
 * lives in bench_pg.c.
 */
#ifndef SOFTPR_BENCH_H
#define SOFTPR_BENCH_H

#include <stdbool.h>

#include <glib.h>

/* Seconds per workload (--seconds, or short with --quick). */
extern double opt_seconds;
extern gboolean opt_quick;
/* Workloads that had errors: the bench then exits 1. */
extern unsigned failures;

typedef struct Figure {
    char *name;
    unsigned conns;
    double p50_us;
    double p99_us;
    double ops_per_s;
    guint64 ops;
    guint64 errors;
} Figure;

/* CLOCK_MONOTONIC in nanoseconds. */
gint64 now_ns(void);

/*
 * Record and print figure @name from latencies @lat (µs, any order,
 * sorted in place) over @wall_s seconds; a figure with errors or no
 * operation counts as a failure.
 */
Figure *figure_add(const char *name, unsigned conns, GArray *lat,
                   double wall_s, guint64 errors);

/* Figure @name, or NULL when it was not measured. */
const Figure *figure(const char *name);

/* Print a TARGET line: @measured against @limit, met when at most (or,
 * with @at_least, at least) the limit. */
void target(const char *name, double measured, double limit, bool at_least,
            const char *what);

typedef struct Daemon {
    GPid pid;
    char *socket;
} Daemon;

/*
 * softprd @name on database @db (a file or a PostgreSQL connection
 * string), identity "client", its socket, log and configuration in
 * @dir; returns once it answers.  Exits on failure.
 */
Daemon *softprd_start(const char *dir, const char *name, const char *db);

/* SIGTERM @d, wait for it, free @d. */
void daemon_stop(Daemon *d);

typedef enum Op {
    OP_READ_KEYS,
    OP_FULL_STATUS,
    OP_REGISTER_TOGGLE, /* REGISTER, then unregister */
    OP_RESERVE_RELEASE,
    OP_FENCE_MIX, /* fence_scsi's commands, over and over */
} Op;

/* @conns connections of one kind against one server. */
typedef struct Load {
    const char *socket;
    bool declare; /* the identity extension: one initiator each */
    const char *disk;
    Op op;
    unsigned conns;
    unsigned first; /* index of the first connection's initiator */
    /*
     * Or, with @n_disks > 0, in place of @disk: the load's LUs, shared
     * out among its connections (connection j takes LUs j, j + conns,
     * ...), each connection moving to its next LU after every pair of
     * commands.
     */
    const char *const *disks;
    unsigned n_disks;
} Load;

/*
 * Run @n loads at once for @seconds and record figure @name (all their
 * connections together).
 */
Figure *run_loads(const char *name, const Load *loads, size_t n,
                  double seconds);

/* One load of @conns connections for opt_seconds, as figure @name. */
Figure *run_load(const char *name, const char *socket, bool declare,
                 const char *disk, Op op, unsigned conns);

/* @n initiators register on @disk through @socket (one connection
 * each).  Exits on failure. */
void register_many(const char *socket, const char *disk, unsigned n);

/* An empty file @name in @dir: a disk softprd names by its file. */
char *make_disk(const char *dir, const char *name);

/*
 * The PostgreSQL workloads on a throwaway server of their own
 * (bench_pg.c), their scratch files in @dir; without the server
 * binaries it prints PGSERVER_SKIP_MESSAGE and measures nothing.
 */
void bench_pg(const char *dir);

/* The PostgreSQL part's TARGET lines (nothing when it was skipped). */
void bench_pg_targets(void);

#endif /* SOFTPR_BENCH_H */
