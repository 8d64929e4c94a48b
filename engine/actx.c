#include "actx.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "kcipher.h"
#include "kdigest.h"

void rc_actx_free_inner(const struct rc_alg *alg, void *inner)
{
    if (inner != NULL)
        ((void (*)(void *))rc_alg_fn(alg, alg->op->free_id))(inner);
}

void *rc_actx_dup_inner(const struct rc_alg *alg, void *inner)
{
    return ((void *(*)(void *))rc_alg_fn(alg, alg->op->dup_id))(inner);
}

struct rc_actx *rc_actx_wrap(const struct rc_alg *alg, void *inner)
{
    struct rc_actx *w;

    if (inner == NULL)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        rc_actx_free_inner(alg, inner);
        rc_err_raise(RC_R_NO_MEMORY, "context");
        return NULL;
    }
    w->alg = alg;
    w->inner = inner;
    atomic_init(&w->refs, 1);
    return w;
}

void rc_actx_hold(void *p)
{
    struct rc_actx *w = p;

    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

void rc_actx_drop(void *p)
{
    struct rc_actx *w = p;

    if (w == NULL || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
        return;
    rc_actx_free_inner(w->alg, w->inner);
    rc_kcipher_free(w->k);
    rc_kdigest_free(w->d);
    free(w);
}

void rc_actx_free_fwd(void *w)
{
    rc_actx_drop(w);
}

bool rc_actx_usable(struct rc_actx *w)
{
    if (!atomic_load_explicit(&w->stuck, memory_order_relaxed))
        return true;
    rc_err_raise(RC_R_CONTEXT_STUCK, "%s", w->alg->name);
    return false;
}

void *rc_actx_dup_fwd(void *p)
{
    struct rc_actx *w = p, *d;

    if (!rc_actx_usable(w))
        return NULL;
    d = rc_actx_wrap(w->alg, rc_actx_dup_inner(w->alg, w->inner));
    if (d == NULL)
        return NULL;
    d->enc = w->enc;
    if ((w->k != NULL && (d->k = rc_kcipher_dup(w->k)) == NULL)
        || (w->d != NULL && (d->d = rc_kdigest_dup(w->d)) == NULL)) {
        rc_actx_drop(d);
        rc_err_raise(RC_R_NO_MEMORY, "context");
        return NULL;
    }
    return d;
}

int rc_actx_get_params_fwd(void *p, OSSL_PARAM params[])
{
    struct rc_actx *w = p;

    return rc_actx_usable(w)
           && ((int (*)(void *, OSSL_PARAM *))rc_alg_fn(w->alg, w->alg->op->get_params_id))(
               w->inner, params);
}

int rc_actx_set_params_fwd(void *p, const OSSL_PARAM params[])
{
    struct rc_actx *w = p;

    return rc_actx_usable(w)
           && ((int (*)(void *, const OSSL_PARAM *))rc_alg_fn(w->alg, w->alg->op->set_params_id))(
               w->inner, params);
}

int rc_actx_key_init(void *p, int id, void *key, const OSSL_PARAM params[])
{
    struct rc_actx *w = p;

    return rc_actx_usable(w)
           && ((int (*)(void *, void *, const OSSL_PARAM *))rc_alg_fn(w->alg, id))(w->inner, key,
                                                                                   params);
}

int rc_actx_run(struct rc_actx *w, struct rc_op *op, bool worth_offloading, size_t *outlen)
{
    int rc;

    if (!rc_actx_usable(w))
        return 0;
    op->obj = w;
    op->hold = rc_actx_hold;
    op->drop = rc_actx_drop;
    rc = rc_op_run(op, worth_offloading);
    /* Only these leave a request behind that may still be running on the context. */
    if (rc == -ETIMEDOUT || rc == -ECANCELED)
        atomic_store_explicit(&w->stuck, true, memory_order_relaxed);
    if (rc > 0 && outlen != NULL)
        *outlen = op->outlen;
    return rc > 0;
}

/* ---- per-slot entry points ---------------------------------------------
 * A constructor receives only the provider context, and a table function
 * may receive a NULL context, so neither can learn its algorithm from its
 * arguments: each slot of the wrap table gets its own copies, which pass
 * their slot's algorithm on.
 */

/*
 * The caller's property query picked ringcrypt; inside the private context,
 * where the default provider fetches what it needs (a digest), only
 * "provider=default" exists. Other clauses pass on.
 */
static const char *inner_propq(const char *propq, char *buf, size_t len)
{
    size_t used = 0;

    if (propq == NULL || strstr(propq, "provider") == NULL)
        return propq;
    buf[0] = '\0';
    for (const char *p = propq; *p != '\0';) {
        size_t n = strcspn(p, ",");

        if (memmem(p, n, "provider", 8) == NULL && used + n + 2 < len) {
            used += (size_t)snprintf(buf + used, len - used, "%s%.*s", used ? "," : "", (int)n, p);
        }
        p += n + (p[n] == ',');
    }
    return buf;
}

static void *slot_newctx(int n, void *provctx, const char *propq)
{
    const struct rc_alg *alg = &rc_wrapped[n];
    char buf[256];
    void *inner = alg->op->ctor == RC_CTOR_NEWCTX_PROPQ
        ? ((void *(*)(void *, const char *))rc_alg_fn(alg, alg->op->ctor_id))(
              provctx, inner_propq(propq, buf, sizeof(buf)))
        : ((void *(*)(void *))rc_alg_fn(alg, alg->op->ctor_id))(provctx);

    return rc_actx_wrap(alg, inner);
}

static void *slot_gen_init(int n, void *provctx, int selection, const OSSL_PARAM params[])
{
    const struct rc_alg *alg = &rc_wrapped[n];
    struct rc_actx *w = rc_actx_wrap(alg, ((void *(*)(void *, int, const OSSL_PARAM *))rc_alg_fn(
                                              alg, alg->op->ctor_id))(provctx, selection, params));

    if (w != NULL)
        w->selection = selection;
    return w;
}

static const OSSL_PARAM *slot_table(int n, int role, void *ctx, void *provctx)
{
    const struct rc_alg *alg = &rc_wrapped[n];
    struct rc_actx *w = ctx;

    return ((const OSSL_PARAM *(*)(void *, void *))rc_alg_fn(alg, alg->op->table_ids[role]))(
        w != NULL ? w->inner : NULL, provctx);
}

#define SLOT(n)                                                                     \
    static void *newctx_##n(void *provctx)                                          \
    {                                                                               \
        return slot_newctx(n, provctx, NULL);                                       \
    }                                                                               \
    static void *newctx_propq_##n(void *provctx, const char *propq)                 \
    {                                                                               \
        return slot_newctx(n, provctx, propq);                                      \
    }                                                                               \
    static void *gen_init_##n(void *provctx, int selection, const OSSL_PARAM p[])   \
    {                                                                               \
        return slot_gen_init(n, provctx, selection, p);                             \
    }                                                                               \
    static const OSSL_PARAM *table0_##n(void *ctx, void *provctx)                   \
    {                                                                               \
        return slot_table(n, 0, ctx, provctx);                                      \
    }                                                                               \
    static const OSSL_PARAM *table1_##n(void *ctx, void *provctx)                   \
    {                                                                               \
        return slot_table(n, 1, ctx, provctx);                                      \
    }                                                                               \
    static const OSSL_PARAM *table2_##n(void *ctx, void *provctx)                   \
    {                                                                               \
        return slot_table(n, 2, ctx, provctx);                                      \
    }                                                                               \
    static const OSSL_PARAM *table3_##n(void *ctx, void *provctx)                   \
    {                                                                               \
        return slot_table(n, 3, ctx, provctx);                                      \
    }

#define SLOT_FNS(n)                                                                 \
    { (rc_fn)newctx_##n, (rc_fn)newctx_propq_##n, (rc_fn)gen_init_##n,              \
      { (rc_fn)table0_##n, (rc_fn)table1_##n, (rc_fn)table2_##n, (rc_fn)table3_##n } }

SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7)
SLOT(8) SLOT(9) SLOT(10) SLOT(11) SLOT(12) SLOT(13) SLOT(14) SLOT(15)
SLOT(16) SLOT(17) SLOT(18) SLOT(19) SLOT(20) SLOT(21) SLOT(22) SLOT(23)
SLOT(24) SLOT(25) SLOT(26) SLOT(27) SLOT(28) SLOT(29) SLOT(30) SLOT(31)
SLOT(32) SLOT(33) SLOT(34) SLOT(35) SLOT(36) SLOT(37) SLOT(38) SLOT(39)
SLOT(40) SLOT(41) SLOT(42) SLOT(43) SLOT(44) SLOT(45) SLOT(46) SLOT(47)
SLOT(48) SLOT(49) SLOT(50) SLOT(51) SLOT(52) SLOT(53) SLOT(54) SLOT(55)

const struct rc_slot_fns rc_slot_fns[RC_SLOTS] = {
    SLOT_FNS(0), SLOT_FNS(1), SLOT_FNS(2), SLOT_FNS(3),
    SLOT_FNS(4), SLOT_FNS(5), SLOT_FNS(6), SLOT_FNS(7),
    SLOT_FNS(8), SLOT_FNS(9), SLOT_FNS(10), SLOT_FNS(11),
    SLOT_FNS(12), SLOT_FNS(13), SLOT_FNS(14), SLOT_FNS(15),
    SLOT_FNS(16), SLOT_FNS(17), SLOT_FNS(18), SLOT_FNS(19),
    SLOT_FNS(20), SLOT_FNS(21), SLOT_FNS(22), SLOT_FNS(23),
    SLOT_FNS(24), SLOT_FNS(25), SLOT_FNS(26), SLOT_FNS(27),
    SLOT_FNS(28), SLOT_FNS(29), SLOT_FNS(30), SLOT_FNS(31),
    SLOT_FNS(32), SLOT_FNS(33), SLOT_FNS(34), SLOT_FNS(35),
    SLOT_FNS(36), SLOT_FNS(37), SLOT_FNS(38), SLOT_FNS(39),
    SLOT_FNS(40), SLOT_FNS(41), SLOT_FNS(42), SLOT_FNS(43),
    SLOT_FNS(44), SLOT_FNS(45), SLOT_FNS(46), SLOT_FNS(47),
    SLOT_FNS(48), SLOT_FNS(49), SLOT_FNS(50), SLOT_FNS(51),
    SLOT_FNS(52), SLOT_FNS(53), SLOT_FNS(54), SLOT_FNS(55),
};
