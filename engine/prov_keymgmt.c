/*
 * Key generation (X25519, the ephemeral key of every TLS 1.3 handshake; on
 * OpenSSL 3.5+ ML-KEM and its hybrids, the TLS client's key share) goes
 * through the runtime. Only the generation context is wrapped: keys are the
 * default provider's own, so every other key management function, and the
 * encoders and decoders, are the default provider's unchanged. A generation
 * function this code does not know (a newer release) is not one of those:
 * algs.h says what becomes of the algorithm then.
 */
#include "actx.h"

#define INNER(w, type, ID)                                                       \
    ((OSSL_FUNC_keymgmt_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_KEYMGMT_##ID))

static int gen_set_template(void *c, void *templ)
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, gen_set_template, GEN_SET_TEMPLATE)(w->inner, templ);
}

static int gen_set_params(void *c, const OSSL_PARAM p[])
{
    struct rc_actx *w = c;

    if (!rc_actx_usable(w))
        return 0;
    return INNER(w, gen_set_params, GEN_SET_PARAMS)(w->inner, p);
}

static void free_key(void *made, void *obj)
{
    struct rc_actx *w = obj;

    INNER(w, free, FREE)(made);
}

static int exec_gen(struct rc_op *op)
{
    struct rc_actx *w = op->obj;

    op->made = INNER(w, gen, GEN)(w->inner, NULL, NULL);
    return op->made != NULL;
}

static void *gen(void *c, OSSL_CALLBACK *cb, void *cbarg)
{
    struct rc_actx *w = c;
    struct rc_op op = { .exec = exec_gen, .made_free = free_key };

    /*
     * The progress callback cannot run on another thread; the algorithms
     * wrapped here (X25519, ML-KEM and its hybrids) never call it.
     */
    (void)cb;
    (void)cbarg;
    /*
     * Only a key pair costs anything: the empty key libssl makes from a
     * group's domain parameters to receive each peer's key share
     * (EVP_PKEY_paramgen, every TLS 1.3 handshake) stays on the caller.
     */
    return rc_actx_run(w, &op, (w->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0, NULL) ? op.made
                                                                                         : NULL;
}

static const struct rc_fwd fwd[] = {
    { OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (rc_fn)gen_set_template },
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (rc_fn)gen_set_params },
    { OSSL_FUNC_KEYMGMT_GEN, (rc_fn)gen },
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (rc_fn)rc_actx_free_fwd },
    { 0, NULL },
};

/* Every key management function but the generation context's takes a key, or nothing. */
static const int pass[] = {
    OSSL_FUNC_KEYMGMT_NEW, OSSL_FUNC_KEYMGMT_LOAD, OSSL_FUNC_KEYMGMT_FREE,
    OSSL_FUNC_KEYMGMT_GET_PARAMS, OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
    OSSL_FUNC_KEYMGMT_SET_PARAMS, OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,
    OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, OSSL_FUNC_KEYMGMT_HAS, OSSL_FUNC_KEYMGMT_VALIDATE,
    OSSL_FUNC_KEYMGMT_MATCH, OSSL_FUNC_KEYMGMT_IMPORT, OSSL_FUNC_KEYMGMT_IMPORT_TYPES,
    OSSL_FUNC_KEYMGMT_EXPORT, OSSL_FUNC_KEYMGMT_EXPORT_TYPES, OSSL_FUNC_KEYMGMT_DUP,
#ifdef OSSL_FUNC_KEYMGMT_IMPORT_TYPES_EX /* OpenSSL 3.2 */
    OSSL_FUNC_KEYMGMT_IMPORT_TYPES_EX, OSSL_FUNC_KEYMGMT_EXPORT_TYPES_EX,
#endif
#ifdef OSSL_FUNC_KEYMGMT_NEW_EX /* OpenSSL 4.0 */
    OSSL_FUNC_KEYMGMT_NEW_EX,
#endif
    0,
};

const struct rc_opdesc rc_op_keymgmt = {
    .operation = OSSL_OP_KEYMGMT,
    .ctor = RC_CTOR_GEN_INIT,
    .ctor_id = OSSL_FUNC_KEYMGMT_GEN_INIT,
    .free_id = OSSL_FUNC_KEYMGMT_GEN_CLEANUP,
    .table_ids = { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS },
    .fwd = fwd,
    .pass = pass,
};
