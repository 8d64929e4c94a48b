/*
 * The AF_ALG backend where the kernel offers no AF_ALG (the development
 * host): backend "afalg" refuses to start and says why, "auto" starts on the
 * workers alone, and a request with a kernel form runs its work function in
 * every way of running it. The checks of rc_key_new and rc_req_set_kernel
 * do not depend on the kernel and run everywhere; the scenarios that need
 * AF_ALG to be missing skip where it exists (vm-tests/afalg_runtime covers
 * that case, inside the VM).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define JOB_TIMEOUT_MS 20000

static const char *const kernel_algs[] = {
    "gcm(aes)", "rfc7539(chacha20,poly1305)", "cbc(aes)", "sha256", "sha384", "sha512",
    "hmac(sha256)", "hmac(sha384)",
};

static bool afalg_present(void)
{
    int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return false;
    close(fd);
    fprintf(stderr, "this kernel has AF_ALG: nothing to check here without it\n");
    return true;
}

/* ---- start-up ------------------------------------------------------------- */

static int afalg_refused(void)
{
    struct rc_core *core;
    struct rc_info info;

    if (afalg_present())
        return T_SKIP;
    CHECK_EQ(rc_init(), -EINVAL);
    CHECK(strstr(rc_last_error(), "AF_ALG") != NULL, "rc_last_error: '%s'", rc_last_error());
    CHECK_EQ(rc_kernel_uses("gcm(aes)"), -EINVAL);
    CHECK_EQ(rc_info(&info), -EINVAL);
    CHECK_EQ(rc_core_create(NULL, &core), -EINVAL);
    return T_PASS;
}

static int auto_without_afalg(void)
{
    struct rc_info info;

    if (afalg_present())
        return T_SKIP;
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "worker") == 0, "backend '%s'", info.backend);
    CHECK(strcmp(info.kernel_algs, "") == 0, "kernel_algs '%s'", info.kernel_algs);
    for (size_t i = 0; i < ARRAY_LEN(kernel_algs); i++)
        CHECK(rc_kernel_uses(kernel_algs[i]) == 0, "rc_kernel_uses(%s) = %d", kernel_algs[i],
              rc_kernel_uses(kernel_algs[i]));
    return T_PASS;
}

/* ---- keys -------------------------------------------------------------------- */

struct key_case {
    const char *alg;
    size_t keylen;
    unsigned int authsize;
    int want;
};

