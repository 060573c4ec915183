/* cursors.c: the partners' delivery cursors (cursors.h). */
#include "cursors.h"

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
};

cursors_t *cursors_new(store_t *store)
{
    cursors_t *c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->store = store;
    return c;
}

void cursors_destroy(cursors_t **c)
{
    if (c == NULL || *c == NULL)
        return;
    free((*c)->items);
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

uint64_t cursors_acked(const cursors_t *c, const char *partner_id)
{
    const cursor_t *found = cursors_find(c, partner_id);
    if (found != NULL)
        return found->acked;
    uint64_t acked = 0;
    store_cursor_get(c->store, partner_id, &acked);
    return acked;
}

int cursors_ack(cursors_t *c, const char *partner_id, uint64_t up_to)
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

/* Whether cursor u's acknowledgements since its last mark are due a mark now. */
static bool cursor_mark_due(const cursor_t *u, int64_t now)
{
    return u->acked > u->marked && now - u->marked_at >= CURSORS_MARK_MS;
}

int cursors_write(cursors_t *c)
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
