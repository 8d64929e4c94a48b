/* The crypto operations ringcrypt-bench --alg measures, through any library context. */
#ifndef RC_BENCH_ALG_H
#define RC_BENCH_ALG_H

#include <openssl/crypto.h>
#include <stdbool.h>

struct bench_alg;

/*
 * "rsa2048", "ecdsap256", "x25519", "mldsa65", "slhdsa-sha2-128f", "mlkem768",
 * "x25519mlkem768", "aes128gcm-16k", "chacha-1k", ...; NULL if unknown. Each
 * measures its own operation: sign, derive, seal, or encapsulate.
 */
const struct bench_alg *bench_alg_find(const char *name);
const char *bench_alg_names(void);

/* alg measuring another operation, op one of bench_alg_ops(alg) ("encaps, decaps, keygen"); NULL if not. */
const struct bench_alg *bench_alg_op(const struct bench_alg *alg, const char *op);
const char *bench_alg_ops(const struct bench_alg *alg);
/* "sign", "derive", "seal", "encaps", "decaps" or "keygen". */
const char *bench_alg_op_name(const struct bench_alg *alg);

/* Whether libctx has alg's key type or cipher, named by bench_alg_type (OpenSSL 3.0 has no ML-KEM). */
bool bench_alg_supported(const struct bench_alg *alg, OSSL_LIB_CTX *libctx);
const char *bench_alg_type(const struct bench_alg *alg);

/* Keys for alg in libctx, shared by every state made from them. NULL on failure. */
struct bench_keys *bench_keys_new(const struct bench_alg *alg, OSSL_LIB_CTX *libctx);
void bench_keys_free(struct bench_keys *keys);

/* One job's contexts; bench_op runs one operation (1 ok, 0 failed). */
struct bench_state *bench_state_new(struct bench_keys *keys);
int bench_op(struct bench_state *st);
void bench_state_free(struct bench_state *st);

#endif
