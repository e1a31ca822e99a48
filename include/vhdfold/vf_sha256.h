/* vf_sha256.h - the one SHA-256 wrapper (OpenSSL EVP) used by digests, the generator's
 * model and the merger's verification. Layer: verify. */
#ifndef VHDFOLD_VF_SHA256_H
#define VHDFOLD_VF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VF_SHA256_LEN 32
#define VF_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

typedef struct vf_sha256 vf_sha256;

/* New hashing context (OpenSSL EVP); *out is yours: vf_sha256_free() it (NULL is fine).
 * Errors: VF_E_NOMEM (OpenSSL could not allocate or failed), as for the three below. */
VF_API vf_status vf_sha256_new(vf_sha256 **out, vf_error *err);
/* Feed len bytes. Errors: VF_E_NOMEM (OpenSSL failed). */
VF_API vf_status vf_sha256_update(vf_sha256 *h, const void *data, size_t len, vf_error *err);
/* Feed n zero bytes without a caller buffer. Errors: VF_E_NOMEM. */
VF_API vf_status vf_sha256_update_zeros(vf_sha256 *h, uint64_t n, vf_error *err);
/* Finish into md; the context is reset and can be reused. Errors: VF_E_NOMEM. */
VF_API vf_status vf_sha256_final(vf_sha256 *h, uint8_t md[VF_SHA256_LEN], vf_error *err);
VF_API void vf_sha256_free(vf_sha256 *h);
/* One-shot: SHA-256 of data into md. Errors: VF_E_NOMEM. */
VF_API vf_status vf_sha256_once(const void *data, size_t len, uint8_t md[VF_SHA256_LEN],
                                vf_error *err);
/* md as 64 lower-case hex digits and a NUL. */
VF_API void vf_sha256_hex(const uint8_t md[VF_SHA256_LEN], char out[VF_SHA256_HEX_LEN]);

#ifdef __cplusplus
}
#endif
#endif
