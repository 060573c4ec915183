/*
 * store.h: the Parcours store, the only code that touches LMDB.
 *
 * One store is one data directory holding one LMDB environment with these databases:
 *   log       seq (u64) -> the event as checked (its canonical encoding) with the partners told of
 *             it, its type, occurred_at and commit time; a tombstone (seq, type, dates) once its
 *             person was destroyed
 *   dedupe    (partner_id, event_id) -> seq (kept after a destruction: event ids are not personal,
 *             and a re-sent old event must not bring its person back)
 *   pathways  keyed hash of beneficiary_id -> the Pathway and the seqs of the beneficiary's events
 *   outbox    (partner_id, partner_seq) -> seq, partner_seq running 1, 2, 3... with no gap
 *   cursors   partner_id -> the last partner_seq the partner acknowledged
 *   shred, notices   destructions under way (record.h)
 *   meta      "schema" -> schema version, "last_seq" -> the last seq committed,
 *             "stream_id" -> the incarnation of the partner streams (see store_stream_id_renew)
 * and, beside data.mdb, the vault keys.vault (vault.h): every personal byte is sealed under its
 * person's key there, and destroying a person zeroes that key in place, so that no copy of their
 * bytes LMDB left in free or reused pages can be read again.
 *
 * The schema is designed for the disk: a durable commit costs every distinct page the batch
 * dirtied, so an event writes only one random key (its pathway; the dedupe key is time-ordered
 * when libparcours made the event id) and otherwise appends (log by seq, outbox by partner_seq).
 * A beneficiary's history is the list of seqs kept inside its pathway record, not a separate
 * index.
 *
 * Writes go through a batch: begin, apply many events, commit once (one fsync): the group-commit
 * unit of the daemon. A batch is all or nothing. When the map is full the store aborts the
 * transaction, grows the map (doubling, up to max_map_size) and replays the batch's writes by
 * itself, so callers never see MDB_MAP_FULL; past max_map_size they get STORE_EFULL.
 *
 * A durable store makes a batch durable by its write-ahead record (wal.h), so LMDB's own commit
 * can wait: a batch marked with store_batch_defer is a transaction nested in a spanning one,
 * which takes the deferred batches of up to commit_ms and is committed once (store_span_commit),
 * so that a page many of them touch is written once. Until then the writing thread sees those
 * batches (its reads commit the span first) and other threads do not, nor does
 * store_durable_seq count them: what is delivered is what other threads can read.
 *
 * Growing the map remaps the file, which the read transaction of a running store_*_foreach
 * still points into: while a foreach callback runs, a batch cannot grow the map, and the put or
 * commit that needed it fails with STORE_EINVAL and kills the batch. Callers must therefore not
 * write to a batch from inside a foreach callback.
 *
 * Every function returns STORE_OK (0) or a negative STORE_E* code; store_strerror() names it.
 * The store never logs and never exits. It is not thread-safe: one thread owns a store. The
 * environment is opened with MDB_NOTLS, so that thread may call the read functions (each in its
 * own read transaction) while one of its batches is open; they do not see the batch's writes.
 */
#ifndef PARCOURS_STORE_H
#define PARCOURS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"

typedef struct store store_t;
typedef struct store_batch store_batch_t;

/* Error codes. */
#define STORE_OK        0
#define STORE_ENOTFOUND (-1) /* no such key */
#define STORE_EFULL     (-2) /* map at max_map_size, or the filesystem is full: retry later */
#define STORE_EIO       (-3) /* an I/O or LMDB error the store cannot recover from */
#define STORE_ECORRUPT  (-4) /* a record cannot be decoded */
#define STORE_ESCHEMA   (-5) /* the data directory was written by another schema version */
#define STORE_ENOMEM    (-6) /* out of memory */
#define STORE_EINVAL    (-7) /* bad argument (NULL, id too long, batch already failed...) */
#define STORE_EACCESS   (-8) /* permission denied on the data directory */
#define STORE_EEXIST    (-9) /* the (partner_id, event_id) pair is already in the log */
#define STORE_EPANIC                                                                               \
    (-10) /* LMDB can no longer write this environment (a meta page write                          \
           * failed): only closing and opening it again can help */

