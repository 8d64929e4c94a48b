/*
 * RSA decryption (PKCS#1 v1.5, OAEP, TLS's implicit rejection) goes through
 * the runtime. OpenSSL's RSA code checks its CRT result with the public
 * exponent before using it, so a fault cannot leak the key here.
 */
#include "actx.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_asym_cipher_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_ASYM_CIPHER_##ID))

static int encrypt_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, key, p);
}

static int encrypt(void *c, unsigned char *out, size_t *outlen, size_t outsize,
                   const unsigned char *in, size_t inlen)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, encrypt, ENCRYPT)(w->inner, out, outlen, outsize, in, inlen);
}

static int decrypt_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, key, p);
}

static int exec_decrypt(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    return INNER(w, decrypt, DECRYPT)(w->inner, op->out, &op->outlen, op->outsize, op->in,
                                      op->inlen);
}

static int decrypt(void *c, unsigned char *out, size_t *outlen, size_t outsize,
                   const unsigned char *in, size_t inlen)
{
    struct rc_actx *w = c;
    /* A plaintext is shorter than the modulus (RSA-16384 at most); the request holds no more. */
    struct rc_op op = {
        .exec = exec_decrypt, .in = in, .inlen = inlen, .out = out,
        .outsize = outsize < 2048 ? outsize : 2048,
    };

    if (out == NULL)
        return INNER(w, decrypt, DECRYPT)(w->inner, NULL, outlen, outsize, in, inlen);
    return rc_actx_run(w, &op, true, outlen);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (rc_fn)encrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (rc_fn)encrypt },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (rc_fn)decrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT, (rc_fn)decrypt },
    { OSSL_FUNC_ASYM_CIPHER_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_ASYM_CIPHER_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, (rc_fn)rc_actx_get_params_fwd },
    { OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (rc_fn)rc_actx_set_params_fwd },
    { 0, NULL },
};

const struct rc_opdesc rc_op_asym_cipher = {
    .operation = OSSL_OP_ASYM_CIPHER,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_ASYM_CIPHER_NEWCTX,
    .free_id = OSSL_FUNC_ASYM_CIPHER_FREECTX,
    .dup_id = OSSL_FUNC_ASYM_CIPHER_DUPCTX,
    .get_params_id = OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS,
    .set_params_id = OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
                   OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
};
