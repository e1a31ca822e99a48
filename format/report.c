/* report.c - the list of findings a structural check collects.
 * Layer: format. Used by the drivers' check functions and the chain checker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vhdfold/vf_error.h>
#include <vhdfold/vf_report.h>

void vf_report_init(vf_report *rep)
{
    memset(rep, 0, sizeof *rep);
}

void vf_report_free(vf_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->count; i++)
        free(rep->items[i].file);
    free(rep->items);
    memset(rep, 0, sizeof *rep);
}

static int vf_report_grow(vf_report *rep)
{
    if (rep->count < rep->cap)
        return 0;
    if (rep->cap >= VF_REPORT_MAX)
        return -1;
    size_t cap = rep->cap ? rep->cap * 2 : 16;
    if (cap > VF_REPORT_MAX)
        cap = VF_REPORT_MAX;
    vf_finding *items = realloc(rep->items, cap * sizeof *items);
    if (!items)
        return -1;
    rep->items = items;
    rep->cap = cap;
    return 0;
}

void vf_report_add(vf_report *rep, vf_severity sev, vf_status code, uint64_t off, const char *file,
                   const char *fmt, ...)
{
    char *name = vf_report_grow(rep) == 0 ? strdup(file ? file : "") : NULL;
    if (!name) {
        rep->dropped++;
        return;
    }
    vf_finding *f = &rep->items[rep->count++];
    memset(f, 0, sizeof *f);
    f->severity = sev;
    f->code = code;
    f->off = off;
    f->file = name;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(f->msg, sizeof f->msg, fmt, ap) < 0)
        f->msg[0] = '\0';
    va_end(ap);
    vf_text_printable(f->msg);
    vf_text_printable(f->file);
}

size_t vf_report_count(const vf_report *rep, vf_severity min)
{
    size_t n = rep->dropped;
    for (size_t i = 0; i < rep->count; i++)
        if (rep->items[i].severity >= min)
            n++;
    return n;
}
