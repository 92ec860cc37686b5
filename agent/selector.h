/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector.h - which processes the filters select.
 *
 * A process is traced when it matches every selector that is set
 * (filters.ports: it listens on one of them; filters.processes: its
 * executable name matches a glob) and no exclusion (filters.exclude_processes).
 * The kernel applies the result through three maps; this decides it.
 */
#ifndef SPANBPF_SELECTOR_H
#define SPANBPF_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct selection {
	bool excluded;	/* matches filters.exclude_processes */
	bool proc_ok;	/* not excluded, and filters.processes is empty or matches */
	bool traced;	/* proc_ok, and filters.ports is empty or it listens on one */
};

/* Does any selector restrict tracing to chosen processes? */
bool selector_active(const struct config *cfg);

/* Pure: the filters' verdict for a process with this executable name (procinfo_exe_name()). */
struct selection selector_decide(const struct config *cfg, const char *exe, bool listens);

#endif /* SPANBPF_SELECTOR_H */
