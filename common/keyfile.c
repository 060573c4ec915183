/* keyfile.c: reading CURVE key files (keyfile.h). */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

void keyfile_wipe(void *p, size_t n)
{
    /* volatile: the stores are to memory about to be released, which an optimiser would
     * otherwise be entitled to skip. */
    volatile uint8_t *b = p;
    while (n-- > 0)
        *b++ = 0;
}

/* Writes "PATH: sentence" into err, cut to err_size, and returns code, so that a refusal is
 * one expression. errno is kept as it was: it is part of the answer for KEYFILE_EFILE, and
 * POSIX lets snprintf change it even when it succeeds. */
__attribute__((format(printf, 5, 6))) static int keyfile_fail(int code, const char *path, char *err,
                                                              size_t err_size, const char *fmt, ...)
{
    int saved = errno;
    if (err != NULL && err_size > 0) {
        int n = snprintf(err, err_size, "%s: ", path);
        if (n >= 0 && (size_t)n < err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    errno = saved;
    return code;
}

/* Reads up to size - 1 bytes of fd into buf, NUL-terminated. Returns 0, or -1 with errno. */
static int keyfile_read_text(int fd, char *buf, size_t size)
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
 * blank nor a comment, which must be the key and nothing shorter or longer. Returns 0 with key
 * filled, or -1 with key untouched. */
static int keyfile_parse(const char *text, uint8_t key[KEYFILE_KEY_SIZE])
{
    for (const char *line = text; *line != '\0';) {
        const char *end = line + strcspn(line, "\n");
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '#' && *s != '\r' && s != end) {
            if (strcspn(s, " \t\r\n") != KEYFILE_Z85_LENGTH)
                return -1;
            /* zmq_z85_decode reads a NUL-terminated string: the key is copied out first. */
            char z85[KEYFILE_Z85_LENGTH + 1];
            memcpy(z85, s, KEYFILE_Z85_LENGTH);
            z85[KEYFILE_Z85_LENGTH] = '\0';
            uint8_t raw[KEYFILE_KEY_SIZE];
            int rc = zmq_z85_decode(raw, z85) != NULL ? 0 : -1;
            if (rc == 0)
                memcpy(key, raw, sizeof(raw));
            keyfile_wipe(z85, sizeof(z85));
            keyfile_wipe(raw, sizeof(raw));
            return rc;
        }
        line = *end == '\n' ? end + 1 : end;
    }
    return -1;
}

int keyfile_read(const char *path, bool secret, uint8_t key[KEYFILE_KEY_SIZE], char *err,
                 size_t err_size)
{
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    /* Opened first, then checked: the mode checked is the one of the file read. O_NONBLOCK: a
     * FIFO must not block the open (it waits for a writer otherwise); it is refused below.
     * O_NOCTTY: a terminal device named by mistake must not become the controlling one. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return keyfile_fail(KEYFILE_EFILE, path, err, err_size, "%s", strerror(errno));
    struct stat st;
    char text[KEYFILE_READ_MAX];
    text[0] = '\0';
    int rc;
    if (fstat(fd, &st) != 0) {
        rc = keyfile_fail(KEYFILE_EFILE, path, err, err_size, "%s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        rc = keyfile_fail(KEYFILE_EFILE, path, err, err_size, "not a regular file");
    } else if (secret && (st.st_mode & 077) != 0) {
        rc = keyfile_fail(KEYFILE_EMODE, path, err, err_size,
                          "a secret key must be readable by its owner only (chmod 600)");
    } else if (keyfile_read_text(fd, text, sizeof(text)) != 0) {
        rc = keyfile_fail(KEYFILE_EFILE, path, err, err_size, "%s", strerror(errno));
    } else if (keyfile_parse(text, key) != 0) {
        rc = keyfile_fail(KEYFILE_EKEY, path, err, err_size, "no key of %d Z85 characters found",
                          KEYFILE_Z85_LENGTH);
    } else {
        rc = KEYFILE_OK;
    }
    keyfile_wipe(text, sizeof(text));
    /* close() of a file only read cannot lose anything, but it may set errno: the caller's
     * answer is the errno of the refusal. */
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
