// SPDX-License-Identifier: Apache-2.0
/* Unit tests for portscan: listeners from /proc/net/tcp and their owners. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "portscan.h"

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Two listeners (8080 and 9090), one established connection on 8080, one on 22. */
static const char tcp_table[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0\n"
	"   1: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 100 0 0 10 0\n"
	"   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1\n"
	"   3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 100 0 0 10 0\n"
	"garbage line that does not parse\n";

static void test_listen_inodes(void **state)
{
	char path[128];
	uint64_t inodes[8];
	uint16_t ports[] = { 8080, 9090 };
	uint16_t none[] = { 1234 };

	snprintf(path, sizeof(path), "%s/tcp", tmpdir);
	write_file(path, tcp_table);
	assert_int_equal(portscan_listen_inodes(path, ports, 2, inodes, 8), 2);
	assert_int_equal(inodes[0], 111);
	assert_int_equal(inodes[1], 222);
	assert_int_equal(portscan_listen_inodes(path, none, 1, inodes, 8), 0);
	/* Bounded by max. */
	assert_int_equal(portscan_listen_inodes(path, ports, 2, inodes, 1), 1);
	assert_int_equal(portscan_listen_inodes("/nonexistent/tcp", ports, 2, inodes, 8), -1);
}

/* Against the real /proc: this process listens on an ephemeral port. */
static void test_real_listener(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	uint32_t tgids[64];
	uint16_t port;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n, found = 0;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	n = portscan_listeners("/proc", &port, 1, tgids, 64);
	for (int i = 0; i < n; i++)
		if (tgids[i] == (uint32_t)getpid())
			found = 1;
	assert_true(found);
	close(fd);
}

static void fake_fd(const char *pid_dir, int fd, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/fd/%d", pid_dir, fd);
	assert_int_equal(symlink(target, path), 0);
}

/*
 * A process in its own network namespace: listeners on 8080 (v4, inode 111)
 * and 9090 (v6, inode 555) that it holds, 9090 twice (dup), a listener on
 * 22 (inode 444) it does not hold, an established socket (333), a file.
 */
static const char tcp6_table[] =
	"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n"
	"   1: 00000000000000000000000000000000:FFFFF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 666 1 0000000000000000 100 0 0 10 0\n";

static void test_process_ports(void **state)
{
	char pid_dir[128], path[256];
	uint16_t ports[8], want80[] = { 8080 }, none[] = { 1234 };
	size_t n;

	snprintf(pid_dir, sizeof(pid_dir), "%s/77", tmpdir);
	mkdir(pid_dir, 0755);
	snprintf(path, sizeof(path), "%s/net", pid_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fd", pid_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/net/tcp", pid_dir);
	write_file(path, tcp_table);
	snprintf(path, sizeof(path), "%s/net/tcp6", pid_dir);
	write_file(path, tcp6_table);
	fake_fd(pid_dir, 0, "/dev/null");
	fake_fd(pid_dir, 3, "socket:[111]");
	fake_fd(pid_dir, 4, "socket:[333]");
	fake_fd(pid_dir, 5, "socket:[555]");
	fake_fd(pid_dir, 6, "socket:[555]");
	fake_fd(pid_dir, 7, "pipe:[111]");
	fake_fd(pid_dir, 8, "socket:[666]");	/* a port that does not fit 16 bits: ignored */

	/* Every port: 8080 and 9090 once each; three listening fds. */
	assert_int_equal(portscan_process_ports(tmpdir, 77, NULL, 0, ports, 8, &n), 3);
	assert_int_equal(n, 2);
	assert_true((ports[0] == 8080 && ports[1] == 9090) ||
		    (ports[0] == 9090 && ports[1] == 8080));
	/* Only the wanted ones are stored; the count of listening fds is the same. */
	assert_int_equal(portscan_process_ports(tmpdir, 77, want80, 1, ports, 8, &n), 3);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], 8080);
	assert_int_equal(portscan_process_ports(tmpdir, 77, none, 1, ports, 8, &n), 3);
	assert_int_equal(n, 0);
	/* Bounded by max. */
	assert_int_equal(portscan_process_ports(tmpdir, 77, NULL, 0, ports, 1, &n), 3);
	assert_int_equal(n, 1);
	/* Gone. */
	assert_int_equal(portscan_process_ports(tmpdir, 78, NULL, 0, ports, 8, &n), -1);
	assert_int_equal(n, 0);

	/* Holds no listener (only the established socket): 0. */
	snprintf(path, sizeof(path), "%s/fd/3", pid_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fd/5", pid_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fd/6", pid_dir);
	unlink(path);
	assert_int_equal(portscan_process_ports(tmpdir, 77, NULL, 0, ports, 8, &n), 0);
	assert_int_equal(n, 0);
}

/* Against the real /proc: this process, in its own network namespace. */
static void test_real_process_ports(void **state)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(sa);
	uint16_t port, ports[64];
	size_t n;
	int fd = socket(AF_INET6, SOCK_STREAM, 0), before;

	before = portscan_process_ports("/proc", (uint32_t)getpid(), NULL, 0, ports, 64, &n);
	assert_true(before >= 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin6_port);
	assert_int_equal(portscan_process_ports("/proc", (uint32_t)getpid(), &port, 1, ports, 64,
						&n), before + 1);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], port);
	close(fd);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/spanbpf-portscan-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_inodes),
		cmocka_unit_test(test_real_listener),
		cmocka_unit_test(test_process_ports),
		cmocka_unit_test(test_real_process_ports),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
