/*
 * The provider's entry point. Each time a library context loads "ringcrypt",
 * the default provider is loaded into a private library context of its own,
 * and the default provider's own provider context becomes ours: then every
 * default function, wrapped or not, receives the context it expects, and the
 * work it does (fetching a digest inside RSA-PSS, say) happens in the private
 * context, never back through ringcrypt.
 */
#include <errno.h>
#include <openssl/conf.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algs.h"
#include "config_keys.h"
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
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, RINGCRYPT_VERSION_STRING))
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

/* OpenSSL's config loader drops the error queue of a provider that fails to start. */
static void refuse(const char *why)
{
    fprintf(stderr, "ringcrypt: provider configuration: %s\n", why);
    rc_err_raise(RC_R_BAD_CONFIG, "%s", why);
}

/*
 * Keys OpenSSL reads from a provider section itself (crypto/provider_conf.c,
 * 3.0 to 3.5), ignoring a "prefix." as it does; the core passes them on too.
 */
static bool openssl_key(const char *name)
{
    static const char *const own[] = { "module", "activate", "identity", "soft_load" };
    const char *dot = strchr(name, '.');

    name = dot != NULL ? dot + 1 : name;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(own[i], name) == 0)
            return true;
    return false;
}

/* The section [providers] names for the provider called name, in conf. */
static STACK_OF(CONF_VALUE) *provider_section(const CONF *conf, const char *name)
{
    const char *init = NCONF_get_string(conf, NULL, "openssl_conf");
    const char *list = init != NULL ? NCONF_get_string(conf, init, "providers") : NULL;
    STACK_OF(CONF_VALUE) *provs = list != NULL ? NCONF_get_section(conf, list) : NULL;

    for (int i = 0; provs != NULL && i < sk_CONF_VALUE_num(provs); i++) {
        CONF_VALUE *p = sk_CONF_VALUE_value(provs, i);
        const char *id = NCONF_get_string(conf, p->value, "identity");
        const char *dot = strchr(p->name, '.');

        if (strcmp(id != NULL ? id : dot != NULL ? dot + 1 : p->name, name) == 0)
            return NCONF_get_section(conf, p->value);
    }
    return NULL;
}

/*
 * The core hands a provider the values of the keys it asks for, never the
 * keys its section holds, so a misspelt key would pass unseen. The section is
 * read again from the file OpenSSL loads by default (OPENSSL_CONF, else
 * OPENSSLDIR/openssl.cnf) and judged only when it is the one the core loaded
 * us from, every value in it the core's: a program loading another file
 * (OSSL_LIB_CTX_load_config) or none gets its keys applied unchecked.
 * 0, or -EINVAL with the reason in err.
 */
static int check_keys(const OSSL_CORE_HANDLE *handle, OSSL_FUNC_core_get_params_fn *get,
                      const char *name, char *err, size_t errlen)
{
    char *file = CONF_get1_default_config_file();
    CONF *conf = NCONF_new(NULL);
    STACK_OF(CONF_VALUE) *sect = NULL;
    const char *unknown = NULL;
    int rc = 0;

    /* A missing file or section is not an error of ours: keep the queue clean. */
    ERR_set_mark();
    if (file != NULL && conf != NULL && NCONF_load(conf, file, NULL) > 0)
        sect = provider_section(conf, name);
    for (int i = 0; sect != NULL && i < sk_CONF_VALUE_num(sect); i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sect, i);
        const char *given = NULL;
        OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_ptr(v->name, (char **)&given, 0),
                           OSSL_PARAM_construct_end() };

        if (!get(handle, p) || given == NULL || strcmp(given, v->value) != 0)
            goto out;
        if (unknown == NULL && !openssl_key(v->name) && rc_config_check_key(v->name, NULL, 0) != 0)
            unknown = v->name;
    }
    if (unknown != NULL)
        rc = rc_config_check_key(unknown, err, errlen);
out:
    ERR_pop_to_mark();
    NCONF_free(conf);
    OPENSSL_free(file);
    return rc;
}

/* Applies the provider section's runtime settings; the runtime's table names them. */
static int apply_config(const OSSL_CORE_HANDLE *handle, OSSL_FUNC_core_get_params_fn *get)
{
    const char *name = NULL, **values = NULL;
    OSSL_PARAM *params = NULL;
    char why[512];
    size_t n = 0;
    int rc, ok = 0;

    while (rc_config_key(n) != NULL)
        n++;
    values = calloc(n, sizeof(*values));
    params = calloc(n + 2, sizeof(*params));
    if (values == NULL || params == NULL) {
        rc_err_raise(RC_R_NO_MEMORY, "provider configuration");
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        params[k] = OSSL_PARAM_construct_utf8_ptr((char *)rc_config_key(k), (char **)&values[k], 0);
    params[n] = OSSL_PARAM_construct_utf8_ptr(OSSL_PROV_PARAM_CORE_PROV_NAME, (char **)&name, 0);
    params[n + 1] = OSSL_PARAM_construct_end();
    if (get != NULL && !get(handle, params)) {
        rc_err_raise(RC_R_BAD_CONFIG, "cannot read the provider's configuration");
        goto out;
    }
    if (name != NULL && check_keys(handle, get, name, why, sizeof(why)) != 0) {
        refuse(why);
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        if (values[k] == NULL)
            continue;
        rc = rc_config_set(rc_config_key(k), values[k]);
        /*
         * -EBUSY: another library context loaded ringcrypt first and the
         * runtime runs with what it was given; one process, one runtime.
         */
        if (rc != 0 && rc != -EBUSY) {
            refuse(rc_last_error());
            goto out;
        }
    }
    /* The environment is read now too, so a bad RINGCRYPT_* stops loading here. */
    if (rc_init() != 0) {
        rc_err_raise(RC_R_BAD_CONFIG, "%s", rc_last_error());
        goto out;
    }
    ok = 1;
out:
    free(params);
    free(values);
    return ok;
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
