// SPDX-License-Identifier: Apache-2.0
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

int portscan_listen_inodes(const char *path, const uint16_t *ports, size_t nports,
			   uint64_t *inodes, size_t max)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	/* "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode" */
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	while (n < max && fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned int st, port, uid;
		unsigned long long inode;
		char *colon;

		if (sscanf(line, " %*u: %63s %63s %x %*x:%*x %*x:%*x %*x %u %*u %llu", local, remote,
			   &st, &uid, &inode) != 5)
			continue;
		if (st != TCP_LISTEN || inode == 0)
			continue;
		colon = strrchr(local, ':');
		if (!colon || sscanf(colon + 1, "%x", &port) != 1)
			continue;
		if (port_wanted(port, ports, nports))
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

/* Does /proc/PID/fd hold one of the sockets? */
static bool pid_owns(const char *proc_root, const char *pid, const uint64_t *inodes, size_t n)
{
	char path[PATH_MAX], target[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s/fd", proc_root, pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		unsigned long long ino;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%llu]", &ino) == 1 && inode_wanted(ino, inodes, n))
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
