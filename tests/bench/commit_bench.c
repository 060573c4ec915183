/*
 * commit_bench.c: what one durable batch costs on this disk, by the way it is made durable
 * (docs/durability.md). Not Parcours: the store's shape in LMDB alone, so that the design of
 * issue 13's "one flush per batch" is chosen on numbers.
 *
 *   commit-bench DIR MODE [--keys N] [--batch B] [--batches M]
 *
 * Each event writes what the daemon writes for one: a log entry (a 300-byte value under the next
 * seq, appended), a dedupe record (8 bytes under a time-ordered key) and its person's pathway
 * (300 bytes under a random 16-byte key among N, preloaded: pseudonyms are keyed hashes). A
 * batch of B events is made durable, by MODE:
 *   lmdb         one LMDB transaction per batch, committed as the daemon does today: its data
 *                pages fdatasync'ed, then its meta page written through an O_DSYNC descriptor
 *                (two flushes);
 *   nometasync   the same with MDB_NOMETASYNC: one flush per commit, the meta page synced by
 *                the next commit's flush (a batch is durable once the next one commits);
 *   wal          a write-ahead record of the batch appended to a log file and fdatasync'ed (one
 *                sequential flush: the durable point), the LMDB transaction committed without
 *                sync, and a checkpoint (mdb_env_sync) every 64 batches, whose cost is counted;
 *   wal-span     the same record and flush, but one LMDB transaction spans 64 batches and is
 *                committed synchronously (two flushes, every 64 batches): a page many events
 *                change is written once, and no commit is ever made without sync.
 * Prints events/s and the time from a batch's start to its durable point, p50 and p99.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "commit-bench: %s: %s\n", #call, mdb_strerror(rc_));                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: commit-bench DIR lmdb|nometasync|wal [--keys N] [--batch B] "
                        "[--batches M]\n");
        return 2;
    }
    const char *dir = argv[1], *mode = argv[2];
    long keys = 10000, batch = 64, batches = 400;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--keys") == 0)
            keys = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--batches") == 0)
            batches = atol(argv[i + 1]);
    }
    int span = strcmp(mode, "wal-span") == 0;
    int wal = span || strcmp(mode, "wal") == 0, nometa = strcmp(mode, "nometasync") == 0;
    if (!wal && !nometa && strcmp(mode, "lmdb") != 0)
        return fprintf(stderr, "commit-bench: no mode %s\n", mode), 2;

    MDB_env *env;
    CHECK(mdb_env_create(&env));
    CHECK(mdb_env_set_maxdbs(env, 4));
    CHECK(mdb_env_set_mapsize(env, (size_t)8 << 30));
    CHECK(mdb_env_open(env, dir, wal && !span ? MDB_NOSYNC : nometa ? MDB_NOMETASYNC : 0, 0600));
    MDB_txn *txn;
    MDB_dbi log, dedupe, pathways;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, "log", MDB_CREATE | MDB_INTEGERKEY, &log));
    CHECK(mdb_dbi_open(txn, "dedupe", MDB_CREATE, &dedupe));
    CHECK(mdb_dbi_open(txn, "pathways", MDB_CREATE, &pathways));
    char value[300];
    memset(value, 'v', sizeof value);
    uint64_t salt = (uint64_t)now_ns();
    for (long k = 0; k < keys; k++) {
        uint64_t key[2] = {mix((uint64_t)k ^ salt), mix((uint64_t)k + salt)};
        MDB_val kv = {sizeof key, key}, vv = {sizeof value, value};
        CHECK(mdb_put(txn, pathways, &kv, &vv, 0));
    }
    CHECK(mdb_txn_commit(txn));
    mdb_env_sync(env, 1);

    int walfd = -1;
    if (wal) {
        char path[4096];
        snprintf(path, sizeof path, "%s/wal", dir);
        walfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (walfd < 0)
            return perror(path), 1;
    }
    char *record = malloc((size_t)batch * 640);
    int64_t *lat = calloc((size_t)batches, sizeof *lat);
    uint64_t seq = 0;
    int64_t start = now_ns();
    for (long b = 0; b < batches; b++) {
        int64_t t0 = now_ns();
        if (!span || b % 64 == 0)
            CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        size_t used = 0;
        for (long e = 0; e < batch; e++) {
            seq++;
            MDB_val k = {sizeof seq, &seq}, v = {sizeof value, value};
            CHECK(mdb_put(txn, log, &k, &v, MDB_APPEND));
            char dk[32];
            int dl = snprintf(dk, sizeof dk, "ft93%c%016" PRIx64, 0, seq);
            MDB_val dkv = {(size_t)dl, dk}, dv = {sizeof seq, &seq};
            CHECK(mdb_put(txn, dedupe, &dkv, &dv, 0));
            uint64_t r = mix(seq ^ ~salt) % (uint64_t)keys;
            uint64_t pk[2] = {mix(r ^ salt), mix(r + salt)};
            MDB_val pkv = {sizeof pk, pk}, pv = {sizeof value, value};
            CHECK(mdb_put(txn, pathways, &pkv, &pv, 0));
            memcpy(record + used, value, 300);
            memcpy(record + used + 300, value, 300);
            used += 640;
        }
        if (wal) {
            if (write(walfd, record, used) != (ssize_t)used || fdatasync(walfd) != 0)
                return perror("wal"), 1;
            lat[b] = now_ns() - t0; /* durable here: the commit below can be redone from it */
            if (!span)
                CHECK(mdb_txn_commit(txn));
            if (b % 64 == 63 || (span && b == batches - 1)) {
                if (span)
                    CHECK(mdb_txn_commit(txn));
                else
                    CHECK(mdb_env_sync(env, 1));
                if (ftruncate(walfd, 0) != 0)
                    return perror("wal"), 1;
            }
        } else {
            CHECK(mdb_txn_commit(txn));
            lat[b] = now_ns() - t0;
        }
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    qsort(lat, (size_t)batches, sizeof *lat, cmp_i64);
    printf("%-10s keys=%ld batch=%ld batches=%ld  events/s %.0f  durable ms p50 %.2f p99 %.2f\n",
           mode, keys, batch, batches, (double)(batch * batches) / seconds,
           (double)lat[batches / 2] / 1e6, (double)lat[batches * 99 / 100] / 1e6);
    free(lat);
    free(record);
    if (walfd >= 0)
        close(walfd);
    mdb_env_close(env);
    return 0;
}
