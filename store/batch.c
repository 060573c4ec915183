/*
 * batch.c: the store's writes. A batch is one LMDB write transaction; every put is journaled so
 * that the batch can be replayed in a new transaction after the map grew (journal.h).
 */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <sodium.h>

#include "record.h"
#include "store_internal.h"

void store_batch_free(store_batch_t *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    if (b->store != NULL)
        b->store->batch = NULL;
    /* A span that only an aborted batch opened holds nothing: it lets LMDB's writer lock go. */
    store_t *s = b->store;
    if (s != NULL && s->span != NULL && s->span_batches == 0 && !s->span_stuck) {
        mdb_txn_abort(s->span);
        s->span = NULL;
        s->span_pages = 0;
    }
    journal_destroy(&b->journal);
    free(b->scratch);
    free(b->tails);
    free(b->read_plain);
    free(b->sealed);
    free(b->shred);
    free(b->told);
    free(b);
}

/* Kills the batch: its transaction is dropped and every later call returns err. */
int store_batch_fail(store_batch_t *b, int err)
{
    if (b->txn != NULL) {
        mdb_txn_abort(b->txn);
        b->txn = NULL;
    }
    b->error = err;
    return err;
}

/* --- Batches --------------------------------------------------------------------------------- */

static int64_t store_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A batch's transaction: nested in the spanning one, opened now if needed, when commits may
 * span batches (WAL mode, commit_ms > 0); otherwise a transaction of its own. */
static int store_batch_txn_begin(store_t *s, MDB_txn **txn)
{
    /* Every write comes from the thread that opened the span (store.h, "Threads"). */
    if (s->span != NULL && store_writer != s)
        return STORE_EINVAL;
    /* While the span cannot be committed, no batch more is acknowledged: each would only lengthen
     * what waits in the log for a file system with room. */
    if (s->span != NULL && s->span_stuck) {
        int rc = store_span_due(s) > 0 ? STORE_EFULL : store_span_end(s);
        if (rc != STORE_OK)
            return rc;
    }
    /* No span during a hot copy: a span's commit that found the map full could not grow it
     * under the copy's reads, and its batches are acknowledged already. */
    if (s->wal == NULL || s->span_ms == 0 || s->copying || (s->span == NULL && !s->span_room))
        return store_txn_begin(s, 0, txn);
    if (s->span == NULL) {
        int rc = store_txn_begin(s, 0, &s->span);
        if (rc != STORE_OK)
            return rc;
        store_writer = s;
        s->span_began_ms = store_now_ms();
        s->span_seq = __atomic_load_n(&s->durable_seq, __ATOMIC_ACQUIRE);
        s->span_batches = 0;
    }
    return store_failed(s, store_error_from_mdb(mdb_txn_begin(s->env, s->span, 0, txn)));
}

int store_batch_begin(store_t *s, int64_t committed_at, store_batch_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL || s->batch != NULL)
        return STORE_EINVAL;
    /* Once the store said it is unusable, nothing more is committed (and acknowledged) on it:
     * its log or its file may no longer bring such a batch back. */
    if (__atomic_load_n(&s->unusable, __ATOMIC_ACQUIRE))
        return STORE_EPANIC;
    store_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return STORE_ENOMEM;
    b->committed_at = committed_at;
    b->pages = 64; /* the root-to-leaf path of each tree, copied once, and the freelist's pages */
    b->journal = journal_new();
    if (b->journal == NULL) {
        free(b);
        return STORE_ENOMEM;
    }
    int rc = store_batch_txn_begin(s, &b->txn);
    if (rc == STORE_OK)
        rc = store_last_seq_read(s, b->txn, &b->last_seq);
    if (rc != STORE_OK) {
        store_batch_free(b);
        return rc;
    }
    b->store = s;
    b->vault_next = s->vault_next;
    s->batch = b;
    /* The shred records of slots already zeroed go with this batch. */
    for (size_t i = 0; i < s->n_shredded && rc == STORE_OK; i++)
        rc = store_batch_del(b, s->shred, &s->shredded[i], sizeof s->shredded[i]);
    b->shred_dropped = s->n_shredded;
    if (rc != STORE_OK) {
        store_batch_free(b);
        return rc;
    }
    *out = b;
    return STORE_OK;
}

/* Checks that b can take another call: STORE_OK, or why not. */
int store_batch_usable(const store_batch_t *b)
{
    if (b == NULL)
        return STORE_EINVAL;
    if (b->error != STORE_OK)
        return b->error;
    return b->store == NULL || b->txn == NULL ? STORE_EINVAL : STORE_OK;
}

/* After MDB_MAP_FULL: drops the transaction, grows the map and replays the journal in a new
 * transaction, as many times as needed. STORE_EFULL once the map cannot grow further. */
static int store_batch_regrow(store_batch_t *b)
{
    /* Growing remaps the file: a read transaction held by a foreach would point into the old
     * mapping, so a batch written from inside a foreach callback cannot grow the map. */
    if (store_reading())
        return STORE_EINVAL;
    /* A hot copy reads the mapping from another thread: the batch waits for the copy's end. */
    if (b->store->copying)
        return STORE_EFULL;
    for (;;) {
        if (b->txn != NULL) {
            mdb_txn_abort(b->txn);
            b->txn = NULL;
        }
        /* (The spanning transaction is committed first, by store_map_grow.) */
        int rc = store_map_grow(b->store);
        if (rc == STORE_OK)
            rc = store_batch_txn_begin(b->store, &b->txn);
        if (rc != STORE_OK)
            return rc;
        int mrc = journal_replay(b->journal, b->txn);
        if (mrc == MDB_MAP_FULL)
            continue;
        /* A replayed put can only fail as the original did not: nothing sane is left. */
        return mrc == MDB_SUCCESS ? STORE_OK : STORE_EIO;
    }
}

/* Journals and performs one put: an LMDB code, or -1 when the journal ran out of memory. */
static int store_batch_write(store_batch_t *b, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags)
{
    if (dbi == b->store->pathways)
        b->read_valid = false; /* the pathway read last may be the one written */
    /* What a write may add to the file: its leaf copied (the branches above it are counted
     * once per batch, store_batch_begin), and the pages of a large value. */
    b->pages += 1 + (v->mv_size > STORE_SPAN_PAGE / 2 ? v->mv_size / STORE_SPAN_PAGE + 1 : 0);
    if (journal_add(b->journal, dbi, k, v, flags) != STORE_OK)
        return -1;
    if (flags & JOURNAL_DELETE) {
        int rc = mdb_del(b->txn, dbi, k, NULL);
        return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
    }
    return mdb_put(b->txn, dbi, k, v, flags);
}

/* Deletes one key (absent is fine). Any error kills the batch. */
int store_batch_del(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len)
{
    MDB_val k = {key_len, (void *)key}, v = {0, NULL};
    int mrc = store_batch_write(b, dbi, &k, &v, JOURNAL_DELETE);
    int rc = mrc == -1             ? STORE_ENOMEM
             : mrc == MDB_MAP_FULL ? store_batch_regrow(b)
                                   : store_error_from_mdb(mrc);
    return rc == STORE_OK ? STORE_OK : store_batch_fail(b, rc);
}

