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

#ifdef OSSL_FUNC_DIGEST_COPYCTX /* OpenSSL 3.5 */
/*
 * EVP_MD_CTX_copy_ex into a context of the same digest. It cannot fail, and
 * threads may copy from one context at once, so in is only read; a copy
 * that cannot be made (in was stuck, out of memory) leaves out stuck, and
 * every call on it fails.
 */
static void copyctx(void *o, void *i)
{
    struct rc_actx *out = o, *in = i;

    if (atomic_load(&out->stuck))
        return;
    if (!atomic_load(&in->stuck)) {
        ((OSSL_FUNC_digest_copyctx_fn *)rc_alg_fn(in->alg, OSSL_FUNC_DIGEST_COPYCTX))(out->inner,
                                                                                     in->inner);
        if (rc_kdigest_copy(out, in))
            return;
    }
    atomic_store(&out->stuck, true);
}
#endif

#ifdef OSSL_FUNC_DIGEST_SERIALIZE /* OpenSSL 4.0 */
/* The state handed out is the whole message's: the part kept for the kernel goes in first. */
static int serialize(void *c, unsigned char *out, size_t *outl)
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && rc_kdigest_software(w, true)
           && ((OSSL_FUNC_digest_serialize_fn *)rc_alg_fn(w->alg, OSSL_FUNC_DIGEST_SERIALIZE))(
                  w->inner, out, outl);
}

/* A state taken in replaces the message so far, the part kept for the kernel too. */
static int deserialize(void *c, const unsigned char *in, size_t inl)
{
    struct rc_actx *w = c;

    return rc_actx_usable(w)
           && ((OSSL_FUNC_digest_deserialize_fn *)rc_alg_fn(w->alg, OSSL_FUNC_DIGEST_DESERIALIZE))(
                  w->inner, in, inl)
           && rc_kdigest_software(w, false);
}
#endif

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_DIGEST_INIT, (rc_fn)init },
    { OSSL_FUNC_DIGEST_UPDATE, (rc_fn)rc_kdigest_update },
    { OSSL_FUNC_DIGEST_FINAL, (rc_fn)rc_kdigest_final },
    { OSSL_FUNC_DIGEST_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_DIGEST_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_DIGEST_GET_CTX_PARAMS, (rc_fn)rc_actx_get_params_fwd },
    { OSSL_FUNC_DIGEST_SET_CTX_PARAMS, (rc_fn)rc_actx_set_params_fwd },
#ifdef OSSL_FUNC_DIGEST_COPYCTX
    { OSSL_FUNC_DIGEST_COPYCTX, (rc_fn)copyctx },
#endif
#ifdef OSSL_FUNC_DIGEST_SERIALIZE
    { OSSL_FUNC_DIGEST_SERIALIZE, (rc_fn)serialize },
    { OSSL_FUNC_DIGEST_DESERIALIZE, (rc_fn)deserialize },
#endif
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
    .get_params_id = OSSL_FUNC_DIGEST_GET_CTX_PARAMS,
    .set_params_id = OSSL_FUNC_DIGEST_SET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_DIGEST_GETTABLE_CTX_PARAMS, OSSL_FUNC_DIGEST_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