static const struct key_case key_cases[] = {
    { "aes", 16, 0, -ENOENT },
    { "GCM(AES)", 16, 16, -ENOENT },
    { "rfc4106(gcm(aes))", 20, 16, -ENOENT },
    { "sha1", 0, 0, -ENOENT },
    { "hmac(sha512)", 32, 0, -ENOENT },
    { "", 0, 0, -ENOENT },
    /* GCM: AES-128/192/256, tags of 4, 8 and 12 to 16 bytes */
    { "gcm(aes)", 16, 4, 0 },
    { "gcm(aes)", 24, 8, 0 },
    { "gcm(aes)", 32, 12, 0 },
    { "gcm(aes)", 16, 13, 0 },
    { "gcm(aes)", 24, 14, 0 },
    { "gcm(aes)", 32, 15, 0 },
    { "gcm(aes)", 16, 16, 0 },
    { "gcm(aes)", 0, 16, -EINVAL },
    { "gcm(aes)", 15, 16, -EINVAL },
    { "gcm(aes)", 17, 16, -EINVAL },
    { "gcm(aes)", 20, 16, -EINVAL },
    { "gcm(aes)", 33, 16, -EINVAL },
    { "gcm(aes)", 64, 16, -EINVAL },
    { "gcm(aes)", 16, 0, -EINVAL },
    { "gcm(aes)", 16, 1, -EINVAL },
    { "gcm(aes)", 16, 2, -EINVAL },
    { "gcm(aes)", 16, 3, -EINVAL },
    { "gcm(aes)", 16, 5, -EINVAL },
    { "gcm(aes)", 16, 6, -EINVAL },
    { "gcm(aes)", 16, 7, -EINVAL },
    { "gcm(aes)", 16, 9, -EINVAL },
    { "gcm(aes)", 16, 10, -EINVAL },
    { "gcm(aes)", 16, 11, -EINVAL },
    { "gcm(aes)", 16, 17, -EINVAL },
    { "gcm(aes)", 16, 32, -EINVAL },
    /* ChaCha20-Poly1305: a 256-bit key and the full tag only */
    { "rfc7539(chacha20,poly1305)", 32, 16, 0 },
    { "rfc7539(chacha20,poly1305)", 16, 16, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 31, 16, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 33, 16, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 32, 0, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 32, 8, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 32, 12, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 32, 15, -EINVAL },
    { "rfc7539(chacha20,poly1305)", 32, 17, -EINVAL },
    /* CBC: AES keys, no tag */
    { "cbc(aes)", 16, 0, 0 },
    { "cbc(aes)", 24, 0, 0 },
    { "cbc(aes)", 32, 0, 0 },
    { "cbc(aes)", 0, 0, -EINVAL },
    { "cbc(aes)", 8, 0, -EINVAL },
    { "cbc(aes)", 33, 0, -EINVAL },
    { "cbc(aes)", 16, 16, -EINVAL },
    /* hashes: no key, no tag */
    { "sha256", 0, 0, 0 },
    { "sha384", 0, 0, 0 },
    { "sha512", 0, 0, 0 },
    { "sha256", 16, 0, -EINVAL },
    { "sha384", 1, 0, -EINVAL },
    { "sha512", 0, 64, -EINVAL },
    /* HMAC: any key, shorter and longer than the block included; no tag */
    { "hmac(sha256)", 0, 0, 0 },
    { "hmac(sha256)", 1, 0, 0 },
    { "hmac(sha256)", 32, 0, 0 },
    { "hmac(sha256)", 64, 0, 0 },
    { "hmac(sha256)", 65, 0, 0 },
    { "hmac(sha384)", 48, 0, 0 },
    { "hmac(sha384)", 129, 0, 0 },
    { "hmac(sha384)", 4096, 0, 0 },
    { "hmac(sha256)", 32, 32, -EINVAL },
};

static int keys(void)
{
    static unsigned char material[4096];
    struct rc_key *key;

    for (size_t i = 0; i < ARRAY_LEN(key_cases); i++) {
        const struct key_case *c = &key_cases[i];
        int rc;

        rc = rc_key_new(c->alg, material, c->keylen, c->authsize, &key);
        CHECK(rc == c->want, "rc_key_new(\"%s\", %zu bytes, tag %u) = %d, expected %d", c->alg,
              c->keylen, c->authsize, rc, c->want);
        CHECK(rc != 0 || key != NULL, "%s: no key", c->alg);
        if (rc == 0)
            rc_key_free(key);
    }
    CHECK_EQ(rc_key_new(NULL, NULL, 0, 0, &key), -ENOENT);
    CHECK_EQ(rc_key_new("hmac(sha256)", NULL, 16, 0, &key), -EINVAL);
    CHECK_EQ(rc_key_new("gcm(aes)", NULL, 16, 16, &key), -EINVAL);
    CHECK_EQ(rc_key_new("sha256", NULL, 0, 0, &key), 0);
    rc_key_free(key);
    rc_key_free(NULL);
    return T_PASS;
}

/* ---- kernel forms -------------------------------------------------------------- */

/* The context of a request: the op and its buffers, as the API wants them. */
struct kctx {
    struct rc_kernel_op op;
    _Atomic int *ran;
    unsigned char in[RC_KERNEL_MAX_BYTES + 16];
    unsigned char out[RC_KERNEL_MAX_BYTES + 64];
};

static int never_runs(void *ctx)
{
    (void)ctx;
    return -EPROTO;
}

/* A fresh request whose op asks for dir on key, inlen bytes in and outsize out. */
static struct rc_req *op_req(struct rc_key *key, enum rc_kernel_dir dir, unsigned int ivlen,
                             unsigned int assoclen, size_t inlen, size_t outsize)
{
    struct rc_req *req = rc_req_new(never_runs, sizeof(struct kctx), NULL);
    struct kctx *k;

    if (req == NULL)
        return NULL;
    k = rc_req_ctx(req);
    k->op = (struct rc_kernel_op){ .key = key, .dir = dir, .ivlen = ivlen, .assoclen = assoclen,
                                   .in = k->in, .inlen = inlen, .out = k->out,
                                   .outsize = outsize };
    return req;
}