/* One put. Any error kills the batch. */
int store_batch_put(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                    const void *value, size_t value_len, unsigned flags)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int mrc = store_batch_write(b, dbi, &k, &v, flags);
    int rc;
    if (mrc == -1)
        rc = STORE_ENOMEM;
    else if (mrc == MDB_MAP_FULL)
        rc = store_batch_regrow(b);
    else if (mrc == MDB_KEYEXIST)
        rc = STORE_EIO; /* the store checked first: the data disagrees with itself */
    else
        rc = store_error_from_mdb(mrc);
    return rc == STORE_OK ? STORE_OK : store_batch_fail(b, rc);
}

/* As store_batch_put with MDB_NOOVERWRITE, but a key already there is an answer, not a fault:
 * STORE_EEXIST, with nothing written (nor journaled) and the batch alive. */
static int store_batch_put_new(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                               const void *value, size_t value_len)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int mrc = store_batch_write(b, dbi, &k, &v, MDB_NOOVERWRITE);
    if (mrc == MDB_KEYEXIST) {
        journal_drop_last(b->journal);
        return STORE_EEXIST;
    }
    int rc = mrc == -1             ? STORE_ENOMEM
             : mrc == MDB_MAP_FULL ? store_batch_regrow(b)
                                   : store_error_from_mdb(mrc);
    return rc == STORE_OK ? STORE_OK : store_batch_fail(b, rc);
}

/* Makes b->scratch at least need bytes long, keeping its content. */
static int store_batch_scratch(store_batch_t *b, size_t need)
{
    if (need <= b->scratch_cap)
        return STORE_OK;
    size_t cap = b->scratch_cap ? b->scratch_cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->scratch, cap);
    if (p == NULL)
        return STORE_ENOMEM;
    b->scratch = p;
    b->scratch_cap = cap;
    return STORE_OK;
}

/* Whether the filesystem of the data file has (almost) no room left. LMDB reports a short write
 * as EIO, and a short write to a regular file means the filesystem filled up. */
static bool store_fs_full(store_t *s)
{
    mdb_filehandle_t fd;
    struct statvfs st;
    if (mdb_env_get_fd(s->env, &fd) != MDB_SUCCESS || fstatvfs(fd, &st) != 0)
        return false;
    return (uint64_t)st.f_bavail * st.f_frsize < ((uint64_t)1 << 20);
}

/* After a commit: the store takes the batch's state, and the keys of what it destroyed are
 * zeroed now. A key that cannot be zeroed makes the store unusable, so that the process starts
 * again and finishes the destruction at open (the shred records say which). */
static int store_batch_committed(store_batch_t *b)
{
    store_t *s = b->store;
    __atomic_add_fetch(&s->generation, 1, __ATOMIC_RELEASE);
    s->vault_next = b->vault_next;
    s->notices_pending += b->notices_added;
    s->notices_pending -= (uint64_t)b->notices_removed;
    if (b->shred_dropped > 0) {
        memmove(s->shredded, s->shredded + b->shred_dropped,
                (s->n_shredded - b->shred_dropped) * sizeof *s->shredded);
        s->n_shredded -= b->shred_dropped;
    }
    if (b->n_shred == 0)
        return STORE_OK;
    if (vault_destroy(s->vault, b->shred, b->n_shred) != STORE_OK)
        return store_failed(s, STORE_EPANIC);
    if (s->n_shredded + b->n_shred > s->shredded_cap) {
        size_t cap = s->shredded_cap ? 2 * s->shredded_cap : 64;
        while (cap < s->n_shredded + b->n_shred)
            cap *= 2;
        uint32_t *p = realloc(s->shredded, cap * sizeof *p);
        if (p == NULL)
            return STORE_OK; /* the records stay until the next open: harmless */
        s->shredded = p;
        s->shredded_cap = cap;
    }
    memcpy(s->shredded + s->n_shredded, b->shred, b->n_shred * sizeof *b->shred);
    s->n_shredded += b->n_shred;
    return STORE_OK;
}

int store_batch_commit(store_batch_t **pb)
{
    if (pb == NULL || *pb == NULL)
        return STORE_EINVAL;
    store_batch_t *b = *pb;
    *pb = NULL;
    int rc = store_batch_usable(b);
    if (rc == STORE_OK && b->appended) {
        uint8_t value[8];
        record_u64_encode(value, b->last_seq);
        rc = store_batch_put(b, b->store->meta, "last_seq", 8, value, sizeof value, 0);
    }
    if (rc == STORE_OK && b->vault_next != b->store->vault_next) {
        uint8_t value[4];
        record_u32_encode(value, b->vault_next);
        rc = store_batch_put(b, b->store->meta, "vault_next", 10, value, sizeof value, 0);
    }
    store_t *s = b->store;
    bool logged = false; /* a record was appended: it is flushed after the commit */
    while (rc == STORE_OK) {
        /* In WAL mode the record is written before the commit that makes the batch visible, so
         * that nothing is ever visible (a DUPLICATE answered from it) that the log could not
         * bring back; it is flushed after, and the batch is durable then (wal.h). */
        if (s->wal != NULL) {
            size_t len = 0;
            rc = journal_encode(b->journal, s->dbis, STORE_DB_COUNT, WAL_RECORD_HEAD, &s->wal_buf,
                                &s->wal_buf_cap, &len);
            /* A batch that wrote nothing (only duplicates, say) has nothing to log. */
            logged = rc == STORE_OK && len > 0;
            if (logged)
                rc = wal_append(s->wal, s->wal_buf, len);
            if (rc != STORE_OK)
                break;
        }
        int mrc = mdb_txn_commit(b->txn);
        b->txn = NULL; /* the commit frees the transaction, even when it fails */
        if (mrc != MDB_SUCCESS && logged)
            wal_unappend(s->wal);
        if (mrc != MDB_MAP_FULL) {
            if (mrc == ENOSPC || mrc == EDQUOT || (mrc == EIO && store_fs_full(b->store)))
                rc = STORE_EFULL;
            else
                rc = mrc == MDB_SUCCESS
                         ? STORE_OK
                         : store_failed(b->store, mrc == MDB_PANIC ? STORE_EPANIC : STORE_EIO);
            break;
        }
        rc = store_batch_regrow(b);
    }
    /* Visible, and now durable: a batch whose record cannot be flushed leaves the store in a
     * state the log may not bring back, so the store stops (the events are answered RETRY). */
    if (rc == STORE_OK && logged && wal_sync(s->wal) != STORE_OK)
        rc = store_failed(s, STORE_EPANIC);
    /* Durable now. Nested in a span, the batch is seen by other threads once the span commits:
     * now, unless the batch may wait and the span is young. A batch that destroys keys never
     * waits: other threads would see the person still there, under a key gone. Should that
     * commit find no room, the keys go all the same: the destruction is durable in the log and
     * was answered, nobody may read the person again; the delivery of their entries waits for
     * the span (a read under a key gone fails, and is tried again). */
    if (rc == STORE_OK && s->span != NULL) {
        s->span_seq = b->last_seq;
        s->span_batches++;
        s->span_pages += b->pages;
        /* The batch is durable whatever the span's commit says: a span that cannot commit yet
         * (the disk is full) is tried again later, one that never will has stopped the store. */
        if (!b->deferred || b->n_shred > 0 || store_now_ms() - s->span_began_ms >= s->span_ms ||
            s->span_pages * STORE_SPAN_PAGE >= STORE_SPAN_ROOM / 2)
            (void)store_span_end(s);
    } else if (rc == STORE_OK) {
        __atomic_store_n(&s->durable_seq, b->last_seq, __ATOMIC_RELEASE);
        if (s->wal != NULL) {
            wal_mark_committed(s->wal);
            wal_committed(s->wal);
            store_span_room(s);
        }
    }
    if (rc == STORE_OK)
        rc = store_batch_committed(b);
    /* A record buffer grown by a batch of large pathways is not kept at that size. */
    if (s != NULL && s->wal_buf_cap > ((size_t)4 << 20)) {
        free(s->wal_buf);
        s->wal_buf = NULL;
        s->wal_buf_cap = 0;
    }
    store_batch_free(b);
    return rc;
}

