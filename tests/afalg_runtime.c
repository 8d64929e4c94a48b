/*
 * The AF_ALG backend on a kernel that has AF_ALG: runs only inside the VM
 * (tools/vm), where AF_ALG must exist, so its absence is a failure here, not
 * a skip. Every scenario but offers and the *_refused ones runs with
 * RINGCRYPT_BACKEND=afalg, and each checks answers, not that something ran:
 *
 *   offers           what this kernel's AF_ALG offers, asked directly, per
 *                    algorithm: the driver, bind, key, accept, an operation
 *                    sent whole (the backend's way), in two sends (MSG_MORE)
 *                    and spliced (OpenSSL's afalg engine's way), each answer
 *                    EVP's; printed as a table (the VM suite's report). With
 *                    backend auto the runtime uses exactly the algorithms
 *                    whose operation works, through rc_kernel_run too
 *   probe            the eight algorithms found and in use; outside a job the
 *                    work function answers
 *   wycheproof_core  AES-GCM, ChaCha20-Poly1305, AES-CBC-PKCS5 and HMAC-SHA256
 *   wycheproof_fd    vectors, every one, both directions where they apply, on
 *                    a core and then on the workers (fd mode, no core): the
 *                    kernel where the API says it takes the operation, the
 *                    work function (EVP) where not, counted and checked
 *   many_in_flight   256 AES-GCM encryptions in flight on one core, one key
 *   key_changes      the same over 8 keys in turn; freed keys' sockets closed
 *   pool_exhausted   2 kernel sockets for 64 operations over 4 keys
 *   tiny_ring        64 operations, two CQEs each, through a CQ of 4
 *   fd_loop          a loop that turns the core only when rc_core_fd wakes it
 *   tag_failure      a bad tag: -EBADMSG, output wiped, the socket closed, the
 *                    key still good; GCM's shorter tags made and checked
 *   core_destroyed   the core destroyed under 64 kernel operations
 *   deadline         1 ms deadlines: right answers or -ETIMEDOUT, nothing else
 *   digests          every algorithm from nothing (a block for CBC) to the
 *                    largest input and one past it, one key each: sockets
 *                    reused from one operation to the next
 *   local_sockets    without a core, the thread's own pool closes a freed key's
 *                    sockets at once
 *   small_send_buffer  send buffers smaller than an operation: the work
 *                    function takes it, on a core and without one
 *   fork_child       a fork child freeing a key leaves its parent's sockets alone
 *   one_refused      the kernel made to refuse for real (modules unloaded, the
 *   aeads_refused    module loader pointed at /bin/false; a seccomp filter for
 *   all_refused      keys): one algorithm (chacha20poly1305 gone), the AEADs
 *   keys_refused     (algif_aead gone), all of them (every algif module gone),
 *                    every key (setsockopt ALG_SET_KEY fails). With afalg the
 *                    start-up names each refused algorithm with the call and
 *                    errno (all refused: it fails, naming them), with auto it
 *                    says nothing; either way each algorithm's operation on a
 *                    core is the kernel's exactly where it is not refused, and
 *                    EVP's answer everywhere
 *
 * References are OpenSSL's default provider (EVP) and the vectors. A request's
 * context holds its rc_kernel_op, the same operation's parameters for the work
 * function, and every buffer both point to: the request may outlive its job.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_alg.h>
#include <linux/seccomp.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT_MS 120000
#define LONG_HMAC_KEY 129 /* longer than SHA-384's block: HMAC hashes it first */
#define MAX_KEY LONG_HMAC_KEY /* Wycheproof's longest is 65 bytes */
#define MAX_REPORTS 20    /* failures printed per file; every one is counted */
#define TAG 16
#define MAX_JOBS 256
#define FLIGHT_AAD 13
#define FLIGHT_MSG 16384
#define MAX_FLIGHT_KEYS 8

enum kind { AEAD, CBC, HASH, HMAC };

struct alg {
    const char *name; /* the kernel's */
    enum kind kind;
    const char *evp;  /* EVP's: ciphers by the key's bits, digests by name */
    size_t mdlen;
};

static const struct alg gcm = { "gcm(aes)", AEAD, "AES-%zu-GCM", 0 };
static const struct alg chacha = { "rfc7539(chacha20,poly1305)", AEAD, "ChaCha20-Poly1305", 0 };
static const struct alg cbc = { "cbc(aes)", CBC, "AES-%zu-CBC", 0 };
static const struct alg sha256 = { "sha256", HASH, "SHA256", 32 };
static const struct alg sha384 = { "sha384", HASH, "SHA384", 48 };
static const struct alg sha512 = { "sha512", HASH, "SHA512", 64 };
static const struct alg hmac256 = { "hmac(sha256)", HMAC, "SHA256", 32 };
static const struct alg hmac384 = { "hmac(sha384)", HMAC, "SHA384", 48 };

static const struct alg *const algs[] = { &gcm, &chacha, &cbc, &sha256,
                                          &sha384, &sha512, &hmac256, &hmac384 };

/* ---- requests: the kernel form and the work function's ------------------------ */

struct kctx {
    struct rc_kernel_op op;
    const struct alg *alg;
    unsigned int tagsize;
    size_t keylen, ivlen;
    unsigned char key[MAX_KEY];
    unsigned char *iv; /* the whole IV; op.iv has room for 16 bytes */
    _Atomic int *released;
    unsigned char buf[]; /* IV, input, output */
};

static unsigned char *kin(struct kctx *k)
{
    return k->buf + k->ivlen;
}

static EVP_CIPHER *fetch_cipher(const struct kctx *k)
{
    EVP_CIPHER *c;
    char name[32];

    snprintf(name, sizeof(name), k->alg->evp, k->keylen * 8);
    c = EVP_CIPHER_fetch(NULL, name, NULL);
    if (c != NULL && (size_t)EVP_CIPHER_get_key_length(c) != k->keylen) {
        EVP_CIPHER_free(c);
        c = NULL;
    }
    return c;
}

/* AAD || plaintext to ciphertext || tag, or AAD || ciphertext || tag to plaintext. */
static int evp_aead(const struct kctx *k, unsigned char *out, size_t outsize, size_t *outlen)
{
    const struct rc_kernel_op *op = &k->op;
    int enc = op->dir == RC_KERNEL_ENCRYPT, n = 0, m = 0, rc = -EINVAL;
    size_t tag = k->tagsize, ivlen = k->ivlen, body;
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    EVP_CIPHER *cipher = fetch_cipher(k);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    if (cipher == NULL || c == NULL || op->inlen < op->assoclen + (enc ? 0 : tag))
        goto out;
    body = op->inlen - op->assoclen - (enc ? 0 : tag);
    if (outsize < body + (enc ? tag : 0) || !EVP_CipherInit_ex2(c, cipher, NULL, NULL, enc, NULL))
        goto out;
    p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
    if (!EVP_CIPHER_CTX_set_params(c, p) || !EVP_CipherInit_ex2(c, NULL, k->key, k->iv, enc, NULL))
        goto out;
    if (!enc) {
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                 (void *)(op->in + op->inlen - tag), tag);
        if (!EVP_CIPHER_CTX_set_params(c, p))
            goto out;
    }
    if (op->assoclen > 0 && !EVP_CipherUpdate(c, NULL, &n, op->in, (int)op->assoclen))
        goto out;
    n = 0;
    if (body > 0 && !EVP_CipherUpdate(c, out, &n, op->in + op->assoclen, (int)body))
        goto out;
    if (!EVP_CipherFinal_ex(c, out + n, &m)) {
        if (!enc) {
            OPENSSL_cleanse(out, body);
            rc = -EBADMSG;
        }
        goto out;
    }
    if (enc) {
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out + body, tag);
        if (!EVP_CIPHER_CTX_get_params(c, p))
            goto out;
    }
    *outlen = body + (enc ? tag : 0);
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(cipher);
    return rc;
}

/* Raw CBC, as the kernel does it: whole blocks, no padding. */
static int evp_cbc(const struct kctx *k, unsigned char *out, size_t outsize, size_t *outlen)
{
    const struct rc_kernel_op *op = &k->op;
    EVP_CIPHER *cipher = fetch_cipher(k);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, m = 0, rc = -EINVAL;

    if (cipher != NULL && c != NULL && k->ivlen == 16 && outsize >= op->inlen
        && EVP_CipherInit_ex2(c, cipher, k->key, k->iv, op->dir == RC_KERNEL_ENCRYPT, NULL)
        && EVP_CIPHER_CTX_set_padding(c, 0)
        && EVP_CipherUpdate(c, out, &n, op->in, (int)op->inlen)
        && EVP_CipherFinal_ex(c, out + n, &m)) {
        *outlen = (size_t)(n + m);
        rc = 0;
    }
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(cipher);
    return rc;
}

static int evp_digest(const struct kctx *k, unsigned char *out, size_t outsize, size_t *outlen)
{
    const struct alg *a = k->alg;
    const struct rc_kernel_op *op = &k->op;

    if (outsize < a->mdlen)
        return -EINVAL;
    if (a->kind == HASH)
        return EVP_Q_digest(NULL, a->evp, NULL, op->in, op->inlen, out, outlen) ? 0 : -EINVAL;
    return EVP_Q_mac(NULL, "HMAC", NULL, a->evp, NULL, k->key, k->keylen, op->in, op->inlen, out,
                     outsize, outlen) != NULL ? 0 : -EINVAL;
}

/* k's operation through EVP into out: 0, -EBADMSG (tag mismatch) or -EINVAL (refused). */
static int evp_op(const struct kctx *k, unsigned char *out, size_t outsize, size_t *outlen)
{
    int rc = k->alg->kind == AEAD ? evp_aead(k, out, outsize, outlen)
             : k->alg->kind == CBC ? evp_cbc(k, out, outsize, outlen)
                                   : evp_digest(k, out, outsize, outlen);

    /* A refusal leaves errors on this thread's queue (a worker's): nobody reads them. */
    ERR_clear_error();
    return rc;
}

/* The work function: where the kernel does not take the operation. */
static int soft(void *ctx)
{
    struct kctx *k = ctx;

    return evp_op(k, k->op.out, k->op.outsize, &k->op.outlen);
}

