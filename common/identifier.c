/* identifier.c: the identifier rule of the wire contract (identifier.h). */
#include "identifier.h"

#include <stddef.h>

/* The bytes an identifier may hold: ASCII letters and digits and four marks, so that an id
 * cannot split a log line or a key=value pair, move a terminal's cursor or name another folder
 * (no space, '=', '/', '\\', quote or control character). An id may still be "." or "..":
 * whoever makes a file name of one refuses those itself (parcoursctl keygen does). */
static bool identifier_byte_allowed(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

bool identifier_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        /* The length is checked before the byte is read as part of the id, so that the loop
         * stops at IDENTIFIER_MAX + 1 bytes however long s is. */
        if (n >= IDENTIFIER_MAX || !identifier_byte_allowed(s[n]))
            return false;
    }
    return n > 0;
}
