#include "cert.h"

#include <string.h>

int cert_make_self_signed(OSSL_LIB_CTX *libctx, const char *key_type, EVP_PKEY **key, X509 **cert)
{
    EVP_PKEY *k = strcmp(key_type, "ec") == 0 ? EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256")
                                              : EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)2048);
    X509 *x = X509_new_ex(libctx, NULL);
    X509_NAME *name = X509_NAME_new(); /* X509_get_subject_name is const since OpenSSL 4.0 */
    int rc = -1;

    if (k == NULL || x == NULL || name == NULL || !X509_set_version(x, 2)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1)
        || !X509_gmtime_adj(X509_getm_notBefore(x), 0)
        || !X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) || !X509_set_pubkey(x, k)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *)"localhost", -1, -1, 0)
        || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name)
        || !X509_sign(x, k, EVP_sha256()))
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
