/*
 * fail_data_write.c: an LD_PRELOAD interposer that makes the store's data page writes fail with
 * ENOSPC, as a file system without room would, for the test of spanning commits on a full disk
 * (tests/integration/test_span_full.py).
 *
 * While the file named by PARCOURS_FAULT_TRIGGER exists, every write to a file whose path ends
 * in /data.mdb at an offset past its first two pages (LMDB's meta pages) fails with ENOSPC and
 * writes nothing: pwrite, pwritev and writev (LMDB writes runs of pages with one of the last
 * two). Every other write goes through. Without the variable, nothing ever fails.
 */
#undef _FILE_OFFSET_BITS /* the 64-bit variants are defined here, apart */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault_armed.h"

static int is_data_write(int fd, off_t offset)
{
    long page = sysconf(_SC_PAGESIZE);
    if (offset < 2 * (off_t)page)
        return 0;
    return fault_armed(fd, "/data.mdb");
}

static void *next_symbol(const char *name)
{
    void *next = dlsym(RTLD_NEXT, name);
    if (next == NULL)
        errno = ENOSYS;
    return next;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    if (is_data_write(fd, offset))
        return errno = ENOSPC, -1;
    ssize_t (*next)(int, const void *, size_t, off_t) = next_symbol("pwrite");
    return next != NULL ? next(fd, buf, count, offset) : -1;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    if (is_data_write(fd, (off_t)offset))
        return errno = ENOSPC, -1;
    ssize_t (*next)(int, const void *, size_t, off64_t) = next_symbol("pwrite64");
    return next != NULL ? next(fd, buf, count, offset) : -1;
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t offset)
{
    if (is_data_write(fd, offset))
        return errno = ENOSPC, -1;
    ssize_t (*next)(int, const struct iovec *, int, off_t) = next_symbol("pwritev");
    return next != NULL ? next(fd, iov, n, offset) : -1;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off64_t offset)
{
    if (is_data_write(fd, (off_t)offset))
        return errno = ENOSPC, -1;
    ssize_t (*next)(int, const struct iovec *, int, off64_t) = next_symbol("pwritev64");
    return next != NULL ? next(fd, iov, n, offset) : -1;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (is_data_write(fd, lseek(fd, 0, SEEK_CUR)))
        return errno = ENOSPC, -1;
    ssize_t (*next)(int, const struct iovec *, int) = next_symbol("writev");
    return next != NULL ? next(fd, iov, n) : -1;
}
