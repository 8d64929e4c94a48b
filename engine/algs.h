/*
 * The wrapping mechanism: which of the default provider's algorithms the
 * provider takes over, and how an operation's dispatch table is rebuilt
 * around the default provider's own functions.
 *
 * Every algorithm of the default provider is offered under "provider=ringcrypt".
 * Most are offered exactly as they are: the provider's context is the default
 * provider's own (see provider.c), so its functions work unchanged. The
 * algorithms in the wrap table get a dispatch table of ours: their contexts
 * are wrapped (struct rc_actx), each function forwards to the default
 * provider's, and the expensive call of each is offloaded.
 *
 * The forwarding rule: every function id of the default provider's
 * implementation is either ours (constructor, table functions, a forwarder)
 * or listed as taking no context of ours (pass). An algorithm with any other
 * id (a release newer than this code) is not given a table with that id left
 * out, nor refused: it is offered exactly as the default provider has it,
 * without offload, and the provider parameter "unwrapped" says which and why.
 * A server thus never loses an algorithm, and a missing forwarder shows.
 */
#ifndef RC_ENGINE_ALGS_H
#define RC_ENGINE_ALGS_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <stdbool.h>

/* The function ids we can forward are below this (keymgmt's reach 46). */
#define RC_FN_MAX 64
/* Functions of the form f(ctx-or-NULL, provctx) returning a param table. */
#define RC_TABLES 4

typedef void (*rc_fn)(void);

/* How a context comes to be. */
enum rc_ctor {
    RC_CTOR_NEWCTX,        /* newctx(provctx) */
    RC_CTOR_NEWCTX_PROPQ,  /* newctx(provctx, propq) */
    RC_CTOR_GEN_INIT,      /* gen_init(provctx, selection, params) */
};

struct rc_fwd {
    int id;
    rc_fn fn;
};

/* How one kind of operation is wrapped. */
struct rc_opdesc {
    int operation;               /* OSSL_OP_* */
    enum rc_ctor ctor;
    int ctor_id;                 /* replaced by the slot's constructor */
    int free_id, dup_id;         /* dup_id 0: cannot be duplicated */
    int get_params_id, set_params_id; /* get/set_ctx_params, for the plain forwarders (actx.h) */
    int table_ids[RC_TABLES];    /* replaced by the slot's table functions; 0: unused */
    const struct rc_fwd *fwd;    /* our functions by id; {0} ends the list */
    const int *pass;             /* ids that take no context of ours, used as they are; 0 ends */
};

/* One algorithm taken over: the default provider's functions by id. */
struct rc_alg {
    const struct rc_opdesc *op;
    const char *name;            /* the default provider's first name for it */
    const char *kernel;          /* the kernel's name for it (kcipher.h), or NULL */
    rc_fn fn[RC_FN_MAX];
};

extern const struct rc_opdesc rc_op_signature, rc_op_asym_cipher, rc_op_keyexch,
    rc_op_cipher, rc_op_keymgmt, rc_op_digest, rc_op_mac, rc_op_kem;

/*
 * The algorithms of operation_id, built once from the default provider's
 * (dflt): ours where the wrap table says so, the default's otherwise. NULL
 * when the default provider has none or out of memory.
 */
const OSSL_ALGORITHM *rc_algs_query(OSSL_PROVIDER *dflt, int operation_id);

/*
 * Sets p (a UTF-8 string) to the algorithms offered unwrapped so far and
 * why, one "NAME (operation N): reason" per line; empty when none. 1 or 0.
 */
int rc_algs_unwrapped(OSSL_PARAM *p);

/* The default provider's function id of alg, cast to its type by the caller. */
static inline rc_fn rc_alg_fn(const struct rc_alg *alg, int id)
{
    return alg->fn[id];
}

#endif
