/* identifier.c: the identifier rule of the wire contract (see identifier.h). */
#include "identifier.h"

#include <stddef.h>

#include "parcours.h"

bool parcours_identifier_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= PARCOURS_ID_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}