/* Schema 2 (2026-12): the log holds the canonical encoding of each checked event, a pathway's
 * version counts its current episode. Schema 3 (2026-12): personal bytes sealed under per-person
 * keys (vault.h), pathways keyed by a keyed hash, the partners told kept with each event. A store
 * of schema 1 or 2 is upgraded when opened. */
#define STORE_SCHEMA_VERSION 3
#define STORE_HASH_SIZE      16 /* the keyed hash naming a person (store_id_hash) */
#define STORE_ID_MAX         64 /* longest partner, event or beneficiary id, in bytes */

/* Returns a static sentence naming err. Never NULL. */
const char *store_strerror(int err);

typedef struct store_options {
    size_t initial_map_size; /* bytes the map starts with (default 64 MiB) */
    size_t max_map_size;     /* bytes the map may grow to (default 16 GiB) */
    bool durable;            /* fsync every commit (default true; false only for benchmarks) */
    unsigned max_readers;    /* concurrent read transactions (default 126) */
    size_t copy_headroom;    /* map grown ahead of a hot copy, beyond what is used (1 GiB) */
    unsigned checkpoint_ms;  /* durable: ms between checkpoints (default 200; wal.h) */
    unsigned commit_ms;      /* durable: longest a deferred batch waits for LMDB's commit (ms,
                              * default 5; 0: every batch commits at once) */
} store_options_t;

/* Fills o with the defaults above. */
void store_options_default(store_options_t *o);

/*
 * Opens the store in directory dir, creating the directory (mode 0700) and the databases if
 * needed, and clears the reader slots of dead processes. options may be NULL for the defaults.
 * On success *out is a new store the caller owns (store_close). Errors: STORE_EACCESS,
 * STORE_ESCHEMA, STORE_ECORRUPT (dir holds a data file LMDB cannot read), STORE_EIO,
 * STORE_ENOMEM, STORE_EINVAL.
 */
int store_open(const char *dir, const store_options_t *options, store_t **out);

/* Closes the store and sets *s to NULL. Takes NULL and *s == NULL. No batch may be open. */
void store_close(store_t **s);

typedef struct store_info {
    uint64_t last_seq;        /* the last seq committed, 0 for an empty log */
    size_t map_size;          /* bytes of the map now */
    size_t map_used;          /* bytes of the map in use (pages used times page size) */
    size_t max_map_size;      /* what the map may grow to */
    unsigned readers_used;    /* reader slots in use */
    unsigned readers_max;     /* reader slots in all */
    unsigned map_grows;       /* times the map grew since open */
    bool durable;             /* commits are durable: through the write-ahead log */
    uint64_t stream_id;       /* names the partner streams' incarnation; never 0 */
    unsigned wal_replayed;    /* write-ahead records replayed at open (the last stop was a crash) */
    uint64_t wal_records;     /* write-ahead records appended since open */
    uint64_t wal_checkpoints; /* checkpoints saved since open (LMDB's file synced) */
    bool spanning;            /* deferred batches wait for a spanning commit now: commit_ms > 0
                               * and the room for it allocated (store_batch_defer) */
} store_info_t;

/* Fills info with figures of the store. */
int store_info(store_t *s, store_info_t *info);

/* False when LMDB has given up on the environment (after a failed meta page write every later
 * transaction fails, STORE_EPANIC): the process must close the store and open it again, which
 * a restart does. Cheap: begins and ends a read transaction. */
bool store_usable(store_t *s);

/* A number that changes whenever a batch of this process commits: what was read before is
 * still what the store holds as long as it has not changed (the daemon is the only writer). */
uint64_t store_generation(const store_t *s);

/*
 * One snapshot for several reads. Between store_read_hold and store_read_release, every read of
 * s this thread makes sees the same committed state, whatever batches other threads commit
 * meanwhile: the delivery thread holds one for a pass over its subscribers, so that an event
 * read once serves them all, in a state where they agree. Holds nest (each hold wants its
 * release). While held, this thread's batches may not grow the map, and the map may not grow
 * for anyone until the release: hold for a pass, not for long. STORE_OK, or the error of the
 * read transaction's begin (nothing is held then); STORE_EINVAL when this thread already holds
 * another store's.
 */
int store_read_hold(store_t *s);
void store_read_release(store_t *s);

/* The id of the committed state this thread's reads of s see now: the held snapshot's, or else
 * the last committed. Equal ids, equal contents. */
uint64_t store_snapshot(store_t *s);

