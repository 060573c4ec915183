/*
 * powercut_fs.c: a FUSE file system that loses, at a power cut, every write not yet made
 * durable, for the power-loss test (tests/integration/test_power_loss.py, issue 13).
 *
 *   powercut_fs BACKING MOUNTPOINT
 *
 * MOUNTPOINT shows the files of the directory BACKING. A write is not passed down to BACKING:
 * it is held in this process's memory, as a disk's volatile cache or the kernel's page cache
 * would hold it, and reads see it. It reaches BACKING, and BACKING's own disk, only when the
 * file is made durable: fsync or fdatasync on it, or a write through a descriptor opened with
 * O_DSYNC or O_SYNC (which LMDB uses for its meta pages). A power cut is this process killed:
 * with SIGKILL, what it held is gone, and BACKING holds exactly what was made durable; with
 * SIGUSR1, a random part of what it held reaches BACKING first, in no particular order and the
 * last sectors of some writes torn away, as a disk's cache may have written any of it before
 * the power went (seeded by POWERCUT_SEED), then it exits. Either way BACKING holds at least
 * what was made durable, and nothing a real disk could not have kept (a durable write first
 * makes durable the file's earlier writes too, as a cache may have written them already). In the
 * spirit of LazyFS, in a few hundred lines: the names and sizes of files (create, unlink, rename,
 * truncate) are made durable at once, which a real file system journals before long; the test
 * is about data written and acknowledged.
 *
 * Single-threaded (-s): no locks. Nothing of the daemon's is here: it runs under it.
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

/* One write not yet durable. */
typedef struct pending {
    off_t offset;
    size_t len;
    char *data;
} pending_t;

/* The writes held for one file, in the order they came. */
typedef struct held {
    char *path; /* relative to the mount, as FUSE names it */
    pending_t *writes;
    size_t n, cap;
    off_t end; /* the file's size as its writes make it (at least BACKING's) */
    struct held *next;
} held_t;

static const char *backing;
static held_t *files;
/* Descriptors opened with O_DSYNC or O_SYNC: every write through them is durable. */
static unsigned char dsync_fd[65536];
static unsigned long long held_writes, durable_writes, syncs;
static unsigned cut_seed = 1;

static void full_path(char out[PATH_MAX], const char *path)
{
    snprintf(out, PATH_MAX, "%s%s", backing, path);
}

static held_t *held_find(const char *path)
{
    for (held_t *h = files; h != NULL; h = h->next)
        if (strcmp(h->path, path) == 0)
            return h;
    return NULL;
}

static void held_drop(held_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->writes[i].data);
    h->n = 0;
    h->end = 0;
}

static void held_forget(const char *path)
{
    for (held_t **p = &files; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->path, path) == 0) {
            held_t *h = *p;
            *p = h->next;
            held_drop(h);
            free(h->writes);
            free(h->path);
            free(h);
            return;
        }
}

/* Writes what is held for path down to BACKING and syncs it there: 0 or -errno. */
static int held_flush(const char *path, int datasync)
{
    char p[PATH_MAX];
    full_path(p, path);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    held_t *h = held_find(path);
    int rc = 0;
    for (size_t i = 0; h != NULL && i < h->n && rc == 0; i++) {
        const pending_t *w = &h->writes[i];
        if (pwrite(fd, w->data, w->len, w->offset) != (ssize_t)w->len)
            rc = -EIO;
    }
    if (rc == 0 && (datasync ? fdatasync(fd) : fsync(fd)) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && h != NULL)
        held_drop(h);
    syncs++;
    return rc;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    full_path(p, path);
    if (lstat(p, st) != 0)
        return -errno;
    held_t *h = held_find(path);
    if (h != NULL && S_ISREG(st->st_mode) && h->end > st->st_size)
        st->st_size = h->end;
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)offset;
    (void)fi;
    (void)flags;
    char p[PATH_MAX];
    full_path(p, path);
    DIR *d = opendir(p);
    if (d == NULL)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (fill(buf, e->d_name, NULL, 0, 0) != 0)
            break;
    closedir(d);
    return 0;
}

