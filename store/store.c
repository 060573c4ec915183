/*
 * store.c: the Parcours store on LMDB: the environment (opening, closing, figures, the stream
 * id, hot copies) and the helpers the other parts share. batch.c writes, read.c reads. See
 * store.h for the model, record.h for the layouts of keys and values on disk, and journal.h
 * for how a batch survives the map growing under it.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np: writers before readers */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"
#include "store_internal.h"

/* --- Small helpers ---------------------------------------------------------------------------- */

/* Length of id when it is a valid id (1..STORE_ID_MAX bytes), else 0. */
size_t store_id_len(const char *id)
{
    if (id == NULL)
        return 0;
    size_t len = strnlen(id, STORE_ID_MAX + 1);
    return len > STORE_ID_MAX ? 0 : len;
}

/* Translates an LMDB or errno code into a STORE_E* code. */
int store_error_from_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return STORE_OK;
    case MDB_NOTFOUND:
        return STORE_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return STORE_EFULL;
    case ENOMEM:
        return STORE_ENOMEM;
    case EACCES:
    case EPERM:
        return STORE_EACCESS;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return STORE_ECORRUPT;
    case MDB_INCOMPATIBLE:
    case MDB_VERSION_MISMATCH:
        return STORE_ESCHEMA;
    case MDB_PANIC:
        return STORE_EPANIC;
    default:
        return STORE_EIO;
    }
}

static size_t store_page_round(size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    if (size > SIZE_MAX - p)
        return SIZE_MAX / p * p;
    return (size + p - 1) / p * p;
}

/* --- Threads -------------------------------------------------------------------------------- */

/* How many read transactions this thread has open, in any store: only the outermost takes the
 * map lock, since a writer waiting between a thread's two shared holds would wait for ever. */
static _Thread_local unsigned store_read_depth;

bool store_reading(void)
{
    return store_read_depth > 0;
}

static void store_map_share(store_t *s)
{
    if (store_read_depth++ == 0) {
        int rc = pthread_rwlock_rdlock(&s->map_lock);
        assert(rc == 0);
        (void)rc;
    }
}

static void store_map_unshare(store_t *s)
{
    assert(store_read_depth > 0);
    if (--store_read_depth == 0)
        pthread_rwlock_unlock(&s->map_lock);
}

/* The snapshot this thread holds (store_read_hold), and how many holds are open. */
static _Thread_local store_t *store_held;
static _Thread_local MDB_txn *store_held_txn;
static _Thread_local unsigned store_held_count;

/* Whether this thread may end s's span now: it opened it, and no batch's transaction is nested
 * in it. (A read inside an open batch sees the last commit, as it always did.) */
static bool store_span_endable(const store_t *s)
{
    return store_writer == s && s->span != NULL && (s->batch == NULL || s->batch->txn == NULL);
}

_Thread_local const store_t *store_writer;
/* Reads of this thread handed the span itself (store_read_begin while it cannot commit). */
static _Thread_local unsigned store_span_reads;

int store_read_begin(store_t *s, MDB_txn **txn)
{
    /* The writing thread reads what it wrote: deferred batches are committed first, or, while
     * the file system has no room for that, read in the span itself. Not from inside another
     * read (a foreach callback): the outer one may be reading in the span. */
    if (store_span_endable(s)) {
        if (store_read_depth == 0 && (!s->span_stuck || store_span_due(s) == 0))
            (void)store_span_end(s);
        if (s->span != NULL && store_held != s) {
            *txn = s->span;
            store_read_depth++;
            store_span_reads++;
            return STORE_OK;
        }
    }
    if (store_held == s) {
        store_read_depth++;
        *txn = store_held_txn;
        return STORE_OK;
    }
    store_map_share(s);
    int rc = store_txn_begin(s, MDB_RDONLY, txn);
    if (rc != STORE_OK)
        store_map_unshare(s);
    return rc;
}

void store_read_end(store_t *s, MDB_txn *txn)
{
    if (store_span_reads > 0 && store_writer == s && txn == s->span) {
        store_span_reads--;
        store_read_depth--;
        return;
    }
    if (store_held == s && txn == store_held_txn) {
        store_read_depth--;
        return;
    }
    mdb_txn_abort(txn);
    store_map_unshare(s);
}

