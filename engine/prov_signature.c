/* Signatures: RSA, ECDSA and Ed25519 signing goes through the runtime. */
#include <openssl/crypto.h>
#include <stdatomic.h>

#include "actx.h"
#include "errors.h"
#include "ringcrypt.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_signature_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_SIGNATURE_##ID))

/* ---- forwarders --------------------------------------------------------- */

static int sign_init(void *c, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, sign_init, SIGN_INIT)(w->inner, key, p);
}

static int verify_init(void *c, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify_init, VERIFY_INIT)(w->inner, key, p);
}

static int verify(void *c, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                  size_t tbslen)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify, VERIFY)(w->inner, sig, siglen, tbs, tbslen);
}

static int verify_recover_init(void *c, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify_recover_init, VERIFY_RECOVER_INIT)(w->inner, key, p);
}

static int verify_recover(void *c, unsigned char *rout, size_t *routlen, size_t routsize,
                          const unsigned char *sig, size_t siglen)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify_recover, VERIFY_RECOVER)(w->inner, rout, routlen, routsize, sig, siglen);
}

static int digest_sign_init(void *c, const char *md, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_sign_init, DIGEST_SIGN_INIT)(w->inner, md, key, p);
}

static int digest_sign_update(void *c, const unsigned char *data, size_t len)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_sign_update, DIGEST_SIGN_UPDATE)(w->inner, data, len);
}

static int digest_verify_init(void *c, const char *md, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_verify_init, DIGEST_VERIFY_INIT)(w->inner, md, key, p);
}

static int digest_verify_update(void *c, const unsigned char *data, size_t len)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_verify_update, DIGEST_VERIFY_UPDATE)(w->inner, data, len);
}

static int digest_verify_final(void *c, const unsigned char *sig, size_t siglen)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_verify_final, DIGEST_VERIFY_FINAL)(w->inner, sig, siglen);
}

static int digest_verify(void *c, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, digest_verify, DIGEST_VERIFY)(w->inner, sig, siglen, tbs, tbslen);
}

static int get_ctx_params(void *c, OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, get_ctx_params, GET_CTX_PARAMS)(w->inner, p);
}

static int set_ctx_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, set_ctx_params, SET_CTX_PARAMS)(w->inner, p);
}

static int get_ctx_md_params(void *c, OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, get_ctx_md_params, GET_CTX_MD_PARAMS)(w->inner, p);
}

static int set_ctx_md_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, set_ctx_md_params, SET_CTX_MD_PARAMS)(w->inner, p);
}

/* ---- signing, offloaded ------------------------------------------------- */

enum { SIGN, DIGEST_SIGN_FINAL, DIGEST_SIGN };

/* No signature of the wrapped algorithms is longer (RSA-16384); the request holds no more. */
#define MAX_SIG 2048

static _Atomic int corrupt_next;

/* Tests make the next n signatures wrong to see the public-key check refuse them. */
RC_API void rc_testing_corrupt_signatures(int n)
{
    atomic_store(&corrupt_next, n);
}

static int public_check(struct rc_actx *w, void *check, const struct rc_op *op, size_t siglen)
{
    switch (op->kind) {
    case SIGN:
        return INNER(w, verify, VERIFY)(check, op->out, siglen, op->in, op->inlen);
    case DIGEST_SIGN_FINAL:
        return INNER(w, digest_verify_final, DIGEST_VERIFY_FINAL)(check, op->out, siglen);
    default:
        return INNER(w, digest_verify, DIGEST_VERIFY)(check, op->out, siglen, op->in, op->inlen);
    }
}

/*
 * Signs; for RSA, checks the signature with the public key on a copy of the
 * context taken before signing (a fault in the CRT computation would
 * otherwise hand out a signature that reveals the private key).
 */