void store_batch_defer(store_batch_t *b)
{
    if (b != NULL)
        b->deferred = true;
}

/* --- The spanning commit ---------------------------------------------------------------------- */

/* Whether the filesystem refused the commit for want of room (store_fs_full). */
static bool store_commit_full(store_t *s, int mrc)
{
    return mrc == ENOSPC || mrc == EDQUOT || (mrc == EIO && store_fs_full(s));
}

int store_span_end(store_t *s)
{
    if (s->span == NULL)
        return STORE_OK;
    int mrc = mdb_txn_commit(s->span);
    s->span = NULL;
    /* What did not go through is acknowledged all the same: its records are in the log, from
     * where they are replayed into a new transaction (wal_uncommitted_replay). After MAP_FULL
     * the map grows first (its checkpoint names where those records begin); after a full disk
     * the replayed transaction stays open, as the span, to be committed later. */
    while (mrc != MDB_SUCCESS) {
        bool full = store_commit_full(s, mrc);
        if (mrc != MDB_MAP_FULL && !full)
            return store_failed(s, STORE_EPANIC);
        /* Spans are opened only while the map can grow or has room for one (store_span_room),
         * and never during a hot copy: a map that cannot grow here is a store that stops. */
        if (mrc == MDB_MAP_FULL && store_map_grow(s) != STORE_OK)
            return store_failed(s, STORE_EPANIC);
        MDB_txn *txn = NULL;
        unsigned replayed = 0;
        int rc = store_txn_begin(s, 0, &txn);
        if (rc == STORE_OK)
            rc = wal_uncommitted_replay(s->wal, txn, s->dbis, STORE_DB_COUNT, &replayed);
        if (rc == STORE_EFULL) {
            mdb_txn_abort(txn);
            mrc = MDB_MAP_FULL;
            continue;
        }
        if (rc != STORE_OK) {
            if (txn != NULL)
                mdb_txn_abort(txn);
            return store_failed(s, STORE_EPANIC);
        }
        if (full) {
            s->span = txn;
            s->span_began_ms = store_now_ms();
            s->span_stuck = true;
            return STORE_EFULL;
        }
        mrc = mdb_txn_commit(txn);
    }
    s->span_stuck = false;
    s->span_pages = 0;
    wal_mark_committed(s->wal);
    __atomic_store_n(&s->durable_seq, s->span_seq, __ATOMIC_RELEASE);
    wal_committed(s->wal);
    store_span_room(s);
    return STORE_OK;
}

void store_span_room(store_t *s)
{
    if (s->wal == NULL || s->span_ms == 0)
        return;
    MDB_envinfo info;
    MDB_stat st;
    mdb_filehandle_t fd;
    if (mdb_env_info(s->env, &info) != MDB_SUCCESS || mdb_env_stat(s->env, &st) != MDB_SUCCESS ||
        mdb_env_get_fd(s->env, &fd) != MDB_SUCCESS) {
        s->span_room = false;
        return;
    }
    uint64_t used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    /* A map at its maximum must still hold a whole span: its batches are acknowledged before
     * its commit, which could not grow the map (it would then stop the store, where batches
     * committed at once are answered RETRY). */
    if (info.me_mapsize >= s->max_map_size && info.me_mapsize - used < STORE_SPAN_ROOM / 2) {
        s->span_room = false;
        return;
    }
    if (s->span_room && used + STORE_SPAN_ROOM / 2 <= s->span_room_end)
        return;
    /* Without room, tried again at most once a second: on a full disk it keeps failing. */
    int64_t now = store_now_ms();
    if (!s->span_room && s->span_room_tried_ms != 0 && now - s->span_room_tried_ms < 1000)
        return;
    s->span_room_tried_ms = now;
    /* Allocated, not written, and the file's size kept: LMDB's writes past its end then land
     * in blocks the file system already gave it, so a span's commit cannot find the disk full
     * once its batches were acknowledged. Without the room (a file system that is full or
     * cannot allocate ahead), every batch commits at once, as with commit_interval 0. */
    s->span_room = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)used, (off_t)STORE_SPAN_ROOM) == 0;
    if (s->span_room)
        s->span_room_end = used + STORE_SPAN_ROOM;
}

int store_span_commit(store_t *s)
{
    if (s == NULL || (s->batch != NULL && s->batch->txn != NULL))
        return STORE_EINVAL;
    if (s->span != NULL && store_writer != s)
        return STORE_EINVAL;
    return store_span_end(s);
}

int store_span_due(const store_t *s)
{
    if (s == NULL || s->span == NULL)
        return -1;
    int64_t left = s->span_ms - (store_now_ms() - s->span_began_ms);
    return left > 0 ? (int)left : 0;
}

void store_batch_abort(store_batch_t **pb)
{
    if (pb == NULL || *pb == NULL)
        return;
    store_batch_free(*pb);
    *pb = NULL;
}

int store_batch_dedupe_find(store_batch_t *b, const char *partner_id, const char *event_id,
                            uint64_t *seq)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    return store_dedupe_read(b->txn, b->store->dedupe, partner_id, event_id, seq);
}

/* Reads and unseals the pathway of beneficiary_id into b->read_plain, and remembers it (the
 * read cache: read_valid until the batch writes a pathway). STORE_OK or STORE_ENOTFOUND. */
static int store_batch_pathway_load(store_batch_t *b, const char *beneficiary_id, size_t len)
{
    if (b->read_valid && strcmp(b->read_id, beneficiary_id) == 0)
        return b->read_found ? STORE_OK : STORE_ENOTFOUND;
    uint8_t *k = b->read_key;
    store_pathway_key(b->store, beneficiary_id, len, k);
    MDB_val key = {VAULT_HASH_SIZE, k}, value;
    b->read_valid = false; /* until read whole */
    int mrc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        return store_error_from_mdb(mrc);
    b->read_found = mrc == MDB_SUCCESS;
    if (b->read_found) {
        record_pathway2_t r;
        int rc = store_pathway_unseal(b->store, k, &value, &b->read_plain, &b->read_plain_cap,
                                      &b->read_plain_len, &r);
        if (rc != STORE_OK)
            return rc;
        b->read_slot = r.slot;
        b->read_flags = r.flags;
        b->read_last_contact = r.last_contact;
    }
    memcpy(b->read_id, beneficiary_id, len + 1);
    b->read_valid = true;
    return b->read_found ? STORE_OK : STORE_ENOTFOUND;
}

int store_batch_pathway_get(store_batch_t *b, const char *beneficiary_id,
                            Parcours__V1__Pathway **out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || out == NULL)
        return STORE_EINVAL;
    rc = store_batch_pathway_load(b, beneficiary_id, len);
    if (rc != STORE_OK)
        return rc;
    return record_pathway_unpack(b->read_plain, b->read_plain_len, out);
}

/* Hands out the next vault slot, its key generated and synced ahead. */
static int store_batch_slot(store_batch_t *b, uint32_t *slot)
{
    if (b->vault_next == UINT32_MAX)
        return STORE_EFULL;
    int rc = vault_reserve(b->store->vault, b->vault_next);
    if (rc != STORE_OK)
        return rc;
    *slot = b->vault_next++;
    return STORE_OK;
}

