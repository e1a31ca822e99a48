/* sha256.c - SHA-256 through OpenSSL's EVP interface (hardware-accelerated where the CPU
 * has SHA extensions). Layer: verify. Everything else hashes through this file. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "vf_sha256.h"

struct vf_sha256 {
    EVP_MD_CTX *ctx;
};

static vf_status vf_sha256_fail(vf_error *err, const char *what)
{
    return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "openssl sha-256 %s failed", what);
}

vf_status vf_sha256_new(vf_sha256 **out, vf_error *err)
{
    *out = NULL;
    vf_sha256 *h = calloc(1, sizeof *h);
    if (!h)
        return vf_sha256_fail(err, "allocation");
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        vf_sha256_free(h);
        return vf_sha256_fail(err, "init");
    }
    *out = h;
    return VF_OK;
}

vf_status vf_sha256_update(vf_sha256 *h, const void *data, size_t len, vf_error *err)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return vf_sha256_fail(err, "update");
    return VF_OK;
}

vf_status vf_sha256_update_zeros(vf_sha256 *h, uint64_t n, vf_error *err)
{
    static const uint8_t zeros[65536];
    while (n) {
        size_t chunk = n < sizeof zeros ? (size_t)n : sizeof zeros;
        vf_status st = vf_sha256_update(h, zeros, chunk, err);
        if (st != VF_OK)
            return st;
        n -= chunk;
    }
    return VF_OK;
}

vf_status vf_sha256_final(vf_sha256 *h, uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != VF_SHA256_LEN ||
        EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        return vf_sha256_fail(err, "final");
    return VF_OK;
}

void vf_sha256_free(vf_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

vf_status vf_sha256_once(const void *data, size_t len, uint8_t md[VF_SHA256_LEN],
                         vf_error *err)
{
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != VF_SHA256_LEN)
        return vf_sha256_fail(err, "digest");
    return VF_OK;
}

void vf_sha256_hex(const uint8_t md[VF_SHA256_LEN], char out[VF_SHA256_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < VF_SHA256_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}
