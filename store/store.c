/*
 * store.c: the Parcours store on LMDB. See store.h for the model; this file explains the layouts.
 *
 * Databases and their records (all integers little-endian unless said otherwise):
 *   log       key u64 seq in native order (MDB_INTEGERKEY, written with MDB_APPEND)
 *             value u8 format (1), u8 reserved (0), u16 type, i64 occurred_at, i64 committed_at,
 *             then the raw Event frame
 *   dedupe    key partner_id, 0x00, event_id; value u64 seq
 *   pathways  key beneficiary_id; value u8 format (1), u32 length L, L bytes of a packed
 *             parcours.v1.Pathway, then the beneficiary's seqs as u64, oldest first
 *   outbox    key partner_id, 0x00, partner_seq as u64 BIG-endian, so that a partner's entries
 *             sort by partner_seq; value u64 seq
 *   cursors   key partner_id; value u64 partner_seq
 *   meta      "schema" -> u32, "last_seq" -> u64
 * The 0x00 separator sorts below every byte of an id, so partner "a" and partner "ab" never
 * interleave: every key of "a" sorts before every key of "ab".
 *
 * Map growth: a batch keeps a journal of every put it made. When LMDB answers MDB_MAP_FULL (to a
 * put or to the commit), the transaction is aborted, the map doubled, and the journal replayed
 * in a new transaction. Replaying is correct because the store has one writer: every read the
 * batch made saw the same base state plus its own earlier writes, so the same puts follow.
 */
#include "store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FORMAT          1
#define STORE_LOG_HEADER      20 /* u8 format, u8 reserved, u16 type, i64, i64 */
#define STORE_PATHWAY_HEADER  5  /* u8 format, u32 packed length */
#define STORE_DB_COUNT        6
#define STORE_KEY_MAX         (2 * STORE_ID_MAX + 1) /* the longest key: partner, 0x00, event */
#define STORE_DEFAULT_INITIAL ((size_t)64 << 20)
#define STORE_DEFAULT_MAX     ((size_t)16 << 30)

struct store {
    MDB_env *env;
    MDB_dbi log, dedupe, pathways, outbox, cursors, meta;
    size_t max_map_size;
    unsigned map_grows;
    bool durable;
    store_batch_t *batch; /* the open batch, NULL when none */
    unsigned in_callback; /* foreach calls running a caller's callback in a read transaction */
};

/* One put of a batch, kept so that the batch can be replayed after the map grew. The key and
 * value bytes live in the batch's journal buffer at the given offsets. */
typedef struct store_write {
    MDB_dbi dbi;
    unsigned flags;
    size_t key_offset, key_len, value_offset, value_len;
} store_write_t;

struct store_batch {
    store_t *store; /* NULL once the store was closed under the batch */
    MDB_txn *txn;   /* NULL once the batch failed */
    int error;      /* STORE_OK, or why the batch is dead */
    int64_t committed_at;
    uint64_t last_seq; /* the last seq in the log, this batch's appends included */
    bool appended;     /* meta "last_seq" must be rewritten at commit */
    store_write_t *writes;
    size_t writes_len, writes_cap;
    uint8_t *bytes; /* journal bytes: every key and value of writes */
    size_t bytes_len, bytes_cap;
    uint8_t *scratch; /* where a value is built before its put */
    size_t scratch_cap;
};