int store_read_hold(store_t *s)
{
    if (s == NULL || (store_held != NULL && store_held != s))
        return STORE_EINVAL;
    if (store_held == s) {
        store_held_count++;
        return STORE_OK;
    }
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    store_held = s;
    store_held_txn = txn;
    store_held_count = 1;
    return STORE_OK;
}

void store_read_release(store_t *s)
{
    if (store_held != s || --store_held_count > 0)
        return;
    MDB_txn *txn = store_held_txn;
    store_held = NULL;
    store_held_txn = NULL;
    store_read_end(s, txn);
}

uint64_t store_snapshot(store_t *s)
{
    if (s == NULL)
        return 0;
    if (store_held == s)
        return (uint64_t)mdb_txn_id(store_held_txn);
    MDB_envinfo info;
    return mdb_env_info(s->env, &info) == MDB_SUCCESS ? (uint64_t)info.me_last_txnid : 0;
}

/* Begins a transaction, adopting a map size another process set (MDB_MAP_RESIZED). */
int store_txn_begin(store_t *s, unsigned flags, MDB_txn **txn)
{
    /* A write transaction of its own waits for no span: the span is committed first. */
    if (!(flags & MDB_RDONLY) && store_span_endable(s)) {
        int src = store_span_end(s);
        if (src != STORE_OK)
            return src;
    }
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(s->env, 0);
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_begin(s->env, NULL, flags, txn);
    }
    return store_failed(s, store_error_from_mdb(rc));
}

int store_failed(store_t *s, int rc)
{
    if (rc != STORE_EPANIC && (rc != STORE_EIO || store_usable(s)))
        return rc;
    if (!__atomic_exchange_n(&s->unusable, true, __ATOMIC_ACQ_REL)) {
        if (s->on_unusable != NULL)
            s->on_unusable(s->on_unusable_ctx);
    }
    return STORE_EPANIC;
}

uint64_t store_generation(const store_t *s)
{
    return s != NULL ? __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE) : 0;
}

void store_on_unusable(store_t *s, store_unusable_fn fn, void *ctx)
{
    s->on_unusable = fn;
    s->on_unusable_ctx = ctx;
}

/* Doubles the map, up to max_map_size. No transaction of this process may be open. */
int store_map_grow(store_t *s)
{
    if (s->span != NULL) {
        int src = store_span_end(s);
        if (src != STORE_OK)
            return src;
    }
    MDB_envinfo info;
    int rc = mdb_env_info(s->env, &info);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    if (info.me_mapsize >= s->max_map_size)
        return STORE_EFULL;
    size_t size = info.me_mapsize > s->max_map_size / 2 ? s->max_map_size : info.me_mapsize * 2;
    assert(!store_reading());
    /* The checkpoint's pin is a read transaction too: a checkpoint now, so that none is needed
     * while the map is remapped. */
    /* A checkpoint that fails keeps its pin, and the store stops: no remapping then. */
    if (s->wal != NULL && wal_unpin(s->wal) != STORE_OK)
        return store_failed(s, STORE_EPANIC);
    pthread_rwlock_wrlock(&s->map_lock);
    rc = mdb_env_set_mapsize(s->env, size);
    pthread_rwlock_unlock(&s->map_lock);
    if (s->wal != NULL && wal_pin(s->wal) != STORE_OK)
        return store_failed(s, STORE_EPANIC);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    s->map_grows++;
    return STORE_OK;
}

/* --- Hot copies ------------------------------------------------------------------------------- */

int store_copy_begin(store_t *s)
{
    if (s == NULL || s->batch != NULL || s->copying)
        return STORE_EINVAL;
    /* The copy holds every batch acknowledged so far, and no span opens while it runs. */
    int rc = store_span_commit(s);
    if (rc != STORE_OK)
        return rc;
    store_info_t info;
    if (store_info(s, &info) == STORE_OK) {
        /* Every commit during the copy takes new pages (the copy's read transaction keeps the
         * old ones from reuse), so the map needs room for all that the copy will outlast. */
        size_t ahead = info.map_used > s->copy_headroom ? info.map_used : s->copy_headroom;
        size_t want =
            ahead > s->max_map_size - info.map_used ? s->max_map_size : info.map_used + ahead;
        while (rc == STORE_OK && info.map_size < want) {
            rc = store_map_grow(s);
            if (rc == STORE_OK && store_info(s, &info) != STORE_OK)
                break;
        }
    }
    /* Growing is only an allowance: past max_map_size the copy still goes ahead. Any other
     * failure leaves no copy begun, and nothing fenced. */
    if (rc == STORE_OK || rc == STORE_EFULL)
        s->copying = true;
    return rc;
}

