/* bghash.h - a SHA-256 that runs on its own thread, so a command that copies data (convert)
 * hashes each piece while it writes the same piece: post a piece, do the other work, wait.
 * Pieces are hashed in the order posted; a posted buffer must stay valid until the wait.
 * Layer: cli (built on the public vf_sha256 API). */
#ifndef VHDFOLD_CLI_BGHASH_H
#define VHDFOLD_CLI_BGHASH_H

#include <stdint.h>

#include <vhdfold/vf_sha256.h>

typedef struct vf_bghash vf_bghash;

/* A context and its thread. Errors: VF_E_NOMEM, VF_E_IO (the thread could not start). */
vf_status vf_bghash_start(vf_bghash **out, vf_error *err);
/* Hash len bytes at data (NULL: len zero bytes) on the thread; returns at once. At most one
 * piece is in flight: call vf_bghash_wait before the next post. */
void vf_bghash_post(vf_bghash *h, const void *data, uint64_t len);
/* Wait for the posted piece (VF_OK when none is); its hashing error, if any, in err. */
vf_status vf_bghash_wait(vf_bghash *h, vf_error *err);
/* The digest of everything posted (waits first). */
vf_status vf_bghash_final(vf_bghash *h, uint8_t md[VF_SHA256_LEN], vf_error *err);
/* Stops the thread (waiting for a piece in flight) and frees h; NULL is fine. */
void vf_bghash_free(vf_bghash *h);

#endif