/* Remembers a slot to zero once the batch commits, and records it in the shred database. */
static int store_batch_shred(store_batch_t *b, uint32_t slot)
{
    if (b->n_shred == b->shred_cap) {
        size_t cap = b->shred_cap ? 2 * b->shred_cap : 16;
        uint32_t *p = realloc(b->shred, cap * sizeof *p);
        if (p == NULL)
            return store_batch_fail(b, STORE_ENOMEM);
        b->shred = p;
        b->shred_cap = cap;
    }
    b->shred[b->n_shred++] = slot;
    return store_batch_put(b, b->store->shred, &slot, sizeof slot, "", 0, 0);
}

static int store_event_check(const store_event_t *e)
{
    if (e == NULL || (e->raw == NULL && e->raw_len > 0) || e->pathway == NULL ||
        (e->recipients == NULL && e->n_recipients > 0) || (unsigned)e->type > UINT16_MAX ||
        store_id_len(e->partner_id) == 0 || store_id_len(e->event_id) == 0 ||
        store_id_len(e->beneficiary_id) == 0 || e->raw_len > UINT32_MAX)
        return STORE_EINVAL;
    for (size_t i = 0; i < e->n_recipients; i++)
        if (store_id_len(e->recipients[i]) == 0)
            return STORE_EINVAL;
    return STORE_OK;
}

/* Builds the beneficiary's new pathway record in b->scratch (format 1, in clear): the new
 * packed pathway, the old record's seqs (b->read_plain, loaded before) and seq. *len is its
 * length. */
static int store_pathway_build(store_batch_t *b, const store_event_t *e, uint64_t seq, size_t *len)
{
    record_pathway_t old = {0};
    if (b->read_found) {
        int rc = record_pathway_decode(b->read_plain, b->read_plain_len, &old);
        if (rc != STORE_OK)
            return rc;
    }
    size_t packed_len;
    int rc = record_pathway_size(e->pathway, old.n_seqs + 1, &packed_len, len);
    if (rc != STORE_OK)
        return rc;
    if (store_batch_scratch(b, *len) != STORE_OK)
        return STORE_ENOMEM;
    record_pathway_encode(b->scratch, e->pathway, packed_len, &old, seq);
    return STORE_OK;
}

/* FNV-1a of a partner id: the slot its outbox tail starts looking from. */
static size_t tail_hash(const char *id, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)id[i]) * UINT64_C(0x100000001b3);
    return (size_t)h;
}

static struct outbox_tail *tail_slot(struct outbox_tail *tails, size_t cap, const char *id,
                                     size_t len)
{
    size_t i = tail_hash(id, len) & (cap - 1);
    while (tails[i].partner_id[0] != '\0' && strcmp(tails[i].partner_id, id) != 0)
        i = (i + 1) & (cap - 1);
    return &tails[i];
}

/* The batch's tail of partner_id's outbox, read from the tree the first time; NULL with *rc
 * set when it cannot be read or remembered. */
static struct outbox_tail *store_outbox_tail(store_batch_t *b, const char *partner_id,
                                             size_t partner_len, int *rc)
{
    if (b->tails_len + 1 > b->tails_cap / 2) { /* at most half full: probes stay short */
        size_t cap = b->tails_cap ? 2 * b->tails_cap : 64;
        struct outbox_tail *tails = calloc(cap, sizeof(*tails));
        if (tails == NULL) {
            *rc = STORE_ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < b->tails_cap; i++)
            if (b->tails[i].partner_id[0] != '\0')
                *tail_slot(tails, cap, b->tails[i].partner_id, strlen(b->tails[i].partner_id)) =
                    b->tails[i];
        free(b->tails);
        b->tails = tails;
        b->tails_cap = cap;
    }
    struct outbox_tail *t = tail_slot(b->tails, b->tails_cap, partner_id, partner_len);
    if (t->partner_id[0] != '\0')
        return t;
    uint64_t last;
    *rc = store_outbox_read_last(b->txn, b->store->outbox, partner_id, partner_len, UINT64_MAX,
                                 &last);
    if (*rc != STORE_OK)
        return NULL;
    memcpy(t->partner_id, partner_id, partner_len + 1);
    t->last = last;
    t->last_event = 0;
    b->tails_len++;
    return t;
}

/* Numbers an event's outbox entries: one per distinct recipient, at the next partner_seq of
 * each, into b->told (*n of them). Reads only; store_outbox_put writes them. */
static int store_told_prepare(store_batch_t *b, const char *const *recipients, size_t n_recipients,
                              uint64_t seq, size_t *n)
{
    if (n_recipients > b->told_cap) {
        record_told_t *told = realloc(b->told, n_recipients * sizeof(*told));
        if (told == NULL)
            return STORE_ENOMEM;
        b->told = told;
        b->told_cap = n_recipients;
    }
    *n = 0;
    for (size_t i = 0; i < n_recipients; i++) {
        const char *partner_id = recipients[i];
        size_t partner_len = strlen(partner_id);
        int rc = STORE_OK;
        struct outbox_tail *t = store_outbox_tail(b, partner_id, partner_len, &rc);
        if (t == NULL)
            return rc;
        if (t->last_event == seq)
            continue; /* named twice: one entry */
        t->last++;
        t->last_event = seq;
        b->told[(*n)++] = (record_told_t){partner_id, partner_len, t->last};
    }
    return STORE_OK;
}

