/*
 * powercut: a disk's volatile write cache, and what a power cut leaves.
 */
#include "powercut.h"

#include <string.h>

#include "testutil.h"

#define SECTOR 512

/* A write (data != NULL) or a truncation to @offset, not yet synced. */
typedef struct Change {
    gint64 offset;
    GBytes *data;
} Change;

struct PowerCutFile {
    GByteArray *durable; /* the data as of the last fsync */
    GPtrArray *pending;  /* Change *, since then, oldest first */
};

/* A directory entry: the file it names, durably and now. */
typedef struct Entry {
    char *name;
    PowerCutFile *durable; /* NULL: no such entry on the disk */
    PowerCutFile *current;
    GPtrArray *pending; /* PowerCutFile * (NULL: removed), oldest first */
} Entry;

struct PowerCut {
    GMutex lock;
    char *dir;
    GHashTable *entries; /* base name -> Entry */
    GPtrArray *files;    /* every PowerCutFile, owned */
};

static void change_free(gpointer p)
{
    Change *c = p;

    if (c->data != NULL) {
        g_bytes_unref(c->data);
    }
    g_free(c);
}

static void file_free(gpointer p)
{
    PowerCutFile *f = p;

    g_byte_array_unref(f->durable);
    g_ptr_array_free(f->pending, TRUE);
    g_free(f);
}

static void entry_free(gpointer p)
{
    Entry *e = p;

    g_free(e->name);
    g_ptr_array_free(e->pending, TRUE);
    g_free(e);
}

PowerCut *powercut_new(const char *dir)
{
    PowerCut *pc = g_new0(PowerCut, 1);

    g_mutex_init(&pc->lock);
    pc->dir = g_strdup(dir);
    pc->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
    pc->files = g_ptr_array_new_with_free_func(file_free);
    return pc;
}

void powercut_free(PowerCut *pc)
{
    if (pc == NULL) {
        return;
    }
    g_hash_table_destroy(pc->entries);
    g_ptr_array_free(pc->files, TRUE);
    g_mutex_clear(&pc->lock);
    g_free(pc->dir);
    g_free(pc);
}

bool powercut_covers(const PowerCut *pc, const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);

    return strcmp(dir, pc->dir) == 0;
}

static PowerCutFile *file_new(PowerCut *pc)
{
    PowerCutFile *f = g_new0(PowerCutFile, 1);

    f->durable = g_byte_array_new();
    f->pending = g_ptr_array_new_with_free_func(change_free);
    g_ptr_array_add(pc->files, f);
    return f;
}

PowerCutFile *powercut_open(PowerCut *pc, const char *path)
{
    g_autofree char *name = g_path_get_basename(path);
    g_autofree char *data = NULL;
    gsize len = 0;
    Entry *e;

    g_mutex_lock(&pc->lock);
    e = g_hash_table_lookup(pc->entries, name);
    if (e == NULL) {
        e = g_new0(Entry, 1);
        e->name = g_strdup(name);
        e->pending = g_ptr_array_new();
        g_hash_table_insert(pc->entries, e->name, e);
        if (g_file_get_contents(path, &data, &len, NULL)) {
            /* There before the model: durable, as the test made it. */
            e->durable = file_new(pc);
            g_byte_array_append(e->durable->durable, (guint8 *)data,
                                (guint)len);
            e->current = e->durable;
        }
    }
    if (e->current == NULL) {
        e->current = file_new(pc);
        g_ptr_array_add(e->pending, e->current);
    }
    g_mutex_unlock(&pc->lock);
    return e->current;
}

void powercut_write(PowerCut *pc, PowerCutFile *file, const void *data,
                    size_t len, gint64 offset)
{
    Change *c = g_new0(Change, 1);

    c->offset = offset;
    c->data = g_bytes_new(data, len);
    g_mutex_lock(&pc->lock);
    g_ptr_array_add(file->pending, c);
    g_mutex_unlock(&pc->lock);
}

void powercut_truncate(PowerCut *pc, PowerCutFile *file, gint64 size)
{
    Change *c = g_new0(Change, 1);

    c->offset = size;
    g_mutex_lock(&pc->lock);
    g_ptr_array_add(file->pending, c);
    g_mutex_unlock(&pc->lock);
}

/* Make @bytes @size long; what it grows by reads as zeros. */
static void resize(GByteArray *bytes, gint64 size)
{
    guint old = bytes->len;

    g_byte_array_set_size(bytes, (guint)size);
    if (bytes->len > old) {
        memset(bytes->data + old, 0, bytes->len - old);
    }
}

