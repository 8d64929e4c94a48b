/*
 * The kernel's form of cipher calls (AF_ALG, through the runtime), for the
 * wrapped ciphers the kernel has: AES-GCM and ChaCha20-Poly1305 as
 * gcm(aes) and rfc7539(chacha20,poly1305), AES-CBC as cbc(aes).
 *
 * The default provider's context stays the source of truth: every call but
 * the data calls the kernel takes reaches it, so any call the kernel cannot
 * take simply goes there.
 *
 * AEAD: the kernel needs a whole message in one call (AAD, data, and the tag
 * to check), while EVP streams. The first data call of a message goes to the
 * kernel as if it were the whole message (TLS 1.3 records are); the
 * answer is handed out and the input kept. Should a second data call come,
 * the kept input is first fed to the default provider's context, which then
 * carries on as if it had seen it all along (encryption is deterministic, so
 * what was handed out stays right). A decryption the kernel refuses (its tag
 * did not match, or the message was not whole) is redone by the default
 * provider, whose final then decides.
 *
 * CBC: whole blocks go to the kernel with the chaining IV tracked here, and
 * the default provider's context is given that IV before it is next used.
 * With padding, a decryption's last block is left to the default provider,
 * which checks the padding at final. Of TLS 1.x records (tls-version set),
 * those sent are padded here and go to the kernel; those received are the
 * default provider's, which removes their padding and MAC in constant time.
 */
#ifndef RC_ENGINE_KCIPHER_H
#define RC_ENGINE_KCIPHER_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <stddef.h>

#include "actx.h"

/* The default provider's cipher function of w, by name. */
#define RC_CIPHER_FN(w, type, ID)                                                \
    ((OSSL_FUNC_cipher_##type##_fn *)rc_alg_fn((w)->alg, OSSL_FUNC_CIPHER_##ID))

struct rc_kcipher;

/* The software data call of a cipher op (prov_cipher.c): exec of its rc_op. */
int rc_cipher_exec(struct rc_op *op);

/* After the default provider's init succeeded: 1, or 0 when out of memory. */
int rc_kcipher_init(struct rc_actx *w, const unsigned char *key, size_t keylen,
                    const unsigned char *iv, size_t ivlen);

/*
 * The same, for a key given as an object of the default provider's (an
 * EVP_SKEY), whose bytes are not ours to see: the kernel form is not used
 * until a key is next given as bytes.
 */
int rc_kcipher_init_opaque(struct rc_actx *w, const unsigned char *iv, size_t ivlen);

/*
 * Before the default provider sees p: learns the tag, padding and TLS
 * version; what the kernel's call could not have honoured (a tag or IV
 * changed after it) hands the message to the default provider. 1, or 0.
 */
int rc_kcipher_set_params(struct rc_actx *w, const OSSL_PARAM p[]);

/* AAD for the current message (an update without output): 1, or 0. */
int rc_kcipher_aad(struct rc_actx *w, const unsigned char *in, size_t inl);

/*
 * A data call: 1 or 0 as OpenSSL expects when the kernel form took it, -1
 * when the default provider's context must (brought up to date first).
 */
int rc_kcipher_update(struct rc_actx *w, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl);

/* Brings the default provider's context up to date for a call of its own: 1 or 0. */
int rc_kcipher_software(struct rc_actx *w);

/* final and get_ctx_params: 1 or 0 when the kernel form answers, -1 otherwise. */
int rc_kcipher_final(struct rc_actx *w, size_t *outl);
int rc_kcipher_get_params(struct rc_actx *w, OSSL_PARAM p[]);

struct rc_kcipher *rc_kcipher_dup(const struct rc_kcipher *k);
void rc_kcipher_free(struct rc_kcipher *k);

#endif
