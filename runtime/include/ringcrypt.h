/*
 * ringcrypt — io_uring-based asynchronous crypto offload for OpenSSL 3.x.
 *
 * The one public header of libringcrypt. Functions return 0 (or a count) on
 * success and a negative errno on failure, as liburing does.
 *
 * Threads and cores: a thread that runs an event loop creates one rc_core and
 * waits in rc_core_run() (or polls rc_core_fd() from its own loop). Work
 * offloaded from an ASYNC job on that thread completes as a CQE on that core's
 * ring and the job's wait-ctx callback runs on that same thread. Threads
 * without a core can offload too: completions then arrive on a foreign thread
 * (callback mode) or through an eventfd registered with the wait ctx (fd mode).
 */
#ifndef RINGCRYPT_H
#define RINGCRYPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header (and of the library built with it). */
#define RINGCRYPT_VERSION_MAJOR 0
#define RINGCRYPT_VERSION_MINOR 3
#define RINGCRYPT_VERSION_PATCH 0
#define RINGCRYPT_VERSION_STRING "0.3.0"

#if defined(__GNUC__)
#define RC_API __attribute__((visibility("default")))
#else
#define RC_API
#endif

struct io_uring_sqe;
struct rc_core;
struct rc_req;

/*
 * Every CQE on a core's ring carries a pointer to an rc_event in its
 * user_data; the core calls ev->fn with the CQE's res and flags. Embed one in
 * your own structure and use container_of-style arithmetic to get back to it.
 * A user_data of 0 is ignored.
 */
struct rc_event {
    void (*fn)(struct rc_event *ev, int res, unsigned int flags);
};

/*
 * Deferred work for the core's run queue; runs on the core's thread. The
 * memory is the caller's throughout: see rc_core_defer for how long it must
 * stay valid.
 */
struct rc_task {
    struct rc_task *next;
    void (*fn)(struct rc_task *task);
};

/* ---- runtime ----------------------------------------------------------- */

/*
 * The version of the library loaded at run time, as "MAJOR.MINOR.PATCH"
 * (RINGCRYPT_VERSION_STRING when it was built): it can differ from the
 * header a program was compiled with. A constant; never NULL.
 */
RC_API const char *rc_version(void);

/*
 * Reads the RINGCRYPT_* environment (and values given with rc_config_set) and
 * validates them. Idempotent; the other entry points call it on first use.
 * An unknown variable, an unknown value or a number out of range is -EINVAL,
 * with the reason in rc_last_error(); nothing falls back to a default.
 */
RC_API int rc_init(void);

/*
 * Sets a configuration key before rc_init (or after rc_shutdown): "backend",
 * "workers", "timeout_ms", "max_inflight", "min_offload_bytes", "spin_us",
 * "kernel_sockets", "force_eventfd", "stats" (the same keys an openssl.cnf
 * provider section takes). The matching RINGCRYPT_* environment variable,
 * when set, wins. -EINVAL for a NULL key or value, an unknown key (the
 * reason lists the known ones) or a bad value; -EBUSY while running (the
 * key is then not checked); -ENOMEM.
 */
RC_API int rc_config_set(const char *key, const char *value);

/* The reason for the last -EINVAL from rc_init or rc_config_set. */
RC_API const char *rc_last_error(void);

/*
 * What the runtime runs with (it starts it if needed): 0, or rc_init's
 * -errno. The strings are the runtime's and never freed: backend, transport
 * and ring_flags are constants; kernel_algs is rewritten when the runtime
 * starts again after rc_shutdown, so copy it to keep it across a restart.
 */
struct rc_info {
    const char *backend;    /* "worker", "inline", or "afalg" (the kernel's algorithms, workers for the rest) */
    const char *transport;  /* "msg_ring", "eventfd" or "none" (inline) */
    const char *ring_flags; /* the io_uring set-up flags this kernel took */
    unsigned int workers;
    unsigned int max_inflight;
    unsigned int timeout_ms;
    unsigned int min_offload_bytes; /* symmetric calls below this stay inline */
    unsigned int spin_us;           /* busy-poll budget before sleeping (0: never) */
    const char *kernel_algs;        /* the AF_ALG algorithms in use, space-separated ("": none) */
    unsigned int kernel_sockets;    /* AF_ALG sockets (key and operation) per core or worker */
    /* Zeros: fields added later take these places, so that a program built
     * with an older header still passes a struct big enough. */
    void *reserved[8];
};
RC_API int rc_info(struct rc_info *out);

