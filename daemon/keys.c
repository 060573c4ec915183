/* keys.c: reading CURVE key files. */
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

int keys_read(const char *path, int secret, uint8_t key[32], char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    if (secret && (st.st_mode & 077) != 0)
        return snprintf(err, errlen,
                        "%s: a secret key must be readable by its owner only (chmod 600)", path),
               -1;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
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
