/*
 * config.c: the configuration table and its parser.
 *
 * The table is the one place a key is declared: the parser, the defaults and the reference
 * (parcoursd --config-reference) all read it, so they cannot drift apart.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ini_file.h"
#include "log.h"

typedef enum config_type {
    CONFIG_STRING, /* a char array of the struct */
    CONFIG_PATH,   /* a string, made absolute against the config's folder */
    CONFIG_BOOL,
    CONFIG_UINT,     /* an integer within [min, max] */
    CONFIG_SIZE,     /* bytes, with an optional K, M, G or T suffix (powers of 1024) */
    CONFIG_LEVEL,    /* a log level name */
    CONFIG_LOOPBACK, /* host:port on loopback (127.0.0.0/8 or [::1]), or empty for none */
    CONFIG_DATE,     /* a day, YYYY-MM-DD, kept as the unix ms of its midnight UTC (int64_t) */
    CONFIG_KEYS,     /* Z85 public keys, comma-separated, decoded into a config_key_list_t */
} config_type_t;

typedef struct config_key {
    const char *section;
    const char *name;
    config_type_t type;
    size_t offset;
    size_t size; /* of the field, for strings */
    uint64_t min, max;
    const char *default_value; /* as written in the file; NULL = none */
    const char *doc;
} config_key_t;

#define FIELD(f) offsetof(config_t, f), sizeof(((config_t *)0)->f)
#define KIB      UINT64_C(1024)
#define MIB      (KIB * KIB)
#define GIB      (MIB * KIB)

