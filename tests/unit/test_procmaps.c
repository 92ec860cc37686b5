// SPDX-License-Identifier: Apache-2.0
/*
 * test_procmaps.c - /proc/PID/maps parsing: recorded samples (a container,
 * deleted files, spaces and odd bytes in paths, malformed lines), generated
 * huge files and lines, a fake /proc tree, and this process's own maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "procmaps.h"

static char *read_data(const char *name, size_t *n)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return buf;
}

static struct procmaps *parse_data(const char *name, const char *exe)
{
	struct procmaps *pm;
	size_t n;
	char *buf = read_data(name, &n);

	assert_int_equal(procmaps_parse(buf, n, exe, &pm), 0);
	/* Entries own their paths: the buffer may go. */
	memset(buf, 'x', n);
	free(buf);
	return pm;
}

static void test_container(void **state)
{
	struct procmaps *pm = parse_data("maps_container.txt", "/usr/local/bin/node");
	const struct procmaps_entry *e, *ssl;
	char path[PATH_MAX];

	/* node twice (.text, lpstub), libssl, libcrypto, libc, the memfd, ld.so. */
	assert_int_equal(procmaps_count(pm), 7);
	assert_int_equal(procmaps_malformed(pm), 0);

	e = procmaps_exe(pm);
	assert_non_null(e);
	assert_string_equal(e->path, "/usr/local/bin/node");
	assert_true(e->first);
	assert_int_equal(e->start, 0x401000);
	assert_int_equal(e->end, 0x2600000);
	assert_int_equal(e->offset, 0x1000);
	assert_int_equal(e->dev_major, 0);
	assert_int_equal(e->dev_minor, 0x2e);
	assert_int_equal(e->inode, 1049713);
	assert_int_equal(e->prot, PROCMAPS_PROT_READ | PROCMAPS_PROT_EXEC);
	assert_false(e->shared);
	assert_false(e->deleted);
	e = procmaps_entry(pm, 1);
	assert_true(e->exe);
	assert_false(e->first);	/* the same file again */
	assert_int_equal(e->offset, 0x2200000);

	ssl = procmaps_find_lib(pm, "libssl.so.3", NULL);
	assert_non_null(ssl);
	assert_string_equal(ssl->path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_int_equal(ssl->inode, 1311285);
	assert_false(ssl->exe);
	assert_null(procmaps_find_lib(pm, "libssl.so.3", ssl));
	assert_ptr_equal(procmaps_find_lib(pm, "libssl.so", NULL), ssl);
	assert_ptr_equal(procmaps_find_lib(pm, "libssl", NULL), ssl);
	assert_non_null(procmaps_find_lib(pm, "libcrypto.so.3", NULL));
	assert_null(procmaps_find_lib(pm, "libssl.so.1.1", NULL));
	assert_null(procmaps_find_lib(pm, "libss", NULL));
	assert_null(procmaps_find_lib(pm, "", NULL));

	/* The container's file, from the agent's mount namespace. */
	assert_int_equal(procmaps_path(NULL, 4242, ssl, path, sizeof(path)),
			 (int)strlen("/proc/4242/root/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_string_equal(path, "/proc/4242/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_int_equal(procmaps_path("/host/proc", 7, ssl, path, sizeof(path)),
			 (int)strlen("/host/proc/7/root/usr/lib/x86_64-linux-gnu/libssl.so.3"));
	assert_int_equal(procmaps_path(NULL, 4242, ssl, path, 20), -ENAMETOOLONG);

	/* A memfd JIT page: deleted, shared, reached through map_files. */
	e = procmaps_entry(pm, 5);
	assert_string_equal(e->path, "/memfd:doublemapper");
	assert_true(e->deleted);
	assert_true(e->shared);
	assert_true(procmaps_path(NULL, 4242, e, path, sizeof(path)) > 0);
	assert_string_equal(path, "/proc/4242/map_files/7f3a25300000-7f3a25301000");
	assert_null(procmaps_entry(pm, 7));
	procmaps_free(pm);
}

static void test_deleted(void **state)
{
	/* nginx and libssl upgraded under a running nginx: both deleted, a new libssl loaded. */
	struct procmaps *pm = parse_data("maps_deleted.txt", "/usr/sbin/nginx (deleted)");
	const struct procmaps_entry *e, *old, *new;
	char path[PATH_MAX];

	assert_int_equal(procmaps_count(pm), 4);
	e = procmaps_exe(pm);
	assert_non_null(e);
	assert_string_equal(e->path, "/usr/sbin/nginx");
	assert_true(e->deleted);
	assert_int_equal(e->dev_major, 0xfe);
	assert_int_equal(e->dev_minor, 1);

	old = procmaps_find_lib(pm, "libssl.so.3", NULL);
	assert_non_null(old);
	assert_true(old->deleted);
	assert_int_equal(old->inode, 404011);
	procmaps_path(NULL, 99, old, path, sizeof(path));
	assert_string_equal(path, "/proc/99/map_files/7f6b4f31f000-7f6b4f3a0000");
	new = procmaps_find_lib(pm, "libssl.so.3", old);
	assert_non_null(new);
	assert_false(new->deleted);
	assert_int_equal(new->inode, 404012);
	assert_true(new->first);
	procmaps_path(NULL, 99, new, path, sizeof(path));
	assert_string_equal(path, "/proc/99/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
	assert_null(procmaps_find_lib(pm, "libssl.so.3", new));
	procmaps_free(pm);
}

static void test_spaces_and_malformed(void **state)
{
	/* No executable path given: the first file-backed line's. */
	struct procmaps *pm = parse_data("maps_spaces.txt", NULL);
	const struct procmaps_entry *e;
	char path[PATH_MAX];

	assert_int_equal(procmaps_malformed(pm), 5);
	assert_int_equal(procmaps_count(pm), 6);
	e = procmaps_exe(pm);
	assert_non_null(e);
	assert_string_equal(e->path, "/opt/My App/bin/my server");
	procmaps_path(NULL, 1, e, path, sizeof(path));
	assert_string_equal(path, "/proc/1/root/opt/My App/bin/my server");

	e = procmaps_find_lib(pm, "libssl.so.3", NULL);
	assert_non_null(e);
	assert_string_equal(e->path, "/opt/My App/lib/libssl.so.3.0.2");
	assert_ptr_equal(procmaps_find_lib(pm, "libssl", NULL), e);
	e = procmaps_find_lib(pm, "libssl3.so", NULL);
	assert_non_null(e);
	assert_string_equal(e->path, "/opt/My App/lib/libssl3.so");

	/* An escaped newline: kept as written, opened through the mapping. */
	e = procmaps_entry(pm, 3);
	assert_string_equal(e->path, "/opt/My App/lib/odd\\012name.so");
	procmaps_path(NULL, 1, e, path, sizeof(path));
	assert_string_equal(path, "/proc/1/map_files/7f00ac000000-7f00ac001000");

	/* Inner runs of spaces are the path's; a big device and inode. */
	e = procmaps_entry(pm, 4);
	assert_string_equal(e->path, "/home/u/  two  spaces .so");
	assert_int_equal(e->dev_major, 0x103);
	assert_int_equal(e->dev_minor, 0x0a);
	assert_int_equal(e->inode, 4294967296ull);

	/* The last line has no newline. */
	e = procmaps_entry(pm, 5);
	assert_string_equal(e->path, "/opt/My App/lib/last.so");
	procmaps_free(pm);
}

static void test_empty_and_garbage(void **state)
{
	static const char *inputs[] = {
		"",
		"\n\n\n",
		"-",
		"0-",
		"00400000-00401000",
		"00400000-00401000 r-xp",
		"00400000-00401000 r-xp 00000000 fe:00",
		"00400000-00401000 r-xp 00000000 fe:00 12x /x",
		"00400000-00401000 r-xp 00000000 fe00 12 /x",
		"00400000-00401000 r-xp 00000000 fe:00 12",
		"10000000000000000-1 r-xp 00000000 fe:00 12 /x",
		"00400000-00401000 r-xp 00000000 fe:00 12 relative/path",
		"\0\0\0\0",
	};
	struct procmaps *pm;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		size_t n = strlen(inputs[i]);

		if (i == sizeof(inputs) / sizeof(inputs[0]) - 1)
			n = 4;
		assert_int_equal(procmaps_parse(inputs[i], n, NULL, &pm), 0);
		assert_int_equal(procmaps_count(pm), 0);
		assert_null(procmaps_exe(pm));
		procmaps_free(pm);
	}
	assert_int_equal(procmaps_parse(NULL, 0, NULL, &pm), 0);
	procmaps_free(pm);
	assert_int_equal(procmaps_parse(NULL, 1, NULL, &pm), -EINVAL);
	procmaps_free(NULL);
	assert_int_equal(procmaps_count(NULL), 0);
}

/* Many mappings, a 1 MiB line of garbage, a path of PATH_MAX - 1 bytes. */
static void test_huge(void **state)
{
	const size_t mappings = 70000, garbage = 1 << 20;
	size_t cap = mappings * 120 + garbage + 2 * PATH_MAX, n = 0;
	char *buf = malloc(cap), *longpath = malloc(PATH_MAX);
	const struct procmaps_entry *e;
	struct procmaps *pm;

	assert_non_null(buf);
	assert_non_null(longpath);
	longpath[0] = '/';
	memset(longpath + 1, 'p', PATH_MAX - 2);
	longpath[PATH_MAX - 1] = '\0';
	for (size_t i = 0; i < mappings; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "%zx-%zx r-xp 00000000 fe:00 %zu            /lib/m%zu.so\n",
				      0x10000000 + i * 0x2000, 0x10001000 + i * 0x2000, i % 1000,
				      i % 1000);
	memset(buf + n, 'g', garbage);
	n += garbage;
	buf[n++] = '\n';
	n += (size_t)snprintf(buf + n, cap - n,
			      "7f0000000000-7f0000001000 r-xp 00000000 fe:00 99999 %s\n", longpath);
	assert_int_equal(procmaps_parse(buf, n, longpath, &pm), 0);
	assert_int_equal(procmaps_count(pm), mappings + 1);
	assert_int_equal(procmaps_malformed(pm), 1);
	for (size_t i = 0; i < mappings; i++)
		assert_int_equal(procmaps_entry(pm, i)->first, i < 1000);
	e = procmaps_exe(pm);
	assert_non_null(e);
	assert_int_equal(e->path_len, PATH_MAX - 1);
	assert_string_equal(e->path, longpath);
	assert_non_null(procmaps_find_lib(pm, "m999.so", NULL));
	procmaps_free(pm);
	free(buf);
	free(longpath);
}

static void test_fake_proc_root(void **state)
{
	char root[] = "/tmp/spanbpf-maps-XXXXXX", path[PATH_MAX];
	const char *maps = "00400000-00452000 r-xp 00000000 fe:00 7 /srv/app\n"
			   "7f0000000000-7f0000001000 r-xp 00000000 fe:00 8 /srv/libssl.so.3\n";
	struct procmaps *pm;
	FILE *f;

	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/123", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/123/maps", root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(maps, f);
	fclose(f);
	/* An exe link naming a file that is not mapped first. */
	snprintf(path, sizeof(path), "%s/123/exe", root);
	assert_int_equal(symlink("/srv/libssl.so.3", path), 0);

	assert_int_equal(procmaps_read(root, 123, &pm), 0);
	assert_int_equal(procmaps_count(pm), 2);
	assert_string_equal(procmaps_exe(pm)->path, "/srv/libssl.so.3");
	assert_false(procmaps_entry(pm, 0)->exe);
	procmaps_free(pm);
	assert_int_equal(procmaps_read(root, 124, &pm), -ENOENT);
	assert_null(pm);

	unlink(path);
	snprintf(path, sizeof(path), "%s/123/maps", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/123", root);
	rmdir(path);
	rmdir(root);
}

/* This process: its executable and libc, and the paths the agent would open. */
static void test_self(void **state)
{
	char exe[PATH_MAX], path[PATH_MAX];
	const struct procmaps_entry *e;
	struct procmaps *pm;
	struct stat st;
	ssize_t r;
	int fd;

	r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(r > 0);
	exe[r] = '\0';
	assert_int_equal(procmaps_read(NULL, (uint32_t)getpid(), &pm), 0);
	assert_true(procmaps_count(pm) >= 2);
	assert_int_equal(procmaps_malformed(pm), 0);
	e = procmaps_exe(pm);
	assert_non_null(e);
	assert_string_equal(e->path, exe);
	assert_true(e->prot & PROCMAPS_PROT_EXEC);

	/* The root path reaches the very file mapped: same device and inode. */
	assert_true(procmaps_path(NULL, (uint32_t)getpid(), e, path, sizeof(path)) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, e->inode);
	assert_int_equal(major(st.st_dev), e->dev_major);
	assert_int_equal(minor(st.st_dev), e->dev_minor);

	e = procmaps_find_lib(pm, "libc.so.6", NULL);
	assert_non_null(e);
	assert_false(e->exe);
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(st.st_ino, e->inode);

	/* map_files works for any mapping, for a privileged reader. */
	snprintf(path, sizeof(path), "/proc/self/map_files/%llx-%llx",
		 (unsigned long long)e->start, (unsigned long long)e->end);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_ino, e->inode);
		close(fd);
	} else {
		assert_true(errno == EPERM || errno == EACCES);
	}
	procmaps_free(pm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container),
		cmocka_unit_test(test_deleted),
		cmocka_unit_test(test_spaces_and_malformed),
		cmocka_unit_test(test_empty_and_garbage),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_fake_proc_root),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
