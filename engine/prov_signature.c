/*
 * Signatures: RSA, ECDSA and Ed25519 signing, and on OpenSSL 3.5+ ML-DSA and
 * SLH-DSA signing, goes through the runtime, in every form OpenSSL has:
 * streamed (digest_sign_final), one-shot (sign, digest_sign) and, since
 * OpenSSL 3.4, the message API (sign_message_final of the RSA-SHA2-* and
 * ECDSA-SHA2-* algorithms; sign_message_init then sign for ML-DSA and SLH-DSA).
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <stdatomic.h>

#include "actx.h"
#include "errors.h"
#include "ringcrypt.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_signature_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_SIGNATURE_##ID))

/* ---- the context of the public-key check -------------------------------
 * RSA signatures are verified with the public key before they leave the
 * worker (exec_sign). The check runs on a copy of w->check, a context of its
 * own initialised to verify: since OpenSSL 3.4 a context initialised to sign
 * cannot verify (the signature to verify is a parameter that only a verify
 * context stores), so verifying on a copy of the signing context checked an
 * empty signature. w->check is made at each signing init, from the signing
 * context just initialised (so it has the key even when a DigestSign re-init
 * passes none), initialised to verify with the same digest, key and
 * parameters; after that it gets every update and parameter the signing
 * context gets, and a refusal of either fails the call.
 */

static void check_drop(struct rc_actx *w)
{
    rc_actx_free_inner(w->alg, w->check);
    w->check = NULL;
}

/* Init id on ctx (ours or w->check): f(ctx, key, p), or f(ctx, md, key, p) for digests. */
static int init_as(struct rc_actx *w, void *ctx, int id, const char *md, void *key,
                   const OSSL_PARAM p[])
{
    rc_fn f = rc_alg_fn(w->alg, id);

    if (f == NULL)
        return 0;
    if (id == OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT || id == OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT)
        return ((OSSL_FUNC_signature_digest_sign_init_fn *)f)(ctx, md, key, p);
    return ((OSSL_FUNC_signature_sign_init_fn *)f)(ctx, key, p);
}

/* A signing init (sign_id), with its check context (verify_id) where the algorithm has one. */
static int sign_begin(void *c, int sign_id, int verify_id, const char *md, void *key,
                      const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    check_drop(w);
    if (!init_as(w, w->inner, sign_id, md, key, p))
        return 0;
    if (!(w->alg->flags & RC_ALG_CHECK_PUBLIC))
        return 1;
    w->check = rc_actx_dup_inner(w->alg, w->inner);
    if (w->check != NULL && init_as(w, w->check, verify_id, md, key, p))
        return 1;
    check_drop(w);
    rc_err_raise(RC_R_NO_CHECK, "%s", w->alg->name);
    return 0;
}

/* Any other init: the check context belonged to the signing before it, and goes. */
static int other_begin(void *c, int id, const char *md, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    check_drop(w);
    return init_as(w, w->inner, id, md, key, p);
}

typedef int update_fn(void *ctx, const unsigned char *data, size_t len);

/* A signing update (sign_id), given to the check context too (verify_id). */
static int sign_update(void *c, int sign_id, int verify_id, const unsigned char *data, size_t len)
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && ((update_fn *)rc_alg_fn(w->alg, sign_id))(w->inner, data, len)
           && (w->check == NULL
               || ((update_fn *)rc_alg_fn(w->alg, verify_id))(w->check, data, len));
}

static int verify_update(void *c, int id, const unsigned char *data, size_t len)
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && ((update_fn *)rc_alg_fn(w->alg, id))(w->inner, data, len);
}

/* ---- forwarders --------------------------------------------------------- */

static int sign_init(void *c, void *key, const OSSL_PARAM p[])
{
    return sign_begin(c, OSSL_FUNC_SIGNATURE_SIGN_INIT, OSSL_FUNC_SIGNATURE_VERIFY_INIT, NULL, key,
                      p);
}

