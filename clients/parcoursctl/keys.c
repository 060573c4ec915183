/*
 * keys.c: CURVE keys in parcoursctl: `parcoursctl keygen`, and the keys each connection uses.
 *
 *   keygen NAME [--dir DIR]
 *
 * writes DIR/NAME.secret (mode 0600) and DIR/NAME.public, each a comment line and the key as
 * 40 Z85 characters (the format common/keyfile.c reads, for parcoursd and parcours_keys_read),
 * and prints the line the partners file takes, `public_key = <Z85>`, alone on stdout so that a
 * script can append it. A key is never overwritten: both files are created with O_EXCL, and an
 * existing one is an error. The same command makes the daemon's key (its .secret goes to [security]
 * secret_key, its .public to the clients) and admin keys (their public key goes to [admin] keys).
 *
 * With CURVE on (see parcoursctl.h), every connection needs its own secret key, the daemon
 * knowing the connection as the key's partner, and the daemon's public key. A key that cannot
 * be found is reported here, before anything is sent, with what to do about it: the
 * connection would never complete otherwise, and all the operator would see is a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "identifier.h"
#include "keyfile.h"
#include "parcours.h"
#include "parcoursctl.h"

/* ------------------------------------------------------------------------------------------ */
/* keygen */

/* Creates path (O_EXCL: never over an existing file) with mode, writes text, syncs. Returns 0,
 * or -1 with errno set; a file this call created is removed again on failure. */
static int keygen_write(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), done = 0;
    int rc = 0;
    /* The umask may only have taken rights away; make the mode exactly what was asked. */
    if (fchmod(fd, mode) != 0)
        rc = -1;
    while (rc == 0 && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -1;
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0)
        unlink(path);
    errno = saved;
    return rc;
}

static int keygen_exists(const char *path)
{
    ctl_error("parcoursctl keygen: %s already exists; a key is never overwritten. Keep using it, "
              "or pick another name (to replace it, remove it first: whoever used it then needs "
              "the new key, and the partners file the new public_key line).\n",
              path);
    return CTL_EXIT_REJECTED;
}

int cmd_keygen(ctl_t *ctl, int argc, char **argv)
{
    const char *name = NULL, *dir = ".";
    for (int i = 0; i < argc; i++) {
        int common = ctl_common_option(ctl, argc, argv, &i);
        if (common < 0)
            return CTL_EXIT_USAGE;
        if (common > 0) {
            i--; /* ctl_common_option moved past the option; the loop adds 1 */
            continue;
        }
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
        } else if (name == NULL && argv[i][0] != '-') {
            name = argv[i];
        } else {
            ctl_error("parcoursctl keygen: unexpected argument \"%s\"\n", argv[i]);
            return ctl_usage("keygen");
        }
    }
    if (name == NULL)
        return ctl_usage("keygen");
    /* A key's name is a partner id (the wire's identifier rule: no / can slip in), and becomes
     * a file name: no hidden files either. */
    if (!identifier_valid(name) || name[0] == '.') {
        ctl_error("parcoursctl keygen: the name is a partner id (or \"parcoursd\", \"admin\"): 1 "
                  "to %d characters of A-Z a-z 0-9 . _ : -, not starting with a dot\n",
                  PARCOURS_ID_MAX);
        return CTL_EXIT_USAGE;
    }
    if (dir[0] == '\0')
        dir = ".";

    char secret_path[CTL_PATH_MAX], public_path[CTL_PATH_MAX];
    int n1 = snprintf(secret_path, sizeof(secret_path), "%s/%s.secret", dir, name);
    int n2 = snprintf(public_path, sizeof(public_path), "%s/%s.public", dir, name);
    if (n1 < 0 || (size_t)n1 >= sizeof(secret_path) || n2 < 0 ||
        (size_t)n2 >= sizeof(public_path)) {
        ctl_error("parcoursctl keygen: the folder name is too long\n");
        return CTL_EXIT_USAGE;
    }
    /* Both are checked before either is written, so that a refusal leaves nothing behind. */
    struct stat st;
    if (lstat(secret_path, &st) == 0)
        return keygen_exists(secret_path);
    if (lstat(public_path, &st) == 0)
        return keygen_exists(public_path);

    /* A Z85 key never starts with '#' (a group's first character encodes at most 2^32 - 1,
     * index 82 of the 85), so the files can keep '#' for comments. */
    char public_z85[KEYFILE_Z85_LENGTH + 1], secret_z85[KEYFILE_Z85_LENGTH + 1];
    if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
        ctl_error("parcoursctl keygen: %s\n",
                  errno == ENOTSUP ? parcours_strerror(PARCOURS_ENOCURVE) : zmq_strerror(errno));
        return CTL_EXIT_REJECTED;
    }
    char secret_text[512], public_text[512];
    snprintf(secret_text, sizeof(secret_text),
             "# CURVE secret key of %s, made by parcoursctl keygen. Keep it owner-only (mode "
             "0600)\n# and never share it; its public key is in %s.public.\n%s\n",
             name, name, secret_z85);
    snprintf(public_text, sizeof(public_text),
             "# CURVE public key of %s, made by parcoursctl keygen. In the partners file, [%s] "
             "takes:\n# public_key = %s\n%s\n",
             name, name, public_z85, public_z85);
    keyfile_wipe(secret_z85, sizeof(secret_z85));

    /* O_EXCL decides, should another keygen have come between the checks and here. */
    const char *failed = NULL;
    if (keygen_write(secret_path, 0600, secret_text) != 0) {
        failed = secret_path;
    } else if (keygen_write(public_path, 0644, public_text) != 0) {
        failed = public_path;
        int e = errno;
        unlink(secret_path); /* a secret key without its public key is of no use */
        errno = e;
    }
    keyfile_wipe(secret_text, sizeof(secret_text));
    if (failed != NULL) {
        if (errno == EEXIST)
            return keygen_exists(failed);
        ctl_error("parcoursctl keygen: cannot write %s: %s%s\n", failed, strerror(errno),
                  errno == ENOENT ? " (create the folder first)" : "");
        return CTL_EXIT_REJECTED;
    }
    printf("public_key = %s\n", public_z85);
    fprintf(stderr,
            "parcoursctl keygen: wrote %s (keep it private) and %s. For a partner, add the line "
            "above to its [%s] section of the partners file and reload parcoursd (SIGHUP); for "
            "an admin key, add the key to [admin] keys; for the daemon's own key, set "
            "[security] secret_key = %s.\n",
            secret_path, public_path, name, secret_path);
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The keys of a connection. */