/* Whether k's answer is EVP's answer to the same operation. */
static bool same_as_evp(const struct kctx *k)
{
    unsigned char *ref = malloc(k->op.outsize + 1);
    size_t len = 0;
    bool same = ref != NULL && evp_op(k, ref, k->op.outsize, &len) == 0 && len == k->op.outlen
                && memcmp(ref, k->op.out, len) == 0;

    free(ref);
    return same;
}

static void count_release(void *ctx)
{
    struct kctx *k = ctx;

    if (k->released != NULL)
        atomic_fetch_add(k->released, 1);
}

/*
 * A request for one operation of alg, with room for an IV of ivlen bytes,
 * inlen bytes of input and outsize of output; its op points at them. The
 * caller fills in the key, the IV and the input.
 */
static struct rc_req *kreq(const struct alg *a, enum rc_kernel_dir dir, size_t ivlen, size_t inlen,
                           size_t outsize)
{
    struct rc_req *req = rc_req_new(soft, sizeof(struct kctx) + ivlen + inlen + outsize,
                                    count_release);
    struct kctx *k;

    if (req == NULL) {
        CHECK(false, "no memory for a request");
        return NULL;
    }
    k = rc_req_ctx(req);
    k->alg = a;
    k->ivlen = ivlen;
    k->iv = k->buf;
    k->op = (struct rc_kernel_op){ .dir = dir, .ivlen = (unsigned int)ivlen, .in = kin(k),
                                   .inlen = inlen, .out = kin(k) + inlen, .outsize = outsize };
    return req;
}

static void set_key(struct kctx *k, const unsigned char *key, size_t keylen, unsigned int tagsize)
{
    memcpy(k->key, key, keylen);
    k->keylen = keylen;
    k->tagsize = tagsize;
}

static void set_iv(struct kctx *k, const unsigned char *iv)
{
    memcpy(k->iv, iv, k->ivlen);
    memcpy(k->op.iv, iv, k->ivlen < sizeof(k->op.iv) ? k->ivlen : sizeof(k->op.iv));
}

/*
 * The kernel form, with a key of its own let go at once (the request holds
 * it): 0, or what rc_key_new or rc_req_set_kernel refused it with.
 */
static int own_key_kernel(struct rc_req *req)
{
    struct kctx *k = rc_req_ctx(req);
    struct rc_key *key;
    int rc = rc_key_new(k->alg->name, k->key, k->keylen, k->tagsize, &key);

    if (rc != 0)
        return rc;
    k->op.key = key;
    rc = rc_req_set_kernel(req, &k->op);
    rc_key_free(key);
    if (rc != 0)
        k->op.key = NULL;
    return rc;
}

