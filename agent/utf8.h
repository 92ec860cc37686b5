/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.h - UTF-8 as OTLP wants it (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  Receivers refuse a whole request
 * over one bad string, and URLs, headers and process names are bytes.
 */
#ifndef SPANBPF_UTF8_H
#define SPANBPF_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes in the valid UTF-8 character at s (n bytes available), 0 if none starts there. */
size_t utf8_char_len(const char *s, size_t n);

/* Are the n bytes at s valid UTF-8? */
bool utf8_valid(const char *s, size_t n);

/*
 * Copy n bytes of src to dst as valid UTF-8: each byte that starts no valid
 * character becomes U+FFFD.  Never cuts a character; dst is NUL-terminated
 * when dstlen > 0.  Returns the bytes written, without the NUL.
 */
size_t utf8_sanitize(char *dst, size_t dstlen, const char *src, size_t n);

/*
 * The bytes n bytes at s take once repaired as utf8_sanitize() does (each
 * byte that starts no valid character becomes the 3 bytes of U+FFFD), NUL
 * not counted; *bad (may be NULL) tells whether any byte is replaced.
 */
size_t utf8_repaired_len(const char *s, size_t n, bool *bad);

/*
 * The repair of utf8_sanitize() into dst, which holds utf8_repaired_len()
 * bytes: no bound, no NUL (for encoders that measured first).  Returns the
 * end of what was written.
 */
char *utf8_repair_copy(char *dst, const char *src, size_t n);

#endif /* SPANBPF_UTF8_H */