struct op_case {
    const char *what;
    int key;           /* index into op_keys */
    enum rc_kernel_dir dir;
    unsigned int ivlen, assoclen;
    size_t inlen, outsize;
    int want;
};

static const struct key_case op_keys[] = {
    { "gcm(aes)", 16, 16, 0 },
    { "gcm(aes)", 32, 8, 0 },
    { "rfc7539(chacha20,poly1305)", 32, 16, 0 },
    { "cbc(aes)", 16, 0, 0 },
    { "sha256", 0, 0, 0 },
    { "hmac(sha384)", 48, 0, 0 },
};

enum { GCM, GCM_TAG8, CHACHA, CBC, SHA256, HMAC384 };

#define ENC RC_KERNEL_ENCRYPT
#define DEC RC_KERNEL_DECRYPT
#define DIG RC_KERNEL_DIGEST
#define MAX RC_KERNEL_MAX_BYTES

static const struct op_case op_cases[] = {
    { "gcm encrypt", GCM, ENC, 12, 13, 100, 103, 0 },
    { "gcm encrypt, AAD only", GCM, ENC, 12, 13, 13, 16, 0 },
    { "gcm encrypt, nothing", GCM, ENC, 12, 0, 0, 16, 0 },
    { "gcm IV 0", GCM, ENC, 0, 0, 16, 32, -EINVAL },
    { "gcm IV 8", GCM, ENC, 8, 0, 16, 32, -EINVAL },
    { "gcm IV 11", GCM, ENC, 11, 0, 16, 32, -EINVAL },
    { "gcm IV 13", GCM, ENC, 13, 0, 16, 32, -EINVAL },
    { "gcm IV 16", GCM, ENC, 16, 0, 16, 32, -EINVAL },
    { "chacha IV 8", CHACHA, ENC, 8, 0, 16, 32, -EINVAL },
    { "chacha IV 16", CHACHA, DEC, 16, 0, 32, 16, -EINVAL },
    { "gcm AAD longer than input", GCM, ENC, 12, 17, 16, 32, -EINVAL },
    { "gcm encrypt, output one short", GCM, ENC, 12, 13, 100, 102, -EINVAL },
    { "gcm decrypt", GCM, DEC, 12, 13, 100, 71, 0 },
    { "gcm decrypt, AAD and tag only", GCM, DEC, 12, 13, 29, 0, 0 },
    { "gcm decrypt, output one short", GCM, DEC, 12, 13, 100, 70, -EINVAL },
    { "gcm decrypt shorter than AAD + tag", GCM, DEC, 12, 13, 28, 64, -EINVAL },
    { "gcm decrypt shorter than the tag", GCM, DEC, 12, 0, 15, 64, -EINVAL },
    { "gcm decrypt, 8-byte tag", GCM_TAG8, DEC, 12, 0, 8 + 5, 5, 0 },
    { "gcm decrypt shorter than an 8-byte tag", GCM_TAG8, DEC, 12, 0, 7, 64, -EINVAL },
    { "chacha decrypt shorter than AAD + tag", CHACHA, DEC, 12, 1, 16, 64, -EINVAL },
    { "gcm as a digest", GCM, DIG, 12, 0, 16, 64, -EINVAL },
    { "gcm, largest", GCM, ENC, 12, 16, MAX, MAX + 16, 0 },
    { "gcm, one over", GCM, ENC, 12, 16, MAX + 1, MAX + 17, -E2BIG },
    { "cbc encrypt", CBC, ENC, 16, 0, 32, 32, 0 },
    { "cbc decrypt", CBC, DEC, 16, 0, 16, 16, 0 },
    { "cbc IV 12", CBC, ENC, 12, 0, 16, 16, -EINVAL },
    { "cbc IV 0", CBC, ENC, 0, 0, 16, 16, -EINVAL },
    { "cbc empty", CBC, ENC, 16, 0, 0, 16, -EINVAL },
    { "cbc 15 bytes", CBC, ENC, 16, 0, 15, 16, -EINVAL },
    { "cbc 17 bytes", CBC, DEC, 16, 0, 17, 32, -EINVAL },
    { "cbc 31 bytes", CBC, DEC, 16, 0, 31, 32, -EINVAL },
    { "cbc output one short", CBC, ENC, 16, 0, 32, 31, -EINVAL },
    { "cbc with AAD", CBC, ENC, 16, 16, 32, 32, -EINVAL },
    { "cbc with AAD longer than input", CBC, DEC, 16, 48, 32, 32, -EINVAL },
    { "cbc as a digest", CBC, DIG, 16, 0, 16, 16, -EINVAL },
    { "cbc, largest", CBC, DEC, 16, 0, MAX, MAX, 0 },
    { "cbc, one block over", CBC, DEC, 16, 0, MAX + 16, MAX + 16, -E2BIG },
    { "sha256", SHA256, DIG, 0, 0, 100, 32, 0 },
    { "sha256 of nothing", SHA256, DIG, 0, 0, 0, 32, 0 },
    { "sha256, largest", SHA256, DIG, 0, 0, MAX, 32, 0 },
    { "sha256, one over", SHA256, DIG, 0, 0, MAX + 1, 32, -E2BIG },
    { "sha256 output one short", SHA256, DIG, 0, 0, 100, 31, -EINVAL },
    { "sha256 encrypting", SHA256, ENC, 0, 0, 100, 32, -EINVAL },
    { "sha256 decrypting", SHA256, DEC, 0, 0, 100, 32, -EINVAL },
    { "sha256 with an IV", SHA256, DIG, 12, 0, 100, 32, -EINVAL },
    { "sha256 with AAD", SHA256, DIG, 0, 10, 100, 32, -EINVAL },
    { "hmac(sha384)", HMAC384, DIG, 0, 0, 100, 48, 0 },
    { "hmac(sha384) output one short", HMAC384, DIG, 0, 0, 100, 47, -EINVAL },
    { "hmac(sha384) encrypting", HMAC384, ENC, 0, 0, 100, 48, -EINVAL },
};

