/* A self-signed certificate for the echo server when none is given. */
#ifndef RC_APPS_CERT_H
#define RC_APPS_CERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * A fresh key of type "rsa" (2048 bits) or "ec" (P-256) made in libctx, and a
 * certificate for CN=localhost signed with it, valid for a day. 0 or -1.
 */
int cert_make_self_signed(OSSL_LIB_CTX *libctx, const char *key_type, EVP_PKEY **key, X509 **cert);

#endif
