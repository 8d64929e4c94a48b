#include "waiter.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "offload.h"
#include "runtime.h"
#include "stats.h"

/* Its address is ringcrypt's key in every wait ctx. */
static const char waiter_key;

static void on_waitctx_free(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD fd, void *data)
{
    struct rc_waiter *w = data;

    (void)ctx;
    (void)key;
    (void)fd;
    if (w->fork_gen == rc_fork_gen) {
        pthread_mutex_lock(&w->lock);
        w->waitctx = NULL;
        pthread_mutex_unlock(&w->lock);
    } else {
        /* A fork child's copy: the lock may be a parent's worker's, who is not here. */
        w->waitctx = NULL;
    }
    if (w->cur != NULL) {
        rc_offload_abandon(w->cur);
        w->cur = NULL;
    }
    rc_waiter_put(w);
}

struct rc_waiter *rc_waiter_bind(ASYNC_WAIT_CTX *ctx, bool fd_mode)
{
    OSSL_ASYNC_FD fd;
    struct rc_waiter *w;
    void *data;

    if (ASYNC_WAIT_CTX_get_fd(ctx, &waiter_key, &fd, &data)) {
        w = data;
        /* Its callback went away after the first offload: no eventfd to wake it by. */
        return fd_mode && w->efd < 0 ? NULL : w;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    atomic_init(&w->refs, 1);
    w->waitctx = ctx;
    w->efd = -1;
    w->fork_gen = rc_fork_gen;
    pthread_mutex_init(&w->lock, NULL);
    if (fd_mode) {
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->efd < 0)
            goto fail;
    }
    if (!ASYNC_WAIT_CTX_set_wait_fd(ctx, &waiter_key, w->efd, w, on_waitctx_free))
        goto fail;
    return w;

fail:
    if (w->efd >= 0)
        close(w->efd);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}

void rc_waiter_get(struct rc_waiter *w)
{
    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

void rc_waiter_put(struct rc_waiter *w)
{
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (w->efd >= 0)
        close(w->efd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void notify(ASYNC_WAIT_CTX *ctx, enum rc_wake kind)
{
    static const int status[] = {
        [RC_WAKE_OK] = ASYNC_STATUS_OK,
        [RC_WAKE_ERR] = ASYNC_STATUS_ERR,
        [RC_WAKE_RETRY] = ASYNC_STATUS_EAGAIN,
    };
    ASYNC_callback_fn cb;
    void *arg;

    ASYNC_WAIT_CTX_set_status(ctx, status[kind]);
    if (ASYNC_WAIT_CTX_get_callback(ctx, &cb, &arg)) {
        cb(arg);
        rc_stat_inc(RC_ST_CALLBACKS);
    }
}

void rc_waiter_wake(struct rc_waiter *w, enum rc_mode mode, enum rc_wake kind)
{
    static const uint64_t one = 1;

    switch (mode) {
    case RC_MODE_CORE:
        /* The core's thread is the job's thread: nothing else can free the wait ctx now. */
        if (w->waitctx != NULL)
            notify(w->waitctx, kind);
        break;
    case RC_MODE_CALLBACK:
        pthread_mutex_lock(&w->lock);
        if (w->waitctx != NULL)
            notify(w->waitctx, kind);
        pthread_mutex_unlock(&w->lock);
        break;
    case RC_MODE_FD:
        /* The request's reference keeps the eventfd open even if the wait ctx is gone. */
        (void)!write(w->efd, &one, sizeof(one));
        rc_stat_inc(RC_ST_FD_WAKES);
        break;
    default:
        break;
    }
}

void rc_waiter_resumed(struct rc_waiter *w)
{
    uint64_t count;

    w->announced = true;
    if (w->efd >= 0)
        (void)!read(w->efd, &count, sizeof(count));
}

void rc_waiter_settle(struct rc_waiter *w, ASYNC_WAIT_CTX *ctx)
{
    if (w->announced)
        return;
    /* Never announced, so OpenSSL drops the entry without calling its cleanup. */
    ASYNC_WAIT_CTX_clear_fd(ctx, &waiter_key);
    pthread_mutex_lock(&w->lock);
    w->waitctx = NULL;
    pthread_mutex_unlock(&w->lock);
    rc_waiter_put(w);
}
