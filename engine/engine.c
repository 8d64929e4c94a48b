/*
 * The ENGINE adapter, for OpenSSL 3.x applications that select engines by id
 * (`-engine ringcrypt`). The ENGINE and method APIs are deprecated in 3.0 and
 * gone in 4.0; this file is the only user of them, hence the suppression.
 * It offers RSA private-key operations and ECDSA signing through the same
 * offload path as the provider (op.c), each call working on the caller's key
 * with OpenSSL's built-in methods.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/opensslconf.h>

#ifndef OPENSSL_NO_ENGINE

#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <string.h>

#include "errors.h"
#include "op.h"

static const char engine_id[] = "ringcrypt";
static const char engine_name[] = "ringcrypt: io_uring crypto offload (ENGINE adapter)";

static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;

static void rsa_hold(void *rsa)
{
    RSA_up_ref(rsa);
}

static void rsa_drop(void *rsa)
{
    RSA_free(rsa);
}

static void ec_hold(void *key)
{
    EC_KEY_up_ref(key);
}

static void ec_drop(void *key)
{
    EC_KEY_free(key);
}

enum { PRIV_ENC, PRIV_DEC };

static int exec_rsa(struct rc_op *op)
{
    const RSA_METHOD *builtin = RSA_PKCS1_OpenSSL();
    int n = op->kind == PRIV_ENC
        ? RSA_meth_get_priv_enc(builtin)((int)op->inlen, op->in, op->out, op->obj, op->arg)
        : RSA_meth_get_priv_dec(builtin)((int)op->inlen, op->in, op->out, op->obj, op->arg);

    op->outlen = n > 0 ? (size_t)n : 0;
    return n >= 0;
}

static int run_rsa(int kind, int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                   int padding)
{
    struct rc_op op = {
        .exec = exec_rsa, .kind = kind, .arg = padding, .obj = rsa, .hold = rsa_hold,
        .drop = rsa_drop, .in = from, .inlen = flen > 0 ? (size_t)flen : 0, .out = to,
        .outsize = (size_t)RSA_size(rsa),
    };

    return rc_op_run(&op, true) > 0 ? (int)op.outlen : -1;
}

static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                        int padding)
{
    return run_rsa(PRIV_ENC, flen, from, to, rsa, padding);
}

static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                        int padding)
{
    return run_rsa(PRIV_DEC, flen, from, to, rsa, padding);
}

typedef int (*ecdsa_sign_fn)(int, const unsigned char *, int, unsigned char *, unsigned int *,
                             const BIGNUM *, const BIGNUM *, EC_KEY *);

static ecdsa_sign_fn builtin_ecdsa_sign(void)
{
    ecdsa_sign_fn sign = NULL;

    EC_KEY_METHOD_get_sign(EC_KEY_OpenSSL(), &sign, NULL, NULL);
    return sign;
}

static int exec_ecdsa(struct rc_op *op)
{
    unsigned int len = (unsigned int)op->outsize;
    int ok = builtin_ecdsa_sign()(op->arg, op->in, (int)op->inlen, op->out, &len, NULL, NULL,
                                  op->obj);

    op->outlen = ok ? len : 0;
    return ok;
}

static int ecdsa_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
                      unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
    struct rc_op op = {
        .exec = exec_ecdsa, .arg = type, .obj = eckey, .hold = ec_hold, .drop = ec_drop,
        .in = dgst, .inlen = dlen > 0 ? (size_t)dlen : 0, .out = sig,
        .outsize = (size_t)ECDSA_size(eckey),
    };

    /* Precomputed nonces live in the caller's memory: such a call stays inline. */
    if (kinv != NULL || r != NULL)
        return builtin_ecdsa_sign()(type, dgst, dlen, sig, siglen, kinv, r, eckey);
    if (rc_op_run(&op, true) <= 0)
        return 0;
    *siglen = (unsigned int)op.outlen;
    return 1;
}

static int destroy(ENGINE *e)
{
    (void)e;
    RSA_meth_free(rsa_method);
    rsa_method = NULL;
    EC_KEY_METHOD_free(ec_method);
    ec_method = NULL;
    return 1;
}

static bool is_our_path(const char *id)
{
    const char *base = strrchr(id, '/');
    static const char file[] = "ringcrypt.so";

    return base != NULL && strcmp(base + 1, file) == 0;
}

static int bind(ENGINE *e, const char *id)
{
    int (*sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;
    ECDSA_SIG *(*sign_sig)(const unsigned char *, int, const BIGNUM *, const BIGNUM *,
                           EC_KEY *) = NULL;

    /* Loaded by path (`openssl engine /path/ringcrypt.so`), the id is that path. */
    if (id != NULL && strcmp(id, engine_id) != 0 && !is_our_path(id))
        return 0;
    rc_err_load();
    rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
    ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    if (rsa_method == NULL || ec_method == NULL)
        goto fail;
    EC_KEY_METHOD_get_sign(EC_KEY_OpenSSL(), NULL, &sign_setup, &sign_sig);
    EC_KEY_METHOD_set_sign(ec_method, ecdsa_sign, sign_setup, sign_sig);
    if (!RSA_meth_set1_name(rsa_method, engine_name)
        || !RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc)
        || !RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec)
        || !ENGINE_set_id(e, engine_id) || !ENGINE_set_name(e, engine_name)
        || !ENGINE_set_RSA(e, rsa_method) || !ENGINE_set_EC(e, ec_method)
        || !ENGINE_set_destroy_function(e, destroy))
        goto fail;
    return 1;
fail:
    destroy(e);
    return 0;
}

/* The dynamic ENGINE loader looks these two symbols up by name. */
#pragma GCC visibility push(default)
IMPLEMENT_DYNAMIC_BIND_FN(bind)
IMPLEMENT_DYNAMIC_CHECK_FN()
#pragma GCC visibility pop

#endif
