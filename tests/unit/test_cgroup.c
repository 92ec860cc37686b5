// SPDX-License-Identifier: Apache-2.0
/*
 * test_cgroup.c - container id and pod UID from /proc/PID/cgroup content:
 * real-world shaped files (cgroup v1 and v2, systemd and cgroupfs drivers,
 * docker, containerd, cri-o, podman, host processes), garbage, very long
 * lines, random input, and the file reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"

#define ID "3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
#define ID2 "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999"
#define UID "1b2c3d4e-5f60-4718-9a3b-4c5d6e7f8091"
#define UID_ "1b2c3d4e_5f60_4718_9a3b_4c5d6e7f8091"

struct cg_case {
	const char *what;
	const char *file;
	const char *container_id;
	const char *pod_uid;
};

static const struct cg_case cases[] = {
	{ "docker, cgroup v1, cgroupfs driver (every hierarchy)",
	  "12:hugetlb:/docker/" ID "\n"
	  "11:memory:/docker/" ID "\n"
	  "10:cpu,cpuacct:/docker/" ID "\n"
	  "9:pids:/docker/" ID "\n"
	  "1:name=systemd:/docker/" ID "\n",
	  ID, "" },
	{ "docker, cgroup v2, systemd driver",
	  "0::/system.slice/docker-" ID ".scope\n", ID, "" },
	{ "containerd in Kubernetes, v2, systemd driver (burstable)",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/"
	  "cri-containerd-" ID ".scope\n",
	  ID, UID },
	{ "containerd in Kubernetes, v2, guaranteed QoS",
	  "0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope\n", ID, UID },
	{ "cri-o, v1 multi-line, systemd driver",
	  "11:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" ID ".scope\n"
	  "10:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" ID ".scope\n"
	  "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-" ID ".scope\n",
	  ID, UID },
	{ "Kubernetes, v1, cgroupfs driver",
	  "5:cpuset:/kubepods/burstable/pod" UID "/" ID "\n"
	  "4:memory:/kubepods/burstable/pod" UID "/" ID "\n",
	  ID, UID },
	{ "Kubernetes, v2, cgroupfs driver, guaranteed",
	  "0::/kubepods/pod" UID "/" ID "\n", ID, UID },
	{ "podman, v2, systemd (a nested container/ cgroup)",
	  "0::/machine.slice/libpod-" ID ".scope/container\n", ID, "" },
	{ "podman, v1, cgroupfs driver",
	  "9:name=systemd:/libpod_parent/libpod-" ID "\n"
	  "4:memory:/libpod_parent/libpod-" ID "\n"
	  "0::/libpod_parent/libpod-" ID "\n",
	  ID, "" },
	{ "podman's conmon runs on the host",
	  "0::/machine.slice/libpod-conmon-" ID ".scope\n", "", "" },
	{ "cri-o's conmon: the pod, no container",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	  ".slice/crio-conmon-" ID ".scope\n",
	  "", UID },
	{ "kind (Kubernetes in Docker): the innermost id, after the pod",
	  "1:name=systemd:/docker/" ID2 "/kubepods/besteffort/pod" UID "/" ID "\n", ID, UID },
	{ "a process in a pod cgroup of a kind node: no container id before the pod",
	  "0::/docker/" ID2 "/kubepods/besteffort/pod" UID "\n", "", UID },
	{ "path relative to the reader's cgroup namespace",
	  "0::/../../kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope\n",
	  ID, UID },
	{ "ECS task", "9:perf_event:/ecs/0123456789abcdef0123456789abcdef/" ID "\n", ID, "" },
	{ "v1 hybrid: first line without, a later one with the id",
	  "0::/system.slice/containerd.service\n"
	  "12:memory:/kubepods/besteffort/pod" UID "/" ID "\n",
	  ID, UID },
	{ "host process, v2, a login session", "0::/user.slice/user-1000.slice/session-3.scope\n",
	  "", "" },
	{ "host process, v1, a systemd service",
	  "12:memory:/system.slice/docker.service\n1:name=systemd:/system.slice/docker.service\n",
	  "", "" },
	{ "host process, v2 root", "0::/\n", "", "" },
	{ "a 32-hex cgroup is not a container id",
	  "4:memory:/process_api/efdd3cde0beb35a9d61045e38212a18f\n3:cpuset:/\n", "", "" },
	{ "63 and 65 hex digits are not ids",
	  "0::/docker/" "3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182" "\n"
	  "1:x:/docker-" ID "0.scope\n",
	  "", "" },
	{ "upper case hex is made lower case",
	  "0::/docker/3F4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F6071829\n",
	  ID, "" },
	{ "mixed pod UID separators are refused",
	  "0::/kubepods/pod1b2c3d4e-5f60_4718-9a3b-4c5d6e7f8091/" ID "\n", ID, "" },
	{ "static pod: a config hash, not a UID",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	  "0123456789abcdef0123456789abcdef.slice/cri-containerd-" ID ".scope\n",
	  ID, "" },
	{ "no trailing newline", "0::/system.slice/docker-" ID ".scope", ID, "" },
	{ "garbage lines around a good one",
	  "hello\n:::\n\n\x01\xff\xfe:\x80:/\n0::/docker/" ID "\n" "nonsense without colons\n",
	  ID, "" },
	{ "empty file", "", "", "" },
	{ "only garbage", "\xff\xfe\xfd/docker/\n::::::\n-/-/-/.scope\n", "", "" },
};

static void check(const char *what, const char *buf, size_t n, bool complete, const char *cid,
		  const char *uid)
{
	struct cgroup_ids ids;
	bool found = cgroup_parse(buf, n, complete, &ids);

	if (strcmp(ids.container_id, cid) != 0 || strcmp(ids.pod_uid, uid) != 0 ||
	    found != (cid[0] != '\0'))
		fail_msg("%s: got container \"%s\" pod \"%s\" (found %d), want \"%s\" \"%s\"", what,
			 ids.container_id, ids.pod_uid, found, cid, uid);
}

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(cases[i].what, cases[i].file, strlen(cases[i].file), true,
		      cases[i].container_id, cases[i].pod_uid);
}

static void test_path(void **state)
{
	static const char p[] = "/kubepods/pod" UID "/" ID;
	struct cgroup_ids ids;

	assert_true(cgroup_parse_path(p, sizeof(p) - 1, &ids));
	assert_string_equal(ids.container_id, ID);
	assert_string_equal(ids.pod_uid, UID);
	/* Only the n bytes given are looked at. */
	assert_false(cgroup_parse_path(p, sizeof(p) - 2, &ids));
	assert_string_equal(ids.container_id, "");
	assert_string_equal(ids.pod_uid, UID);
	assert_false(cgroup_parse_path("", 0, &ids));
	assert_false(cgroup_parse_path("/", 1, &ids));
	/* A NUL inside a path is just a byte. */
	assert_false(cgroup_parse_path("/docker/\0" ID, 8 + 1 + 64, &ids));
}