/* Writes the outbox entries store_told_prepare numbered. */
static int store_outbox_put(store_batch_t *b, size_t n, uint64_t seq)
{
    uint8_t value[8];
    record_u64_encode(value, seq);
    for (size_t i = 0; i < n; i++) {
        uint8_t key[RECORD_KEY_MAX];
        size_t key_len = record_outbox_key(key, b->told[i].partner_id, b->told[i].partner_len,
                                           b->told[i].partner_seq);
        /* Not MDB_APPEND: another partner's keys may sort after this one. */
        int rc = store_batch_put(b, b->store->outbox, key, key_len, value, sizeof value,
                                 MDB_NOOVERWRITE);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

/* Seals a log value (kind, type, dates, slot; body in clear of body_len bytes at body) into
 * out, RECORD_LOG2_HEADER + vault_sealed_len(body_len) bytes. */
static int store_log_seal(store_batch_t *b, uint64_t seq, uint8_t kind, uint16_t type,
                          int64_t occurred_at, int64_t committed_at, uint32_t slot,
                          const uint8_t *body, size_t body_len, uint8_t *out)
{
    record_log2_header(out, kind, type, occurred_at, committed_at, slot);
    uint8_t ad[RECORD_LOG2_AD];
    record_log2_ad(ad, seq, out);
    return vault_seal(b->store->vault, slot, ad, sizeof ad, body, body_len,
                      out + RECORD_LOG2_HEADER);
}

/* Appends a log entry of kind at the next seq, sealed under slot, told to recipients (their
 * outbox entries written too). *seq_out is its seq. */
static int store_log_append(store_batch_t *b, uint8_t kind, uint16_t type, int64_t occurred_at,
                            uint32_t slot, const uint8_t *raw, size_t raw_len,
                            const char *const *recipients, size_t n_recipients, size_t *n_told,
                            uint64_t *seq_out)
{
    uint64_t seq = b->last_seq + 1;
    size_t n;
    int rc = store_told_prepare(b, recipients, n_recipients, seq, &n);
    if (rc != STORE_OK)
        return store_batch_fail(b, rc);
    size_t body_len = record_body_size(raw_len, b->told, n);
    size_t value_len = RECORD_LOG2_HEADER + vault_sealed_len(b->store->vault, body_len);
    /* The body in clear after what scratch holds for the caller (the pathway record), the
     * sealed value in a buffer of its own. */
    if (store_grow(&b->sealed, &b->sealed_cap, value_len) != STORE_OK)
        return store_batch_fail(b, STORE_ENOMEM);
    uint8_t *body = malloc(body_len);
    if (body == NULL)
        return store_batch_fail(b, STORE_ENOMEM);
    record_body_encode(body, raw, raw_len, b->told, n);
    rc = store_log_seal(b, seq, kind, type, occurred_at, b->committed_at, slot, body, body_len,
                        b->sealed);
    store_plain_free(body, body_len);
    if (rc == STORE_OK)
        rc = store_batch_put(b, b->store->log, &seq, sizeof seq, b->sealed, value_len, MDB_APPEND);
    if (rc != STORE_OK)
        return rc == STORE_ENOTFOUND ? store_batch_fail(b, STORE_EIO) : rc;
    b->last_seq = seq;
    b->appended = true;
    rc = store_outbox_put(b, n, seq);
    if (rc != STORE_OK)
        return rc;
    if (n_told != NULL)
        *n_told = n;
    *seq_out = seq;
    return STORE_OK;
}

/* Seals a pathway record in clear (plain, plain_len) under slot and puts it under its key. */
static int store_pathway_put(store_batch_t *b, const uint8_t key[VAULT_HASH_SIZE], uint8_t flags,
                             uint32_t slot, int64_t last_contact, const uint8_t *plain,
                             size_t plain_len)
{
    size_t value_len = RECORD_PATHWAY2_HEADER + vault_sealed_len(b->store->vault, plain_len);
    if (store_grow(&b->sealed, &b->sealed_cap, value_len) != STORE_OK)
        return store_batch_fail(b, STORE_ENOMEM);
    record_pathway2_header(b->sealed, flags, slot, last_contact);
    int rc = vault_seal(b->store->vault, slot, key, VAULT_HASH_SIZE, plain, plain_len,
                        b->sealed + RECORD_PATHWAY2_HEADER);
    if (rc != STORE_OK)
        return store_batch_fail(b, STORE_EIO);
    return store_batch_put(b, b->store->pathways, key, VAULT_HASH_SIZE, b->sealed, value_len, 0);
}

int store_batch_append(store_batch_t *b, const store_event_t *e, uint64_t *seq_out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (store_event_check(e) != STORE_OK)
        return STORE_EINVAL;
    /* The old pathway first (read once: what the rules were given is still in the read cache),
     * then the dedupe record: it is also the check, so a duplicate writes nothing and the dedupe
     * tree is searched once. */
    size_t id_len = strlen(e->beneficiary_id);
    rc = store_batch_pathway_load(b, e->beneficiary_id, id_len);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND)
        return rc;
    bool found = b->read_found;
    uint32_t slot = b->read_slot;
    uint8_t flags = b->read_flags;
    /* The retention clock runs from the last contact: an event's date, but never one ahead of
     * its commit (a date in the future must not keep a person for ever). */
    int64_t contact = e->occurred_at < b->committed_at ? e->occurred_at : b->committed_at;
    int64_t last_contact = found && b->read_last_contact > contact ? b->read_last_contact : contact;
    if (e->not_a_contact && found)
        last_contact = b->read_last_contact; /* parcoursd's own event moves no clock */
    uint64_t seq = b->last_seq + 1;
    size_t record_len;
    rc = store_pathway_build(b, e, seq, &record_len);
    if (rc != STORE_OK)
        return rc;

    store_t *s = b->store;
    size_t partner_len = strlen(e->partner_id);
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len =
        record_dedupe_key(key, e->partner_id, partner_len, e->event_id, strlen(e->event_id));
    record_u64_encode(value, seq);
    rc = store_batch_put_new(b, s->dedupe, key, key_len, value, sizeof value);
    if (rc != STORE_OK)
        return rc;
    if (!found) {
        rc = store_batch_slot(b, &slot);
        if (rc != STORE_OK)
            return store_batch_fail(b, rc);
        flags = 0;
    }
    uint64_t appended;
    rc = store_log_append(b, RECORD_LOG_EVENT, (uint16_t)e->type, e->occurred_at, slot, e->raw,
                          e->raw_len, e->recipients, e->n_recipients, NULL, &appended);
    if (rc != STORE_OK)
        return rc;
    uint8_t pkey[VAULT_HASH_SIZE];
    memcpy(pkey, b->read_key, sizeof pkey); /* loaded above, for this beneficiary */
    rc = store_pathway_put(b, pkey, flags, slot, last_contact, b->scratch, record_len);
    if (rc == STORE_OK)
        rc = store_deadlines_replace(b, pkey, e->old_deadlines, e->n_old_deadlines, e->deadlines,
                                     e->n_deadlines);
    if (rc != STORE_OK)
        return rc;
    if (seq_out != NULL)
        *seq_out = appended;
    return STORE_OK;
}

int store_batch_notice_append(store_batch_t *b, const store_event_t *e, int64_t keep_until,
                              uint64_t *seq_out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (e == NULL || e->pathway != NULL || e->n_old_deadlines > 0 || e->n_deadlines > 0)
        return STORE_EINVAL;
    /* The checks of an event, but for the pathway it does not have. */
    store_event_t checked = *e;
    checked.pathway = (const Parcours__V1__Pathway *)&checked; /* any non-NULL pointer */
    if (store_event_check(&checked) != STORE_OK)
        return STORE_EINVAL;
    store_t *s = b->store;
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len = record_dedupe_key(key, e->partner_id, strlen(e->partner_id), e->event_id,
                                       strlen(e->event_id));
    record_u64_encode(value, b->last_seq + 1);
    rc = store_batch_put_new(b, s->dedupe, key, key_len, value, sizeof value);
    if (rc != STORE_OK)
        return rc;
    uint32_t slot;
    rc = store_batch_slot(b, &slot);
    if (rc != STORE_OK)
        return store_batch_fail(b, rc);
    uint64_t seq;
    rc = store_log_append(b, RECORD_LOG_EVENT, (uint16_t)e->type, e->occurred_at, slot, e->raw,
                          e->raw_len, e->recipients, e->n_recipients, NULL, &seq);
    /* The notice's record: its slot, and when it may go (none: once acknowledged). */
    uint8_t notice[12];
    memcpy(notice, &slot, sizeof slot);
    record_u64_encode(notice + 4, (uint64_t)(keep_until > 0 ? keep_until : 0));
    if (rc == STORE_OK)
        rc = store_batch_put(b, s->notices, &seq, sizeof seq, notice,
                             keep_until > 0 ? sizeof notice : sizeof slot, 0);
    if (rc != STORE_OK)
        return rc;
    b->notices_added++;
    if (seq_out != NULL)
        *seq_out = seq;
    return STORE_OK;
}

typedef struct id_set id_set_t;
static int store_log_tombstone(store_batch_t *b, uint64_t seq, id_set_t *told, bool *was_live);

int store_batch_notice_withdraw(store_batch_t *b, uint64_t seq)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    MDB_val k = {sizeof seq, &seq}, v;
    int mrc = mdb_get(b->txn, b->store->notices, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    if (v.mv_size != 4 && v.mv_size != 12)
        return store_batch_fail(b, STORE_ECORRUPT);
    uint32_t slot;
    memcpy(&slot, v.mv_data, sizeof slot);
    bool live;
    rc = store_log_tombstone(b, seq, NULL, &live);
    if (rc == STORE_ENOTFOUND)
        rc = STORE_OK;
    if (rc == STORE_OK)
        rc = store_batch_del(b, b->store->notices, &seq, sizeof seq);
    if (rc == STORE_OK)
        rc = store_batch_shred(b, slot);
    if (rc == STORE_OK)
        b->notices_removed++;
    else if (b->error == STORE_OK)
        store_batch_fail(b, rc);
    return rc;
}

int store_batch_cursor_set(store_batch_t *b, const char *partner_id, uint64_t up_to)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(partner_id);
    if (len == 0)
        return STORE_EINVAL;
    uint8_t value[8];
    record_u64_encode(value, up_to);
    return store_batch_put(b, b->store->cursors, partner_id, len, value, sizeof value, 0);
}

