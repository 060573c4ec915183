/*
 * store.c: the Parcours store on LMDB: the environment, its transactions and the functions of
 * store.h. See store.h for the model, record.h for the layouts of keys and values on disk, and
 * journal.h for how a batch survives the map growing under it.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "record.h"

#define STORE_DB_COUNT              6
#define STORE_DEFAULT_INITIAL       ((size_t)64 << 20)
#define STORE_DEFAULT_MAX           ((size_t)16 << 30)
#define STORE_DEFAULT_COPY_HEADROOM ((size_t)1 << 30)

struct store {
    MDB_env *env;
    MDB_dbi log, dedupe, pathways, outbox, cursors, meta;
    size_t max_map_size;
    unsigned map_grows;
    bool durable;
    store_batch_t *batch; /* the open batch, NULL when none */
    unsigned in_callback; /* foreach calls running a caller's callback in a read transaction */
    bool copying;         /* a hot copy reads the map from another thread: no remapping */
    size_t copy_headroom; /* store_options_t's */
    uint64_t stream_id;   /* meta "stream_id": names this incarnation of the partner streams */
};

struct store_batch {
    store_t *store; /* NULL once the store was closed under the batch */
    MDB_txn *txn;   /* NULL once the batch failed */
    int error;      /* STORE_OK, or why the batch is dead */
    int64_t committed_at;
    uint64_t last_seq;  /* the last seq in the log, this batch's appends included */
    bool appended;      /* meta "last_seq" must be rewritten at commit */
    journal_t *journal; /* every put of the batch, replayed after the map grew */
    uint8_t *scratch;   /* where a value is built before its put */
    size_t scratch_cap;
};

/* --- Small helpers ---------------------------------------------------------------------------- */

/* Length of id when it is a valid id (1..STORE_ID_MAX bytes), else 0. */
static size_t store_id_len(const char *id)
{
    if (id == NULL)
        return 0;
    size_t len = strnlen(id, STORE_ID_MAX + 1);
    return len > STORE_ID_MAX ? 0 : len;
}

/* Translates an LMDB or errno code into a STORE_E* code. */
static int store_error_from_mdb(int rc)
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

/* Begins a transaction, adopting a map size another process set (MDB_MAP_RESIZED). */
static int store_txn_begin(store_t *s, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(s->env, 0);
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_begin(s->env, NULL, flags, txn);
    }
    return store_error_from_mdb(rc);
}

/* Doubles the map, up to max_map_size. No transaction of this process may be open. */
static int store_map_grow(store_t *s)
{
    MDB_envinfo info;
    int rc = mdb_env_info(s->env, &info);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    if (info.me_mapsize >= s->max_map_size)
        return STORE_EFULL;
    size_t size = info.me_mapsize > s->max_map_size / 2 ? s->max_map_size : info.me_mapsize * 2;
    rc = mdb_env_set_mapsize(s->env, size);
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
    int rc = STORE_OK;
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
    s->copying = true;
    return rc;
}

int store_copy_fd(store_t *s, int fd)
{
    if (s == NULL || fd < 0)
        return STORE_EINVAL;
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    /* A closed pipe (EPIPE) or any write error is an I/O failure of this copy only. */
    return rc == MDB_SUCCESS ? STORE_OK : rc == ENOMEM ? STORE_ENOMEM : STORE_EIO;
}

void store_copy_end(store_t *s)
{
    if (s != NULL)
        s->copying = false;
}

/* --- Reading records in a transaction --------------------------------------------------------- */

/* Reads and unpacks a pathway in txn. On STORE_OK the caller owns *out. */
static int store_pathway_read(MDB_txn *txn, MDB_dbi dbi, const char *beneficiary_id,
                              Parcours__V1__Pathway **out)
{
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || out == NULL)
        return STORE_EINVAL;
    MDB_val key = {len, (void *)beneficiary_id}, value;
    int rc = mdb_get(txn, dbi, &key, &value);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    return record_pathway_unpack(value.mv_data, value.mv_size, out);
}