/* The last seq of the log that is durable and that every thread can read. A read may see a few
 * later ones for a moment (a batch committed, its write-ahead record not yet flushed): what is
 * sent to a partner must not go past this, since a power cut would take such a batch back and
 * number its seqs again. Deferred batches count once their span is committed. */
uint64_t store_durable_seq(const store_t *s);

/* Called once, the first time a store function finds the store unusable (it then returns
 * STORE_EPANIC): from inside that function, so fn must only take note and schedule (stop
 * reading, exit the loop), never call the store. NULL for none. */
typedef void (*store_unusable_fn)(void *ctx);
void store_on_unusable(store_t *s, store_unusable_fn fn, void *ctx);

/* --- Hot copies ------------------------------------------------------------------------------- */

/*
 * A copy is a compacted, consistent snapshot of the store (LMDB's own compacting copy, in one
 * read transaction) written to a file descriptor by another thread while batches go on. The map
 * cannot be remapped under that thread's reads, so growth is fenced for the copy's duration:
 *
 *   store_copy_begin   the owning thread, no batch open: grows the map ahead, to what is used
 *                      plus the larger of what is used and copy_headroom (within max_map_size:
 *                      the map is address space, not disk), then forbids growing until
 *                      store_copy_end.
 *                      A batch that needs more map meanwhile fails with STORE_EFULL (retry).
 *   store_copy_fd      any thread, between begin and end: writes the copy to fd (a file or a
 *                      pipe): LMDB's copy, then the vault as it is once that copy is written
 *                      (a person destroyed meanwhile is destroyed in the copy too), then 16
 *                      bytes: the vault's length (u64) and "PCRSVLT1". store_copy_unpack
 *                      parts such a file into a data directory again.
 *                      pipe; a reader that goes away makes it fail with STORE_EIO).
 *   store_copy_end     the owning thread, once the copying thread is done with fd.
 *
 * begin: STORE_OK; STORE_EFULL when the map could not grow ahead (the copy is begun all the
 * same: growth is only an allowance); STORE_EINVAL (a batch or a copy is open) or another
 * error of growing, and then no copy is begun. One copy at a time per store.
 */
int store_copy_begin(store_t *s);
int store_copy_fd(store_t *s, int fd);
void store_copy_end(store_t *s);

/* Writes the copy in file `copy` (as store_copy_fd wrote it) into directory dir as data.mdb and
 * keys.vault, each fsynced (dir too). A copy made before schema 3 (no vault) gives data.mdb
 * alone: opening it upgrades it. STORE_EEXIST when dir holds either file; STORE_ECORRUPT when the
 * copy's tail does not add up; STORE_EIO with errno set. Nothing is left behind on failure. */
int store_copy_unpack(const char *copy, const char *dir);

/*
 * Gives the store a new stream id. A partner_seq names one notification only within one stream
 * id: a store restored from a copy numbers its outboxes again from where the copy stood, so
 * the numbers after that point may already have named other notifications, which partners
 * saw. Restoring therefore renews the id, and partners learn from it that the stream went
 * back. The owning thread, no batch open: STORE_OK, STORE_EINVAL, or a write error.
 */
int store_stream_id_renew(store_t *s);

/* --- Writing: batches ------------------------------------------------------------------------ */

/*
 * Begins a batch (one LMDB write transaction). committed_at (unix ms) is stamped on every event
 * the batch appends. Only one batch may be open at a time. On success *out is owned by the caller
 * until store_batch_commit or store_batch_abort.
 */
int store_batch_begin(store_t *s, int64_t committed_at, store_batch_t **out);

/*
 * Commits the batch durably (fsync when the store is durable) and frees it; *b is set to NULL
 * whatever the result. On error nothing of the batch is in the store: STORE_EFULL (retry later),
 * STORE_EIO.
 */
int store_batch_commit(store_batch_t **b);

/* Drops everything the batch wrote and frees it; *b is set to NULL. Takes NULL. */
void store_batch_abort(store_batch_t **b);

/* Lets the batch's LMDB commit wait, once it is durable, for the spanning commit (above): its
 * writes are then seen by other threads, and counted by store_durable_seq, at store_span_commit
 * or at the first commit of a batch not deferred, at most commit_ms after the span began
 * (store_span_due). A batch that destroys keys does not wait. No effect on a store that is not
 * durable or has commit_ms 0. */
