/*
 * A wrapped algorithm context: the default provider's context for one of the
 * algorithms we take over, shared between the caller and the requests that
 * work on it. A request may outlive its caller (the SSL was freed while its
 * job was paused), so freeing the context only drops the caller's reference;
 * the default provider's context is freed when the last request lets go.
 */
#ifndef RC_ENGINE_ACTX_H
#define RC_ENGINE_ACTX_H

#include <stdatomic.h>
#include <stdbool.h>

#include "algs.h"
#include "op.h"

struct rc_kcipher;
struct rc_kdigest;

struct rc_actx {
    const struct rc_alg *alg;
    void *inner;                 /* the default provider's context */
    _Atomic int refs;
    /*
     * An offload came back without its answer (deadline, destroyed core):
     * the inner context may still be in use on another thread, so the
     * caller may not use it again.
     */
    atomic_bool stuck;
    bool enc;                    /* ciphers: set up to encrypt */
    int selection;               /* key generation: the parts of a key gen_init asked for */
    struct rc_kcipher *k;        /* ciphers the kernel has: its form's state (kcipher.h) */
    struct rc_kdigest *d;        /* digests and HMAC: the message kept for the kernel (kdigest.h) */
};

/* False, with an error raised, when w is stuck. */
bool rc_actx_usable(struct rc_actx *w);

/* Wraps inner (NULL: returns NULL); frees inner when out of memory. */
struct rc_actx *rc_actx_wrap(const struct rc_alg *alg, void *inner);

void rc_actx_hold(void *w);
void rc_actx_drop(void *w);

/* The default provider's freectx and dupctx for alg (freeing NULL does nothing). */
void rc_actx_free_inner(const struct rc_alg *alg, void *inner);
void *rc_actx_dup_inner(const struct rc_alg *alg, void *inner);

/* The forwarders every wrapped operation shares: free and dup. */
void rc_actx_free_fwd(void *w);
void *rc_actx_dup_fwd(void *w);

/*
 * The forwarders that add nothing but the stuck check: get and set_ctx_params
 * (the ids of w's rc_opdesc), and an init f(ctx, key, params) of function id.
 */
int rc_actx_get_params_fwd(void *w, OSSL_PARAM p[]);
int rc_actx_set_params_fwd(void *w, const OSSL_PARAM p[]);
int rc_actx_key_init(void *w, int id, void *key, const OSSL_PARAM p[]);

/*
 * Runs op on w's inner context (rc_op_run), holding w while the op may be
 * offloaded, and on success stores op->outlen in *outlen (when not NULL).
 * Returns what OpenSSL expects: 1 or 0 with an error raised; a context left
 * stuck refuses every later call.
 */
int rc_actx_run(struct rc_actx *w, struct rc_op *op, bool worth_offloading, size_t *outlen);

/* The constructors and table functions of slot n, which know their algorithm. */
struct rc_slot_fns {
    rc_fn newctx, newctx_propq, gen_init;
    rc_fn table[RC_TABLES];
};

#define RC_SLOTS 56
extern const struct rc_slot_fns rc_slot_fns[RC_SLOTS];
extern struct rc_alg rc_wrapped[RC_SLOTS];

#endif
