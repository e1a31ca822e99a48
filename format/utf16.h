/* utf16.h - UTF-16 <-> UTF-8 conversion of the text stored in images (utf16.c).
 * Layer: format (internal). */
#ifndef VHDFOLD_UTF16_H
#define VHDFOLD_UTF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_error.h>

/* Code point cp (<= U+10FFFF, not a surrogate) as UTF-8 at out (room for 4); returns bytes. */
size_t vf_utf8_put(char *out, uint32_t cp);
/* UTF-16 (LE or BE) to UTF-8, stopping at the first NUL unit. VF_E_FORMAT on an odd length or
 * an unpaired surrogate; VF_E_LIMIT when out (cap bytes incl. NUL) is too small. */
vf_status vf_utf16_to_utf8(const uint8_t *src, size_t len, bool big_endian, char *out, size_t cap,
                           size_t *out_len, vf_error *err);
/* UTF-8 to UTF-16 (no NUL). VF_E_INVAL on invalid UTF-8; VF_E_LIMIT when cap is too small.
 * Code points above U+FFFF become surrogate pairs. */
vf_status vf_utf8_to_utf16(const char *s, bool big_endian, uint8_t *out, size_t cap,
                           size_t *out_len, vf_error *err);

#endif
