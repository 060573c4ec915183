/*
 * restore.h: `parcoursd --restore BACKUP`, the other half of `parcoursctl backup`.
 *
 * The backup file is copied (fsynced) into the empty [store] path as data.mdb, opened as a
 * store (which refuses a file that is not one this parcoursd can read, and upgrades an older
 * schema), and given a new stream id, since its outboxes number again from where the copy
 * stood. Run as root, the files take the owner of the data directory. Whatever fails, nothing
 * is left behind, so the restore can run again.
 */
#ifndef PARCOURS_RESTORE_H
#define PARCOURS_RESTORE_H

#include "config.h"

/* Restores backup into config's [store] path, printing what it did (stdout) or why not
 * (stderr). Returns the process's exit status: 0 when restored, 1 otherwise. */
int restore_run(const config_t *config, const char *backup);

#endif
