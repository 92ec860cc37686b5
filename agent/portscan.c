// SPDX-License-Identifier: Apache-2.0
/*
 * portscan.c - start-up scan of /proc/net/tcp{,6} for the processes listening
 * on filters.ports (see portscan.h).
 */
#include "portscan.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_LISTEN 0x0A

static bool port_wanted(unsigned int port, const uint16_t *ports, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

bool portscan_parse_line(const char *line, unsigned int *port, uint64_t *inode)
{
	char local[64], remote[64];
	unsigned int st, uid;
	unsigned long long ino;
	char *colon;

	/* "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode" */
	if (sscanf(line, " %*u: %63s %63s %x %*x:%*x %*x:%*x %*x %u %*u %llu", local, remote, &st,
		   &uid, &ino) != 5)
		return false;
	if (st != TCP_LISTEN || ino == 0)
		return false;
	colon = strrchr(local, ':');
	if (!colon || sscanf(colon + 1, "%x", port) != 1 || *port > UINT16_MAX)
		return false;
	*inode = ino;
	return true;
}

int portscan_listen_inodes(const char *path, const uint16_t *ports, size_t nports,
			   uint64_t *inodes, size_t max)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned int port;
		uint64_t inode;

		if (portscan_parse_line(line, &port, &inode) && port_wanted(port, ports, nports))
			inodes[n++] = inode;
	}
	fclose(f);
	return (int)n;
}

static bool inode_wanted(uint64_t ino, const uint64_t *inodes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (inodes[i] == ino)
			return true;
	return false;
}

/* The socket inode behind entry name of an open /proc/PID/fd directory; 0, or -1 if none. */
static int fd_socket_inode(DIR *fds, const char *name, unsigned long long *ino)
{
	char target[64];
	ssize_t len;

	if (name[0] == '.')
		return -1;
	len = readlinkat(dirfd(fds), name, target, sizeof(target) - 1);
	if (len <= 0)
		return -1;
	target[len] = '\0';
	return sscanf(target, "socket:[%llu]", ino) == 1 ? 0 : -1;
}

/* Does /proc/PID/fd hold one of the sockets? */
static bool pid_owns(const char *proc_root, const char *pid, const uint64_t *inodes, size_t n)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s/fd", proc_root, pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		unsigned long long ino;

		if (fd_socket_inode(d, de->d_name, &ino) == 0 && inode_wanted(ino, inodes, n))
			found = true;
	}
	closedir(d);
	return found;
}

int portscan_owners(const char *proc_root, const uint64_t *inodes, size_t ninodes,
		    uint32_t *tgids, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (ninodes == 0)
		return 0;
	d = opendir(proc_root);
	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || pid == 0 || pid > UINT32_MAX)
			continue;
		if (pid_owns(proc_root, de->d_name, inodes, ninodes))
			tgids[n++] = (uint32_t)pid;
	}
	closedir(d);
	return (int)n;
}

int portscan_listeners(const char *proc_root, const uint16_t *ports, size_t nports,
		       uint32_t *tgids, size_t max)
{
	uint64_t inodes[1024];
	char path[PATH_MAX];
	size_t n = 0;
	int r;

	snprintf(path, sizeof(path), "%s/net/tcp", proc_root);
	r = portscan_listen_inodes(path, ports, nports, inodes, 1024);
	if (r > 0)
		n += (size_t)r;
	snprintf(path, sizeof(path), "%s/net/tcp6", proc_root);
	r = portscan_listen_inodes(path, ports, nports, inodes + n, 1024 - n);
	if (r > 0)
		n += (size_t)r;
	return portscan_owners(proc_root, inodes, n, tgids, max);
}

struct listener {
	uint64_t inode;
	uint16_t port;
};

struct listeners {
	struct listener *v;
	size_t n, cap;
};

/* Append the listeners of one table; false when the file cannot be opened (or ENOMEM). */
static bool read_listeners(const char *path, struct listeners *l)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned int port;
		uint64_t inode;

		if (!portscan_parse_line(line, &port, &inode))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 64;
			struct listener *v;

			if (cap > PORTSCAN_MAX_LISTENERS)
				break;
			v = realloc(l->v, cap * sizeof(*v));
			if (!v)
				break;
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n].inode = inode;
		l->v[l->n].port = (uint16_t)port;
		l->n++;
	}
	fclose(f);
	return true;
}

static int listener_cmp(const void *a, const void *b)
{
	const struct listener *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static void add_port(uint16_t port, uint16_t *ports, size_t max, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if (ports[i] == port)
			return;
	if (*n < max)
		ports[(*n)++] = port;
}

int portscan_process_ports(const char *proc_root, uint32_t tgid, const uint16_t *wanted,
			   size_t nwanted, uint16_t *ports, size_t max, size_t *nports)
{
	struct listeners l = { 0 };
	char path[PATH_MAX];
	struct dirent *de;
	int sockets = 0;
	bool v4, v6;
	DIR *d;

	*nports = 0;
	/* The tables of the process's own network namespace. */
	snprintf(path, sizeof(path), "%s/%u/net/tcp", proc_root, tgid);
	v4 = read_listeners(path, &l);
	snprintf(path, sizeof(path), "%s/%u/net/tcp6", proc_root, tgid);
	v6 = read_listeners(path, &l);
	if (!v4 && !v6) {
		free(l.v);
		return -1;
	}
	if (!l.n) {
		free(l.v);
		return 0;
	}
	qsort(l.v, l.n, sizeof(*l.v), listener_cmp);
	snprintf(path, sizeof(path), "%s/%u/fd", proc_root, tgid);
	d = opendir(path);
	if (!d) {
		free(l.v);
		return -1;
	}
	while ((de = readdir(d))) {
		struct listener key, *hit;
		unsigned long long ino;

		if (fd_socket_inode(d, de->d_name, &ino) != 0)
			continue;
		key.inode = ino;
		hit = bsearch(&key, l.v, l.n, sizeof(*l.v), listener_cmp);
		if (!hit)
			continue;
		sockets++;
		if (!nwanted || port_wanted(hit->port, wanted, nwanted))
			add_port(hit->port, ports, max, nports);
	}
	closedir(d);
	free(l.v);
	return sockets;
}
