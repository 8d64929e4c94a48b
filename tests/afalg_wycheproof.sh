#!/bin/sh
# In the VM: every Wycheproof file through the provider with the kernel's
# AF_ALG algorithms (AES-GCM, ChaCha20-Poly1305, AES-CBC, HMAC-SHA256 go
# there; the test counts exactly which calls the kernel must have made), on a
# core's ring and, without a core, on a worker's.
set -eu
b=$(cd "$(dirname "$0")/.." && pwd)
export RINGCRYPT_BACKEND=afalg
# The files of the kernel's algorithms; the others run on the host, and are slow under emulation.
export RC_WYCHEPROOF_FILES="aes_gcm_test.json chacha20_poly1305_test.json aes_cbc_pkcs5_test.json hmac_sha256_test.json"
"$b/tests/wycheproof" vectors_core_jobs
"$b/tests/wycheproof" vectors_fd_jobs