/*
 * Stops the backends. Requests still queued in a backend complete with
 * -ESHUTDOWN. Call it after every core is destroyed; the next offload or
 * rc_init starts the runtime again with the configuration then in force.
 */
RC_API void rc_shutdown(void);

/* ---- cores ------------------------------------------------------------- */

struct rc_core_opts {
    unsigned int sq_entries; /* 0: default */
    unsigned int cq_entries; /* 0: sized for the in-flight limit */
    /* Must be 0 (zero the struct): options added later take these places
     * with 0 meaning what an older library does. */
    unsigned int reserved[6];
};

/*
 * Creates the calling thread's core (opts may be NULL). The core belongs to
 * this thread: every rc_core_* call but rc_core_stats must come from it.
 * 0 and *out set; else *out is NULL and the result is:
 *   -EBUSY   this thread already has a core;
 *   -EINVAL  opts->reserved is not all zeros (an option this library does
 *            not know), the configuration is invalid or asks for what the kernel
 *            lacks, backend "afalg" without AF_ALG (reason in
 *            rc_last_error()), or the kernel takes none of the io_uring
 *            set-ups tried;
 *   -ENOMEM  out of memory, or the runtime's exit and fork handlers could
 *            not be installed;
 *   -EAGAIN  the runtime's worker threads could not be created;
 *   another -errno from io_uring_setup(2) for this core's ring or a
 *            worker's (-ENOSYS, -EPERM where io_uring is disabled, -EMFILE,
 *            -ENFILE) or from eventfd(2).
 */
RC_API int rc_core_create(const struct rc_core_opts *opts, struct rc_core **out);

/*
 * Destroys a core. Requests still in flight complete with -ECANCELED without
 * their callbacks being called (their jobs are the caller's to discard);
 * requests a backend still holds are handed to it so that it frees them.
 * Handlers of the application's own operations still in flight are not
 * called. Safe on a core inherited across fork().
 */
RC_API void rc_core_destroy(struct rc_core *core);

/* The calling thread's core, or NULL (also NULL in a child after fork()). */
RC_API struct rc_core *rc_core_current(void);

/*
 * One loop turn: runs the tasks queued so far, submits every prepared SQE with
 * one io_uring_enter, waits up to timeout_ms (-1: no limit) for at least one
 * completion unless work is already pending, dispatches every CQE and expires
 * requests past their deadline. Returns the number of events and tasks
 * handled (0 when the wait timed out or a signal cut it short with nothing
 * handled), or:
 *   -EBADFD  the core was inherited across fork(); only rc_core_destroy
 *            may be called on it;
 *   -EBUSY   called from inside a turn of the same core (a handler or task);
 *   another -errno from io_uring_enter(2) (-EBADR: completions were lost to
 *            an overflow, say); the tasks of this turn have run, no CQE was
 *            dispatched and no deadline expired.
 * rc_core_poll returns the same.
 */
RC_API int rc_core_run(struct rc_core *core, int timeout_ms);

/* rc_core_run without waiting. */
RC_API int rc_core_poll(struct rc_core *core);

/*
 * For applications with their own epoll loop: a descriptor that polls
 * readable when rc_core_poll has work to do (a completion, a queued task).
 * Made on the first call, from the core's thread; -errno if it cannot be.
 */
RC_API int rc_core_fd(struct rc_core *core);

/*
 * An SQE on the core's ring for the application's own operation; set its
 * user_data to an rc_event. A full submission queue is submitted first to
 * make room; NULL only when that submission fails (io_uring_enter(2) with an
 * error other than -EINTR or -EAGAIN, such as -EBUSY or -EBADR with the
 * completion queue overflowing): run the loop to reap completions, then ask
 * again.
 */
RC_API struct io_uring_sqe *rc_core_sqe(struct rc_core *core);

/*
 * Queues a task to run on the core's next loop turn; a task queued from a
 * task runs on the turn after. The core links task through task->next: it
 * must stay valid and untouched until task->fn is called, once, on the
 * core's thread; from then on it is the caller's again (fn may free it or
 * queue it anew). Tasks still queued when the core is destroyed never run.
 */
RC_API void rc_core_defer(struct rc_core *core, struct rc_task *task);

