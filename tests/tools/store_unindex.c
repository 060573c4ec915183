/*
 * store_unindex.c: makes a stopped parcoursd's store look as a parcoursd from before the
 * deadlines' index left it, for tests/integration/test_deadlines.py: the meta record
 * "deadlines_indexed" dropped and the "due" and "deadlines" databases emptied, everything else
 * untouched. The daemon must then index every open pathway once at its next start.
 *
 *   store_unindex DATA_DIR
 */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "store_unindex: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_unindex DATA_DIR\n");
        return 2;
    }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, due, deadlines;
    int rc = mdb_env_create(&env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(env, 16);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize(env, (size_t)1 << 30);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(env, argv[1], 0, 0600);
    if (rc != MDB_SUCCESS)
        return fail("open", rc);
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "due", 0, &due);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "deadlines", 0, &deadlines);
    MDB_val key = {strlen("deadlines_indexed"), "deadlines_indexed"};
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, meta, &key, NULL);
    if (rc == MDB_SUCCESS)
        rc = mdb_drop(txn, due, 0);
    if (rc == MDB_SUCCESS)
        rc = mdb_drop(txn, deadlines, 0);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc == MDB_SUCCESS ? 0 : fail("unindex", rc);
}
