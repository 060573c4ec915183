/*
 * parcoursctl.c: the admin CLI of parcoursd: the command table, the common options, the
 * endpoints, and the read commands (status, show, history, partners). `emit` is in emit.c,
 * `tail` in tail.c, `backup` in backup.c, `keygen` and the CURVE keys of connections in keys.c.
 *
 * One table drives both `help` and dispatch, so they cannot drift apart. Every read command
 * sends one AdminRequest to the daemon's admin endpoint and prints the AdminReply, for people
 * by default and as one JSON document with --json.
 */
#include "parcoursctl.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "identifier.h"
#include "parcours.h"
#include "fields.h"
#include "print.h"
#include "statsview.h"

#define DEFAULT_INGEST_ENDPOINT  "tcp://127.0.0.1:7401"
#define DEFAULT_ADMIN_ENDPOINT   "ipc:///run/parcours/admin.sock"
#define DEFAULT_DELIVER_ENDPOINT "tcp://127.0.0.1:7402"
#define DEFAULT_TIMEOUT_MS       5000

typedef struct command {
    const char *name;
    int (*run)(ctl_t *ctl, int argc, char **argv);
    const char *usage;
    const char *summary;
} command_t;

static int cmd_status(ctl_t *ctl, int argc, char **argv);
static int cmd_show(ctl_t *ctl, int argc, char **argv);
static int cmd_history(ctl_t *ctl, int argc, char **argv);
static int cmd_partners(ctl_t *ctl, int argc, char **argv);
static int cmd_erase(ctl_t *ctl, int argc, char **argv);
static int cmd_purge(ctl_t *ctl, int argc, char **argv);
static int cmd_due(ctl_t *ctl, int argc, char **argv);
static int cmd_stats(ctl_t *ctl, int argc, char **argv);
static int cmd_hold(ctl_t *ctl, int argc, char **argv);
static int cmd_oppose(ctl_t *ctl, int argc, char **argv);
static int cmd_journal(ctl_t *ctl, int argc, char **argv);
static int cmd_export(ctl_t *ctl, int argc, char **argv);
static int cmd_territory_key(ctl_t *ctl, int argc, char **argv);
static int cmd_pseudonym(ctl_t *ctl, int argc, char **argv);
static int cmd_help(ctl_t *ctl, int argc, char **argv);

static const command_t commands[] = {
    {"status", cmd_status, "status [--json]", "the daemon's version, durability and figures"},
    {"show", cmd_show, "show BENEFICIARY [--json]", "one pathway: its phase and the facts"},
    {"history", cmd_history, "history BENEFICIARY [--json]", "a beneficiary's events, in order"},
    {"partners", cmd_partners, "partners [--json]", "the partners file as the daemon loaded it"},
    {"erase", cmd_erase,
     "erase BENEFICIARY --reason request|unlawful|wrong-person|court-order [--yes] [--json]",
     "destroy one person now: pathway, events, what partners were told; each partner told of\n"
     "      them gets an Erasure notice. Asks for the id again unless --yes"},
    {"export", cmd_export, "export BENEFICIARY [--json]",
     "everything held about one person (RGPD art. 15): pathway, events, and for each the\n"
     "      partners told and when they had acknowledged it"},
    {"purge", cmd_purge, "purge --dry-run [--json]",
     "the retention's dry run: pathways active, archived, held, and due for destruction\n"
     "      (listed); the purge itself runs in the daemon"},
    {"due", cmd_due, "due [--within DURATION] [--json]",
     "the deadlines the daemon watches that fall due within DURATION (7d, 24h, 30m; default\n"
     "      0: those due now), soonest first; each passed one becomes a DeadlineMissed"},
    {"stats", cmd_stats, "stats [--since DATE] [--svg FILE] [--json]",
     "the territory's statistics for the comite territorial pour l'emploi: pathways per\n"
     "      phase, the funnel, median and p90 delays per structure, deadlines missed and\n"
     "      outcomes, from the months of DATE on; counts only; --svg draws them"},
    {"journal", cmd_journal, "journal verify [DIR] [--json]",
     "verify the access journal's chain (DIR, or [journal] path of -c FILE): whole, or the\n"
     "      first record that does not hold; run where the journal's files can be read"},
    {"oppose", cmd_oppose, "oppose BENEFICIARY --set|--lift [--json]",
     "record or lift the person's opposition (CASF L263-4-1): only the partners the law\n"
     "      requires (territory-wide, the referent's) are told while it stands"},
    {"hold", cmd_hold, "hold BENEFICIARY --set|--lift [--json]",
     "set or lift a litigation hold: the retention then neither archives nor destroys it"},
    {"emit", cmd_emit,
     "emit TYPE --as PARTNER --beneficiary ID [--event-id ID] [--occurred-at TIME]\n"
     "          [--expected-version N] [--expect-no-pathway true] [--FIELD VALUE ...]\n"
     "          [--json] [--key FILE]",
     "publish one event; FIELD is a field of TYPE's message in parcours.proto"},
    {"emit", cmd_emit, "emit --json [FILE|-] [--window N] [--output json] [--keys DIR]",
     "publish one event per JSON line, pipelined, results in line order; with CURVE, one\n"
     "      connection per partner, each line sent once the other partners' lines before it\n"
     "      are answered"},
    {"tail", cmd_tail,
     "tail --as PARTNER [--from N] [--types T1,T2] [--window W] [--idle SECONDS]\n"
     "          [--no-ack] [--json] [--key FILE]",
     "print a partner's notifications as they come, acknowledging each (not with --no-ack);\n"
     "      --from N replays from partner_seq N; --idle S exits after S seconds of quiet"},
    {"backup", cmd_backup, "backup DIR [--json]",
     "a hot, compacted, consistent copy of the daemon's store, taken while it serves, written\n"
     "      as DIR/data.mdb (never overwriting one); restore: see parcoursd(8)"},
    {"territory-key", cmd_territory_key, "territory-key FILE",
     "make the territory's pseudonym key (256 random bits, hex) in FILE, mode 0600, never\n"
     "      overwriting one: every partner derives beneficiary ids with it"},
    {"pseudonym", cmd_pseudonym, "pseudonym IDENTIFIER --key FILE",
     "the beneficiary id of a person from a partner's identifier of them (e.g. the NIR):\n"
     "      HMAC-SHA-256 under the territory key, as parcours_pseudonym() makes it"},
    {"keygen", cmd_keygen, "keygen NAME [--dir DIR]",
     "make a CURVE key pair: DIR/NAME.secret (mode 0600) and DIR/NAME.public, never\n"
     "      overwriting one; prints the partners file's line `public_key = ...`"},
    {"help", cmd_help, "help", "this text"},
};
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void help(FILE *out)
{
    fprintf(out, "usage: parcoursctl [OPTIONS] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %s\n      %s\n", commands[i].usage, commands[i].summary);
    fprintf(
        out,
        "\noptions (anywhere on the line):\n"
        "  --ingest ENDPOINT   the daemon's ingest endpoint (default " DEFAULT_INGEST_ENDPOINT ")\n"
        "  --admin ENDPOINT    the daemon's admin endpoint (default " DEFAULT_ADMIN_ENDPOINT ")\n"
        "  --deliver ENDPOINT  the daemon's deliver endpoint (default " DEFAULT_DELIVER_ENDPOINT
        ")\n"
        "  -c, --config FILE   read them from the daemon's configuration ([ingest], [admin] and\n"
        "                      [deliver] endpoint); default $PARCOURS_CONFIG\n"
        "  --timeout MS        how long to wait for the daemon (default 5000)\n"
        "  --json, --output json|human   output for programs or for people\n"
        "  --key FILE          CURVE: the secret key of the connection (a partner's, or an\n"
        "                      admin key for a tcp:// admin endpoint)\n"
        "  --keys DIR          CURVE: the folder of PARTNER.secret (and admin.secret) files;\n"
        "                      emit --json then opens one connection per partner\n"
        "  --server-key FILE|Z85  CURVE: the daemon's public key\n"
        "                      With -c and [security] curve = yes, the server key is the .public\n"
        "                      file beside [security] secret_key and --keys its folder.\n"
        "  --help, --version\n"
        "\nTYPE is an event type such as OrientationDecided (or orientation_decided). Enum\n"
        "values take their short names (EMPLOI) or full ones (PATHWAY_TYPE_EMPLOI); times take\n"
        "unix ms or ISO-8601 (2026-11-27, 2026-11-27T10:00:00Z); booleans true or false. A\n"
        "JSON line is one flat object: {\"type\":\"OrientationDecided\",\"as\":\"cd93\",\n"
        "\"beneficiary\":\"B-0001\",\"pathway_type\":\"EMPLOI\",\"referent_body\":"
        "\"MISSION_LOCALE\",\n\"structure_id\":\"ml93\",\"notified_at\":\"2026-11-27T10:00:00Z\"}\n"
        "\nexit codes: 0 done, 1 rejected or not found, 2 usage, 3 daemon unreachable\n");
}

