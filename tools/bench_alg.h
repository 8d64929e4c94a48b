/* The crypto operations ringcrypt-bench --alg measures, through any library context. */
#ifndef RC_BENCH_ALG_H
#define RC_BENCH_ALG_H

#include <openssl/crypto.h>

struct bench_alg;

/* "rsa2048", "ecdsap256", "x25519", "aes128gcm-16k", "chacha-1k", ...; NULL if unknown. */
const struct bench_alg *bench_alg_find(const char *name);
const char *bench_alg_names(void);

/* Keys for alg in libctx, shared by every state made from them. NULL on failure. */
struct bench_keys *bench_keys_new(const struct bench_alg *alg, OSSL_LIB_CTX *libctx);
void bench_keys_free(struct bench_keys *keys);

/* One job's contexts; bench_op runs one operation (1 ok, 0 failed). */
struct bench_state *bench_state_new(struct bench_keys *keys);
int bench_op(struct bench_state *st);
void bench_state_free(struct bench_state *st);

#endif