/* ---- requests ---------------------------------------------------------- */

/* The work a backend runs: 0 or a negative errno. Runs on any thread. */
typedef int (*rc_work_fn)(void *ctx);

/*
 * A request owns ctx_size bytes of zeroed context that the caller fills with
 * the inputs and the work function fills with the results. The request may
 * outlive its caller (an abandoned job, a deadline): release(ctx), when not
 * NULL, runs once nothing can touch ctx any more, on whichever thread lets go
 * last (free what ctx points to there); ctx itself is wiped after it, so key
 * material kept in ctx needs no wiping of its own. NULL when out of memory.
 */
RC_API struct rc_req *rc_req_new(rc_work_fn fn, size_t ctx_size,
                          void (*release)(void *ctx));
RC_API void *rc_req_ctx(struct rc_req *req);

/*
 * Runs req's work through the configured backend and returns its result.
 *
 * Outside an ASYNC job the work runs synchronously on the caller. Inside a
 * job the job pauses until the work is done; the wait ctx learns of the
 * completion by one of three ways:
 *   core mode     the wait ctx has a callback and this thread has a core:
 *                 the completion is a CQE on this core's ring; the core sets
 *                 ASYNC_STATUS_OK (ASYNC_STATUS_ERR on failure) and calls the
 *                 callback on this thread;
 *   callback mode the wait ctx has a callback and this thread has no core:
 *                 the thread that finished the work sets the status and calls
 *                 the callback — a foreign thread, so the callback must only
 *                 schedule the resumption;
 *   fd mode       no callback: an eventfd registered with the wait ctx
 *                 (ASYNC_WAIT_CTX_set_wait_fd) becomes readable.
 * A job whose work went to a backend pauses at least once, even if the work
 * is done before it gets there: each completion's callback or eventfd write
 * answers a pause, and the eventfd is announced by the first pause (libssl's
 * SSL_get_changed_async_fds after SSL_ERROR_WANT_ASYNC) and stays in the wait
 * ctx until it is freed. In the callback modes ringcrypt registers an entry with fd -1 under its own
 * key, so that it learns when the wait ctx is freed; poll no fds in those
 * modes. When the in-flight limit is reached or a backend refuses, the status
 * is ASYNC_STATUS_EAGAIN, the job pauses and retries on resume; a core calls
 * the callback when a slot frees, the other modes call it (or wake the fd) at
 * once. Freeing the wait ctx while the job is paused abandons the request:
 * the job must then never be resumed.
 *
 * Returns the work's result, -ETIMEDOUT past the deadline, -ECANCELED when
 * the core was destroyed, -ESHUTDOWN when the runtime stopped, -ENOMEM, or
 * -EINVAL when the configuration is invalid. The caller keeps its reference
 * either way and drops it with rc_req_free.
 */
RC_API int rc_offload(struct rc_req *req);

/* Drops the caller's reference. */
RC_API void rc_req_free(struct rc_req *req);

/* ---- kernel crypto (AF_ALG) ------------------------------------------- */

/*
 * Where the kernel offers them through AF_ALG, symmetric operations can run
 * in the kernel instead of on a worker: on a core, as a linked SENDMSG and
 * READ on the core's own ring, so the answer is a CQE there like any other.
 * The algorithms, by their kernel names: "gcm(aes)",
 * "rfc7539(chacha20,poly1305)", "cbc(aes)", "sha256", "sha384", "sha512",
 * "hmac(sha256)", "hmac(sha384)". The runtime probes them at start-up;
 * backend "afalg" requires AF_ALG, "auto" uses it where it is offered.
 */

/*
 * Whether the runtime runs alg (a name from the list above) in the kernel:
 * not 0-or-errno like the other calls but three answers, 1 yes, 0 no (also
 * for a name not in the list, or a backend other than "auto" or "afalg"),
 * or rc_init's negative errno when the runtime cannot start.
 */
RC_API int rc_kernel_uses(const char *alg);

/*
 * An algorithm with its key (and, for AEADs, the tag size), shared by every
 * request that uses it; the key is copied. Each core keeps its own kernel
 * sockets for it, made on first use, closed and the copy wiped once the last
 * reference is gone. Unkeyed hashes take no key (keylen 0). -ENOENT for an
 * algorithm not in the list above, -EINVAL for a key or tag size the kernel
 * would refuse, -ENOMEM.
 */
