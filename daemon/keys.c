/* keys.c: reading CURVE key files. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

int keys_read(const char *path, int secret, uint8_t key[32], char *err, size_t errlen)
{
    /* Opened first, then checked: the mode checked is the one of the file read (a stat of
     * the path, then an open, could look at two files). O_NONBLOCK: a FIFO put there must not
     * hang the start; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    struct stat st;
    const char *why = fstat(fd, &st) != 0 ? strerror(errno)
                      : !S_ISREG(st.st_mode) ? "not a regular file"
                                             : NULL;
    if (why != NULL) {
        snprintf(err, errlen, "%s: %s", path, why);
        close(fd);
        return -1;
    }
    if (secret && (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s: a secret key must be readable by its owner only (chmod 600)",
                 path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char line[128];
    int rc = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        size_t n = strcspn(s, " \t\r\n");
        s[n] = '\0';
        if (n == 40 && zmq_z85_decode(key, s) != NULL)
            rc = 0;
        break;
    }
    fclose(f);
    if (rc != 0)
        snprintf(err, errlen, "%s: no key of 40 Z85 characters found", path);
    return rc;
}
