/* restore.c: parcoursd --restore, putting a hot backup in place (restore.h). */
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "erased_register.h"
#include "store.h"

/* Takes a failed restore's files away, so that it can run again; returns the exit status. */
static int restore_undo(const char *store_path)
{
    char file[CONFIG_PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/data.mdb", store_path);
    unlink(file);
    snprintf(file, sizeof(file), "%s/lock.mdb", store_path);
    unlink(file);
    snprintf(file, sizeof(file), "%s/keys.vault", store_path);
    unlink(file);
    return 1;
}

/*
 * parcoursd --restore BACKUP (restore.h): puts a copy made by `parcoursctl backup` in place, as
 * data.mdb of the [store] path, which must hold none (a running daemon's, or one not moved aside,
 * is refused). The copy is opened as a store, which checks that it is one of this schema, and given
 * a new stream id: its outboxes number again from where the copy stood, and partners must learn
 * that the partner_seqs they saw past that point may now name other notifications.
 */
int restore_run(const config_t *config, const char *backup)
{
    char path[CONFIG_PATH_MAX + 32], partial[CONFIG_PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/data.mdb", config->store_path);
    snprintf(partial, sizeof(partial), "%s.restoring", path);
    struct stat st;
    if (stat(backup, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "parcoursd: %s: %s\n", backup,
                access(backup, F_OK) != 0 ? strerror(errno) : "not a file");
        return 1;
    }
    if (stat(path, &st) == 0) {
        fprintf(stderr,
                "parcoursd: %s exists: a restore goes into an empty [store] path. Stop parcoursd "
                "and move the data directory's contents aside first, keeping the directory.\n",
                path);
        return 1;
    }
    /* Under systemd's DynamicUser the store path is a link into /var/lib/private: moving the
     * directory it names away leaves the link dangling. */
    if (lstat(config->store_path, &st) == 0 && S_ISLNK(st.st_mode) &&
        stat(config->store_path, &st) != 0) {
        fprintf(stderr,
                "parcoursd: %s is a link to a directory that does not exist. Keep the data "
                "directory and move only its contents aside, then restore again.\n",
                config->store_path);
        return 1;
    }
    unlink(partial); /* an interrupted restore's */
    snprintf(partial, sizeof(partial), "%s/keys.vault", config->store_path);
    if (stat(partial, &st) == 0) {
        fprintf(stderr,
                "parcoursd: %s exists: a restore goes into an empty [store] path. Move the "
                "data directory's contents aside first.\n",
                partial);
        return 1;
    }
    /* A crashed daemon's write-ahead log names its own data file: beside a restored one it
     * would be refused at open, so the restore refuses first, with what to do. */
    snprintf(partial, sizeof(partial), "%s/wal.checkpoint", config->store_path);
    if (stat(partial, &st) == 0) {
        fprintf(stderr,
                "parcoursd: %s exists: the write-ahead log of a daemon that did not stop "
                "cleanly. Move the data directory's contents aside (wal.* files included) "
                "first.\n",
                partial);
        return 1;
    }
    int urc = STORE_OK;
    if ((mkdir(config->store_path, 0700) != 0 && errno != EEXIST) ||
        (urc = store_copy_unpack(backup, config->store_path)) != STORE_OK) {
        fprintf(stderr, "parcoursd: cannot copy %s into %s: %s\n", backup, config->store_path,
                urc == STORE_ECORRUPT ? "the copy's vault does not add up (a truncated file?)"
                                      : strerror(errno));
        return restore_undo(config->store_path);
    }
    store_options_t options;
    store_options_default(&options);
    options.max_map_size = (size_t)config->store_max_map_size;
    store_t *store = NULL;
    int rc = store_open(config->store_path, &options, &store);
    if (rc == STORE_OK)
        rc = store_stream_id_renew(store);
    /* Whoever was erased after the copy was taken is erased again before anyone can read it. */
    size_t entries = 0, erased = 0;
    char err[512];
    if (rc == STORE_OK &&
        erased_register_apply(config->store_erased_register, store, clock_realtime_ms(), &entries,
                              &erased, err, sizeof(err)) != 0) {
        store_close(&store);
        fprintf(stderr, "parcoursd: %s; nothing was restored\n", err);
        return restore_undo(config->store_path);
    }
    store_info_t info = {0};
    if (rc == STORE_OK)
        rc = store_info(store, &info);
    store_close(&store);
    if (rc != STORE_OK) {
        fprintf(stderr,
                "parcoursd: %s is not a store this parcoursd can open (%s); nothing was "
                "restored\n",
                backup, store_strerror(rc));
        return restore_undo(config->store_path);
    }
    /* The restore is journaled, with who ran it (G12). */
    audit_t *audit = NULL;
    char who[32], detail[AUDIT_FIELD_MAX + 1];
    snprintf(who, sizeof(who), "uid:%u", (unsigned)getuid());
    snprintf(detail, sizeof(detail), "%s: last seq %llu; %zu erased again by the register", backup,
             (unsigned long long)info.last_seq, erased);
    if (audit_open(config->journal_path, (unsigned)config->journal_keep_days, &audit, err,
                   sizeof(err)) != 0 ||
        audit_append(audit, who, "RESTORE", config->store_path, detail, err, sizeof(err)) != 0) {
        audit_close(&audit);
        fprintf(stderr, "parcoursd: %s; nothing was restored\n", err);
        return restore_undo(config->store_path);
    }
    audit_close(&audit);
    /* Run as root, the restore must not leave root's files where the daemon's user has to
     * open them: they take the owner of the data directory (systemd's dynamic user keeps the
     * UID that owns it, and does not look inside a directory it already owns). */
    int dir = open(config->store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || fstat(dir, &st) != 0 ||
        (geteuid() == 0 && (fchownat(dir, "data.mdb", st.st_uid, st.st_gid, 0) != 0 ||
                            fchownat(dir, "lock.mdb", st.st_uid, st.st_gid, 0) != 0 ||
                            fchownat(dir, "keys.vault", st.st_uid, st.st_gid, 0) != 0)) ||
        fsync(dir) != 0) {
        fprintf(stderr,
                "parcoursd: cannot give the restored files to the owner of %s: %s; nothing was "
                "restored\n",
                config->store_path, strerror(errno));
        if (dir >= 0)
            close(dir);
        return restore_undo(config->store_path);
    }
    close(dir);
    printf("restored %s into %s: last seq %llu, new stream id %llu; %zu erased again by the "
           "register (%zu entries)\n"
           "Start parcoursd. Partners re-send what they sent after the backup (DUPLICATE for "
           "what it holds), and their subscriptions take the streams anew from their restored "
           "cursors.\n",
           backup, config->store_path, (unsigned long long)info.last_seq,
           (unsigned long long)info.stream_id, erased, entries);
    return 0;
}
