/*
 * fault_armed.h: what the LD_PRELOAD interposers of tests/fault/ share. A fault is armed while
 * the file named by PARCOURS_FAULT_TRIGGER exists (without the variable, never), and only for a
 * descriptor whose file's path ends in a given suffix, read from /proc/self/fd.
 */
#ifndef PARCOURS_FAULT_ARMED_H
#define PARCOURS_FAULT_ARMED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when the trigger file exists and fd's path ends in suffix, else 0. */
static inline int fault_armed(int fd, const char *suffix)
{
    const char *trigger = getenv("PARCOURS_FAULT_TRIGGER");
    if (trigger == NULL || access(trigger, F_OK) != 0)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    size_t len = (size_t)n, slen = strlen(suffix);
    return len >= slen && strcmp(path + len - slen, suffix) == 0;
}

#endif