#define STORE_COPY_MAGIC "PCRSVLT1"

static int store_write_fd(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return STORE_EIO;
        p += n;
        len -= (size_t)n;
    }
    return STORE_OK;
}

int store_copy_fd(store_t *s, int fd)
{
    if (s == NULL || fd < 0)
        return STORE_EINVAL;
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    /* A closed pipe (EPIPE) or any write error is an I/O failure of this copy only. */
    if (rc != MDB_SUCCESS)
        return rc == ENOMEM ? STORE_ENOMEM : STORE_EIO;
    /* The vault after the copy's snapshot: every key the snapshot needs was generated (and
     * synced) before its slot was handed out, and a key zeroed since stays zero in the copy.
     * The length is the one at the start: chunks appended meanwhile are of no use to it. */
    uint64_t len = vault_size(s->vault);
    uint8_t buf[65536];
    for (uint64_t at = 0; at < len;) {
        size_t want = len - at < sizeof buf ? (size_t)(len - at) : sizeof buf;
        ssize_t n = pread(vault_fd(s->vault), buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || store_write_fd(fd, buf, (size_t)n) != STORE_OK)
            return STORE_EIO;
        at += (uint64_t)n;
    }
    uint8_t tail[16];
    record_u64_encode(tail, len);
    memcpy(tail + 8, STORE_COPY_MAGIC, 8);
    return store_write_fd(fd, tail, sizeof tail);
}

/* Copies len bytes of in from offset at into a new file path (0600), fsynced. */
static int store_copy_range(int in, uint64_t at, uint64_t len, const char *path)
{
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return errno == EEXIST ? STORE_EEXIST : STORE_EIO;
    uint8_t buf[65536];
    int rc = STORE_OK;
    while (rc == STORE_OK && len > 0) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        ssize_t n = pread(in, buf, want, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = STORE_EIO;
        else
            rc = store_write_fd(out, buf, (size_t)n);
        at += (uint64_t)(n > 0 ? n : 0);
        len -= (uint64_t)(n > 0 ? n : 0);
    }
    if (rc == STORE_OK && fsync(out) != 0)
        rc = STORE_EIO;
    int e = errno;
    if (close(out) != 0 && rc == STORE_OK)
        rc = STORE_EIO;
    if (rc != STORE_OK)
        unlink(path);
    errno = e;
    return rc;
}

int store_copy_unpack(const char *copy, const char *dir)
{
    if (copy == NULL || dir == NULL)
        return STORE_EINVAL;
    char data[4096], vault[4096];
    if ((size_t)snprintf(data, sizeof data, "%s/data.mdb", dir) >= sizeof data ||
        (size_t)snprintf(vault, sizeof vault, "%s/keys.vault", dir) >= sizeof vault)
        return STORE_EINVAL;
    struct stat st;
    if (stat(data, &st) == 0 || stat(vault, &st) == 0)
        return STORE_EEXIST;
    int in = open(copy, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return STORE_EIO;
    int rc = fstat(in, &st) == 0 ? STORE_OK : STORE_EIO;
    uint64_t size = rc == STORE_OK ? (uint64_t)st.st_size : 0, vault_len = 0;
    uint8_t tail[16];
    bool sealed = false;
    if (rc == STORE_OK && size >= sizeof tail &&
        pread(in, tail, sizeof tail, (off_t)(size - sizeof tail)) == (ssize_t)sizeof tail &&
        memcmp(tail + 8, STORE_COPY_MAGIC, 8) == 0) {
        sealed = true;
        record_u64_decode(tail, 8, &vault_len);
        if (vault_len < VAULT_HEADER_SIZE || vault_len > size - sizeof tail)
            rc = STORE_ECORRUPT;
    }
    uint64_t data_len = sealed ? size - sizeof tail - vault_len : size;
    if (rc == STORE_OK)
        rc = store_copy_range(in, 0, data_len, data);
    if (rc == STORE_OK && sealed) {
        rc = store_copy_range(in, data_len, vault_len, vault);
        if (rc != STORE_OK)
            unlink(data);
    }
    close(in);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (rc == STORE_OK && fsync(dfd) != 0)
            rc = STORE_EIO;
        close(dfd);
    }
    return rc;
}

