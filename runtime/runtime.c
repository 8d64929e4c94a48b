#include "runtime.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "core.h"
#include "offload.h"
#include "ringcrypt.h"
#include "ring.h"
#include "stats.h"
#include "watchdog.h"

unsigned int rc_fork_gen;

static struct {
    pthread_mutex_t lock;
    _Atomic int running;
    bool hooks_installed;
    bool started;          /* in this process, since its fork */
    char stats_path[4096]; /* RINGCRYPT_STATS of the last start: reported even after a stop */
    struct rc_config cfg;
    char error[512];
    char error_said[512];
} rt = { .lock = PTHREAD_MUTEX_INITIALIZER };

const struct rc_config *rc_runtime_config(void)
{
    return &rt.cfg;
}

bool rc_runtime_inline(void)
{
    return rt.cfg.backend == RC_BACKEND_INLINE;
}

const char *rc_last_error(void)
{
    return rt.error;
}

static void stop_locked(bool at_exit)
{
    if (!atomic_load(&rt.running))
        return;
    atomic_store(&rt.running, 0);
    for (unsigned int i = RC_BACKEND_IDS; i-- > 0;)
        if (rc_backends[i]->stop != NULL)
            rc_backends[i]->stop(rt.cfg.timeout_ms, at_exit);
    rc_watchdog_stop();
}

static void at_exit(void)
{
    pthread_mutex_lock(&rt.lock);
    if (rt.started && rt.stats_path[0] != '\0' && rc_stats_write_json(rt.stats_path) != 0)
        fprintf(stderr, "ringcrypt: cannot append statistics to %s\n", rt.stats_path);
    /* Workers must not run OpenSSL code while OpenSSL's own exit handler tears it down. */
    stop_locked(true);
    pthread_mutex_unlock(&rt.lock);
}

/*
 * A worker inside OpenSSL at the fork may hold a lock — an RSA key's, a
 * DRBG's — that the child's copy would keep forever: the child's next use of
 * that key would hang. So the fork waits for the workers to be out of it
 * (bounded: a stuck worker is left inside and the child takes its chances).
 * The runtime lock keeps the pool from starting or stopping meanwhile.
 */
static void before_fork(void)
{
    pthread_mutex_lock(&rt.lock);
    for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->fork_prepare != NULL)
            rc_backends[i]->fork_prepare(rt.cfg.timeout_ms);
}

static void after_fork_parent(void)
{
    for (unsigned int i = RC_BACKEND_IDS; i-- > 0;)
        if (rc_backends[i]->fork_parent != NULL)
            rc_backends[i]->fork_parent();
    pthread_mutex_unlock(&rt.lock);
}

static void after_fork_child(void)
{
    /* Only this thread came along: the parent's threads, rings and requests stay its own. */
    pthread_mutex_unlock(&rt.lock);
    rc_fork_gen++;
    atomic_store(&rt.running, 0);
    rt.started = false;
    for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->fork_child != NULL)
            rc_backends[i]->fork_child();
    rc_watchdog_forget_after_fork();
    rc_offload_forget_after_fork();
    rc_stats_reset_after_fork();
    rc_core_forget_after_fork();
}

static int start_locked(void)
{
    unsigned int started = 0;
    int rc;

    rc = rc_config_load(&rt.cfg, rt.error, sizeof(rt.error));
    if (rc != 0)
        goto fail;
    if (!rt.hooks_installed) {
        /*
         * OpenSSL registers its exit handler first, so ours runs before it.
         * With no options OPENSSL_init_crypto returns at once and registers
         * nothing: ask for something real.
         */
        OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
        if (atexit(at_exit) != 0
            || pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
            snprintf(rt.error, sizeof(rt.error), "cannot install exit and fork handlers");
            rc = -ENOMEM;
            goto fail;
        }
        rt.hooks_installed = true;
    }
    for (started = 0; started < RC_BACKEND_IDS; started++) {
        const struct rc_backend *b = rc_backends[started];

        rc = b->start != NULL ? b->start(&rt.cfg, rt.error, sizeof(rt.error)) : 0;
        if (rc != 0)
            goto fail;
    }
    rt.error[0] = '\0';
    rt.started = true;
    memcpy(rt.stats_path, rt.cfg.stats_path, sizeof(rt.stats_path));
    atomic_store_explicit(&rt.running, 1, memory_order_release);
    return 0;

fail:
    while (started-- > 0)
        if (rc_backends[started]->stop != NULL)
            rc_backends[started]->stop(rt.cfg.timeout_ms, false);
    /* Every offload retries the start: say each reason once, not once per call. */
    if (strcmp(rt.error, rt.error_said) != 0) {
        fprintf(stderr, "ringcrypt: %s\n", rt.error);
        memcpy(rt.error_said, rt.error, sizeof(rt.error_said));
    }
    return rc;
}

int rc_runtime_ready(void)
{
    int rc = 0;

    if (atomic_load_explicit(&rt.running, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&rt.lock);
    if (!atomic_load(&rt.running))
        rc = start_locked();
    pthread_mutex_unlock(&rt.lock);
    return rc;
}

const char *rc_version(void)
{
    return RINGCRYPT_VERSION_STRING;
}

int rc_init(void)
{
    return rc_runtime_ready();
}

int rc_config_set(const char *key, const char *value)
{
    int rc;

    pthread_mutex_lock(&rt.lock);
    if (key == NULL || value == NULL) {
        snprintf(rt.error, sizeof(rt.error), "%s: no %s given", key != NULL ? key : "rc_config_set",
                 key != NULL ? "value" : "key");
        rc = -EINVAL;
    } else if (atomic_load(&rt.running)) {
        rc = -EBUSY;
    } else {
        rc = rc_config_store(key, value, rt.error, sizeof(rt.error));
    }
    pthread_mutex_unlock(&rt.lock);
    return rc;
}

int rc_info(struct rc_info *out)
{
    int rc = rc_runtime_ready();

    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->describe != NULL)
            rc_backends[i]->describe(&rt.cfg, out);
    out->ring_flags = rc_ring_flags_name();
    out->max_inflight = rt.cfg.max_inflight;
    out->timeout_ms = rt.cfg.timeout_ms;
    out->min_offload_bytes = rt.cfg.min_offload_bytes;
    out->spin_us = rt.cfg.spin_us;
    out->kernel_sockets = rt.cfg.kernel_sockets;
    return 0;
}

void rc_shutdown(void)
{
    pthread_mutex_lock(&rt.lock);
    stop_locked(false);
    pthread_mutex_unlock(&rt.lock);
}