static int store_dedupe_read(MDB_txn *txn, MDB_dbi dbi, const char *partner_id,
                             const char *event_id, uint64_t *seq)
{
    size_t partner_len = store_id_len(partner_id), event_len = store_id_len(event_id);
    if (partner_len == 0 || event_len == 0 || seq == NULL)
        return STORE_EINVAL;
    uint8_t buf[RECORD_KEY_MAX];
    MDB_val key = {record_dedupe_key(buf, partner_id, partner_len, event_id, event_len), buf};
    MDB_val value;
    int rc = mdb_get(txn, dbi, &key, &value);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    return record_u64_decode(value.mv_data, value.mv_size, seq);
}

/* Finds the last partner_seq of a partner's outbox in txn: 0 when the outbox is empty. */
static int store_outbox_read_last(MDB_txn *txn, MDB_dbi dbi, const char *partner_id,
                                  size_t partner_len, uint64_t *last)
{
    uint8_t buf[RECORD_KEY_MAX];
    size_t probe_len = record_outbox_key(buf, partner_id, partner_len, UINT64_MAX);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    MDB_val key = {probe_len, buf}, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    /* The probe is the greatest key the partner can have: an exact hit is its last entry,
     * otherwise the entry just before the first greater key is. */
    if (rc == MDB_SUCCESS &&
        !(key.mv_size == probe_len && memcmp(key.mv_data, buf, probe_len) == 0))
        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    *last = 0;
    /* A key of another partner, or none, leaves *last at 0: this partner's outbox is empty. */
    if (rc == MDB_SUCCESS)
        record_outbox_key_match(key.mv_data, key.mv_size, partner_id, partner_len, last);
    mdb_cursor_close(cursor);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(rc);
}

/* The last seq ever appended: the greater of meta "last_seq" and the log's last key, so that a
 * seq is never reused even if log entries were removed. */
static int store_last_seq_read(store_t *s, MDB_txn *txn, uint64_t *last_seq)
{
    MDB_val key = {8, "last_seq"}, value;
    *last_seq = 0;
    int rc = mdb_get(txn, s->meta, &key, &value);
    if (rc == MDB_SUCCESS) {
        rc = record_u64_decode(value.mv_data, value.mv_size, last_seq);
        if (rc != STORE_OK)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return store_error_from_mdb(rc);
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(txn, s->log, &cursor);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    uint64_t seq;
    if (rc == MDB_SUCCESS && record_log_key_decode(key.mv_data, key.mv_size, &seq) == STORE_OK &&
        seq > *last_seq)
        *last_seq = seq;
    mdb_cursor_close(cursor);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(rc);
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
        {"log", MDB_INTEGERKEY, &s->log}, {"dedupe", 0, &s->dedupe},
        {"pathways", 0, &s->pathways},    {"outbox", 0, &s->outbox},
        {"cursors", 0, &s->cursors},      {"meta", 0, &s->meta},
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
        if (record_u32_decode(value.mv_data, value.mv_size, &version) != STORE_OK ||
            version != STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return STORE_ESCHEMA;
        }
    } else if (mrc == MDB_NOTFOUND) {
        uint8_t version[4];
        record_u32_encode(version, STORE_SCHEMA_VERSION);
        value = (MDB_val){sizeof version, version};
        mrc = mdb_put(txn, s->meta, &key, &value, 0);
    }
    if (mrc == MDB_SUCCESS)
        mrc = store_stream_id_read(s, txn);
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
    s->max_map_size = store_page_round(o.max_map_size);
    s->copy_headroom = o.copy_headroom;
    s->durable = o.durable;
    int rc = store_env_open(s, dir, &o);
    if (rc == STORE_OK)
        rc = store_databases_open(s);
    if (rc != STORE_OK) {
        store_close(&s);
        return rc;
    }
    *out = s;
    return STORE_OK;
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
    return STORE_OK;
}

static void store_batch_free(store_batch_t *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    if (b->store != NULL)
        b->store->batch = NULL;
    journal_destroy(&b->journal);
    free(b->scratch);
    free(b);
}

/* Kills the batch: its transaction is dropped and every later call returns err. */
static int store_batch_fail(store_batch_t *b, int err)
{
    if (b->txn != NULL) {
        mdb_txn_abort(b->txn);
        b->txn = NULL;
    }
    b->error = err;
    return err;
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
    if (store->env != NULL)
        mdb_env_close(store->env);
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
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_last_seq_read(s, txn, &info->last_seq);
    mdb_txn_abort(txn);
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
    info->stream_id = s->stream_id;
    return STORE_OK;
}

