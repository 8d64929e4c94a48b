/*
 * What ringcrypt keeps per ASYNC_WAIT_CTX: found through an entry under its
 * own key in the wait ctx, whose cleanup OpenSSL calls when it frees the wait
 * ctx — the only way to learn that a paused job was abandoned (SSL_free).
 *
 * The entry is also the fd that fd-mode applications poll, and they learn of
 * it only from SSL_get_changed_async_fds after SSL_ERROR_WANT_ASYNC, i.e. when
 * the job pauses; at close they delete every fd SSL_get_all_async_fds lists
 * (HAProxy aborts on one it was never told about). So an entry exists outside
 * rc_offload only once a pause has announced it (docs/ARCHITECTURE.md, "The
 * wait ctx contract").
 */
#ifndef RC_WAITER_H
#define RC_WAITER_H

#include <openssl/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "req.h"

struct rc_waiter {
    _Atomic int refs;        /* the wait ctx's, and one per request bound to it */
    ASYNC_WAIT_CTX *waitctx; /* NULL once OpenSSL freed it */
    pthread_mutex_t lock;    /* callback mode: waitctx against a foreign thread's callback */
    int efd;                 /* fd mode: registered with the wait ctx; else -1 */
    struct rc_req *cur;      /* the request its job waits for; the job's thread only */
    unsigned int fork_gen;   /* the process it was made in (see rc_fork_gen) */
    bool announced;          /* its job paused since the entry was made; the job's thread only */
};

enum rc_wake {
    RC_WAKE_OK,    /* done: ASYNC_STATUS_OK */
    RC_WAKE_ERR,   /* done with an error: ASYNC_STATUS_ERR */
    RC_WAKE_RETRY, /* back-pressure: ASYNC_STATUS_EAGAIN, retry on resume */
};

/*
 * The waiter of ctx, made and registered on first use. NULL when out of
 * memory, or when fd mode is asked of a wait ctx first seen with a callback.
 */
struct rc_waiter *rc_waiter_bind(ASYNC_WAIT_CTX *ctx, bool fd_mode);

void rc_waiter_get(struct rc_waiter *w);
void rc_waiter_put(struct rc_waiter *w);

/* Tells the job's side, the way mode says. */
void rc_waiter_wake(struct rc_waiter *w, enum rc_mode mode, enum rc_wake kind);

/* After a resume: the pause announced the entry; fd mode consumes the eventfd's count. */
void rc_waiter_resumed(struct rc_waiter *w);

/*
 * The job is about to return from its offload. An entry no pause announced is
 * taken out of ctx again (nothing was computed for it that the app could wait
 * for), with the wait ctx's reference.
 */
void rc_waiter_settle(struct rc_waiter *w, ASYNC_WAIT_CTX *ctx);

#endif