/* rc_offload, with the output marked first: what a failure leaves there shows. */
static int offload(struct rc_req *req)
{
    struct kctx *k = rc_req_ctx(req);

    memset(k->op.out, 0xa5, k->op.outsize);
    return rc_offload(req);
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static bool random_bytes(unsigned char *p, size_t n)
{
    return n == 0 || RAND_bytes(p, (int)n) == 1;
}

/* ---- what the kernel path takes, by the API's rules --------------------------- */

static bool aes_key(size_t keylen)
{
    return keylen == 16 || keylen == 24 || keylen == 32;
}

static bool aead_takes(const struct alg *a, size_t keylen, size_t ivlen, size_t tagsize,
                       size_t assoclen, size_t inlen, bool enc)
{
    bool key_ok = a == &gcm ? aes_key(keylen) : keylen == 32;
    bool tag_ok = a == &gcm ? tagsize == 4 || tagsize == 8 || (tagsize >= 12 && tagsize <= 16)
                            : tagsize == 16;

    if (!key_ok || !tag_ok || ivlen != 12 || inlen > RC_KERNEL_MAX_BYTES)
        return false;
    /* A decryption that writes nothing never reaches the kernel's tag check. */
    return enc || (inlen >= assoclen + tagsize && inlen - tagsize > 0);
}

static bool cbc_takes(size_t keylen, size_t ivlen, size_t inlen)
{
    return aes_key(keylen) && ivlen == 16 && inlen > 0 && inlen % 16 == 0
           && inlen <= RC_KERNEL_MAX_BYTES;
}

/* ---- Wycheproof ------------------------------------------------------------------ */

enum result { VALID, INVALID, ACCEPTABLE };

struct wrun;

struct wfile {
    const char *name;
    const struct alg *alg;
    void (*vector)(struct wrun *w, const struct json *group, const struct json *t);
};

struct wrun {
    const struct wfile *f;
    long kernel, software, expected_kernel, known;
    int reports;
};

/*
 * Valid vectors OpenSSL 3.0 refuses (tests/wycheproof.c lists them too): GCM
 * IVs of 257 bytes, which only the work function could take.
 */
static const struct {
    const char *file;
    long tc_id;
} deviations[] = {
    { "aes_gcm_test.json", 268 },
    { "aes_gcm_test.json", 272 },
    { "aes_gcm_test.json", 276 },
};

static bool deviation(const struct wrun *w, const struct json *t)
{
    long id = -1;

    json_int(json_get(t, "tcId"), &id);
    for (size_t i = 0; i < ARRAY_LEN(deviations); i++)
        if (deviations[i].tc_id == id && strcmp(deviations[i].file, w->f->name) == 0)
            return true;
    return false;
}

__attribute__((format(printf, 4, 5))) static void fail(struct wrun *w, const struct json *t,
                                                       const char *check, const char *fmt, ...)
{
    va_list ap;
    long id = -1;

    t_failures++;
    if (w->reports++ >= MAX_REPORTS)
        return;
    json_int(json_get(t, "tcId"), &id);
    fprintf(stderr, "FAIL %s tcId %ld %s: ", w->f->name, id, check);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

static int result_of(const struct json *t)
{
    const char *s = json_str(json_get(t, "result"));

    if (s == NULL)
        return -1;
    return strcmp(s, "valid") == 0 ? VALID
           : strcmp(s, "invalid") == 0 ? INVALID
           : strcmp(s, "acceptable") == 0 ? ACCEPTABLE
                                          : -1;
}

/*
 * Gives req its kernel form where it can have one and runs it; the path it
 * took must be the one takes predicts. rc_offload's result.
 */
static int run_vector_op(struct wrun *w, const struct json *t, const char *check,
                         struct rc_req *req, bool takes)
{
    struct kctx *k = rc_req_ctx(req);
    int krc = own_key_kernel(req), rc;

    if (krc != 0 && krc != -EINVAL)
        fail(w, t, check, "kernel form refused with %d", krc);
    if ((krc == 0) != takes)
        fail(w, t, check, "the kernel path %s it", takes ? "refused" : "took");
    w->expected_kernel += takes;
    rc = offload(req);
    if (krc == 0)
        w->kernel++;
    else
        w->software++;
    /* The kernel answers with the result or a failed tag check: either way it did the work. */
    if ((rc == 0 || rc == -EBADMSG) && k->op.by_kernel != (krc == 0))
        fail(w, t, check, "by_kernel %d on the %s path", k->op.by_kernel,
             krc == 0 ? "kernel" : "software");
    return rc;
}

/* A valid (or acceptable) vector refused: a failure unless OpenSSL is known to refuse it. */
static void refused(struct wrun *w, const struct json *t, const char *check, int rc)
{
    if (deviation(w, t))
        w->known++;
    else
        fail(w, t, check, "valid vector refused (%d)", rc);
}

enum { A_KEY, A_IV, A_AAD, A_MSG, A_CT, A_TAG, A_FIELDS };

static void aead_encrypt(struct wrun *w, const struct json *t, const struct json_bytes *f,
                         unsigned int tagsize)
{
    const struct alg *a = w->f->alg;
    struct rc_req *req = kreq(a, RC_KERNEL_ENCRYPT, f[A_IV].n, f[A_AAD].n + f[A_MSG].n,
                              f[A_MSG].n + tagsize);
    struct kctx *k;
    bool takes;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    set_key(k, f[A_KEY].p, f[A_KEY].n, tagsize);
    set_iv(k, f[A_IV].p);
    memcpy(kin(k), f[A_AAD].p, f[A_AAD].n);
    memcpy(kin(k) + f[A_AAD].n, f[A_MSG].p, f[A_MSG].n);
    k->op.assoclen = (unsigned int)f[A_AAD].n;
    takes = aead_takes(a, f[A_KEY].n, f[A_IV].n, tagsize, f[A_AAD].n, k->op.inlen, true);
    rc = run_vector_op(w, t, "encrypt", req, takes);
    if (rc != 0)
        refused(w, t, "encrypt", rc);
    else if (k->op.outlen != f[A_CT].n + f[A_TAG].n || memcmp(k->op.out, f[A_CT].p, f[A_CT].n) != 0
             || memcmp(k->op.out + f[A_CT].n, f[A_TAG].p, f[A_TAG].n) != 0)
        fail(w, t, "encrypt", "not the vector's ciphertext and tag");
    rc_req_free(req);
}

static void aead_decrypt(struct wrun *w, const struct json *t, const struct json_bytes *f,
                         unsigned int tagsize, int res)
{
    const struct alg *a = w->f->alg;
    size_t inlen = f[A_AAD].n + f[A_CT].n + f[A_TAG].n;
    struct rc_req *req = kreq(a, RC_KERNEL_DECRYPT, f[A_IV].n, inlen, f[A_CT].n);
    bool kernel;
    struct kctx *k;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    set_key(k, f[A_KEY].p, f[A_KEY].n, tagsize);
    set_iv(k, f[A_IV].p);
    memcpy(kin(k), f[A_AAD].p, f[A_AAD].n);
    memcpy(kin(k) + f[A_AAD].n, f[A_CT].p, f[A_CT].n);
    memcpy(kin(k) + f[A_AAD].n + f[A_CT].n, f[A_TAG].p, f[A_TAG].n);
    k->op.assoclen = (unsigned int)f[A_AAD].n;
    kernel = aead_takes(a, f[A_KEY].n, f[A_IV].n, tagsize, f[A_AAD].n, inlen, false);
    rc = run_vector_op(w, t, "decrypt", req, kernel);
    if (rc == 0) {
        bool right = k->op.outlen == f[A_MSG].n && memcmp(k->op.out, f[A_MSG].p, f[A_MSG].n) == 0;

        if (res == INVALID)
            fail(w, t, "decrypt", "invalid vector accepted");
        else if (!right)
            fail(w, t, "decrypt", "not the vector's plaintext");
    } else if (res != INVALID) {
        refused(w, t, "decrypt", rc);
    } else if (kernel ? rc != -EBADMSG : rc != -EBADMSG && rc != -EINVAL) {
        fail(w, t, "decrypt", "refused with %d", rc);
    } else if (rc == -EBADMSG && !all_zero(k->op.out, f[A_CT].n)) {
        fail(w, t, "decrypt", "plaintext of a failed tag check left in the output");
    }
    rc_req_free(req);
}

static void aead_vector(struct wrun *w, const struct json *g, const struct json *t)
{
    static const char *const names[A_FIELDS] = { "key", "iv", "aad", "msg", "ct", "tag" };
    struct json_bytes f[A_FIELDS];
    int res = result_of(t);
    long bits = 0;

    if (!json_hex_fields(t, names, A_FIELDS, f)) {
        fail(w, t, "read", "malformed vector");
        return;
    }
    if (res < 0 || f[A_KEY].n > MAX_KEY || !json_int(json_get(g, "tagSize"), &bits) || bits <= 0
        || bits % 8 != 0 || bits > 8 * TAG) {
        fail(w, t, "read", "malformed vector");
    } else {
        if (res != INVALID)
            aead_encrypt(w, t, f, (unsigned int)bits / 8);
        aead_decrypt(w, t, f, (unsigned int)bits / 8, res);
    }
    json_free_fields(f, A_FIELDS);
}

/* PKCS#7 padding's length, or 0 when the padding is bad. */
static size_t padding(const unsigned char *p, size_t n)
{
    size_t pad = n > 0 ? p[n - 1] : 0;

    if (n % 16 != 0 || pad == 0 || pad > 16 || pad > n)
        return 0;
    for (size_t i = n - pad; i < n; i++)
        if (p[i] != pad)
            return 0;
    return pad;
}

enum { C_KEY, C_IV, C_MSG, C_CT, C_FIELDS };

static void cbc_encrypt(struct wrun *w, const struct json *t, const struct json_bytes *f)
{
    size_t pad = 16 - f[C_MSG].n % 16, n = f[C_MSG].n + pad;
    struct rc_req *req = kreq(&cbc, RC_KERNEL_ENCRYPT, f[C_IV].n, n, n);
    struct kctx *k;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    set_key(k, f[C_KEY].p, f[C_KEY].n, 0);
    set_iv(k, f[C_IV].p);
    memcpy(kin(k), f[C_MSG].p, f[C_MSG].n);
    memset(kin(k) + f[C_MSG].n, (int)pad, pad);
    rc = run_vector_op(w, t, "encrypt", req, cbc_takes(f[C_KEY].n, f[C_IV].n, n));
    if (rc != 0)
        refused(w, t, "encrypt", rc);
    else if (k->op.outlen != f[C_CT].n || memcmp(k->op.out, f[C_CT].p, f[C_CT].n) != 0)
        fail(w, t, "encrypt", "not the vector's ciphertext");
    rc_req_free(req);
}

static void cbc_decrypt(struct wrun *w, const struct json *t, const struct json_bytes *f, int res)
{
    struct rc_req *req = kreq(&cbc, RC_KERNEL_DECRYPT, f[C_IV].n, f[C_CT].n, f[C_CT].n);
    bool kernel = cbc_takes(f[C_KEY].n, f[C_IV].n, f[C_CT].n);
    struct kctx *k;
    size_t pad;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    set_key(k, f[C_KEY].p, f[C_KEY].n, 0);
    set_iv(k, f[C_IV].p);
    memcpy(kin(k), f[C_CT].p, f[C_CT].n);
    rc = run_vector_op(w, t, "decrypt", req, kernel);
    pad = rc == 0 ? padding(k->op.out, k->op.outlen) : 0;
    if (rc != 0 && (kernel || rc != -EINVAL))
        fail(w, t, "decrypt", "refused with %d", rc);
    else if (res == INVALID && pad > 0)
        fail(w, t, "decrypt", "invalid vector accepted");
    else if (res != INVALID && pad == 0)
        refused(w, t, "decrypt", rc);
    else if (res != INVALID && (k->op.outlen - pad != f[C_MSG].n
                                || memcmp(k->op.out, f[C_MSG].p, f[C_MSG].n) != 0))
        fail(w, t, "decrypt", "not the vector's plaintext");
    rc_req_free(req);
}

static void cbc_vector(struct wrun *w, const struct json *g, const struct json *t)
{
    static const char *const names[C_FIELDS] = { "key", "iv", "msg", "ct" };
    struct json_bytes f[C_FIELDS];
    int res = result_of(t);

    (void)g;
    if (!json_hex_fields(t, names, C_FIELDS, f)) {
        fail(w, t, "read", "malformed vector");
        return;
    }
    if (res < 0 || f[C_KEY].n > MAX_KEY) {
        fail(w, t, "read", "malformed vector");
    } else {
        if (res != INVALID)
            cbc_encrypt(w, t, f);
        cbc_decrypt(w, t, f, res);
    }
    json_free_fields(f, C_FIELDS);
}

/* The tag is compared at the group's size: HMAC-SHA256 truncated to 128 bits, say. */
static void hmac_vector(struct wrun *w, const struct json *g, const struct json *t)
{
    static const char *const names[] = { "key", "msg", "tag" };
    const struct alg *a = w->f->alg;
    struct json_bytes f[3];
    int res = result_of(t), rc;
    struct rc_req *req = NULL;
    struct kctx *k;
    long bits = 0;

    if (!json_hex_fields(t, names, 3, f)) {
        fail(w, t, "read", "malformed vector");
        return;
    }
    if (res < 0 || f[0].n > MAX_KEY || !json_int(json_get(g, "tagSize"), &bits) || bits <= 0
        || bits % 8 != 0 || (size_t)bits / 8 > a->mdlen) {
        fail(w, t, "read", "malformed vector");
        goto out;
    }
    req = kreq(a, RC_KERNEL_DIGEST, 0, f[1].n, a->mdlen);
    if (req == NULL)
        goto out;
    k = rc_req_ctx(req);
    set_key(k, f[0].p, f[0].n, 0);
    memcpy(kin(k), f[1].p, f[1].n);
    rc = run_vector_op(w, t, "tag", req, f[1].n <= RC_KERNEL_MAX_BYTES);
    if (rc != 0 || k->op.outlen != a->mdlen) {
        fail(w, t, "tag", "failed with %d, %zu bytes", rc, k->op.outlen);
    } else {
        bool match = f[2].n == (size_t)bits / 8 && memcmp(k->op.out, f[2].p, f[2].n) == 0;

        if (res == INVALID && match)
            fail(w, t, "tag", "invalid vector accepted");
        else if (res != INVALID && !match)
            fail(w, t, "tag", "not the vector's tag");
    }
out:
    rc_req_free(req);
    json_free_fields(f, 3);
}

static const struct wfile wfiles[] = {
    { "aes_gcm_test.json", &gcm, aead_vector },
    { "chacha20_poly1305_test.json", &chacha, aead_vector },
    { "aes_cbc_pkcs5_test.json", &cbc, cbc_vector },
    { "hmac_sha256_test.json", &hmac256, hmac_vector },
};

struct file_job {
    struct wrun *w;
    const struct json *root;
};

static int run_file(void *arg)
{
    const struct file_job *fj = arg;
    const struct json *groups = json_get(fj->root, "testGroups");

    for (size_t i = 0; i < json_count(groups); i++) {
        const struct json *g = json_at(groups, i), *tests = json_get(g, "tests");

        for (size_t k = 0; k < json_count(tests); k++)
            fj->w->f->vector(fj->w, g, json_at(tests, k));
    }
    return 0;
}

static struct json *load_file(const char *name)
{
    const char *dir = t_wycheproof_dir();
    char path[4400], err[512];
    const struct json *groups;
    struct json *root;
    long want = -1;
    size_t n = 0;

    if (dir == NULL) {
        t_failures++;
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    root = json_load(path, err, sizeof(err));
    CHECK(root != NULL, "%s", err);
    groups = json_get(root, "testGroups");
    for (size_t i = 0; i < json_count(groups); i++)
        n += json_count(json_get(json_at(groups, i), "tests"));
    CHECK(root == NULL || (json_int(json_get(root, "numberOfTests"), &want) && (size_t)want == n),
          "%s: %zu tests read, header says %ld", name, n, want);
    return root;
}

/* Every file's vectors in one job of mode each; the counters must match the paths taken. */
static int wycheproof(int mode)
{
    for (size_t i = 0; i < ARRAY_LEN(wfiles); i++) {
        struct json *root = load_file(wfiles[i].name);
        struct wrun w = { .f = &wfiles[i] };
        struct file_job fj = { .w = &w, .root = root };
        struct rc_stats before, d;
        char known[48] = "";

        if (root == NULL)
            continue;
        rc_stats_total(&before);
        CHECK_EQ(t_run_job(mode, run_file, &fj, TIMEOUT_MS), 0);
        t_stats_since(&before, &d);
        if (w.known > 0)
            snprintf(known, sizeof(known), ", %ld known OpenSSL refusals", w.known);
        printf("  %-28s %s: kernel %ld (expected %ld), software %ld%s\n", w.f->name,
               t_job_mode_name(mode), w.kernel, w.expected_kernel, w.software, known);
        if (w.reports > MAX_REPORTS)
            fprintf(stderr, "FAIL %s: %d more failures not shown\n", w.f->name,
                    w.reports - MAX_REPORTS);
        CHECK(w.kernel > 0, "%s: nothing went through the kernel", w.f->name);
        CHECK_EQ(w.kernel, w.expected_kernel);
        CHECK_EQ(d.kernel_ops, w.kernel);
        /* Without a core, the kernel's operations run on the job's own thread: never submitted. */
        CHECK_EQ(d.submitted, mode == T_CORE ? w.kernel + w.software : w.software);
        CHECK_EQ(d.completed, d.submitted);
        json_free(root);
    }
    return T_PASS;
}

static int wycheproof_core(void)
{
    return wycheproof(T_CORE);
}

static int wycheproof_fd(void)
{
    return wycheproof(T_FD);
}

/* ---- probe ------------------------------------------------------------------------ */

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static int probe(void)
{
    static const unsigned char msg[] = "outside any job";
    struct rc_stats before, d;
    struct rc_info info;
    struct rc_req *req;
    struct kctx *k;

    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "afalg") == 0, "backend '%s'", info.backend);
    CHECK_EQ(info.kernel_sockets, 256);
    printf("  kernel_algs: %s\n", info.kernel_algs);
    for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
        CHECK(has_word(info.kernel_algs, algs[i]->name), "%s not in '%s'", algs[i]->name,
              info.kernel_algs);
        CHECK(rc_kernel_uses(algs[i]->name) == 1, "rc_kernel_uses(%s) = %d", algs[i]->name,
              rc_kernel_uses(algs[i]->name));
    }
    CHECK_EQ(rc_kernel_uses("hmac(sha512)"), 0);
    CHECK_EQ(rc_kernel_uses(NULL), 0);

    /* No ASYNC job: the work function answers on the caller, the kernel form unused. */
    req = kreq(&sha256, RC_KERNEL_DIGEST, 0, sizeof(msg), 32);
    if (req == NULL)
        return T_FAIL;
    k = rc_req_ctx(req);
    memcpy(kin(k), msg, sizeof(msg));
    CHECK_EQ(own_key_kernel(req), 0);
    rc_stats_total(&before);
    CHECK_EQ(offload(req), 0);
    t_stats_since(&before, &d);
    CHECK_EQ(k->op.by_kernel, 0);
    CHECK(same_as_evp(k), "wrong digest");
    CHECK_EQ(d.inline_ops, 1);
    CHECK_EQ(d.kernel_ops, 0);
    rc_req_free(req);
    return T_PASS;
}