/* --- Batches --------------------------------------------------------------------------------- */

int store_batch_begin(store_t *s, int64_t committed_at, store_batch_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL || s->batch != NULL)
        return STORE_EINVAL;
    store_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return STORE_ENOMEM;
    b->committed_at = committed_at;
    b->journal = journal_new();
    if (b->journal == NULL) {
        free(b);
        return STORE_ENOMEM;
    }
    int rc = store_txn_begin(s, 0, &b->txn);
    if (rc == STORE_OK)
        rc = store_last_seq_read(s, b->txn, &b->last_seq);
    if (rc != STORE_OK) {
        store_batch_free(b);
        return rc;
    }
    b->store = s;
    s->batch = b;
    *out = b;
    return STORE_OK;
}

/* Checks that b can take another call: STORE_OK, or why not. */
static int store_batch_usable(const store_batch_t *b)
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
    if (b->store->in_callback > 0)
        return STORE_EINVAL;
    /* A hot copy reads the mapping from another thread: the batch waits for the copy's end. */
    if (b->store->copying)
        return STORE_EFULL;
    for (;;) {
        if (b->txn != NULL) {
            mdb_txn_abort(b->txn);
            b->txn = NULL;
        }
        int rc = store_map_grow(b->store);
        if (rc == STORE_OK)
            rc = store_txn_begin(b->store, 0, &b->txn);
        if (rc != STORE_OK)
            return rc;
        int mrc = journal_replay(b->journal, b->txn);
        if (mrc == MDB_MAP_FULL)
            continue;
        /* A replayed put can only fail as the original did not: nothing sane is left. */
        return mrc == MDB_SUCCESS ? STORE_OK : STORE_EIO;
    }
}

/* Journals and performs one put. Any error kills the batch. */
static int store_batch_put(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                           const void *value, size_t value_len, unsigned flags)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int rc = journal_add(b->journal, dbi, &k, &v, flags);
    if (rc != STORE_OK)
        return store_batch_fail(b, rc);
    int mrc = mdb_put(b->txn, dbi, &k, &v, flags);
    if (mrc == MDB_MAP_FULL)
        rc = store_batch_regrow(b);
    else if (mrc == MDB_KEYEXIST)
        rc = STORE_EIO; /* the store checked first: the data disagrees with itself */
    else
        rc = store_error_from_mdb(mrc);
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
    while (rc == STORE_OK) {
        int mrc = mdb_txn_commit(b->txn);
        b->txn = NULL; /* the commit frees the transaction, even when it fails */
        if (mrc != MDB_MAP_FULL) {
            if (mrc == ENOSPC || mrc == EDQUOT || (mrc == EIO && store_fs_full(b->store)))
                rc = STORE_EFULL;
            else
                rc = mrc == MDB_SUCCESS ? STORE_OK : STORE_EIO;
            break;
        }
        rc = store_batch_regrow(b);
    }
    store_batch_free(b);
    return rc;
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

