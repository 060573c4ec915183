/*
 * parcoursctl.h: what the commands of parcoursctl share: the options every command takes, the
 * endpoints and CURVE keys they resolve to, and the exit codes.
 */
#ifndef PARCOURSCTL_H
#define PARCOURSCTL_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes: scripts rely on them. */
#define CTL_EXIT_OK          0 /* done; every event accepted or duplicate */
#define CTL_EXIT_REJECTED    1 /* an event was rejected, a beneficiary is unknown, an error */
#define CTL_EXIT_USAGE       2 /* the command line or its input is wrong: nothing was sent */
#define CTL_EXIT_UNREACHABLE 3 /* the daemon did not answer in time */

#define CTL_ENDPOINT_MAX 1024
#define CTL_PATH_MAX     1024

/* The file name of the admin key in a --keys folder: DIR/admin.secret. */
#define CTL_ADMIN_KEY_NAME "admin"

/* The options common to every command, wherever they appear on the line. */
typedef struct ctl {
    const char *ingest_option;     /* --ingest, or NULL */
    const char *admin_option;      /* --admin, or NULL */
    const char *deliver_option;    /* --deliver, or NULL */
    const char *config_path;       /* -c / --config, or NULL (then $PARCOURS_CONFIG) */
    int timeout_ms;                /* --timeout; default 5000 */
    bool json;                     /* --json or --output json: machine-readable output */
    const char *key_option;        /* --key FILE: the secret key of every connection, or NULL */
    const char *keys_option;       /* --keys DIR: PARTNER.secret for each partner, or NULL */
    const char *server_key_option; /* --server-key FILE|Z85: the daemon's public key, or NULL */
    /* Resolved by ctl_endpoints(). */
    char ingest[CTL_ENDPOINT_MAX];
    char admin[CTL_ENDPOINT_MAX];
    char deliver[CTL_ENDPOINT_MAX];
    /* From the configuration's [security], by ctl_endpoints(): curve (false without a
     * configuration; true when the configuration leaves it out, the daemon's default), and,
     * when secret_key is set, the daemon's public key file beside it (its name with .secret
     * replaced by .public) and its folder, where --keys looks by default; "" when not known. */
    bool config_curve;
    char config_server_key[CTL_PATH_MAX];
    char config_keys_dir[CTL_PATH_MAX];
    char config_partners[CTL_PATH_MAX]; /* [partners] file, resolved; "" when not known */
} ctl_t;

/*
 * Reports a failure to people: the text (a printf format, ending in a newline) on stderr.
 * The first one of a run is also kept as the sentence of the one error object that main()
 * prints on stdout with --json when the command fails without an answer of its own
 * (print_answered()), its "parcoursctl CMD: " prefix and newline left out. Hints that follow
 * go to stderr alone.
 */
__attribute__((format(printf, 1, 2))) void ctl_error(const char *fmt, ...);

/* The sentence ctl_error() kept, or NULL when none was reported. */
const char *ctl_error_sentence(void);

/* With a configuration whose partners file is readable: 0 when partner is one of its sections,
 * else -1 after saying so (a usage error: the caller exits with CTL_EXIT_USAGE). Without one,
 * 0: the daemon decides. Call after ctl_endpoints(). */
int ctl_partner_check(const ctl_t *ctl, const char *partner);

/* The CURVE keys of one connection, as ctl_curve_keys() resolved them. */
typedef struct ctl_curve {
    bool on;                        /* CURVE is used; the keys below are set only then */
    uint8_t secret[32];             /* the connection's secret key: a partner's, or an admin key */
    uint8_t server[32];             /* the daemon's public key */
    char secret_from[CTL_PATH_MAX]; /* the file the secret key came from, for messages */
} ctl_curve_t;

/*
 * Reads a common option at argv[*i] (and its value at argv[*i + 1]). Returns 1 and advances *i
 * past what it read when it was one, 0 when argv[*i] is not a common option, or -1 after
 * printing why the option is wrong (the caller exits with CTL_EXIT_USAGE). --json is not read
 * here: each command decides what it means.
 */