void store_batch_defer(store_batch_t *b);

/* Commits the spanning transaction, if one is open; the thread that writes, no batch's
 * transaction open. STORE_OK; STORE_EFULL when the file system is full (the deferred batches,
 * durable in the log, stay waiting: call again later); STORE_EPANIC when the store stopped
 * (the log brings those batches back at the next open); STORE_EINVAL. */
int store_span_commit(store_t *s);

/* Milliseconds until the span must be committed (0: now), or -1 when none is open. */
int store_span_due(const store_t *s);

/*
 * Looks up (partner_id, event_id) in the dedupe index, seeing what this batch already appended.
 * STORE_OK with *seq set, or STORE_ENOTFOUND.
 */
int store_batch_dedupe_find(store_batch_t *b, const char *partner_id, const char *event_id,
                            uint64_t *seq);

/*
 * Reads a beneficiary's pathway, seeing what this batch already appended. On STORE_OK *out is
 * a pathway the caller owns (free it with parcours__v1__pathway__free_unpacked(*out, NULL));
 * STORE_ENOTFOUND when the beneficiary has no pathway.
 */
int store_batch_pathway_get(store_batch_t *b, const char *beneficiary_id,
                            Parcours__V1__Pathway **out);

/* One deadline of a pathway (docs/deadlines.md): what the daemon's rules say runs on it. */
typedef struct store_deadline {
    int kind;       /* a Parcours__V1__DeadlineKind, 1 to 255 */
    int64_t due_at; /* unix ms, >= 0 */
    int64_t since;  /* what its clock runs from, unix ms */
} store_deadline_t;
#define STORE_DEADLINES_MAX 8

/* An event the rules accepted, with what it changes. Nothing here is retained by the store. */
typedef struct store_event {
    const uint8_t *raw; /* the packed Event: the caller's canonical encoding of the checked event */
    size_t raw_len;
    Parcours__V1__EventType type;
    int64_t occurred_at;
    const char *partner_id;               /* the sender */
    const char *event_id;                 /* unique per partner */
    const char *beneficiary_id;           /* whose pathway */
    const Parcours__V1__Pathway *pathway; /* the pathway after the event */
    const char *const *recipients;        /* partner ids to notify; each gets one outbox entry */
    size_t n_recipients;
    /* The pathway's deadlines before the event (none for a new pathway) and after it (at most
     * STORE_DEADLINES_MAX each), as the caller's rules compute them from the two pathways: the
     * index by due time loses the first and gains the second (an entry in both stays as it
     * is). NULL with 0: none. The index holds what callers say: every write of a pathway, and
     * every destruction (store_batch_deadlines_drop), must say it the same way. */
    const store_deadline_t *old_deadlines;
    size_t n_old_deadlines;
    const store_deadline_t *deadlines;
    size_t n_deadlines;
    bool not_a_contact; /* parcoursd's own event (DeadlineMissed): the retention clock stays */
} store_event_t;

/*
 * Appends an accepted event: its log entry (next seq), its dedupe record, the beneficiary's new
 * pathway (with the seq added to its history) and one outbox entry per recipient (next
 * partner_seq of each), all in the batch's transaction. On success *seq (may be NULL) is the
 * event's seq. STORE_EEXIST if (partner_id, event_id) is already there: nothing was written.
 * STORE_EFULL: the map cannot grow further; the batch is dead and must be aborted.
 */
int store_batch_append(store_batch_t *b, const store_event_t *event, uint64_t *seq);

/* Sets a partner's delivery cursor (last acknowledged partner_seq) in the batch. */
int store_batch_cursor_set(store_batch_t *b, const char *partner_id, uint64_t up_to);

/* --- Reading: each call runs in its own read transaction ------------------------------------- */

/* Reads a pathway; as store_batch_pathway_get, outside any batch. */
int store_pathway_get(store_t *s, const char *beneficiary_id, Parcours__V1__Pathway **out);

/* Reads a pathway as it is stored: a packed parcours.v1.Pathway, which the caller owns
 * (free()), of *len bytes. For who forwards it whole, without decoding it. STORE_ENOTFOUND when
 * the beneficiary has no pathway. */
