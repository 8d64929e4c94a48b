/* The runtime's configuration: RINGCRYPT_* variables and rc_config_set keys, one table. */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum rc_backend_kind {
    RC_BACKEND_AUTO,
    RC_BACKEND_WORKER,
    RC_BACKEND_INLINE,
    RC_BACKEND_AFALG,
};

/*
 * AEAD offload is off by default (the largest threshold): measured with
 * ringcrypt-bench --alg aes128gcm-N / chacha-N, the copies in and out of a
 * request cost the core more than the cipher itself at every size from 1 KiB
 * to 1 MiB on CPUs with AES-NI. See docs/ARCHITECTURE.md ("AEAD").
 */
#define RC_DEFAULT_MIN_OFFLOAD_BYTES (1U << 30)

/*
 * A wake-up from an idle CPU costs 20-40 us on the machines we measured, a
 * sixth of an RSA-2048 signature; see docs/ARCHITECTURE.md ("Busy-polling").
 */
#define RC_DEFAULT_SPIN_US 500

/*
 * Kernel sockets (AF_ALG key and operation sockets) a core or worker keeps
 * open at most; past it, idle ones of other keys are closed, else the
 * operation waits for one to free.
 */
#define RC_DEFAULT_KERNEL_SOCKETS 256

struct rc_config {
    unsigned int backend; /* enum rc_backend_kind */
    unsigned int workers;
    unsigned int timeout_ms;
    unsigned int max_inflight;
    unsigned int min_offload_bytes; /* AEAD calls below this run on the caller */
    unsigned int spin_us;           /* busy-poll budget before sleeping, where a CPU is free */
    unsigned int kernel_sockets;    /* AF_ALG sockets per core or worker */
    unsigned int force_eventfd;
    unsigned int placement;         /* enum rc_placement (placement.h) */
    char stats_path[4096];
};

/*
 * Builds the configuration: defaults, then values stored with
 * rc_config_store, then the environment. -EINVAL with a sentence in err.
 */
int rc_config_load(struct rc_config *cfg, char *err, size_t errlen);

/* Validates and keeps one value for the next rc_config_load. */
int rc_config_store(const char *key, const char *value, char *err, size_t errlen);

#endif