static const config_key_t config_keys[] = {
    {"store", "path", CONFIG_PATH, FIELD(store_path), 0, 0, NULL,
     "Data directory of the LMDB store (created 0700 if missing). Required."},
    {"store", "durable", CONFIG_BOOL, FIELD(store_durable), 0, 1, "yes",
     "Acknowledge a batch only once its write-ahead record is flushed (docs/durability.md). Only "
     "benchmarks may say no: acks then promise nothing."},
    {"store", "checkpoint_interval", CONFIG_UINT, FIELD(store_checkpoint_interval), 10, 600000,
     "200",
     "Milliseconds between two checkpoints of a durable store: the data file synced, and the "
     "write-ahead log before it dropped. Longer writes a page changed many times once, shorter "
     "leaves less to replay after a crash."},
    {"store", "commit_interval", CONFIG_UINT, FIELD(store_commit_interval), 0, 1000, "5",
     "Longest, in milliseconds, that LMDB's commit of an acknowledged batch may wait to take the "
     "next batches with it (durable stores: the batch is already in the write-ahead log, and "
     "64 MiB are kept allocated ahead in the data file for the commit). Longer writes a page "
     "many batches change once; partners are told of an event up to that much later. 0 commits "
     "every batch at once (docs/durability.md)."},
    {"store", "initial_map_size", CONFIG_SIZE, FIELD(store_initial_map_size), MIB, 1024 * GIB,
     "64M", "Size the LMDB map starts with; it doubles by itself when full."},
    {"store", "max_map_size", CONFIG_SIZE, FIELD(store_max_map_size), MIB, 64 * 1024 * GIB, "16G",
     "Size the map may grow to; past it, senders get RETRY with STORAGE_FULL."},
    {"store", "backup_headroom", CONFIG_SIZE, FIELD(store_backup_headroom), MIB, 64 * 1024 * GIB,
     "1G",
     "Map grown ahead of a hot backup (address space, not disk); a backup that outlasts it makes "
     "senders RETRY until it ends."},
    {"store", "erased_register", CONFIG_PATH, FIELD(store_erased_register), 0, 0, NULL,
     "The register of erased persons (keyed hashes, never ids), appended at each erasure and "
     "applied again by parcoursd --restore, so that restoring an older backup brings no one "
     "back. Kept outside the data directory, which a restore replaces. Default: "
     "erased.register in the parent folder of [store] path."},
    {"ingest", "endpoint", CONFIG_STRING, FIELD(ingest_endpoint), 0, 0, "tcp://127.0.0.1:7401",
     "ZeroMQ endpoint where partners publish events (ROUTER)."},
    {"ingest", "batch_max", CONFIG_UINT, FIELD(ingest_batch_max), 1, 100000, "2000",
     "Most events committed in one durable transaction (group commit)."},
    {"ingest", "max_frame", CONFIG_SIZE, FIELD(ingest_max_frame), 256, MIB, "4K",
     "Largest Event frame accepted; larger ones are rejected with TOO_LARGE."},
    {"deliver", "endpoint", CONFIG_STRING, FIELD(deliver_endpoint), 0, 0, "tcp://127.0.0.1:7402",
     "ZeroMQ endpoint where partners subscribe to their notifications (ROUTER)."},
    {"deliver", "heartbeat_interval", CONFIG_UINT, FIELD(deliver_heartbeat_interval), 1, 3600, "10",
     "Seconds after which a subscriber sent nothing gets a Heartbeat, so that the connections "
     "that went are dropped."},
    {"admin", "endpoint", CONFIG_STRING, FIELD(admin_endpoint), 0, 0, NULL,
     "Endpoint of parcoursctl's requests; default ipc://<store path>/admin.sock (mode 0600)."},
    {"admin", "keys", CONFIG_KEYS, FIELD(admin_keys), 0, 0, NULL,
     "CURVE public keys (Z85, comma-separated) admitted on a tcp:// admin endpoint."},
    {"admin", "backup_idle_timeout", CONFIG_UINT, FIELD(admin_backup_idle_timeout), 1, 3600, "30",
     "Seconds a hot backup waits for its client's next request before it is abandoned."},
    {"partners", "file", CONFIG_PATH, FIELD(partners_file), 0, 0, NULL,
     "The partners file (INI, one section per partner id). Required."},
    {"security", "curve", CONFIG_BOOL, FIELD(security_curve), 0, 1, "yes",
     "CURVE on every tcp:// endpoint: partners connect only with a key of the partners file."},
    {"security", "secret_key", CONFIG_PATH, FIELD(security_secret_key), 0, 0, NULL,
     "The daemon's secret key file (mode 0600), from parcoursctl keygen. Required with curve."},
    {"http", "listen", CONFIG_LOOPBACK, FIELD(http_listen), 0, 0, "127.0.0.1:7480",
     "Loopback address of /healthz, /readyz and /metrics (127.0.0.0/8 or [::1]); empty for none."},
    {"log", "level", CONFIG_LEVEL, FIELD(log_level), 0, 0, "info",
     "Lowest level logged: debug, info, warning or error."},
    {"rules", "legacy_contracts_refused_from", CONFIG_DATE,
     FIELD(rules_legacy_contracts_refused_from), 0, 0, "2025-01-01",
     "Day (UTC) from which a new CER or PPAE is refused: contracts starting on or after it must "
     "be contrats d'engagement (law of 18 December 2023)."},
    {"rules", "clock_skew", CONFIG_UINT, FIELD(rules_clock_skew), 0, 86400, "300",
     "Seconds an event's occurred_at may be ahead of the daemon's clock; an event dated later is "
     "refused (MALFORMED), its sender's clock being wrong. 0: no check."},
    {"journal", "path", CONFIG_PATH, FIELD(journal_path), 0, 0, NULL,
     "Folder of the access journal: every admin command, reload, restore and subscription, "
     "hash-chained (parcoursctl journal verify). Outside the data directory. Default: journal "
     "in the parent folder of [store] path."},
    {"journal", "keep_days", CONFIG_UINT, FIELD(journal_keep_days), 31, 36500, "365",
     "Days the journal's monthly files are kept, then deleted whole."},
    {"retention", "active_days", CONFIG_UINT, FIELD(retention_active_days), 1, 36500, "730",
     "Days a pathway stays active after its last contact (CASF R263-8: two years), then it is "
     "archived: kept, and told to the departement alone."},
    {"retention", "archive_days", CONFIG_UINT, FIELD(retention_archive_days), 1, 36500, "730",
     "Days an archived pathway is kept before it is destroyed like an erasure (two years)."},
    {"retention", "purge", CONFIG_BOOL, FIELD(retention_purge), 0, 1, "yes",
     "Destroy the pathways past both periods by itself, in slices between the batches; no keeps "
     "everything (and says so at start)."},
    {"retention", "purge_slice", CONFIG_UINT, FIELD(retention_purge_slice), 1, 100000, "1024",
     "Pathways the purge looks at per slice, a slice a second (one commit when it destroyed "
     "some): what it may take from ingest."},
    {"deadlines", "orientation_days", CONFIG_UINT, FIELD(deadlines_orientation_days), 0, 3650, "42",
     "Days from a registration to the orientation decision (CASF D262-65-2: six weeks); past "
     "them parcoursd writes a DeadlineMissed. 0: not watched."},
    {"deadlines", "contract_days", CONFIG_UINT, FIELD(deadlines_contract_days), 0, 3650, "30",
     "Days from the notified orientation to a signed contrat d'engagement (code du travail "
     "D5411-14-1: one month). 0: not watched."},
    {"deadlines", "referent_days", CONFIG_UINT, FIELD(deadlines_referent_days), 0, 3650, "30",
     "Days from the notified orientation to a named referent (the territory's own rule). 0: not "
     "watched."},
    {"deadlines", "inactivity_days", CONFIG_UINT, FIELD(deadlines_inactivity_days), 0, 36500, "180",
     "Days without any event on an open pathway before its partners are warned (the retention "
     "clock's early warning). 0: not watched."},
    {"transfers", "claim_days", CONFIG_UINT, FIELD(transfers_claim_days), 1, 3650, "365",
     "Days a move announced here by a bridge may be claimed by a registration "
     "(BeneficiaryRegistered.origin_reference); then it is forgotten."},
};
#define CONFIG_KEY_COUNT (sizeof(config_keys) / sizeof(config_keys[0]))