bool ctl_curve_wanted(const ctl_t *ctl)
{
    return ctl->key_option != NULL || ctl->keys_option != NULL || ctl->server_key_option != NULL ||
           ctl->config_curve;
}

/* What the key of `who` is for, in a sentence: "partner ml93", "the admin endpoint". */
static const char *curve_whose(const char *who, char *buf, size_t size)
{
    if (strcmp(who, CTL_ADMIN_KEY_NAME) == 0)
        return "the admin endpoint";
    snprintf(buf, size, "partner %s", who);
    return buf;
}

/* What to do once a key pair exists, for `who`. */
static const char *curve_register_hint(const char *who)
{
    return strcmp(who, CTL_ADMIN_KEY_NAME) == 0
               ? "add its public key to [admin] keys in parcoursd.conf"
               : "add its public_key line to the partner's section of the partners file "
                 "(then reload parcoursd with SIGHUP)";
}

/* Reads a key file; prints why it cannot be used. Returns CTL_EXIT_OK or the exit code:
 * CTL_EXIT_UNREACHABLE for a file that does not exist when it was not named on the command
 * line (a missing key), CTL_EXIT_USAGE otherwise. */
static int curve_read(const char *path, int secret, bool named, uint8_t key[32])
{
    int rc = parcours_keys_read(path, secret, key);
    if (rc == PARCOURS_OK)
        return CTL_EXIT_OK;
    bool missing = rc == PARCOURS_EKEYFILE && errno == ENOENT;
    if (rc == PARCOURS_EKEYFILE)
        ctl_error("parcoursctl: %s: %s\n", path, strerror(errno));
    else if (rc == PARCOURS_EKEYMODE)
        ctl_error("parcoursctl: %s: a secret key must be readable by its owner only: run chmod "
                  "600 %s (and, if others may have read it, make a new key)\n",
                  path, path);
    else
        ctl_error("parcoursctl: %s: %s\n", path, parcours_strerror(rc));
    return missing && !named ? CTL_EXIT_UNREACHABLE : CTL_EXIT_USAGE;
}

