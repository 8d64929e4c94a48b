/*
 * The kernel's form of digests and HMAC (AF_ALG sha256/384/512 and
 * hmac(sha256/384), through the runtime). The kernel digests a message in
 * one call, while EVP streams: a message is kept whole, up to
 * RC_KERNEL_MAX_BYTES, and digested at final, in the kernel when the runtime
 * uses it there. A longer message, or a context the kernel cannot serve, is
 * handed to the default provider's context as it comes, as if nothing were
 * in between.
 */
#ifndef RC_ENGINE_KDIGEST_H
#define RC_ENGINE_KDIGEST_H

#include <openssl/core.h>
#include <stdbool.h>
#include <stddef.h>

#include "actx.h"

struct rc_kdigest;

/* A digest: the kernel's name for it (NULL: not there). 1, or 0 out of memory. */
int rc_kdigest_use(struct rc_actx *w, const char *alg);

/*
 * HMAC's parameters: when named, the kernel's name for the digest just named
 * (NULL: not there), in force from the next key, as the default provider
 * does; when key is not NULL, the key, which starts a new message. 1, or 0.
 */
int rc_kdigest_learn(struct rc_actx *w, bool named, const char *alg, const unsigned char *key,
                     size_t keylen);

/* Never the kernel for this context (HMAC over TLS records must stay constant-time). 1, or 0. */
int rc_kdigest_never(struct rc_actx *w);

/*
 * At init, after the default provider's succeeded: a new message. update_id
 * and final_id are the default provider's function ids. 1, or 0.
 */
int rc_kdigest_start(struct rc_actx *w, int update_id, int final_id);

/* update and final, for digests and MACs alike (dispatch functions): OpenSSL's 1 or 0. */
int rc_kdigest_update(void *w, const unsigned char *in, size_t inl);
int rc_kdigest_final(void *w, unsigned char *out, size_t *outl, size_t outsize);

/*
 * The default provider's context made to hold the whole message so far, and
 * to take the rest as it comes: with keep, the part kept for the kernel goes
 * into it; without, that part is dropped (the context was just given a state
 * of its own). 1, or 0 when the default provider refused the kept part.
 */
int rc_kdigest_software(struct rc_actx *w, bool keep);

/*
 * After the default provider's copyctx copied in's context into out's: out
 * gets the part of in's message kept for the kernel and carries on in
 * software. in is only read. 1, or 0 (out cannot be used: out of memory).
 */
int rc_kdigest_copy(struct rc_actx *out, const struct rc_actx *in);

struct rc_kdigest *rc_kdigest_dup(const struct rc_kdigest *d);
void rc_kdigest_free(struct rc_kdigest *d);

#endif