static char error_sentence[1024]; /* the first failure ctl_error() reported */

/* Keeps text as the error object's sentence, unless one is kept already. */
static void error_keep(const char *text)
{
    if (error_sentence[0] != '\0')
        return;
    /* "parcoursctl: ", "parcoursctl emit: ": who speaks is the object's own "error" key. */
    const char *s = text;
    const char *colon = strstr(s, ": ");
    if (strncmp(s, "parcoursctl", 11) == 0 && colon != NULL && strchr(s, ':') == colon &&
        colon - s < 40)
        s = colon + 2;
    size_t n = 0;
    for (; *s != '\0' && n + 1 < sizeof(error_sentence); s++) {
        char c = *s == '\n' ? ' ' : *s;
        if (c == ' ' && (n == 0 || error_sentence[n - 1] == ' '))
            continue; /* the usage's indentation and line breaks, as single spaces */
        error_sentence[n++] = c;
    }
    while (n > 0 && error_sentence[n - 1] == ' ')
        n--;
    error_sentence[n] = '\0';
}

/* A command's usage on out: stdout when asked for (--help), stderr after a usage error. */
static void command_usage(FILE *out, const char *command)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, command) == 0)
            fprintf(out, "  parcoursctl %s\n", commands[i].usage);
    fprintf(out, "(parcoursctl help lists every command and option)\n");
}

int ctl_usage(const char *command)
{
    command_usage(stderr, command);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(commands[i].name, command) == 0) {
            char text[sizeof(error_sentence)];
            snprintf(text, sizeof(text), "usage: parcoursctl %s", commands[i].usage);
            error_keep(text);
        }
    return CTL_EXIT_USAGE;
}

/* ------------------------------------------------------------------------------------------ */
/* Common options and endpoints. */

int ctl_common_option(ctl_t *ctl, int argc, char **argv, int *i)
{
    static const char *const names[] = {"--ingest",  "--admin",     "--config",  "-c",
                                        "--timeout", "--output",    "--deliver", "--key",
                                        "--keys",    "--server-key"};
    const char *arg = argv[*i];
    const char *value = NULL;
    size_t which = 0;
    for (; which < sizeof(names) / sizeof(names[0]); which++) {
        size_t n = strlen(names[which]);
        if (strcmp(arg, names[which]) == 0) {
            if (*i + 1 >= argc) {
                ctl_error("parcoursctl: %s needs a value\n", arg);
                return -1;
            }
            value = argv[*i + 1];
            *i += 2;
            break;
        }
        if (strncmp(arg, names[which], n) == 0 && arg[n] == '=' && names[which][1] == '-') {
            value = arg + n + 1;
            *i += 1;
            break;
        }
    }
    switch (which) {
    case 0:
        ctl->ingest_option = value;
        return 1;
    case 1:
        ctl->admin_option = value;
        return 1;
    case 2:
    case 3:
        ctl->config_path = value;
        return 1;
    case 4: {
        char *end;
        long ms = strtol(value, &end, 10);
        if (*end != '\0' || end == value || ms < 1 || ms > 3600000) {
            ctl_error("parcoursctl: --timeout takes milliseconds, 1 to 3600000\n");
            return -1;
        }
        ctl->timeout_ms = (int)ms;
        return 1;
    }
    case 5:
        if (strcmp(value, "json") != 0 && strcmp(value, "human") != 0) {
            ctl_error("parcoursctl: --output takes json or human\n");
            return -1;
        }
        ctl->json = strcmp(value, "json") == 0;
        return 1;
    case 6:
        ctl->deliver_option = value;
        return 1;
    case 7:
        ctl->key_option = value;
        return 1;
    case 8:
        ctl->keys_option = value;
        return 1;
    case 9:
        ctl->server_key_option = value;
        return 1;
    default:
        return 0;
    }
}

