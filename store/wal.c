/* wal.c: the store's write-ahead log, its checkpoints and its recovery (wal.h). */
#define _GNU_SOURCE /* fallocate: allocated, never emulated by writing zeros */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "record.h"
#include "store.h"

#define WAL_MAGIC            0x4c415750u /* "PWAL" read as a little-endian u32 */
#define WAL_HEADER           WAL_RECORD_HEAD
#define WAL_CHECKPOINT_MAGIC "PCRSWAL2"
/* Format 1 (2026-12, before spanning commits): no offset, the records to replay begin their
 * segment. A daemon of that version may have left one behind at a crash. */
#define WAL_CHECKPOINT_MAGIC_1 "PCRSWALC"
#define WAL_CHECKPOINT_HEAD_1  32
#define WAL_CHECKPOINT_FILE    "wal.checkpoint"
#define WAL_SEGMENT_MAX        ((uint64_t)64 << 20)
/* Each segment is allocated whole when it starts, so that a record's flush is its data alone:
 * an append that grows the file also waits for the file system to log the new size (0.16 ms
 * against 0.09 for a write inside the allocation, on the project's machine kind). What lies past
 * the last record reads as zeros, where recovery stops. */
#define WAL_SEGMENT_ALLOCATE ((off_t)64 << 20)

struct wal {
    char dir[4096];
    MDB_env *env;
    int data_fd;         /* DIR/data.mdb read-only: the meta pages right after a commit */
    uint64_t data_inode; /* its inode, which each checkpoint names */
    unsigned psize;      /* LMDB's page size: the meta pages are the file's first two */
    int segment_fd;
    uint64_t segment;       /* the number of the segment being appended to */
    uint64_t segment_bytes; /* its length */
    uint64_t last_record;   /* the length of the last record appended (wal_unappend) */
    /* Where the first record LMDB has not committed yet begins (wal_mark_committed): records
     * before it are in the environment's last commit, those from it on only in the log. */
    uint64_t committed_segment, committed_offset;
    /* The checkpoint thread, and what it shares with the writing thread under lock. */
    pthread_t thread;
    bool thread_running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool job, busy, stop;
    MDB_txn *job_pin;     /* the snapshot the job checkpoints */
    uint8_t *job_metas;   /* its two meta pages */
    uint64_t job_segment; /* the first segment of the records after it */
    MDB_txn *pin;         /* the last checkpoint's snapshot, whose pages must stay */
    int ready_fd;         /* the next segment, made ready by the thread; -1 when none */
    uint64_t ready_segment;
    bool preparing; /* the thread is making it: the writer waits rather than make it twice */
    int failed;     /* a checkpoint could not be saved: nothing past the last is sure */
    int64_t last_checkpoint_ms;
    int64_t checkpoint_ms; /* between two checkpoints */
    uint64_t records, checkpoints;
};

static int64_t wal_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wal_errno(int e)
{
    return e == ENOSPC || e == EDQUOT  ? STORE_EFULL
           : e == EACCES || e == EPERM ? STORE_EACCESS
           : e == ENOMEM               ? STORE_ENOMEM
                                       : STORE_EIO;
}

/* A torn record's finder, not a seal: a fixed key. */
static uint64_t wal_hash(const uint8_t *p, size_t len)
{
    static const uint8_t key[crypto_shorthash_KEYBYTES] = "parcours wal 01";
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, len, key);
    uint64_t h = 0;
    record_u64_decode(out, sizeof out, &h);
    return h;
}

static int wal_write_all(int fd, const uint8_t *p, size_t len, off_t at)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? wal_errno(errno) : STORE_EIO;
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return STORE_OK;
}

static int wal_path(char *out, size_t size, const char *dir, const char *name)
{
    return (size_t)snprintf(out, size, "%s/%s", dir, name) < size ? STORE_OK : STORE_EINVAL;
}

static int wal_segment_path(char *out, size_t size, const char *dir, uint64_t segment)
{
    return (size_t)snprintf(out, size, "%s/wal.%016llx", dir, (unsigned long long)segment) < size
               ? STORE_OK
               : STORE_EINVAL;
}

