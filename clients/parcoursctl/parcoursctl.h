/*
 * parcoursctl.h: what the commands of parcoursctl share: the options every command takes, the
 * endpoints they resolve to, and the exit codes.
 */
#ifndef PARCOURSCTL_H
#define PARCOURSCTL_H

#include <stdbool.h>

/* Exit codes: scripts rely on them. */
#define CTL_EXIT_OK          0 /* done; every event accepted or duplicate */
#define CTL_EXIT_REJECTED    1 /* an event was rejected, a beneficiary is unknown, an error */
#define CTL_EXIT_USAGE       2 /* the command line or its input is wrong: nothing was sent */
#define CTL_EXIT_UNREACHABLE 3 /* the daemon did not answer in time */

#define CTL_ENDPOINT_MAX 1024

/* The options common to every command, wherever they appear on the line. */
typedef struct ctl {
    const char *ingest_option;  /* --ingest, or NULL */
    const char *admin_option;   /* --admin, or NULL */
    const char *deliver_option; /* --deliver, or NULL */
    const char *config_path;    /* -c / --config, or NULL (then $PARCOURS_CONFIG) */
    int timeout_ms;             /* --timeout; default 5000 */
    bool json;                  /* --json or --output json: machine-readable output */
    /* Resolved by ctl_endpoints(). */
    char ingest[CTL_ENDPOINT_MAX];
    char admin[CTL_ENDPOINT_MAX];
    char deliver[CTL_ENDPOINT_MAX];
} ctl_t;

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

/* Prints the usage of a command from the command table to stderr and returns CTL_EXIT_USAGE. */
int ctl_usage(const char *command);

/* `emit`: see emit.c. argv[0] is the first argument after "emit". */
int cmd_emit(ctl_t *ctl, int argc, char **argv);

/* `tail`: see tail.c. argv[0] is the first argument after "tail". */
int cmd_tail(ctl_t *ctl, int argc, char **argv);

#endif