static int verify_init(void *c, void *key, const OSSL_PARAM p[])
{
    return other_begin(c, OSSL_FUNC_SIGNATURE_VERIFY_INIT, NULL, key, p);
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
    return other_begin(c, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT, NULL, key, p);
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
    return sign_begin(c, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,
                      OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, md, key, p);
}

static int digest_sign_update(void *c, const unsigned char *data, size_t len)
{
    return sign_update(c, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,
                       OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, data, len);
}

static int digest_verify_init(void *c, const char *md, void *key, const OSSL_PARAM p[])
{
    return other_begin(c, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, md, key, p);
}

static int digest_verify_update(void *c, const unsigned char *data, size_t len)
{
    return verify_update(c, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, data, len);
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

#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT /* OpenSSL 3.4 */
static int sign_message_init(void *c, void *key, const OSSL_PARAM p[])
{
    return sign_begin(c, OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT,
                      OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_INIT, NULL, key, p);
}

static int sign_message_update(void *c, const unsigned char *data, size_t len)
{
    return sign_update(c, OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_UPDATE,
                       OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_UPDATE, data, len);
}

static int verify_message_init(void *c, void *key, const OSSL_PARAM p[])
{
    return other_begin(c, OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_INIT, NULL, key, p);
}

static int verify_message_update(void *c, const unsigned char *data, size_t len)
{
    return verify_update(c, OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_UPDATE, data, len);
}

static int verify_message_final(void *c)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify_message_final, VERIFY_MESSAGE_FINAL)(w->inner);
}
#endif

static int set_ctx_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && INNER(w, set_ctx_params, SET_CTX_PARAMS)(w->inner, p)
           && (w->check == NULL || INNER(w, set_ctx_params, SET_CTX_PARAMS)(w->check, p));
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

    return rc_actx_usable(w) && INNER(w, set_ctx_md_params, SET_CTX_MD_PARAMS)(w->inner, p)
           && (w->check == NULL
               || INNER(w, set_ctx_md_params, SET_CTX_MD_PARAMS)(w->check, p));
}

/* ---- signing, offloaded ------------------------------------------------- */

enum { SIGN, DIGEST_SIGN_FINAL, DIGEST_SIGN, SIGN_MESSAGE_FINAL };

/*
 * No signature of the wrapped algorithms is longer (SLH-DSA-*-256f: 49856
 * bytes); the request holds no more, whatever room the caller says it has.
 */
#define MAX_SIG 65536

static _Atomic int corrupt_next;

/* Tests make the next n signatures wrong to see the public-key check refuse them. */
RC_API void rc_testing_corrupt_signatures(int n)
{
    atomic_store(&corrupt_next, n);
}

/* The signature verified on check, a copy of w->check, as the call that made it is verified. */
static int public_check(struct rc_actx *w, void *check, const struct rc_op *op, size_t siglen)
{
    switch (op->kind) {
    case SIGN:
        return INNER(w, verify, VERIFY)(check, op->out, siglen, op->in, op->inlen);
    case DIGEST_SIGN_FINAL:
        return INNER(w, digest_verify_final, DIGEST_VERIFY_FINAL)(check, op->out, siglen);
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
    case SIGN_MESSAGE_FINAL: {
        OSSL_PARAM sig[] = {
            OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_SIGNATURE, op->out, siglen),
            OSSL_PARAM_END,
        };

        return INNER(w, set_ctx_params, SET_CTX_PARAMS)(check, sig)
               && INNER(w, verify_message_final, VERIFY_MESSAGE_FINAL)(check);
    }
#endif
    default:
        return INNER(w, digest_verify, DIGEST_VERIFY)(check, op->out, siglen, op->in, op->inlen);
    }
}

