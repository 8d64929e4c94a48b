/* A self-signed certificate for the echo server when none is given. */
#ifndef RC_APPS_CERT_H
#define RC_APPS_CERT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * The key types by the names --key-type takes: "rsa" (2048 bits), "ec"
 * (P-256), "mldsa44", "mldsa65", "mldsa87" and the twelve SLH-DSA sets
 * ("slhdsa-sha2-128f", ...), cert_n_key_types of them.
 */
extern const char *const cert_key_types[];
extern const unsigned int cert_n_key_types;

/* OpenSSL's name of key_type ("ML-DSA-65" for "mldsa65", "RSA" for "rsa"); NULL if unknown. */
const char *cert_key_alg(const char *key_type);

/*
 * Whether this OpenSSL can make a key of key_type and sign a TLS 1.3
 * handshake with it: 0, or -ENOENT when it has no such algorithm ("OpenSSL
 * 3.0.19 has no ML-DSA" in why), -ENOTSUP when it has one but no TLS
 * signature scheme for it (SLH-DSA in 3.5), -EINVAL for an unknown type.
 */
int cert_key_type_check(const char *key_type, char *why, size_t len);

/*
 * A fresh key of key_type made in libctx, and a certificate for CN=localhost
 * signed with it, valid for a day. 0 or -1.
 */
int cert_make_self_signed(OSSL_LIB_CTX *libctx, const char *key_type, EVP_PKEY **key, X509 **cert);

#endif