static int kernel_forms(void)
{
    static const unsigned char material[64];
    struct rc_key *keys[ARRAY_LEN(op_keys)];
    struct rc_req *req;
    struct kctx *k;

    for (size_t i = 0; i < ARRAY_LEN(op_keys); i++)
        CHECK_EQ(rc_key_new(op_keys[i].alg, material, op_keys[i].keylen, op_keys[i].authsize,
                            &keys[i]),
                 0);
    if (t_failures > 0)
        return T_FAIL;
    for (size_t i = 0; i < ARRAY_LEN(op_cases); i++) {
        const struct op_case *c = &op_cases[i];
        int rc;

        req = op_req(keys[c->key], c->dir, c->ivlen, c->assoclen, c->inlen, c->outsize);
        if (req == NULL)
            return T_FAIL;
        rc = rc_req_set_kernel(req, rc_req_ctx(req));
        CHECK(rc == c->want, "%s: rc_req_set_kernel = %d, expected %d", c->what, rc, c->want);
        rc_req_free(req);
    }

    /* Buffers and key required; a second kernel form refused, a refused one not kept. */
    req = op_req(keys[GCM], ENC, 12, 0, 16, 32);
    if (req == NULL)
        return T_FAIL;
    k = rc_req_ctx(req);
    k->op.in = NULL;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), -EINVAL);
    k->op.in = k->in;
    k->op.out = NULL;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), -EINVAL);
    k->op.out = k->out;
    k->op.key = NULL;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), -EINVAL);
    k->op.key = keys[GCM];
    /* The reserved room is for later fields: an old caller's garbage there is refused. */
    k->op.reserved[3] = 1;
    CHECK_EQ(rc_req_set_kernel(req, &k->op), -EINVAL);
    k->op.reserved[3] = 0;
    CHECK_EQ(rc_req_set_kernel(NULL, &k->op), -EINVAL);
    CHECK_EQ(rc_req_set_kernel(req, NULL), -EINVAL);
    CHECK_EQ(rc_req_set_kernel(req, &k->op), 0);
    CHECK_EQ(rc_req_set_kernel(req, &k->op), -EINVAL);
    rc_req_free(req);

    /* Once offloaded (here: run on the caller, no job), a request takes no kernel form. */
    req = op_req(keys[SHA256], DIG, 0, 0, 16, 32);
    if (req == NULL)
        return T_FAIL;
    CHECK_EQ(rc_offload(req), -EPROTO);
    CHECK_EQ(rc_req_set_kernel(req, rc_req_ctx(req)), -EINVAL);
    rc_req_free(req);

    /* The request holds its key: freed first, the key is still there for it (ASan). */
    req = op_req(keys[HMAC384], DIG, 0, 0, 16, 48);
    if (req == NULL)
        return T_FAIL;
    CHECK_EQ(rc_req_set_kernel(req, rc_req_ctx(req)), 0);
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        rc_key_free(keys[i]);
    rc_req_free(req);
    return T_PASS;
}