_Static_assert(CONFIG_KEY_COUNT <= CONFIG_KEY_SLOTS, "config_t.key_lines is too short");

typedef struct config_parse {
    config_t *config;
    char folder[CONFIG_PATH_MAX]; /* of the configuration file, for relative paths */
} config_parse_t;

int config_line(const config_t *c, const char *section, const char *name)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
            return c->key_lines[i];
    return 0;
}

static int parse_size(const char *value, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (errno != 0 || end == value || value[0] == '-')
        return -1;
    uint64_t unit = 1;
    switch (*end) {
    case 'K':
    case 'k':
        unit = KIB;
        end++;
        break;
    case 'M':
    case 'm':
        unit = MIB;
        end++;
        break;
    case 'G':
    case 'g':
        unit = GIB;
        end++;
        break;
    case 'T':
    case 't':
        unit = GIB * KIB;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0' || (n != 0 && unit > UINT64_MAX / n))
        return -1;
    *out = (uint64_t)n * unit;
    return 0;
}

int config_loopback_parse(const char *address, char *host, size_t hostlen, unsigned *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address)
        return -1;
    char *end;
    errno = 0;
    unsigned long n = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || colon[1] == '-' || n == 0 || n > 65535)
        return -1;
    size_t len = (size_t)(colon - address);
    if (address[0] == '[') {
        /* Only ::1, in brackets: the one IPv6 loopback address. */
        if (len < 2 || address[len - 1] != ']' || len - 2 >= hostlen)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(len - 2), address + 1);
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1 || !IN6_IS_ADDR_LOOPBACK(&a6))
            return -1;
    } else {
        if (len >= hostlen)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)len, address);
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1 || (ntohl(a4.s_addr) >> 24) != 127)
            return -1;
    }
    *port = (unsigned)n;
    return 0;
}

/* A day YYYY-MM-DD (1970 to 9999) as the unix ms of its midnight UTC; -1 when it is not one. */
static int parse_date(const char *value, int64_t *out)
{
    int y, m, d;
    char tail;
    if (strlen(value) != 10 || value[4] != '-' || value[7] != '-' ||
        sscanf(value, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 || m < 1 || m > 12 ||
        d < 1)
        return -1;
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > days_in[m - 1] + (m == 2 && leap))
        return -1;
    /* Days since 1970-01-01 (the civil-from-days algorithm run backwards). */
    int yy = m <= 2 ? y - 1 : y;
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out = days * INT64_C(86400000);
    return 0;
}

/* Z85 public keys of 40 characters, separated by commas or blanks. */
static int parse_keys(const config_key_t *k, const char *value, config_key_list_t *list, char *err,
                      size_t errlen)
{
    list->count = 0;
    for (const char *s = value;;) {
        s += strspn(s, ", \t");
        if (*s == '\0')
            return 0;
        size_t n = strcspn(s, ", \t");
        char key[41];
        if (list->count == CONFIG_ADMIN_KEYS_MAX)
            return snprintf(err, errlen, "[%s] %s holds more than %d keys", k->section, k->name,
                            CONFIG_ADMIN_KEYS_MAX),
                   -1;
        if (n != 40 || (memcpy(key, s, 40), key[40] = '\0',
                        zmq_z85_decode(list->keys[list->count], key) == NULL))
            return snprintf(err, errlen,
                            "[%s] %s: key %zu (\"%.*s\") is not a public key of 40 Z85 "
                            "characters (parcoursctl keygen writes them)",
                            k->section, k->name, list->count + 1, n > 48 ? 48 : (int)n, s),
                   -1;
        list->count++;
        s += n;
    }
}