/* What a pathway's clear header says (store.h, "Retention"; store_batch_flag). */
typedef struct store_pathway_meta {
    int64_t last_contact; /* the retention clock */
    bool held;            /* a litigation hold */
    bool opposed;         /* the person's opposition is recorded */
} store_pathway_meta_t;

int store_pathway_get_packed(store_t *s, const char *beneficiary_id, uint8_t **packed, size_t *len,
                             store_pathway_meta_t *meta);

/*
 * Reads the seqs of a beneficiary's events, oldest first. On STORE_OK *seqs is an array of *n
 * seqs the caller owns (free()); STORE_ENOTFOUND when the beneficiary has no pathway.
 */
int store_pathway_seqs(store_t *s, const char *beneficiary_id, uint64_t **seqs, size_t *n);

/* Calls fn for every pathway, in beneficiary_id order; fn returns non-zero to stop early. The
 * pathway is valid only during the call. Returns STORE_OK or an error. */
typedef int (*store_pathway_fn)(const Parcours__V1__Pathway *pathway, void *ctx);
int store_pathway_foreach(store_t *s, store_pathway_fn fn, void *ctx);

/* What a log entry holds. */
#define STORE_LOG_EVENT     0 /* a partner's event: raw is a packed parcours.v1.Event */
#define STORE_LOG_ERASURE   1 /* an Erasure notice: raw is a packed parcours.v1.Erasure */
#define STORE_LOG_WITHDRAWN 2 /* a tombstone: its person was destroyed; raw is NULL */

/* One entry of the log. raw points into the store: valid only during the callback, or until
 * store_log_entry_clear() for store_log_get(), which copies it. */
typedef struct store_log_entry {
    uint64_t seq;
    int kind; /* STORE_LOG_* */
    Parcours__V1__EventType type;
    int64_t occurred_at;
    int64_t committed_at;
    const uint8_t *raw; /* the packed Event, as store_batch_append was given it */
    size_t raw_len;
} store_log_entry_t;

/* Reads one log entry into *entry; the caller owns entry->raw (store_log_entry_clear). */
int store_log_get(store_t *s, uint64_t seq, store_log_entry_t *entry);
void store_log_entry_clear(store_log_entry_t *entry);

/* Calls fn for every log entry from seq `from` on, in seq order; fn returns non-zero to stop. */
typedef int (*store_log_fn)(const store_log_entry_t *entry, void *ctx);
int store_log_foreach(store_t *s, uint64_t from, store_log_fn fn, void *ctx);

/* Looks up (partner_id, event_id): STORE_OK with *seq, or STORE_ENOTFOUND. */
int store_dedupe_find(store_t *s, const char *partner_id, const char *event_id, uint64_t *seq);

/* The last partner_seq in a partner's outbox that is durable (0 when none): an entry of a batch
 * committed but not yet flushed is not counted, since a power cut could give its partner_seq to
 * another notification (store_durable_seq). */
int store_outbox_last(store_t *s, const char *partner_id, uint64_t *partner_seq);

/* Calls fn for each outbox entry of a partner from partner_seq `from` on, in order, until fn
 * returns non-zero. */
typedef int (*store_outbox_fn)(uint64_t partner_seq, uint64_t seq, void *ctx);
int store_outbox_foreach(store_t *s, const char *partner_id, uint64_t from, store_outbox_fn fn,
                         void *ctx);

/* A partner's delivery cursor (0 when it never acknowledged). */
int store_cursor_get(store_t *s, const char *partner_id, uint64_t *up_to);

/* Records that partner_id had acknowledged everything up to up_to at `at` (unix ms): the marks
 * from which store_ack_time tells when a notification was acknowledged (the right of access). */
int store_batch_ack_mark(store_batch_t *b, const char *partner_id, uint64_t up_to, int64_t at);

/* When partner_id had acknowledged partner_seq: the time of the first mark at or past it, 0
 * when none is yet. */
int store_ack_time(store_t *s, const char *partner_id, uint64_t partner_seq, int64_t *at);

/* Calls fn for each partner told of the event at seq, with the partner_seq it was told at, in the
 * order they were told. STORE_ENOTFOUND (no such seq), or STORE_OK for a tombstone (no one).
 * fn returns 0 to go on, > 0 to stop, or a STORE_E* error, which ends the walk and is returned.
 * fn must not call the store. */
typedef int (*store_told_fn)(const char *partner_id, uint64_t partner_seq, void *ctx);
int store_log_told(store_t *s, uint64_t seq, store_told_fn fn, void *ctx);