/* ---- requests with a kernel form, no kernel ---------------------------------- */

static int digest_work(void *ctx)
{
    struct kctx *k = ctx;
    unsigned int len = 0;

    atomic_fetch_add(k->ran, 1);
    if (!EVP_Digest(k->op.in, k->op.inlen, k->op.out, &len, EVP_sha256(), NULL))
        return -EIO;
    k->op.outlen = len;
    return 0;
}

static int offload(void *req)
{
    return rc_offload(req);
}

/* In a job of each mode (or none): the work function answers, the counters agree. */
static int work_runs(int mode)
{
    static const unsigned char msg[] = "no kernel here";
    unsigned char want[32];
    struct rc_stats before, d;
    _Atomic int ran = 0;
    struct rc_key *key;
    struct rc_req *req;
    struct kctx *k;
    int rc;

    if (afalg_present())
        return T_SKIP;
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_key_new("sha256", NULL, 0, 0, &key), 0);
    req = rc_req_new(digest_work, sizeof(struct kctx), NULL);
    if (key == NULL || req == NULL)
        return T_FAIL;
    k = rc_req_ctx(req);
    k->ran = &ran;
    memcpy(k->in, msg, sizeof(msg));
    k->op = (struct rc_kernel_op){ .key = key, .dir = RC_KERNEL_DIGEST, .in = k->in,
                                   .inlen = sizeof(msg), .out = k->out, .outsize = 32 };
    CHECK_EQ(rc_req_set_kernel(req, &k->op), 0);
    rc_key_free(key);
    rc_stats_total(&before);
    rc = t_run_job(mode, offload, req, JOB_TIMEOUT_MS);
    t_stats_since(&before, &d);
    CHECK(rc == 0, "%s: rc_offload = %d", t_job_mode_name(mode), rc);
    CHECK_EQ(atomic_load(&ran), 1);
    CHECK_EQ(k->op.by_kernel, 0);
    CHECK_EQ(k->op.outlen, 32);
    CHECK(EVP_Digest(msg, sizeof(msg), want, NULL, EVP_sha256(), NULL)
          && memcmp(k->op.out, want, sizeof(want)) == 0, "%s: wrong digest", t_job_mode_name(mode));
    CHECK_EQ(d.kernel_ops, 0);
    CHECK_EQ(d.kernel_waits, 0);
    CHECK_EQ(d.submitted, mode == T_NO_JOB ? 0 : 1);
    CHECK_EQ(d.inline_ops, mode == T_NO_JOB ? 1 : 0);
    rc_req_free(req);
    return T_PASS;
}

static int auto_no_job(void) { return work_runs(T_NO_JOB); }
static int auto_core(void) { return work_runs(T_CORE); }
static int auto_callback(void) { return work_runs(T_CALLBACK); }
static int auto_fd(void) { return work_runs(T_FD); }

static const char *const afalg[] = { "RINGCRYPT_BACKEND=afalg", NULL };
static const char *const autob[] = { "RINGCRYPT_BACKEND=auto", NULL };

static const struct scenario scenarios[] = {
    { "afalg_refused", afalg_refused, afalg },
    { "auto_without_afalg", auto_without_afalg, autob },
    { "keys", keys, NULL },
    { "kernel_forms", kernel_forms, NULL },
    { "auto_no_job", auto_no_job, autob },
    { "auto_core", auto_core, autob },
    { "auto_callback", auto_callback, autob },
    { "auto_fd", auto_fd, autob },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
