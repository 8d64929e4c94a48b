/*
 * Ciphers (AES-128/256-GCM, ChaCha20-Poly1305, AES-128/256-CBC): data calls
 * with at least min_offload_bytes of input go through the runtime, smaller
 * ones stay on the caller, where a request would cost more than the cipher.
 * Where the runtime uses the kernel's AF_ALG ciphers, the data calls they fit
 * take the kernel's form (kcipher.h).
 *
 * Decryption keeps EVP's contract: update hands out plaintext that final then
 * authenticates, and a failed final is the caller's signal to discard it (TLS
 * 1.3 does). The one-shot call TLS 1.2 records use authenticates before it
 * hands anything out; offloaded, its output is copied to the caller only when
 * the tag matched.
 */
#include <openssl/err.h>

#include "actx.h"
#include "errors.h"
#include "kcipher.h"

#define INNER RC_CIPHER_FN

/* What every init does first: the direction, and what the kernel's form must know before. */
static bool init_start(struct rc_actx *w, bool enc, const OSSL_PARAM p[])
{
    w->enc = enc;
    return rc_actx_usable(w) && rc_kcipher_set_params(w, p);
}

static int encrypt_init(void *c, const unsigned char *key, size_t keylen,
                        const unsigned char *iv, size_t ivlen, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return init_start(w, true, p)
           && INNER(w, encrypt_init, ENCRYPT_INIT)(w->inner, key, keylen, iv, ivlen, p)
           && rc_kcipher_init(w, key, keylen, iv, ivlen);
}

static int decrypt_init(void *c, const unsigned char *key, size_t keylen,
                        const unsigned char *iv, size_t ivlen, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return init_start(w, false, p)
           && INNER(w, decrypt_init, DECRYPT_INIT)(w->inner, key, keylen, iv, ivlen, p)
           && rc_kcipher_init(w, key, keylen, iv, ivlen);
}

#ifdef OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT /* OpenSSL 3.5: keys as opaque objects (EVP_SKEY) */
static int skey_init(void *c, bool enc, void *skey, const unsigned char *iv, size_t ivlen,
                     const OSSL_PARAM p[])
{
    struct rc_actx *w = c;
    OSSL_FUNC_cipher_encrypt_skey_init_fn *f =
        enc ? INNER(w, encrypt_skey_init, ENCRYPT_SKEY_INIT)
            : INNER(w, decrypt_skey_init, DECRYPT_SKEY_INIT);

    return init_start(w, enc, p) && f(w->inner, skey, iv, ivlen, p)
           && rc_kcipher_init_opaque(w, iv, ivlen);
}

static int encrypt_skey_init(void *c, void *skey, const unsigned char *iv, size_t ivlen,
                             const OSSL_PARAM p[])
{
    return skey_init(c, true, skey, iv, ivlen, p);
}

static int decrypt_skey_init(void *c, void *skey, const unsigned char *iv, size_t ivlen,
                             const OSSL_PARAM p[])
{
    return skey_init(c, false, skey, iv, ivlen, p);
}
#endif

/*
 * The default provider reports a tag mismatch by failing alone, with nothing
 * on the error queue; a caller deserves to know why.
 */
static int said_no(struct rc_actx *w, unsigned long last_before)
{
    if (!w->enc && ERR_peek_last_error() == last_before)
        rc_err_raise(RC_R_TAG_MISMATCH, "%s", w->alg->name);
    return 0;
}

static int final(void *c, unsigned char *out, size_t *outl, size_t outsize)
{
    struct rc_actx *w = c;
    unsigned long last = ERR_peek_last_error();
    int rc;

    if (!rc_actx_usable(w))
        return 0;
    rc = rc_kcipher_final(w, outl);
    if (rc >= 0)
        return rc;
    return INNER(w, final, FINAL)(w->inner, out, outl, outsize) || said_no(w, last);
}

static int get_ctx_params(void *c, OSSL_PARAM p[])
{
    struct rc_actx *w = c;
    int rc;

    if (!rc_actx_usable(w))
        return 0;
    rc = rc_kcipher_get_params(w, p);
    if (rc >= 0)
        return rc;
    return INNER(w, get_ctx_params, GET_CTX_PARAMS)(w->inner, p);
}