/* --- Destruction ------------------------------------------------------------------------------ */

/* Partner ids, each once. */
typedef struct id_set {
    char (*ids)[STORE_ID_MAX + 1];
    size_t n, cap;
} id_set_t;

static int id_set_add(id_set_t *set, const char *id, size_t len)
{
    for (size_t i = 0; i < set->n; i++)
        if (strlen(set->ids[i]) == len && memcmp(set->ids[i], id, len) == 0)
            return STORE_OK;
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 16;
        char(*ids)[STORE_ID_MAX + 1] = realloc(set->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return STORE_ENOMEM;
        set->ids = ids;
        set->cap = cap;
    }
    memcpy(set->ids[set->n], id, len);
    set->ids[set->n][len] = '\0';
    set->n++;
    return STORE_OK;
}

static int told_into_set(const record_told_t *t, void *ctx)
{
    return id_set_add(ctx, t->partner_id, t->partner_len);
}

/* The header of the log entry at seq in the batch. */
static int store_log_head(store_batch_t *b, uint64_t seq, record_log2_t *head)
{
    MDB_val key = {sizeof seq, &seq}, value;
    int rc = store_error_from_mdb(mdb_get(b->txn, b->store->log, &key, &value));
    return rc == STORE_OK ? record_log2_decode(value.mv_data, value.mv_size, head) : rc;
}

/* Turns the log entry at seq into a tombstone, adding the partners told of it to told (may be
 * NULL), those of a retracted event too. *was_live says whether there was an event or a notice
 * to destroy (a retracted event was destroyed already: only who was told of it is left). */
static int store_log_tombstone(store_batch_t *b, uint64_t seq, id_set_t *told, bool *was_live)
{
    store_t *s = b->store;
    record_log2_t head;
    *was_live = false;
    int rc = store_log_head(b, seq, &head);
    if (rc != STORE_OK || head.kind == RECORD_LOG_TOMBSTONE)
        return rc;
    store_log_entry_t entry;
    rc = store_log_told_walk(s, b->txn, seq, told != NULL ? told_into_set : NULL, told, &entry);
    if (rc != STORE_OK)
        return rc;
    /* Its key destroyed, a notice being settled: nothing is left to read. */
    *was_live = head.kind != RECORD_LOG_RETRACTED && entry.kind != STORE_LOG_WITHDRAWN;
    if (!*was_live && head.kind != RECORD_LOG_RETRACTED)
        return STORE_OK;
    uint8_t tombstone[RECORD_LOG2_HEADER];
    record_log2_header(tombstone, RECORD_LOG_TOMBSTONE, (uint16_t)entry.type, entry.occurred_at,
                       entry.committed_at, 0);
    return store_batch_put(b, s->log, &seq, sizeof seq, tombstone, sizeof tombstone, 0);
}

/* --- Rectification ---------------------------------------------------------------------------- */

int store_batch_history(store_batch_t *b, const char *beneficiary_id, store_log_fn fn, void *ctx)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || fn == NULL)
        return STORE_EINVAL;
    rc = store_batch_pathway_load(b, beneficiary_id, len);
    if (rc != STORE_OK)
        return rc;
    record_pathway_t record;
    rc = record_pathway_decode(b->read_plain, b->read_plain_len, &record);
    if (rc != STORE_OK)
        return rc;
    /* The seqs copied out: fn may read the store, and the read cache with it. */
    size_t n = record.n_seqs;
    uint64_t *seqs = malloc(n * sizeof *seqs + 1);
    if (seqs == NULL)
        return STORE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        seqs[i] = record_pathway_seq(&record, i);
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        MDB_val key = {sizeof seqs[i], &seqs[i]}, value;
        store_log_entry_t entry;
        rc = store_error_from_mdb(mdb_get(b->txn, b->store->log, &key, &value));
        if (rc == STORE_ENOTFOUND)
            rc = STORE_ECORRUPT; /* a pathway names every seq of its person */
        if (rc == STORE_OK)
            rc = store_log_unseal(b->store, &key, &value, &buf, &cap, &entry, NULL, NULL, NULL);
        if (rc == STORE_OK && fn(&entry, ctx) != 0)
            break;
    }
    if (buf != NULL)
        store_plain_free(buf, cap);
    free(seqs);
    return rc;
}

int store_batch_log_told(store_batch_t *b, uint64_t seq, store_told_fn fn, void *ctx)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (fn == NULL)
        return STORE_EINVAL;
    return store_log_told_in(b->store, b->txn, seq, fn, ctx);
}

/* Destroys the pathway under key (see store_batch_erase). erased_at >= 0: only when its first
 * event was committed at or before it. */