void store_copy_end(store_t *s)
{
    if (s != NULL)
        s->copying = false;
}

/* --- Opening and closing --------------------------------------------------------------------- */

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK:
        return "The store operation succeeded.";
    case STORE_ENOTFOUND:
        return "The store has no record under this key.";
    case STORE_EFULL:
        return "The store is full: the map reached its maximum size or the disk is full.";
    case STORE_EIO:
        return "The store met an input/output or database error it cannot recover from.";
    case STORE_ECORRUPT:
        return "A record of the store cannot be decoded: the data is corrupt.";
    case STORE_ESCHEMA:
        return "The data directory was written by another schema version of the store.";
    case STORE_ENOMEM:
        return "The store ran out of memory.";
    case STORE_EINVAL:
        return "A store function was called with an invalid argument or a dead batch.";
    case STORE_EACCESS:
        return "Permission was denied on the store's data directory.";
    case STORE_EPANIC:
        return "LMDB can no longer write the store (a meta page write failed); the process must "
               "open it again.";
    case STORE_EEXIST:
        return "This partner already sent an event with this event id.";
    default:
        return "unknown store error";
    }
}

void store_options_default(store_options_t *o)
{
    if (o == NULL)
        return;
    o->initial_map_size = STORE_DEFAULT_INITIAL;
    o->max_map_size = STORE_DEFAULT_MAX;
    o->durable = true;
    o->max_readers = 126;
    o->copy_headroom = STORE_DEFAULT_COPY_HEADROOM;
    o->checkpoint_ms = 200;
    o->commit_ms = STORE_DEFAULT_COMMIT_MS;
}

/* A new stream id: random, never 0. */
static uint64_t store_stream_id_new(void)
{
    uint64_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
            id = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
    return id;
}

/* Reads meta "stream_id" into s->stream_id, writing a new one in txn when there is none. */
static int store_stream_id_read(store_t *s, MDB_txn *txn)
{
    MDB_val key = {9, "stream_id"}, value;
    int mrc = mdb_get(txn, s->meta, &key, &value);
    if (mrc == MDB_SUCCESS)
        return record_u64_decode(value.mv_data, value.mv_size, &s->stream_id) == STORE_OK
                   ? MDB_SUCCESS
                   : MDB_CORRUPTED;
    if (mrc != MDB_NOTFOUND)
        return mrc;
    uint8_t bytes[8];
    s->stream_id = store_stream_id_new();
    record_u64_encode(bytes, s->stream_id);
    value = (MDB_val){sizeof bytes, bytes};
    return mdb_put(txn, s->meta, &key, &value, 0);
}

/* Whether the data file already holds sealed records (schema 3): then its vault must exist. */
static bool store_has_sealed(store_t *s)
{
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != MDB_SUCCESS)
        return false;
    MDB_dbi meta;
    MDB_val key = {6, "schema"}, value;
    uint32_t version = 0;
    if (mdb_dbi_open(txn, "meta", 0, &meta) == MDB_SUCCESS &&
        mdb_get(txn, meta, &key, &value) == MDB_SUCCESS)
        record_u32_decode(value.mv_data, value.mv_size, &version);
    mdb_txn_abort(txn);
    return version >= 3;
}