struct rc_key;
RC_API int rc_key_new(const char *alg, const void *key, size_t keylen, unsigned int authsize,
                      struct rc_key **out);
RC_API void rc_key_free(struct rc_key *key);

enum rc_kernel_dir {
    RC_KERNEL_ENCRYPT,
    RC_KERNEL_DECRYPT,
    RC_KERNEL_DIGEST, /* hashes and HMACs */
};

/*
 * One kernel operation. AEAD encryption reads AAD || plaintext and writes
 * ciphertext || tag; decryption reads AAD || ciphertext || tag and writes the
 * plaintext, or fails with -EBADMSG when the tag does not match (out is then
 * zeroed: the kernel may have written plaintext before checking). CBC reads
 * and writes whole blocks; a digest reads the message and writes the digest.
 */
struct rc_kernel_op {
    struct rc_key *key;          /* the request holds a reference */
    enum rc_kernel_dir dir;
    unsigned char iv[16];
    unsigned int ivlen;          /* 12 for the AEADs, 16 for CBC, 0 for digests */
    unsigned int assoclen;       /* AEAD: AAD bytes at the start of in */
    const unsigned char *in;
    size_t inlen;
    unsigned char *out;
    size_t outsize;
    size_t outlen;               /* written on success */
    int by_kernel;               /* set to 1 when the kernel did it, 0 when the work function did */
    unsigned int reserved[4];    /* zero: room for later fields (non-zero is -EINVAL) */
};

/* Larger operations are left to the work function: AF_ALG takes an operation in one send. */
#define RC_KERNEL_MAX_BYTES 65536

/*
 * Gives req a kernel form: offloaded through a backend that uses the kernel
 * for op->key's algorithm, req runs as op in the kernel instead of running
 * its work function (which stays the form for every other case: no ASYNC
 * job, another backend, a kernel out of sockets). op and the buffers it
 * points to must live in req's context; op is read here once, and later only
 * outlen and by_kernel are written. 0; -EINVAL when op is malformed
 * (lengths, IV size, an AEAD decryption with neither AAD nor data, whose tag
 * the kernel would never check, a reserved field not zero); -E2BIG above RC_KERNEL_MAX_BYTES.
 * rc_offload then returns 0, -EBADMSG or another -errno for the kernel's
 * answer.
 */
RC_API int rc_req_set_kernel(struct rc_req *req, struct rc_kernel_op *op);

/*
 * Runs op in the kernel now, on the calling thread, and waits for its answer
 * there (up to timeout_ms): for threads without a core, where there is no
 * loop to deliver a completion to. The kernel's software ciphers answer
 * within the submission, so the wait is usually none; no request is made and
 * op's buffers are used where they are. 0, -EBADMSG, -ETIMEDOUT (the
 * operation cancelled), -EOPNOTSUPP when the runtime does not run op's
 * algorithm in the kernel, or another -errno (malformed op, out of sockets).
 */
RC_API int rc_kernel_run(struct rc_kernel_op *op);

/* ---- statistics -------------------------------------------------------- */

struct rc_stats {
    uint64_t submitted;  /* handed to a backend */
    uint64_t completed;  /* finished as the caller sees it, errors included */
    uint64_t paused;     /* ASYNC_pause_job calls */
    uint64_t resumed;    /* returns from ASYNC_pause_job */
    uint64_t callbacks;  /* wait-ctx callbacks called */
    uint64_t fd_wakes;   /* eventfd writes in fd mode */
    uint64_t eagain;     /* back-pressure: ASYNC_STATUS_EAGAIN set */
    uint64_t errors;     /* completions with an error, timeouts included */
    uint64_t timeouts;   /* deadlines that expired */
    uint64_t inline_ops; /* work run on the caller's thread */
    uint64_t kernel_ops; /* operations the kernel ran through AF_ALG */
    uint64_t kernel_waits; /* kernel operations that waited for a free socket */
    /* Zeros: counters added later take these places, so that a program
     * built with an older header still passes a struct big enough. */
    uint64_t reserved[20];
};

/* The counters of one core (readable from any thread). */
RC_API void rc_core_stats(const struct rc_core *core, struct rc_stats *out);

/* The process's totals: every core, alive or destroyed, and threads without. */
RC_API void rc_stats_total(struct rc_stats *out);

#ifdef __cplusplus
}
#endif

#endif
