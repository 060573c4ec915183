/* cursors.c: the partners' delivery cursors (cursors.h). */
#include "cursors.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "partners.h"
#include "clock.h"
#include "text.h"

typedef struct cursor {
    char partner_id[PARTNERS_ID_MAX + 1];
    uint64_t acked;
    bool dirty;        /* moved since the last write */
    uint64_t marked;   /* the up_to of the last acknowledgement mark written */
    int64_t marked_at; /* when (unix ms) */
} cursor_t;

/* At most one acknowledgement mark a minute per partner: an export then says when each
 * notification was acknowledged to the minute, and a partner acknowledging all day long costs
 * 1,440 small records a day. */
#define CURSORS_MARK_MS 60000

/* A partner's cursor is added when it first acknowledges; a territory has a few hundred
 * partners at most, so a list is enough. */
struct cursors {
    store_t *store;
    cursor_t *items;
    size_t n, capacity;
    /* Acknowledgements move cursors on the delivery thread; the loop writes them and reads them
     * for status and metrics. A write holds it through its commit: a cursor commit is short and
     * comes every cursor_flush_ms, and an acknowledgement that waits for it only waits. */
    pthread_mutex_t lock;
};

cursors_t *cursors_new(store_t *store)
{
    cursors_t *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->store = store;
        pthread_mutex_init(&c->lock, NULL);
    }
    return c;
}

void cursors_destroy(cursors_t **c)
{
    if (c == NULL || *c == NULL)
        return;
    free((*c)->items);
    pthread_mutex_destroy(&(*c)->lock);
    free(*c);
    *c = NULL;
}

static cursor_t *cursors_find(const cursors_t *c, const char *partner_id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].partner_id, partner_id) == 0)
            return &c->items[i];
    return NULL;
}

uint64_t cursors_acked(cursors_t *c, const char *partner_id)
{
    pthread_mutex_lock(&c->lock);
    const cursor_t *found = cursors_find(c, partner_id);
    uint64_t acked = 0;
    if (found != NULL)
        acked = found->acked;
    else
        store_cursor_get(c->store, partner_id, &acked);
    pthread_mutex_unlock(&c->lock);
    return acked;
}

static int cursors_ack_locked(cursors_t *c, const char *partner_id, uint64_t up_to)
{
    cursor_t *found = cursors_find(c, partner_id);
    if (found == NULL) {
        if (c->n == c->capacity) {
            size_t capacity = c->capacity ? 2 * c->capacity : 32;
            cursor_t *items = realloc(c->items, capacity * sizeof(*items));
            if (items == NULL)
                return -1;
            c->items = items;
            c->capacity = capacity;
        }
        found = &c->items[c->n++];
        memset(found, 0, sizeof(*found));
        text_copy(found->partner_id, sizeof(found->partner_id), partner_id);
        store_cursor_get(c->store, partner_id, &found->acked);
    }
    if (up_to > found->acked) {
        found->acked = up_to;
        found->dirty = true;
    }
    return 0;
}

int cursors_ack(cursors_t *c, const char *partner_id, uint64_t up_to)
{
    pthread_mutex_lock(&c->lock);
    int rc = cursors_ack_locked(c, partner_id, up_to);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Whether cursor u's acknowledgements since its last mark are due a mark now. */
static bool cursor_mark_due(const cursor_t *u, int64_t now)
{
    return u->acked > u->marked && now - u->marked_at >= CURSORS_MARK_MS;
}

static int cursors_write_locked(cursors_t *c)
{
    int64_t now = clock_realtime_ms();
    bool any = false;
    for (size_t i = 0; i < c->n; i++)
        any |= c->items[i].dirty || cursor_mark_due(&c->items[i], now);
    if (!any)
        return STORE_OK;
    store_batch_t *batch = NULL;
    int rc = store_batch_begin(c->store, now, &batch);
    for (size_t i = 0; rc == STORE_OK && i < c->n; i++) {
        cursor_t *u = &c->items[i];
        if (u->dirty)
            rc = store_batch_cursor_set(batch, u->partner_id, u->acked);
        if (rc == STORE_OK && cursor_mark_due(u, now))
            rc = store_batch_ack_mark(batch, u->partner_id, u->acked, now);
    }
    if (rc == STORE_OK)
        rc = store_batch_commit(&batch);
    store_batch_abort(&batch);
    if (rc != STORE_OK)
        return rc;
    for (size_t i = 0; i < c->n; i++) {
        cursor_t *u = &c->items[i];
        u->dirty = false;
        if (cursor_mark_due(u, now)) {
            u->marked = u->acked;
            u->marked_at = now;
        }
    }
    return STORE_OK;
}

int cursors_write(cursors_t *c)
{
    pthread_mutex_lock(&c->lock);
    int rc = cursors_write_locked(c);
    pthread_mutex_unlock(&c->lock);
    return rc;
}
