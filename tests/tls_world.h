/*
 * The two ends of the in-process TLS tests (tls_handshake, pq_tls): a server
 * in a library context with ringcrypt alone and a client on the default
 * provider alone, a certificate of one of apps/cert.c's key types, and a
 * connection between them over a memory BIO pair.
 */
#ifndef RC_TEST_TLS_WORLD_H
#define RC_TEST_TLS_WORLD_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The name apps/cert.c certifies; the client checks it. */
#define TLS_WORLD_HOST "localhost"

struct tls_world {
    OSSL_LIB_CTX *slib;     /* ringcrypt alone */
    OSSL_LIB_CTX *clib;     /* the default provider alone */
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *sctx, *cctx;   /* the test makes them; tls_world_fini frees them */
};

/*
 * The libraries and a self-signed certificate of key_type, made outside any
 * job (nothing of it is offloaded). 0, or -EPROTO with the errors printed and
 * nothing left to free.
 */
int tls_world_init(struct tls_world *w, const char *key_type);

void tls_world_fini(struct tls_world *w);

/*
 * A client context in the client's library that verifies its peer and
 * trusts the certificate alone (its own copy, decoded there). NULL on failure.
 */
SSL_CTX *tls_world_client_ctx(const struct tls_world *w);

/*
 * A server SSL and a client SSL of the world's contexts, joined by a BIO pair
 * of pair_bytes each way, in accept and connect state; the client checks the
 * certificate's name. 0, or -EPROTO with the errors printed and nothing made.
 */
int tls_world_connect(const struct tls_world *w, size_t pair_bytes, SSL **server, SSL **client);

/*
 * What the server's TLS handshake offloads for its key exchange, besides its
 * signature, when it agreed on group (in any case, as the release names it):
 * how many, and what they are in *what. 0 for the groups ringcrypt does not
 * wrap (X448, FFDHE).
 */
int tls_key_exchange_offloads(const char *group, const char **what);

/* What a test's client sends: n bytes of a fixed pattern, the same in every run. */
void tls_world_message(unsigned char *buf, size_t n);

#endif
