/*
 * SHA-2 digests (SHA2-256/384/512): where the runtime uses the kernel's
 * sha256/384/512, a message is digested there at final (kdigest.h);
 * otherwise every call is the default provider's.
 */
#include <openssl/core_dispatch.h>

#include "actx.h"
#include "kdigest.h"

static int init(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return ((OSSL_FUNC_digest_init_fn *)rc_alg_fn(w->alg, OSSL_FUNC_DIGEST_INIT))(w->inner, p)
           && rc_kdigest_use(w, w->alg->kernel)
           && rc_kdigest_start(w, OSSL_FUNC_DIGEST_UPDATE, OSSL_FUNC_DIGEST_FINAL);
}

static int get_ctx_params(void *c, OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w)
           && ((OSSL_FUNC_digest_get_ctx_params_fn *)rc_alg_fn(
                  w->alg, OSSL_FUNC_DIGEST_GET_CTX_PARAMS))(w->inner, p);
}

static int set_ctx_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w)
           && ((OSSL_FUNC_digest_set_ctx_params_fn *)rc_alg_fn(
                  w->alg, OSSL_FUNC_DIGEST_SET_CTX_PARAMS))(w->inner, p);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_DIGEST_INIT, (rc_fn)init },
    { OSSL_FUNC_DIGEST_UPDATE, (rc_fn)rc_kdigest_update },
    { OSSL_FUNC_DIGEST_FINAL, (rc_fn)rc_kdigest_final },
    { OSSL_FUNC_DIGEST_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_DIGEST_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_DIGEST_GET_CTX_PARAMS, (rc_fn)get_ctx_params },
    { OSSL_FUNC_DIGEST_SET_CTX_PARAMS, (rc_fn)set_ctx_params },
    { 0, NULL },
};

static const int pass[] = { OSSL_FUNC_DIGEST_DIGEST, OSSL_FUNC_DIGEST_GET_PARAMS,
                            OSSL_FUNC_DIGEST_GETTABLE_PARAMS, 0 };

const struct rc_opdesc rc_op_digest = {
    .operation = OSSL_OP_DIGEST,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_DIGEST_NEWCTX,
    .free_id = OSSL_FUNC_DIGEST_FREECTX,
    .dup_id = OSSL_FUNC_DIGEST_DUPCTX,
    .table_ids = { OSSL_FUNC_DIGEST_GETTABLE_CTX_PARAMS, OSSL_FUNC_DIGEST_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
