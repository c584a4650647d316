/*
 * crashload_int.h: what the crash load's two files share (private to
 * tests/support/crashload.c, the clients and daemons, and crashcheck.c,
 * the checks): the commands each client sent and what became of them.
 */
#ifndef SOFTPR_TEST_CRASHLOAD_INT_H
#define SOFTPR_TEST_CRASHLOAD_INT_H

#include "crashload.h"
#include "daemon.h"

#include "tid.h"

#define CLIENTS 6

/* How a command ended, as its client saw it. */
typedef enum Outcome {
    OUTCOME_UNSENT,   /* the daemon was gone before it was sent */
    OUTCOME_ANSWERED, /* an answer that reached the database: status */
    OUTCOME_RETRY,    /* BUSY or ABORTED COMMAND: nothing written */
    OUTCOME_LOST,     /* the answer was lost to a kill */
} Outcome;

/* One command a client sent, and what became of it. */
typedef struct Sent {
    uint8_t sa;
    uint8_t type;
    uint64_t rk;
    uint64_t sark;
    Outcome outcome;
    uint8_t status;
    uint8_t sense[3]; /* key, ASC, ASCQ with CHECK CONDITION */
    bool committed;   /* own LU: known to be in the database */
    int event;        /* lost: the events begun before the answer went */
} Sent;

typedef struct Client {
    CrashLoad *crash;
    int index;
    char *name;
    TransportId initiator;
    int own_disk;
    int shared_disk;
    GRand *rand;
    GArray *own;    /* Sent, on the client's own LU */
    GArray *shared; /* Sent, on the shared LU */
    /* Figures. */
    guint good;
    guint busy;
    guint aborted; /* ABORTED COMMAND, INTERNAL TARGET FAILURE */
    guint lost;    /* answer lost to a kill */
    guint lost_committed;
    guint reads; /* READ FULL STATUS answered on the shared LU */
} Client;

struct CrashLoad {
    char *dir;
    char *db; /* the connection string, or sqlite's file */
    bool pg;
    TestDaemon *daemons[2];
    GThread *threads[CLIENTS];
    gint stop;
    gint good;      /* GOOD answers so far, every client */
    gint in_flight; /* commands sent and not yet answered */
    guint max_events;
    gint events;         /* events so far; counted before each begins */
    gint settled;        /* events whose commands the database has ended */
    gint *event_landed;  /* [event]: a command's answer was lost to it */
    guint landed_flight; /* events that began with a command in flight */
    guint resolved_commits;
    Client clients[CLIENTS];
};

/* The last key known to be committed on @cl's own LU, or 0. */
uint64_t crashload_last_committed(Client *cl);

#endif /* SOFTPR_TEST_CRASHLOAD_INT_H */
