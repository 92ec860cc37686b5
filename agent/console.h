/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console.h - one human-readable line per span, for the console output:
 *
 *   2026-11-22T10:00:00.123Z python3.11 SERVER "GET /users/{id}" 200 1.234ms
 *       trace=<32 hex> span=<16 hex> parent=<16 hex or -> [error=<error.type>]
 *
 * (one line; wrapped here).  Time is the span start in UTC; the status is
 * http.response.status_code or "-"; error= only on spans with status ERROR.
 * Strings that come from traffic or /proc are escaped: \" \\ \n \r \t,
 * \xNN for other control bytes, DEL and invalid UTF-8, \uNNNN for C1
 * controls, line separators and bidirectional overrides.  Valid printable
 * UTF-8 is kept.
 */
#ifndef SPANBPF_CONSOLE_H
#define SPANBPF_CONSOLE_H

#include <stddef.h>
#include <stdio.h>

#include "span.h"

/*
 * Format span into buf (NUL-terminated when len > 0, no trailing newline).
 * Returns the length of the whole line like snprintf(): >= len means it was
 * cut, and then only at an escape or character boundary.
 */
size_t console_format(const struct span *s, char *buf, size_t len);

/* Write the line and a newline to f with one fwrite(); 0, or -1 on error. */
int console_write(FILE *f, const struct span *s);

#endif /* SPANBPF_CONSOLE_H */
