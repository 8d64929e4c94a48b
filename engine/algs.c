#include "algs.h"

#include <errno.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actx.h"
#include "ringcrypt.h"

/*
 * The wrap table: the algorithms whose expensive call goes through the
 * runtime. Everything else of the default provider's is offered unchanged.
 * The RSA-SHA2-* and ECDSA-SHA2-* rows are the signature algorithms with a
 * digest built in that OpenSSL 3.4 added for its message API
 * (EVP_PKEY_sign_message_*); releases without them never match the rows,
 * nor releases before 3.5 the post-quantum ones: ML-DSA and SLH-DSA
 * signatures, ML-KEM and its hybrids (encapsulation, and the key generation
 * of the TLS client's key share).
 */
struct rc_alg rc_wrapped[RC_SLOTS] = {
    { &rc_op_signature, "RSA", NULL, { 0 } },
    { &rc_op_signature, "ECDSA", NULL, { 0 } },
    { &rc_op_signature, "ED25519", NULL, { 0 } },
    { &rc_op_signature, "RSA-SHA2-256", NULL, { 0 } },
    { &rc_op_signature, "RSA-SHA2-384", NULL, { 0 } },
    { &rc_op_signature, "RSA-SHA2-512", NULL, { 0 } },
    { &rc_op_signature, "ECDSA-SHA2-256", NULL, { 0 } },
    { &rc_op_signature, "ECDSA-SHA2-384", NULL, { 0 } },
    { &rc_op_signature, "ECDSA-SHA2-512", NULL, { 0 } },
    { &rc_op_signature, "ML-DSA-44", NULL, { 0 } },
    { &rc_op_signature, "ML-DSA-65", NULL, { 0 } },
    { &rc_op_signature, "ML-DSA-87", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-128s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-128f", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-192s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-192f", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-256s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHA2-256f", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-128s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-128f", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-192s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-192f", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-256s", NULL, { 0 } },
    { &rc_op_signature, "SLH-DSA-SHAKE-256f", NULL, { 0 } },
    { &rc_op_asym_cipher, "RSA", NULL, { 0 } },
    { &rc_op_keyexch, "ECDH", NULL, { 0 } },
    { &rc_op_keyexch, "X25519", NULL, { 0 } },
    { &rc_op_keymgmt, "X25519", NULL, { 0 } },
    { &rc_op_kem, "ML-KEM-512", NULL, { 0 } },
    { &rc_op_kem, "ML-KEM-768", NULL, { 0 } },
    { &rc_op_kem, "ML-KEM-1024", NULL, { 0 } },
    { &rc_op_kem, "X25519MLKEM768", NULL, { 0 } },
    { &rc_op_kem, "X448MLKEM1024", NULL, { 0 } },
    { &rc_op_kem, "SecP256r1MLKEM768", NULL, { 0 } },
    { &rc_op_kem, "SecP384r1MLKEM1024", NULL, { 0 } },
    { &rc_op_keymgmt, "ML-KEM-512", NULL, { 0 } },
    { &rc_op_keymgmt, "ML-KEM-768", NULL, { 0 } },
    { &rc_op_keymgmt, "ML-KEM-1024", NULL, { 0 } },
    { &rc_op_keymgmt, "X25519MLKEM768", NULL, { 0 } },
    { &rc_op_keymgmt, "X448MLKEM1024", NULL, { 0 } },
    { &rc_op_keymgmt, "SecP256r1MLKEM768", NULL, { 0 } },
    { &rc_op_keymgmt, "SecP384r1MLKEM1024", NULL, { 0 } },
    { &rc_op_cipher, "AES-128-GCM", "gcm(aes)", { 0 } },
    { &rc_op_cipher, "AES-256-GCM", "gcm(aes)", { 0 } },
    { &rc_op_cipher, "ChaCha20-Poly1305", "rfc7539(chacha20,poly1305)", { 0 } },
    { &rc_op_cipher, "AES-128-CBC", "cbc(aes)", { 0 } },
    { &rc_op_cipher, "AES-256-CBC", "cbc(aes)", { 0 } },
    { &rc_op_digest, "SHA2-256", "sha256", { 0 } },
    { &rc_op_digest, "SHA2-384", "sha384", { 0 } },
    { &rc_op_digest, "SHA2-512", "sha512", { 0 } },
    { &rc_op_mac, "HMAC", NULL, { 0 } },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Built once and kept: requests in flight may use them after the last teardown. */
static const OSSL_ALGORITHM *built[OSSL_OP__HIGHEST + 1];
static bool tried[OSSL_OP__HIGHEST + 1];
/* What was offered unwrapped, and why (rc_algs_unwrapped); appended to under lock. */
static char unwrapped[2048];
/* A forwarder the tests make wrap_dispatch believe it lacks: in their builds only ($b/testing/). */
#ifdef RC_TESTING
static int forget_operation, forget_id;
#define FORGOTTEN(operation, id) ((operation) == forget_operation && (id) == forget_id)
#else
#define FORGOTTEN(operation, id) false
#endif

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

/* Notes, under lock, that slot n is offered as the default provider has it, and why. */
static void note_unwrapped(int n, const char *fmt, int id)
{
    size_t used = strlen(unwrapped);
    char why[128];

    snprintf(why, sizeof(why), fmt, id);
    snprintf(unwrapped + used, sizeof(unwrapped) - used, "%s (operation %d): %s\n",
             rc_wrapped[n].name, rc_wrapped[n].op->operation, why);
    /* Servers lose the offload, never the algorithm: whoever runs them should know. */
    fprintf(stderr, "ringcrypt: %s (operation %d) offered without offload: %s\n",
            rc_wrapped[n].name, rc_wrapped[n].op->operation, why);
}

/*
 * Our dispatch for slot n, around the default provider's implementation src;
 * src itself when one of its functions cannot be forwarded (see algs.h).
 */
static const OSSL_DISPATCH *wrap_dispatch(int n, const OSSL_DISPATCH *src)
{
    struct rc_alg *alg = &rc_wrapped[n];
    const struct rc_opdesc *op = alg->op;
    size_t count = 0, k = 0;
    OSSL_DISPATCH *d;

    /* Every forwarder calls the functions of one implementation: a second one stays as it is. */
    if (alg->fn[op->ctor_id] != NULL) {
        note_unwrapped(n, "a second implementation (function %d)", op->ctor_id);
        return src;
    }
    while (src[count].function_id != 0)
        count++;
    d = calloc(count + 1, sizeof(*d));
    if (d == NULL) {
        note_unwrapped(n, "out of memory for %d functions", (int)count);
        return src;
    }
    for (const OSSL_DISPATCH *f = src; f->function_id != 0; f++) {
        int id = f->function_id;
        rc_fn ours = NULL;

        if (id < RC_FN_MAX && !FORGOTTEN(op->operation, id))
            ours = our_fn(op, n, id);
        if (ours != NULL) {
            d[k++] = (OSSL_DISPATCH){ id, ours };
        } else if (listed(op->pass, id)) {
            d[k++] = *f;
        } else {
            /* It would receive our context where it expects its own: nothing of ours then. */
            note_unwrapped(n, "function %d has no forwarder", id);
            free(d);
            return src;
        }
    }
    for (const OSSL_DISPATCH *f = src; f->function_id != 0; f++)
        if (f->function_id < RC_FN_MAX)
            alg->fn[f->function_id] = f->function;
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

int rc_algs_unwrapped(OSSL_PARAM *p)
{
    int ok;

    pthread_mutex_lock(&lock);
    ok = OSSL_PARAM_set_utf8_string(p, unwrapped);
    pthread_mutex_unlock(&lock);
    return ok;
}

#ifdef RC_TESTING
/*
 * Tests see what an algorithm with a function we cannot forward becomes:
 * wrap_dispatch treats id of operation as one without a forwarder. 0, or
 * -EBUSY when that operation's algorithms were already built.
 */
RC_API int rc_testing_forget_forwarder(int operation, int id)
{
    int rc = 0;

    if (operation < 1 || operation > OSSL_OP__HIGHEST)
        return -EINVAL;
    pthread_mutex_lock(&lock);
    if (tried[operation]) {
        rc = -EBUSY;
    } else {
        forget_operation = operation;
        forget_id = id;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
#endif