/* The number of a segment's file name, or 0 when the name is not a segment's. */
static uint64_t wal_segment_number(const char *name)
{
    if (strncmp(name, "wal.", 4) != 0 || strlen(name) != 4 + 16)
        return 0;
    uint64_t n = 0;
    for (const char *c = name + 4; *c; c++) {
        int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        n = n << 4 | (uint64_t)d;
    }
    return n;
}

static int wal_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return wal_errno(errno);
    int rc = fsync(fd) == 0 ? STORE_OK : wal_errno(errno);
    close(fd);
    return rc;
}

static int wal_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The segments in dir, sorted (the caller frees *out). */
static int wal_segments(const char *dir, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return wal_errno(errno);
    size_t cap = 0;
    int rc = STORE_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        uint64_t number = wal_segment_number(e->d_name);
        if (number == 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            uint64_t *p = realloc(*out, cap * sizeof *p);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            *out = p;
        }
        (*out)[(*n)++] = number;
    }
    closedir(d);
    if (rc == STORE_OK && *n > 1)
        qsort(*out, *n, sizeof **out, wal_u64_cmp);
    return rc;
}

/* Removes the segments numbered below first (all with first = UINT64_MAX). */
static void wal_segments_remove_before(const char *dir, uint64_t first)
{
    uint64_t *numbers;
    size_t n;
    if (wal_segments(dir, &numbers, &n) != STORE_OK)
        return;
    char path[4200];
    for (size_t i = 0; i < n; i++)
        if (numbers[i] < first && wal_segment_path(path, sizeof path, dir, numbers[i]) == STORE_OK)
            unlink(path);
    free(numbers);
}

/* --- Checkpoints ------------------------------------------------------------------------------ */

/* The file: magic (8), page size (4), zero (4), first segment (8), the inode of the data.mdb it
 * belongs to (8), the offset in the first segment of the first record to replay (8), the two
 * meta pages, and the SipHash of everything before it (8). The inode
 * keeps recovery from writing one store's meta pages into another's file (a crashed daemon's
 * checkpoint left beside a data.mdb put there since, by a restore for instance). */
#define WAL_CHECKPOINT_HEAD 40

static size_t wal_checkpoint_size(unsigned psize)
{
    return WAL_CHECKPOINT_HEAD + 2 * (size_t)psize + 8;
}

static int wal_checkpoint_save(const char *dir, unsigned psize, uint64_t inode, uint64_t first,
                               uint64_t offset, const uint8_t *metas)
{
    size_t size = wal_checkpoint_size(psize);
    uint8_t *file = calloc(1, size);
    if (file == NULL)
        return STORE_ENOMEM;
    memcpy(file, WAL_CHECKPOINT_MAGIC, 8);
    record_u32_encode(file + 8, psize);
    record_u64_encode(file + 16, first);
    record_u64_encode(file + 24, inode);
    record_u64_encode(file + 32, offset);
    memcpy(file + WAL_CHECKPOINT_HEAD, metas, 2 * (size_t)psize);
    record_u64_encode(file + size - 8, wal_hash(file, size - 8));
    char tmp[4200], path[4200];
    int rc = wal_path(tmp, sizeof tmp, dir, WAL_CHECKPOINT_FILE ".tmp");
    if (rc == STORE_OK)
        rc = wal_path(path, sizeof path, dir, WAL_CHECKPOINT_FILE);
    int fd = rc == STORE_OK ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (rc == STORE_OK && fd < 0)
        rc = wal_errno(errno);
    if (rc == STORE_OK)
        rc = wal_write_all(fd, file, size, 0);
    if (rc == STORE_OK && fdatasync(fd) != 0)
        rc = wal_errno(errno);
    if (fd >= 0)
        close(fd);
    if (rc == STORE_OK && rename(tmp, path) != 0)
        rc = wal_errno(errno);
    if (rc == STORE_OK)
        rc = wal_dir_sync(dir);
    free(file);
    return rc;
}

/* Reads the two meta pages as the last commit left them. */
static int wal_metas_read(const wal_t *w, uint8_t *metas)
{
    size_t len = 2 * (size_t)w->psize;
    ssize_t n = pread(w->data_fd, metas, len, 0);
    return n == (ssize_t)len ? STORE_OK : STORE_EIO;
}

/* Makes the file of segment number `segment`, its name synced into the directory (before any
 * record in it is acknowledged) and its space allocated: *fd. */
