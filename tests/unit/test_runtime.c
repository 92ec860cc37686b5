// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for agent/runtime.c: which in-process rules hold for which
 * runtime, from the executable's name, its ELF sections and its maps.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime.h"

static struct runtime_info classify(const char *exe, bool go, const char *maps)
{
	struct runtime_info ri;

	runtime_classify(exe, go, maps, maps ? strlen(maps) : 0, &ri);
	return ri;
}

static void test_rules_by_runtime(void **state)
{
	struct runtime_info ri;

	ri = classify("nginx", false, "");
	assert_int_equal(ri.kind, RUNTIME_NATIVE);
	assert_int_equal(ri.rules, RUNTIME_RULE_THREAD | RUNTIME_RULE_CONNECT);

	/* Go, named anything: never the thread rule (goroutines move between threads). */
	ri = classify("orders", true, NULL);
	assert_int_equal(ri.kind, RUNTIME_GO);
	assert_int_equal(ri.rules, 0);

	ri = classify("node", false, "");
	assert_int_equal(ri.kind, RUNTIME_NODE);
	assert_int_equal(ri.rules, 0);

	ri = classify("java", false, "7f00-7f01 r-xp 0 08:01 1 /usr/lib/jvm/x/lib/server/libjvm.so\n");
	assert_int_equal(ri.kind, RUNTIME_JAVA);
	assert_int_equal(ri.rules, RUNTIME_RULE_THREAD);

	/* A JVM under another name is still one. */
	ri = classify("myservice", false, "7f00-7f01 r-xp 0 08:01 1 /opt/jdk/lib/server/libjvm.so\n");
	assert_int_equal(ri.kind, RUNTIME_JAVA);

	ri = classify("java", false,
		      "7f00-7f01 r-xp 0 08:01 1 /tmp/libnetty_transport_native_epoll_x86_64123.so\n");
	assert_true(ri.async);
	assert_int_equal(ri.rules, 0);

	ri = classify("python3.11", false, "");
	assert_int_equal(ri.kind, RUNTIME_PYTHON);
	assert_int_equal(ri.rules, RUNTIME_RULE_THREAD);

	ri = classify("python3.11", false,
		      "7f00-7f01 r-xp 0 08:01 1 /usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so\n");
	assert_true(ri.async);
	assert_int_equal(ri.rules, 0);

	ri = classify("gunicorn", false,
		      "7f00-7f01 r-xp 0 08:01 1 /usr/lib/libpython3.11.so.1.0\n"
		      "7f02-7f03 r-xp 0 08:01 2 /site-packages/greenlet/_greenlet.cpython-311.so\n");
	assert_int_equal(ri.kind, RUNTIME_PYTHON);
	assert_int_equal(ri.rules, 0);
}

static void test_names(void **state)
{
	assert_string_equal(runtime_name(RUNTIME_GO), "go");
	assert_string_equal(runtime_name(RUNTIME_NODE), "node");
	assert_string_equal(runtime_name(200), "unknown");
}

/* Not ELF, or ELF without Go's sections: not Go; this test binary is C. */
static void test_elf_is_go(void **state)
{
	char path[] = "/tmp/spanbpf-runtime-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	assert_false(runtime_elf_is_go(fd));
	close(fd);
	unlink(path);
	fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	assert_false(runtime_elf_is_go(fd));
	close(fd);
}

/* A process that is gone: unknown, and no rule applies. */
static void test_detect_gone(void **state)
{
	struct runtime_info ri;

	assert_int_equal(runtime_detect("/nonexistent", 12345, &ri), -1);
	assert_int_equal(ri.kind, RUNTIME_UNKNOWN);
	assert_int_equal(ri.rules, 0);
	assert_int_equal(runtime_detect("/proc", (uint32_t)getpid(), &ri), 0);
	assert_int_equal(ri.kind, RUNTIME_NATIVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_by_runtime),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_elf_is_go),
		cmocka_unit_test(test_detect_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