/* ---- many operations at once ------------------------------------------------------- */

static struct {
    int nkeys;
    struct rc_key *keys[MAX_FLIGHT_KEYS];
    unsigned char key[MAX_FLIGHT_KEYS][16];
    _Atomic int released;
} fl;

static struct t_job jobs[MAX_JOBS];

/* An AES-128-GCM encryption of fresh random data under key index % nkeys, checked against EVP. */
static int flight_body(struct t_job *j)
{
    int ki = j->index % fl.nkeys, rc;
    struct rc_req *req = kreq(&gcm, RC_KERNEL_ENCRYPT, 12, FLIGHT_AAD + FLIGHT_MSG,
                              FLIGHT_MSG + TAG);
    struct kctx *k;

    if (req == NULL)
        return -ENOMEM;
    k = rc_req_ctx(req);
    k->released = &fl.released;
    set_key(k, fl.key[ki], sizeof(fl.key[ki]), TAG);
    if (!random_bytes(k->iv, 12) || !random_bytes(kin(k), k->op.inlen)) {
        rc_req_free(req);
        return -EIO;
    }
    memcpy(k->op.iv, k->iv, 12);
    k->op.assoclen = FLIGHT_AAD;
    k->op.key = fl.keys[ki];
    rc = rc_req_set_kernel(req, &k->op);
    if (rc == 0)
        rc = offload(req);
    if (rc == 0 && (k->op.by_kernel != 1 || !same_as_evp(k)))
        rc = -EPROTO;
    rc_req_free(req);
    return rc;
}

static bool flight_keys(int nkeys)
{
    fl.nkeys = nkeys;
    for (int i = 0; i < nkeys; i++) {
        CHECK(random_bytes(fl.key[i], sizeof(fl.key[i])), "no random bytes");
        CHECK_EQ(rc_key_new("gcm(aes)", fl.key[i], sizeof(fl.key[i]), TAG, &fl.keys[i]), 0);
    }
    return t_failures == 0;
}

static void flight_keys_free(void)
{
    for (int i = 0; i < fl.nkeys; i++)
        rc_key_free(fl.keys[i]);
}

/* Starts every job: each must pause, in flight. */
static bool flight_start(int njobs)
{
    for (int i = 0; i < njobs; i++)
        if (t_job_step(&jobs[i]) != ASYNC_PAUSE) {
            CHECK(false, "job %d did not pause: %d", i, jobs[i].ret);
            return false;
        }
    return true;
}

/*
 * njobs encryptions in flight at once on one core over nkeys keys; every one
 * right; the open descriptors never more than the pool allows, and back to
 * where they were once the keys are freed and the core has turned once.
 */
static int flight(const struct rc_core_opts *opts, int njobs, int nkeys, struct rc_stats *d)
{
    struct rc_stats before;
    struct t_driver drv;
    struct rc_info info;
    int fds, peak, bad = 0;
    long start;

    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(t_driver_init_opts(&drv, T_CORE, opts, jobs, njobs, flight_body, NULL), 0);
    fds = t_count_fds();
    if (t_failures > 0 || !flight_keys(nkeys))
        return T_FAIL;
    rc_stats_total(&before);
    if (!flight_start(njobs))
        return T_FAIL;
    peak = t_count_fds();
    start = t_now_ms();
    while (drv.remaining > 0 && t_now_ms() - start < TIMEOUT_MS) {
        int now;

        rc_core_run(drv.core, 100);
        now = t_count_fds();
        if (now > peak)
            peak = now;
    }
    CHECK_EQ(drv.remaining, 0);
    t_stats_since(&before, d);
    for (int i = 0; i < njobs; i++)
        if (jobs[i].ret != 0 && bad++ < 5)
            fprintf(stderr, "job %d: %d\n", i, jobs[i].ret);
    CHECK_EQ(bad, 0);
    CHECK_EQ(d->submitted, njobs);
    CHECK_EQ(d->completed, njobs);
    CHECK_EQ(d->kernel_ops, njobs);
    CHECK_EQ(d->errors, 0);
    CHECK_EQ(t_wait_released(&fl.released, njobs, drv.core), njobs);
    CHECK(peak > fds, "no kernel sockets were ever open");
    CHECK(peak - fds <= (int)info.kernel_sockets, "%d sockets open at once, the pool's limit is %u",
          peak - fds, info.kernel_sockets);
    printf("  %d jobs, %d keys: kernel_waits %llu, kernel sockets open at most %d, after %d\n",
           njobs, nkeys, (unsigned long long)d->kernel_waits, peak - fds, t_count_fds() - fds);
    flight_keys_free();
    rc_core_run(drv.core, 0);
    CHECK_EQ(t_count_fds(), fds);
    t_driver_fini(&drv, jobs, njobs);
    return T_PASS;
}

static int many_in_flight(void)
{
    struct rc_stats d;

    return flight(NULL, MAX_JOBS, 1, &d);
}

static int key_changes(void)
{
    struct rc_stats d;

    return flight(NULL, MAX_JOBS, MAX_FLIGHT_KEYS, &d);
}

static int pool_exhausted(void)
{
    struct rc_stats d;
    int rc = flight(NULL, 64, 4, &d);

    CHECK(d.kernel_waits > 0, "no operation waited for a socket");
    return rc;
}

/* Two CQEs per operation into a CQ of 4: the overflow must lose none. */
static int tiny_ring(void)
{
    const struct rc_core_opts opts = { .sq_entries = 4, .cq_entries = 4 };
    struct rc_stats d;

    return flight(&opts, 64, 2, &d);
}

/*
 * An application loop that turns the core only when rc_core_fd polls
 * readable: the kernel's answers, and the operations a turn starts for
 * those waiting for a socket (the pool has 2), must each wake it. A wait that
 * ends by poll()'s timeout is a wake-up that never came; the timeout is long,
 * so that a slow wake-up under emulation is not taken for one.
 */
static int fd_loop(void)
{
    const int n = 16;
    struct t_driver drv;
    bool stalled = false;
    int fd;

    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(t_driver_init(&drv, T_CORE, jobs, n, flight_body, NULL), 0);
    if (t_failures > 0 || !flight_keys(2))
        return T_FAIL;
    fd = rc_core_fd(drv.core);
    CHECK(fd >= 0, "rc_core_fd %d", fd);
    if (!flight_start(n))
        return T_FAIL;
    while (drv.remaining > 0 && !stalled) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        stalled = poll(&pfd, 1, 30000) == 0;
        rc_core_poll(drv.core);
    }
    CHECK(!stalled, "rc_core_fd did not wake for the kernel's work (%d jobs left)",
          drv.remaining);
    CHECK_EQ(t_driver_loop(&drv, jobs, n, TIMEOUT_MS), 0);
    for (int i = 0; i < n; i++)
        CHECK(jobs[i].ret == 0, "job %d: %d", i, jobs[i].ret);
    flight_keys_free();
    t_driver_fini(&drv, jobs, n);
    return T_PASS;
}

/* ---- failures and teardown ------------------------------------------------------ */

/* An AEAD key (the runtime's, and its bytes for EVP) and a message to seal under it. */
struct sealing {
    const struct alg *a;
    struct rc_key *key;
    unsigned char raw[32];
    size_t keylen;
    unsigned int tagsize;
    unsigned char iv[12], aad[20], msg[1000];
};

static bool sealing_new(struct sealing *s, const struct alg *a, size_t keylen,
                        unsigned int tagsize)
{
    s->a = a;
    s->keylen = keylen;
    s->tagsize = tagsize;
    if (!random_bytes(s->raw, keylen) || !random_bytes(s->iv, sizeof(s->iv))
        || !random_bytes(s->aad, sizeof(s->aad)) || !random_bytes(s->msg, sizeof(s->msg))
        || rc_key_new(a->name, s->raw, keylen, tagsize, &s->key) != 0) {
        CHECK(false, "%s: no key", a->name);
        return false;
    }
    return true;
}

/* A request's context with s's key, IV and AAD for dir, and room for the rest. */
static struct rc_req *sealing_req(const struct sealing *s, enum rc_kernel_dir dir, size_t inlen,
                                  size_t outsize)
{
    struct rc_req *req = kreq(s->a, dir, sizeof(s->iv), inlen, outsize);
    struct kctx *k;

    if (req == NULL)
        return NULL;
    k = rc_req_ctx(req);
    set_key(k, s->raw, s->keylen, s->tagsize);
    set_iv(k, s->iv);
    memcpy(kin(k), s->aad, sizeof(s->aad));
    k->op.assoclen = sizeof(s->aad);
    k->op.key = s->key;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), 0);
    return req;
}

/* The kernel's ciphertext || tag of s's message, checked against EVP. */
static struct rc_req *seal(const struct sealing *s)
{
    struct rc_req *req = sealing_req(s, RC_KERNEL_ENCRYPT, sizeof(s->aad) + sizeof(s->msg),
                                     sizeof(s->msg) + s->tagsize);
    struct kctx *k;

