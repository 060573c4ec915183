/*
 * fail_meta_write.c: an LD_PRELOAD interposer that makes the store's meta page writes fail,
 * for the test of G15 (tests/integration/test_store_unusable.py).
 *
 * LMDB commits a transaction by writing its data pages, syncing them, then writing one of the
 * two meta pages (the first two pages of data.mdb). When that last write fails, LMDB marks the
 * environment with a fatal error and refuses every later transaction (MDB_PANIC) until it is
 * opened again: the device failure a daemon must not hide behind RETRY forever.
 *
 * While the file named by PARCOURS_FAULT_TRIGGER exists, every pwrite to a file whose path
 * ends in /data.mdb, at an offset inside the first two pages, fails with EIO and writes
 * nothing. Every other write goes through. Without the variable, nothing ever fails.
 */
#undef _FILE_OFFSET_BITS /* pwrite and pwrite64 are both defined here, apart */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "fault_armed.h"

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static int is_meta_write(int fd, off_t offset)
{
    long page = sysconf(_SC_PAGESIZE);
    if (offset < 0 || offset >= 2 * (off_t)page)
        return 0;
    return fault_armed(fd, "/data.mdb");
}

static ssize_t faulty(const char *name, int fd, const void *buf, size_t count, off_t offset)
{
    if (is_meta_write(fd, offset)) {
        errno = EIO;
        return -1;
    }
    pwrite_fn next = (pwrite_fn)dlsym(RTLD_NEXT, name);
    if (next == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return next(fd, buf, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    return faulty("pwrite", fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    return faulty("pwrite64", fd, buf, count, offset);
}
