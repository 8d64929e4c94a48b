/*
 * Signatures: RSA, ECDSA and Ed25519 signing, and on OpenSSL 3.5+ ML-DSA and
 * SLH-DSA signing, goes through the runtime, in every form OpenSSL has:
 * streamed (digest_sign_final), one-shot (sign, digest_sign) and, since
 * OpenSSL 3.4, the message API (sign_message_final of the RSA-SHA2-* and
 * ECDSA-SHA2-* algorithms; sign_message_init then sign for ML-DSA and SLH-DSA).
 */

#include "actx.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_signature_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_SIGNATURE_##ID))

/*
 * RSA private-key results are checked by OpenSSL itself: its CRT
 * exponentiation (rsa_ossl_mod_exp) verifies each result with the public
 * exponent and recomputes without CRT when it differs, so a fault in the CRT
 * halves never leaves (tests/kat, rsa_crt_fault). No second check here.
 */

/* A digest-signing or -verifying init: f(ctx, md, key, p). */
static int digest_begin(void *c, int id, const char *md, void *key, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w)
           && ((OSSL_FUNC_signature_digest_sign_init_fn *)rc_alg_fn(w->alg, id))(w->inner, md, key,
                                                                                 p);
}

typedef int update_fn(void *ctx, const unsigned char *data, size_t len);

static int update(void *c, int id, const unsigned char *data, size_t len)
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && ((update_fn *)rc_alg_fn(w->alg, id))(w->inner, data, len);
}

/* ---- forwarders --------------------------------------------------------- */

static int sign_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_SIGNATURE_SIGN_INIT, key, p);
}

static int verify_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_SIGNATURE_VERIFY_INIT, key, p);
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
    return rc_actx_key_init(c, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT, key, p);
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
    return digest_begin(c, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, md, key, p);
}

static int digest_sign_update(void *c, const unsigned char *data, size_t len)
{
    return update(c, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, data, len);
}

static int digest_verify_init(void *c, const char *md, void *key, const OSSL_PARAM p[])
{
    return digest_begin(c, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, md, key, p);
}

static int digest_verify_update(void *c, const unsigned char *data, size_t len)
{
    return update(c, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, data, len);
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
    return rc_actx_key_init(c, OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT, key, p);
}

static int sign_message_update(void *c, const unsigned char *data, size_t len)
{
    return update(c, OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_UPDATE, data, len);
}

static int verify_message_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_INIT, key, p);
}

static int verify_message_update(void *c, const unsigned char *data, size_t len)
{
    return update(c, OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_UPDATE, data, len);
}

static int verify_message_final(void *c)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, verify_message_final, VERIFY_MESSAGE_FINAL)(w->inner);
}
#endif

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

    return rc_actx_usable(w) && INNER(w, set_ctx_md_params, SET_CTX_MD_PARAMS)(w->inner, p);
}

/* ---- signing, offloaded ------------------------------------------------- */

enum { SIGN, DIGEST_SIGN_FINAL, DIGEST_SIGN, SIGN_MESSAGE_FINAL };

/*
 * No signature of the wrapped algorithms is longer (SLH-DSA-*-256f: 49856
 * bytes); the request holds no more, whatever room the caller says it has.
 */
#define MAX_SIG 65536

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

static int exec_sign(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    size_t len = 0;
    int ok = sign_call(w, op, &len);

    op->outlen = ok ? len : 0;
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

    size_t max = 0;

    if (sig == NULL)
        return rc_actx_usable(w) && sign_call(w, &op, siglen);
    /*
     * The request holds as much room as the signature can take, not what the
     * caller offers (`openssl speed` offers 16 KiB for a 72-byte ECDSA
     * signature): the room is allocated, zeroed and wiped with every request.
     */
    op.out = NULL;
    if (rc_actx_usable(w) && sign_call(w, &op, &max) && max > 0 && max < op.outsize)
        op.outsize = max;
    op.out = sig;
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
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (rc_fn)rc_actx_set_params_fwd },
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
    .set_params_id = OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
                   OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS,
                   OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
