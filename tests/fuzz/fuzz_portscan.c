// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_portscan.c - the /proc/net/tcp row parser (portscan_parse_line()) on
 * any line.  Checks: an accepted row has a port in 0..65535 and an inode,
 * and its own rewrite in the kernel's format parses to the same values.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "portscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_strndup(data, size), again[256];
	unsigned int port = 0, port2 = 0;
	uint64_t ino = 0, ino2 = 0;

	if (portscan_parse_line(line, &port, &ino)) {
		CHECK(port <= 65535 && ino != 0);
		snprintf(again, sizeof(again),
			 "   0: 0100007F:%04X 00000000:0000 0A 00000000:00000000 00:00000000 "
			 "00000000     0        0 %" PRIu64 " 1 0000000000000000 100 0 0 10 0",
			 port, ino);
		CHECK(portscan_parse_line(again, &port2, &ino2));
		CHECK(port2 == port && ino2 == ino);
	}
	free(line);
	return 0;
}