/* The secret key of `who`. */
static int curve_secret(const ctl_t *ctl, const char *who, ctl_curve_t *curve)
{
    char whose_buf[PARCOURS_ID_MAX + 16];
    const char *whose = curve_whose(who, whose_buf, sizeof(whose_buf));
    if (ctl->key_option != NULL) {
        snprintf(curve->secret_from, sizeof(curve->secret_from), "%s", ctl->key_option);
        return curve_read(ctl->key_option, 1, true, curve->secret);
    }
    const char *dir = ctl->keys_option != NULL          ? ctl->keys_option
                      : ctl->config_keys_dir[0] != '\0' ? ctl->config_keys_dir
                                                        : NULL;
    if (dir == NULL) {
        ctl_error("parcoursctl: CURVE is on but there is no secret key for %s: give --key "
                  "%s.secret or --keys DIR (a folder of PARTNER.secret files), or -c the daemon's "
                  "configuration. If there is no key yet, make one with parcoursctl keygen %s and "
                  "%s.\n",
                  whose, who, who, curve_register_hint(who));
        return CTL_EXIT_UNREACHABLE;
    }
    int n = snprintf(curve->secret_from, sizeof(curve->secret_from), "%s/%s.secret", dir, who);
    if (n < 0 || (size_t)n >= sizeof(curve->secret_from)) {
        ctl_error("parcoursctl: the keys folder name is too long\n");
        return CTL_EXIT_USAGE;
    }
    if (access(curve->secret_from, F_OK) != 0 && errno == ENOENT) {
        ctl_error("parcoursctl: no secret key for %s: %s does not exist. Make a key with "
                  "parcoursctl keygen %s --dir %s and %s, or give --key FILE.\n",
                  whose, curve->secret_from, who, dir, curve_register_hint(who));
        return CTL_EXIT_UNREACHABLE;
    }
    return curve_read(curve->secret_from, 1, ctl->keys_option != NULL, curve->secret);
}

/* The daemon's public key: --server-key as 40 Z85 characters or a file, else the file beside
 * the daemon's secret key. */
static int curve_server(const ctl_t *ctl, ctl_curve_t *curve)
{
    const char *option = ctl->server_key_option;
    if (option != NULL) {
        struct stat st;
        if (strlen(option) == KEYFILE_Z85_LENGTH && stat(option, &st) != 0 &&
            zmq_z85_decode(curve->server, option) != NULL)
            return CTL_EXIT_OK;
        return curve_read(option, 0, true, curve->server);
    }
    if (ctl->config_server_key[0] == '\0') {
        ctl_error("parcoursctl: CURVE is on but the daemon's public key is missing: give "
                  "--server-key FILE (the .public file made with the daemon's key by parcoursctl "
                  "keygen) or its 40 Z85 characters, or -c the daemon's configuration (the key is "
                  "then the .public file beside [security] secret_key).\n");
        return CTL_EXIT_UNREACHABLE;
    }
    if (access(ctl->config_server_key, F_OK) != 0 && errno == ENOENT) {
        ctl_error("parcoursctl: the daemon's public key is missing: %s does not exist beside "
                  "[security] secret_key. Copy the .public file made with the daemon's key there, "
                  "or give --server-key FILE.\n",
                  ctl->config_server_key);
        return CTL_EXIT_UNREACHABLE;
    }
    return curve_read(ctl->config_server_key, 0, false, curve->server);
}

int ctl_curve_keys(const ctl_t *ctl, const char *who, ctl_curve_t *curve)
{
    memset(curve, 0, sizeof(*curve));
    if (!ctl_curve_wanted(ctl))
        return CTL_EXIT_OK;
    if (!identifier_valid(who)) {
        ctl_error("parcoursctl: \"%s\" is not a partner id (1 to %d characters of A-Z a-z 0-9 . _ "
                  ": -)\n",
                  who, PARCOURS_ID_MAX);
        return CTL_EXIT_USAGE;
    }
    int status = curve_secret(ctl, who, curve);
    if (status == CTL_EXIT_OK)
        status = curve_server(ctl, curve);
    if (status != CTL_EXIT_OK) {
        ctl_curve_wipe(curve);
        return status;
    }
    curve->on = true;
    return CTL_EXIT_OK;
}

void ctl_curve_wipe(ctl_curve_t *curve)
{
    keyfile_wipe(curve->secret, sizeof(curve->secret));
}

void ctl_curve_hint(const char *endpoint, const char *who, const ctl_curve_t *curve)
{
    char whose_buf[PARCOURS_ID_MAX + 16];
    const char *whose = curve_whose(who, whose_buf, sizeof(whose_buf));
    bool admin = strcmp(who, CTL_ADMIN_KEY_NAME) == 0;
    if (curve->on)
        ctl_error("parcoursctl: with CURVE, parcoursd also stays silent when it does not admit a "
                  "key: is the public key of %s %s%s%s (and not revoked)? Is the server key the "
                  "daemon's own public key?\n",
                  curve->secret_from,
                  admin ? "in [admin] keys of parcoursd.conf" : "the public_key line of [",
                  admin ? "" : who, admin ? "" : "] in the partners file");
    else if (strncmp(endpoint, "tcp://", 6) == 0)
        ctl_error("parcoursctl: if parcoursd runs CURVE ([security] curve = yes), connections "
                  "without keys never complete: give -c parcoursd.conf, or the secret key of %s "
                  "(--key FILE or --keys DIR) and the daemon's public key (--server-key FILE).\n",
                  whose);
}