/* Sets one key from its text; -1 with err written when the value is not valid. */
static int config_set(const config_key_t *k, void *base, const char *folder, const char *value,
                      char *err, size_t errlen)
{
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case CONFIG_STRING:
    case CONFIG_PATH: {
        if (value[0] == '\0')
            return snprintf(err, errlen, "[%s] %s must not be empty", k->section, k->name), -1;
        int n = (k->type == CONFIG_PATH && value[0] != '/' && folder[0] != '\0')
                    ? snprintf(field, k->size, "%s/%s", folder, value)
                    : snprintf(field, k->size, "%s", value);
        if (n < 0 || (size_t)n >= k->size)
            return snprintf(err, errlen, "[%s] %s is longer than %zu bytes", k->section, k->name,
                            k->size - 1),
                   -1;
        return 0;
    }
    case CONFIG_BOOL: {
        int b;
        if (ini_file_bool(value, &b) != 0)
            return snprintf(err, errlen, "[%s] %s must be yes or no, not \"%s\"", k->section,
                            k->name, value),
                   -1;
        *(bool *)field = b;
        return 0;
    }
    case CONFIG_UINT:
    case CONFIG_SIZE: {
        uint64_t n;
        int rc = k->type == CONFIG_SIZE ? parse_size(value, &n) : -1;
        if (k->type == CONFIG_UINT) {
            char *end;
            errno = 0;
            n = strtoull(value, &end, 10);
            rc = (errno != 0 || end == value || *end != '\0' || value[0] == '-') ? -1 : 0;
        }
        if (rc != 0 || n < k->min || n > k->max)
            return snprintf(err, errlen,
                            "[%s] %s must be %s from %" PRIu64 " to %" PRIu64 ", not \"%s\"",
                            k->section, k->name,
                            k->type == CONFIG_SIZE ? "a size in bytes (K, M, G suffixes)"
                                                   : "a whole number",
                            k->min, k->max, value),
                   -1;
        *(uint64_t *)field = n;
        return 0;
    }
    case CONFIG_LOOPBACK: {
        char host[64];
        unsigned port;
        if (value[0] != '\0' && config_loopback_parse(value, host, sizeof(host), &port) != 0)
            return snprintf(err, errlen,
                            "[%s] %s must be a loopback address and port (127.0.0.1:7480 or "
                            "[::1]:7480; only 127.0.0.0/8 and ::1), not \"%s\"",
                            k->section, k->name, value),
                   -1;
        snprintf(field, k->size, "%s", value);
        return 0;
    }
    case CONFIG_DATE:
        if (parse_date(value, (int64_t *)field) != 0)
            return snprintf(err, errlen, "[%s] %s must be a day written YYYY-MM-DD, not \"%s\"",
                            k->section, k->name, value),
                   -1;
        return 0;
    case CONFIG_KEYS:
        return parse_keys(k, value, (config_key_list_t *)field, err, errlen);
    case CONFIG_LEVEL:
        if (log_level_from_name(value) < 0)
            return snprintf(err, errlen,
                            "[%s] %s must be debug, info, warning or error, not \"%s\"", k->section,
                            k->name, value),
                   -1;
        snprintf(field, k->size, "%s", value);
        return 0;
    }
    return -1;
}

void config_defaults(config_t *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
        if (config_keys[i].default_value != NULL)
            config_set(&config_keys[i], c, "", config_keys[i].default_value, err, sizeof(err));
}