static int exec_sign(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    void *check = NULL;
    size_t len = 0;
    int ok = 0;

    if (w->alg->flags & RC_ALG_CHECK_PUBLIC) {
        check = INNER(w, dupctx, DUPCTX)(w->inner);
        if (check == NULL)
            goto out;
    }
    switch (op->kind) {
    case SIGN:
        ok = INNER(w, sign, SIGN)(w->inner, op->out, &len, op->outsize, op->in, op->inlen);
        break;
    case DIGEST_SIGN_FINAL:
        ok = INNER(w, digest_sign_final, DIGEST_SIGN_FINAL)(w->inner, op->out, &len, op->outsize);
        break;
    default:
        ok = INNER(w, digest_sign, DIGEST_SIGN)(w->inner, op->out, &len, op->outsize, op->in,
                                                op->inlen);
        break;
    }
    if (ok && len > 0 && atomic_load_explicit(&corrupt_next, memory_order_relaxed) > 0
        && atomic_fetch_sub(&corrupt_next, 1) > 0)
        op->out[len / 2] ^= 1;
    if (ok && check != NULL && public_check(w, check, op, len) != 1) {
        OPENSSL_cleanse(op->out, len);
        rc_err_raise(RC_R_FAULT_CHECK, "%s signature of %zu bytes", w->alg->name, len);
        ok = 0;
    }
    op->outlen = ok ? len : 0;
out:
    if (check != NULL)
        INNER(w, freectx, FREECTX)(check);
    return ok;
}

static int run_sign(struct rc_actx *w, int kind, unsigned char *sig, size_t *siglen,
                    size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
    struct rc_op op = {
        .exec = exec_sign, .kind = kind, .in = tbs, .inlen = tbslen,
        .out = sig, .outsize = sigsize < MAX_SIG ? sigsize : MAX_SIG,
    };
    return rc_actx_run(w, &op, true, siglen);
}

static int sign(void *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen)
{
    struct rc_actx *w = c;

    if (sig == NULL)
        return INNER(w, sign, SIGN)(w->inner, NULL, siglen, sigsize, tbs, tbslen);
    return run_sign(w, SIGN, sig, siglen, sigsize, tbs, tbslen);
}

static int digest_sign_final(void *c, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    struct rc_actx *w = c;

    if (sig == NULL)
        return INNER(w, digest_sign_final, DIGEST_SIGN_FINAL)(w->inner, NULL, siglen, sigsize);
    return run_sign(w, DIGEST_SIGN_FINAL, sig, siglen, sigsize, NULL, 0);
}

static int digest_sign(void *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
    struct rc_actx *w = c;

    if (sig == NULL)
        return INNER(w, digest_sign, DIGEST_SIGN)(w->inner, NULL, siglen, sigsize, tbs, tbslen);
    return run_sign(w, DIGEST_SIGN, sig, siglen, sigsize, tbs, tbslen);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (rc_fn)sign_init },
    { OSSL_FUNC_SIGNATURE_SIGN, (rc_fn)sign },
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT, (rc_fn)verify_init },
    { OSSL_FUNC_SIGNATURE_VERIFY, (rc_fn)verify },
    { OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT, (rc_fn)verify_recover_init },
    { OSSL_FUNC_SIGNATURE_VERIFY_RECOVER, (rc_fn)verify_recover },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (rc_fn)digest_sign_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (rc_fn)digest_sign_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (rc_fn)digest_sign_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (rc_fn)digest_sign },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (rc_fn)digest_verify_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (rc_fn)digest_verify_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (rc_fn)digest_verify_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (rc_fn)digest_verify },
    { OSSL_FUNC_SIGNATURE_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_SIGNATURE_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (rc_fn)get_ctx_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (rc_fn)set_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS, (rc_fn)get_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS, (rc_fn)set_ctx_md_params },
    { 0, NULL },
};

const struct rc_opdesc rc_op_signature = {
    .operation = OSSL_OP_SIGNATURE,
    .ctor = RC_CTOR_NEWCTX_PROPQ,
    .ctor_id = OSSL_FUNC_SIGNATURE_NEWCTX,
    .free_id = OSSL_FUNC_SIGNATURE_FREECTX,
    .dup_id = OSSL_FUNC_SIGNATURE_DUPCTX,
    .table_ids = { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
                   OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
                   OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS },
    .fwd = fwd,
};
