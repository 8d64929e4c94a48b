/*
 * One OpenSSL call made through the runtime: run on the caller when there is
 * no ASYNC job (or it is not worth it), otherwise as a request whose inputs
 * are copied in and whose outputs are copied back only if it succeeded, so a
 * request that outlives its caller never touches the caller's memory. Errors
 * the call raised on another thread come home to the caller's error queue.
 * The provider's wrapped algorithms and the ENGINE adapter both use it.
 */
#ifndef RC_ENGINE_OP_H
#define RC_ENGINE_OP_H

#include <stdbool.h>
#include <stddef.h>

#include "ringcrypt.h"

struct rc_op {
    /* The call itself: 1 or 0 (OpenSSL's convention), errors on this thread's queue. */
    int (*exec)(struct rc_op *op);
    /* What exec works on; hold/drop keep it alive while a request holds it. */
    void *obj;
    void (*hold)(void *obj);
    void (*drop)(void *obj);
    const unsigned char *in;
    size_t inlen;
    unsigned char *out;          /* NULL: the call writes no buffer */
    size_t outsize, outlen;
    /* A second output (encapsulation's shared secret), or NULL; never in place. */
    unsigned char *out2;
    size_t out2size, out2len;
    int kind;                    /* which call exec makes */
    int arg;                     /* its extra argument (an RSA padding mode) */
    void *made;                  /* an object exec made (a generated key) */
    void (*made_free)(void *made, void *obj);
    /*
     * The same call in the kernel's form, or NULL: its key, direction, IV and
     * AAD length (in, out and their sizes are op's). Where the runtime runs
     * it in the kernel, exec is not called; otherwise exec reads in without
     * its first skip and last trail bytes (the AAD and tag the kernel takes).
     */
    const struct rc_kernel_op *kernel;
    size_t skip, trail;
    bool by_kernel;              /* the kernel made the answer */
    bool kernel_said_no;         /* the kernel refused the call (a tag mismatch); nothing raised */
};

/* Larger inputs or outputs are refused: a request holds copies of both. */
#define RC_OP_MAX_BYTES ((size_t)1 << 30)

/*
 * Runs op (see above). Returns 1 on success, 0 when the call failed, or a
 * negative errno when the runtime could not bring an answer (the error is
 * raised; the request may still be running and holds op->obj).
 */
int rc_op_run(struct rc_op *op, bool worth_offloading);

/* Symmetric calls with less input than this stay on the caller. */
size_t rc_op_min_offload_bytes(void);

#endif
