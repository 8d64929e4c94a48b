/*
 * HMAC: with SHA-256 or SHA-384, where the runtime uses the kernel's
 * hmac(sha256/384), a message is authenticated there at final (kdigest.h);
 * otherwise every call is the default provider's.
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <strings.h>

#include "actx.h"
#include "kdigest.h"

#define INNER(w, type, ID) ((OSSL_FUNC_mac_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_MAC_##ID))

/* The kernel's HMAC for a digest name, NULL when it has none. */
static const char *kernel_hmac(const char *digest)
{
    static const char *const names[][4] = {
        { "hmac(sha256)", "SHA2-256", "SHA-256", "SHA256" },
        { "hmac(sha384)", "SHA2-384", "SHA-384", "SHA384" },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (size_t j = 1; j < 4; j++)
            if (strcasecmp(digest, names[i][j]) == 0)
                return names[i][0];
    return NULL;
}

/* The digest and key in p, for the kernel's form. */
static int learn(struct rc_actx *w, const OSSL_PARAM p[])
{
    const OSSL_PARAM *d = p != NULL ? OSSL_PARAM_locate_const(p, OSSL_MAC_PARAM_DIGEST) : NULL;
    const OSSL_PARAM *k = p != NULL ? OSSL_PARAM_locate_const(p, OSSL_MAC_PARAM_KEY) : NULL;
    const char *digest = NULL;
    const void *key = NULL;
    size_t keylen = 0;

    if (d != NULL && !OSSL_PARAM_get_utf8_string_ptr(d, &digest))
        digest = NULL;
    if (k != NULL && !OSSL_PARAM_get_octet_string_ptr(k, &key, &keylen))
        key = NULL;
    /* libssl's constant-time MAC of CBC records needs the default provider's own HMAC. */
    if (p != NULL && OSSL_PARAM_locate_const(p, OSSL_MAC_PARAM_TLS_DATA_SIZE) != NULL
        && !rc_kdigest_never(w))
        return 0;
    return rc_kdigest_learn(w, d != NULL, digest != NULL ? kernel_hmac(digest) : NULL, key,
                            keylen);
}

static int init(void *c, const unsigned char *key, size_t keylen, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, init, INIT)(w->inner, key, keylen, p) && learn(w, p)
           && (key == NULL || rc_kdigest_learn(w, false, NULL, key, keylen))
           && rc_kdigest_start(w, OSSL_FUNC_MAC_UPDATE, OSSL_FUNC_MAC_FINAL);
}

static int get_ctx_params(void *c, OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && INNER(w, get_ctx_params, GET_CTX_PARAMS)(w->inner, p);
}

static int set_ctx_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    return rc_actx_usable(w) && INNER(w, set_ctx_params, SET_CTX_PARAMS)(w->inner, p)
           && learn(w, p);
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_MAC_INIT, (rc_fn)init },
    { OSSL_FUNC_MAC_UPDATE, (rc_fn)rc_kdigest_update },
    { OSSL_FUNC_MAC_FINAL, (rc_fn)rc_kdigest_final },
    { OSSL_FUNC_MAC_FREECTX, (rc_fn)rc_actx_free_fwd },
    { OSSL_FUNC_MAC_DUPCTX, (rc_fn)rc_actx_dup_fwd },
    { OSSL_FUNC_MAC_GET_CTX_PARAMS, (rc_fn)get_ctx_params },
    { OSSL_FUNC_MAC_SET_CTX_PARAMS, (rc_fn)set_ctx_params },
    { 0, NULL },
};

static const int pass[] = { OSSL_FUNC_MAC_GET_PARAMS, OSSL_FUNC_MAC_GETTABLE_PARAMS, 0 };

const struct rc_opdesc rc_op_mac = {
    .operation = OSSL_OP_MAC,
    .ctor = RC_CTOR_NEWCTX,
    .ctor_id = OSSL_FUNC_MAC_NEWCTX,
    .free_id = OSSL_FUNC_MAC_FREECTX,
    .dup_id = OSSL_FUNC_MAC_DUPCTX,
    .table_ids = { OSSL_FUNC_MAC_GETTABLE_CTX_PARAMS, OSSL_FUNC_MAC_SETTABLE_CTX_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