    if (req == NULL)
        return NULL;
    k = rc_req_ctx(req);
    memcpy(kin(k) + sizeof(s->aad), s->msg, sizeof(s->msg));
    CHECK_EQ(offload(req), 0);
    CHECK_EQ(k->op.by_kernel, 1);
    CHECK(same_as_evp(k), "%s, %u-byte tag: not EVP's ciphertext", s->a->name, s->tagsize);
    return req;
}

/* Opens what seal made (its last tag byte flipped when flip): rc_offload's result. */
static int open_sealed(const struct sealing *s, const struct kctx *sealed, bool flip)
{
    struct rc_req *req = sealing_req(s, RC_KERNEL_DECRYPT, sizeof(s->aad) + sealed->op.outlen,
                                     sizeof(s->msg));
    struct kctx *k;
    int rc;

    if (req == NULL)
        return -ENOMEM;
    k = rc_req_ctx(req);
    memcpy(kin(k) + sizeof(s->aad), sealed->op.out, sealed->op.outlen);
    if (flip)
        kin(k)[k->op.inlen - 1] ^= 0x01;
    rc = offload(req);
    CHECK(rc != -EBADMSG || all_zero(k->op.out, sizeof(s->msg)), "%s: output not wiped",
          s->a->name);
    CHECK(rc != 0 || (k->op.outlen == sizeof(s->msg)
                      && memcmp(k->op.out, s->msg, sizeof(s->msg)) == 0),
          "%s: wrong plaintext", s->a->name);
    CHECK_EQ(k->op.by_kernel, 1);
    rc_req_free(req);
    return rc;
}

/*
 * A failed tag check closes its socket instead of putting it back: the pool
 * holds one descriptor less after it, and the next operation opens a fresh one.
 */
static void tag_failure_on(const struct alg *a)
{
    struct rc_req *sealed;
    struct sealing s;
    int fds;

    if (!sealing_new(&s, a, 32, TAG))
        return;
    sealed = seal(&s);
    if (sealed != NULL) {
        fds = t_count_fds();
        CHECK_EQ(open_sealed(&s, rc_req_ctx(sealed), true), -EBADMSG);
        CHECK_EQ(t_count_fds(), fds - 1);
        CHECK_EQ(open_sealed(&s, rc_req_ctx(sealed), false), 0);
        CHECK_EQ(t_count_fds(), fds);
    }
    rc_req_free(sealed);
    rc_key_free(s.key);
}

/* GCM's shorter tags, as the kernel makes and checks them, must be EVP's. */
static const unsigned int short_tags[] = { 4, 8, 12, 13, 14, 15 };

static void short_tag(unsigned int tagsize)
{
    struct rc_req *sealed;
    struct sealing s;

    if (!sealing_new(&s, &gcm, 16, tagsize))
        return;
    sealed = seal(&s);
    if (sealed != NULL) {
        CHECK_EQ(open_sealed(&s, rc_req_ctx(sealed), false), 0);
        CHECK_EQ(open_sealed(&s, rc_req_ctx(sealed), true), -EBADMSG);
    }
    rc_req_free(sealed);
    rc_key_free(s.key);
}

static int tag_failures(void *arg)
{
    (void)arg;
    tag_failure_on(&gcm);
    tag_failure_on(&chacha);
    for (size_t i = 0; i < ARRAY_LEN(short_tags); i++)
        short_tag(short_tags[i]);
    return 0;
}

static int tag_failure(void)
{
    struct rc_stats before, d;

    rc_stats_total(&before);
    CHECK_EQ(t_run_job(T_CORE, tag_failures, NULL, TIMEOUT_MS), 0);
    t_stats_since(&before, &d);
    CHECK_EQ(d.kernel_ops, 3 * (2 + ARRAY_LEN(short_tags)));
    CHECK_EQ(d.errors, 2 + ARRAY_LEN(short_tags));
    return T_PASS;
}

/* Destroyed without a turn: every job sees -ECANCELED (or its right answer), nothing leaks. */
static int core_destroyed(void)
{
    const int n = 64;
    struct rc_stats before, d;
    struct t_driver drv;
    int fds, canceled = 0;

    CHECK_EQ(rc_init(), 0);
    fds = t_count_fds();
    CHECK_EQ(t_driver_init(&drv, T_CORE, jobs, n, flight_body, NULL), 0);
    if (t_failures > 0 || !flight_keys(1))
        return T_FAIL;
    rc_stats_total(&before);
    if (!flight_start(n))
        return T_FAIL;
    rc_core_destroy(drv.core);
    drv.core = NULL;
    for (int i = 0; i < n; i++) {
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_FINISH);
        CHECK(jobs[i].ret == 0 || jobs[i].ret == -ECANCELED, "job %d: %d", i, jobs[i].ret);
        canceled += jobs[i].ret == -ECANCELED;
    }
    CHECK_EQ(t_wait_released(&fl.released, n, NULL), n);
    t_stats_since(&before, &d);
    CHECK_EQ(d.submitted, n);
    CHECK_EQ(d.completed, n);
    CHECK_EQ(d.callbacks, 0);
    printf("  %d of %d canceled, %llu run by the kernel\n", canceled, n,
           (unsigned long long)d.kernel_ops);
    flight_keys_free();
    t_driver_fini(&drv, jobs, n);
    CHECK_EQ(t_count_fds(), fds);
    return T_PASS;
}

/*
 * A deadline can only catch operations waiting for a socket (a launched one
 * answers within the turn), so the pool is kept small: many wait past 1 ms.
 */
static int deadline(void)
{
    struct rc_stats before, d;
    struct t_driver drv;
    int fds, ok = 0, late = 0;

    CHECK_EQ(rc_init(), 0);
    fds = t_count_fds();
    CHECK_EQ(t_driver_init(&drv, T_CORE, jobs, MAX_JOBS, flight_body, NULL), 0);
    if (t_failures > 0 || !flight_keys(2))
        return T_FAIL;
    rc_stats_total(&before);
    CHECK_EQ(t_driver_run(&drv, jobs, MAX_JOBS, TIMEOUT_MS), 0);
    for (int i = 0; i < MAX_JOBS; i++) {
        CHECK(jobs[i].ret == 0 || jobs[i].ret == -ETIMEDOUT, "job %d: %d", i, jobs[i].ret);
        ok += jobs[i].ret == 0;
        late += jobs[i].ret == -ETIMEDOUT;
    }
    t_stats_since(&before, &d);
    printf("  %d right, %d timed out, %llu run by the kernel\n", ok, late,
           (unsigned long long)d.kernel_ops);
    CHECK(ok > 0 && late > 0, "%d right, %d timed out: the deadline was not put to the test", ok,
          late);
    CHECK_EQ(d.timeouts, late);
    CHECK_EQ(d.completed, MAX_JOBS);
    flight_keys_free();
    t_driver_fini(&drv, jobs, MAX_JOBS);
    CHECK_EQ(t_wait_released(&fl.released, MAX_JOBS, NULL), MAX_JOBS);
    CHECK_EQ(t_count_fds(), fds);
    return T_PASS;
}

/* ---- sizes --------------------------------------------------------------------------- */

/*
 * One operation with random input under key (raw: its bytes): EVP's answer,
 * from the kernel where the runtime takes a (takes) and the input is not too
 * big for it.
 */
static void sized(const struct alg *a, struct rc_key *key, const unsigned char *raw, size_t keylen,
                  enum rc_kernel_dir dir, size_t inlen, bool takes, long *kernel)
{
    size_t ivlen = a == &cbc ? 16 : a->kind == AEAD ? 12 : 0;
    size_t outsize = a->kind == AEAD ? inlen + TAG : a->kind == CBC ? inlen : a->mdlen;
    bool big = inlen > RC_KERNEL_MAX_BYTES, kernel_op = takes && !big;
    struct rc_req *req = kreq(a, dir, ivlen, inlen, outsize);
    unsigned char iv[16];
    struct kctx *k;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    if (!random_bytes(iv, ivlen) || !random_bytes(kin(k), inlen)) {
        CHECK(false, "no random bytes");
        rc_req_free(req);
        return;
    }
    set_key(k, raw, keylen, a->kind == AEAD ? TAG : 0);
    set_iv(k, iv);
    k->op.key = key;
    rc = rc_req_set_kernel(req, &k->op);
    CHECK(rc == (big ? -E2BIG : 0), "%s, %zu bytes: kernel form %d", a->name, inlen, rc);
    rc = offload(req);
    CHECK(rc == 0, "%s, %zu bytes: %d", a->name, inlen, rc);
    CHECK(k->op.by_kernel == kernel_op, "%s, %zu bytes: by_kernel %d", a->name, inlen,
          k->op.by_kernel);
    CHECK(rc != 0 || same_as_evp(k), "%s, %zu bytes: not EVP's answer", a->name, inlen);
    *kernel += kernel_op;
    rc_req_free(req);
}

/*
 * Each algorithm at sizes from nothing to the largest the kernel takes and
 * one past it, with one key: every operation after the first reuses the
 * socket the one before put back, so no state may leak from one to the next.
 */
static int sizes(void *arg)
{
    static const size_t lens[] = { 0, 1, RC_KERNEL_MAX_BYTES, 1, RC_KERNEL_MAX_BYTES + 1 };
    static const size_t blocks[] = { 16, RC_KERNEL_MAX_BYTES, 16, RC_KERNEL_MAX_BYTES + 16 };
    static const struct alg *const each[] = { &sha256, &sha384,  &sha512, &hmac256,
                                              &hmac384, &gcm,    &chacha, &cbc };
    unsigned char raw[LONG_HMAC_KEY];
    long *kernel = arg;

    for (size_t i = 0; i < ARRAY_LEN(each); i++) {
        const struct alg *a = each[i];
        /* HMAC keys: none at all, and one longer than SHA-384's block (hashed first). */
        size_t keylen = a == &hmac384 ? sizeof(raw) : a->kind == HASH || a == &hmac256 ? 0 : 32;
        struct rc_key *key;

        if (!random_bytes(raw, keylen)
            || rc_key_new(a->name, raw, keylen, a->kind == AEAD ? TAG : 0, &key) != 0) {
            CHECK(false, "%s: no key", a->name);
            continue;
        }
        if (a == &cbc) {
            for (size_t l = 0; l < ARRAY_LEN(blocks); l++) {
                sized(a, key, raw, keylen, RC_KERNEL_ENCRYPT, blocks[l], true, kernel);
                sized(a, key, raw, keylen, RC_KERNEL_DECRYPT, blocks[l], true, kernel);
            }
        } else {
            for (size_t l = 0; l < ARRAY_LEN(lens); l++)
                sized(a, key, raw, keylen, a->kind == AEAD ? RC_KERNEL_ENCRYPT : RC_KERNEL_DIGEST,
                      lens[l], true, kernel);
        }
        rc_key_free(key);
    }
    return 0;
}

