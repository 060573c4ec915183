/* startup.c: the configuration, keys and partners file, checked together (startup.h). */
#include "startup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyfile.h"
#include "partners_file.h"

/* Appends one formatted line to errors; a full buffer keeps what fits. */
static void append(char *errors, size_t errlen, const char *fmt, ...)
{
    size_t used = strlen(errors);
    if (used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errors + used, errlen - used, fmt, ap);
    va_end(ap);
}

int startup_load(const char *config_path, startup_t *s, char *errors, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    errors[0] = '\0';
    int n_config = config_load(&s->config, config_path, errors, errlen);
    if (n_config > 0)
        append(errors, errlen, "parcoursd: the configuration is refused\n");
    else if (n_config < 0)
        return append(errors, errlen, "parcoursd: the configuration is refused\n"), 1;
    int n = n_config;

    /* The key is checked whenever curve is on and the file is named, even if another key of
     * the configuration is wrong: each error is independent of the others. */
    const config_t *c = &s->config;
    if (c->security_curve && c->security_secret_key[0] != '\0') {
        char err[CONFIG_PATH_MAX + 128];
        if (keyfile_read(c->security_secret_key, true, s->secret_key, err, sizeof(err)) != 0) {
            /* A systemd credential exists only for the service's processes: an admin running
             * -n by hand on the production file is told where the key really is. */
            bool credential = strncmp(c->security_secret_key, "/run/credentials/", 17) == 0 &&
                              getenv("CREDENTIALS_DIRECTORY") == NULL;
            append(errors, errlen, "%s:%d: [security] secret_key: %s%s\n", config_path,
                   config_line(c, "security", "secret_key"), err,
                   credential ? " (a systemd credential exists only inside its service: check "
                                "the file its unit's LoadCredential= names, e.g. "
                                "/etc/parcours/keys/parcoursd.secret)"
                              : "");
            append(errors, errlen, "parcoursd: the daemon's secret key is refused\n");
            n++;
        } else {
            s->has_secret_key = true;
        }
    }

    if (c->partners_file[0] != '\0') {
        partners_t *partners = NULL;
        size_t used = strlen(errors);
        int n_partners =
            partners_file_load(c->partners_file, &partners, errors + used, errlen - used);
        if (n_partners != 0) {
            append(errors, errlen, "parcoursd: the partners file is refused\n");
            n += n_partners < 0 ? 1 : n_partners;
        }
        s->partners = partners;
    }
    if (n != 0)
        startup_release(s);
    return n;
}

void startup_release(startup_t *s)
{
    partners_destroy(&s->partners);
    memset(s->secret_key, 0, sizeof(s->secret_key));
    s->has_secret_key = false;
}
