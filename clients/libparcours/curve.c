/*
 * curve.c: libparcours' CURVE keys: reading key files (parcours_keys_read, in parcours.h) and
 * setting a socket's client keys.
 *
 * The file format is the one of `parcoursctl keygen` and of parcoursd's daemon/keys.c: one key
 * as 40 Z85 characters on a line of its own, lines starting with # being comments. The library
 * cannot link daemon code, so the reader is written again here, with the same rules.
 */
#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "parcours.h"

/* A key file is a few comment lines and one key: the key must lie within its first 4 kB. */
#define KEY_FILE_READ_MAX 4096
#define KEY_Z85_LEN       40

/* Clears memory that held a secret; volatile, so that the compiler cannot drop the stores. */
static void curve_wipe(void *p, size_t n)
{
    volatile uint8_t *b = p;
    while (n-- > 0)
        *b++ = 0;
}

/* Reads up to size - 1 bytes of fd into buf, NUL-terminated; returns 0 or -1 with errno. */
static int curve_read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return 0;
}

/* Finds the key in the text of a key file: the first word of the first line that is neither
 * blank nor a comment. Returns 0 with key filled, or -1. */
static int curve_parse(char *text, uint8_t key[PARCOURS_KEY_SIZE])
{
    for (char *line = text; *line != '\0';) {
        char *end = line + strcspn(line, "\n");
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '#' && *s != '\r' && s != end) {
            size_t n = strcspn(s, " \t\r\n");
            if (n != KEY_Z85_LEN)
                return -1;
            char z85[KEY_Z85_LEN + 1];
            memcpy(z85, s, KEY_Z85_LEN);
            z85[KEY_Z85_LEN] = '\0';
            uint8_t raw[PARCOURS_KEY_SIZE];
            int rc = zmq_z85_decode(raw, z85) != NULL ? 0 : -1;
            if (rc == 0)
                memcpy(key, raw, sizeof(raw));
            curve_wipe(z85, sizeof(z85));
            curve_wipe(raw, sizeof(raw));
            return rc;
        }
        line = *end == '\n' ? end + 1 : end;
    }
    return -1;
}

int parcours_keys_read(const char *path, int secret, uint8_t key[PARCOURS_KEY_SIZE])
{
    if (path == NULL || key == NULL)
        return PARCOURS_EINVAL;
    /* The mode is checked on the open file, not on the path: no window for a swap between. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return PARCOURS_EKEYFILE;
    struct stat st;
    int rc = PARCOURS_EKEYFILE;
    char text[KEY_FILE_READ_MAX];
    text[0] = '\0';
    if (fstat(fd, &st) != 0)
        goto done;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto done;
    }
    if (secret && (st.st_mode & 077) != 0) {
        rc = PARCOURS_EKEYMODE;
        goto done;
    }
    if (curve_read_all(fd, text, sizeof(text)) != 0)
        goto done;
    rc = curve_parse(text, key) == 0 ? PARCOURS_OK : PARCOURS_EKEY;
done:
    curve_wipe(text, sizeof(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int parcours_curve_client(void *socket, const uint8_t *secret_key, const uint8_t *server_key)
{
    if (secret_key == NULL && server_key == NULL)
        return PARCOURS_OK;
    if (secret_key == NULL || server_key == NULL)
        return PARCOURS_EINVAL;
    if (!zmq_has("curve"))
        return PARCOURS_ENOCURVE;
    char secret_z85[KEY_Z85_LEN + 1], public_z85[KEY_Z85_LEN + 1];
    int rc = PARCOURS_ESOCKET;
    if (zmq_z85_encode(secret_z85, secret_key, PARCOURS_KEY_SIZE) == NULL ||
        zmq_curve_public(public_z85, secret_z85) != 0)
        goto done;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_key, PARCOURS_KEY_SIZE) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, public_z85, KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_key, PARCOURS_KEY_SIZE) != 0)
        goto done;
    rc = PARCOURS_OK;
done:
    curve_wipe(secret_z85, sizeof(secret_z85));
    return rc;
}
