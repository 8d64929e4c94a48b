/* Key exchange: ECDH (P-256, P-384) and X25519 derivation go through the runtime. */
#include "actx.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_keyexch_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_KEYEXCH_##ID))

static int init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_KEYEXCH_INIT, key, p);
}

static int set_peer(void *c, void *peer)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, set_peer, SET_PEER)(w->inner, peer);
}

static int exec_derive(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    return INNER(w, derive, DERIVE)(w->inner, op->out, &op->outlen, op->outsize);
}

static int derive(void *c, unsigned char *secret, size_t *secretlen, size_t outlen)
{
    struct rc_actx *w = c;
    /* Shared secrets are field elements: 66 bytes for P-521; the request holds no more. */
    struct rc_op op = { .exec = exec_derive, .out = secret, .outsize = outlen < 128 ? outlen : 128 };

    if (secret == NULL)
        return INNER(w, derive, DERIVE)(w->inner, NULL, secretlen, outlen);
    return rc_actx_run(w, &op, true, secretlen);
}

#ifdef OSSL_FUNC_KEYEXCH_DERIVE_SKEY /* OpenSSL 4.0 */
/*
 * Stays on the caller: its result is an object of a key manager the caller
 * names, which a request that outlived its caller could not free.
 */
static void *derive_skey(void *c, const char *key_type, void *provctx,
                         OSSL_FUNC_skeymgmt_import_fn *import, size_t keylen, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return NULL;
    return INNER(w, derive_skey, DERIVE_SKEY)(w->inner, key_type, provctx, import, keylen, p);
}
#endif

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_KEYEXCH_INIT, (rc_fn)init },
    { OSSL_FUNC_KEYEXCH_DERIVE, (rc_fn)derive },
    { OSSL_FUNC_KEYEXCH_SET_PEER, (rc_fn)set_peer },
    { OSSL_FUNC_KEYEXCH_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_KEYEXCH_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, (rc_fn)rc_actx_get_params_fwd },
    { OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, (rc_fn)rc_actx_set_params_fwd },
#ifdef OSSL_FUNC_KEYEXCH_DERIVE_SKEY
    { OSSL_FUNC_KEYEXCH_DERIVE_SKEY, (rc_fn)derive_skey },
#endif
    { 0, NULL },
};

const struct rc_opdesc rc_op_keyexch = {
    .operation = OSSL_OP_KEYEXCH,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_KEYEXCH_NEWCTX,
    .free_id = OSSL_FUNC_KEYEXCH_FREECTX,
    .dup_id = OSSL_FUNC_KEYEXCH_DUPCTX,
    .get_params_id = OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS,
    .set_params_id = OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
};