/* Opens the databases and checks or writes the schema version, in one write transaction. */
static int store_databases_open(store_t *s)
{
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc != STORE_OK)
        return rc;
    struct {
        const char *name;
        unsigned flags;
        MDB_dbi *dbi;
    } dbs[STORE_DB_COUNT] = {
        {"log", MDB_INTEGERKEY, &s->log},
        {"dedupe", 0, &s->dedupe},
        {"pathways", 0, &s->pathways},
        {"outbox", 0, &s->outbox},
        {"cursors", 0, &s->cursors},
        {"shred", MDB_INTEGERKEY, &s->shred},
        {"notices", MDB_INTEGERKEY, &s->notices},
        {"acks", 0, &s->acks},
        {"meta", 0, &s->meta},
        {"due", 0, &s->due},
        {"stats", 0, &s->stats},
        {"transfers", 0, &s->transfers},
    };
    int mrc = MDB_SUCCESS;
    for (int i = 0; i < STORE_DB_COUNT && mrc == MDB_SUCCESS; i++)
        mrc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | MDB_CREATE, dbs[i].dbi);
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return store_error_from_mdb(mrc);
    }
    MDB_val key = {6, "schema"}, value;
    mrc = mdb_get(txn, s->meta, &key, &value);
    if (mrc == MDB_SUCCESS) {
        uint32_t version;
        if (record_u32_decode(value.mv_data, value.mv_size, &version) != STORE_OK || version == 0 ||
            version > STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return STORE_ESCHEMA;
        }
        if (version < STORE_SCHEMA_VERSION) {
            /* Written by an older Parcours: brought to this schema now, all or nothing. */
            int rc_up = store_upgrade(s, txn, version);
            if (rc_up != STORE_OK) {
                mdb_txn_abort(txn);
                return rc_up;
            }
        }
    } else if (mrc == MDB_NOTFOUND) {
        uint8_t version[4];
        record_u32_encode(version, STORE_SCHEMA_VERSION);
        value = (MDB_val){sizeof version, version};
        mrc = mdb_put(txn, s->meta, &key, &value, 0);
    }
    if (mrc == MDB_SUCCESS)
        mrc = store_stream_id_read(s, txn);
    if (mrc == MDB_SUCCESS) {
        MDB_val vkey = {10, "vault_next"}, vvalue;
        mrc = mdb_get(txn, s->meta, &vkey, &vvalue);
        s->vault_next = 1;
        if (mrc == MDB_SUCCESS)
            mrc = record_u32_decode(vvalue.mv_data, vvalue.mv_size, &s->vault_next) == STORE_OK &&
                          s->vault_next > 0
                      ? MDB_SUCCESS
                      : MDB_CORRUPTED;
        else if (mrc == MDB_NOTFOUND)
            mrc = MDB_SUCCESS;
    }
    /* A destruction committed but not finished by a crash is finished now. */
    if (mrc == MDB_SUCCESS) {
        int rc_shred = store_shred_recover(s, txn);
        if (rc_shred != STORE_OK) {
            mdb_txn_abort(txn);
            return rc_shred;
        }
        MDB_stat st;
        mrc = mdb_stat(txn, s->notices, &st);
        s->notices_pending = mrc == MDB_SUCCESS ? st.ms_entries : 0;
    }
    /* Committed, not aborted, also when nothing was written: aborting would close the database
     * handles just opened. */
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return store_error_from_mdb(mrc);
    }
    return store_error_from_mdb(mdb_txn_commit(txn));
}

/* Creates the environment and sets the map size: a new environment starts at initial; an
 * existing one keeps the size it grew to, and is raised to initial if smaller. */
static int store_env_open(store_t *s, const char *dir, const store_options_t *o)
{
    int rc = mdb_env_create(&s->env);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    size_t path_len = strlen(dir) + sizeof "/data.mdb";
    char *path = malloc(path_len);
    if (path == NULL)
        return STORE_ENOMEM;
    snprintf(path, path_len, "%s/data.mdb", dir);
    struct stat st;
    bool exists = stat(path, &st) == 0;
    free(path);
    size_t initial = store_page_round(o->initial_map_size);
    rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxreaders(s->env, o->max_readers);
    if (rc == MDB_SUCCESS && !exists)
        rc = mdb_env_set_mapsize(s->env, initial);
    /* MDB_NOTLS lets the owning thread run read transactions while its batch is open. */
    unsigned flags = MDB_NOTLS | (o->durable ? 0 : MDB_NOSYNC);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    int dead;
    rc = mdb_reader_check(s->env, &dead);
    MDB_envinfo info;
    if (rc == MDB_SUCCESS)
        rc = mdb_env_info(s->env, &info);
    if (rc == MDB_SUCCESS && info.me_mapsize < initial)
        rc = mdb_env_set_mapsize(s->env, initial);
    return store_error_from_mdb(rc);
}

