/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portscan.h - which processes listen on given TCP ports, and which ports a
 * process listens on, from /proc.  The first is used once at start-up by
 * filters.ports (the kernel side takes over for processes that listen or
 * accept later); the second by the services rules that name a port.
 */
#ifndef SPANBPF_PORTSCAN_H
#define SPANBPF_PORTSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One NUL-terminated row of a /proc/net/tcp-format table: its local port and
 * socket inode when it is a listener (state 0A) with an inode.  False for
 * anything else, the header and garbage included.  Pure (for fuzzers).
 */
bool portscan_parse_line(const char *line, unsigned int *port, uint64_t *inode);

/*
 * Collect the socket inodes of TCP listeners (state 0A) on any of ports from
 * one /proc/net/tcp-format file.  Returns the number stored in inodes (at
 * most max), or -1 when the file cannot be read.
 */
int portscan_listen_inodes(const char *path, const uint16_t *ports, size_t nports,
			   uint64_t *inodes, size_t max);

/*
 * The tgids under proc_root (normally "/proc") that hold a socket fd whose
 * inode is in inodes.  Returns how many were stored in tgids (at most max).
 */
int portscan_owners(const char *proc_root, const uint64_t *inodes, size_t ninodes,
		    uint32_t *tgids, size_t max);

/* Both steps over proc_root/net/tcp and tcp6. */
int portscan_listeners(const char *proc_root, const uint16_t *ports, size_t nports,
		       uint32_t *tgids, size_t max);

/* Listening sockets of one network namespace looked at by portscan_process_ports(). */
#define PORTSCAN_MAX_LISTENERS 65536

/*
 * The TCP ports process tgid listens on, in its own network namespace: the
 * listeners of proc_root/TGID/net/tcp and tcp6 whose socket inode is one of
 * the process's fds (proc_root/TGID/fd, "socket:[INODE]").  Those in wanted
 * (every port when nwanted is 0) are stored in ports, distinct, at most max
 * (ports may be NULL when max is 0), their count in *nports.  Returns the
 * number of the process's fds that are listening sockets on any port (0: it
 * listens on nothing), or -1 when the tables or the fd directory cannot be
 * read (process gone, no permission).  Fds opened or closed during the scan
 * may or may not be seen.
 */
int portscan_process_ports(const char *proc_root, uint32_t tgid, const uint16_t *wanted,
			   size_t nwanted, uint16_t *ports, size_t max, size_t *nports);

#endif /* SPANBPF_PORTSCAN_H */
