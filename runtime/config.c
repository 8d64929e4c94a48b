#include "config.h"
#include "config_keys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

enum key_type { KEY_CHOICE, KEY_UINT, KEY_PATH };

struct key {
    const char *name;
    const char *env;
    enum key_type type;
    unsigned int min, max;
    const char *const *choices; /* KEY_CHOICE: index is the value */
    size_t offset;
};

static const char *const backends[] = { "auto", "worker", "inline", "afalg", NULL };
static const char *const booleans[] = { "0", "1", NULL };
static const char *const placements[] = { "adaptive", "offload", NULL }; /* enum rc_placement */

static const struct key keys[] = {
    { "backend", "RINGCRYPT_BACKEND", KEY_CHOICE, 0, 0, backends,
      offsetof(struct rc_config, backend) },
    { "workers", "RINGCRYPT_WORKERS", KEY_UINT, 1, 256, NULL,
      offsetof(struct rc_config, workers) },
    { "timeout_ms", "RINGCRYPT_TIMEOUT_MS", KEY_UINT, 1, 3600000, NULL,
      offsetof(struct rc_config, timeout_ms) },
    { "max_inflight", "RINGCRYPT_MAX_INFLIGHT", KEY_UINT, 1, 65536, NULL,
      offsetof(struct rc_config, max_inflight) },
    { "min_offload_bytes", "RINGCRYPT_MIN_OFFLOAD_BYTES", KEY_UINT, 0, 1U << 30, NULL,
      offsetof(struct rc_config, min_offload_bytes) },
    { "spin_us", "RINGCRYPT_SPIN_US", KEY_UINT, 0, 100000, NULL,
      offsetof(struct rc_config, spin_us) },
    { "kernel_sockets", "RINGCRYPT_KERNEL_SOCKETS", KEY_UINT, 2, 65536, NULL,
      offsetof(struct rc_config, kernel_sockets) },
    { "force_eventfd", "RINGCRYPT_FORCE_EVENTFD", KEY_CHOICE, 0, 0, booleans,
      offsetof(struct rc_config, force_eventfd) },
    { "placement", "RINGCRYPT_PLACEMENT", KEY_CHOICE, 0, 0, placements,
      offsetof(struct rc_config, placement) },
    { "stats", "RINGCRYPT_STATS", KEY_PATH, 0, 0, NULL,
      offsetof(struct rc_config, stats_path) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Values given through rc_config_store; the runtime lock serialises access. */
static char *stored[NKEYS];

static int parse_uint(const char *s, unsigned int max, unsigned int *out)
{
    unsigned long v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return -ERANGE;
    }
    *out = (unsigned int)v;
    return 0;
}

static void list_choices(const char *const *choices, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; choices[i] != NULL && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", choices[i]);
}

/* Parses value for k into cfg (NULL: only validate). */
static int apply(const struct key *k, const char *label, const char *value,
                 struct rc_config *cfg, char *err, size_t errlen)
{
    unsigned int v = 0;
    char choices[128];
    int rc;

    switch (k->type) {
    case KEY_CHOICE:
        for (v = 0; k->choices[v] != NULL; v++)
            if (strcmp(k->choices[v], value) == 0)
                break;
        if (k->choices[v] == NULL) {
            list_choices(k->choices, choices, sizeof(choices));
            snprintf(err, errlen, "%s=%s: not one of %s", label, value, choices);
            return -EINVAL;
        }
        break;
    case KEY_UINT:
        rc = parse_uint(value, k->max, &v);
        if (rc == 0 && v < k->min)
            rc = -ERANGE;
        if (rc == -EINVAL) {
            snprintf(err, errlen, "%s=%s: not a number", label, value);
            return -EINVAL;
        }
        if (rc == -ERANGE) {
            snprintf(err, errlen, "%s=%s: out of range %u..%u", label, value, k->min, k->max);
            return -EINVAL;
        }
        break;
    case KEY_PATH:
        if (value[0] == '\0' || strlen(value) >= sizeof(cfg->stats_path)) {
            snprintf(err, errlen, "%s: empty or too long a path", label);
            return -EINVAL;
        }
        if (cfg != NULL)
            strcpy((char *)cfg + k->offset, value);
        return 0;
    }
    if (cfg != NULL)
        *(unsigned int *)(void *)((char *)cfg + k->offset) = v;
    return 0;
}

const char *rc_config_key(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

/* "what: unknown kind (known: a b c)", the names taken from the key table. */
static void unknown(const char *what, int whatlen, const char *kind, bool env, char *err,
                    size_t errlen)
{
    size_t used = (size_t)snprintf(err, errlen, "%.*s: unknown %s (known:", whatlen, what, kind);

    for (size_t i = 0; i < NKEYS && used < errlen; i++)
        used += (size_t)snprintf(err + used, errlen - used, " %s", env ? keys[i].env : keys[i].name);
    if (used < errlen)
        snprintf(err + used, errlen - used, ")");
}

static const struct key *find_name(const char *key, size_t *index)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, key) == 0) {
            *index = i;
            return &keys[i];
        }
    }
    return NULL;
}

int rc_config_check_key(const char *key, char *err, size_t errlen)
{
    size_t i;

    if (find_name(key, &i) != NULL)
        return 0;
    unknown(key, INT_MAX, "ringcrypt setting", false, err, errlen);
    return -EINVAL;
}

static const struct key *find_env(const char *entry, size_t namelen)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].env) == namelen && strncmp(keys[i].env, entry, namelen) == 0)
            return &keys[i];
    return NULL;
}

int rc_config_store(const char *key, const char *value, char *err, size_t errlen)
{
    const struct key *k;
    char *copy;
    size_t i;

    k = find_name(key, &i);
    if (k == NULL)
        return rc_config_check_key(key, err, errlen);
    if (apply(k, key, value, NULL, err, errlen) != 0)
        return -EINVAL;
    copy = strdup(value);
    if (copy == NULL)
        return -ENOMEM;
    free(stored[i]);
    stored[i] = copy;
    return 0;
}

int rc_config_load(struct rc_config *cfg, char *err, size_t errlen)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    memset(cfg, 0, sizeof(*cfg));
    cfg->backend = RC_BACKEND_AUTO;
    cfg->workers = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned int)cpus;
    cfg->timeout_ms = 5000;
    cfg->max_inflight = 1024;
    cfg->min_offload_bytes = UINT_MAX; /* "not given": its default depends on the backend */
    cfg->spin_us = RC_DEFAULT_SPIN_US;
    cfg->kernel_sockets = RC_DEFAULT_KERNEL_SOCKETS;

    for (size_t i = 0; i < NKEYS; i++)
        if (stored[i] != NULL && apply(&keys[i], keys[i].name, stored[i], cfg, err, errlen) != 0)
            return -EINVAL;

    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        const struct key *k;

        if (strncmp(*e, "RINGCRYPT_", 10) != 0 || eq == NULL)
            continue;
        k = find_env(*e, (size_t)(eq - *e));
        if (k == NULL) {
            unknown(*e, (int)(eq - *e), "variable", true, err, errlen);
            return -EINVAL;
        }
        if (apply(k, k->env, eq + 1, cfg, err, errlen) != 0)
            return -EINVAL;
    }
    /* Asked for the kernel's ciphers, symmetric calls go there whatever their size. */
    if (cfg->min_offload_bytes == UINT_MAX)
        cfg->min_offload_bytes = cfg->backend == RC_BACKEND_AFALG ? 0 : RC_DEFAULT_MIN_OFFLOAD_BYTES;
    return 0;
}