typedef struct config_read {
    char folder[CTL_ENDPOINT_MAX]; /* of the configuration file, for a relative store path */
    char ingest[CTL_ENDPOINT_MAX];
    char admin[CTL_ENDPOINT_MAX];
    char deliver[CTL_ENDPOINT_MAX];
    char store[CTL_ENDPOINT_MAX];
    char curve[16];
    char secret_key[CTL_PATH_MAX];
    char partners[CTL_PATH_MAX];
    bool any; /* a key of the daemon's sections was met: it is a parcoursd configuration */
} config_read_t;

/* inih calls this for every key; only the endpoints (and the store, which places the default
 * admin socket) and [security] (where the keys are) matter here: the daemon checks the rest. */
static int config_entry(void *ctx, const char *section, const char *name, const char *value)
{
    config_read_t *c = ctx;
    char *target = NULL;
    if (strcmp(name, "endpoint") == 0 && strcmp(section, "ingest") == 0)
        target = c->ingest;
    else if (strcmp(name, "endpoint") == 0 && strcmp(section, "admin") == 0)
        target = c->admin;
    else if (strcmp(name, "endpoint") == 0 && strcmp(section, "deliver") == 0)
        target = c->deliver;
    else if (strcmp(name, "path") == 0 && strcmp(section, "store") == 0)
        target = c->store;
    else if (strcmp(name, "secret_key") == 0 && strcmp(section, "security") == 0)
        target = c->secret_key;
    else if (strcmp(name, "file") == 0 && strcmp(section, "partners") == 0)
        target = c->partners;
    if (target != NULL)
        snprintf(target, CTL_ENDPOINT_MAX, "%s", value);
    static const char *const sections[] = {"store",    "ingest",   "deliver",  "admin",
                                           "security", "partners", "http",     "log",
                                           "rules",    "journal",  "retention"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        c->any = c->any || strcmp(section, sections[i]) == 0;
    if (strcmp(name, "curve") == 0 && strcmp(section, "security") == 0)
        snprintf(c->curve, sizeof(c->curve), "%s", value);
    return 1;
}

/* Reads [security]: curve (as the daemon reads a boolean, and with its default, yes), and where
 * the daemon's public key and the partners' keys are by default: beside its secret key. */
static int config_security(ctl_t *ctl, const config_read_t *c)
{
    ctl->config_curve = c->curve[0] == '\0' || strcasecmp(c->curve, "yes") == 0 ||
                        strcasecmp(c->curve, "true") == 0 || strcasecmp(c->curve, "on") == 0 ||
                        strcmp(c->curve, "1") == 0;
    if (c->secret_key[0] == '\0')
        return 0;
    char path[CTL_PATH_MAX];
    int n = (c->secret_key[0] != '/' && c->folder[0] != '\0')
                ? snprintf(path, sizeof(path), "%s/%s", c->folder, c->secret_key)
                : snprintf(path, sizeof(path), "%s", c->secret_key);
    size_t len = strlen(path);
    const char *suffix = ".secret";
    size_t stem = len > strlen(suffix) && strcmp(path + len - strlen(suffix), suffix) == 0
                      ? len - strlen(suffix)
                      : len;
    int m = snprintf(ctl->config_server_key, sizeof(ctl->config_server_key), "%.*s.public",
                     (int)stem, path);
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(ctl->config_keys_dir, sizeof(ctl->config_keys_dir), ".");
    else
        snprintf(ctl->config_keys_dir, sizeof(ctl->config_keys_dir), "%.*s",
                 slash == path ? 1 : (int)(slash - path), path);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 ||
        (size_t)m >= sizeof(ctl->config_server_key)) {
        ctl_error("parcoursctl: [security] secret_key is too long\n");
        return -1;
    }
    return 0;
}