int store_batch_pathway_get(store_batch_t *b, const char *beneficiary_id,
                            Parcours__V1__Pathway **out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    return store_pathway_read(b->txn, b->store->pathways, beneficiary_id, out);
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

/* Builds the beneficiary's new pathway record in b->scratch: the new packed pathway, the old
 * record's seqs and seq. Reads only: nothing is written. *len is the record's length. */
static int store_pathway_build(store_batch_t *b, const store_event_t *e, uint64_t seq, size_t *len)
{
    size_t id_len = strlen(e->beneficiary_id);
    MDB_val key = {id_len, (void *)e->beneficiary_id}, value;
    record_pathway_t old = {0};
    int rc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (rc == MDB_SUCCESS)
        rc = record_pathway_decode(value.mv_data, value.mv_size, &old);
    else if (rc == MDB_NOTFOUND)
        rc = STORE_OK;
    else
        return store_error_from_mdb(rc);
    if (rc != STORE_OK)
        return rc;
    size_t packed_len;
    rc = record_pathway_size(e->pathway, old.n_seqs + 1, &packed_len, len);
    if (rc != STORE_OK)
        return rc;
    /* old points into the map; b->scratch is ours, so the copy below is safe. */
    if (store_batch_scratch(b, *len) != STORE_OK)
        return STORE_ENOMEM;
    record_pathway_encode(b->scratch, e->pathway, packed_len, &old, seq);
    return STORE_OK;
}

/* Appends the outbox entries of an event: one per distinct recipient. */
static int store_outbox_append(store_batch_t *b, const store_event_t *e, uint64_t seq)
{
    uint8_t value[8];
    record_u64_encode(value, seq);
    for (size_t i = 0; i < e->n_recipients; i++) {
        const char *partner_id = e->recipients[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(e->recipients[j], partner_id) == 0;
        if (seen)
            continue;
        size_t partner_len = strlen(partner_id);
        uint64_t last;
        int rc = store_outbox_read_last(b->txn, b->store->outbox, partner_id, partner_len, &last);
        if (rc != STORE_OK)
            return store_batch_fail(b, rc);
        uint8_t key[RECORD_KEY_MAX];
        size_t key_len = record_outbox_key(key, partner_id, partner_len, last + 1);
        /* Not MDB_APPEND: another partner's keys may sort after this one. */
        rc = store_batch_put(b, b->store->outbox, key, key_len, value, sizeof value,
                             MDB_NOOVERWRITE);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

int store_batch_append(store_batch_t *b, const store_event_t *e, uint64_t *seq_out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (store_event_check(e) != STORE_OK)
        return STORE_EINVAL;
    /* Everything that can refuse the event is read first, so a refusal writes nothing. */
    uint64_t old_seq;
    rc = store_dedupe_read(b->txn, b->store->dedupe, e->partner_id, e->event_id, &old_seq);
    if (rc == STORE_OK)
        return STORE_EEXIST;
    if (rc != STORE_ENOTFOUND)
        return rc;
    uint64_t seq = b->last_seq + 1;
    size_t record_len;
    rc = store_pathway_build(b, e, seq, &record_len);
    if (rc != STORE_OK)
        return rc;

    /* The log value is built after the pathway record in the same scratch buffer. */
    size_t log_len = record_log_size(e->raw_len);
    if (store_batch_scratch(b, record_len + log_len) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t *log = b->scratch + record_len;
    record_log_encode(log, e->type, e->occurred_at, b->committed_at, e->raw, e->raw_len);

    store_t *s = b->store;
    rc = store_batch_put(b, s->log, &seq, sizeof seq, log, log_len, MDB_APPEND);
    if (rc != STORE_OK)
        return rc;
    b->last_seq = seq;
    b->appended = true;
    size_t partner_len = strlen(e->partner_id);
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len =
        record_dedupe_key(key, e->partner_id, partner_len, e->event_id, strlen(e->event_id));
    record_u64_encode(value, seq);
    rc = store_batch_put(b, s->dedupe, key, key_len, value, sizeof value, MDB_NOOVERWRITE);
    if (rc == STORE_OK)
        rc = store_batch_put(b, s->pathways, e->beneficiary_id, strlen(e->beneficiary_id),
                             b->scratch, record_len, 0);
    if (rc == STORE_OK)
        rc = store_outbox_append(b, e, seq);
    if (rc != STORE_OK)
        return rc;
    if (seq_out != NULL)
        *seq_out = seq;
    return STORE_OK;
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

/* --- Reading --------------------------------------------------------------------------------- */

int store_pathway_get(store_t *s, const char *beneficiary_id, Parcours__V1__Pathway **out)
{
    if (s == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_pathway_read(txn, s->pathways, beneficiary_id, out);
    mdb_txn_abort(txn);
    return rc;
}

int store_pathway_seqs(store_t *s, const char *beneficiary_id, uint64_t **seqs, size_t *n)
{
    size_t len = store_id_len(beneficiary_id);
    if (s == NULL || len == 0 || seqs == NULL || n == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {len, (void *)beneficiary_id}, value;
    record_pathway_t record;
    rc = store_error_from_mdb(mdb_get(txn, s->pathways, &key, &value));
    if (rc == STORE_OK)
        rc = record_pathway_decode(value.mv_data, value.mv_size, &record);
    if (rc == STORE_OK) {
        *seqs = malloc(record.n_seqs > 0 ? record.n_seqs * sizeof **seqs : 1);
        if (*seqs == NULL)
            rc = STORE_ENOMEM;
    }
    if (rc == STORE_OK) {
        for (size_t i = 0; i < record.n_seqs; i++)
            (*seqs)[i] = record_pathway_seq(&record, i);
        *n = record.n_seqs;
    }
    mdb_txn_abort(txn);
    return rc;
}

int store_pathway_foreach(store_t *s, store_pathway_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open(txn, s->pathways, &cursor);
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return store_error_from_mdb(mrc);
    }
    MDB_val key, value;
    for (mrc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        Parcours__V1__Pathway *pathway;
        rc = record_pathway_unpack(value.mv_data, value.mv_size, &pathway);
        if (rc != STORE_OK)
            break;
        s->in_callback++;
        int stop = fn(pathway, ctx);
        s->in_callback--;
        parcours__v1__pathway__free_unpacked(pathway, NULL);
        if (stop)
            break;
    }
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return rc;
}

int store_log_get(store_t *s, uint64_t seq, store_log_entry_t *entry)
{
    if (s == NULL || entry == NULL)
        return STORE_EINVAL;
    memset(entry, 0, sizeof *entry);
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {sizeof seq, &seq}, value;
    store_log_entry_t found;
    rc = store_error_from_mdb(mdb_get(txn, s->log, &key, &value));
    if (rc == STORE_OK)
        rc = record_log_decode(key.mv_data, key.mv_size, value.mv_data, value.mv_size, &found);
    if (rc == STORE_OK) {
        uint8_t *raw = malloc(found.raw_len > 0 ? found.raw_len : 1);
        if (raw == NULL) {
            rc = STORE_ENOMEM;
        } else {
            if (found.raw_len > 0)
                memcpy(raw, found.raw, found.raw_len);
            found.raw = raw;
            *entry = found;
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

void store_log_entry_clear(store_log_entry_t *entry)
{
    if (entry == NULL)
        return;
    free((void *)entry->raw);
    memset(entry, 0, sizeof *entry);
}

int store_log_foreach(store_t *s, uint64_t from, store_log_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open(txn, s->log, &cursor);
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return store_error_from_mdb(mrc);
    }
    MDB_val key = {sizeof from, &from}, value;
    for (mrc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        store_log_entry_t entry;
        rc = record_log_decode(key.mv_data, key.mv_size, value.mv_data, value.mv_size, &entry);
        if (rc != STORE_OK)
            break;
        s->in_callback++;
        int stop = fn(&entry, ctx);
        s->in_callback--;
        if (stop)
            break;
    }
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return rc;
}

int store_dedupe_find(store_t *s, const char *partner_id, const char *event_id, uint64_t *seq)
{
    if (s == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_dedupe_read(txn, s->dedupe, partner_id, event_id, seq);
    mdb_txn_abort(txn);
    return rc;
}

int store_outbox_last(store_t *s, const char *partner_id, uint64_t *partner_seq)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || partner_seq == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_outbox_read_last(txn, s->outbox, partner_id, len, partner_seq);
    mdb_txn_abort(txn);
    return rc;
}

int store_outbox_foreach(store_t *s, const char *partner_id, uint64_t from, store_outbox_fn fn,
                         void *ctx)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || fn == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open(txn, s->outbox, &cursor);
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return store_error_from_mdb(mrc);
    }
    uint8_t buf[RECORD_KEY_MAX];
    MDB_val key = {record_outbox_key(buf, partner_id, len, from), buf}, value;
    for (mrc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        /* The partner's entries end at the first key without its prefix. */
        uint64_t partner_seq, seq;
        if (!record_outbox_key_match(key.mv_data, key.mv_size, partner_id, len, &partner_seq))
            break;
        rc = record_u64_decode(value.mv_data, value.mv_size, &seq);
        if (rc != STORE_OK)
            break;
        s->in_callback++;
        int stop = fn(partner_seq, seq, ctx);
        s->in_callback--;
        if (stop)
            break;
    }
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return rc;
}

int store_cursor_get(store_t *s, const char *partner_id, uint64_t *up_to)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || up_to == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, MDB_RDONLY, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {len, (void *)partner_id}, value;
    int mrc = mdb_get(txn, s->cursors, &key, &value);
    *up_to = 0;
    if (mrc == MDB_SUCCESS)
        rc = record_u64_decode(value.mv_data, value.mv_size, up_to);
    else if (mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_txn_abort(txn);
    return rc;
}
