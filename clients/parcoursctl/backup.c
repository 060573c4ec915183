/*
 * backup.c: `parcoursctl backup DIR`, a hot backup of the daemon's store.
 *
 * The copy comes over the admin endpoint (parcours_admin_backup), so it lands where the admin
 * runs, owned by the admin, whatever the daemon's own sandbox lets it write. It is written as
 * DIR/data.mdb.partial, fsynced, then renamed to DIR/data.mdb and the folder fsynced: a
 * data.mdb in DIR is always a whole copy, and an existing one is never overwritten.
 */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parcours.h"
#include "parcoursctl.h"
#include "print.h"
#include "protojson.h"

#define BACKUP_FILE "data.mdb"

/* Says what went wrong, for people or as JSON, and returns the exit code. */
static int fail_with(const ctl_t *ctl, const char *message, int status)
{
    (void)ctl;
    ctl_error("parcoursctl backup: %s\n", message);
    return status;
}

static int fail(const ctl_t *ctl, const char *message)
{
    return fail_with(ctl, message, CTL_EXIT_REJECTED);
}

/* Renames from to to unless to exists (one that appeared since the check is not replaced);
 * a filesystem without RENAME_NOREPLACE falls back on that check alone. */
static int rename_no_replace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    return errno == EINVAL || errno == ENOSYS ? rename(from, to) : -1;
}

/* Makes dir (0700) unless it is a folder already. */
static int folder_ready(const ctl_t *ctl, const char *dir)
{
    char message[CTL_PATH_MAX + 128];
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(message, sizeof(message), "cannot make the folder %s: %s", dir, strerror(errno));
        return fail(ctl, message);
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(message, sizeof(message), "%s is not a folder", dir);
        return fail_with(ctl, message, CTL_EXIT_USAGE);
    }
    return CTL_EXIT_OK;
}

int cmd_backup(ctl_t *ctl, int argc, char **argv)
{
    const char *dir = NULL;
    if (ctl_read_args(ctl, "backup", argc, argv, &dir, 1) != 0)
        return CTL_EXIT_USAGE;

    char path[CTL_PATH_MAX], partial[CTL_PATH_MAX + 16], message[2 * CTL_PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/" BACKUP_FILE, dir) >= (int)sizeof(path))
        return fail_with(ctl, "the folder's name is too long", CTL_EXIT_USAGE);
    snprintf(partial, sizeof(partial), "%s.partial", path);
    if (access(path, F_OK) == 0) {
        snprintf(message, sizeof(message),
                 "%s exists; a backup never overwrites one: give another folder, or move it away",
                 path);
        return fail_with(ctl, message, CTL_EXIT_USAGE);
    }
    /* A file where the folder should be is a usage error, said before the daemon is asked. */
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(message, sizeof(message),
                 "%s is not a folder: give the folder to write the "
                 "backup in",
                 dir);
        return fail_with(ctl, message, CTL_EXIT_USAGE);
    }
    ctl_curve_t curve;
    int status = ctl_admin_keys(ctl, &curve);
    if (status != CTL_EXIT_OK)
        return status;
    status = folder_ready(ctl, dir);
    if (status != CTL_EXIT_OK) {
        ctl_curve_wipe(&curve);
        return status;
    }
    /* A .partial left by an interrupted backup is this command's own: it starts again. */
    int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        ctl_curve_wipe(&curve);
        snprintf(message, sizeof(message), "cannot write %s: %s", partial, strerror(errno));
        return fail(ctl, message);
    }

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint64_t bytes = 0;
    char why[512];
    int rc = parcours_admin_backup(ctl->admin, curve.on ? curve.secret : NULL,
                                   curve.on ? curve.server : NULL, fd, ctl->timeout_ms, &bytes, why,
                                   sizeof(why));
    int saved_errno = errno;
    const char *failed = "write"; /* what failed, when rc is PARCOURS_EWRITE */
    ctl_curve_wipe(&curve);
    if (rc == PARCOURS_OK && fsync(fd) != 0) {
        rc = PARCOURS_EWRITE;
        saved_errno = errno;
    }
    if (close(fd) != 0 && rc == PARCOURS_OK) {
        rc = PARCOURS_EWRITE;
        saved_errno = errno;
    }
    if (rc == PARCOURS_OK && rename_no_replace(partial, path) != 0) {
        rc = PARCOURS_EWRITE;
        saved_errno = errno;
        failed = "rename";
    }
    if (rc != PARCOURS_OK) {
        unlink(partial);
        if (rc == PARCOURS_EUNREACHABLE)
            return ctl_admin_unreachable(ctl, &curve);
        if (rc == PARCOURS_EREFUSED)
            snprintf(message, sizeof(message), "%s", why);
        else if (rc == PARCOURS_EWRITE)
            snprintf(message, sizeof(message), "cannot %s %s: %s", failed, partial,
                     strerror(saved_errno));
        else
            snprintf(message, sizeof(message), "%s: %s", ctl->admin, parcours_strerror(rc));
        return fail_with(ctl, message,
                         rc == PARCOURS_EENDPOINT ? CTL_EXIT_USAGE : CTL_EXIT_REJECTED);
    }
    /* The rename is durable once the folder is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds =
        (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    if (ctl->json) {
        /* parcoursctl's own document: bytes is 64-bit, a string as in every --json answer. */
        json_t *o = json_object();
        int set = o == NULL ? -1 : 0;
        set |= protojson_set(o, "path", protojson_string(path));
        set |= protojson_set(o, "bytes", protojson_uint64(bytes));
        set |= protojson_set(o, "seconds", json_real((double)(int64_t)(seconds * 1000) / 1000));
        if (set != 0) {
            json_decref(o);
            o = NULL;
        }
        print_json_answer(o);
    } else {
        printf("backup: %s, %llu bytes in %.1f s\n", path, (unsigned long long)bytes, seconds);
        printf("restore: stop parcoursd, move the contents of its [store] path aside, then "
               "parcoursd -c FILE "
               "--restore %s (parcoursd(8), BACKUP AND RESTORE)\n",
               path);
    }
    return CTL_EXIT_OK;
}
