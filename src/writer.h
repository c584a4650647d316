/*
 * writer: group commit of one daemon's writes: PR OUT commands, and
 * PR IN commands that must write (a unit attention they drop).
 *
 * Commands submitted while another group is being written wait for the
 * next one; each group runs in arrival order in one transaction with one
 * durable commit (command_execute_group) on the writer's own database
 * connection, and every command of it is answered, through its own
 * callback, only after that commit.
 */
#ifndef SOFTPR_WRITER_H
#define SOFTPR_WRITER_H

#include "command.h"
#include "store.h"

typedef struct WriterItem WriterItem;

/*
 * @item's command ran and its result is final (its group's commit is
 * over).  Called on the thread that wrote the group; @item is the
 * callback's from then on.
 */
typedef void (*WriterDone)(WriterItem *item);

struct WriterItem {
    CommandItem command; /* what to run; .result receives the answer */
    WriterDone done;
};

typedef struct Writer Writer;

/*
 * A writer for the database @options name, with the engine configured by
 * @pr.  Both are used as they are (their strings, @pr's ports) until
 * writer_free().  The database connection is opened on the first write.
 */
Writer *writer_new(const StoreOptions *options, const PrConfig *pr);

/* Close the writer's connection.  Nothing may be submitted any more. */
void writer_free(Writer *writer);

/*
 * Queue @item for a commit; any thread.  When no thread is writing, the
 * calling one becomes the writer: until the queue is empty it takes
 * everything queued so far and commits it as one group, then returns.
 * Otherwise it returns at once and the writing thread runs @item.  Either
 * way @item->done is called exactly once.
 */
void writer_submit(Writer *writer, WriterItem *item);

#endif /* SOFTPR_WRITER_H */
