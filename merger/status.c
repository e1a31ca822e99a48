/* status.c - maps library statuses onto the merge status codes of MergeVirtualHardDisk and
 * names them. Layer: merger. Used by merge.c, job.c and the CLI's --json output. */
#include <errno.h>

#include "merge_int.h"

int vf_merge_status_from(vf_status st, int sys_errno)
{
    switch (st) {
    case VF_OK:
        return VF_MERGE_COMPLETED;
    case VF_E_INVAL:
        return VF_MERGE_INVALID_PARAMETER;
    case VF_E_NOMEM:
        return VF_MERGE_OUT_OF_MEMORY;
    case VF_E_IO:
        switch (sys_errno) {
        case ENOENT:
        case ENOTDIR:
            return VF_MERGE_FILE_NOT_FOUND;
        case EACCES:
        case EPERM:
        case EROFS:
            return VF_MERGE_ACCESS_DENIED;
        case ETIMEDOUT:
            return VF_MERGE_TIMEOUT;
        case ENOMEM:
            return VF_MERGE_OUT_OF_MEMORY;
        case EAGAIN:
        case EBUSY:
            return VF_MERGE_IN_USE;
        case ENXIO:
        case ENODEV:
            return VF_MERGE_NOT_AVAILABLE;
        default:
            return VF_MERGE_FAILED;
        }
    case VF_E_TRUNCATED:
    case VF_E_FORMAT:
        /* the bytes are not a (valid) virtual disk */
        return VF_MERGE_INCORRECT_TYPE;
    case VF_E_UNSUPPORTED:
        return VF_MERGE_NOT_SUPPORTED;
    case VF_E_BUSY:
        return VF_MERGE_IN_USE;
    case VF_E_STATE:
        return VF_MERGE_INVALID_STATE;
    case VF_E_CHAIN:
        /* ENOENT: no file of the parent's identity was found (format/chain.c) */
        return sys_errno == ENOENT ? VF_MERGE_FILE_NOT_FOUND : VF_MERGE_FAILED;
    case VF_E_CORRUPT:
    case VF_E_LIMIT:
    case VF_E_CANCELED: /* the job's state says TERMINATED (docs/errors.md) */
        return VF_MERGE_FAILED;
    }
    return VF_MERGE_UNKNOWN;
}

const char *vf_merge_status_name(int status)
{
    switch (status) {
    case VF_MERGE_COMPLETED:
        return "completed";
    case VF_MERGE_JOB_STARTED:
        return "job started";
    case VF_MERGE_FAILED:
        return "failed";
    case VF_MERGE_ACCESS_DENIED:
        return "access denied";
    case VF_MERGE_NOT_SUPPORTED:
        return "not supported";
    case VF_MERGE_UNKNOWN:
        return "status is unknown";
    case VF_MERGE_TIMEOUT:
        return "timeout";
    case VF_MERGE_INVALID_PARAMETER:
        return "invalid parameter";
    case VF_MERGE_IN_USE:
        return "in use";
    case VF_MERGE_INVALID_STATE:
        return "invalid state";
    case VF_MERGE_INCORRECT_TYPE:
        return "incorrect data type";
    case VF_MERGE_NOT_AVAILABLE:
        return "system is not available";
    case VF_MERGE_OUT_OF_MEMORY:
        return "out of memory";
    case VF_MERGE_FILE_NOT_FOUND:
        return "file not found";
    default:
        return "unknown";
    }
}

const char *vf_merge_phase_name(vf_merge_phase phase)
{
    switch (phase) {
    case VF_MERGE_PHASE_NONE:
        return "none";
    case VF_MERGE_PHASE_COPYING:
        return "copying";
    case VF_MERGE_PHASE_IDENTITY:
        return "identity";
    case VF_MERGE_PHASE_CHILDREN:
        return "children";
    case VF_MERGE_PHASE_REMOVING:
        return "removing";
    }
    return "unknown";
}
