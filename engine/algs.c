#include "algs.h"

#include <openssl/provider.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actx.h"

/*
 * The wrap table: the algorithms whose expensive call goes through the
 * runtime. Everything else of the default provider's is offered unchanged.
 */
struct rc_alg rc_wrapped[RC_SLOTS] = {
    { &rc_op_signature, "RSA", RC_ALG_CHECK_PUBLIC, NULL, { 0 } },
    { &rc_op_signature, "ECDSA", 0, NULL, { 0 } },
    { &rc_op_signature, "ED25519", 0, NULL, { 0 } },
    { &rc_op_asym_cipher, "RSA", 0, NULL, { 0 } },
    { &rc_op_keyexch, "ECDH", 0, NULL, { 0 } },
    { &rc_op_keyexch, "X25519", 0, NULL, { 0 } },
    { &rc_op_keymgmt, "X25519", 0, NULL, { 0 } },
    { &rc_op_cipher, "AES-128-GCM", 0, "gcm(aes)", { 0 } },
    { &rc_op_cipher, "AES-256-GCM", 0, "gcm(aes)", { 0 } },
    { &rc_op_cipher, "ChaCha20-Poly1305", 0, "rfc7539(chacha20,poly1305)", { 0 } },
    { &rc_op_cipher, "AES-128-CBC", 0, "cbc(aes)", { 0 } },
    { &rc_op_cipher, "AES-256-CBC", 0, "cbc(aes)", { 0 } },
    { &rc_op_digest, "SHA2-256", 0, "sha256", { 0 } },
    { &rc_op_digest, "SHA2-384", 0, "sha384", { 0 } },
    { &rc_op_digest, "SHA2-512", 0, "sha512", { 0 } },
    { &rc_op_mac, "HMAC", 0, NULL, { 0 } },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Built once and kept: requests in flight may use them after the last teardown. */
static const OSSL_ALGORITHM *built[OSSL_OP__HIGHEST + 1];
static bool tried[OSSL_OP__HIGHEST + 1];

static bool first_name_is(const char *names, const char *name)
{
    size_t len = strcspn(names, ":");

    return strlen(name) == len && strncasecmp(names, name, len) == 0;
}

static int find_slot(int operation_id, const char *names)
{
    for (int n = 0; n < RC_SLOTS; n++)
        if (rc_wrapped[n].op != NULL && rc_wrapped[n].op->operation == operation_id
            && first_name_is(names, rc_wrapped[n].name))
            return n;
    return -1;
}

static bool listed(const int *ids, int id)
{
    for (; ids != NULL && *ids != 0; ids++)
        if (*ids == id)
            return true;
    return false;
}

static rc_fn our_fn(const struct rc_opdesc *op, int n, int id)
{
    if (id == op->ctor_id)
        return op->ctor == RC_CTOR_NEWCTX         ? rc_slot_fns[n].newctx
               : op->ctor == RC_CTOR_NEWCTX_PROPQ ? rc_slot_fns[n].newctx_propq
                                                  : rc_slot_fns[n].gen_init;
    for (int r = 0; r < RC_TABLES; r++)
        if (op->table_ids[r] == id)
            return rc_slot_fns[n].table[r];
    for (const struct rc_fwd *f = op->fwd; f->id != 0; f++)
        if (f->id == id)
            return f->fn;
    return NULL;
}

/* Our dispatch for slot n, around the default provider's implementation src. */
static const OSSL_DISPATCH *wrap_dispatch(int n, const OSSL_DISPATCH *src)
{
    struct rc_alg *alg = &rc_wrapped[n];
    const struct rc_opdesc *op = alg->op;
    size_t count = 0, k = 0;
    OSSL_DISPATCH *d;

    while (src[count].function_id != 0)
        count++;
    d = calloc(count + 1, sizeof(*d));
    if (d == NULL)
        return NULL;
    for (const OSSL_DISPATCH *f = src; f->function_id != 0; f++) {
        int id = f->function_id;
        rc_fn ours = NULL;

        if (id < RC_FN_MAX) {
            alg->fn[id] = f->function;
            ours = our_fn(op, n, id);
        }
        if (ours != NULL)
            d[k++] = (OSSL_DISPATCH){ id, ours };
        else if (op->pass_rest || listed(op->pass, id))
            d[k++] = *f;
        /* Anything else would receive our context where it expects its own: leave it out. */
    }
    return d;
}

/* "provider=default,..." becomes "provider=ringcrypt,...". */
static const char *rename_provider(const char *props)
{
    static const char from[] = "provider=default", to[] = "provider=ringcrypt";
    const char *at = props != NULL ? strstr(props, from) : NULL;
    size_t head;
    char *s;

    if (at == NULL)
        return props;
    head = (size_t)(at - props);
    s = malloc(strlen(props) - strlen(from) + strlen(to) + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, props, head);
    strcpy(s + head, to);
    strcat(s, at + strlen(from));
    return s;
}

static const OSSL_ALGORITHM *build(OSSL_PROVIDER *dflt, int operation_id)
{
    int no_cache = 0;
    const OSSL_ALGORITHM *src = OSSL_PROVIDER_query_operation(dflt, operation_id, &no_cache);
    OSSL_ALGORITHM *out;
    size_t count = 0;

    if (src == NULL)
        return NULL;
    while (src[count].algorithm_names != NULL)
        count++;
    out = calloc(count + 1, sizeof(*out));
    if (out == NULL)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        int n = find_slot(operation_id, src[i].algorithm_names);

        out[i] = src[i];
        out[i].property_definition = rename_provider(src[i].property_definition);
        if (n >= 0)
            out[i].implementation = wrap_dispatch(n, src[i].implementation);
        if (out[i].property_definition == NULL || out[i].implementation == NULL)
            goto fail;
    }
    OSSL_PROVIDER_unquery_operation(dflt, operation_id, src);
    return out;
fail:
    /* What was built stays allocated: nothing frees part of a table some caller may hold. */
    OSSL_PROVIDER_unquery_operation(dflt, operation_id, src);
    return NULL;
}

const OSSL_ALGORITHM *rc_algs_query(OSSL_PROVIDER *dflt, int operation_id)
{
    const OSSL_ALGORITHM *algs = NULL;

    if (operation_id < 1 || operation_id > OSSL_OP__HIGHEST)
        return NULL;
    pthread_mutex_lock(&lock);
    if (!tried[operation_id]) {
        built[operation_id] = build(dflt, operation_id);
        tried[operation_id] = true;
    }
    algs = built[operation_id];
    pthread_mutex_unlock(&lock);
    return algs;
}