/* One CBC encryption of len bytes with key: the right answer; *kernel counts the kernel's. */
static void cbc_once(struct rc_key *key, const unsigned char *raw, size_t len, long *kernel)
{
    struct rc_req *req = kreq(&cbc, RC_KERNEL_ENCRYPT, 16, len, len);
    unsigned char iv[16];
    struct kctx *k;
    int rc;

    if (req == NULL)
        return;
    k = rc_req_ctx(req);
    CHECK(random_bytes(iv, sizeof(iv)) && random_bytes(kin(k), len), "no random bytes");
    set_key(k, raw, 16, 0);
    set_iv(k, iv);
    k->op.key = key;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), 0);
    rc = offload(req);
    CHECK(rc == 0, "%zu bytes: %d", len, rc);
    CHECK(rc != 0 || same_as_evp(k), "%zu bytes: not EVP's answer", len);
    *kernel += k->op.by_kernel;
    rc_req_free(req);
}

/* With 16 KiB send buffers: 4 KiB goes to the kernel, 48 KiB to the work function. */
static int small_buffer_ops(void *arg)
{
    unsigned char raw[16];
    struct rc_key *key;
    long *kernel = arg, before = *kernel;

    if (!random_bytes(raw, sizeof(raw)) || rc_key_new("cbc(aes)", raw, 16, 0, &key) != 0) {
        CHECK(false, "no key");
        return 0;
    }
    cbc_once(key, raw, 4096, kernel);
    CHECK_EQ(*kernel - before, 1);
    cbc_once(key, raw, 48 * 1024, kernel);
    CHECK_EQ(*kernel - before, 1);
    rc_key_free(key);
    return 0;
}

static bool set_sysctl(const char *path, long value, long *old)
{
    FILE *f = fopen(path, "r+");
    bool ok = f != NULL && (old == NULL || fscanf(f, "%ld", old) == 1) && fseek(f, 0, SEEK_SET) == 0
              && fprintf(f, "%ld\n", value) > 0;

    if (f != NULL && fclose(f) != 0)
        ok = false;
    CHECK(ok, "cannot set %s", path);
    return ok;
}

/*
 * A system whose sockets take less than RC_KERNEL_MAX_BYTES in one send
 * (net.core.wmem_default and wmem_max at 16 KiB): a larger operation cannot
 * be sent whole, so it is the work function's, with the right answer, on a
 * core and without one.
 */
static int small_send_buffer(void)
{
    static const char dflt[] = "/proc/sys/net/core/wmem_default", max[] = "/proc/sys/net/core/wmem_max";
    long old_dflt, old_max, kernel = 0;

    if (!set_sysctl(dflt, 16384, &old_dflt))
        return T_FAIL;
    if (set_sysctl(max, 16384, &old_max)) {
        CHECK_EQ(t_run_job(T_CORE, small_buffer_ops, &kernel, TIMEOUT_MS), 0);
        CHECK_EQ(t_run_job(T_FD, small_buffer_ops, &kernel, TIMEOUT_MS), 0);
        set_sysctl(max, old_max, NULL);
    }
    set_sysctl(dflt, old_dflt, NULL);
    return t_failures ? T_FAIL : T_PASS;
}

/* One SHA-256 through rc_kernel_run, as a thread without a core runs it. */
static bool kernel_digest(struct rc_key *key)
{
    static const unsigned char msg[] = "abc";
    unsigned char out[32];
    struct rc_kernel_op op = { .key = key, .dir = RC_KERNEL_DIGEST, .in = msg, .inlen = 3,
                               .out = out, .outsize = sizeof(out) };

    return rc_kernel_run(&op) == 0 && op.by_kernel && op.outlen == sizeof(out);
}

/*
 * A fork child that lets go of a key its parent holds sockets for leaves
 * them alone: they are the parent's (the numbers may be the child's own
 * files by then). The parent, letting go, closes its own at once.
 */
static int fork_child(void)
{
    struct rc_key *key;
    int before, status = -1;
    pid_t pid;

    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_key_new("sha256", NULL, 0, 0, &key), 0);
    /* The thread's ring comes with the first operation and stays; the key's sockets with this one. */
    CHECK(kernel_digest(key), "no digest");
    before = t_count_fds();
    CHECK(kernel_digest(key), "no digest");
    CHECK_EQ(t_count_fds(), before);
    pid = fork();
    if (pid == 0) {
        int fds = t_count_fds();

        rc_key_free(key);
        _exit(t_count_fds() == fds ? 0 : 1);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
              && WEXITSTATUS(status) == 0,
          "the child closed its parent's sockets (status %d)", status);
    rc_key_free(key);
    CHECK(t_count_fds() < before, "the parent kept the freed key's sockets");
    return t_failures ? T_FAIL : T_PASS;
}

static int digests(void)
{
    struct rc_stats before, d;
    long kernel = 0;

    rc_stats_total(&before);
    CHECK_EQ(t_run_job(T_CORE, sizes, &kernel, TIMEOUT_MS), 0);
    t_stats_since(&before, &d);
    CHECK_EQ(d.kernel_ops, kernel);
    CHECK_EQ(d.errors, 0);
    return T_PASS;
}

/* ---- workers' sockets ---------------------------------------------------------------- */

static int one_sealed(void *arg)
{
    struct sealing s;

    (void)arg;
    if (!sealing_new(&s, &gcm, 16, TAG))
        return -EINVAL;
    rc_req_free(seal(&s));
    rc_key_free(s.key);
    return 0;
}

/*
 * A freed key's sockets are "closed ... once the last reference is gone"
 * (ringcrypt.h): in a thread's own pool too (fd mode), which has no loop to
 * wake. The first operation makes the thread's ring, which stays.
 */
static int local_sockets(void)
{
    int fds;

    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(t_run_job(T_FD, one_sealed, NULL, TIMEOUT_MS), 0);
    fds = t_count_fds();
    CHECK_EQ(t_run_job(T_FD, one_sealed, NULL, TIMEOUT_MS), 0);
    CHECK(t_count_fds() == fds, "%d descriptors more than before: the freed key's sockets stay",
          t_count_fds() - fds);
    return T_PASS;
}

/* ---- what the kernel offers ---------------------------------------------------------- */

/*
 * The ways of feeding an operation socket: the input whole in one sendmsg
 * (the backend's way), in two sends with MSG_MORE on the first, and the
 * controls alone with MSG_MORE, then the input spliced from a pipe (OpenSSL's
 * afalg engine's way, zero-copy where the kernel does that).
 */
enum feed { WHOLE, MORE, SPLICE, NFEEDS };

static const char *const feed_names[] = { "op", "MSG_MORE", "splice" };

/* What the kernel did with an algorithm: 0, -errno, or WRONG (an answer that is not EVP's). */
#define WRONG 1

struct offer {
    char driver[320];
    int bind, key, accept; /* accept: the first operation socket's */
    int feed[NFEEDS];
};

/* The driver /proc/crypto ranks first for name (the one a bind gets), or "-". */
static void driver_of(const char *name, char *out, size_t size)
{
    FILE *f = fopen("/proc/crypto", "r");
    char line[256], key[32], val[128], alg[128] = "", drv[128] = "", mod[128] = "";
    int prio = -1, best = -1;
    bool async = false, internal = false;

    snprintf(out, size, "-");
    if (f == NULL)
        return;
    /* Entries are blank-line separated; a last pass with an empty line closes the final one. */
    for (bool more = true; more;) {
        more = fgets(line, sizeof(line), f) != NULL;
        if (more && sscanf(line, "%31[^ :] : %127[^\n]", key, val) == 2) {
            if (strcmp(key, "name") == 0)
                snprintf(alg, sizeof(alg), "%s", val);
            else if (strcmp(key, "driver") == 0)
                snprintf(drv, sizeof(drv), "%s", val);
            else if (strcmp(key, "module") == 0)
                snprintf(mod, sizeof(mod), "%s", val);
            else if (strcmp(key, "priority") == 0)
                prio = atoi(val);
            else if (strcmp(key, "async") == 0)
                async = strcmp(val, "yes") == 0;
            else if (strcmp(key, "internal") == 0)
                internal = strcmp(val, "yes") == 0;
            continue;
        }
        if (strcmp(alg, name) == 0 && !internal && prio > best) {
            best = prio;
            snprintf(out, size, "%s (%s, %d%s)", drv, mod, prio, async ? ", async" : "");
        }
        alg[0] = '\0';
        prio = -1;
        async = internal = false;
    }
    fclose(f);
}

/* k's operation through fd fed as how: 0 once all input is sent, or -errno. */
static int feed(int fd, const struct kctx *k, enum feed how)
{
    const struct rc_kernel_op *op = &k->op;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct af_alg_iv) + 16)
                 + CMSG_SPACE(sizeof(uint32_t))];
    } c;
    size_t first = how == WHOLE ? op->inlen : how == MORE ? op->inlen / 2 : 0;
    struct iovec iov = { (void *)op->in, first };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    int p[2], rc = 0;
    ssize_t n;

    if (k->alg->kind == AEAD || k->alg->kind == CBC) {
        struct cmsghdr *h;
        struct af_alg_iv *iv;

        memset(&c, 0, sizeof(c));
        m.msg_control = c.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(*iv) + k->ivlen)
                           + (k->alg->kind == AEAD ? CMSG_SPACE(sizeof(uint32_t)) : 0);
        h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_ALG;
        h->cmsg_type = ALG_SET_OP;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        *(int *)(void *)CMSG_DATA(h) =
            op->dir == RC_KERNEL_ENCRYPT ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT;
        h = CMSG_NXTHDR(&m, h);
        h->cmsg_level = SOL_ALG;
        h->cmsg_type = ALG_SET_IV;
        h->cmsg_len = CMSG_LEN(sizeof(*iv) + k->ivlen);
        iv = (struct af_alg_iv *)(void *)CMSG_DATA(h);
        iv->ivlen = (uint32_t)k->ivlen;
        memcpy(iv->iv, k->iv, k->ivlen);
        if (k->alg->kind == AEAD) {
            h = CMSG_NXTHDR(&m, h);
            h->cmsg_level = SOL_ALG;
            h->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
            h->cmsg_len = CMSG_LEN(sizeof(uint32_t));
            *(uint32_t *)(void *)CMSG_DATA(h) = op->assoclen;
        }
    }
    n = sendmsg(fd, &m, how == WHOLE ? 0 : MSG_MORE);
    if (n < 0 || (size_t)n != first)
        return n < 0 ? -errno : -EIO;
    if (how == MORE) {
        n = send(fd, op->in + first, op->inlen - first, 0);
        rc = n < 0 ? -errno : (size_t)n != op->inlen - first ? -EIO : 0;
    } else if (how == SPLICE) {
        if (pipe(p) != 0)
            return -errno;
        iov = (struct iovec){ (void *)op->in, op->inlen };
        n = vmsplice(p[1], &iov, 1, 0);
        if (n >= 0 && (size_t)n == op->inlen)
            n = splice(p[0], NULL, fd, NULL, op->inlen, 0);
        rc = n < 0 ? -errno : (size_t)n != op->inlen ? -EIO : 0;
        close(p[0]);
        close(p[1]);
    }
    return rc;
}

