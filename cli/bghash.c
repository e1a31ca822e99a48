/* bghash.c - the SHA-256 thread of bghash.h: one worker waiting on a condition variable for
 * a piece, hashing it with vf_sha256, and signalling when it is done. Layer: cli. */
#include "bghash.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct vf_bghash {
    vf_sha256 *sha;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const void *data; /* the piece in flight */
    uint64_t len;
    bool busy, quit;
    vf_status st; /* the first hashing error, kept */
    vf_error err;
};

static void *vf_bghash_main(void *arg)
{
    vf_bghash *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->busy && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (!h->busy)
            break;
        const void *data = h->data;
        uint64_t len = h->len;
        bool ok = h->st == VF_OK;
        pthread_mutex_unlock(&h->mu);
        vf_error err;
        vf_status st = VF_OK;
        if (ok)
            st = data ? vf_sha256_update(h->sha, data, (size_t)len, &err)
                      : vf_sha256_update_zeros(h->sha, len, &err);
        pthread_mutex_lock(&h->mu);
        if (st != VF_OK) {
            h->st = st;
            h->err = err;
        }
        h->busy = false;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

vf_status vf_bghash_start(vf_bghash **out, vf_error *err)
{
    *out = NULL;
    vf_bghash *h = calloc(1, sizeof *h);
    if (!h)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a hashing context");
    vf_status st = vf_sha256_new(&h->sha, err);
    if (st != VF_OK) {
        free(h);
        return st;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    int rc = pthread_create(&h->thread, NULL, vf_bghash_main, h);
    if (rc != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        vf_sha256_free(h->sha);
        free(h);
        return VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "starting the hashing thread");
    }
    *out = h;
    return VF_OK;
}

void vf_bghash_post(vf_bghash *h, const void *data, uint64_t len)
{
    pthread_mutex_lock(&h->mu);
    while (h->busy)
        pthread_cond_wait(&h->cv, &h->mu);
    h->data = data;
    h->len = len;
    h->busy = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

vf_status vf_bghash_wait(vf_bghash *h, vf_error *err)
{
    pthread_mutex_lock(&h->mu);
    while (h->busy)
        pthread_cond_wait(&h->cv, &h->mu);
    vf_status st = h->st;
    if (st != VF_OK && err)
        *err = h->err;
    pthread_mutex_unlock(&h->mu);
    return st;
}

vf_status vf_bghash_final(vf_bghash *h, uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    vf_status st = vf_bghash_wait(h, err);
    return st == VF_OK ? vf_sha256_final(h->sha, md, err) : st;
}

void vf_bghash_free(vf_bghash *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->quit = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    vf_sha256_free(h->sha);
    free(h);
}