static int wal_segment_make(const char *dir, uint64_t segment, int *out)
{
    *out = -1;
    char path[4200];
    int rc = wal_segment_path(path, sizeof path, dir, segment);
    int fd = rc == STORE_OK ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (rc == STORE_OK && fd < 0)
        rc = wal_errno(errno);
    if (rc == STORE_OK)
        rc = wal_dir_sync(dir);
    if (rc != STORE_OK) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return rc;
    }
    /* Only an allowance: on a file system without the room, records grow the file instead. */
    (void)fallocate(fd, 0, 0, WAL_SEGMENT_ALLOCATE);
    *out = fd;
    return STORE_OK;
}

/* Appends from now on to segment number `segment` (fd, made by wal_segment_make), and closes the
 * previous one, every record of which is already flushed. */
static void wal_segment_use(wal_t *w, int fd, uint64_t segment)
{
    if (w->segment_fd >= 0)
        close(w->segment_fd);
    w->segment_fd = fd;
    w->segment = segment;
    w->segment_bytes = 0;
    w->last_record = 0;
}

/* Whether every record appended is in the environment's last commit. */
static bool wal_all_committed(const wal_t *w)
{
    return w->committed_segment == w->segment && w->committed_offset == w->segment_bytes;
}

/* The next segment: the one the checkpoint thread made ready, or one made now. */
static int wal_segment_next(wal_t *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->preparing)
        pthread_cond_wait(&w->cond, &w->lock);
    int fd = w->ready_fd;
    uint64_t number = w->ready_segment;
    w->ready_fd = -1;
    pthread_mutex_unlock(&w->lock);
    if (fd >= 0 && number != w->segment + 1) {
        close(fd); /* not the next one (cannot happen: only the writer moves on) */
        fd = -1;
    }
    if (fd < 0) {
        int rc = wal_segment_make(w->dir, w->segment + 1, &fd);
        if (rc != STORE_OK)
            return rc;
    }
    wal_segment_use(w, fd, w->segment + 1);
    return STORE_OK;
}

/* On the checkpoint thread, lock held: makes the segment after `current` ready, so that the
 * writing thread never waits for a file to be made, synced and allocated. */
static void wal_segment_prepare(wal_t *w, uint64_t current)
{
    if (w->ready_fd >= 0)
        return;
    w->preparing = true;
    pthread_mutex_unlock(&w->lock);
    int fd;
    int rc = wal_segment_make(w->dir, current + 1, &fd);
    pthread_mutex_lock(&w->lock);
    w->preparing = false;
    if (rc == STORE_OK) {
        w->ready_fd = fd;
        w->ready_segment = current + 1;
    }
    pthread_cond_broadcast(&w->cond);
}

/* The data file's dirty pages written back a slice at a time, each waited for, before the
 * fdatasync that makes the checkpoint: one flush of everything written since the last
 * checkpoint would hold the device for as long, and every batch's flush of the log behind it.
 * Slices let the log's flushes pass between them. */
#define WAL_WRITEBACK_SLICE ((off_t)1 << 20)