/*
 * One operation of k on an operation socket accepted from keyfd, fed as how:
 * 0 with EVP's answer, WRONG with another, or -errno. The answer must be
 * there without waiting: a kernel that waits for more would hang the backend.
 */
static int try_feed(int keyfd, const struct kctx *k, enum feed how, int *accept_rc)
{
    size_t outlen = 0, len = k->op.assoclen + k->op.outsize;
    unsigned char *ref = malloc(k->op.outsize), *got = malloc(len);
    int fd = accept4(keyfd, NULL, NULL, SOCK_CLOEXEC), rc = -ENOMEM;
    ssize_t n;

    *accept_rc = fd < 0 ? -errno : 0;
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (ref == NULL || got == NULL || evp_op(k, ref, k->op.outsize, &outlen) != 0)
        goto out;
    rc = feed(fd, k, how);
    if (rc != 0)
        goto out;
    n = recv(fd, got, k->op.assoclen + outlen, MSG_DONTWAIT);
    rc = n < 0 ? -errno
         : (size_t)n != k->op.assoclen + outlen || memcmp(got + k->op.assoclen, ref, outlen) != 0
             ? WRONG
             : 0;
out:
    if (fd >= 0)
        close(fd);
    free(ref);
    free(got);
    return rc;
}

/* One operation of a, with random key, IV and input (64 bytes; AEADs: 16 of AAD first). */
static struct rc_req *sample_op(const struct alg *a)
{
    size_t keylen = a->kind == HASH ? 0 : a == &chacha || a->kind == HMAC ? 32 : 16;
    size_t ivlen = a->kind == AEAD ? 12 : a->kind == CBC ? 16 : 0, aad = a->kind == AEAD ? 16 : 0;
    size_t outsize = a->kind == AEAD ? 64 + TAG : a->kind == CBC ? 64 : a->mdlen;
    enum rc_kernel_dir dir =
        a->kind == HASH || a->kind == HMAC ? RC_KERNEL_DIGEST : RC_KERNEL_ENCRYPT;
    struct rc_req *req = kreq(a, dir, ivlen, aad + 64, outsize);
    unsigned char key[32], iv[16];
    struct kctx *k;

    if (req == NULL)
        return NULL;
    k = rc_req_ctx(req);
    if (!random_bytes(key, keylen) || !random_bytes(iv, ivlen) || !random_bytes(kin(k), aad + 64)) {
        CHECK(false, "no random bytes");
        rc_req_free(req);
        return NULL;
    }
    set_key(k, key, keylen, a->kind == AEAD ? TAG : 0);
    set_iv(k, iv);
    k->op.assoclen = (unsigned int)aad;
    return req;
}

/* What the kernel does with k's algorithm, asked directly, with no ringcrypt in between. */
static void offer_of(const struct kctx *k, struct offer *o)
{
    struct sockaddr_alg sa = { .salg_family = AF_ALG };
    int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    o->bind = o->key = o->accept = -ECANCELED;
    for (int f = 0; f < NFEEDS; f++)
        o->feed[f] = -ECANCELED;
    if (fd < 0) {
        o->bind = -errno;
        return;
    }
    snprintf((char *)sa.salg_type, sizeof(sa.salg_type), "%s",
             k->alg->kind == AEAD ? "aead" : k->alg->kind == CBC ? "skcipher" : "hash");
    snprintf((char *)sa.salg_name, sizeof(sa.salg_name), "%s", k->alg->name);
    o->bind = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
    driver_of(k->alg->name, o->driver, sizeof(o->driver));
    if (o->bind == 0) {
        o->key = k->keylen == 0
                         || setsockopt(fd, SOL_ALG, ALG_SET_KEY, k->key, (socklen_t)k->keylen) == 0
                     ? 0
                     : -errno;
        if (o->key == 0 && k->alg->kind == AEAD
            && setsockopt(fd, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, k->tagsize) != 0)
            o->key = -errno;
    }
    for (int f = 0; o->key == 0 && f < NFEEDS; f++) {
        int accepted;

        o->feed[f] = try_feed(fd, k, (enum feed)f, &accepted);
        if (f == 0)
            o->accept = accepted;
    }
    close(fd);
}

static const char *outcome(int rc)
{
    return rc == 0 ? "ok" : rc == WRONG ? "WRONG" : rc == -ECANCELED ? "-" : strerrorname_np(-rc);
}

/* Prints the table to out. */
static void print_offers(FILE *out, const struct offer *offers, const int *uses)
{
    struct utsname u;

    uname(&u);
    fprintf(out, "AF_ALG on Linux %s (%s): the algorithms ringcrypt's afalg backend binds. "
                 "%s: the input in one sendmsg (the backend's way); %s: in two sends; "
                 "%s: vmsplice and splice (OpenSSL's afalg engine's way). "
                 "ok: OpenSSL's answer, without waiting for more input.\n\n",
            u.release, u.machine, feed_names[WHOLE], feed_names[MORE], feed_names[SPLICE]);
    fprintf(out, "| algorithm | driver (module, priority) | bind | key | accept | %s | %s | %s "
                 "| ringcrypt (auto) |\n",
            feed_names[WHOLE], feed_names[MORE], feed_names[SPLICE]);
    fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
        const struct offer *o = &offers[i];

        fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", algs[i]->name, o->driver,
                outcome(o->bind), outcome(o->key), outcome(o->accept), outcome(o->feed[WHOLE]),
                outcome(o->feed[MORE]), outcome(o->feed[SPLICE]),
                uses[i] == 1 ? "kernel" : uses[i] == 0 ? "workers" : "error");
    }
}

/*
 * What the running kernel offers for each algorithm, asked directly: printed
 * as a table (also to $RC_REPORT, which tests/vm/run-suite shows). Then the
 * runtime with backend auto must use exactly those whose operation worked,
 * and run each of them through rc_kernel_run (its own io_uring path) to
 * EVP's answer; the others get -EOPNOTSUPP there, their calls going to the
 * workers.
 */
static int offers(void)
{
    struct offer offers[ARRAY_LEN(algs)];
    int uses[ARRAY_LEN(algs)];
    const char *report = getenv("RC_REPORT");
    struct rc_info info;

    memset(offers, 0, sizeof(offers));
    CHECK_EQ(rc_config_set("backend", "auto"), 0);
    CHECK_EQ(rc_info(&info), 0);
    for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
        struct rc_req *req = sample_op(algs[i]);
        struct kctx *k;
        struct rc_key *key;
        bool works;
        int rc;

        uses[i] = rc_kernel_uses(algs[i]->name);
        if (req == NULL)
            continue;
        k = rc_req_ctx(req);
        offer_of(k, &offers[i]);
        for (int f = 0; f < NFEEDS; f++)
            CHECK(offers[i].feed[f] != WRONG, "%s, %s: not EVP's answer", algs[i]->name,
                  feed_names[f]);
        works = offers[i].bind == 0 && offers[i].key == 0 && offers[i].accept == 0
                && offers[i].feed[WHOLE] == 0;
        CHECK(uses[i] == works, "%s: the kernel's operation %s, rc_kernel_uses %d", algs[i]->name,
              works ? "works" : "does not", uses[i]);
        CHECK(has_word(info.kernel_algs, algs[i]->name) == works, "%s: kernel_algs '%s'",
              algs[i]->name, info.kernel_algs);
        CHECK_EQ(rc_key_new(algs[i]->name, k->key, k->keylen, k->tagsize, &key), 0);
        k->op.key = key;
        memset(k->op.out, 0, k->op.outsize);
        rc = rc_kernel_run(&k->op);
        if (works) {
            CHECK(rc == 0 && k->op.by_kernel == 1 && same_as_evp(k),
                  "%s: rc_kernel_run %d, by_kernel %d, or not EVP's answer", algs[i]->name, rc,
                  k->op.by_kernel);
        } else {
            CHECK(rc == -EOPNOTSUPP, "%s: rc_kernel_run %d where the kernel refuses it",
                  algs[i]->name, rc);
        }
        rc_key_free(key);
        rc_req_free(req);
    }
    print_offers(stdout, offers, uses);
    if (report != NULL) {
        FILE *f = fopen(report, "w");

        CHECK(f != NULL, "cannot write %s", report);
        if (f != NULL) {
            print_offers(f, offers, uses);
            CHECK(fclose(f) == 0, "cannot write %s", report);
        }
    }
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- kernels that refuse -------------------------------------------------------------- */

/* rc_init with stderr captured into said (and passed on): its result. */
static int init_saying(char *said, size_t size)
{
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO), rc;
    size_t n = 0;

    said[0] = '\0';
    if (f == NULL || saved < 0) {
        CHECK(false, "cannot capture stderr");
        if (f != NULL)
            fclose(f);
        return rc_init();
    }
    fflush(stderr);
    dup2(fileno(f), STDERR_FILENO);
    rc = rc_init();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    n = fread(said, 1, size - 1, f);
    said[n] = '\0';
    fclose(f);
    fputs(said, stderr);
    return rc;
}

