/*
 * store_unindex.c: makes a stopped parcoursd's store look as a parcoursd from before the
 * deadlines' index left it, for tests/integration/test_deadlines.py: the meta record
 * "deadlines_indexed" dropped and the "due" database emptied, everything else
 * untouched. The daemon must then index every open pathway once at its next start.
 *
 *   store_unindex DATA_DIR
 *   store_unindex --count DATA_DIR    prints the number of entries of the "due" index instead,
 *                                     changing nothing (what the listing would not show: the
 *                                     entries of a pathway that is gone)
 */
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "store_unindex: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    bool count = argc == 3 && strcmp(argv[1], "--count") == 0;
    if (argc != 2 && !count) {
        fprintf(stderr, "usage: store_unindex [--count] DATA_DIR\n");
        return 2;
    }
    const char *dir = argv[argc - 1];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, due;
    int rc = mdb_env_create(&env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(env, 16);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize(env, (size_t)1 << 30);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(env, dir, count ? MDB_RDONLY : 0, 0600);
    if (rc != MDB_SUCCESS)
        return fail("open", rc);
    rc = mdb_txn_begin(env, NULL, count ? MDB_RDONLY : 0, &txn);
    if (count) {
        MDB_stat st;
        if (rc == MDB_SUCCESS)
            rc = mdb_dbi_open(txn, "due", 0, &due);
        if (rc == MDB_SUCCESS)
            rc = mdb_stat(txn, due, &st);
        if (rc == MDB_SUCCESS)
            printf("%zu\n", st.ms_entries);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return rc == MDB_SUCCESS ? 0 : fail("count", rc);
    }
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "due", 0, &due);
    MDB_val key = {strlen("deadlines_indexed"), "deadlines_indexed"};
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, meta, &key, NULL);
    if (rc == MDB_SUCCESS)
        rc = mdb_drop(txn, due, 0);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc == MDB_SUCCESS ? 0 : fail("unindex", rc);
}
