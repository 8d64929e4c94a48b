/*
 * Key encapsulation: ML-KEM and the hybrid groups built on it (OpenSSL 3.5),
 * the key exchange of every TLS 1.3 handshake on those releases. The server
 * encapsulates to the client's key share, the client decapsulates; both go
 * through the runtime. Releases without these algorithms never match the
 * wrap table's rows, and then nothing here is used.
 */
#include "actx.h"

#define INNER(w, type, ID) ((OSSL_FUNC_kem_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_KEM_##ID))

/*
 * No ciphertext or shared secret of the wrapped algorithms is longer
 * (X448MLKEM1024: 1624 and 64 bytes); a request holds no more, whatever
 * room the caller says it has.
 */
#define MAX_CIPHERTEXT 4096
#define MAX_SECRET 256

static size_t capped(size_t n, size_t max)
{
    return n < max ? n : max;
}

static int encapsulate_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_KEM_ENCAPSULATE_INIT, key, p);
}

static int decapsulate_init(void *c, void *key, const OSSL_PARAM p[])
{
    return rc_actx_key_init(c, OSSL_FUNC_KEM_DECAPSULATE_INIT, key, p);
}

#ifdef OSSL_FUNC_KEM_AUTH_ENCAPSULATE_INIT /* OpenSSL 3.2 */
typedef int auth_init_fn(void *ctx, void *key, void *auth, const OSSL_PARAM p[]);

static int auth_init(void *c, int id, void *key, void *auth, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && ((auth_init_fn *)rc_alg_fn(w->alg, id))(w->inner, key, auth, p);
}

static int auth_encapsulate_init(void *c, void *key, void *auth, const OSSL_PARAM p[])
{
    return auth_init(c, OSSL_FUNC_KEM_AUTH_ENCAPSULATE_INIT, key, auth, p);
}

static int auth_decapsulate_init(void *c, void *key, void *auth, const OSSL_PARAM p[])
{
    return auth_init(c, OSSL_FUNC_KEM_AUTH_DECAPSULATE_INIT, key, auth, p);
}
#endif

/*
 * The default provider reads the room of both outputs from the lengths it is
 * given (OpenSSL 3.5's EVP_PKEY_encapsulate), so the request's sizes are
 * passed in and the lengths written come back.
 */
static int exec_encapsulate(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    size_t outlen = op->outsize, secretlen = op->out2size;
    int ok = INNER(w, encapsulate, ENCAPSULATE)(w->inner, op->out, &outlen, op->out2, &secretlen);

    op->outlen = ok ? outlen : 0;
    op->out2len = ok ? secretlen : 0;
    return ok;
}

static int encapsulate(void *c, unsigned char *out, size_t *outlen, unsigned char *secret,
                       size_t *secretlen)
{
    struct rc_actx *w = c;
    struct rc_op op = { .exec = exec_encapsulate };

    if (!rc_actx_usable(w))
        return 0;
    /* A size query, or a call the default provider refuses for its arguments alone. */
    if (out == NULL || outlen == NULL || secret == NULL || secretlen == NULL)
        return INNER(w, encapsulate, ENCAPSULATE)(w->inner, out, outlen, secret, secretlen);
    op.out = out;
    op.outsize = capped(*outlen, MAX_CIPHERTEXT);
    op.out2 = secret;
    op.out2size = capped(*secretlen, MAX_SECRET);
    if (!rc_actx_run(w, &op, true, outlen))
        return 0;
    *secretlen = op.out2len;
    return 1;
}

static int exec_decapsulate(struct rc_op *op)
{
    struct rc_actx *w = op->obj;
    size_t len = op->outsize;
    int ok = INNER(w, decapsulate, DECAPSULATE)(w->inner, op->out, &len, op->in, op->inlen);

    op->outlen = ok ? len : 0;
    return ok;
}

static int decapsulate(void *c, unsigned char *out, size_t *outlen, const unsigned char *in,
                       size_t inlen)
{
    struct rc_actx *w = c;
    struct rc_op op = { .exec = exec_decapsulate, .in = in, .inlen = inlen, .out = out };

    if (!rc_actx_usable(w))
        return 0;
    if (out == NULL || outlen == NULL)
        return INNER(w, decapsulate, DECAPSULATE)(w->inner, out, outlen, in, inlen);
    op.outsize = capped(*outlen, MAX_SECRET);
    return rc_actx_run(w, &op, true, outlen);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_KEM_ENCAPSULATE_INIT, (rc_fn)encapsulate_init },
    { OSSL_FUNC_KEM_ENCAPSULATE, (rc_fn)encapsulate },
    { OSSL_FUNC_KEM_DECAPSULATE_INIT, (rc_fn)decapsulate_init },
    { OSSL_FUNC_KEM_DECAPSULATE, (rc_fn)decapsulate },
    { OSSL_FUNC_KEM_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_KEM_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_KEM_GET_CTX_PARAMS, (rc_fn)rc_actx_get_params_fwd },
    { OSSL_FUNC_KEM_SET_CTX_PARAMS, (rc_fn)rc_actx_set_params_fwd },
#ifdef OSSL_FUNC_KEM_AUTH_ENCAPSULATE_INIT
    { OSSL_FUNC_KEM_AUTH_ENCAPSULATE_INIT, (rc_fn)auth_encapsulate_init },
    { OSSL_FUNC_KEM_AUTH_DECAPSULATE_INIT, (rc_fn)auth_decapsulate_init },
#endif
    { 0, NULL },
};

const struct rc_opdesc rc_op_kem = {
    .operation = OSSL_OP_KEM,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_KEM_NEWCTX,
    .free_id = OSSL_FUNC_KEM_FREECTX,
    .dup_id = OSSL_FUNC_KEM_DUPCTX,
    .get_params_id = OSSL_FUNC_KEM_GET_CTX_PARAMS,
    .set_params_id = OSSL_FUNC_KEM_SET_CTX_PARAMS,
    .table_ids = { OSSL_FUNC_KEM_GETTABLE_CTX_PARAMS, OSSL_FUNC_KEM_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
};