/* The databases by name, with their flags: what store_rebuild copies. */
static const struct {
    const char *name;
    unsigned flags;
} store_db_names[STORE_DB_COUNT] = {
    {"log", MDB_INTEGERKEY},
    {"dedupe", 0},
    {"pathways", 0},
    {"outbox", 0},
    {"cursors", 0},
    {"shred", MDB_INTEGERKEY},
    {"notices", MDB_INTEGERKEY},
    {"acks", 0},
    {"meta", 0},
    {"due", 0},
    {"stats", 0},
    {"transfers", 0},
};

/*
 * Writes every record of dir's data file into a new one, key by key, and puts it in its place.
 * After the upgrade that seals a store, the old file still holds what it replaced, in clear, in
 * free pages and in the unused middle of live pages (LMDB clears neither; its compacting copy
 * carries some of it too). A file built record by record holds the live records only. The store
 * must be closed.
 */
static int store_rebuild(const char *dir, size_t map_size)
{
    char tmp[4096], from[4200], to[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/rebuild.tmp", dir) >= sizeof tmp)
        return STORE_EINVAL;
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    snprintf(to, sizeof to, "%s/data.mdb", dir);
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return STORE_EIO;
    unlink(from);
    MDB_env *src = NULL, *dst = NULL;
    MDB_txn *rt = NULL, *wt = NULL;
    int mrc = mdb_env_create(&src);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_maxdbs(src, STORE_DB_COUNT);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_mapsize(src, map_size);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_open(src, dir, MDB_RDONLY, 0600);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_create(&dst);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_maxdbs(dst, STORE_DB_COUNT);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_mapsize(dst, map_size);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_open(dst, tmp, 0, 0600);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_txn_begin(src, NULL, MDB_RDONLY, &rt);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_txn_begin(dst, NULL, 0, &wt);
    for (int i = 0; i < STORE_DB_COUNT && mrc == MDB_SUCCESS; i++) {
        MDB_dbi a, b;
        MDB_cursor *c;
        mrc = mdb_dbi_open(rt, store_db_names[i].name, store_db_names[i].flags, &a);
        if (mrc == MDB_NOTFOUND) {
            mrc = MDB_SUCCESS;
            continue;
        }
        if (mrc == MDB_SUCCESS)
            mrc =
                mdb_dbi_open(wt, store_db_names[i].name, store_db_names[i].flags | MDB_CREATE, &b);
        if (mrc == MDB_SUCCESS)
            mrc = mdb_cursor_open(rt, a, &c);
        if (mrc != MDB_SUCCESS)
            break;
        MDB_val key, value;
        for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS;
             mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
            mrc = mdb_put(wt, b, &key, &value, MDB_APPEND);
            if (mrc != MDB_SUCCESS)
                break;
        }
        mdb_cursor_close(c);
        if (mrc == MDB_NOTFOUND)
            mrc = MDB_SUCCESS;
    }
    if (rt != NULL)
        mdb_txn_abort(rt);
    if (wt != NULL) {
        if (mrc == MDB_SUCCESS)
            mrc = mdb_txn_commit(wt);
        else
            mdb_txn_abort(wt);
    }
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_sync(dst, 1);
    if (dst != NULL)
        mdb_env_close(dst);
    if (src != NULL)
        mdb_env_close(src);
    int rc = store_error_from_mdb(mrc);
    if (rc == STORE_OK && rename(from, to) != 0)
        rc = STORE_EIO;
    snprintf(from, sizeof from, "%s/lock.mdb", tmp);
    unlink(from);
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    unlink(from);
    rmdir(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (rc == STORE_OK && fsync(dfd) != 0)
            rc = STORE_EIO;
        close(dfd);
    }
    return rc;
}