static int store_erase_key(store_batch_t *b, const uint8_t key[VAULT_HASH_SIZE],
                           const uint8_t *notice, size_t notice_len, int notice_reason,
                           int64_t erased_at, store_erasure_t *out)
{
    store_t *s = b->store;
    uint8_t built[128 + STORE_ID_MAX];
    memset(out, 0, sizeof *out);
    MDB_val k = {VAULT_HASH_SIZE, (void *)key}, value;
    int mrc = mdb_get(b->txn, s->pathways, &k, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    uint8_t *plain = NULL;
    size_t cap = 0, plain_len;
    record_pathway2_t r2;
    record_pathway_t r;
    int rc = store_pathway_unseal(s, key, &value, &plain, &cap, &plain_len, &r2);
    if (rc == STORE_OK)
        rc = record_pathway_decode(plain, plain_len, &r);
    if (rc == STORE_OK && erased_at >= 0) {
        /* A person registered anew after their erasure is not the one the register names. */
        uint64_t first = r.n_seqs > 0 ? record_pathway_seq(&r, 0) : 0;
        MDB_val lk = {sizeof first, &first}, lv;
        record_log2_t head;
        rc = r.n_seqs == 0 ? STORE_ECORRUPT
             : store_error_from_mdb(mdb_get(b->txn, s->log, &lk, &lv)) != STORE_OK
                 ? STORE_ECORRUPT
                 : record_log2_decode(lv.mv_data, lv.mv_size, &head);
        if (rc == STORE_OK && head.committed_at > erased_at)
            rc = STORE_ENOTFOUND;
    }
    if (rc == STORE_OK)
        rc = record_pathway_unpack(plain, plain_len, &out->pathway);
    uint64_t *seqs = NULL;
    size_t n_seqs = rc == STORE_OK ? r.n_seqs : 0;
    if (rc == STORE_OK && (seqs = malloc(n_seqs * sizeof *seqs + 1)) == NULL)
        rc = STORE_ENOMEM;
    for (size_t i = 0; i < n_seqs && seqs != NULL; i++)
        seqs[i] = record_pathway_seq(&r, i);
    store_plain_free(plain, cap);
    id_set_t told = {0};
    for (size_t i = 0; rc == STORE_OK && i < n_seqs; i++) {
        bool live;
        rc = store_log_tombstone(b, seqs[i], notice != NULL || notice_reason != 0 ? &told : NULL,
                                 &live);
        if (rc == STORE_OK && live)
            out->events++;
    }
    free(seqs);
    if (rc == STORE_OK)
        rc = store_batch_del(b, s->pathways, key, VAULT_HASH_SIZE);
    if (rc == STORE_OK)
        rc = store_batch_shred(b, r2.slot);
    if (rc == STORE_OK && notice == NULL && notice_reason != 0) {
        /* The purge's notice, made here: only the store has the id, once unsealed. */
        Parcours__V1__Erasure e = PARCOURS__V1__ERASURE__INIT;
        e.beneficiary_id = out->pathway->beneficiary_id;
        e.reason = (Parcours__V1__ErasureReason)notice_reason;
        e.erased_at = b->committed_at;
        if (parcours__v1__erasure__get_packed_size(&e) <= sizeof built) {
            notice_len = parcours__v1__erasure__pack(&e, built);
            notice = built;
        }
    }
    if (rc == STORE_OK && notice != NULL && told.n > 0) {
        uint32_t slot;
        const char **ids = malloc(told.n * sizeof *ids);
        rc = ids == NULL ? STORE_ENOMEM : store_batch_slot(b, &slot);
        for (size_t i = 0; rc == STORE_OK && i < told.n; i++)
            ids[i] = told.ids[i];
        if (rc == STORE_OK)
            rc = store_log_append(b, RECORD_LOG_ERASURE, 0, b->committed_at, slot, notice,
                                  notice_len, ids, told.n, &out->told, &out->notice_seq);
        free(ids);
        if (rc == STORE_OK)
            rc = store_batch_put(b, s->notices, &out->notice_seq, sizeof out->notice_seq, &slot,
                                 sizeof slot, 0);
        if (rc == STORE_OK)
            b->notices_added++;
    }
    free(told.ids);
    if (rc != STORE_OK) {
        parcours__v1__pathway__free_unpacked(out->pathway, NULL);
        out->pathway = NULL;
        /* A pathway that is not there, or younger than the register's erasure: nothing was
         * written, the batch lives on. Anything else has killed it (or must). */
        if (rc != STORE_ENOTFOUND && b->error == STORE_OK)
            store_batch_fail(b, rc);
    }
    return rc;
}

/* The partners told of an entry, copied out of the walk's buffer. */
typedef struct told_copy {
    char (*ids)[STORE_ID_MAX + 1];
    record_told_t *told;
    size_t n, cap;
} told_copy_t;

static int told_into_copy(const record_told_t *t, void *ctx)
{
    told_copy_t *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char(*ids)[STORE_ID_MAX + 1] = realloc(c->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return STORE_ENOMEM;
        c->ids = ids;
        record_told_t *told = realloc(c->told, cap * sizeof(*told));
        if (told == NULL)
            return STORE_ENOMEM;
        c->told = told;
        c->cap = cap;
    }
    memcpy(c->ids[c->n], t->partner_id, t->partner_len);
    c->ids[c->n][t->partner_len] = '\0';
    c->told[c->n] = (record_told_t){NULL, t->partner_len, t->partner_seq};
    c->n++;
    return 0;
}

int store_batch_withdraw(store_batch_t *b, uint64_t seq)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    record_log2_t head;
    rc = store_log_head(b, seq, &head);
    if (rc == STORE_OK && head.kind != RECORD_LOG_EVENT)
        return STORE_ENOTFOUND;
    /* What is left: who was told of it, sealed under the person's key as it was, so that an
     * erasure of the person still reaches them; the event itself is gone. */
    told_copy_t c = {0};
    store_log_entry_t entry;
    if (rc == STORE_OK)
        rc = store_log_told_walk(b->store, b->txn, seq, told_into_copy, &c, &entry);
    if (rc == STORE_OK && entry.kind != STORE_LOG_EVENT)
        rc = STORE_ECORRUPT; /* an event whose key is gone while its person lives */
    for (size_t i = 0; i < c.n; i++)
        c.told[i].partner_id = c.ids[i];
    size_t body_len = record_body_size(0, c.told, c.n);
    size_t value_len = RECORD_LOG2_HEADER + vault_sealed_len(b->store->vault, body_len);
    uint8_t *body = rc == STORE_OK ? malloc(body_len) : NULL;
    if (rc == STORE_OK &&
        (body == NULL || store_grow(&b->sealed, &b->sealed_cap, value_len) != STORE_OK))
        rc = STORE_ENOMEM;
    if (rc == STORE_OK) {
        record_body_encode(body, (const uint8_t *)"", 0, c.told, c.n);
        rc = store_log_seal(b, seq, RECORD_LOG_RETRACTED, head.type, head.occurred_at,
                            head.committed_at, head.slot, body, body_len, b->sealed);
    }
    if (rc == STORE_OK)
        rc = store_batch_put(b, b->store->log, &seq, sizeof seq, b->sealed, value_len, 0);
    free(body);
    free(c.ids);
    free(c.told);
    if (rc != STORE_OK && b->error == STORE_OK)
        store_batch_fail(b, rc);
    return rc;
}

int store_batch_erase(store_batch_t *b, const char *beneficiary_id, const uint8_t *notice,
                      size_t notice_len, store_erasure_t *out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || out == NULL || (notice == NULL && notice_len > 0) || notice_len > UINT32_MAX)
        return STORE_EINVAL;
    uint8_t key[VAULT_HASH_SIZE];
    store_pathway_key(b->store, beneficiary_id, len, key);
    return store_erase_key(b, key, notice, notice_len, 0, -1, out);
}

int store_batch_erase_hash(store_batch_t *b, const uint8_t hash[STORE_HASH_SIZE], int64_t erased_at,
                           store_erasure_t *out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (hash == NULL || out == NULL || erased_at < 0)
        return STORE_EINVAL;
    return store_erase_key(b, hash, NULL, 0, 0, erased_at, out);
}

typedef struct notice_walk {
    store_batch_t *b;
    bool unacked; /* a partner told has not acknowledged it yet */
} notice_walk_t;

/* 1 (stop) at the first partner told whose cursor is short of its partner_seq. */
static int told_unacked(const record_told_t *t, void *ctx)
{
    notice_walk_t *w = ctx;
    store_batch_t *b = w->b;
    MDB_val ck = {t->partner_len, (void *)t->partner_id}, cv;
    uint64_t up_to = 0;
    int mrc = mdb_get(b->txn, b->store->cursors, &ck, &cv);
    if (mrc == MDB_SUCCESS && record_u64_decode(cv.mv_data, cv.mv_size, &up_to) != STORE_OK)
        return STORE_ECORRUPT;
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        return store_error_from_mdb(mrc);
    if (up_to >= t->partner_seq)
        return 0;
    w->unacked = true;
    return 1;
}

/* Whether every partner told of the notice at seq has acknowledged it. */
static int store_notice_acked(store_batch_t *b, uint64_t seq, bool *acked)
{
    store_log_entry_t entry;
    notice_walk_t w = {b, false};
    int rc = store_log_told_walk(b->store, b->txn, seq, told_unacked, &w, &entry);
    if (rc == STORE_ENOTFOUND) {
        *acked = true; /* nothing left to deliver */
        return STORE_OK;
    }
    *acked = rc == STORE_OK && !w.unacked;
    return rc;
}