static int fs_open_common(const char *path, struct fuse_file_info *fi, mode_t mode, bool create)
{
    char p[PATH_MAX];
    full_path(p, path);
    /* Reads only go down: writes are held. */
    int fd = create ? open(p, O_RDONLY | O_CREAT | O_CLOEXEC, mode) : open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (create) {
        /* A new name is durable at once (see the top of the file). */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", p);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
    }
    if ((fi->flags & O_TRUNC) && !create) {
        held_t *h = held_find(path);
        if (h != NULL)
            held_drop(h);
        if (truncate(p, 0) != 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if ((size_t)fd < sizeof dsync_fd)
        dsync_fd[fd] = (fi->flags & (O_DSYNC | O_SYNC)) != 0;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    return fs_open_common(path, fi, 0, false);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return fs_open_common(path, fi, mode, true);
}

static int fs_read(const char *path, char *buf, size_t size, off_t offset,
                   struct fuse_file_info *fi)
{
    struct stat st;
    if (fstat((int)fi->fh, &st) != 0)
        return -errno;
    held_t *h = held_find(path);
    off_t end = st.st_size;
    if (h != NULL && h->end > end)
        end = h->end;
    if (offset >= end)
        return 0;
    if ((off_t)size > end - offset)
        size = (size_t)(end - offset);
    memset(buf, 0, size);
    ssize_t got = pread((int)fi->fh, buf, size, offset);
    if (got < 0)
        return -errno;
    /* The held writes over what BACKING has, oldest first so the newest wins. */
    for (size_t i = 0; h != NULL && i < h->n; i++) {
        const pending_t *w = &h->writes[i];
        off_t from = w->offset > offset ? w->offset : offset;
        off_t to = w->offset + (off_t)w->len < offset + (off_t)size ? w->offset + (off_t)w->len
                                                                    : offset + (off_t)size;
        if (from < to)
            memcpy(buf + (from - offset), w->data + (from - w->offset), (size_t)(to - from));
    }
    return (int)size;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t offset,
                    struct fuse_file_info *fi)
{
    int fd = (int)fi->fh;
    if ((size_t)fd < sizeof dsync_fd && dsync_fd[fd]) {
        /* Durable now: the file's earlier writes first, then this one, synced. */
        int rc = held_flush(path, 1);
        if (rc != 0)
            return rc;
        char p[PATH_MAX];
        full_path(p, path);
        int wfd = open(p, O_WRONLY | O_CLOEXEC);
        if (wfd < 0)
            return -errno;
        ssize_t n = pwrite(wfd, buf, size, offset);
        rc = n == (ssize_t)size && fdatasync(wfd) == 0 ? (int)size : -EIO;
        close(wfd);
        durable_writes++;
        return rc;
    }
    held_t *h = held_find(path);
    if (h == NULL) {
        h = calloc(1, sizeof *h);
        if (h == NULL || (h->path = strdup(path)) == NULL) {
            free(h);
            return -ENOMEM;
        }
        h->next = files;
        files = h;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        pending_t *w = realloc(h->writes, cap * sizeof *w);
        if (w == NULL)
            return -ENOMEM;
        h->writes = w;
        h->cap = cap;
    }
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, buf, size);
    h->writes[h->n++] = (pending_t){offset, size, copy};
    struct stat st;
    off_t base = fstat(fd, &st) == 0 ? st.st_size : 0;
    if (h->end < base)
        h->end = base;
    if (offset + (off_t)size > h->end)
        h->end = offset + (off_t)size;
    held_writes++;
    return (int)size;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    return held_flush(path, datasync);
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    (void)fi;
    /* Made durable with what the file held: legal, since a disk may have kept it. */
    int rc = held_flush(path, 0);
    if (rc != 0)
        return rc;
    char p[PATH_MAX];
    full_path(p, path);
    return truncate(p, size) == 0 ? 0 : -errno;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    int fd = (int)fi->fh;
    if ((size_t)fd < sizeof dsync_fd)
        dsync_fd[fd] = 0;
    close(fd);
    return 0; /* what is held stays held: closing a file does not make it durable */
}

static int fs_unlink(const char *path)
{
    char p[PATH_MAX];
    full_path(p, path);
    held_forget(path);
    return unlink(p) == 0 ? 0 : -errno;
}

static int fs_mkdir(const char *path, mode_t mode)
{
    char p[PATH_MAX];
    full_path(p, path);
    return mkdir(p, mode) == 0 ? 0 : -errno;
}

static int fs_rmdir(const char *path)
{
    char p[PATH_MAX];
    full_path(p, path);
    return rmdir(p) == 0 ? 0 : -errno;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags != 0)
        return -EINVAL;
    /* The file's data made durable first, then the name: a rename is how a file is replaced
     * whole, and this test is not about its ordering. */
    held_flush(from, 0);
    char a[PATH_MAX], b[PATH_MAX];
    full_path(a, from);
    full_path(b, to);
    held_forget(to);
    return rename(a, b) == 0 ? 0 : -errno;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    full_path(p, path);
    return chmod(p, mode) == 0 ? 0 : -errno;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    full_path(p, path);
    return lchown(p, uid, gid) == 0 ? 0 : -errno;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    (void)fi;
    char p[PATH_MAX];
    full_path(p, path);
    return utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
    char p[PATH_MAX];
    full_path(p, path);
    return statvfs(p, st) == 0 ? 0 : -errno;
}

static int fs_access(const char *path, int mask)
{
    char p[PATH_MAX];
    full_path(p, path);
    return access(p, mask) == 0 ? 0 : -errno;
}