/*
 * Rectification: what a retraction reads and writes in the batch. store_batch_history calls fn
 * for each of the beneficiary's log entries, oldest first, seeing this batch's appends (entry
 * raw valid during the call only; a tombstone has none); fn returns non-zero to stop.
 * STORE_ENOTFOUND when the beneficiary has no pathway. store_batch_log_told walks the partners
 * told of the entry at seq. store_batch_withdraw turns the event at seq into a tombstone (seq,
 * type, dates: its outbox entries stay and are sent as withdrawn), STORE_ENOTFOUND when it is
 * one already or there is no such seq; its bytes stay readable under the person's key in pages
 * LMDB freed until the person is destroyed (erasure, purge), which destroys the key.
 */
int store_batch_history(store_batch_t *b, const char *beneficiary_id, store_log_fn fn, void *ctx);
int store_batch_log_told(store_batch_t *b, uint64_t seq, store_told_fn fn, void *ctx);
int store_batch_withdraw(store_batch_t *b, uint64_t seq);

/* --- Destruction: erasure and its register --------------------------------------------------- */

/* The keyed hash (under the store's own key, kept in its vault) of an identifier: how a person
 * is named where their id may not be, as in the register of erased persons. */
void store_id_hash(const store_t *s, const char *id, uint8_t out[STORE_HASH_SIZE]);

/* What a destruction did. */
typedef struct store_erasure {
    Parcours__V1__Pathway *pathway; /* the pathway as it stood (the caller frees it), or NULL */
    size_t events;                  /* log entries turned to tombstones */
    size_t told;                    /* partners given the Erasure notice */
    uint64_t notice_seq;            /* its seq, 0 when none was written */
} store_erasure_t;

/*
 * Destroys a person in the batch: every log entry of theirs becomes a tombstone (seq, type,
 * dates), their pathway record goes, and their vault key is zeroed once the batch commits (before
 * store_batch_commit returns; a crash in between is finished at the next open). Dedupe records
 * and outbox entries stay: the entries now lead to tombstones, delivered as withdrawn.
 * notice (a packed parcours.v1.Erasure, may be NULL) is appended, sealed under a key of its own,
 * to the outbox of every partner told of any of the person's events; that key is destroyed when
 * all of them have acknowledged it (store_batch_notices_settle). STORE_ENOTFOUND when there is no
 * such pathway (nothing written).
 */
int store_batch_erase(store_batch_t *b, const char *beneficiary_id, const uint8_t *notice,
                      size_t notice_len, store_erasure_t *out);

/* The same for the pathway named by its keyed hash, and only when its first event was committed
 * at or before erased_at (a person registered anew after an erasure is someone the register does
 * not erase again); no notice. For re-applying the register to a restored copy. STORE_ENOTFOUND
 * when there is no such pathway or it is younger. */
int store_batch_erase_hash(store_batch_t *b, const uint8_t hash[STORE_HASH_SIZE], int64_t erased_at,
                           store_erasure_t *out);

/* Destroys the Erasure notices every partner they went to has acknowledged (their cursor is at or
 * past the notice's partner_seq): tombstones, keys zeroed at commit. *settled (may be NULL) counts
 * them. */
int store_batch_notices_settle(store_batch_t *b, size_t *settled);

/* Erasure notices not yet settled. */
uint64_t store_notices_pending(const store_t *s);

/* --- Retention (CASF R263-8) ----------------------------------------------------------------- */

/* A pathway's retention clock is its last contact: the latest date of its events, never later
 * than their commit. Active while the last contact is after archive_before, archived (kept,
 * delivered to the DEPARTEMENT alone) until destroy_before, then due for destruction, unless a
 * litigation hold stops the clock. */

/* Sets (hold) or lifts a pathway's litigation hold in the batch. STORE_ENOTFOUND when the
 * beneficiary has no pathway. */
int store_batch_hold(store_batch_t *b, const char *beneficiary_id, bool hold);

/* Records (opposed) or lifts the person's opposition (CASF L263-4-1) in the batch: while it
 * stands, the deliveries tell only the partners the law requires. STORE_ENOTFOUND as above. */
int store_batch_oppose(store_batch_t *b, const char *beneficiary_id, bool opposed);

