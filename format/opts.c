/* opts.c - options structs that can grow without breaking callers built against another
 * version of the headers (docs/library.md "Growing structs"). Layer: format (used by every
 * layer of libvhdfold). */
#include <string.h>

#include "opts_int.h"

void vf_opts_fill(void *o, size_t size, const void *def, size_t lib_size)
{
    size_t common = size < lib_size ? size : lib_size;
    memcpy(o, def, common);
    if (size > lib_size)
        memset((char *)o + lib_size, 0, size - lib_size);
    memcpy(o, &size, sizeof size);
}

static size_t vf_opts_first_set(const unsigned char *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p[i])
            return i;
    return to;
}

vf_status vf_opts_adopt(void *dst, size_t lib_size, const void *src, size_t min_size,
                        const char *what, vf_error *err)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < min_size)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "%s: struct_size is %zu, not a size of this struct (fill it with "
                       "%s_init() first)",
                       what, size, what);
    if (size > lib_size) {
        size_t at = vf_opts_first_set(src, lib_size, size);
        if (at < size)
            return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                           "%s: byte %zu sets a field that this libvhdfold (%zu-byte struct) "
                           "does not know; it comes from a newer version",
                           what, at, lib_size);
    }
    memcpy(dst, src, size < lib_size ? size : lib_size);
    memcpy(dst, &lib_size, sizeof lib_size);
    return VF_OK;
}