static int config_entry(void *ctx, int line, const char *section, const char *name,
                        const char *value, char *err, size_t errlen)
{
    config_parse_t *p = ctx;
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key_t *k = &config_keys[i];
        if (strcmp(k->section, section) != 0)
            continue;
        if (name == NULL)
            return 0; /* a known section */
        if (strcmp(k->name, name) != 0)
            continue;
        if (p->config->key_lines[i] != 0)
            return snprintf(err, errlen, "[%s] %s is set twice (first on line %d)", section, name,
                            p->config->key_lines[i]),
                   -1;
        p->config->key_lines[i] = line;
        return config_set(k, p->config, p->folder, value, err, errlen);
    }
    if (name == NULL)
        return snprintf(err, errlen, "unknown section [%s]", section), -1;
    return snprintf(err, errlen, "unknown key \"%s\" in [%s]", name, section), -1;
}

/* Sets field (size bytes), when the file left it empty, to name in the parent folder of
 * [store] path. 0, or -1 when it does not fit. */
static int config_beside_store(const config_t *c, char *field, size_t size, const char *name)
{
    if (c->store_path[0] == '\0' || field[0] != '\0')
        return 0;
    const char *last = strrchr(c->store_path, '/');
    int parent = last == NULL ? 0 : last == c->store_path ? 1 : (int)(last - c->store_path);
    int len = parent == 0
                  ? snprintf(field, size, "%s", name)
                  : snprintf(field, size, "%.*s/%s", parent == 1 ? 0 : parent, c->store_path, name);
    return len < 0 || (size_t)len >= size ? -1 : 0;
}

int config_load(config_t *c, const char *path, char *errors, size_t errlen)
{
    config_parse_t p = {.config = c};
    config_defaults(c);
    const char *slash = strrchr(path, '/');
    if (slash != NULL)
        snprintf(p.folder, sizeof(p.folder), "%.*s", (int)(slash - path), path);
    if (slash == path)
        snprintf(p.folder, sizeof(p.folder), "/");
    int n = ini_file_parse(path, config_entry, &p, errors, errlen);
    if (n < 0)
        return 1;
    /* Keys without a default must be given. */
    static const struct {
        size_t offset;
        const char *what;
    } required[] = {
        {offsetof(config_t, store_path), "[store] path is required"},
        {offsetof(config_t, partners_file), "[partners] file is required"},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (((char *)c)[required[i].offset] != '\0')
            continue;
        size_t used = strlen(errors);
        snprintf(errors + used, errlen - used, "%s: %s\n", path, required[i].what);
        n++;
    }
    /* Each check below stands on its own, so that one run reports every error. */
    if (c->security_curve && c->security_secret_key[0] == '\0') {
        size_t used = strlen(errors);
        snprintf(errors + used, errlen - used,
                 "%s: [security] secret_key is required while [security] curve = yes (make one "
                 "with parcoursctl keygen)\n",
                 path);
        n++;
    }
    if (c->store_path[0] != '\0' && c->admin_endpoint[0] == '\0') {
        int len = snprintf(c->admin_endpoint, sizeof(c->admin_endpoint), "ipc://%s/admin.sock",
                           c->store_path);
        if (len < 0 || (size_t)len >= sizeof(c->admin_endpoint)) {
            size_t used = strlen(errors);
            snprintf(errors + used, errlen - used, "%s: [store] path is too long\n", path);
            n++;
        }
    }
    /* The register and the journal live beside the data directory, which a restore empties. */
    if (config_beside_store(c, c->store_erased_register, sizeof(c->store_erased_register),
                            "erased.register") != 0 ||
        config_beside_store(c, c->journal_path, sizeof(c->journal_path), "journal") != 0) {
        size_t used = strlen(errors);
        snprintf(errors + used, errlen - used, "%s: [store] path is too long\n", path);
        n++;
    }
    if (c->store_initial_map_size > c->store_max_map_size) {
        int line = config_line(c, "store", "initial_map_size");
        if (line == 0)
            line = config_line(c, "store", "max_map_size");
        size_t used = strlen(errors);
        snprintf(errors + used, errlen - used,
                 "%s:%d: [store] initial_map_size is above max_map_size\n", path, line);
        n++;
    }
    return n;
}

void config_write_reference(void *out_file)
{
    FILE *out = out_file;
    fprintf(out, "| section | key | type | default | meaning |\n|---|---|---|---|---|\n");
    static const char *const type_names[] = {"string", "path",    "yes/no", "integer", "size",
                                             "level",  "address", "date",   "keys"};
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key_t *k = &config_keys[i];
        fprintf(out, "| [%s] | %s | %s | %s | %s |\n", k->section, k->name, type_names[k->type],
                k->default_value ? k->default_value : "(none)", k->doc);
    }
}