static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    (void)fi;
    char p[PATH_MAX];
    full_path(p, path);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* Every write comes here as it is made (no writeback cache in the kernel), and reads see
     * the file as it is now. */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    cfg->direct_io = 0;
    cfg->kernel_cache = 0;
    cfg->attr_timeout = 0;
    cfg->entry_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->use_ino = 0;
    return NULL;
}

static void fs_destroy(void *data)
{
    (void)data;
    fprintf(stderr, "powercut_fs: %llu writes held, %llu durable at once, %llu syncs\n",
            held_writes, durable_writes, syncs);
}

/* Whether a write newer than h->writes[k] overlaps [from, to) (the page cache holds the newest
 * bytes only: an older version of them can never reach the disk after a newer one). */
static bool covered_later(const held_t *h, size_t k, off_t from, off_t to)
{
    for (size_t j = k + 1; j < h->n; j++)
        if (h->writes[j].offset < to && from < h->writes[j].offset + (off_t)h->writes[j].len)
            return true;
    return false;
}

/* SIGUSR1: the power goes after the disk's cache wrote a random part of what it held, sector by
 * sector (so some writes are torn): of each 512-byte sector the newest bytes only, or nothing.
 * Of a file's last 4096 writes at most (older ones are dropped, which a disk may also do). Only
 * async-signal-safe calls; the test sends it once the daemon above is dead, when no operation
 * runs that could change the lists. */
enum { SECTOR = 512, KEEP_CONSIDERED = 4096 };

/* Appends "<text><n>" to line at *len (no stdio in a signal handler). */
static void line_add(char *line, size_t *len, const char *text, unsigned long long n)
{
    while (*text != '\0' && *len < 200)
        line[(*len)++] = *text++;
    char digits[24];
    int d = 0;
    do
        digits[d++] = (char)('0' + n % 10);
    while ((n /= 10) != 0 && d < 24);
    while (d > 0 && *len < 200)
        line[(*len)++] = digits[--d];
}

static void cut_keeping_some(int sig)
{
    (void)sig;
    unsigned seed = cut_seed;
    unsigned long long held = 0, kept = 0;
    for (held_t *h = files; h != NULL; h = h->next) {
        char p[PATH_MAX];
        size_t bl = strlen(backing), pl = strlen(h->path);
        if (bl + pl + 1 > sizeof p)
            continue;
        memcpy(p, backing, bl);
        memcpy(p + bl, h->path, pl + 1);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        size_t first = h->n > KEEP_CONSIDERED ? h->n - KEEP_CONSIDERED : 0;
        for (size_t k = first; k < h->n; k++) {
            const pending_t *w = &h->writes[k];
            off_t end = w->offset + (off_t)w->len;
            held++;
            for (off_t at = w->offset; at < end;) {
                off_t next = (at / SECTOR + 1) * SECTOR;
                if (next > end)
                    next = end;
                if (rand_r(&seed) % 2 == 0 && !covered_later(h, k, at, next)) {
                    if (pwrite(fd, w->data + (at - w->offset), (size_t)(next - at), at) < 0)
                        break;
                    kept++;
                }
                at = next;
            }
        }
        fsync(fd);
        close(fd);
    }
    /* What the cut met, for the test to see that it met something. */
    char line[256];
    size_t len = 0;
    line_add(line, &len, "powercut_fs: cut with ", held);
    line_add(line, &len, " writes held, sectors kept: ", kept);
    line[len++] = '\n';
    if (write(2, line, len) < 0)
        _exit(1);
    _exit(0);
}

static const struct fuse_operations ops = {
    .init = fs_init,
    .destroy = fs_destroy,
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .fsync = fs_fsync,
    .fsyncdir = fs_fsyncdir,
    .truncate = fs_truncate,
    .release = fs_release,
    .unlink = fs_unlink,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .utimens = fs_utimens,
    .statfs = fs_statfs,
    .access = fs_access,
};

int main(int argc, char *argv[])
{
    if (argc < 3) {
        fprintf(stderr, "usage: powercut_fs BACKING MOUNTPOINT [fuse options]\n");
        return 2;
    }
    static char resolved[PATH_MAX];
    if (realpath(argv[1], resolved) == NULL) {
        perror(argv[1]);
        return 2;
    }
    backing = resolved;
    const char *seed = getenv("POWERCUT_SEED");
    if (seed != NULL)
        cut_seed = (unsigned)strtoul(seed, NULL, 10);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cut_keeping_some;
    sigaction(SIGUSR1, &sa, NULL);
    /* fuse_main sees: program, mountpoint, foreground and single-threaded, the rest. */
    char *args[64];
    int n = 0;
    args[n++] = argv[0];
    args[n++] = argv[2];
    args[n++] = "-f";
    args[n++] = "-s";
    for (int i = 3; i < argc && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    return fuse_main(n, args, &ops, NULL);
}
