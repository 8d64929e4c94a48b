#include "cert.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define N_TYPES 17

const char *const cert_key_types[N_TYPES] = {
    "rsa", "ec", "mldsa44", "mldsa65", "mldsa87",
    "slhdsa-sha2-128s", "slhdsa-sha2-128f", "slhdsa-sha2-192s", "slhdsa-sha2-192f",
    "slhdsa-sha2-256s", "slhdsa-sha2-256f", "slhdsa-shake-128s", "slhdsa-shake-128f",
    "slhdsa-shake-192s", "slhdsa-shake-192f", "slhdsa-shake-256s", "slhdsa-shake-256f",
};
const unsigned int cert_n_key_types = N_TYPES;

/* OpenSSL's names of the same, in the same order. */
static const char *const algs[N_TYPES] = {
    "RSA", "EC", "ML-DSA-44", "ML-DSA-65", "ML-DSA-87",
    "SLH-DSA-SHA2-128s", "SLH-DSA-SHA2-128f", "SLH-DSA-SHA2-192s", "SLH-DSA-SHA2-192f",
    "SLH-DSA-SHA2-256s", "SLH-DSA-SHA2-256f", "SLH-DSA-SHAKE-128s", "SLH-DSA-SHAKE-128f",
    "SLH-DSA-SHAKE-192s", "SLH-DSA-SHAKE-192f", "SLH-DSA-SHAKE-256s", "SLH-DSA-SHAKE-256f",
};

/* Where "DSA" ends in "ML-DSA-65" or "SLH-DSA-SHA2-128f" (the family before it); NULL for RSA and EC. */
static const char *dsa_in(const char *alg)
{
    const char *dsa = strstr(alg, "DSA");

    return dsa != NULL ? dsa + 3 : NULL;
}

const char *cert_key_alg(const char *key_type)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(cert_key_types[i], key_type) == 0)
            return algs[i];
    return NULL;
}

struct sigalg_search {
    const char *alg;
    bool found;
};

/* A scheme's key type is its "tls-sigalg-keytype", else its signature's name, else its own name. */
static int note_sigalg(const OSSL_PARAM params[], void *arg)
{
    static const char *const keys[] = { "tls-sigalg-keytype", "tls-sigalg-sig-name", "tls-sigalg-name" };
    struct sigalg_search *s = arg;
    const OSSL_PARAM *p = NULL;
    const char *keytype = NULL;

    for (size_t i = 0; p == NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
        p = OSSL_PARAM_locate_const(params, keys[i]);
    if (p != NULL && OSSL_PARAM_get_utf8_string_ptr(p, &keytype) && strcmp(keytype, s->alg) == 0)
        s->found = true;
    return 1;
}

int cert_key_type_check(const char *key_type, char *why, size_t len)
{
    const char *alg = cert_key_alg(key_type), *version = OpenSSL_version(OPENSSL_VERSION_STRING);
    struct sigalg_search search = { alg, false };
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov = NULL;
    EVP_KEYMGMT *km = NULL;
    int rc = -EINVAL, family;

    if (alg == NULL) {
        snprintf(why, len, "no such key type");
        goto out;
    }
    rc = 0;
    /* Every release has RSA and EC, and libssl signs with them itself. */
    if (dsa_in(alg) == NULL)
        goto out;
    family = (int)(dsa_in(alg) - alg);
    libctx = OSSL_LIB_CTX_new();
    prov = libctx != NULL ? OSSL_PROVIDER_load(libctx, "default") : NULL;
    km = prov != NULL ? EVP_KEYMGMT_fetch(libctx, alg, NULL) : NULL;
    if (km == NULL) {
        snprintf(why, len, "OpenSSL %s has no %.*s", version, family, alg);
        rc = -ENOENT;
        goto out;
    }
    /* Any other key type signs a handshake only where its provider gives it a TLS signature scheme. */
    OSSL_PROVIDER_get_capabilities(prov, "TLS-SIGALG", note_sigalg, &search);
    if (!search.found) {
        snprintf(why, len, "OpenSSL %s has no TLS signature scheme for %.*s", version, family, alg);
        rc = -ENOTSUP;
    }
out:
    ERR_clear_error();
    EVP_KEYMGMT_free(km);
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return rc;
}

static EVP_PKEY *make_key(OSSL_LIB_CTX *libctx, const char *alg)
{
    if (strcmp(alg, "RSA") == 0)
        return EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)2048);
    if (strcmp(alg, "EC") == 0)
        return EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256");
    return EVP_PKEY_Q_keygen(libctx, NULL, alg);
}

int cert_make_self_signed(OSSL_LIB_CTX *libctx, const char *key_type, EVP_PKEY **key, X509 **cert)
{
    const char *alg = cert_key_alg(key_type);
    EVP_PKEY *k = alg != NULL ? make_key(libctx, alg) : NULL;
    X509 *x = X509_new_ex(libctx, NULL);
    X509_NAME *name = X509_NAME_new(); /* X509_get_subject_name is const since OpenSSL 4.0 */
    /* ML-DSA and SLH-DSA sign the whole certificate themselves: no digest is given. */
    const EVP_MD *md = alg != NULL && dsa_in(alg) != NULL ? NULL : EVP_sha256();
    int rc = -1;

    if (k == NULL || x == NULL || name == NULL || !X509_set_version(x, 2)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1)
        || !X509_gmtime_adj(X509_getm_notBefore(x), 0)
        || !X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) || !X509_set_pubkey(x, k)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"localhost", -1, -1, 0)
        || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name)
        || !X509_sign(x, k, md))
        goto out;
    *key = k;
    *cert = x;
    k = NULL;
    x = NULL;
    rc = 0;
out:
    X509_NAME_free(name);
    EVP_PKEY_free(k);
    X509_free(x);
    return rc;
}