/* What one slice of the purge did. */
typedef struct store_purge {
    size_t examined;  /* pathways looked at (their clocks only: nothing unsealed) */
    size_t destroyed; /* due ones destroyed, each with an Erasure notice (RETENTION) */
    size_t held;      /* due ones a hold kept */
    size_t events;    /* log entries turned to tombstones */
    size_t told;      /* notices written */
    bool wrapped;     /* the slice reached the last pathway: the next starts a pass again */
} store_purge_t;

/* Called with each pathway a purge destroyed, as it stood (for the counts). */
typedef void (*store_destroyed_fn)(const Parcours__V1__Pathway *pathway, void *ctx);

/*
 * One slice of the purge in the batch: examines up to `examine` pathways from the one at or
 * after *cursor (a key: STORE_HASH_SIZE bytes, zeros to begin), destroys those whose last contact
 * is before destroy_before and that no hold keeps (store_batch_erase, the notice's reason
 * RETENTION), and moves *cursor past the last one examined. fn (may be NULL) sees each one
 * destroyed.
 */
int store_batch_purge(store_batch_t *b, uint8_t cursor[STORE_HASH_SIZE], size_t examine,
                      int64_t destroy_before, store_destroyed_fn fn, void *ctx, store_purge_t *out);

/* The pathways per stage, for a dry run. */
typedef struct store_survey {
    uint64_t active, archived, due, held; /* held: past active, kept by a hold */
} store_survey_t;

/* Called with each pathway due for destruction: its id (unsealed for the dry run's list) and
 * last contact; returns non-zero to stop listing (the counts go on). */
typedef int (*store_due_fn)(const char *beneficiary_id, int64_t last_contact, void *ctx);

/* Counts every pathway per stage, reading their clocks only, and lists the due ones through fn
 * (may be NULL). In one read transaction. */
int store_retention_survey(store_t *s, int64_t archive_before, int64_t destroy_before,
                           store_survey_t *out, store_due_fn fn, void *ctx);

/* --- Deadlines: the index by due time (store/deadlines.c) ---------------------------------------
 */

/* A deadline the index holds, with its pathway's beneficiary (unsealed). */
typedef struct store_due {
    char beneficiary_id[STORE_ID_MAX + 1];
    store_deadline_t deadline;
} store_due_t;

/*
 * The soonest deadline in the batch due at or before now: STORE_OK with *out, or STORE_ENOTFOUND
 * when none is due. It stays in the index until the pathway's next append (or
 * store_batch_deadlines_set) replaces it. Entries whose pathway is gone are dropped on the way,
 * and counted in *dropped (may be NULL): the batch then has something to commit.
 */
int store_batch_due_first(store_batch_t *b, int64_t now, store_due_t *out, size_t *dropped);

/* Moves the deadlines of beneficiary_id's pathway in the index from old[0..n_old-1] to
 * d[0..n-1] (an entry found no longer due, a store's pathways indexed again): as an append
 * would. STORE_ENOTFOUND when there is no pathway. */
int store_batch_deadlines_set(store_batch_t *b, const char *beneficiary_id,
                              const store_deadline_t *old, size_t n_old, const store_deadline_t *d,
                              size_t n);

/* Takes d[0..n-1] out of the index for beneficiary_id, whose pathway may be gone: what an
 * erasure or the purge destroyed (store_batch_erase and store_batch_purge leave the index to
 * their callers, who know the rules). */
int store_batch_deadlines_drop(store_batch_t *b, const char *beneficiary_id,
                               const store_deadline_t *d, size_t n);

/* Empties the index (before every pathway is indexed again). */
int store_batch_due_clear(store_batch_t *b);

/* Lists the deadlines due at or before until, soonest first, in one read transaction: fn (may
 * be NULL) sees each and returns non-zero to stop the listing; *total counts them all. The
 * entry is valid during the call only. */
typedef int (*store_due_visit_fn)(const store_due_t *due, void *ctx);
int store_due_list(store_t *s, int64_t until, store_due_visit_fn fn, void *ctx, uint64_t *total);

/* Whether every pathway's deadlines are in the index as settings (len bytes, the caller's
 * fingerprint of how it computes them) give them: false for a store written before the index
 * (or by a daemon of other settings, a new store included) until the daemon indexed them all
 * again (store_batch_deadlines_set for each, then store_batch_deadlines_mark_indexed with the
 * same fingerprint in the last batch). */