int store_open(const char *dir, const store_options_t *options, store_t **out)
{
    store_options_t o;
    store_options_default(&o);
    if (options != NULL)
        o = *options;
    if (out == NULL)
        return STORE_EINVAL;
    *out = NULL;
    if (dir == NULL || dir[0] == '\0' || o.initial_map_size == 0 || o.max_readers == 0 ||
        store_page_round(o.max_map_size) < store_page_round(o.initial_map_size))
        return STORE_EINVAL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno == EACCES || errno == EPERM ? STORE_EACCESS : STORE_EIO;
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return STORE_ENOMEM;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lrc = pthread_rwlock_init(&s->map_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lrc != 0) {
        free(s);
        return STORE_ENOMEM;
    }
    s->max_map_size = store_page_round(o.max_map_size);
    s->copy_headroom = o.copy_headroom;
    s->durable = o.durable;
    /* What a daemon that did not stop cleanly left in its write-ahead log goes into the file
     * first, whatever this open's durability (wal.h). */
    const char *names[STORE_DB_COUNT];
    unsigned name_flags[STORE_DB_COUNT];
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        names[i] = store_db_names[i].name;
        name_flags[i] = store_db_names[i].flags;
    }
    wal_databases_t wal_dbs = {names, name_flags, STORE_DB_COUNT};
    unsigned replayed = 0;
    int rc = wal_recover(dir, s->max_map_size, &wal_dbs, &replayed);
    if (rc != STORE_OK) {
        pthread_rwlock_destroy(&s->map_lock);
        free(s);
        return rc;
    }
    s->wal_replayed = replayed;
    rc = store_env_open(s, dir, &o);
    /* The vault is made with a new store only: a data file without its vault is either older
     * than schema 3 (the upgrade makes one) or a vault that went missing (refused). */
    if (rc == STORE_OK) {
        rc = vault_open(dir, !store_has_sealed(s), o.durable, &s->vault);
        if (rc == STORE_ENOTFOUND)
            rc = STORE_ECORRUPT; /* sealed records whose keys are gone: not a store to serve */
    }
    if (rc == STORE_OK)
        rc = store_databases_open(s);
    /* An upgrade rewrites much of the file in one transaction: the map may need to grow. */
    while (rc == STORE_EFULL && store_map_grow(s) == STORE_OK)
        rc = store_databases_open(s);
    /* Sealed by the upgrade just now: the file is rebuilt without what was in clear, and the
     * store opened again on it. */
    if (rc == STORE_OK && s->sealed_now) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        mdb_env_close(s->env);
        s->env = NULL;
        vault_close(&s->vault);
        rc = store_rebuild(dir, info.me_mapsize);
        s->sealed_now = false;
        if (rc == STORE_OK)
            rc = store_env_open(s, dir, &o);
        if (rc == STORE_OK)
            rc = vault_open(dir, false, o.durable, &s->vault);
        if (rc == STORE_OK)
            rc = store_databases_open(s);
    }
    if (rc == STORE_OK) {
        MDB_dbi order[] = {s->log,     s->dedupe, s->pathways, s->outbox, s->cursors, s->shred,
                           s->notices, s->acks,   s->meta,     s->due,    s->stats,   s->transfers};
        /* Every database, in store_db_names' order: a write to one left out would be refused
         * when its batch is logged. */
        _Static_assert(sizeof order / sizeof order[0] == STORE_DB_COUNT, "a database is missing");
        memcpy(s->dbis, order, sizeof order);
        uint64_t last = 0;
        MDB_txn *txn;
        if (store_read_begin(s, &txn) == STORE_OK) {
            store_last_seq_read(s, txn, &last);
            store_read_end(s, txn);
        }
        s->durable_seq = last;
    }
    /* Durable: every batch from now on is made durable by its write-ahead record. */
    if (rc == STORE_OK && o.durable)
        rc = wal_start(dir, s->env, o.checkpoint_ms, &s->wal);
    s->span_ms = o.commit_ms;
    if (rc == STORE_OK)
        store_span_room(s);
    if (rc != STORE_OK) {
        store_close(&s);
        return rc;
    }
    *out = s;
    return STORE_OK;
}

uint64_t store_durable_seq(const store_t *s)
{
    return s != NULL ? __atomic_load_n(&s->durable_seq, __ATOMIC_ACQUIRE) : 0;
}