int store_batch_notices_settle(store_batch_t *b, size_t *settled)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (settled != NULL)
        *settled = 0;
    store_t *s = b->store;
    /* The notices are listed first: writing under an open cursor would move it. */
    MDB_cursor *c;
    int mrc = mdb_cursor_open(b->txn, s->notices, &c);
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    struct pending {
        uint64_t seq;
        uint32_t slot;
    } *list = NULL;
    uint64_t keep_until = 0;
    size_t n = 0, cap = 0;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        /* A slot, and for some (a move away, kept for its bridges) when it may go. */
        if (key.mv_size != 8 || (value.mv_size != 4 && value.mv_size != 12) ||
            (value.mv_size == 12 &&
             record_u64_decode((const uint8_t *)value.mv_data + 4, 8, &keep_until) != STORE_OK)) {
            rc = STORE_ECORRUPT;
            break;
        }
        if (value.mv_size == 12 && (int64_t)keep_until > b->committed_at)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct pending *p = realloc(list, cap * sizeof *p);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            list = p;
        }
        memcpy(&list[n].seq, key.mv_data, 8);
        memcpy(&list[n].slot, value.mv_data, 4);
        n++;
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_NOTFOUND && mrc != MDB_SUCCESS)
        rc = store_error_from_mdb(mrc);
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        bool acked, live;
        rc = store_notice_acked(b, list[i].seq, &acked);
        if (rc != STORE_OK || !acked)
            continue;
        rc = store_log_tombstone(b, list[i].seq, NULL, &live);
        if (rc == STORE_ENOTFOUND)
            rc = STORE_OK;
        if (rc == STORE_OK)
            rc = store_batch_del(b, s->notices, &list[i].seq, sizeof list[i].seq);
        if (rc == STORE_OK)
            rc = store_batch_shred(b, list[i].slot);
        if (rc == STORE_OK) {
            b->notices_removed++;
            if (settled != NULL)
                (*settled)++;
        }
    }
    free(list);
    if (rc != STORE_OK && b->error == STORE_OK)
        store_batch_fail(b, rc);
    return rc;
}

/* --- Retention ---------------------------------------------------------------------------------
 */

/* Sets or clears one flag of a pathway's clear header. */
static int store_batch_flag(store_batch_t *b, const char *beneficiary_id, uint8_t flag, bool on);

int store_batch_hold(store_batch_t *b, const char *beneficiary_id, bool hold)
{
    return store_batch_flag(b, beneficiary_id, RECORD_PATHWAY_FLAG_HOLD, hold);
}

int store_batch_oppose(store_batch_t *b, const char *beneficiary_id, bool opposed)
{
    return store_batch_flag(b, beneficiary_id, RECORD_PATHWAY_FLAG_OPPOSED, opposed);
}

static int store_batch_flag(store_batch_t *b, const char *beneficiary_id, uint8_t flag, bool on)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0)
        return STORE_EINVAL;
    uint8_t k[VAULT_HASH_SIZE];
    store_pathway_key(b->store, beneficiary_id, len, k);
    MDB_val key = {sizeof k, k}, value;
    int mrc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    record_pathway2_t r;
    rc = record_pathway2_decode(value.mv_data, value.mv_size, &r);
    if (rc != STORE_OK)
        return rc;
    /* The flag is in the record's clear header: the sealed part is put back as it is. */
    if (store_grow(&b->sealed, &b->sealed_cap, value.mv_size) != STORE_OK)
        return store_batch_fail(b, STORE_ENOMEM);
    memcpy(b->sealed, value.mv_data, value.mv_size);
    uint8_t flags = on ? (uint8_t)(r.flags | flag) : (uint8_t)(r.flags & ~flag);
    record_pathway2_header(b->sealed, flags, r.slot, r.last_contact);
    return store_batch_put(b, b->store->pathways, k, sizeof k, b->sealed, value.mv_size, 0);
}

/* The key after key (16 bytes, big-endian): false when key was the greatest. */
bool store_key_next(uint8_t key[VAULT_HASH_SIZE])
{
    for (int i = VAULT_HASH_SIZE - 1; i >= 0; i--)
        if (++key[i] != 0)
            return true;
    return false;
}

int store_batch_purge(store_batch_t *b, uint8_t cursor[STORE_HASH_SIZE], size_t examine,
                      int64_t destroy_before, store_destroyed_fn fn, void *ctx, store_purge_t *out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (cursor == NULL || out == NULL || examine == 0)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    store_t *s = b->store;
    /* The due keys are listed first, reading clocks only; then destroyed (a write under an
     * open cursor would move it). */
    uint8_t(*due)[VAULT_HASH_SIZE] = malloc(examine * VAULT_HASH_SIZE);
    if (due == NULL)
        return store_batch_fail(b, STORE_ENOMEM);
    size_t n_due = 0;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(b->txn, s->pathways, &c);
    if (mrc != MDB_SUCCESS) {
        free(due);
        return store_batch_fail(b, store_error_from_mdb(mrc));
    }
    MDB_val key = {VAULT_HASH_SIZE, cursor}, value;
    uint8_t last[VAULT_HASH_SIZE] = {0};
    bool any = false;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_SET_RANGE);
         mrc == MDB_SUCCESS && out->examined < examine;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        record_pathway2_t r;
        if (key.mv_size != VAULT_HASH_SIZE ||
            record_pathway2_decode(value.mv_data, value.mv_size, &r) != STORE_OK) {
            rc = STORE_ECORRUPT;
            break;
        }
        out->examined++;
        memcpy(last, key.mv_data, VAULT_HASH_SIZE);
        any = true;
        if (r.last_contact >= destroy_before)
            continue;
        if (r.flags & RECORD_PATHWAY_FLAG_HOLD)
            out->held++;
        else
            memcpy(due[n_due++], key.mv_data, VAULT_HASH_SIZE);
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    out->wrapped = rc == STORE_OK && mrc == MDB_NOTFOUND;
    if (rc == STORE_OK) {
        if (out->wrapped || !any)
            memset(cursor, 0, VAULT_HASH_SIZE);
        else {
            memcpy(cursor, last, VAULT_HASH_SIZE);
            if (!store_key_next(cursor)) {
                memset(cursor, 0, VAULT_HASH_SIZE);
                out->wrapped = true;
            }
        }
    }
    for (size_t i = 0; rc == STORE_OK && i < n_due; i++) {
        store_erasure_t done;
        rc = store_erase_key(b, due[i], NULL, 0,
                             PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_RETENTION, -1, &done);
        if (rc == STORE_OK) {
            out->destroyed++;
            out->events += done.events;
            out->told += done.told;
            if (fn != NULL)
                fn(done.pathway, ctx);
            parcours__v1__pathway__free_unpacked(done.pathway, NULL);
        }
    }
    free(due);
    if (rc != STORE_OK && b->error == STORE_OK)
        store_batch_fail(b, rc);
    return rc;
}

int store_batch_ack_mark(store_batch_t *b, const char *partner_id, uint64_t up_to, int64_t at)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(partner_id);
    if (len == 0)
        return STORE_EINVAL;
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len = record_outbox_key(key, partner_id, len, up_to);
    record_u64_encode(value, (uint64_t)at);
    return store_batch_put(b, b->store->acks, key, key_len, value, sizeof value, 0);
}
