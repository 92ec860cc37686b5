/* SPDX-License-Identifier: Apache-2.0 */
/*
 * portscan.h - which processes listen on given TCP ports, from /proc.
 * Used once at start-up by filters.ports; the kernel side takes over for
 * processes that listen or accept later.
 */
#ifndef SPANBPF_PORTSCAN_H
#define SPANBPF_PORTSCAN_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* SPANBPF_PORTSCAN_H */