static int sign_call(struct rc_actx *w, const struct rc_op *op, size_t *len)
{
    switch (op->kind) {
    case SIGN:
        return INNER(w, sign, SIGN)(w->inner, op->out, len, op->outsize, op->in, op->inlen);
    case DIGEST_SIGN_FINAL:
        return INNER(w, digest_sign_final, DIGEST_SIGN_FINAL)(w->inner, op->out, len, op->outsize);
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
    case SIGN_MESSAGE_FINAL:
        return INNER(w, sign_message_final, SIGN_MESSAGE_FINAL)(w->inner, op->out, len,
                                                                op->outsize);
#endif
    default:
        return INNER(w, digest_sign, DIGEST_SIGN)(w->inner, op->out, len, op->outsize, op->in,
                                                  op->inlen);
    }
}

/*
 * Signs; for RSA, checks the signature with the public key on a copy of the
 * check context taken before signing (a fault in the CRT computation would
 * otherwise hand out a signature that reveals the private key). The copy,
 * not the check context itself, takes the signature: the default provider's
 * dupctx does not copy a signature it holds, so a copy of a context holding
 * one would free it twice.
 */
static int exec_sign(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    void *check = NULL;
    size_t len = 0;
    int ok = 0;

    if (w->alg->flags & RC_ALG_CHECK_PUBLIC) {
        check = w->check != NULL ? rc_actx_dup_inner(w->alg, w->check) : NULL;
        if (check == NULL) {
            rc_err_raise(RC_R_NO_CHECK, "%s", w->alg->name);
            goto out;
        }
    }
    ok = sign_call(w, op, &len);
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
    rc_actx_free_inner(w->alg, check);
    return ok;
}

/* A signing call: its size query on the caller, the signature through the runtime. */
static int run_sign(void *c, int kind, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *tbs, size_t tbslen)
{
    struct rc_actx *w = c;
    struct rc_op op = {
        .exec = exec_sign, .kind = kind, .in = tbs, .inlen = tbslen,
        .out = sig, .outsize = sigsize < MAX_SIG ? sigsize : MAX_SIG,
    };

    if (sig == NULL)
        return rc_actx_usable(w) && sign_call(w, &op, siglen);
    return rc_actx_run(w, &op, true, siglen);
}

static int sign(void *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen)
{
    return run_sign(c, SIGN, sig, siglen, sigsize, tbs, tbslen);
}

static int digest_sign_final(void *c, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    return run_sign(c, DIGEST_SIGN_FINAL, sig, siglen, sigsize, NULL, 0);
}

static int digest_sign(void *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
    return run_sign(c, DIGEST_SIGN, sig, siglen, sigsize, tbs, tbslen);
}

#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
static int sign_message_final(void *c, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    return run_sign(c, SIGN_MESSAGE_FINAL, sig, siglen, sigsize, NULL, 0);
}
#endif

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
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (rc_fn)rc_actx_get_params_fwd },
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (rc_fn)set_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS, (rc_fn)get_ctx_md_params },
    { OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS, (rc_fn)set_ctx_md_params },
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
    { OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT, (rc_fn)sign_message_init },
    { OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_UPDATE, (rc_fn)sign_message_update },
    { OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_FINAL, (rc_fn)sign_message_final },
    { OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_INIT, (rc_fn)verify_message_init },
    { OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_UPDATE, (rc_fn)verify_message_update },
    { OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_FINAL, (rc_fn)verify_message_final },
#endif
    { 0, NULL },
};

static const int pass[] = {
#ifdef OSSL_FUNC_SIGNATURE_QUERY_KEY_TYPES
    OSSL_FUNC_SIGNATURE_QUERY_KEY_TYPES, /* (void): the key types the algorithm takes */
#endif
    0,
};

const struct rc_opdesc rc_op_signature = {
    .operation = OSSL_OP_SIGNATURE,
    .ctor = RC_CTOR_NEWCTX_PROPQ,
    .ctor_id = OSSL_FUNC_SIGNATURE_NEWCTX,
    .free_id = OSSL_FUNC_SIGNATURE_FREECTX,
    .dup_id = OSSL_FUNC_SIGNATURE_DUPCTX,
    .get_params_id = OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
                   OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
                   OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
