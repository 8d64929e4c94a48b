/*
 * fork() while real private-key operations run on the workers: RSA-2048
 * signatures (whose blinding takes the key's lock), ECDSA P-256 signatures
 * and X25519 derivations (the DRBG's lock) through the provider, inside ASYNC
 * jobs. The child then uses the same keys, offloaded and synchronously, and
 * must never find a lock that a parent's worker held at the fork: such a lock
 * stays held in the child forever. Hundreds of rounds, the fork coming at a
 * different moment of the parent's operations each time; a child that hangs
 * is ended by its alarm and fails the test.
 */
#include <openssl/evp.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Forks are slow under the sanitizers, and so is RSA under TSan. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 100
#else
#define ROUNDS 300
#endif
/* In flight at each fork: two workers' worth of each, RSA twice over. */
#define JOBS 8
#define JOB_TIMEOUT_MS 60000
/* Generous: the child makes six operations and starts two workers. */
#define CHILD_ALARM_S 60

static OSSL_LIB_CTX *libctx;
static EVP_PKEY *rsa, *ec, *x25519, *x25519_peer;
static unsigned char x25519_secret[32];
static const unsigned char msg[] = "ringcrypt: fork with keys in use";

static int sign_and_verify(EVP_PKEY *key)
{
    unsigned char sig[512];
    size_t n = sizeof(sig);
    EVP_MD_CTX *sign = EVP_MD_CTX_new(), *verify = EVP_MD_CTX_new();
    bool ok = sign != NULL && verify != NULL
              && EVP_DigestSignInit_ex(sign, NULL, "SHA256", libctx, NULL, key, NULL) == 1
              && EVP_DigestSign(sign, sig, &n, msg, sizeof(msg)) == 1
              && EVP_DigestVerifyInit_ex(verify, NULL, "SHA256", libctx, NULL, key, NULL) == 1
              && EVP_DigestVerify(verify, sig, n, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(sign);
    EVP_MD_CTX_free(verify);
    return ok ? 0 : -1;
}

/* priv with peer's public key: the secret's length in out, 0 on failure. */
static size_t derive(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *out, size_t len)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(libctx, priv, NULL);
    bool ok = p != NULL && EVP_PKEY_derive_init(p) == 1 && EVP_PKEY_derive_set_peer(p, peer) == 1
              && EVP_PKEY_derive(p, out, &len) == 1;

    EVP_PKEY_CTX_free(p);
    return ok ? len : 0;
}

static int op_rsa(void *arg)
{
    (void)arg;
    return sign_and_verify(rsa);
}

static int op_ecdsa(void *arg)
{
    (void)arg;
    return sign_and_verify(ec);
}

/* The secret the peer's side derived at set-up. */
static int op_x25519(void *arg)
{
    unsigned char out[64];

    (void)arg;
    return derive(x25519, x25519_peer, out, sizeof(out)) == sizeof(x25519_secret)
                   && memcmp(out, x25519_secret, sizeof(x25519_secret)) == 0
               ? 0
               : -1;
}

static int (*const ops[])(void *) = { op_rsa, op_ecdsa, op_x25519 };
static const char *const op_names[] = { "RSA-2048", "ECDSA P-256", "X25519" };
#define NOPS 3

/* RSA for half the jobs: its lock is the one seen held. */
static int job_body(struct t_job *j)
{
    static const int kind[] = { 0, 1, 0, 2 };

    return ops[kind[j->index % 4]](NULL);
}

/* The child: each operation with the parent's keys, on this thread and offloaded. */
static int child(void)
{
    struct rc_stats s;

    alarm(CHILD_ALARM_S);
    for (int k = 0; k < NOPS; k++) {
        CHECK(ops[k](NULL) == 0, "%s without a job failed in the child", op_names[k]);
        CHECK(t_run_job(T_CORE, ops[k], NULL, JOB_TIMEOUT_MS) == 0,
              "%s offloaded failed in the child", op_names[k]);
    }
    rc_stats_total(&s);
    CHECK_EQ(s.submitted, NOPS);
    return t_failures == 0 ? T_PASS : T_FAIL;
}

static void child_result(pid_t pid, int round)
{
    int status;

    CHECK(pid > 0, "fork failed");
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        CHECK(false, "round %d: child killed by signal %d%s", round, WTERMSIG(status),
              WTERMSIG(status) == SIGALRM ? " (it hung)" : "");
    else
        CHECK(WEXITSTATUS(status) == 0, "round %d: child exit %d", round, WEXITSTATUS(status));
}

static int keys(void)
{
    unsigned char secret[64];

    libctx = t_provider_libctx();
    if (libctx == NULL)
        return -1;
    rsa = EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)2048);
    ec = EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256");
    x25519 = EVP_PKEY_Q_keygen(libctx, NULL, "X25519");
    x25519_peer = EVP_PKEY_Q_keygen(libctx, NULL, "X25519");
    if (rsa == NULL || ec == NULL || x25519 == NULL || x25519_peer == NULL
        || derive(x25519_peer, x25519, secret, sizeof(secret)) != sizeof(x25519_secret)) {
        t_print_errors("keys");
        return -1;
    }
    memcpy(x25519_secret, secret, sizeof(x25519_secret));
    return 0;
}

static int fork_rounds(void)
{
    struct t_job jobs[JOBS];
    struct t_driver d;
    struct rc_stats s;
    int round;

    CHECK_EQ(keys(), 0);
    for (round = 0; round < ROUNDS && t_failures == 0; round++) {
        pid_t pid;

        CHECK_EQ(t_driver_init(&d, T_CORE, jobs, JOBS, job_body, NULL), 0);
        for (int i = 0; i < JOBS; i++)
            CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
        /* Some answers taken in, some not: each round forks at another point of the work. */
        for (int k = 0; k < round % 4; k++)
            rc_core_poll(d.core);
        fflush(NULL);
        pid = fork();
        if (pid == 0)
            _exit(child());
        CHECK_EQ(t_driver_loop(&d, jobs, JOBS, JOB_TIMEOUT_MS), 0);
        for (int i = 0; i < JOBS; i++)
            CHECK(jobs[i].finished && jobs[i].ret == 0, "round %d: job %d: %d", round, i,
                  jobs[i].ret);
        t_driver_fini(&d, jobs, JOBS);
        child_result(pid, round);
    }
    rc_stats_total(&s);
    CHECK_EQ(s.submitted, (uint64_t)round * JOBS);
    printf("  %d rounds\n", round);
    /* Freed after the workers are gone: a worker may drop the last reference to a key. */
    rc_shutdown();
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(x25519);
    EVP_PKEY_free(x25519_peer);
    t_provider_free(libctx);
    return T_PASS;
}

static const struct scenario scenarios[] = {
    { "msg_ring", fork_rounds, NULL },
    { "eventfd", fork_rounds, (const char *const[]){ "RINGCRYPT_FORCE_EVENTFD=1", NULL } },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