int ctl_common_option(ctl_t *ctl, int argc, char **argv, int *i);

/*
 * Fills ctl->ingest, ctl->admin and ctl->deliver: --ingest / --admin / --deliver, else the
 * configuration file's [ingest], [admin] and [deliver] endpoint (an [admin] endpoint left out is
 * the daemon's default, ipc://<[store] path>/admin.sock), else the built-in defaults. Returns 0,
 * or -1 after printing why the configuration cannot be read.
 */
int ctl_endpoints(ctl_t *ctl);

/*
 * Reads the arguments of a command that takes common options, --json, and exactly `wanted`
 * positionals (into arg[0..wanted-1]). Returns 0, or -1 after printing why and the command's
 * usage (the caller exits with CTL_EXIT_USAGE).
 */
int ctl_read_args(ctl_t *ctl, const char *command, int argc, char **argv, const char **arg,
                  int wanted);

/* Prints the usage of a command from the command table to stderr and returns CTL_EXIT_USAGE. */
int ctl_usage(const char *command);

/* `emit`: see emit.c. argv[0] is the first argument after "emit". */
int cmd_emit(ctl_t *ctl, int argc, char **argv);

/* `tail`: see tail.c. argv[0] is the first argument after "tail". */
int cmd_tail(ctl_t *ctl, int argc, char **argv);

/* `backup`: see backup.c. argv[0] is the first argument after "backup". */
int cmd_backup(ctl_t *ctl, int argc, char **argv);

/* `keygen`: see keys.c. argv[0] is the first argument after "keygen". */
int cmd_keygen(ctl_t *ctl, int argc, char **argv);

/*
 * Whether a connection of these options uses CURVE: a key option was given (--key, --keys,
 * --server-key), or the configuration says [security] curve = yes. Call after ctl_endpoints().
 */
bool ctl_curve_wanted(const ctl_t *ctl);

/*
 * Resolves the CURVE keys of one connection made for `who`: a partner id, or
 * CTL_ADMIN_KEY_NAME for the admin endpoint. The secret key is --key FILE, else DIR/WHO.secret
 * with DIR from --keys, else the folder of the configuration's [security] secret_key; the
 * server key is --server-key (a file, or the 40 Z85 characters themselves), else the .public
 * file beside [security] secret_key. With CURVE not wanted (ctl_curve_wanted), curve->on is
 * false and nothing is read. Call after ctl_endpoints().
 * Returns CTL_EXIT_OK; or, after printing which key is missing and how to make it,
 * CTL_EXIT_UNREACHABLE when a key cannot be found (the daemon would never complete the
 * connection), CTL_EXIT_USAGE when a key file is refused (its mode, its content) or a file
 * named on the command line cannot be read.
 */
int ctl_curve_keys(const ctl_t *ctl, const char *who, ctl_curve_t *curve);

/*
 * Resolves the admin endpoint (ctl_endpoints) and, for a tcp:// one, the admin key into curve
 * (curve->on false for ipc://). Returns CTL_EXIT_OK, or the exit code after printing why.
 */
int ctl_admin_keys(ctl_t *ctl, ctl_curve_t *curve);

/* Prints why the admin endpoint did not answer, with the CURVE hint; returns
 * CTL_EXIT_UNREACHABLE. */
int ctl_admin_unreachable(const ctl_t *ctl, const ctl_curve_t *curve);

/* Clears the secret key of curve (call when the connection no longer needs it). */
void ctl_curve_wipe(ctl_curve_t *curve);

/*
 * Prints, after a "did not answer" message, what CURVE may have to do with it: with CURVE
 * (curve->on), the daemon may not admit the key used for `who`; without, a tcp:// endpoint may
 * require keys. Prints nothing for another endpoint without CURVE.
 */
void ctl_curve_hint(const char *endpoint, const char *who, const ctl_curve_t *curve);

#endif
