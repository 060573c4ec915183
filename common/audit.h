/*
 * audit.h: the access journal, apart from the store, that a DPO can verify (G12).
 *
 * One record a line, in a folder of monthly files (YYYY-MM.journal, 0600), appended and fsynced
 * before the action it records is answered:
 *
 *     <n> TAB <time, UTC> TAB <operator> TAB <action> TAB <subject> TAB <detail> TAB <prev> TAB
 * <hash>
 *
 * n counts records from 1 across the files; operator names who acted (uid:<n> for a local
 * parcoursctl, from the admin socket's peer credentials, or the admin key's name over CURVE;
 * a partner id for a subscription; "parcoursd" for the daemon's own acts); subject is a
 * person's keyed hash (person:<16 hex>, never an id), a partner, or "-"; detail holds no
 * payload. hash is SHA-256, in hex, of prev and the record's other fields, and prev the hash of
 * the record before (64 zeros for the first ever): a record changed, removed or inserted breaks
 * the chain from there on, and audit_verify names the first record that does not hold. A month
 * older than the journal's keep period is deleted as a whole; the chain runs on across months,
 * so the oldest record kept names the hash of one removed by rotation, which verify accepts
 * only at the start of the oldest file.
 *
 * The fields are checked: no TAB, no line break, at most AUDIT_FIELD_MAX bytes (longer is cut).
 */
#ifndef PARCOURS_AUDIT_H
#define PARCOURS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_FIELD_MAX 400

typedef struct audit audit_t;

/* Opens (creating, 0700) the journal folder dir, keeping keep_days of months, and finds where
 * the chain stands. 0, or -1 with err. */
int audit_open(const char *dir, unsigned keep_days, audit_t **out, char *err, size_t errlen);

/* Closes and frees; sets *a to NULL. Takes NULL. */
void audit_close(audit_t **a);

/* Appends one record (now) and fsyncs it. 0, or -1 with err. Several threads may append to the
 * same journal: records are written one at a time. */
int audit_append(audit_t *a, const char *operator_name, const char *action, const char *subject,
                 const char *detail, char *err, size_t errlen);

/* What audit_verify found. */
typedef struct audit_report {
    uint64_t records;       /* records that hold */
    size_t files;           /* files read */
    bool whole;             /* every record holds */
    char first_broken[512]; /* when not whole: the file and record, and what is wrong */
    char last_hash[65];
} audit_report_t;

/* Verifies every file of dir in order. 0 with *report filled (whole or not); -1 with err when
 * dir cannot be read. */
int audit_verify(const char *dir, audit_report_t *report, char *err, size_t errlen);

#endif