/* One operation of each algorithm on a core: the kernel's exactly where takes[i], EVP's answer always. */
static int route_each(void *arg)
{
    const bool *takes = arg;
    unsigned char raw[32];
    long kernel = 0;

    for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
        const struct alg *a = algs[i];
        size_t keylen = a->kind == HASH ? 0 : sizeof(raw);
        struct rc_key *key;

        if (!random_bytes(raw, keylen)
            || rc_key_new(a->name, raw, keylen, a->kind == AEAD ? TAG : 0, &key) != 0) {
            CHECK(false, "%s: no key", a->name);
            continue;
        }
        sized(a, key, raw, keylen,
              a->kind == AEAD || a->kind == CBC ? RC_KERNEL_ENCRYPT : RC_KERNEL_DIGEST, 64, takes[i],
              &kernel);
        rc_key_free(key);
    }
    return 0;
}

/* How the kernel refuses, and what it then refuses. */
struct refusal {
    const char *const *modules; /* unloaded (NULL-terminated) */
    bool keys;                  /* ALG_SET_KEY refused */
    unsigned int refused;       /* bits of algs[] */
    const char *why;            /* what ringcrypt names as the refusal: "(call: ERRNO)" */
};

/*
 * With backend afalg, then auto: the runtime starts (afalg: fails, naming
 * every algorithm and why, when all are refused), afalg names on stderr
 * exactly the refused algorithms with the call and errno, auto says nothing,
 * and each algorithm's operation on a core runs in the kernel exactly where
 * it is not refused, to EVP's answer either way.
 */
static int refusal_checks(const struct refusal *r)
{
    static const char *const backends[] = { "afalg", "auto" };
    unsigned int all = (1u << ARRAY_LEN(algs)) - 1;

    for (size_t b = 0; b < ARRAY_LEN(backends); b++) {
        bool afalg = b == 0, takes[ARRAY_LEN(algs)];
        char said[2048], named[96];
        struct rc_stats before, d;
        struct rc_info info;
        long kernel = 0;
        int rc;

        rc_shutdown();
        CHECK_EQ(rc_config_set("backend", backends[b]), 0);
        rc = init_saying(said, sizeof(said));
        if (afalg && r->refused == all) {
            CHECK_EQ(rc, -EINVAL);
            CHECK(strstr(said, "refuses every algorithm") != NULL, "stderr: '%s'", said);
            for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
                snprintf(named, sizeof(named), "%s %s", algs[i]->name, r->why);
                CHECK(strstr(rc_last_error(), named) != NULL, "'%s' not in '%s'", named,
                      rc_last_error());
            }
            CHECK_EQ(rc_kernel_uses(gcm.name), -EINVAL);
            continue;
        }
        CHECK_EQ(rc, 0);
        CHECK(afalg ? strstr(said, "backend=afalg") != NULL
                          && strstr(said, "the workers run") != NULL
                    : said[0] == '\0',
              "backend %s, stderr: '%s'", backends[b], said);
        for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
            takes[i] = (r->refused & (1u << i)) == 0;
            kernel += takes[i];
            CHECK(rc_kernel_uses(algs[i]->name) == takes[i], "backend %s: rc_kernel_uses(%s) = %d",
                  backends[b], algs[i]->name, rc_kernel_uses(algs[i]->name));
            snprintf(named, sizeof(named), "%s %s", algs[i]->name, r->why);
            if (afalg)
                CHECK((strstr(said, named) != NULL) == !takes[i], "'%s' %s stderr", named,
                      takes[i] ? "in" : "not in");
        }
        CHECK_EQ(rc_info(&info), 0);
        CHECK(strcmp(info.backend, kernel > 0 ? "afalg" : "worker") == 0, "backend %s",
              info.backend);
        rc_stats_total(&before);
        CHECK_EQ(t_run_job(T_CORE, route_each, takes, TIMEOUT_MS), 0);
        t_stats_since(&before, &d);
        CHECK_EQ(d.kernel_ops, kernel);
        CHECK_EQ(d.errors, 0);
    }
    return t_failures ? T_FAIL : T_PASS;
}

/* This process's setsockopt(SOL_ALG, ALG_SET_KEY) fails with EKEYREJECTED from now on. */
static bool refuse_keys(void)
{
#if defined(__x86_64__)
    /* The arguments' low 32 bits: x86-64 is little-endian. */
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setsockopt, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_ALG, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ALG_SET_KEY, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EKEYREJECTED),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = ARRAY_LEN(f), .filter = f };

    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
           && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
#else
    return false;
#endif
}

/*
 * Runs r's checks in a child while the kernel refuses for real: r's modules
 * unloaded, with the kernel's module loader pointed at /bin/false so that a
 * bind cannot load them back, and ALG_SET_KEY refused by a seccomp filter of
 * the child's where r says. The parent then restores the kernel, whatever
 * became of the child. Only inside tools/vm's VM: on a host it would unload
 * the host's modules.
 */
static int refusing(const struct refusal *r)
{
    static const char loader[] = "/proc/sys/kernel/modprobe";
    char saved[256] = "", reload[256] = "modprobe -a";
    size_t gone = 0, len = strlen(reload);
    int status = -1, rc = T_FAIL;
    FILE *f;
    pid_t pid;

    if (access("/rcvm-cmd", F_OK) != 0) {
        fprintf(stderr, "this unloads kernel modules: only inside tools/vm's VM\n");
        return T_SKIP;
    }
    if (r->modules != NULL) {
        f = fopen(loader, "r+");
        if (f == NULL || fgets(saved, sizeof(saved), f) == NULL || fseek(f, 0, SEEK_SET) != 0
            || fputs("/bin/false\n", f) < 0) {
            CHECK(false, "cannot read and set %s", loader);
            saved[0] = '\0';
        }
        if (f != NULL && fclose(f) != 0)
            CHECK(false, "cannot set %s", loader);
        for (size_t i = 0; saved[0] != '\0' && r->modules[i] != NULL; i++) {
            if (syscall(SYS_delete_module, r->modules[i], O_NONBLOCK) != 0) {
                fprintf(stderr, "cannot unload %s: %s\n", r->modules[i], strerror(errno));
                rc = errno == ENOENT ? T_SKIP : T_FAIL; /* ENOENT: built in, not a module */
                goto restore;
            }
            gone++;
            len += (size_t)snprintf(reload + len, sizeof(reload) - len, " %s", r->modules[i]);
        }
        if (saved[0] == '\0')
            goto restore;
    }
    pid = fork();
    if (pid == 0)
        _exit(!r->keys || refuse_keys() ? refusal_checks(r) : T_FAIL);
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "no child");
    rc = pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : T_FAIL;
restore:
    if (gone > 0)
        CHECK(system(reload) == 0, "%s failed", reload);
    if (saved[0] != '\0') {
        f = fopen(loader, "w");
        CHECK(f != NULL && fputs(saved, f) >= 0 && fclose(f) == 0, "cannot restore %s", loader);
    }
    return rc != T_PASS || t_failures ? (rc == T_SKIP ? T_SKIP : T_FAIL) : T_PASS;
}

static unsigned int bits(const struct alg *const *list)
{
    unsigned int b = 0;

    for (size_t i = 0; i < ARRAY_LEN(algs); i++)
        for (size_t j = 0; list[j] != NULL; j++)
            if (algs[i] == list[j])
                b |= 1u << i;
    return b;
}

/* One algorithm gone: its template's module (chacha20poly1305). */
static int one_refused(void)
{
    static const char *const modules[] = { "chacha20poly1305", NULL };
    static const struct alg *const gone[] = { &chacha, NULL };
    struct refusal r = { modules, false, bits(gone), "(bind: ENOENT)" };

    return refusing(&r);
}

/* A kind gone: AF_ALG's AEAD sockets (algif_aead). */
static int aeads_refused(void)
{
    static const char *const modules[] = { "algif_aead", NULL };
    static const struct alg *const gone[] = { &gcm, &chacha, NULL };
    struct refusal r = { modules, false, bits(gone), "(bind: ENOENT)" };

    return refusing(&r);
}

/* AF_ALG sockets, but no algorithm: every algif module gone. */
static int all_refused(void)
{
    static const char *const modules[] = { "algif_aead", "algif_skcipher", "algif_hash", NULL };
    struct refusal r = { modules, false, (1u << ARRAY_LEN(algs)) - 1, "(bind: ENOENT)" };

    return refusing(&r);
}

/* Bound, but the key refused: every keyed algorithm refused past its bind; plain hashes kept. */
static int keys_refused(void)
{
    static const struct alg *const keyed[] = { &gcm, &chacha, &cbc, &hmac256, &hmac384, NULL };
    struct refusal r = { NULL, true, bits(keyed), "(key: EKEYREJECTED)" };

#if !defined(__x86_64__)
    return T_SKIP;
#endif
    return refusing(&r);
}

/* ---- scenarios ------------------------------------------------------------------------ */

#define AFALG "RINGCRYPT_BACKEND=afalg"

static const char *const afalg[] = { AFALG, NULL };
static const char *const two_sockets[] = { AFALG, "RINGCRYPT_KERNEL_SOCKETS=2", NULL };
static const char *const short_deadline[] = { AFALG, "RINGCRYPT_TIMEOUT_MS=1",
                                              "RINGCRYPT_KERNEL_SOCKETS=2", NULL };

static const struct scenario scenarios[] = {
    { "offers", offers, NULL },
    { "probe", probe, afalg },
    { "wycheproof_core", wycheproof_core, afalg },
    { "wycheproof_fd", wycheproof_fd, afalg },
    { "many_in_flight", many_in_flight, afalg },
    { "key_changes", key_changes, afalg },
    { "pool_exhausted", pool_exhausted, two_sockets },
    { "tiny_ring", tiny_ring, afalg },
    { "fd_loop", fd_loop, two_sockets },
    { "tag_failure", tag_failure, afalg },
    { "core_destroyed", core_destroyed, afalg },
    { "deadline", deadline, short_deadline },
    { "digests", digests, afalg },
    { "local_sockets", local_sockets, afalg },
    { "small_send_buffer", small_send_buffer, afalg },
    { "fork_child", fork_child, afalg },
    { "one_refused", one_refused, NULL },
    { "aeads_refused", aeads_refused, NULL },
    { "all_refused", all_refused, NULL },
    { "keys_refused", keys_refused, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main_afalg(argc, argv, scenarios);
}
