/* io_mem.c - the memory backend of vf_io: one growable private byte buffer per handle.
 * Layer: format. Used by fuzz harnesses (images straight from the input), unit tests, and
 * fs_mem.c, which shares one such handle among every handle opened on the same path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_io.h>

/* Memory files stay below this many bytes, so a runaway write fails instead of eating RAM. */
#if SIZE_MAX > 0xffffffffu
#define VF_MEM_FILE_MAX ((size_t)4 << 30)
#else
#define VF_MEM_FILE_MAX ((size_t)1 << 30)
#endif

typedef struct vf_mem {
    uint8_t *buf;
    size_t len, cap;
    char *name;
} vf_mem;

static vf_status vf_mem_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_mem *m = self;
    if (off > m->len || len > m->len - off)
        return VF_FAIL(e, VF_E_TRUNCATED, off,
                       "'%s': reading %zu bytes at offset %llu runs past the end of the file "
                       "(%zu bytes)",
                       m->name, len, (unsigned long long)off, m->len);
    memcpy(buf, m->buf + off, len);
    return VF_OK;
}

/* Make room for size bytes (new bytes zeroed); doubling keeps appends linear. */
static vf_status vf_mem_reserve(vf_mem *m, uint64_t size, vf_error *e)
{
    if (size > VF_MEM_FILE_MAX)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE,
                             "'%s': a memory file cannot grow to %llu bytes (limit %zu)", m->name,
                             (unsigned long long)size, (size_t)VF_MEM_FILE_MAX);
    if (size <= m->cap)
        return VF_OK;
    size_t cap = m->cap ? m->cap : 4096;
    while (cap < size)
        cap = cap > VF_MEM_FILE_MAX / 2 ? VF_MEM_FILE_MAX : cap * 2;
    uint8_t *p = realloc(m->buf, cap);
    if (!p)
        return VF_FAIL_ERRNO(e, ENOMEM, VF_OFF_NONE, "'%s': growing a memory file to %zu bytes",
                             m->name, cap);
    memset(p + m->cap, 0, cap - m->cap);
    m->buf = p;
    m->cap = cap;
    return VF_OK;
}

static vf_status vf_mem_write(void *self, const void *buf, size_t len, uint64_t off, vf_error *e)
{
    vf_mem *m = self;
    if (off > VF_MEM_FILE_MAX || len > VF_MEM_FILE_MAX - off)
        return VF_FAIL_ERRNO(e, ENOMEM, off,
                             "'%s': writing %zu bytes at offset %llu exceeds the memory file "
                             "limit",
                             m->name, len, (unsigned long long)off);
    vf_status st = vf_mem_reserve(m, off + len, e);
    if (st != VF_OK)
        return st;
    memcpy(m->buf + off, buf, len);
    if (off + len > m->len)
        m->len = (size_t)(off + len);
    return VF_OK;
}

/* One memmove between two memory files (or within one), after the same checks as a read of
 * the source and a write of the destination. */
static vf_status vf_mem_copy_from(void *self, void *src_self, uint64_t dst_off, uint64_t src_off,
                                  uint64_t len, uint64_t *done, vf_error *e)
{
    vf_mem *m = self;
    const vf_mem *src = src_self;
    *done = 0;
    if (src_off > src->len || len > src->len - src_off)
        return VF_FAIL(e, VF_E_TRUNCATED, src_off,
                       "'%s': reading %llu bytes at offset %llu runs past the end of the file "
                       "(%zu bytes)",
                       src->name, (unsigned long long)len, (unsigned long long)src_off, src->len);
    if (dst_off > VF_MEM_FILE_MAX || len > VF_MEM_FILE_MAX - dst_off)
        return VF_FAIL_ERRNO(e, ENOMEM, dst_off,
                             "'%s': writing %llu bytes at offset %llu exceeds the memory file "
                             "limit",
                             m->name, (unsigned long long)len, (unsigned long long)dst_off);
    vf_status st = vf_mem_reserve(m, dst_off + len, e); /* may move src->buf when m == src */
    if (st != VF_OK)
        return st;
    memmove(m->buf + dst_off, src->buf + src_off, (size_t)len);
    if (dst_off + len > m->len)
        m->len = (size_t)(dst_off + len);
    *done = len;
    return VF_OK;
}

static vf_status vf_mem_sync(void *self, vf_error *e)
{
    (void)self, (void)e;
    return VF_OK;
}

static vf_status vf_mem_get_size(void *self, uint64_t *size, vf_error *e)
{
    (void)e;
    *size = ((vf_mem *)self)->len;
    return VF_OK;
}

static vf_status vf_mem_set_size(void *self, uint64_t size, vf_error *e)
{
    vf_mem *m = self;
    vf_status st = vf_mem_reserve(m, size, e);
    if (st != VF_OK)
        return st;
    if (size < m->len) /* bytes past the end read as zeros if the file grows again */
        memset(m->buf + size, 0, m->len - (size_t)size);
    m->len = (size_t)size;
    return VF_OK;
}

static vf_status vf_mem_lock(void *self, bool exclusive, vf_error *e)
{
    /* A private buffer has no other holders; fs_mem.c tracks locks among shared handles. */
    (void)self, (void)exclusive, (void)e;
    return VF_OK;
}

static void vf_mem_close(void *self)
{
    vf_mem *m = self;
    if (!m)
        return;
    free(m->buf);
    free(m->name);
    free(m);
}

static const vf_io_ops vf_mem_ops = {
    .read_at = vf_mem_read,
    .write_at = vf_mem_write,
    .sync = vf_mem_sync,
    .get_size = vf_mem_get_size,
    .set_size = vf_mem_set_size,
    .lock = vf_mem_lock,
    .close = vf_mem_close,
    .copy_from = vf_mem_copy_from,
};

vf_status vf_io_mem_new(const void *data, size_t len, const char *name, bool writable, vf_io **out,
                        vf_error *err)
{
    *out = NULL;
    const char *nm = name ? name : "(memory)";
    if (len && !data)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s': no data for %zu bytes", nm, len);
    vf_mem *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(nm))) {
        free(m);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating memory file '%s'", nm);
    }
    vf_status st = vf_mem_reserve(m, len, err);
    if (st != VF_OK) {
        vf_mem_close(m);
        return st;
    }
    if (len)
        memcpy(m->buf, data, len);
    m->len = len;
    return vf_io_new(&vf_mem_ops, m, nm, writable, out, err);
}

const uint8_t *vf_io_mem_data(const vf_io *io, size_t *len)
{
    if (!io || io->ops != &vf_mem_ops) {
        if (len)
            *len = 0;
        return NULL;
    }
    const vf_mem *m = io->self;
    if (len)
        *len = m->len;
    return m->buf ? m->buf : (const uint8_t *)"";
}