bool store_usable(store_t *s)
{
    if (s == NULL || __atomic_load_n(&s->unusable, __ATOMIC_ACQUIRE))
        return false;
    MDB_txn *txn = NULL;
    store_map_share(s);
    bool usable = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != MDB_PANIC;
    if (txn != NULL)
        mdb_txn_abort(txn);
    store_map_unshare(s);
    return usable;
}

int store_stream_id_renew(store_t *s)
{
    if (s == NULL || s->batch != NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc != STORE_OK)
        return rc;
    uint8_t bytes[8];
    uint64_t id = store_stream_id_new();
    record_u64_encode(bytes, id);
    MDB_val key = {9, "stream_id"}, value = {sizeof bytes, bytes};
    int mrc = mdb_put(txn, s->meta, &key, &value, 0);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    s->stream_id = id;
    /* Committed outside a batch, so not in the log: a checkpoint makes it durable. */
    if (s->wal != NULL && (wal_unpin(s->wal) != STORE_OK || wal_pin(s->wal) != STORE_OK))
        return store_failed(s, STORE_EPANIC);
    return STORE_OK;
}

void store_close(store_t **s)
{
    if (s == NULL || *s == NULL)
        return;
    store_t *store = *s;
    /* A batch left open is killed and detached; its owner still frees it with abort. */
    if (store->batch != NULL) {
        store_batch_fail(store->batch, STORE_EINVAL);
        store->batch->store = NULL;
    }
    /* Deferred batches are committed; a span that cannot be is left to the log. */
    bool span_ok = true;
    if (store->span != NULL) {
        if (store->unusable || store_span_end(store) != STORE_OK) {
            if (store->span != NULL)
                mdb_txn_abort(store->span);
            store->span = NULL;
            span_ok = false;
        }
    }
    /* Whole only when the environment still writes: otherwise the log stays for the next open. */
    if (store->wal != NULL)
        wal_stop(&store->wal, span_ok && !store->unusable && store_usable(store));
    free(store->wal_buf);
    if (store->env != NULL)
        mdb_env_close(store->env);
    vault_close(&store->vault);
    free(store->shredded);
    pthread_rwlock_destroy(&store->map_lock);
    free(store);
    *s = NULL;
}

static int store_reader_count(const char *msg, void *ctx)
{
    while (*msg == ' ')
        msg++;
    if (*msg >= '0' && *msg <= '9')
        (*(unsigned *)ctx)++;
    return 0;
}

int store_info(store_t *s, store_info_t *info)
{
    if (s == NULL || info == NULL)
        return STORE_EINVAL;
    memset(info, 0, sizeof *info);
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_last_seq_read(s, txn, &info->last_seq);
    store_read_end(s, txn);
    if (rc != STORE_OK)
        return rc;
    MDB_envinfo env_info;
    MDB_stat env_stat;
    int mrc = mdb_env_info(s->env, &env_info);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_stat(s->env, &env_stat);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    unsigned readers = 0;
    if (mdb_reader_list(s->env, store_reader_count, &readers) < 0)
        return STORE_EIO;
    info->map_size = env_info.me_mapsize;
    info->map_used = (env_info.me_last_pgno + 1) * env_stat.ms_psize;
    info->max_map_size = s->max_map_size;
    info->readers_used = readers;
    info->readers_max = env_info.me_maxreaders;
    info->map_grows = s->map_grows;
    info->durable = s->durable;
    info->wal_replayed = s->wal_replayed;
    info->wal_records = wal_records(s->wal);
    info->wal_checkpoints = wal_checkpoints(s->wal);
    info->spanning = s->wal != NULL && s->span_ms > 0 && s->span_room;
    info->stream_id = s->stream_id;
    return STORE_OK;
}

int store_shred_recover(store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->shred, &c);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    uint32_t *slots = NULL;
    size_t n = 0, cap = 0;
    int rc = STORE_OK;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        if (key.mv_size != sizeof(uint32_t)) {
            rc = STORE_ECORRUPT;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            uint32_t *p = realloc(slots, cap * sizeof *p);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            slots = p;
        }
        memcpy(&slots[n++], key.mv_data, sizeof *slots);
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && n > 0)
        rc = vault_destroy(s->vault, slots, n);
    if (rc == STORE_OK && n > 0)
        rc = store_error_from_mdb(mdb_drop(txn, s->shred, 0));
    free(slots);
    return rc;
}
