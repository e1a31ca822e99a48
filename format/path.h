/* path.h - lexical path helpers (no file system access): normalising, joining, directory and
 * base names, and turning a parent locator as written by Windows tools into a local path.
 * Layer: format (internal). Used by fs_mem.c (keys), chain.c (parent candidates) and
 * io_file.c (the directory of a path). */
#ifndef VHDFOLD_PATH_H
#define VHDFOLD_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Lexically normalised copy of path: "//" collapsed, "." components dropped, "x/.." removed
 * (".." kept at the start of a relative path, dropped after the root). "" becomes ".".
 * Returns a malloc'd string (free it), or NULL when out of memory. */
char *vf_path_normalize(const char *path);

/* The directory part of path, lexically ("a/b" -> "a", "b" -> ".", "/b" -> "/"); malloc'd. */
char *vf_path_dirname(const char *path);

/* Pointer into path at its last component ("a/b" -> "b", "a/" -> ""). Borrowed. */
const char *vf_path_basename(const char *path);

/* dir + "/" + rel, normalised; rel absolute ('/...') is returned normalised as is.
 * malloc'd, NULL when out of memory. */
char *vf_path_join(const char *dir, const char *rel);

/* Is path (lexically normalised) inside dir? 1: yes, *rel = the part below dir (malloc'd,
 * never "" or ".."-led); 0: no (path is dir itself, outside it, or one is absolute and the
 * other not); -1: out of memory. */
int vf_path_under(const char *dir, const char *path, char **rel);

/* True when the normalised relative path leaves its starting folder: absolute, "..", or
 * "../..." (normalised paths keep ".." only at their start). */
bool vf_path_escapes(const char *normalised);

/* True for "C:\..." / "C:/..." and UNC or device paths ("\\server\...", "\\?\Volume{...}"),
 * in either separator. */
bool vf_path_is_windows_absolute(const char *path);

#endif
