// SPDX-License-Identifier: Apache-2.0
/* Unit tests for portscan: listeners from /proc/net/tcp and their owners. */
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

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/spanbpf-portscan-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/tcp", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_inodes),
		cmocka_unit_test(test_real_listener),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
