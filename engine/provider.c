/*
 * The provider's entry point. Each time a library context loads "ringcrypt",
 * the default provider is loaded into a private library context of its own,
 * and the default provider's own provider context becomes ours: then every
 * default function, wrapped or not, receives the context it expects, and the
 * work it does (fetching a digest inside RSA-PSS, say) happens in the private
 * context, never back through ringcrypt.
 */
#include <errno.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "algs.h"
#include "errors.h"
#include "ringcrypt.h"

struct instance {
    void *provctx;               /* the default provider's, in libctx */
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *dflt;
    struct instance *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct instance *instances;
/*
 * Torn-down instances, kept: the runtime's worker threads hold OpenSSL
 * per-thread state (RSA blinding's random generator, say) tied to the
 * private library context, which their exit would free again.
 */
static struct instance *retired;

static struct instance *find(void *provctx)
{
    struct instance *i;

    pthread_mutex_lock(&lock);
    for (i = instances; i != NULL && i->provctx != provctx; i = i->next)
        ;
    pthread_mutex_unlock(&lock);
    return i;
}

static void teardown(void *provctx)
{
    struct instance **p, *i = NULL;

    pthread_mutex_lock(&lock);
    for (p = &instances; *p != NULL; p = &(*p)->next) {
        if ((*p)->provctx == provctx) {
            i = *p;
            *p = i->next;
            break;
        }
    }
    if (i != NULL) {
        i->next = retired;
        retired = i;
    }
    pthread_mutex_unlock(&lock);
}

/* Algorithms of the wrap table offered without offload, and why (algs.h); empty when none. */
#define RC_PARAM_UNWRAPPED "unwrapped"

static const OSSL_PARAM gettable[] = {
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
    OSSL_PARAM_DEFN(RC_PARAM_UNWRAPPED, OSSL_PARAM_UTF8_STRING, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *gettable_params(void *provctx)
{
    (void)provctx;
    return gettable;
}

static int get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)provctx;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "ringcrypt: io_uring crypto offload"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "0.3.0"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, OpenSSL_version(OPENSSL_VERSION)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    p = OSSL_PARAM_locate(params, RC_PARAM_UNWRAPPED);
    if (p != NULL && !rc_algs_unwrapped(p))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *query_operation(void *provctx, int operation_id, int *no_cache)
{
    struct instance *i = find(provctx);

    *no_cache = 0;
    return i != NULL ? rc_algs_query(i->dflt, operation_id) : NULL;
}

/* TLS learns its groups from here; they are the default provider's. */
static int get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb, void *arg)
{
    struct instance *i = find(provctx);

    return i != NULL && OSSL_PROVIDER_get_capabilities(i->dflt, capability, cb, arg);
}

static const OSSL_DISPATCH provider_fns[] = {
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))teardown },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))query_operation },
    { OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))get_capabilities },
    { 0, NULL },
};

/* The runtime settings an openssl.cnf provider section may carry. */
static const char *const config_keys[] = {
    "backend", "workers", "timeout_ms", "max_inflight", "min_offload_bytes",
    "spin_us", "force_eventfd", "stats",
};
#define NCONFIG (sizeof(config_keys) / sizeof(config_keys[0]))

static int apply_config(const OSSL_CORE_HANDLE *handle, OSSL_FUNC_core_get_params_fn *get)
{
    const char *values[NCONFIG] = { 0 };
    OSSL_PARAM params[NCONFIG + 1];
    int rc;

    for (size_t k = 0; k < NCONFIG; k++)
        params[k] = OSSL_PARAM_construct_utf8_ptr(config_keys[k], (char **)&values[k], 0);
    params[NCONFIG] = OSSL_PARAM_construct_end();
    if (get != NULL && !get(handle, params)) {
        rc_err_raise(RC_R_BAD_CONFIG, "cannot read the provider's configuration");
        return 0;
    }
    for (size_t k = 0; k < NCONFIG; k++) {
        if (values[k] == NULL)
            continue;
        rc = rc_config_set(config_keys[k], values[k]);
        /*
         * -EBUSY: another library context loaded ringcrypt first and the
         * runtime runs with what it was given; one process, one runtime.
         */
        if (rc != 0 && rc != -EBUSY) {
            /* OpenSSL's config loader drops the error queue of a provider that fails to start. */
            fprintf(stderr, "ringcrypt: provider configuration: %s\n", rc_last_error());
            rc_err_raise(RC_R_BAD_CONFIG, "%s", rc_last_error());
            return 0;
        }
    }
    /* The environment is read now too, so a bad RINGCRYPT_* stops loading here. */
    if (rc_init() != 0) {
        rc_err_raise(RC_R_BAD_CONFIG, "%s", rc_last_error());
        return 0;
    }
    return 1;
}

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx)
{
    OSSL_FUNC_core_get_params_fn *get = NULL;
    struct instance *i = NULL;

    rc_err_load();
    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            get = OSSL_FUNC_core_get_params(in);
    if (!apply_config(handle, get))
        return 0;

    i = calloc(1, sizeof(*i));
    if (i == NULL) {
        rc_err_raise(RC_R_NO_MEMORY, "provider instance");
        goto fail;
    }
    i->libctx = OSSL_LIB_CTX_new();
    i->dflt = i->libctx != NULL ? OSSL_PROVIDER_load(i->libctx, "default") : NULL;
    i->provctx = i->dflt != NULL ? OSSL_PROVIDER_get0_provider_ctx(i->dflt) : NULL;
    if (i->provctx == NULL) {
        rc_err_raise(RC_R_NO_DEFAULT, "in a private library context");
        goto fail;
    }
    pthread_mutex_lock(&lock);
    i->next = instances;
    instances = i;
    pthread_mutex_unlock(&lock);
    *out = provider_fns;
    *provctx = i->provctx;
    return 1;
fail:
    if (i != NULL) {
        OSSL_PROVIDER_unload(i->dflt);
        OSSL_LIB_CTX_free(i->libctx);
        free(i);
    }
    return 0;
}
