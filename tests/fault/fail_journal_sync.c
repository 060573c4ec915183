/*
 * fail_journal_sync.c: an LD_PRELOAD interposer that makes the access journal's syncs fail, for
 * the test of G12's "a read that cannot be journaled is not answered"
 * (tests/integration/test_journal.py).
 *
 * The journal appends a record, then fdatasyncs it before the action it records is answered.
 * While the file named by PARCOURS_FAULT_TRIGGER exists, every fdatasync and fsync of a file
 * whose path ends in ".journal" fails with EIO, as a failing disk's would. Every other call
 * goes through. Without the variable, nothing ever fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_armed.h"

typedef int (*sync_fn)(int);

static int faulty(const char *name, int fd)
{
    if (fault_armed(fd, ".journal")) {
        errno = EIO;
        return -1;
    }
    sync_fn next = (sync_fn)dlsym(RTLD_NEXT, name);
    if (next == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return next(fd);
}

int fdatasync(int fd)
{
    return faulty("fdatasync", fd);
}

int fsync(int fd)
{
    return faulty("fsync", fd);
}