/* Write @len bytes of @data at @offset of @bytes. */
static void put(GByteArray *bytes, gint64 offset, const guint8 *data,
                size_t len)
{
    if ((gint64)bytes->len < offset + (gint64)len) {
        resize(bytes, offset + (gint64)len);
    }
    memcpy(bytes->data + offset, data, len);
}

/* Apply @c to @bytes: all of it, or when @rand is set a random subset
 * of its sectors.  Returns how many bytes it left out. */
static size_t apply(GByteArray *bytes, const Change *c, GRand *rand)
{
    const guint8 *data;
    size_t len, done, lost = 0;

    if (c->data == NULL) {
        if (rand == NULL || g_rand_boolean(rand)) {
            resize(bytes, c->offset);
        }
        return 0;
    }
    data = g_bytes_get_data(c->data, &len);
    for (done = 0; done < len;) {
        gint64 at = c->offset + (gint64)done;
        size_t piece = MIN(len - done, (size_t)(SECTOR - at % SECTOR));

        if (rand == NULL || g_rand_boolean(rand)) {
            put(bytes, at, data + done, piece);
        } else {
            lost += piece;
        }
        done += piece;
    }
    return lost;
}

void powercut_sync(PowerCut *pc, PowerCutFile *file)
{
    guint i;

    g_mutex_lock(&pc->lock);
    for (i = 0; i < file->pending->len; i++) {
        apply(file->durable, g_ptr_array_index(file->pending, i), NULL);
    }
    g_ptr_array_set_size(file->pending, 0);
    g_mutex_unlock(&pc->lock);
}

void powercut_unlink(PowerCut *pc, const char *path)
{
    g_autofree char *name = g_path_get_basename(path);
    Entry *e;

    g_mutex_lock(&pc->lock);
    e = g_hash_table_lookup(pc->entries, name);
    if (e != NULL && e->current != NULL) {
        e->current = NULL;
        g_ptr_array_add(e->pending, NULL);
    }
    g_mutex_unlock(&pc->lock);
}

void powercut_sync_dir(PowerCut *pc)
{
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&pc->lock);
    g_hash_table_iter_init(&iter, pc->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        Entry *e = value;

        e->durable = e->current;
        g_ptr_array_set_size(e->pending, 0);
    }
    g_mutex_unlock(&pc->lock);
}

/* The file entry @e names after the cut. */
static PowerCutFile *surviving_file(const Entry *e, PowerCutLoss loss,
                                    GRand *rand)
{
    PowerCutFile *f = e->durable;
    guint i;

    for (i = 0; loss == POWERCUT_LOSE_SOME && i < e->pending->len; i++) {
        if (g_rand_boolean(rand)) {
            f = g_ptr_array_index(e->pending, i);
        }
    }
    return f;
}

char *powercut_restore(PowerCut *pc, const char *out, PowerCutLoss loss,
                       GRand *rand)
{
    GString *report = g_string_new(NULL);
    g_autoptr(GList) names = NULL;
    GList *l;

    g_mutex_lock(&pc->lock);
    /* In name order, so that a seed always makes the same choices. */
    names =
        g_list_sort(g_hash_table_get_keys(pc->entries), (GCompareFunc)strcmp);
    for (l = names; l != NULL; l = l->next) {
        const Entry *e = g_hash_table_lookup(pc->entries, l->data);
        PowerCutFile *f = surviving_file(e, loss, rand);
        g_autofree char *path = g_build_filename(out, e->name, NULL);
        g_autoptr(GByteArray) bytes = NULL;
        size_t lost = 0;
        guint i;

        g_string_append_printf(report, "  %s: entry %s", e->name,
                               f == NULL         ? "absent"
                               : f == e->current ? "as written"
                               : f == e->durable ? "as last synced"
                                                 : "of an older file");
        if (f == NULL) {
            g_string_append_c(report, '\n');
            continue;
        }
        bytes = g_byte_array_new();
        g_byte_array_append(bytes, f->durable->data, f->durable->len);
        for (i = 0; i < f->pending->len; i++) {
            const Change *c = g_ptr_array_index(f->pending, i);

            if (loss == POWERCUT_LOSE_ALL) {
                lost += c->data != NULL ? g_bytes_get_size(c->data) : 0;
            } else {
                lost += apply(bytes, c, rand);
            }
        }
        g_string_append_printf(report,
                               ", %u bytes synced, %u changes after, %zu "
                               "bytes of them lost\n",
                               f->durable->len, f->pending->len, lost);
        if (!g_file_set_contents(path, (const char *)bytes->data, bytes->len,
                                 NULL)) {
            g_mutex_unlock(&pc->lock);
            fail_msg("cannot write %s", path);
        }
    }
    g_mutex_unlock(&pc->lock);
    return g_string_free(report, FALSE);
}
