/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime.h - what a traced process runs on, and so which in-process
 * linking rules are sound for it.
 *
 * The thread rule ("a call written by a thread serving exactly one request
 * belongs to that request") holds only where a thread runs one request at
 * a time, to completion: thread-per-request servers.  It is wrong for Go
 * (goroutines move between OS threads and the HTTP client writes from the
 * Transport's own goroutine), for event loops (Node.js, Python asyncio and
 * gevent, Netty: a callback of request A may run while request B is the one
 * in flight), so it is never applied there.  The connect binding (the first
 * request on a connection opened right after a thread read a request)
 * holds for native event loops such as nginx, which connect upstream in the
 * handler that read the request; not where callbacks are deferred.
 *
 * Detection, from /proc/PID: a Go binary has Go's build information even
 * when stripped (elfbin.h); Node.js, Java and Python by executable name
 * (and libjvm.so mapped); an event loop library mapped (_asyncio, greenlet,
 * gevent, netty's epoll transport) makes an interpreter asynchronous.
 */
#ifndef SPANBPF_RUNTIME_H
#define SPANBPF_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum runtime_kind {
	RUNTIME_UNKNOWN = 0,	/* not looked at, or gone before we looked */
	RUNTIME_NATIVE,		/* C, C++, Rust ...: threads or a native event loop */
	RUNTIME_GO,
	RUNTIME_NODE,
	RUNTIME_JAVA,
	RUNTIME_PYTHON,
	RUNTIME_MAX,
};

/* Linking rules sound for a process (runtime_info.rules). */
#define RUNTIME_RULE_THREAD	0x01	/* one request at a time per thread */
#define RUNTIME_RULE_CONNECT	0x02	/* upstream connects happen in the reading handler */

struct runtime_info {
	uint8_t kind;		/* enum runtime_kind */
	uint8_t rules;		/* RUNTIME_RULE_* */
	bool async;		/* an event-loop library is loaded */
};

/* "go", "node", ...: the label of a kind in logs and metrics. */
const char *runtime_name(uint8_t kind);

/*
 * The runtime of process tgid under proc_root (its executable's ELF
 * sections, its name, its mapped libraries).  0, or -1 when the process is
 * gone (out: RUNTIME_UNKNOWN, no rules).
 */
int runtime_detect(const char *proc_root, uint32_t tgid, struct runtime_info *out);

/*
 * The pure decision, for tests: the kind and rules from the executable's
 * name, whether its ELF has Go's sections, and the text of its
 * /proc/PID/maps (NULL: not read).
 */
void runtime_classify(const char *exe_name, bool go_elf, const char *maps, size_t maps_len,
		      struct runtime_info *out);

/* Is the ELF file open on fd a Go binary (elfbin_go_info())? */
bool runtime_elf_is_go(int fd);

#endif /* SPANBPF_RUNTIME_H */