int store_deadlines_indexed(store_t *s, const void *settings, size_t len, bool *indexed);
int store_batch_deadlines_mark_indexed(store_batch_t *b, const void *settings, size_t len);

/* --- Statistics: counters kept apart from the people (store/stats.c) ------------------------
 */

#define STORE_STATS_KEY_MAX 255

/* Adds delta to the counter named by key (1 to STORE_STATS_KEY_MAX bytes, opaque to the store)
 * in the batch. Counters are never removed: an erasure or the purge leaves them. */
int store_batch_stats_add(store_batch_t *b, const void *key, size_t len, uint64_t delta);

/* Calls fn with every counter, in key order, in one read transaction; fn returns non-zero to
 * stop. The key is valid during the call only. */
typedef int (*store_stats_fn)(const void *key, size_t len, uint64_t count, void *ctx);
int store_stats_foreach(store_t *s, store_stats_fn fn, void *ctx);

/* --- Moves between territories (store/transfers.c; daemon/rules/transfer.h) -------------------
 *
 * A move is told as an event of no pathway: its beneficiary_id is the move's reference. It is
 * kept as a notice (store_batch_notice_append): under a key of its own, destroyed once every
 * partner told of it acknowledged it and its keep_until passed. A destination also keeps, apart,
 * what a registration claiming the move checks: under the keyed hash of the reference, the
 * move's seq, dates, destination territory and state (open, claimed, expired). A record is never
 * removed: a move claimed or expired, announced again by any bridge, is a move this daemon had.
 */

#define STORE_TERRITORY_MAX 8

/*
 * Appends an event that belongs to no pathway (event->pathway NULL; no deadlines): its dedupe
 * record, its log entry (next seq) sealed under a key of its own, one outbox entry per
 * recipient, and a notice record, so that store_batch_notices_settle destroys it once every
 * recipient has acknowledged it and the batch's clock is past keep_until (unix ms; 0: at once).
 * STORE_EEXIST when (partner_id, event_id) is already there.
 */
int store_batch_notice_append(store_batch_t *b, const store_event_t *event, int64_t keep_until,
                              uint64_t *seq);

/* Destroys the notice at seq now, in the batch, whoever acknowledged it: its entry becomes a
 * tombstone (sent as withdrawn) and its key is zeroed at the commit. STORE_OK, or
 * STORE_ENOTFOUND when no notice stands at seq (destroyed already). */
int store_batch_notice_withdraw(store_batch_t *b, uint64_t seq);

#define STORE_TRANSFER_OPEN    0 /* announced, to claim */
#define STORE_TRANSFER_CLAIMED 1 /* a registration claimed it */
#define STORE_TRANSFER_EXPIRED 2 /* nobody claimed it within the claim period */

/* What a destination keeps of a move. */
typedef struct store_transfer {
    uint64_t seq;         /* the TransferAnnounced's */
    int64_t moved_at;     /* the move's date, as announced, unix ms */
    int64_t announced_at; /* when this daemon committed the announcement, unix ms */
    int state;            /* STORE_TRANSFER_* */
    char territory[STORE_TERRITORY_MAX + 1]; /* its destination */
} store_transfer_t;

/* Records a move under its reference (1-64 bytes) in the batch, open. STORE_EEXIST when one is
 * recorded under it already, in any state. */
int store_batch_transfer_put(store_batch_t *b, const char *reference, const store_transfer_t *t);

/* Reads the move of this reference into *out, in any state: STORE_OK, or STORE_ENOTFOUND
 * (never announced here). */
int store_batch_transfer_get(store_batch_t *b, const char *reference, store_transfer_t *out);

/* Marks the open move of this reference claimed: STORE_OK, or STORE_ENOTFOUND when there is no
 * open move under it. */
int store_batch_transfer_claim(store_batch_t *b, const char *reference);

/* Marks expired the open moves announced before `before` (unix ms), looking at `examine`
 * records from *cursor (a key: STORE_HASH_SIZE bytes, zeros to begin), which it moves on (back
 * to zeros at the end). *expired (may be NULL) is how many it marked. */
int store_batch_transfers_expire(store_batch_t *b, uint8_t cursor[STORE_HASH_SIZE], int64_t before,
                                 size_t examine, size_t *expired);

#endif