static int set_ctx_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return rc_kcipher_set_params(w, p) && INNER(w, set_ctx_params, SET_CTX_PARAMS)(w->inner, p);
}

enum { UPDATE, ONESHOT };

int rc_cipher_exec(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    unsigned long last = ERR_peek_last_error();
    const unsigned char *in = op->in + op->skip;
    size_t inl = op->inlen - op->skip - op->trail;
    int ok = op->kind == UPDATE
        ? INNER(w, update, UPDATE)(w->inner, op->out, &op->outlen, op->outsize, in, inl)
        : INNER(w, cipher, CIPHER)(w->inner, op->out, &op->outlen, op->outsize, in, inl);

    /* The one-shot TLS record call authenticates: its failure is a tag mismatch. */
    return ok || (op->kind == ONESHOT && said_no(w, last));
}

static int run_data(struct rc_actx *w, int kind, unsigned char *out, size_t *outl,
                    size_t outsize, const unsigned char *in, size_t inl)
{
    /* Stream ciphers write what they read; the slack covers any block rounding. */
    struct rc_op op = {
        .exec = rc_cipher_exec, .kind = kind, .in = in, .inlen = inl, .out = out,
        .outsize = outsize < inl + 64 ? outsize : inl + 64,
    };
    /* Calls that write nothing (AAD, a final through cipher) need no request. */
    bool worth = out != NULL && in != NULL && inl >= rc_op_min_offload_bytes();

    return rc_actx_run(w, &op, worth, outl);
}

static int update(void *c, unsigned char *out, size_t *outl, size_t outsize,
                  const unsigned char *in, size_t inl)
{
    struct rc_actx *w = c;
    int rc;

    if (!rc_actx_usable(w))
        return 0;
    if (out == NULL) {
        if (!rc_kcipher_aad(w, in, inl))
            return 0;
    } else {
        rc = rc_kcipher_update(w, out, outl, outsize, in, inl);
        if (rc >= 0)
            return rc;
    }
    return run_data(c, UPDATE, out, outl, outsize, in, inl);
}

static int cipher(void *c, unsigned char *out, size_t *outl, size_t outsize,
                  const unsigned char *in, size_t inl)
{
    if (!rc_actx_usable(c) || !rc_kcipher_software(c))
        return 0;
    return run_data(c, ONESHOT, out, outl, outsize, in, inl);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_CIPHER_ENCRYPT_INIT, (rc_fn)encrypt_init },
    { OSSL_FUNC_CIPHER_DECRYPT_INIT, (rc_fn)decrypt_init },
    { OSSL_FUNC_CIPHER_UPDATE, (rc_fn)update },
    { OSSL_FUNC_CIPHER_FINAL, (rc_fn)final },
    { OSSL_FUNC_CIPHER_CIPHER, (rc_fn)cipher },
    { OSSL_FUNC_CIPHER_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_CIPHER_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_CIPHER_GET_CTX_PARAMS, (rc_fn)get_ctx_params },
    { OSSL_FUNC_CIPHER_SET_CTX_PARAMS, (rc_fn)set_ctx_params },
#ifdef OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT
    { OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT, (rc_fn)encrypt_skey_init },
    { OSSL_FUNC_CIPHER_DECRYPT_SKEY_INIT, (rc_fn)decrypt_skey_init },
#endif
    { 0, NULL },
};

static const int pass[] = { OSSL_FUNC_CIPHER_GET_PARAMS, OSSL_FUNC_CIPHER_GETTABLE_PARAMS, 0 };

const struct rc_opdesc rc_op_cipher = {
    .operation = OSSL_OP_CIPHER,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_CIPHER_NEWCTX,
    .free_id = OSSL_FUNC_CIPHER_FREECTX,
    .dup_id = OSSL_FUNC_CIPHER_DUPCTX,
    .table_ids = { OSSL_FUNC_CIPHER_GETTABLE_CTX_PARAMS, OSSL_FUNC_CIPHER_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