void ctl_error(const char *fmt, ...)
{
    char text[sizeof(error_sentence)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fputs(text, stderr);
    error_keep(text);
}

const char *ctl_error_sentence(void)
{
    return error_sentence[0] != '\0' ? error_sentence : NULL;
}

typedef struct partner_look {
    const char *wanted;
    bool found;
} partner_look_t;

static int partner_section(void *ctx, const char *section, const char *name, const char *value)
{
    partner_look_t *look = ctx;
    (void)name;
    (void)value;
    look->found = look->found || strcmp(section, look->wanted) == 0;
    return 1;
}

int ctl_partner_check(const ctl_t *ctl, const char *partner)
{
    if (ctl->config_partners[0] == '\0' || partner == NULL)
        return 0;
    partner_look_t look = {partner, false};
    if (ini_parse(ctl->config_partners, partner_section, &look) != 0)
        return 0; /* unreadable here (the daemon's own file): the daemon decides */
    if (look.found)
        return 0;
    char sentence[2 * CTL_PATH_MAX];
    snprintf(sentence, sizeof(sentence),
             "%.64s is not a partner of this territory: the partners file %s has no [%.64s] "
             "section",
             partner, ctl->config_partners, partner);
    ctl_error("parcoursctl: %s\n", sentence);
    return -1;
}

int ctl_endpoints(ctl_t *ctl)
{
    config_read_t c = {0};
    const char *path = ctl->config_path;
    if (path == NULL)
        path = getenv("PARCOURS_CONFIG");
    /* The configuration is read when it may still tell something: an endpoint, or a key. */
    bool keys_given =
        ctl->server_key_option != NULL && (ctl->key_option != NULL || ctl->keys_option != NULL);
    if (path != NULL && path[0] != '\0' &&
        (ctl->ingest_option == NULL || ctl->admin_option == NULL || ctl->deliver_option == NULL ||
         !keys_given)) {
        int rc = ini_parse(path, config_entry, &c);
        if (rc < 0) {
            ctl_error("parcoursctl: cannot open the configuration %s\n", path);
            return -1;
        }
        if (rc > 0) {
            ctl_error("%s:%d: not valid INI (check it with parcoursd -n -c %s)\n", path, rc, path);
            return -1;
        }
        if (!c.any || c.store[0] == '\0') {
            ctl_error("parcoursctl: %s is not a parcoursd configuration: it has no [store] path "
                      "(give the file parcoursd -c reads)\n",
                      path);
            return -1;
        }
        const char *slash = strrchr(path, '/');
        if (slash != NULL)
            snprintf(c.folder, sizeof(c.folder), "%.*s", slash == path ? 1 : (int)(slash - path),
                     path);
        if (config_security(ctl, &c) != 0)
            return -1;
        bool relative = c.partners[0] != '/' && c.folder[0] != '\0';
        int written = c.partners[0] == '\0'
                          ? 0
                          : snprintf(ctl->config_partners, sizeof(ctl->config_partners), "%s%s%s",
                                     relative ? c.folder : "", relative ? "/" : "", c.partners);
        if (written < 0 || (size_t)written >= sizeof(ctl->config_partners))
            ctl->config_partners[0] = '\0'; /* too long to check here: the daemon decides */
    }
    const char *ingest = ctl->ingest_option;
    if (ingest == NULL)
        ingest = c.ingest[0] != '\0' ? c.ingest : DEFAULT_INGEST_ENDPOINT;
    snprintf(ctl->ingest, sizeof(ctl->ingest), "%s", ingest);
    const char *deliver = ctl->deliver_option;
    if (deliver == NULL)
        deliver = c.deliver[0] != '\0' ? c.deliver : DEFAULT_DELIVER_ENDPOINT;
    snprintf(ctl->deliver, sizeof(ctl->deliver), "%s", deliver);

    int n;
    if (ctl->admin_option != NULL)
        n = snprintf(ctl->admin, sizeof(ctl->admin), "%s", ctl->admin_option);
    else if (c.admin[0] != '\0')
        n = snprintf(ctl->admin, sizeof(ctl->admin), "%s", c.admin);
    else if (c.store[0] == '/' || (c.store[0] != '\0' && c.folder[0] == '\0'))
        /* The daemon's own default: its socket lives in the store's folder. */
        n = snprintf(ctl->admin, sizeof(ctl->admin), "ipc://%s/admin.sock", c.store);
    else if (c.store[0] != '\0')
        n = snprintf(ctl->admin, sizeof(ctl->admin), "ipc://%s/%s/admin.sock", c.folder, c.store);
    else
        n = snprintf(ctl->admin, sizeof(ctl->admin), "%s", DEFAULT_ADMIN_ENDPOINT);
    if (n < 0 || (size_t)n >= sizeof(ctl->admin)) {
        ctl_error("parcoursctl: the admin endpoint is too long\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Read commands. */

/* One option of a command: "--name VALUE" sets *arg; "--name" alone sets *flag to value. */
typedef struct ctl_option {
    const char *name;
    const char **arg;
    int *flag;
    int value;
} ctl_option_t;

/*
 * Reads a command's arguments: the common options, --json, the command's own (opts), and up to
 * npos positional ones into pos (those not given stay NULL). Prints why and the usage, and
 * returns -1, on anything else.
 */
static int ctl_parse(ctl_t *ctl, const char *command, int argc, char **argv,
                     const ctl_option_t *opts, size_t n_opts, const char **pos, int npos)
{
    int got = 0;
    for (int i = 0; i < npos; i++)
        pos[i] = NULL;
    for (int i = 0; i < argc; i++) {
        int common = ctl_common_option(ctl, argc, argv, &i);
        if (common < 0)
            return -1;
        if (common > 0) {
            i--;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            ctl->json = true;
            continue;
        }
        size_t k = 0;
        while (k < n_opts && strcmp(argv[i], opts[k].name) != 0)
            k++;
        if (k < n_opts && opts[k].arg != NULL && i + 1 < argc) {
            *opts[k].arg = argv[++i];
        } else if (k < n_opts && opts[k].flag != NULL) {
            *opts[k].flag = opts[k].value;
        } else if (k == n_opts && argv[i][0] != '-' && got < npos) {
            pos[got++] = argv[i];
        } else {
            ctl_error("parcoursctl %s: unexpected argument \"%s\"\n", command, argv[i]);
            ctl_usage(command);
            return -1;
        }
    }
    return 0;
}

int ctl_read_args(ctl_t *ctl, const char *command, int argc, char **argv, const char **arg,
                  int wanted)
{
    if (ctl_parse(ctl, command, argc, argv, NULL, 0, arg, wanted) != 0)
        return -1;
    for (int i = 0; i < wanted; i++)
        if (arg[i] == NULL) {
            ctl_usage(command);
            return -1;
        }
    return 0;
}

int ctl_admin_keys(ctl_t *ctl, ctl_curve_t *curve)
{
    memset(curve, 0, sizeof(*curve));
    if (ctl_endpoints(ctl) != 0)
        return CTL_EXIT_USAGE;
    /* The ipc:// endpoint is owner-only and needs no key; a tcp:// one takes an admin key. A
     * socket file that is not there is said at once: libzmq would wait the whole timeout for
     * one to appear. */
    if (strncmp(ctl->admin, "ipc://", 6) == 0) {
        struct stat st;
        if (stat(ctl->admin + 6, &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
            ctl_error(
                "parcoursctl: no parcoursd admin socket at %s: parcoursd is not running on "
                "this store, or its [admin] endpoint is another (check parcoursd.conf, or give "
                "-c FILE or --admin ENDPOINT).\n",
                ctl->admin + 6);
            return CTL_EXIT_UNREACHABLE;
        }
        return CTL_EXIT_OK;
    }
    return ctl_curve_keys(ctl, CTL_ADMIN_KEY_NAME, curve);
}

int ctl_admin_unreachable(const ctl_t *ctl, const ctl_curve_t *curve)
{
    bool ipc = strncmp(ctl->admin, "ipc://", 6) == 0;
    ctl_error("parcoursctl: parcoursd did not answer on %s within %d ms: is parcoursd "
              "running? Check [admin] endpoint in parcoursd.conf (or give -c FILE or --admin "
              "ENDPOINT)%s\n",
              ctl->admin, ctl->timeout_ms,
              ipc ? "; an ipc socket is owner-only: run as the daemon's user." : ".");
    ctl_curve_hint(ctl->admin, CTL_ADMIN_KEY_NAME, curve);
    return CTL_EXIT_UNREACHABLE;
}

/* Sends one request and receives its reply; on failure prints why and returns the exit code. */
static int admin_send(ctl_t *ctl, const Parcours__V1__AdminRequest *request,
                      Parcours__V1__AdminReply **reply)
{
    ctl_curve_t curve;
    int status = ctl_admin_keys(ctl, &curve);
    if (status != CTL_EXIT_OK)
        return status;
    int rc =
        parcours_admin_call_secure(ctl->admin, curve.on ? curve.secret : NULL,
                                   curve.on ? curve.server : NULL, request, ctl->timeout_ms, reply);
    ctl_curve_wipe(&curve);
    if (rc == PARCOURS_EUNREACHABLE)
        return ctl_admin_unreachable(ctl, &curve);
    if (rc == PARCOURS_EKEYREFUSED || rc == PARCOURS_EHANDSHAKE) {
        /* The clients' sentence, then where the admin keys go ([admin] keys). */
        ctl_error("parcoursctl: %s: %s\n", ctl->admin, parcours_strerror(rc));
        ctl_curve_hint(ctl->admin, CTL_ADMIN_KEY_NAME, &curve);
        return CTL_EXIT_REJECTED;
    }
    if (rc != PARCOURS_OK) {
        ctl_error("parcoursctl: %s: %s\n", ctl->admin, parcours_strerror(rc));
        return rc == PARCOURS_EENDPOINT ? CTL_EXIT_USAGE : CTL_EXIT_REJECTED;
    }
    if (!(*reply)->ok) {
        const char *error = (*reply)->error[0] != '\0' ? (*reply)->error : "the daemon refused";
        ctl_error("parcoursctl: %s\n", error);
        parcours__v1__admin_reply__free_unpacked(*reply, NULL);
        *reply = NULL;
        return CTL_EXIT_REJECTED;
    }
    return CTL_EXIT_OK;
}

/* admin_send of a command about one beneficiary (NULL for none). */
static int admin_ask(ctl_t *ctl, Parcours__V1__AdminCommand command, const char *beneficiary,
                     Parcours__V1__AdminReply **reply)
{
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = command;
    /* A malformed id is a usage error, said before anything is sent (exit 2). */
    if (beneficiary != NULL && !identifier_valid(beneficiary)) {
        ctl_error("parcoursctl: %s is not a beneficiary id: it is %s\n", beneficiary,
                  IDENTIFIER_RULE);
        return CTL_EXIT_USAGE;
    }
    if (beneficiary != NULL)
        request.beneficiary_id = (char *)beneficiary;
    return admin_send(ctl, &request, reply);
}

/* The reply lacked what the command asked for: versions of parcoursctl and parcoursd differ. */
static int admin_incomplete(Parcours__V1__AdminReply *reply)
{
    ctl_error("parcoursctl: the daemon's reply lacks the data asked for; do parcoursctl "
              "and parcoursd have the same version?\n");
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_REJECTED;
}

static int cmd_status(ctl_t *ctl, int argc, char **argv)
{
    Parcours__V1__AdminReply *reply;
    if (ctl_read_args(ctl, "status", argc, argv, NULL, 0) != 0)
        return CTL_EXIT_USAGE;
    int status = admin_ask(ctl, PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (reply->status == NULL)
        return admin_incomplete(reply);
    print_status(reply->status, ctl->json);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

/* Prints what a reply about one beneficiary holds; -1 when it lacks it. */
typedef int (*beneficiary_print_fn)(const Parcours__V1__AdminReply *reply, bool json);

/* show, history, export: one request about one beneficiary, its answer printed. */
static int beneficiary_command(ctl_t *ctl, const char *name, Parcours__V1__AdminCommand command,
                               beneficiary_print_fn print, int argc, char **argv)
{
    const char *beneficiary;
    Parcours__V1__AdminReply *reply;
    if (ctl_read_args(ctl, name, argc, argv, &beneficiary, 1) != 0)
        return CTL_EXIT_USAGE;
    int status = admin_ask(ctl, command, beneficiary, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (print(reply, ctl->json) != 0)
        return admin_incomplete(reply);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

static int show_print(const Parcours__V1__AdminReply *reply, bool json)
{
    if (reply->pathway == NULL)
        return -1;
    print_pathway(reply->pathway, json);
    return 0;
}

static int history_print(const Parcours__V1__AdminReply *reply, bool json)
{
    print_history(reply->history, reply->n_history, json);
    return 0;
}

static int export_print(const Parcours__V1__AdminReply *reply, bool json)
{
    if (reply->person_export == NULL)
        return -1;
    print_export(reply->person_export, json);
    return 0;
}

static int cmd_show(ctl_t *ctl, int argc, char **argv)
{
    return beneficiary_command(ctl, "show", PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_SHOW,
                               show_print, argc, argv);
}

static int cmd_history(ctl_t *ctl, int argc, char **argv)
{
    return beneficiary_command(ctl, "history", PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HISTORY,
                               history_print, argc, argv);
}

static int cmd_export(ctl_t *ctl, int argc, char **argv)
{
    return beneficiary_command(ctl, "export", PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_EXPORT,
                               export_print, argc, argv);
}

/* The reasons an admin may give, as parcoursctl erase takes them. */
static const struct {
    const char *name;
    Parcours__V1__ErasureReason reason;
} erase_reasons[] = {
    {"request", PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_REQUEST},
    {"unlawful", PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_UNLAWFUL},
    {"wrong-person", PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_WRONG_PERSON},
    {"court-order", PARCOURS__V1__ERASURE_REASON__ERASURE_REASON_COURT_ORDER},
};

static int cmd_erase(ctl_t *ctl, int argc, char **argv)
{
    const char *beneficiary = NULL, *reason_name = NULL;
    int yes = 0;
    const ctl_option_t opts[] = {{"--reason", &reason_name, NULL, 0}, {"--yes", NULL, &yes, 1}};
    if (ctl_parse(ctl, "erase", argc, argv, opts, 2, &beneficiary, 1) != 0)
        return CTL_EXIT_USAGE;
    if (beneficiary == NULL || reason_name == NULL) {
        ctl_error("parcoursctl erase: a beneficiary and --reason are required\n");
        ctl_usage("erase");
        return CTL_EXIT_USAGE;
    }
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_ERASE;
    request.beneficiary_id = (char *)beneficiary;
    for (size_t i = 0; i < sizeof(erase_reasons) / sizeof(erase_reasons[0]); i++)
        if (strcmp(reason_name, erase_reasons[i].name) == 0)
            request.erasure_reason = erase_reasons[i].reason;
    if (request.erasure_reason == 0) {
        ctl_error("parcoursctl erase: --reason must be request (RGPD art. 17), unlawful, "
                  "wrong-person or court-order\n");
        return CTL_EXIT_USAGE;
    }
    if (!yes) {
        /* Nothing of the person can be brought back: the id typed again, at a terminal. */
        if (!isatty(STDIN_FILENO)) {
            ctl_error("parcoursctl erase: an erasure cannot be undone; give --yes to "
                      "confirm it without a terminal\n");
            return CTL_EXIT_USAGE;
        }
        ctl_error("Erase %s for good: their pathway, every event, and what each partner was told "
                  "(the partners are asked to erase their copies). This cannot be undone.\n"
                  "Type the beneficiary id again to confirm: ",
                  beneficiary);
        char typed[128];
        if (fgets(typed, sizeof(typed), stdin) == NULL)
            typed[0] = '\0';
        typed[strcspn(typed, "\r\n")] = '\0';
        if (strcmp(typed, beneficiary) != 0) {
            ctl_error("parcoursctl erase: not confirmed; nothing was erased\n");
            return CTL_EXIT_USAGE;
        }
    }
    Parcours__V1__AdminReply *reply;
    int status = admin_send(ctl, &request, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (reply->erased == NULL)
        return admin_incomplete(reply);
    if (ctl->json)
        printf("{\"erased\":true,\"events\":%u,\"partners_told\":%u}\n", reply->erased->events,
               reply->erased->partners_told);
    else
        printf("erased: %u events are now tombstones; %u partners were sent an Erasure notice\n",
               reply->erased->events, reply->erased->partners_told);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

static int cmd_territory_key(ctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    if (argc != 1 || argv[0][0] == '-') {
        ctl_usage("territory-key");
        return CTL_EXIT_USAGE;
    }
    uint8_t key[32];
    FILE *r = fopen("/dev/urandom", "rb");
    if (r == NULL || fread(key, 1, sizeof(key), r) != sizeof(key)) {
        if (r != NULL)
            fclose(r);
        ctl_error("parcoursctl territory-key: no randomness\n");
        return CTL_EXIT_REJECTED;
    }
    fclose(r);
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ctl_error("parcoursctl territory-key: %s: %s\n", argv[0], strerror(errno));
        return CTL_EXIT_REJECTED;
    }
    char hex[65];
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    memset(key, 0, sizeof(key));
    int ok = dprintf(fd, "%s\n", hex) == 65 && fsync(fd) == 0;
    memset(hex, 0, sizeof(hex));
    if (close(fd) != 0 || !ok) {
        ctl_error("parcoursctl territory-key: %s: cannot write\n", argv[0]);
        unlink(argv[0]);
        return CTL_EXIT_REJECTED;
    }
    printf("territory key written to %s (mode 0600): hand it to each partner of the territory "
           "out of band; never to parcoursd\n",
           argv[0]);
    return CTL_EXIT_OK;
}

/* Reads a territory key file: 64 hex characters on its first line. 0 or -1 (said why). */
static int territory_key_read(const char *path, uint8_t key[32])
{
    FILE *fp = fopen(path, "r");
    char line[128];
    if (fp == NULL || fgets(line, sizeof(line), fp) == NULL) {
        ctl_error("parcoursctl: %s: %s\n", path, fp == NULL ? strerror(errno) : "empty");
        if (fp != NULL)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    for (int i = 0; i < 32; i++) {
        unsigned byte;
        if (sscanf(line + 2 * i, "%2x", &byte) != 1) {
            ctl_error("parcoursctl: %s: not a territory key (64 hex characters)\n", path);
            return -1;
        }
        key[i] = (uint8_t)byte;
    }
    memset(line, 0, sizeof(line));
    return 0;
}

static int cmd_pseudonym(ctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    const char *identifier = NULL, *key_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key_path = argv[++i];
        else if (identifier == NULL)
            identifier = argv[i];
        else {
            ctl_usage("pseudonym");
            return CTL_EXIT_USAGE;
        }
    }
    if (identifier == NULL || key_path == NULL) {
        ctl_usage("pseudonym");
        return CTL_EXIT_USAGE;
    }
    uint8_t key[32];
    if (territory_key_read(key_path, key) != 0)
        return CTL_EXIT_USAGE;
    char id[PARCOURS_ID_MAX + 1];
    int rc = parcours_pseudonym(key, sizeof(key), identifier, id);
    memset(key, 0, sizeof(key));
    if (rc != PARCOURS_OK) {
        ctl_error("parcoursctl pseudonym: the identifier is 1 to 256 bytes\n");
        return CTL_EXIT_USAGE;
    }
    printf("%s\n", id);
    return CTL_EXIT_OK;
}

static int cmd_due(ctl_t *ctl, int argc, char **argv)
{
    const char *within = NULL;
    const ctl_option_t opts[] = {{"--within", &within, NULL, 0}};
    if (ctl_parse(ctl, "due", argc, argv, opts, 1, NULL, 0) != 0)
        return CTL_EXIT_USAGE;
    int64_t within_ms = 0;
    if (within != NULL && fields_duration_parse(within, &within_ms) != 0) {
        ctl_error("parcoursctl due: --within takes a duration such as 7d, 24h, 30m or 90s, not "
                  "\"%s\"\n",
                  within);
        return CTL_EXIT_USAGE;
    }
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_DUE;
    request.within_ms = within_ms;
    Parcours__V1__AdminReply *reply;
    int status = admin_send(ctl, &request, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (reply->due == NULL)
        return admin_incomplete(reply);
    print_due(reply->due, ctl->json);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

static int cmd_stats(ctl_t *ctl, int argc, char **argv)
{
    const char *since = NULL, *svg = NULL;
    const ctl_option_t opts[] = {{"--since", &since, NULL, 0}, {"--svg", &svg, NULL, 0}};
    if (ctl_parse(ctl, "stats", argc, argv, opts, 2, NULL, 0) != 0)
        return CTL_EXIT_USAGE;
    int64_t since_ms = 0;
    if (since != NULL && (fields_time_parse(since, &since_ms) != 0 || since_ms <= 0)) {
        ctl_error("parcoursctl stats: --since takes a date such as 2026-01-01, not \"%s\"\n",
                  since);
        return CTL_EXIT_USAGE;
    }
    FILE *chart = NULL;
    if (svg != NULL && (chart = fopen(svg, "wx")) == NULL) {
        ctl_error("parcoursctl stats: cannot write %s: %s%s\n", svg, strerror(errno),
                  errno == EEXIST ? " (it exists: give another name)" : "");
        return CTL_EXIT_USAGE;
    }
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATS;
    request.since_ms = since_ms;
    Parcours__V1__AdminReply *reply;
    int status = admin_send(ctl, &request, &reply);
    if (status == CTL_EXIT_OK && reply->stats == NULL)
        status = admin_incomplete(reply);
    else if (status == CTL_EXIT_OK) {
        char month[8] = "";
        if (since_ms > 0) {
            char day[FIELDS_TIME_MAX];
            fields_time_format(since_ms, day);
            snprintf(month, sizeof month, "%.7s", day);
        }
        const char *from = since_ms > 0 ? month : NULL;
        if (chart != NULL && statsview_svg(reply->stats, from, chart) != 0) {
            ctl_error("parcoursctl stats: cannot write %s\n", svg);
            status = CTL_EXIT_REJECTED;
        }
        if (status == CTL_EXIT_OK) {
            if (ctl->json)
                print_json_answer(statsview_json(reply->stats, from));
            else
                statsview_text(reply->stats, from, stdout);
        }
        parcours__v1__admin_reply__free_unpacked(reply, NULL);
    }
    if (chart != NULL && fclose(chart) != 0 && status == CTL_EXIT_OK) {
        ctl_error("parcoursctl stats: cannot write %s: %s\n", svg, strerror(errno));
        status = CTL_EXIT_REJECTED;
    }
    if (chart != NULL && status != CTL_EXIT_OK)
        unlink(svg); /* no half chart left behind */
    return status;
}

static int cmd_purge(ctl_t *ctl, int argc, char **argv)
{
    int dry_run = 0;
    const ctl_option_t opts[] = {{"--dry-run", NULL, &dry_run, 1}};
    if (ctl_parse(ctl, "purge", argc, argv, opts, 1, NULL, 0) != 0)
        return CTL_EXIT_USAGE;
    if (!dry_run) {
        ctl_error("parcoursctl purge: the purge runs in the daemon by itself ([retention] "
                  "purge); --dry-run shows what it would destroy\n");
        return CTL_EXIT_USAGE;
    }
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PURGE;
    request.dry_run = 1;
    Parcours__V1__AdminReply *reply;
    int status = admin_send(ctl, &request, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (reply->survey == NULL)
        return admin_incomplete(reply);
    print_survey(reply->survey, ctl->json);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

/* hold and oppose: one flag of one pathway, set or lifted. */
static int flag_command(ctl_t *ctl, int argc, char **argv, bool opposition);

static int cmd_hold(ctl_t *ctl, int argc, char **argv)
{
    return flag_command(ctl, argc, argv, false);
}

static int cmd_oppose(ctl_t *ctl, int argc, char **argv)
{
    return flag_command(ctl, argc, argv, true);
}

static int flag_command(ctl_t *ctl, int argc, char **argv, bool opposition)
{
    const char *name = opposition ? "oppose" : "hold";
    const char *beneficiary = NULL;
    int set = -1;
    const ctl_option_t opts[] = {{"--set", NULL, &set, 1}, {"--lift", NULL, &set, 0}};
    if (ctl_parse(ctl, name, argc, argv, opts, 2, &beneficiary, 1) != 0)
        return CTL_EXIT_USAGE;
    if (beneficiary == NULL || set < 0) {
        ctl_error("parcoursctl %s: a beneficiary and --set or --lift are required\n", name);
        ctl_usage(name);
        return CTL_EXIT_USAGE;
    }
    Parcours__V1__AdminRequest request = PARCOURS__V1__ADMIN_REQUEST__INIT;
    request.command = opposition ? PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_OPPOSE
                                 : PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_HOLD;
    request.beneficiary_id = (char *)beneficiary;
    request.hold = set;
    request.opposition = set;
    Parcours__V1__AdminReply *reply;
    int status = admin_send(ctl, &request, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    if (ctl->json)
        printf("{\"%s\":%s}\n", opposition ? "opposition" : "hold", set ? "true" : "false");
    else if (opposition)
        printf("opposition %s: %s\n", set ? "recorded" : "lifted",
               set ? "only the territory-wide partners and the referent's are told"
                   : "every partner that needs to know is told again");
    else
        printf("litigation hold %s: the retention %s this pathway\n", set ? "set" : "lifted",
               set ? "neither archives nor destroys" : "runs again on");
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

typedef struct journal_config {
    char store[CTL_PATH_MAX], journal[CTL_PATH_MAX];
} journal_config_t;

static int journal_config_entry(void *ctx, const char *section, const char *name, const char *value)
{
    journal_config_t *c = ctx;
    if (strcmp(section, "store") == 0 && strcmp(name, "path") == 0)
        snprintf(c->store, sizeof(c->store), "%s", value);
    else if (strcmp(section, "journal") == 0 && strcmp(name, "path") == 0)
        snprintf(c->journal, sizeof(c->journal), "%s", value);
    return 1;
}

static int cmd_journal(ctl_t *ctl, int argc, char **argv)
{
    const char *pos[2];
    if (ctl_parse(ctl, "journal", argc, argv, NULL, 0, pos, 2) != 0)
        return CTL_EXIT_USAGE;
    if (pos[0] == NULL || strcmp(pos[0], "verify") != 0) {
        ctl_usage("journal");
        return CTL_EXIT_USAGE;
    }
    const char *dir = pos[1];
    /* The folder: given, or the daemon's: [journal] path, else journal beside [store] path. */
    char found[2 * CTL_PATH_MAX + 16];
    const char *config = ctl->config_path != NULL ? ctl->config_path : getenv("PARCOURS_CONFIG");
    if (dir == NULL && config != NULL && config[0] != '\0') {
        journal_config_t c = {{0}, {0}};
        if (ini_parse(config, journal_config_entry, &c) != 0) {
            ctl_error("parcoursctl journal: cannot read %s\n", config);
            return CTL_EXIT_USAGE;
        }
        const char *slash = strrchr(config, '/');
        int folder = slash == NULL ? 0 : (int)(slash - config);
        const char *path = c.journal[0] != '\0' ? c.journal : c.store;
        if (path[0] != '\0') {
            char absolute[2 * CTL_PATH_MAX + 8];
            if (path[0] == '/' || folder == 0)
                snprintf(absolute, sizeof(absolute), "%s", path);
            else
                snprintf(absolute, sizeof(absolute), "%.*s/%s", folder, config, path);
            if (c.journal[0] != '\0') {
                snprintf(found, sizeof(found), "%s", absolute);
            } else {
                char *last = strrchr(absolute, '/');
                if (last != NULL && last != absolute)
                    *last = '\0';
                snprintf(found, sizeof(found), "%s/journal", last != NULL ? absolute : ".");
            }
            dir = found;
        }
    }
    if (dir == NULL) {
        ctl_error("parcoursctl journal verify: give the journal's folder, or -c the "
                  "daemon's configuration\n");
        return CTL_EXIT_USAGE;
    }
    audit_report_t report;
    char err[512];
    if (audit_verify(dir, &report, err, sizeof(err)) != 0) {
        ctl_error("parcoursctl journal verify: %s\n", err);
        return CTL_EXIT_REJECTED;
    }
    if (ctl->json)
        printf("{\"whole\":%s,\"records\":%llu,\"files\":%zu,\"last_hash\":\"%s\"%s%s%s}\n",
               report.whole ? "true" : "false", (unsigned long long)report.records, report.files,
               report.last_hash, report.whole ? "" : ",\"first_broken\":\"",
               report.whole ? "" : report.first_broken, report.whole ? "" : "\"");
    else if (report.whole)
        printf("journal %s is whole: %llu records in %zu files, last hash %s\n", dir,
               (unsigned long long)report.records, report.files, report.last_hash);
    else
        printf("journal %s is BROKEN: %s (%llu records before it hold)\n", dir, report.first_broken,
               (unsigned long long)report.records);
    return report.whole ? CTL_EXIT_OK : CTL_EXIT_REJECTED;
}

static int cmd_partners(ctl_t *ctl, int argc, char **argv)
{
    Parcours__V1__AdminReply *reply;
    if (ctl_read_args(ctl, "partners", argc, argv, NULL, 0) != 0)
        return CTL_EXIT_USAGE;
    int status = admin_ask(ctl, PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PARTNERS, NULL, &reply);
    if (status != CTL_EXIT_OK)
        return status;
    print_partners(reply->partners, reply->n_partners, ctl->json);
    parcours__v1__admin_reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}

static int cmd_help(ctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    help(stdout);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */

/* The arguments as main split them, freed at the exit (the commands keep pointers into them). */
static char **args_split;
static bool *args_value;

static void args_free(void)
{
    free(args_split);
    free(args_value);
    args_split = NULL;
    args_value = NULL;
}

/* Reads the options before the command and runs it; *i ends at the command's word. */
static int run(ctl_t *ctl, int argc, char **argv, int *i)
{
    /* Options before the command; the commands read the ones after it. */
    while (*i < argc && argv[*i][0] == '-') {
        if (strcmp(argv[*i], "--help") == 0 || strcmp(argv[*i], "-h") == 0) {
            help(stdout);
            return CTL_EXIT_OK;
        }
        if (strcmp(argv[*i], "--version") == 0) {
            printf("parcoursctl %s\n", PARCOURS_VERSION);
            return CTL_EXIT_OK;
        }
        if (strcmp(argv[*i], "--json") == 0) {
            ctl->json = true;
            (*i)++;
            continue;
        }
        int common = ctl_common_option(ctl, argc, argv, i);
        if (common < 0)
            return CTL_EXIT_USAGE;
        if (common == 0) {
            ctl_error("parcoursctl: unknown option %s\n", argv[*i]);
            help(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (*i >= argc) {
        help(stderr);
        return CTL_EXIT_USAGE;
    }
    for (int k = *i + 1; k < argc; k++)
        if (!args_value[k] && (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)) {
            command_usage(stdout, argv[*i]);
            return CTL_EXIT_OK;
        }
    for (size_t c = 0; c < COMMAND_COUNT; c++)
        if (strcmp(commands[c].name, argv[*i]) == 0)
            return commands[c].run(ctl, argc - *i - 1, argv + *i + 1);
    ctl_error("parcoursctl: unknown command \"%s\"\n", argv[*i]);
    help(stderr);
    return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    ctl_t ctl = {.timeout_ms = DEFAULT_TIMEOUT_MS};
    /* Every option may be given as --name=value, for every command: split here, once, in
     * place, so that the commands only ever read --name value. A word that is the value of the
     * option before it (--professional_ref --ref=7, --note --help) is left whole, and is no
     * option: only the flags below take no value. */
    static const char *const flags[] = {"--json", "--no-ack", "--dry-run", "--yes",    "--set",
                                        "--lift", "--help",   "-h",        "--version"};
    char **split = calloc(2 * (size_t)argc + 1, sizeof(*split));
    bool *a_value = calloc(2 * (size_t)argc + 1, sizeof(*a_value)); /* the option before's */
    args_split = split;
    args_value = a_value;
    if (split == NULL || a_value == NULL || atexit(args_free) != 0) {
        args_free();
        return CTL_EXIT_REJECTED;
    }
    int n = 0;
    for (int k = 0; k < argc; k++) {
        bool after_option = false;
        if (n > 1 && !a_value[n - 1] && split[n - 1][0] == '-' && split[n - 1][1] != '\0' &&
            strchr(split[n - 1], '=') == NULL) {
            after_option = true;
            for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
                after_option = after_option && strcmp(split[n - 1], flags[f]) != 0;
        }
        char *eq = strncmp(argv[k], "--", 2) == 0 ? strchr(argv[k], '=') : NULL;
        if (after_option) {
            a_value[n] = true;
            split[n++] = argv[k];
        } else if (k > 0 && eq != NULL && eq > argv[k] + 2) {
            *eq = '\0';
            split[n++] = argv[k];
            a_value[n] = true;
            split[n++] = eq + 1;
        } else {
            split[n++] = argv[k];
        }
    }
    split[n] = NULL;
    argc = n;
    argv = split;
    int i = 1;
    int status = run(&ctl, argc, argv, &i);
    /* With --json, a failure that printed no answer of its own (an ack, a document) prints its
     * one error object, whichever step failed: the command looked for --json in its own
     * arguments only once it got that far, so they are looked at here too. */
    bool json = ctl.json;
    for (int k = i + 1; k < argc && !json; k++) {
        /* Even as the value of the option before it (status --bogus --json): a word --json
         * is never a value anyone means. */
        bool emit_input = k == i + 1 && strcmp(argv[i], "emit") == 0; /* emit --json FILE */
        json =
            (strcmp(argv[k], "--json") == 0 && !emit_input) ||
            (strcmp(argv[k], "--output") == 0 && k + 1 < argc && strcmp(argv[k + 1], "json") == 0);
    }
    if (json && status != CTL_EXIT_OK && !print_answered()) {
        const char *sentence = ctl_error_sentence();
        if (sentence == NULL)
            sentence = status == CTL_EXIT_USAGE         ? "usage error: see parcoursctl --help"
                       : status == CTL_EXIT_UNREACHABLE ? "parcoursd is unreachable"
                                                        : "the command failed";
        print_error_json(status, sentence);
    }
    return status;
}
