/*
 * writer: group commit of one daemon's writing commands: the queue, the
 * one thread at a time that writes, and its database connection.
 */
#include "writer.h"

#include "error.h"

/* At most this many commands share one commit. */
#define GROUP_MAX 64

/* How long a group's writer waits for the rest (writer_submit). */
#define GROUP_GATHER_US 1000

struct Writer {
    StoreOptions options;
    const PrConfig *pr;
    GMutex lock;
    GCond queued;
    GQueue queue; /* WriterItem *, in arrival order */
    bool writing; /* a thread is in writer_submit's loop */
    Store *store; /* the writing thread's; opened on first use */
};

Writer *writer_new(const StoreOptions *options, const PrConfig *pr)
{
    Writer *writer = g_new0(Writer, 1);

    writer->options = *options;
    writer->pr = pr;
    g_mutex_init(&writer->lock);
    g_cond_init(&writer->queued);
    g_queue_init(&writer->queue);
    return writer;
}

void writer_free(Writer *writer)
{
    if (writer == NULL) {
        return;
    }
    g_assert(!writer->writing && g_queue_is_empty(&writer->queue));
    if (writer->store != NULL) {
        store_close(writer->store);
    }
    g_mutex_clear(&writer->lock);
    g_cond_clear(&writer->queued);
    g_free(writer);
}

/*
 * Run the group @items (@n of them) in one transaction and answer each.
 * Only the writing thread.
 */
static void writer_execute(Writer *writer, WriterItem **items, size_t n)
{
    g_autofree CommandItem *commands = g_new(CommandItem, n);
    g_autoptr(GError) error = NULL;
    gint64 deadline = G_MAXINT64;
    size_t i;

    for (i = 0; i < n; i++) {
        commands[i] = items[i]->command;
        deadline = MIN(deadline, commands[i].request->deadline);
    }
    if (writer->store == NULL) {
        /* Opening waits for locks too: within the first command's bound. */
        writer->store = store_open_until(&writer->options, deadline, &error);
    }
    if (writer->store != NULL) {
        command_execute_group(writer->store, writer->pr, commands, n);
    } else {
        for (i = 0; i < n; i++) {
            command_store_failure(commands[i].result, error,
                                  commands[i].lu->name);
        }
    }
    if (n > 1) {
        g_debug("%zu commands shared one commit", n);
    }
    for (i = 0; i < n; i++) {
        items[i]->done(items[i]);
    }
}

/*
 * The connections answered by one commit send their next commands a
 * moment later: when fewer than last time are queued, the writer waits
 * for them (at most GROUP_GATHER_US) so that a steady load keeps sharing
 * commits instead of splitting into two alternating halves.  A lone
 * command is written at once, by the thread that submitted it.
 */
void writer_submit(Writer *writer, WriterItem *item)
{
    WriterItem *items[GROUP_MAX];
    size_t last = 0;

    g_mutex_lock(&writer->lock);
    g_queue_push_tail(&writer->queue, item);
    if (writer->writing) {
        g_cond_signal(&writer->queued);
        g_mutex_unlock(&writer->lock);
        return;
    }
    writer->writing = true;
    for (;;) {
        gint64 gather_until = g_get_monotonic_time() + GROUP_GATHER_US;
        size_t n = 0;

        while (n < GROUP_MAX) {
            if (!g_queue_is_empty(&writer->queue)) {
                items[n++] = g_queue_pop_head(&writer->queue);
            } else if (n == 0 || n >= last ||
                       !g_cond_wait_until(&writer->queued, &writer->lock,
                                          gather_until)) {
                break;
            }
        }
        if (n == 0) {
            break;
        }
        g_mutex_unlock(&writer->lock);
        writer_execute(writer, items, n);
        last = n;
        g_mutex_lock(&writer->lock);
    }
    writer->writing = false;
    g_mutex_unlock(&writer->lock);
}
