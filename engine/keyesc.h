#pragma once
/* Names that become text keys (file names, object keys) but need not be
 * UTF-8: a reversible escape, so that no TEXT column ever holds invalid
 * UTF-8 and the source can still open the file the key names.
 *
 *   a name that is well-formed UTF-8 without a backslash  as it is
 *   a backslash                                           \\ (doubled)
 *   each byte that is not part of well-formed UTF-8       \xHH (lowercase hex)
 *
 * "caf\xE9.txt" (Latin-1) -> "caf\\xe9.txt"; "a\\b.md" -> "a\\\\b.md". */
#include "engine/buf.h"

/* 1 if name[0..n) is written differently as a key. */
int coco_key_needs_escape(const char *name, size_t n);
/* Appends the key for name[0..n) to out. */
void coco_key_escape(const char *name, size_t n, coco_buf *out);
/* Appends the name that key[0..n) stands for to out: 0, or -1 when key is
 * no escape's output (a backslash not followed by \ or xHH, or a name that
 * would have been escaped). */
int coco_key_unescape(const char *key, size_t n, coco_buf *out);
