/*
 * config.h: parcoursd's configuration, an INI file described by one table of keys.
 *
 * Each key has a type, bounds, a default and a one-line doc in config.c; the file is parsed
 * whole, every error names file:line, and any error refuses the whole file.
 */
#ifndef PARCOURS_CONFIG_H
#define PARCOURS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_MAX       512
#define CONFIG_ADMIN_KEYS_MAX 16 /* public keys in [admin] keys */
#define CONFIG_KEY_SLOTS      48 /* room for the line of every key of the table */

/* Z85 public keys, decoded. */
typedef struct config_key_list {
    uint8_t keys[CONFIG_ADMIN_KEYS_MAX][32];
    size_t count;
} config_key_list_t;

typedef struct config {
    char store_path[CONFIG_PATH_MAX];            /* [store] path */
    bool store_durable;                          /* [store] durable */
    uint64_t store_checkpoint_interval;          /* [store] checkpoint_interval, ms */
    uint64_t store_commit_interval;              /* [store] commit_interval, ms */
    uint64_t store_initial_map_size;             /* [store] initial_map_size, bytes */
    uint64_t store_max_map_size;                 /* [store] max_map_size, bytes */
    uint64_t store_backup_headroom;              /* [store] backup_headroom, bytes */
    char store_erased_register[CONFIG_PATH_MAX]; /* [store] erased_register; default
                                                  * <store path's parent>/erased.register */
    char ingest_endpoint[CONFIG_PATH_MAX];       /* [ingest] endpoint */
    uint64_t ingest_batch_max;                   /* [ingest] batch_max, events */
    uint64_t ingest_max_frame;                   /* [ingest] max_frame, bytes */
    char deliver_endpoint[CONFIG_PATH_MAX];      /* [deliver] endpoint */
    uint64_t deliver_heartbeat_interval;         /* [deliver] heartbeat_interval, seconds */
    char admin_endpoint[CONFIG_PATH_MAX]; /* [admin] endpoint; default ipc://<store path>/admin.sock
                                           */
    char partners_file[CONFIG_PATH_MAX];  /* [partners] file; relative to the config's folder */
    bool security_curve;                  /* [security] curve */
    char security_secret_key[CONFIG_PATH_MAX];   /* [security] secret_key */
    config_key_list_t admin_keys;                /* [admin] keys: Z85 public keys */
    uint64_t admin_backup_idle_timeout;          /* [admin] backup_idle_timeout, seconds */
    char http_listen[64];                        /* [http] listen: loopback host:port, or empty */
    char log_level[16];                          /* [log] level */
    int64_t rules_legacy_contracts_refused_from; /* [rules] legacy_contracts_refused_from, ms */
    uint64_t rules_clock_skew;                   /* [rules] clock_skew, s */
    char journal_path[CONFIG_PATH_MAX];          /* [journal] path */
    uint64_t journal_keep_days;                  /* [journal] keep_days */
    uint64_t retention_active_days;              /* [retention] active_days */
    uint64_t retention_archive_days;             /* [retention] archive_days */
    bool retention_purge;                        /* [retention] purge */
    uint64_t retention_purge_slice;              /* [retention] purge_slice, pathways */
    uint64_t deadlines_orientation_days;         /* [deadlines] orientation_days */
    uint64_t deadlines_contract_days;            /* [deadlines] contract_days */
    uint64_t deadlines_referent_days;            /* [deadlines] referent_days */
    uint64_t deadlines_inactivity_days;          /* [deadlines] inactivity_days */
    uint64_t transfers_claim_days;               /* [transfers] claim_days */
    int key_lines[CONFIG_KEY_SLOTS]; /* where each key of the table was set; 0 = its default */
} config_t;

/* Fills c with every default (paths empty where there is no default). */
void config_defaults(config_t *c);

/*
 * Reads path into c (defaults first). Returns 0, or the number of errors with errors filled
 * with "path:line: message" lines. Relative paths in the file are taken relative to the
 * folder of the configuration file, so a config and its partners file can travel together.
 */
int config_load(config_t *c, const char *path, char *errors, size_t errlen);

/* The line of the configuration file that set [section] name, or 0 when it kept its default:
 * for errors found later about a value (a key file that cannot be read). */
int config_line(const config_t *c, const char *section, const char *name);

/*
 * Splits a loopback listen address ("127.0.0.1:7480" or "[::1]:7480") into host (without
 * brackets, hostlen bytes) and port. Returns 0, or -1 when it is malformed or not on loopback
 * (only 127.0.0.0/8 and ::1 are).
 */
int config_loopback_parse(const char *address, char *host, size_t hostlen, unsigned *port);

/* Writes the reference of every key (section, name, type, default, doc) to out, as Markdown. */
void config_write_reference(void *out_file);

#endif