static void test_cut_last_line(void **state)
{
	static const char f[] = "0::/system.slice/docker-" ID ".scope";

	/* A read cut by the size limit: the last line may be incomplete, it is ignored. */
	check("cut", f, sizeof(f) - 1, false, "", "");
	check("cut after a newline", "0::/docker/" ID "\n1:x:/y", 11 + 64 + 7, false, ID, "");
}

/* Lines far longer than any buffer: a 1 MiB path, and 100000 components. */
static void test_long_lines(void **state)
{
	size_t n = 1 << 20;
	char *buf = malloc(n + 256);
	size_t len;

	assert_non_null(buf);
	memcpy(buf, "0::/", 4);
	memset(buf + 4, 'a', n);
	len = 4 + n;
	len += (size_t)sprintf(buf + len, "/docker-%s.scope\n", ID);
	check("1 MiB component then an id", buf, len, true, ID, "");
	for (size_t i = 4; i < 4 + n; i += 2)
		buf[i] = '/';
	check("half a million empty and one-byte components", buf, len, true, ID, "");
	memset(buf + 4, '-', n);
	check("a 1 MiB run of dashes", buf, 4 + n, true, "", "");
	free(buf);
}

static bool all_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Results are well formed, and a container id comes from the input. */
static void check_sane(const char *buf, size_t n, const struct cgroup_ids *ids)
{
	size_t cl = strnlen(ids->container_id, sizeof(ids->container_id));
	size_t ul = strnlen(ids->pod_uid, sizeof(ids->pod_uid));

	assert_true(cl == 0 || cl == CGROUP_CONTAINER_ID_LEN);
	assert_true(all_hex_lower(ids->container_id, cl));
	assert_true(ul == 0 || ul == CGROUP_POD_UID_LEN);
	if (ul) {
		assert_int_equal(ids->pod_uid[8], '-');
		assert_int_equal(ids->pod_uid[23], '-');
	}
	if (cl) {
		bool seen = false;

		for (size_t i = 0; !seen && i + cl <= n; i++)
			seen = strncasecmp(buf + i, ids->container_id, cl) == 0;
		assert_true(seen);
	}
}

/* Random input, from bytes shaped like cgroup files and from any bytes: never a crash. */
static void test_fuzz(void **state)
{
	static const char *const pieces[] = {
		"/", "\n", ":", "0::", "1:name=systemd:", "docker-", "cri-containerd-", "crio-",
		"libpod-", "conmon-", ".scope", ".slice", "pod", "kubepods-burstable-pod", "-", "_",
		ID, UID, UID_, "3f4b5c6d", "abc", "..", "\xff", "\0", "0123456789abcdef",
	};
	size_t cap = 4096;
	char *buf = malloc(cap);
	unsigned int seed = 12345;
	struct cgroup_ids ids;

	assert_non_null(buf);
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = 0, want = (size_t)rand_r(&seed) % cap;
		bool any_bytes = iter % 4 == 0;

		while (n < want) {
			if (any_bytes) {
				buf[n++] = (char)rand_r(&seed);
			} else {
				size_t k = (size_t)rand_r(&seed) % (sizeof(pieces) / sizeof(*pieces));
				const char *p = pieces[k];
				size_t pl = p[0] ? strlen(p) : 1;

				if (n + pl > cap)
					break;
				memcpy(buf + n, p, pl);
				n += pl;
			}
		}
		cgroup_parse(buf, n, iter % 3 != 0, &ids);
		check_sane(buf, n, &ids);
		cgroup_parse_path(buf, n, &ids);
		check_sane(buf, n, &ids);
	}
	free(buf);
}

static void test_read(void **state)
{
	char dir[64], path[128];
	struct cgroup_ids ids;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/spanbpf-cgroup-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/42", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/42/cgroup", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope\n", f);
	fclose(f);
	assert_int_equal(cgroup_read(dir, 42, &ids), 0);
	assert_string_equal(ids.container_id, ID);
	assert_string_equal(ids.pod_uid, UID);
	assert_int_equal(cgroup_read(dir, 43, &ids), -1);
	assert_string_equal(ids.container_id, "");
	unlink(path);
	snprintf(path, sizeof(path), "%s/42", dir);
	rmdir(path);
	rmdir(dir);

	/* This test's own process: whatever it is, it reads and parses. */
	assert_int_equal(cgroup_read("/proc", (uint32_t)getpid(), &ids), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_cut_last_line),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
