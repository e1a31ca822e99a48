/* error.c - fills vf_error records and names the status codes.
 * Layer: format. Every module reports through VF_FAIL / VF_FAIL_ERRNO defined here; also the
 * library version (vf_version). Messages are made printable (vf_text_printable): they quote
 * text from disks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vhdfold/vf_error.h>
#include <vhdfold/vf_version.h>

void vf_text_printable(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            p[0] = p[1] = '?';
    }
}

static void vf_format_msg(vf_error *err, const char *fmt, va_list ap)
{
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n < 0)
        err->msg[0] = '\0';
    vf_text_printable(err->msg);
}

vf_status vf_fail(vf_error *err, vf_status code, uint64_t off, const char *func, const char *fmt,
                  ...)
{
    if (!err)
        return code;
    err->code = code;
    err->sys_errno = 0;
    err->off = off;
    err->func = func;
    va_list ap;
    va_start(ap, fmt);
    vf_format_msg(err, fmt, ap);
    va_end(ap);
    return code;
}

static vf_status vf_status_from_errno(int errnum)
{
    switch (errnum) {
    case ENOMEM:
        return VF_E_NOMEM;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EBUSY:
        return VF_E_BUSY;
    default:
        return VF_E_IO;
    }
}

vf_status vf_fail_errno(vf_error *err, int errnum, uint64_t off, const char *func, const char *fmt,
                        ...)
{
    vf_status code = vf_status_from_errno(errnum);
    if (!err)
        return code;
    err->code = code;
    err->sys_errno = errnum;
    err->off = off;
    err->func = func;
    va_list ap;
    va_start(ap, fmt);
    vf_format_msg(err, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(errnum));
    return code;
}

void vf_error_prefix(vf_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[VF_ERROR_MSG_MAX];
    char old[VF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    vf_text_printable(prefix);
    memcpy(old, err->msg, sizeof old);
    size_t plen = strnlen(prefix, sizeof err->msg - 1);
    memcpy(err->msg, prefix, plen);
    size_t olen = strnlen(old, sizeof err->msg - 1 - plen);
    memcpy(err->msg + plen, old, olen);
    err->msg[plen + olen] = '\0';
}

void vf_error_clear(vf_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->off = VF_OFF_NONE;
}

static const struct {
    vf_status code;
    const char *name;
    const char *text;
} vf_status_table[] = {
    {VF_OK, "VF_OK", "success"},
    {VF_E_INVAL, "VF_E_INVAL", "invalid parameter"},
    {VF_E_NOMEM, "VF_E_NOMEM", "out of memory"},
    {VF_E_IO, "VF_E_IO", "input/output error"},
    {VF_E_TRUNCATED, "VF_E_TRUNCATED", "structure runs past the end of the file"},
    {VF_E_FORMAT, "VF_E_FORMAT", "bad signature, checksum or field value"},
    {VF_E_CORRUPT, "VF_E_CORRUPT", "fields contradict each other"},
    {VF_E_UNSUPPORTED, "VF_E_UNSUPPORTED", "valid but not supported"},
    {VF_E_CHAIN, "VF_E_CHAIN", "broken differencing chain"},
    {VF_E_LIMIT, "VF_E_LIMIT", "resource limit exceeded"},
    {VF_E_BUSY, "VF_E_BUSY", "file in use by another process"},
    {VF_E_STATE, "VF_E_STATE", "operation does not fit the current state"},
    {VF_E_CANCELED, "VF_E_CANCELED", "canceled"},
};

const char *vf_status_name(vf_status code)
{
    for (size_t i = 0; i < sizeof vf_status_table / sizeof vf_status_table[0]; i++)
        if (vf_status_table[i].code == code)
            return vf_status_table[i].name;
    return "VF_E_UNKNOWN";
}

const char *vf_status_text(vf_status code)
{
    for (size_t i = 0; i < sizeof vf_status_table / sizeof vf_status_table[0]; i++)
        if (vf_status_table[i].code == code)
            return vf_status_table[i].text;
    return "unknown status";
}

const char *vf_version(void)
{
    return VF_VERSION_STRING;
}

int vf_version_number(void)
{
    return VF_VERSION_NUMBER;
}
