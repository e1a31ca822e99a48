/* vf_error.h - the status codes and the error record every fallible call fills.
 * Layer: format (public). Included by every module; depends on nothing else.
 * The numbers are ABI: never renumber or reuse one. docs/errors.md explains each. */
#ifndef VHDFOLD_VF_ERROR_H
#define VHDFOLD_VF_ERROR_H

#include <stdarg.h>
#include <stdint.h>

#if defined(__GNUC__)
#define VF_API __attribute__((visibility("default")))
#define VF_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define VF_API
#define VF_PRINTF(fmt_idx, arg_idx)
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vf_status {
    VF_OK = 0,
    VF_E_INVAL = -1,       /* the caller broke the API contract or gave a bad parameter */
    VF_E_NOMEM = -2,       /* allocation failed */
    VF_E_IO = -3,          /* the I/O backend failed; see sys_errno (ENOENT, EACCES, ENOSPC...) */
    VF_E_TRUNCATED = -4,   /* a structure runs past the end of the file */
    VF_E_FORMAT = -5,      /* bad signature, checksum or out-of-range field */
    VF_E_CORRUPT = -6,     /* fields fine alone but contradicting each other */
    VF_E_UNSUPPORTED = -7, /* legal per the spec, not implemented here */
    VF_E_CHAIN = -8,       /* parent missing, identity mismatch, loop, too deep */
    VF_E_LIMIT = -9,       /* would exceed a configured resource cap */
    VF_E_BUSY = -10,       /* another process holds a lock on the file */
    VF_E_STATE = -11,      /* the operation does not fit the current state (e.g. a pending merge) */
    VF_E_CANCELED = -12,   /* a job was canceled by its owner */
} vf_status;

#define VF_OFF_NONE UINT64_MAX
#define VF_ERROR_MSG_MAX 512

typedef struct vf_error {
    vf_status code;
    int sys_errno;              /* set with VF_E_IO, VF_E_NOMEM and VF_E_BUSY; ENOENT with
                                   VF_E_CHAIN when no file of the parent's identity exists */
    uint64_t off;               /* file offset concerned, or VF_OFF_NONE */
    const char *func;           /* first reporter, a debugging aid */
    char msg[VF_ERROR_MSG_MAX]; /* lower case, no final period, names in quotes */
} vf_error;

/* Fill *err (when not NULL) and return code. msg is formatted with printf rules. These build
 * errors: they do not fail themselves. */
VF_API vf_status vf_fail(vf_error *err, vf_status code, uint64_t off, const char *func,
                         const char *fmt, ...) VF_PRINTF(5, 6);
/* Like vf_fail for a failed system call: code is VF_E_IO (VF_E_NOMEM for ENOMEM, VF_E_BUSY
 * for EAGAIN/EWOULDBLOCK/EBUSY) and strerror(errnum) is appended to the message. Like
 * vf_fail, it does not fail itself. */
VF_API vf_status vf_fail_errno(vf_error *err, int errnum, uint64_t off, const char *func,
                               const char *fmt, ...) VF_PRINTF(5, 6);
#define VF_FAIL(err, code, off, ...) vf_fail((err), (code), (off), __func__, __VA_ARGS__)
#define VF_FAIL_ERRNO(err, errnum, off, ...)                                                       \
    vf_fail_errno((err), (errnum), (off), __func__, __VA_ARGS__)

/* Put context in front of the message already in *err ("parent 2 ('base.vhd'): ..."). */
VF_API void vf_error_prefix(vf_error *err, const char *fmt, ...) VF_PRINTF(2, 3);
VF_API void vf_error_clear(vf_error *err); /* VF_OK, no message */
/* Text read from a disk (locators, names, paths built from them) may hold control characters
 * that a terminal would obey: replaces each C0 control, DEL and each C1 control (UTF-8
 * C2 80..C2 9F) in s with '?', in place. Every vf_error message and report finding is
 * already passed through it. */
VF_API void vf_text_printable(char *s);

/* The code's name, "VF_E_FORMAT" (vf_status_name), and a short English description,
 * "bad signature, checksum or field value" (vf_status_text), for any code (unknown codes too).
 * Static strings. */
VF_API const char *vf_status_name(vf_status code);
VF_API const char *vf_status_text(vf_status code);

/* The library's version at run time: "MAJOR.MINOR.PATCH" (static storage) and the number
 * VF_VERSION_NUMBER of vhdfold/vf_version.h had when the library was built. */
VF_API const char *vf_version(void);
VF_API int vf_version_number(void);

#ifdef __cplusplus
}
#endif
#endif