/* --- Byte order and small helpers ------------------------------------------------------------ */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[7 - i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Length of id when it is a valid id (1..STORE_ID_MAX bytes), else 0. */
static size_t store_id_len(const char *id)
{
    if (id == NULL)
        return 0;
    size_t len = strnlen(id, STORE_ID_MAX + 1);
    return len > STORE_ID_MAX ? 0 : len;
}

/* Builds partner_id, 0x00, tail into key (STORE_KEY_MAX bytes); returns the key length. */
static size_t store_key_build(uint8_t *key, const char *partner_id, size_t partner_len,
                              const void *tail, size_t tail_len)
{
    memcpy(key, partner_id, partner_len);
    key[partner_len] = 0;
    memcpy(key + partner_len + 1, tail, tail_len);
    return partner_len + 1 + tail_len;
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

/* --- Record codecs --------------------------------------------------------------------------- */

static int store_log_decode(const MDB_val *key, const MDB_val *value, store_log_entry_t *entry)
{
    const uint8_t *v = value->mv_data;
    if (key->mv_size != sizeof(uint64_t) || value->mv_size < STORE_LOG_HEADER ||
        v[0] != STORE_FORMAT)
        return STORE_ECORRUPT;
    uint64_t seq;
    memcpy(&seq, key->mv_data, sizeof seq);
    entry->seq = seq;
    entry->type = (Parcours__V1__EventType)get_le16(v + 2);
    entry->occurred_at = (int64_t)get_le64(v + 4);
    entry->committed_at = (int64_t)get_le64(v + 12);
    entry->raw = v + STORE_LOG_HEADER;
    entry->raw_len = value->mv_size - STORE_LOG_HEADER;
    return STORE_OK;
}

/* A pathway record, pointing into the value it was decoded from. */
typedef struct store_pathway_record {
    const uint8_t *packed;
    size_t packed_len;
    const uint8_t *seqs; /* n_seqs u64 LE */
    size_t n_seqs;
} store_pathway_record_t;

static int store_pathway_decode(const MDB_val *value, store_pathway_record_t *r)
{
    const uint8_t *v = value->mv_data;
    if (value->mv_size < STORE_PATHWAY_HEADER || v[0] != STORE_FORMAT)
        return STORE_ECORRUPT;
    size_t packed_len = get_le32(v + 1);
    size_t rest = value->mv_size - STORE_PATHWAY_HEADER;
    if (packed_len > rest || (rest - packed_len) % 8 != 0)
        return STORE_ECORRUPT;
    r->packed = v + STORE_PATHWAY_HEADER;
    r->packed_len = packed_len;
    r->seqs = r->packed + packed_len;
    r->n_seqs = (rest - packed_len) / 8;
    return STORE_OK;
}

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
    store_pathway_record_t record;
    rc = store_pathway_decode(&value, &record);
    if (rc != STORE_OK)
        return rc;
    *out = parcours__v1__pathway__unpack(NULL, record.packed_len, record.packed);
    return *out == NULL ? STORE_ECORRUPT : STORE_OK;
}

static int store_dedupe_read(MDB_txn *txn, MDB_dbi dbi, const char *partner_id,
                             const char *event_id, uint64_t *seq)
{
    size_t partner_len = store_id_len(partner_id), event_len = store_id_len(event_id);
    if (partner_len == 0 || event_len == 0 || seq == NULL)
        return STORE_EINVAL;
    uint8_t buf[STORE_KEY_MAX];
    MDB_val key = {store_key_build(buf, partner_id, partner_len, event_id, event_len), buf};
    MDB_val value;
    int rc = mdb_get(txn, dbi, &key, &value);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    if (value.mv_size != 8)
        return STORE_ECORRUPT;
    *seq = get_le64(value.mv_data);
    return STORE_OK;
}

/* Finds the last partner_seq of a partner's outbox in txn: 0 when the outbox is empty. */
static int store_outbox_read_last(MDB_txn *txn, MDB_dbi dbi, const char *partner_id,
                                  size_t partner_len, uint64_t *last)
{
    static const uint8_t top[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t buf[STORE_KEY_MAX];
    size_t probe_len = store_key_build(buf, partner_id, partner_len, top, sizeof top);
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
    if (rc == MDB_SUCCESS && key.mv_size == probe_len &&
        memcmp(key.mv_data, buf, partner_len + 1) == 0)
        *last = get_be64((const uint8_t *)key.mv_data + partner_len + 1);
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
        if (value.mv_size != 8)
            return STORE_ECORRUPT;
        *last_seq = get_le64(value.mv_data);
    } else if (rc != MDB_NOTFOUND) {
        return store_error_from_mdb(rc);
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(txn, s->log, &cursor);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    if (rc == MDB_SUCCESS && key.mv_size == sizeof(uint64_t)) {
        uint64_t seq;
        memcpy(&seq, key.mv_data, sizeof seq);
        if (seq > *last_seq)
            *last_seq = seq;
    }
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
        if (value.mv_size != 4 || get_le32(value.mv_data) != STORE_SCHEMA_VERSION) {
            mdb_txn_abort(txn);
            return STORE_ESCHEMA;
        }
        /* Committed, not aborted: aborting would close the database handles just opened. */
        return store_error_from_mdb(mdb_txn_commit(txn));
    }
    if (mrc == MDB_NOTFOUND) {
        uint8_t version[4];
        put_le32(version, STORE_SCHEMA_VERSION);
        value = (MDB_val){sizeof version, version};
        mrc = mdb_put(txn, s->meta, &key, &value, 0);
    }
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

static void store_batch_free(store_batch_t *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    if (b->store != NULL)
        b->store->batch = NULL;
    free(b->writes);
    free(b->bytes);
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

static int store_buffer_reserve(void **buffer, size_t *cap, size_t need, size_t unit)
{
    if (need <= *cap)
        return STORE_OK;
    size_t cap_new = *cap ? *cap : 64;
    while (cap_new < need)
        cap_new *= 2;
    void *p = realloc(*buffer, cap_new * unit);
    if (p == NULL)
        return STORE_ENOMEM;
    *buffer = p;
    *cap = cap_new;
    return STORE_OK;
}

/* Copies one put into the journal. */
static int store_journal_add(store_batch_t *b, MDB_dbi dbi, const MDB_val *key,
                             const MDB_val *value, unsigned flags)
{
    size_t need = b->bytes_len + key->mv_size + value->mv_size;
    int rc = store_buffer_reserve((void **)&b->writes, &b->writes_cap, b->writes_len + 1,
                                  sizeof *b->writes);
    if (rc == STORE_OK)
        rc = store_buffer_reserve((void **)&b->bytes, &b->bytes_cap, need, 1);
    if (rc != STORE_OK)
        return rc;
    store_write_t *w = &b->writes[b->writes_len++];
    w->dbi = dbi;
    w->flags = flags;
    w->key_offset = b->bytes_len;
    w->key_len = key->mv_size;
    memcpy(b->bytes + b->bytes_len, key->mv_data, key->mv_size);
    b->bytes_len += key->mv_size;
    w->value_offset = b->bytes_len;
    w->value_len = value->mv_size;
    if (value->mv_size > 0)
        memcpy(b->bytes + b->bytes_len, value->mv_data, value->mv_size);
    b->bytes_len += value->mv_size;
    return STORE_OK;
}

/* Puts every journaled write into b->txn, in order. Returns an LMDB code. */
static int store_journal_replay(store_batch_t *b)
{
    for (size_t i = 0; i < b->writes_len; i++) {
        const store_write_t *w = &b->writes[i];
        MDB_val key = {w->key_len, b->bytes + w->key_offset};
        MDB_val value = {w->value_len, b->bytes + w->value_offset};
        int rc = mdb_put(b->txn, w->dbi, &key, &value, w->flags);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

/* After MDB_MAP_FULL: drops the transaction, grows the map and replays the journal in a new
 * transaction, as many times as needed. STORE_EFULL once the map cannot grow further. */
static int store_batch_regrow(store_batch_t *b)
{
    /* Growing remaps the file: a read transaction held by a foreach would point into the old
     * mapping, so a batch written from inside a foreach callback cannot grow the map. */
    if (b->store->in_callback > 0)
        return STORE_EINVAL;
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
        int mrc = store_journal_replay(b);
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
    int rc = store_journal_add(b, dbi, &k, &v, flags);
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

static int store_batch_scratch(store_batch_t *b, size_t need)
{
    return store_buffer_reserve((void **)&b->scratch, &b->scratch_cap, need, 1);
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
        put_le64(value, b->last_seq);
        rc = store_batch_put(b, b->store->meta, "last_seq", 8, value, sizeof value, 0);
    }
    while (rc == STORE_OK) {
        int mrc = mdb_txn_commit(b->txn);
        b->txn = NULL; /* the commit frees the transaction, even when it fails */
        if (mrc != MDB_MAP_FULL) {
            rc = mrc == ENOSPC ? STORE_EFULL : mrc == MDB_SUCCESS ? STORE_OK : STORE_EIO;
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
    store_pathway_record_t old = {0};
    int rc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (rc == MDB_SUCCESS)
        rc = store_pathway_decode(&value, &old);
    else if (rc == MDB_NOTFOUND)
        rc = STORE_OK;
    else
        return store_error_from_mdb(rc);
    if (rc != STORE_OK)
        return rc;
    size_t packed_len = parcours__v1__pathway__get_packed_size(e->pathway);
    if (packed_len > UINT32_MAX)
        return STORE_EINVAL;
    *len = STORE_PATHWAY_HEADER + packed_len + 8 * (old.n_seqs + 1);
    /* old points into the map; b->scratch is ours, so the copy below is safe. */
    if (store_batch_scratch(b, *len) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t *p = b->scratch;
    p[0] = STORE_FORMAT;
    put_le32(p + 1, (uint32_t)packed_len);
    parcours__v1__pathway__pack(e->pathway, p + STORE_PATHWAY_HEADER);
    p += STORE_PATHWAY_HEADER + packed_len;
    if (old.n_seqs > 0)
        memcpy(p, old.seqs, 8 * old.n_seqs);
    put_le64(p + 8 * old.n_seqs, seq);
    return STORE_OK;
}

/* Appends the outbox entries of an event: one per distinct recipient. */
static int store_outbox_append(store_batch_t *b, const store_event_t *e, uint64_t seq)
{
    uint8_t value[8];
    put_le64(value, seq);
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
        uint8_t key[STORE_KEY_MAX], partner_seq[8];
        put_be64(partner_seq, last + 1);
        size_t key_len = store_key_build(key, partner_id, partner_len, partner_seq, 8);
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
    size_t log_len = STORE_LOG_HEADER + e->raw_len;
    if (store_batch_scratch(b, record_len + log_len) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t *log = b->scratch + record_len;
    log[0] = STORE_FORMAT;
    log[1] = 0;
    put_le16(log + 2, (uint16_t)e->type);
    put_le64(log + 4, (uint64_t)e->occurred_at);
    put_le64(log + 12, (uint64_t)b->committed_at);
    if (e->raw_len > 0)
        memcpy(log + STORE_LOG_HEADER, e->raw, e->raw_len);

    store_t *s = b->store;
    rc = store_batch_put(b, s->log, &seq, sizeof seq, log, log_len, MDB_APPEND);
    if (rc != STORE_OK)
        return rc;
    b->last_seq = seq;
    b->appended = true;
    size_t partner_len = strlen(e->partner_id);
    uint8_t key[STORE_KEY_MAX], value[8];
    size_t key_len =
        store_key_build(key, e->partner_id, partner_len, e->event_id, strlen(e->event_id));
    put_le64(value, seq);
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
    put_le64(value, up_to);
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
    store_pathway_record_t record;
    rc = store_error_from_mdb(mdb_get(txn, s->pathways, &key, &value));
    if (rc == STORE_OK)
        rc = store_pathway_decode(&value, &record);
    if (rc == STORE_OK) {
        *seqs = malloc(record.n_seqs > 0 ? record.n_seqs * sizeof **seqs : 1);
        if (*seqs == NULL)
            rc = STORE_ENOMEM;
    }
    if (rc == STORE_OK) {
        for (size_t i = 0; i < record.n_seqs; i++)
            (*seqs)[i] = get_le64(record.seqs + 8 * i);
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
        store_pathway_record_t record;
        rc = store_pathway_decode(&value, &record);
        if (rc != STORE_OK)
            break;
        Parcours__V1__Pathway *pathway =
            parcours__v1__pathway__unpack(NULL, record.packed_len, record.packed);
        if (pathway == NULL) {
            rc = STORE_ECORRUPT;
            break;
        }
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
        rc = store_log_decode(&key, &value, &found);
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
        rc = store_log_decode(&key, &value, &entry);
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
    uint8_t buf[STORE_KEY_MAX], start[8];
    put_be64(start, from);
    MDB_val key = {store_key_build(buf, partner_id, len, start, 8), buf}, value;
    for (mrc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        /* The partner's entries end at the first key without its prefix. */
        if (key.mv_size != len + 9 || memcmp(key.mv_data, buf, len + 1) != 0)
            break;
        if (value.mv_size != 8) {
            rc = STORE_ECORRUPT;
            break;
        }
        s->in_callback++;
        int stop =
            fn(get_be64((const uint8_t *)key.mv_data + len + 1), get_le64(value.mv_data), ctx);
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
        rc = value.mv_size == 8 ? (*up_to = get_le64(value.mv_data), STORE_OK) : STORE_ECORRUPT;
    else if (mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_txn_abort(txn);
    return rc;
}