static void wal_writeback(wal_t *w)
{
    mdb_filehandle_t fd;
    struct stat st;
    if (mdb_env_get_fd(w->env, &fd) != MDB_SUCCESS || fstat(fd, &st) != 0)
        return;
    for (off_t at = 0; at < st.st_size; at += WAL_WRITEBACK_SLICE)
        if (sync_file_range(fd, at, WAL_WRITEBACK_SLICE,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0)
            return; /* the fdatasync after does it all anyway */
}

static void *wal_thread(void *arg)
{
    wal_t *w = arg;
    pthread_mutex_lock(&w->lock);
    wal_segment_prepare(w, w->job_segment);
    for (;;) {
        while (!w->job && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->job)
            break;
        MDB_txn *pin = w->job_pin;
        uint8_t *metas = w->job_metas;
        uint64_t first = w->job_segment;
        pthread_mutex_unlock(&w->lock);

        /* Every page of every commit up to the job's is on disk before the checkpoint that
         * names it is; the pages of later commits may be too, which recovery undoes. */
        wal_writeback(w);
        int rc = mdb_env_sync(w->env, 1) == 0 ? STORE_OK : STORE_EIO;
        if (rc == STORE_OK)
            rc = wal_checkpoint_save(w->dir, w->psize, w->data_inode, first, 0, metas);
        if (rc == STORE_OK)
            wal_segments_remove_before(w->dir, first);
        free(metas);
        MDB_txn *old;
        if (rc == STORE_OK) {
            old = w->pin; /* its snapshot is no longer the one recovery returns to */
        } else {
            old = pin; /* the previous checkpoint stays, and its pin */
        }
        pthread_mutex_lock(&w->lock);
        if (rc == STORE_OK) {
            w->pin = pin;
            w->checkpoints++;
        } else {
            w->failed = 1;
        }
        pthread_mutex_unlock(&w->lock);
        if (old != NULL)
            mdb_txn_abort(old);
        pthread_mutex_lock(&w->lock);
        w->job = false;
        w->busy = false;
        w->job_pin = NULL;
        w->job_metas = NULL;
        w->last_checkpoint_ms = wal_now_ms();
        wal_segment_prepare(w, first);
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Waits until no checkpoint runs. */
static void wal_wait_idle(wal_t *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->busy)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

/* A checkpoint of the state as it is now, on this thread, and the pin dropped: nothing is
 * committed meanwhile (the caller is the writing thread, between batches). Records appended
 * since the last commit (a spanning commit that did not go through) are replayed from where
 * they begin: the checkpoint names that place. */
static int wal_checkpoint_now(wal_t *w)
{
    wal_wait_idle(w);
    if (__atomic_load_n(&w->failed, __ATOMIC_ACQUIRE))
        return STORE_EIO;
    uint8_t *metas = malloc(2 * (size_t)w->psize);
    if (metas == NULL)
        return STORE_ENOMEM;
    int rc = mdb_env_sync(w->env, 1) == 0 ? STORE_OK : STORE_EIO;
    if (rc == STORE_OK)
        rc = wal_metas_read(w, metas);
    bool all = wal_all_committed(w);
    uint64_t first = all ? w->segment + 1 : w->committed_segment;
    uint64_t offset = all ? 0 : w->committed_offset;
    if (rc == STORE_OK)
        rc = wal_segment_next(w);
    if (rc == STORE_OK && all)
        wal_mark_committed(w);
    if (rc == STORE_OK)
        rc = wal_checkpoint_save(w->dir, w->psize, w->data_inode, first, offset, metas);
    if (rc == STORE_OK) {
        wal_segments_remove_before(w->dir, first);
        w->checkpoints++;
        w->last_checkpoint_ms = wal_now_ms();
    } else {
        /* The checkpoint on disk is still the last one, and its pin must stay: nothing more may
         * be committed as if the log were sound. */
        __atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
    }
    free(metas);
    return rc;
}

static int wal_segment_replay(const uint8_t *p, size_t len, MDB_txn *txn, const MDB_dbi *dbis,
                              size_t n_dbis, unsigned *replayed);

/* --- Lifecycle -------------------------------------------------------------------------------- */

int wal_start(const char *dir, MDB_env *env, unsigned checkpoint_ms, wal_t **out)
{
    *out = NULL;
    wal_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return STORE_ENOMEM;
    w->env = env;
    w->checkpoint_ms = checkpoint_ms ? checkpoint_ms : 200;
    w->segment_fd = -1;
    w->data_fd = -1;
    w->ready_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    MDB_stat st;
    char path[4200];
    int rc =
        snprintf(w->dir, sizeof w->dir, "%s", dir) < (int)sizeof w->dir ? STORE_OK : STORE_EINVAL;
    if (rc == STORE_OK)
        rc = mdb_env_stat(env, &st) == MDB_SUCCESS ? STORE_OK : STORE_EIO;
    if (rc == STORE_OK) {
        w->psize = st.ms_psize;
        rc = wal_path(path, sizeof path, dir, "data.mdb");
    }
    if (rc == STORE_OK && (w->data_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = wal_errno(errno);
    struct stat data_st;
    if (rc == STORE_OK && fstat(w->data_fd, &data_st) != 0)
        rc = wal_errno(errno);
    if (rc == STORE_OK)
        w->data_inode = (uint64_t)data_st.st_ino;
    uint8_t *metas = rc == STORE_OK ? malloc(2 * (size_t)w->psize) : NULL;
    if (rc == STORE_OK && metas == NULL)
        rc = STORE_ENOMEM;
    /* Whatever an earlier run left is gone (wal_recover replayed it): segment 1 begins. */
    if (rc == STORE_OK) {
        wal_segments_remove_before(dir, UINT64_MAX);
        rc = mdb_env_sync(env, 1) == 0 ? STORE_OK : STORE_EIO;
    }
    int fd = -1;
    if (rc == STORE_OK)
        rc = wal_segment_make(dir, 1, &fd);
    if (rc == STORE_OK) {
        wal_segment_use(w, fd, 1);
        wal_mark_committed(w);
    }
    if (rc == STORE_OK)
        rc = wal_metas_read(w, metas);
    if (rc == STORE_OK)
        rc = wal_checkpoint_save(dir, w->psize, w->data_inode, 1, 0, metas);
    free(metas);
    if (rc == STORE_OK)
        rc = wal_pin(w);
    if (rc == STORE_OK)
        rc = mdb_env_set_flags(env, MDB_NOSYNC, 1) == MDB_SUCCESS ? STORE_OK : STORE_EIO;
    if (rc == STORE_OK) {
        w->last_checkpoint_ms = wal_now_ms();
        w->job_segment = 1; /* the thread makes segment 2 ready */
        if (pthread_create(&w->thread, NULL, wal_thread, w) == 0)
            w->thread_running = true;
        else
            rc = STORE_ENOMEM;
    }
    if (rc != STORE_OK) {
        wal_stop(&w, true);
        return rc;
    }
    *out = w;
    return STORE_OK;
}

void wal_stop(wal_t **pw, bool clean)
{
    if (pw == NULL || *pw == NULL)
        return;
    wal_t *w = *pw;
    if (w->thread_running) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    if (w->pin != NULL)
        mdb_txn_abort(w->pin);
    w->pin = NULL;
    mdb_env_set_flags(w->env, MDB_NOSYNC, 0);
    if (clean && !w->failed && mdb_env_sync(w->env, 1) == 0) {
        char path[4200];
        if (wal_path(path, sizeof path, w->dir, WAL_CHECKPOINT_FILE) == STORE_OK)
            unlink(path);
        wal_dir_sync(w->dir);
        wal_segments_remove_before(w->dir, UINT64_MAX);
    }
    if (w->segment_fd >= 0)
        close(w->segment_fd);
    if (w->ready_fd >= 0)
        close(w->ready_fd);
    if (w->data_fd >= 0)
        close(w->data_fd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *pw = NULL;
}

/* --- Records ---------------------------------------------------------------------------------- */

/* Zeroes the header of the record at `at`, where recovery then stops: a record whose commit
 * failed. A store that cannot write and flush the zeros stops instead. */
static void wal_erase_at(wal_t *w, uint64_t at)
{
    static const uint8_t zeros[WAL_HEADER];
    /* Flushed at once (a failed commit is rare): left to a later flush, a cut could keep the
     * record but not the zeros while the batch's retry goes to the next segment, and recovery
     * would meet the same batch twice. */
    if (wal_write_all(w->segment_fd, zeros, sizeof zeros, (off_t)at) != STORE_OK ||
        fdatasync(w->segment_fd) != 0)
        __atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
}

int wal_append(wal_t *w, uint8_t *record, size_t len)
{
    if (len > UINT32_MAX - WAL_HEADER)
        return STORE_EINVAL;
    size_t need = WAL_HEADER + len;
    record_u32_encode(record, WAL_MAGIC);
    record_u32_encode(record + 4, (uint32_t)len);
    record_u64_encode(record + 8, wal_hash(record + WAL_HEADER, len));
    int rc = wal_write_all(w->segment_fd, record, need, (off_t)w->segment_bytes);
    if (rc != STORE_OK) {
        wal_erase_at(w, w->segment_bytes);
        return rc;
    }
    w->segment_bytes += need;
    w->last_record = need;
    w->records++;
    return STORE_OK;
}

void wal_unappend(wal_t *w)
{
    if (w->last_record == 0)
        return;
    w->segment_bytes -= w->last_record;
    w->last_record = 0;
    w->records--;
    wal_erase_at(w, w->segment_bytes);
}

int wal_sync(wal_t *w)
{
    if (fdatasync(w->segment_fd) != 0)
        return STORE_EIO;
    return __atomic_load_n(&w->failed, __ATOMIC_ACQUIRE) ? STORE_EIO : STORE_OK;
}

void wal_committed(wal_t *w)
{
    pthread_mutex_lock(&w->lock);
    bool busy = w->busy;
    int64_t last = w->last_checkpoint_ms;
    pthread_mutex_unlock(&w->lock);
    /* (The next segment is ready, made by the thread after the last checkpoint; only after a
     * synchronous checkpoint, when the map grew, is one made here.) */
    if (busy || !wal_all_committed(w) ||
        (wal_now_ms() - last < w->checkpoint_ms && w->segment_bytes < WAL_SEGMENT_MAX))
        return;
    /* Right after the commit, on the writing thread: the pin and the meta pages are the
     * snapshot of this commit, and the next segment holds what comes after it. */
    MDB_txn *pin = NULL;
    uint8_t *metas = malloc(2 * (size_t)w->psize);
    if (metas == NULL || mdb_txn_begin(w->env, NULL, MDB_RDONLY, &pin) != MDB_SUCCESS ||
        wal_metas_read(w, metas) != STORE_OK || wal_segment_next(w) != STORE_OK) {
        if (pin != NULL)
            mdb_txn_abort(pin);
        free(metas);
        return; /* tried again after the next commit */
    }
    wal_mark_committed(w);
    pthread_mutex_lock(&w->lock);
    w->job = true;
    w->busy = true;
    w->job_pin = pin;
    w->job_metas = metas;
    w->job_segment = w->segment;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void wal_mark_committed(wal_t *w)
{
    w->committed_segment = w->segment;
    w->committed_offset = w->segment_bytes;
}

int wal_uncommitted_replay(wal_t *w, MDB_txn *txn, const MDB_dbi *dbis, size_t n_dbis,
                           unsigned *replayed)
{
    *replayed = 0;
    char path[4200];
    int rc = STORE_OK;
    /* Only the bytes of those records are read: a segment is allocated far past its end. */
    for (uint64_t n = w->committed_segment; rc == STORE_OK && n <= w->segment; n++) {
        rc = wal_segment_path(path, sizeof path, w->dir, n);
        int fd = rc == STORE_OK ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        struct stat st;
        if (rc == STORE_OK && (fd < 0 || fstat(fd, &st) != 0))
            rc = wal_errno(errno);
        uint64_t from = n == w->committed_segment ? w->committed_offset : 0;
        uint64_t to = n == w->segment ? w->segment_bytes : (uint64_t)st.st_size;
        uint8_t *seg = NULL;
        if (rc == STORE_OK && (from > to || to > (uint64_t)st.st_size))
            rc = STORE_ECORRUPT;
        if (rc == STORE_OK && to > from && (seg = malloc((size_t)(to - from))) == NULL)
            rc = STORE_ENOMEM;
        if (rc == STORE_OK && to > from &&
            pread(fd, seg, (size_t)(to - from), (off_t)from) != (ssize_t)(to - from))
            rc = STORE_EIO;
        if (rc == STORE_OK)
            rc = wal_segment_replay(seg, (size_t)(to - from), txn, dbis, n_dbis, replayed);
        free(seg);
        if (fd >= 0)
            close(fd);
    }
    return rc;
}

int wal_unpin(wal_t *w)
{
    int rc = wal_checkpoint_now(w);
    if (rc != STORE_OK)
        return rc; /* the pin stays on the last checkpoint that was saved */
    if (w->pin != NULL)
        mdb_txn_abort(w->pin);
    w->pin = NULL;
    return STORE_OK;
}

int wal_pin(wal_t *w)
{
    if (w->pin != NULL)
        return STORE_OK;
    if (mdb_txn_begin(w->env, NULL, MDB_RDONLY, &w->pin) == MDB_SUCCESS)
        return STORE_OK;
    w->pin = NULL;
    /* Unpinned, later commits could reuse the checkpoint's pages: nothing more is committed. */
    __atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
    return STORE_EIO;
}

uint64_t wal_records(const wal_t *w)
{
    return w != NULL ? w->records : 0;
}

uint64_t wal_checkpoints(const wal_t *w)
{
    return w != NULL ? w->checkpoints : 0;
}

/* --- Recovery --------------------------------------------------------------------------------- */

static int wal_file_read(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? STORE_ENOTFOUND : wal_errno(errno);
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? STORE_OK : wal_errno(errno);
    uint8_t *buf = rc == STORE_OK ? malloc(st.st_size > 0 ? (size_t)st.st_size : 1) : NULL;
    if (rc == STORE_OK && buf == NULL)
        rc = STORE_ENOMEM;
    size_t got = 0;
    while (rc == STORE_OK && got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shorter than it said: what was read is what there is */
        got += (size_t)n;
    }
    close(fd);
    if (rc != STORE_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = got;
    return STORE_OK;
}

/* Replays the whole records of one segment into txn, up to the first that is not whole (or the
 * zeros of the allocation past the last one). An LMDB error ends the replay.
 *
 * Why the next segment is read all the same: the writing thread starts a segment only after a
 * commit whose record was flushed, so a segment that ends in a record cut short is the last one
 * anything was written to, and one that was left for the next ends in zeros, every record before
 * them flushed. */
static int wal_segment_replay(const uint8_t *p, size_t len, MDB_txn *txn, const MDB_dbi *dbis,
                              size_t n_dbis, unsigned *replayed)
{
    size_t at = 0;
    while (at < len) {
        uint32_t magic = 0, size = 0;
        uint64_t hash = 0;
        if (len - at < WAL_HEADER)
            return STORE_OK;
        record_u32_decode(p + at, 4, &magic);
        record_u32_decode(p + at + 4, 4, &size);
        record_u64_decode(p + at + 8, 8, &hash);
        if (magic != WAL_MAGIC || len - at - WAL_HEADER < size ||
            wal_hash(p + at + WAL_HEADER, size) != hash)
            return STORE_OK;
        int mrc = journal_replay_encoded(p + at + WAL_HEADER, size, txn, dbis, n_dbis);
        if (mrc != MDB_SUCCESS)
            return mrc == MDB_CORRUPTED  ? STORE_ECORRUPT
                   : mrc == MDB_MAP_FULL ? STORE_EFULL
                                         : STORE_EIO;
        (*replayed)++;
        at += WAL_HEADER + size;
    }
    return STORE_OK;
}

/* Opens dir's environment with a map of map_size bytes and replays, in one transaction, every
 * whole record of the segments from `first` on; synced. STORE_EFULL when the map is too small. */
static int wal_replay(const char *dir, size_t map_size, const wal_databases_t *dbs, uint64_t first,
                      uint64_t offset, unsigned *replayed)
{
    char path[4200];
    int rc;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbis[16];
    if (dbs->n > sizeof dbis / sizeof *dbis)
        return STORE_EINVAL;
    int mrc = mdb_env_create(&env);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_maxdbs(env, (MDB_dbi)dbs->n);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_mapsize(env, map_size);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_txn_begin(env, NULL, 0, &txn);
    for (size_t i = 0; mrc == MDB_SUCCESS && i < dbs->n; i++)
        mrc = mdb_dbi_open(txn, dbs->names[i], dbs->flags[i] | MDB_CREATE, &dbis[i]);
    rc = mrc == MDB_SUCCESS ? STORE_OK : mrc == MDB_MAP_FULL ? STORE_EFULL : STORE_EIO;
    uint64_t *segments = NULL;
    size_t n_segments = 0;
    if (rc == STORE_OK)
        rc = wal_segments(dir, &segments, &n_segments);
    for (size_t i = 0; rc == STORE_OK && i < n_segments; i++) {
        if (segments[i] < first)
            continue;
        uint8_t *seg;
        size_t seg_len;
        rc = wal_segment_path(path, sizeof path, dir, segments[i]);
        if (rc == STORE_OK)
            rc = wal_file_read(path, &seg, &seg_len);
        if (rc == STORE_OK) {
            size_t from = segments[i] == first ? (size_t)offset : 0;
            rc = from <= seg_len
                     ? wal_segment_replay(seg + from, seg_len - from, txn, dbis, dbs->n, replayed)
                     : STORE_ECORRUPT;
            free(seg);
        }
    }
    free(segments);
    if (txn != NULL) {
        if (rc == STORE_OK) {
            mrc = mdb_txn_commit(txn);
            rc = mrc == MDB_SUCCESS ? STORE_OK : mrc == MDB_MAP_FULL ? STORE_EFULL : STORE_EIO;
        } else {
            mdb_txn_abort(txn);
        }
    }
    if (rc == STORE_OK && mdb_env_sync(env, 1) != 0)
        rc = STORE_EIO;
    if (env != NULL)
        mdb_env_close(env);
    return rc;
}

int wal_recover(const char *dir, size_t map_size, const wal_databases_t *dbs, unsigned *replayed)
{
    *replayed = 0;
    char path[4200];
    int rc = wal_path(path, sizeof path, dir, WAL_CHECKPOINT_FILE);
    if (rc != STORE_OK)
        return rc;
    uint8_t *ck;
    size_t ck_len;
    rc = wal_file_read(path, &ck, &ck_len);
    if (rc == STORE_ENOTFOUND) {
        /* A clean stop, or a start cut before its first checkpoint: no record is owed. */
        wal_segments_remove_before(dir, UINT64_MAX);
        return STORE_OK;
    }
    if (rc != STORE_OK)
        return rc;
    uint32_t psize = 0;
    uint64_t first = 0, inode = 0, offset = 0, hash = 0;
    bool format1 = ck_len >= 8 && memcmp(ck, WAL_CHECKPOINT_MAGIC_1, 8) == 0;
    size_t head = format1 ? WAL_CHECKPOINT_HEAD_1 : WAL_CHECKPOINT_HEAD;
    if (ck_len >= head + 8) {
        record_u32_decode(ck + 8, 4, &psize);
        record_u64_decode(ck + 16, 8, &first);
        record_u64_decode(ck + 24, 8, &inode);
        if (!format1)
            record_u64_decode(ck + 32, 8, &offset);
        record_u64_decode(ck + ck_len - 8, 8, &hash);
    }
    if (ck_len < head + 8 || (!format1 && memcmp(ck, WAL_CHECKPOINT_MAGIC, 8) != 0) ||
        psize < 512 || psize > 65536 || ck_len != head + 2 * (size_t)psize + 8 ||
        wal_hash(ck, ck_len - 8) != hash) {
        free(ck);
        return STORE_ECORRUPT;
    }
    /* Snapshot S again, whatever later pages the cut kept: in the file the checkpoint belongs
     * to, and no other. */
    rc = wal_path(path, sizeof path, dir, "data.mdb");
    int fd = rc == STORE_OK ? open(path, O_RDWR | O_CLOEXEC) : -1;
    if (rc == STORE_OK && fd < 0)
        rc = wal_errno(errno);
    struct stat st;
    if (rc == STORE_OK && fstat(fd, &st) != 0)
        rc = wal_errno(errno);
    if (rc == STORE_OK && ((uint64_t)st.st_ino != inode || st.st_size < 2 * (off_t)psize))
        rc = STORE_ECORRUPT;
    off_t data_size = rc == STORE_OK ? st.st_size : 0;
    if (rc == STORE_OK)
        rc = wal_write_all(fd, ck + head, 2 * (size_t)psize, 0);
    if (rc == STORE_OK && fdatasync(fd) != 0)
        rc = wal_errno(errno);
    if (fd >= 0)
        close(fd);
    free(ck);
    if (rc != STORE_OK)
        return rc;

    /* The map LMDB keeps in the meta is the one the replay opened with: as small as will do,
     * doubled when the records need more, up to the store's maximum. */
    size_t size = (size_t)64 << 20;
    while (size < map_size && (off_t)size < data_size * 2)
        size *= 2;
    if (size > map_size)
        size = map_size;
    for (;;) {
        *replayed = 0;
        rc = wal_replay(dir, size, dbs, first, offset, replayed);
        if (rc != STORE_EFULL || size >= map_size)
            break;
        size = size > map_size / 2 ? map_size : size * 2;
    }
    if (rc != STORE_OK)
        return rc;
    /* The file holds all of it now. The checkpoint goes first: were the segments removed first
     * and the power cut then, the next open would bring the file back to snapshot S with
     * nothing left to replay. */
    rc = wal_path(path, sizeof path, dir, WAL_CHECKPOINT_FILE);
    if (rc == STORE_OK && unlink(path) != 0 && errno != ENOENT)
        rc = wal_errno(errno);
    if (rc == STORE_OK)
        rc = wal_dir_sync(dir);
    if (rc == STORE_OK)
        wal_segments_remove_before(dir, UINT64_MAX);
    return rc;
}
