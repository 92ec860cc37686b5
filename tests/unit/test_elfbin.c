// SPDX-License-Identifier: Apache-2.0
/*
 * test_elfbin.c - elfbin against real binaries, every answer checked against
 * an independent source: Go programs built here with `go build` (with and
 * without -ldflags=-s -w, and for arm64) checked against `go version`,
 * `objdump -d`, `go tool objdump` and `readelf --debug-dump=info`; a C++
 * program built here with g++ (DWARF 5, and DWARF 4 type units) that prints
 * its own layout; /usr/bin/node and libssl.so.3 against objdump and readelf;
 * this test's own executable against the kernel's mapping of it; and
 * truncated and corrupted copies that must give errors, never crashes.
 *
 * A missing tool (go, g++, objdump, readelf) or binary (node, libssl) skips
 * the tests that need it, except under CI=true, where it fails them.
 * Timings of the one-pass lookups are printed.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "elfbin.h"
#include "procmaps.h"

#define LIBSSL "/usr/lib/x86_64-linux-gnu/libssl.so.3"
#define NODE "/usr/bin/node"
#define MAX_RETS 256

static struct {
	char dir[64];
	bool have_go, have_cxx, have_objdump, have_readelf;
	char go[PATH_MAX], go_s[PATH_MAX], go_arm64[PATH_MAX];
	char go_version[64];
	char cxx[PATH_MAX], cxx4[PATH_MAX];
	char *cxx_layout;	/* what the C++ program printed */
} fx;

static bool ci(void)
{
	const char *v = getenv("CI");

	return v && strcmp(v, "true") == 0;
}

/* Skip when a prerequisite is missing, but fail under CI=true. */
#define REQUIRE(cond, what)                                                            \
	do {                                                                           \
		if (!(cond)) {                                                         \
			if (ci())                                                      \
				fail_msg("%s is missing, and CI=true", what);           \
			print_message("[  SKIP    ] %s missing\n", what);               \
			skip();                                                        \
		}                                                                      \
	} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Run a shell command; its stdout (malloc'd) and exit status. */
static char *run(int *status, const char *fmt, ...)
{
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap), cmd[8192];
	va_list ap;
	FILE *p;
	size_t r;
	int st;

	assert_non_null(out);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((r = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += r;
		if (cap - len < 2) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
	}
	out[len] = '\0';
	st = pclose(p);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

static bool have(const char *tool)
{
	int st;

	free(run(&st, "command -v %s >/dev/null 2>&1", tool));
	return st == 0;
}

static bool exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static uint8_t *read_all(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return buf;
}

static void write_all(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static bool go_build(const char *out, const char *goarch, const char *ldflags)
{
	char cache[PATH_MAX] = "";
	char *log;
	int st;

	/* go needs a cache directory: $HOME's, else one of ours. */
	if (!getenv("HOME") && !getenv("XDG_CACHE_HOME") && !getenv("GOCACHE"))
		snprintf(cache, sizeof(cache), "GOCACHE=%s/gocache", fx.dir);
	log = run(&st, "cd '%s' && env %s GOTOOLCHAIN=local GOPROXY=off GOFLAGS= %s%s "
		       "go build %s%s%s -o '%s' '%s/goprog/main.go' 2>&1",
		  fx.dir, cache, goarch ? "GOARCH=" : "", goarch ? goarch : "",
		  ldflags ? "-ldflags='" : "", ldflags ? ldflags : "", ldflags ? "'" : "", out,
		  TEST_DATA_DIR);
	if (st != 0)
		print_message("go build failed: %s\n", log);
	free(log);
	return st == 0;
}

static int setup(void **state)
{
	char *out;
	int st;

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/spanbpf-elfbin-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	fx.have_objdump = have("objdump");
	fx.have_readelf = have("readelf");
	if (have("go")) {
		snprintf(fx.go, sizeof(fx.go), "%s/goprog", fx.dir);
		snprintf(fx.go_s, sizeof(fx.go_s), "%s/goprog_stripped", fx.dir);
		snprintf(fx.go_arm64, sizeof(fx.go_arm64), "%s/goprog_arm64", fx.dir);
		fx.have_go = go_build(fx.go, NULL, NULL) && go_build(fx.go_s, NULL, "-s -w") &&
			     go_build(fx.go_arm64, "arm64", NULL);
		/* "go version go1.19.8 linux/amd64" */
		out = run(&st, "go version");
		if (sscanf(out, "go version %63s", fx.go_version) != 1)
			fx.have_go = false;
		free(out);
	}
	if (have("g++")) {
		snprintf(fx.cxx, sizeof(fx.cxx), "%s/asyncwrap", fx.dir);
		snprintf(fx.cxx4, sizeof(fx.cxx4), "%s/asyncwrap_dwarf4", fx.dir);
		free(run(&st, "g++ -g -O0 -o '%s' '%s/cxxprog/asyncwrap.cc' 2>&1", fx.cxx,
			 TEST_DATA_DIR));
		fx.have_cxx = st == 0;
		free(run(&st, "g++ -gdwarf-4 -fdebug-types-section -O0 -o '%s' "
			      "'%s/cxxprog/asyncwrap.cc' 2>&1", fx.cxx4, TEST_DATA_DIR));
		fx.have_cxx = fx.have_cxx && st == 0;
		if (fx.have_cxx) {
			fx.cxx_layout = run(&st, "'%s'", fx.cxx);
			fx.have_cxx = st == 0;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	int st;

	free(fx.cxx_layout);
	if (fx.dir[0])
		free(run(&st, "rm -rf '%s'", fx.dir));
	return 0;
}

/* ---- independent references ------------------------------------------------ */

struct dis {
	uint64_t first_addr;
	char first_bytes[64];	/* as objdump prints them: "49 3b 66 10" */
	uint64_t rets[MAX_RETS];	/* addresses */
	size_t nrets, ninsns;
};

/* objdump -d over [addr, addr + size): instruction starts, RETs, the first bytes. */
static void objdump_range(const char *bin, uint64_t addr, uint64_t size, struct dis *d)
{
	char *out = run(NULL, "objdump -d --start-address=0x%" PRIx64 " --stop-address=0x%" PRIx64
			      " '%s'", addr, addr + size, bin);
	char *save = NULL;

	memset(d, 0, sizeof(*d));
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[3] = { NULL, NULL, NULL }, *s2 = NULL, *tok, *mn, *m2;
		uint64_t a;
		int nf = 0;

		if (sscanf(line, " %" SCNx64 ":", &a) != 1 || !strchr(line, '\t'))
			continue;
		for (tok = strtok_r(line, "\t", &s2); tok && nf < 3;
		     tok = strtok_r(NULL, "\t", &s2))
			f[nf++] = tok;
		if (nf < 3)
			continue;	/* the rest of a long instruction's bytes */
		if (d->ninsns++ == 0) {
			d->first_addr = a;
			snprintf(d->first_bytes, sizeof(d->first_bytes), "%s", f[1]);
		}
		mn = strtok_r(f[2], " ", &s2);
		m2 = strtok_r(NULL, " ", &s2);
		if (mn && (strcmp(mn, "rep") == 0 || strcmp(mn, "repz") == 0 ||
			   strcmp(mn, "bnd") == 0))
			mn = m2;
		if (mn && (strcmp(mn, "ret") == 0 || strcmp(mn, "retq") == 0)) {
			assert_true(d->nrets < MAX_RETS);
			d->rets[d->nrets++] = a;
		}
	}
	free(out);
}

/* go tool objdump of one symbol (any architecture): RETs and the first instruction word. */
static void go_objdump(const char *bin, const char *sym, struct dis *d)
{
	char re[1024], *p = re, *out, *save = NULL;

	*p++ = '^';
	for (const char *s = sym; *s && p < re + sizeof(re) - 4; s++) {
		if (strchr(".()*[]+?$^|\\", *s))
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '$';
	*p = '\0';
	out = run(NULL, "go tool objdump -s '%s' '%s'", re, bin);
	memset(d, 0, sizeof(*d));
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4], *s2 = NULL;
		int nf = 0;

		for (char *t = strtok_r(line, "\t", &s2); t && nf < 4;
		     t = strtok_r(NULL, "\t", &s2))
			f[nf++] = t;
		if (nf < 4 || strncmp(f[1], "0x", 2) != 0)
			continue;
		if (d->ninsns++ == 0) {
			d->first_addr = strtoull(f[1], NULL, 16);
			snprintf(d->first_bytes, sizeof(d->first_bytes), "%s", f[2]);
		}
		if (strcmp(f[3], "RET") == 0) {
			assert_true(d->nrets < MAX_RETS);
			d->rets[d->nrets++] = strtoull(f[1], NULL, 16);
		}
	}
	free(out);
}

/* The file's bytes at off, printed as objdump prints them. */
static void file_bytes(const char *bin, uint64_t off, const char *like, char *out, size_t cap)
{
	size_t n = (strlen(like) + 1) / 3, len = 0;
	uint8_t b[32];
	int fd = open(bin, O_RDONLY);

	assert_true(fd >= 0);
	assert_true(n > 0 && n <= sizeof(b));
	assert_int_equal(pread(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, i ? " %02x" : "%02x", b[i]);
}

/* A symbol's first instruction and every RET agree with objdump -d. */
static void check_against_objdump(const char *bin, struct elfbin *eb, const struct elfbin_sym *s,
				  const char *name)
{
	uint64_t offs[MAX_RETS], bad = 0;
	char bytes[128], want[64];
	struct dis d;
	int n;

	objdump_range(bin, s->addr, s->size, &d);
	assert_true(d.ninsns > 0);
	assert_int_equal(d.first_addr, s->addr);
	/* objdump's trailing padding of the byte column */
	snprintf(want, sizeof(want), "%s", d.first_bytes);
	for (size_t l = strlen(want); l > 0 && want[l - 1] == ' '; l--)
		want[l - 1] = '\0';
	file_bytes(bin, s->offset, want, bytes, sizeof(bytes));
	if (strcmp(bytes, want) != 0)
		fail_msg("%s: file bytes at 0x%" PRIx64 " are %s, objdump shows %s at 0x%" PRIx64,
			 name, s->offset, bytes, want, s->addr);
	n = elfbin_return_sites(eb, s, offs, MAX_RETS, &bad);
	if (n < 0)
		fail_msg("%s: return sites: %s at 0x%" PRIx64, name, elfbin_strerror(n), bad);
	if ((size_t)n != d.nrets)
		fail_msg("%s: %d RETs, objdump shows %zu", name, n, d.nrets);
	for (int i = 0; i < n; i++)
		assert_int_equal(offs[i], s->offset + (d.rets[i] - s->addr));
}

struct want {
	const char *type, *member;	/* member NULL: the byte size */
	long value;			/* -1 until seen */
};

/* The value of a readelf attribute line, "(indirect string, offset: 0x..): x" included. */
static const char *attr_value(char *line)
{
	char *v = strchr(strstr(line, "DW_AT_"), ':'), *e;

	if (!v)
		return "";
	v++;
	while (*v == ' ' || *v == '\t')
		v++;
	if (v[0] == '(' && (e = strstr(v, "): ")) != NULL)
		v = e + 3;
	e = v + strlen(v);
	while (e > v && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return v;
}

/*
 * Member offsets and type sizes of top-level structs as readelf prints the
 * DWARF (the first definition of each name), for Go and C.
 */
static void readelf_fields(const char *bin, struct want *w, size_t n)
{
	static char cmd[PATH_MAX + 64], line[8192];
	char cur[1024] = "", mname[1024] = "";
	bool in_type = false, in_member = false;
	int depth = -1;
	FILE *p;

	for (size_t i = 0; i < n; i++)
		w[i].value = -1;
	snprintf(cmd, sizeof(cmd), "readelf -wN --debug-dump=info '%s' 2>/dev/null", bin);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char tag[64];
		const char *v;
		int d, abbrev;

		if (sscanf(line, " <%d><%*x>: Abbrev Number: %d (%63[^)])", &d, &abbrev,
			   tag) == 3) {
			depth = d;
			if (d == 1) {
				in_type = strcmp(tag, "DW_TAG_structure_type") == 0 ||
					  strcmp(tag, "DW_TAG_union_type") == 0;
				cur[0] = '\0';
			}
			in_member = d == 2 && in_type && strcmp(tag, "DW_TAG_member") == 0;
			mname[0] = '\0';
			continue;
		}
		if (!strstr(line, "DW_AT_") || depth < 1)
			continue;
		v = attr_value(line);
		if (depth == 1 && in_type) {
			if (strstr(line, "DW_AT_name"))
				snprintf(cur, sizeof(cur), "%s", v);
			else if (strstr(line, "DW_AT_declaration"))
				in_type = false;
			else if (strstr(line, "DW_AT_byte_size"))
				for (size_t i = 0; i < n; i++)
					if (!w[i].member && w[i].value < 0 &&
					    strcmp(w[i].type, cur) == 0)
						w[i].value = strtol(v, NULL, 0);
		} else if (in_member) {
			if (strstr(line, "DW_AT_name"))
				snprintf(mname, sizeof(mname), "%s", v);
			else if (strstr(line, "DW_AT_data_member_location") && mname[0])
				for (size_t i = 0; i < n; i++)
					if (w[i].member && w[i].value < 0 &&
					    strcmp(w[i].type, cur) == 0 &&
					    strcmp(w[i].member, mname) == 0)
						w[i].value = strtol(v, NULL, 0);
		}
	}
	pclose(p);
}

/* ---- opening ------------------------------------------------------------------ */

static void expect_open(const char *path, int want)
{
	struct elfbin *eb = (struct elfbin *)1;
	int err = elfbin_open(path, &eb);

	if (err != want)
		fail_msg("%s: elfbin_open gave %d (%s), want %d", path, err, elfbin_strerror(err),
			 want);
	if (err)
		assert_null(eb);
	elfbin_close(eb);
}

/* A copy of this test's executable with one header byte or field changed. */
static void patched_self(const char *name, size_t at, const void *v, size_t len, int want)
{
	char path[PATH_MAX];
	size_t n;
	uint8_t *buf = read_all("/proc/self/exe", &n);

	snprintf(path, sizeof(path), "%s/%s", fx.dir, name);
	memcpy(buf + at, v, len);
	write_all(path, buf, n);
	free(buf);
	expect_open(path, want);
}

static void test_open_errors(void **state)
{
	char path[PATH_MAX];
	struct elfbin *eb;
	uint16_t u16;
	uint8_t u8;
	int fd;

	expect_open("/nonexistent/binary", -ENOENT);
	expect_open("/", -ENOEXEC);
	expect_open("/dev/null", -ENOEXEC);
	expect_open("/dev/zero", -ENOEXEC);
	snprintf(path, sizeof(path), "%s/fifo", fx.dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_open(path, -ENOEXEC);	/* at once: no wait for a writer */
	snprintf(path, sizeof(path), "%s/empty", fx.dir);
	write_all(path, "", 0);
	expect_open(path, -ENOEXEC);
	snprintf(path, sizeof(path), "%s/text", fx.dir);
	write_all(path, "#!/bin/sh\necho this is no ELF file, only a script of some length\n", 66);
	expect_open(path, -ENOEXEC);

	u8 = ELFCLASS32;
	patched_self("class32", EI_CLASS, &u8, 1, -ENOTSUP);
	u8 = 7;
	patched_self("classbad", EI_CLASS, &u8, 1, -ENOEXEC);
	u8 = ELFDATA2MSB;
	patched_self("bigendian", EI_DATA, &u8, 1, -ENOTSUP);
	u16 = EM_ARM;
	patched_self("arm32", offsetof(Elf64_Ehdr, e_machine), &u16, 2, -ENOTSUP);
	u16 = EM_RISCV;
	patched_self("riscv", offsetof(Elf64_Ehdr, e_machine), &u16, 2, -ENOTSUP);
	u16 = ET_REL;
	patched_self("object", offsetof(Elf64_Ehdr, e_type), &u16, 2, -ENOEXEC);
	u16 = ET_CORE;
	patched_self("core", offsetof(Elf64_Ehdr, e_type), &u16, 2, -ENOEXEC);
	u8 = 'X';
	patched_self("magic", 1, &u8, 1, -ENOEXEC);

	assert_int_equal(elfbin_open(NULL, &eb), -EINVAL);
	assert_int_equal(elfbin_open("/proc/self/exe", NULL), -EINVAL);
	assert_int_equal(elfbin_open_fd(-1, &eb), -EBADF);
	assert_null(eb);

	/* The caller's fd stays the caller's. */
	fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(elfbin_open_fd(fd, &eb), 0);
	elfbin_close(eb);
	assert_int_equal(fcntl(fd, F_GETFD), 0);
	close(fd);
	elfbin_close(NULL);

	assert_non_null(strstr(elfbin_strerror(-ENODATA), "stripped"));
	assert_non_null(strstr(elfbin_strerror(-ENOEXEC), "ELF"));
	assert_string_equal(elfbin_strerror(-EACCES), strerror(EACCES));
}

/* ---- this executable ---------------------------------------------------------- */

/* The kernel mapped this test's code: symbol offsets must be where it did. */
static void test_self(void **state)
{
	struct elfbin_sym_query q[] = {
		{ .name = "elfbin_open" },
		{ .name = "elfbin_return_sites" },
		{ .name = "procmaps_parse" },
		{ .name = "main" },
		{ .name = "no_such_symbol_here" },
	};
	const void *code[] = { (const void *)elfbin_open, (const void *)elfbin_return_sites,
			       (const void *)procmaps_parse };
	const struct elfbin_info *info;
	char self[PATH_MAX];
	struct elfbin_go go;
	struct procmaps *pm;
	struct elfbin *eb;
	ssize_t r;

	r = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(r > 0);
	self[r] = '\0';
	assert_int_equal(elfbin_open(self, &eb), 0);
	info = elfbin_info(eb);
	assert_true(info->machine == EM_X86_64 || info->machine == EM_AARCH64);
	assert_true(info->has_symtab);
	assert_int_equal(elfbin_find_symbols(eb, q, 5), 4);
	assert_int_equal(q[4].err, -ENOENT);
	assert_int_equal(procmaps_read(NULL, (uint32_t)getpid(), &pm), 0);
	for (size_t i = 0; i < 3; i++) {
		uintptr_t at = (uintptr_t)code[i];
		const struct procmaps_entry *e = NULL;

		assert_int_equal(q[i].err, 0);
		assert_int_equal(q[i].matches, 1);
		assert_int_equal(q[i].sym.type, STT_FUNC);
		for (size_t j = 0; j < procmaps_count(pm); j++) {
			const struct procmaps_entry *m = procmaps_entry(pm, j);

			if (at >= m->start && at < m->end)
				e = m;
		}
		assert_non_null(e);
		assert_true(e->exe);
		assert_int_equal(q[i].sym.offset, at - e->start + e->offset);
		assert_int_equal(elfbin_addr_to_offset(eb, q[i].sym.addr), q[i].sym.offset);
	}
	procmaps_free(pm);
	assert_int_equal(elfbin_addr_to_offset(eb, UINT64_MAX - 1), ELFBIN_NO_OFFSET);
	assert_int_equal(elfbin_go_info(eb, &go), -ENOENT);

	if (fx.have_objdump)
		check_against_objdump(self, eb, &q[1].sym, q[1].name);
	elfbin_close(eb);
}

/* ---- Go ------------------------------------------------------------------------ */

static const char *const go_funcs[] = {
	"net/http.serverHandler.ServeHTTP",
	"net/http.(*Transport).roundTrip",
	"runtime.newproc1",
	"runtime.goexit1",
	"crypto/tls.(*Conn).Read",
	"crypto/tls.(*Conn).Write",
};
#define GO_FUNCS (sizeof(go_funcs) / sizeof(go_funcs[0]))

static struct want go_fields[] = {
	{ "net/http.Request", "Method", -1 },
	{ "net/http.Request", "URL", -1 },
	{ "net/http.Request", "Header", -1 },
	{ "net/url.URL", "Path", -1 },
	{ "crypto/tls.Conn", "conn", -1 },
	{ "net.netFD", "pfd", -1 },
	{ "internal/poll.FD", "Sysfd", -1 },
	{ "runtime.g", "goid", -1 },
	{ "bufio.Writer", "wr", -1 },
	{ "net/http.persistConn", "conn", -1 },
	{ "net/http.conn", "rwc", -1 },
	{ "net/http.response", "conn", -1 },
	{ "runtime.g", NULL, -1 },
	{ "net/http.Request", NULL, -1 },
};
#define GO_FIELDS (sizeof(go_fields) / sizeof(go_fields[0]))

static void check_go_fields(struct elfbin *eb, const char *bin)
{
	struct elfbin_field_query q[GO_FIELDS + 3];
	double t;
	int n;

	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < GO_FIELDS; i++) {
		q[i].type = go_fields[i].type;
		q[i].member = go_fields[i].member;
	}
	q[GO_FIELDS] = (struct elfbin_field_query){ .type = "net.netFD", .member = "pfd.Sysfd" };
	q[GO_FIELDS + 1] = (struct elfbin_field_query){ .type = "runtime.g", .member = "nosuch" };
	q[GO_FIELDS + 2] = (struct elfbin_field_query){ .type = "nosuch.T", .member = "x" };
	t = now_ms();
	n = elfbin_dwarf_fields(eb, q, GO_FIELDS + 3);
	t = now_ms() - t;
	assert_int_equal(n, GO_FIELDS + 1);
	print_message("%s: %zu DWARF lookups in one pass (one absent type: a full pass): %.1f ms\n",
		      bin, GO_FIELDS + 3, t);

	readelf_fields(bin, go_fields, GO_FIELDS);
	for (size_t i = 0; i < GO_FIELDS; i++) {
		assert_int_equal(q[i].err, 0);
		assert_true(q[i].type_found);
		if (go_fields[i].value < 0)
			fail_msg("readelf shows no %s.%s", go_fields[i].type, go_fields[i].member);
		if (go_fields[i].member)
			assert_int_equal(q[i].offset, go_fields[i].value);
		else
			assert_int_equal(q[i].size, go_fields[i].value);
	}
	/* Strings are two words, interfaces two, pointers one. */
	assert_int_equal(q[0].size, 16);
	assert_int_equal(q[1].size, 8);
	assert_int_equal(q[4].size, 16);
	/* pfd.Sysfd is Sysfd's offset in poll.FD past pfd's in netFD. */
	assert_int_equal(q[GO_FIELDS].err, 0);
	assert_int_equal(q[GO_FIELDS].offset, go_fields[5].value + go_fields[6].value);
	assert_int_equal(q[GO_FIELDS + 1].err, -ENOENT);
	assert_true(q[GO_FIELDS + 1].type_found);
	assert_int_equal(q[GO_FIELDS + 2].err, -ENOENT);
	assert_false(q[GO_FIELDS + 2].type_found);
}

static void test_go(void **state)
{
	struct elfbin_sym_query q[GO_FUNCS + 1];
	const struct elfbin_info *info;
	char want[PATH_MAX + 128], *out;
	struct elfbin_go go;
	struct elfbin *eb;
	double t;

	REQUIRE(fx.have_go, "go (golang-go)");
	REQUIRE(fx.have_objdump, "objdump (binutils)");
	REQUIRE(fx.have_readelf, "readelf (binutils)");
	assert_int_equal(elfbin_open(fx.go, &eb), 0);
	info = elfbin_info(eb);
	assert_int_equal(info->machine, EM_X86_64);
	assert_true(info->has_symtab);
	assert_true(info->has_dwarf);

	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.version_err, 0);
	assert_int_equal(go.ptr_size, 8);
	assert_int_equal(go.major, 1);
	assert_true(go.minor >= 17);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_REGISTER);
	/* Go's own reader of the build information agrees. */
	out = run(NULL, "go version '%s'", fx.go);
	snprintf(want, sizeof(want), "%s: %s\n", fx.go, go.version);
	assert_string_equal(out, want);
	free(out);

	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < GO_FUNCS; i++)
		q[i].name = go_funcs[i];
	q[GO_FUNCS].name = "runtime.main";
	t = now_ms();
	assert_int_equal(elfbin_find_symbols(eb, q, GO_FUNCS + 1), GO_FUNCS + 1);
	t = now_ms() - t;
	print_message("%s: %zu symbols in one pass: %.2f ms\n", fx.go, GO_FUNCS + 1, t);
	for (size_t i = 0; i < GO_FUNCS; i++) {
		assert_int_equal(q[i].err, 0);
		assert_int_equal(q[i].matches, 1);
		assert_int_equal(q[i].sym.type, STT_FUNC);
		assert_false(q[i].sym.dynamic);
		check_against_objdump(fx.go, eb, &q[i].sym, q[i].name);
	}
	check_go_fields(eb, fx.go);
	elfbin_close(eb);
}

static void test_go_stripped(void **state)
{
	struct elfbin_field_query f = { .type = "runtime.g", .member = "goid" };
	const struct elfbin_info *info;
	struct elfbin_sym sym;
	struct elfbin_go go;
	struct elfbin *eb;

	REQUIRE(fx.have_go, "go (golang-go)");
	assert_int_equal(elfbin_open(fx.go_s, &eb), 0);
	info = elfbin_info(eb);
	assert_false(info->has_symtab);
	assert_false(info->has_dwarf);
	/* Still Go, and the version is still there (.go.buildinfo survives -s -w). */
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_REGISTER);
	/* What is gone is said to be gone, not "not found". */
	assert_int_equal(elfbin_find_symbol(eb, "runtime.newproc1", &sym), -ENODATA);
	assert_int_equal(elfbin_find_symbol(eb, "crypto/tls.(*Conn).Read", &sym), -ENODATA);
	assert_int_equal(elfbin_dwarf_fields(eb, &f, 1), -ENODATA);
	assert_int_equal(f.err, -ENODATA);
	assert_non_null(strstr(elfbin_strerror(f.err), "stripped"));
	elfbin_close(eb);
}

static void test_go_arm64(void **state)
{
	struct elfbin_sym_query q[GO_FUNCS];
	struct elfbin_field_query f[2] = { { .type = "runtime.g", .member = "goid" },
					   { .type = "internal/poll.FD", .member = "Sysfd" } };
	struct want w[2] = { { "runtime.g", "goid", -1 }, { "internal/poll.FD", "Sysfd", -1 } };
	struct elfbin_go go;
	struct elfbin *eb;

	REQUIRE(fx.have_go, "go (golang-go)");
	REQUIRE(fx.have_readelf, "readelf (binutils)");
	assert_int_equal(elfbin_open(fx.go_arm64, &eb), 0);
	assert_int_equal(elfbin_info(eb)->machine, EM_AARCH64);
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_string_equal(go.version, fx.go_version);
	/* arm64 has the register ABI from go1.18. */
	assert_int_equal(go.abi, go.minor >= 18 ? ELFBIN_GO_ABI_REGISTER : ELFBIN_GO_ABI_STACK);

	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < GO_FUNCS; i++)
		q[i].name = go_funcs[i];
	assert_int_equal(elfbin_find_symbols(eb, q, GO_FUNCS), GO_FUNCS);
	for (size_t i = 0; i < GO_FUNCS; i++) {
		uint64_t offs[MAX_RETS];
		uint32_t word;
		struct dis d;
		int n, fd;

		go_objdump(fx.go_arm64, q[i].name, &d);
		assert_true(d.ninsns > 0);
		assert_int_equal(d.first_addr, q[i].sym.addr);
		fd = open(fx.go_arm64, O_RDONLY);
		assert_int_equal(pread(fd, &word, 4, (off_t)q[i].sym.offset), 4);
		close(fd);
		assert_int_equal(word, strtoul(d.first_bytes, NULL, 16));
		n = elfbin_return_sites(eb, &q[i].sym, offs, MAX_RETS, NULL);
		if (n < 0 || (size_t)n != d.nrets)
			fail_msg("%s: %d RETs, go tool objdump shows %zu", q[i].name, n, d.nrets);
		for (int j = 0; j < n; j++)
			assert_int_equal(offs[j], q[i].sym.offset + (d.rets[j] - q[i].sym.addr));
	}
	assert_int_equal(elfbin_dwarf_fields(eb, f, 2), 2);
	readelf_fields(fx.go_arm64, w, 2);
	assert_int_equal(f[0].offset, w[0].value);
	assert_int_equal(f[1].offset, w[1].value);
	elfbin_close(eb);
}

/* The offset of .go.buildinfo's header in a Go binary's bytes. */
static size_t buildinfo_at(const uint8_t *buf, size_t n)
{
	const uint8_t *p = memmem(buf, n, "\xff Go buildinf:", 14);

	assert_non_null(p);
	return (size_t)(p - buf);
}

/* Before go1.18 the header held the addresses of two Go string variables. */
static void test_go_pointer_buildinfo(void **state)
{
	struct elfbin_sym_query q[2] = { { .name = "runtime.buildVersion" },
					 { .name = "runtime.modinfo" } };
	char path[PATH_MAX], want[PATH_MAX + 128], *out;
	struct elfbin_go go;
	struct elfbin *eb;
	uint8_t *buf;
	size_t n, at;

	REQUIRE(fx.have_go, "go (golang-go)");
	assert_int_equal(elfbin_open(fx.go, &eb), 0);
	assert_int_equal(elfbin_find_symbols(eb, q, 2), 2);
	elfbin_close(eb);
	buf = read_all(fx.go, &n);
	at = buildinfo_at(buf, n);
	buf[at + 15] = 0;	/* little-endian, pointers */
	memcpy(buf + at + 16, &q[0].sym.addr, 8);
	memcpy(buf + at + 24, &q[1].sym.addr, 8);
	snprintf(path, sizeof(path), "%s/goprog_pointers", fx.dir);
	write_all(path, buf, n);
	free(buf);
	chmod(path, 0755);

	assert_int_equal(elfbin_open(path, &eb), 0);
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_int_equal(go.version_err, 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_REGISTER);
	elfbin_close(eb);
	/* And Go reads the rewritten header the same way. */
	out = run(NULL, "go version '%s'", path);
	snprintf(want, sizeof(want), "%s: %s\n", path, fx.go_version);
	assert_string_equal(out, want);
	free(out);
}

/* No section headers at all (sstrip, packers): still Go, by the data segment's build info. */
static void test_go_no_sections(void **state)
{
	char path[PATH_MAX];
	struct elfbin_go go;
	struct elfbin *eb;
	Elf64_Ehdr *eh;
	uint8_t *buf;
	size_t n;

	REQUIRE(fx.have_go, "go (golang-go)");
	buf = read_all(fx.go_s, &n);
	eh = (Elf64_Ehdr *)buf;
	eh->e_shoff = 0;
	eh->e_shnum = 0;
	eh->e_shstrndx = 0;
	snprintf(path, sizeof(path), "%s/goprog_no_sections", fx.dir);
	write_all(path, buf, n);
	free(buf);
	assert_int_equal(elfbin_open(path, &eb), 0);
	assert_false(elfbin_info(eb)->has_symtab);
	assert_false(elfbin_info(eb)->has_dynsym);
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_int_equal(go.version_err, 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_REGISTER);
	elfbin_close(eb);
}

/* Build information unreadable: the version from the runtime.buildVersion variable. */
static void test_go_version_from_symbol(void **state)
{
	char path[PATH_MAX];
	struct elfbin_go go;
	struct elfbin *eb;
	uint8_t *buf;
	size_t n;

	REQUIRE(fx.have_go, "go (golang-go)");
	buf = read_all(fx.go, &n);
	buf[buildinfo_at(buf, n) + 1] = 'X';	/* no magic: the section is there, the blob is not */
	snprintf(path, sizeof(path), "%s/goprog_no_buildinfo", fx.dir);
	write_all(path, buf, n);
	free(buf);
	assert_int_equal(elfbin_open(path, &eb), 0);
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_int_equal(go.version_err, 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_REGISTER);
	elfbin_close(eb);
}

/* GOEXPERIMENT=noregabi in the build settings: the stack ABI. */
static void test_go_noregabi(void **state)
{
	static const char key[] = "CGO_CPPFLAGS=\nbuild\tC", exp[] = "GOEXPERIMENT=noregabi";
	char path[PATH_MAX];
	struct elfbin_go go;
	struct elfbin *eb;
	uint8_t *buf, *p;
	size_t n;

	REQUIRE(fx.have_go, "go (golang-go)");
	assert_int_equal(sizeof(key), sizeof(exp));
	buf = read_all(fx.go, &n);
	p = memmem(buf + buildinfo_at(buf, n), 4096, key, sizeof(key) - 1);
	assert_non_null(p);
	memcpy(p, exp, sizeof(exp) - 1);
	snprintf(path, sizeof(path), "%s/goprog_noregabi", fx.dir);
	write_all(path, buf, n);
	free(buf);
	assert_int_equal(elfbin_open(path, &eb), 0);
	assert_int_equal(elfbin_go_info(eb, &go), 0);
	assert_string_equal(go.version, fx.go_version);
	assert_int_equal(go.abi, ELFBIN_GO_ABI_STACK);
	elfbin_close(eb);
}

/* A fake address space for pointer-format build information. */
struct mem {
	uint64_t base;
	uint8_t bytes[256];
};

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mem *m = ctx;

	if (addr < m->base || addr - m->base > sizeof(m->bytes) ||
	    len > sizeof(m->bytes) - (addr - m->base))
		return -EFAULT;
	memcpy(buf, m->bytes + (addr - m->base), len);
	return 0;
}

static size_t blob_header(uint8_t *b, uint8_t ptr, uint8_t flags)
{
	memset(b, 0, 32);
	memcpy(b, "\xff Go buildinf:", 14);
	b[14] = ptr;
	b[15] = flags;
	return 32;
}

static void test_buildinfo_parse(void **state)
{
	char mod[256];
	struct elfbin_go go;
	struct mem m = { .base = 0x10000 };
	uint8_t b[600];
	size_t n;

	/* go1.18+: inline, varint lengths; modinfo framed by 16-byte sentinels. */
	n = blob_header(b, 8, 2);
	b[n++] = 9;
	memcpy(b + n, "go1.22.3x", 9);	/* the length counts, not a NUL */
	n += 9;
	b[n++] = 16 + 21 + 16;
	memcpy(b + n, "0123456789abcdef", 16);
	memcpy(b + n + 16, "path\tx\nbuild\tGOOS=l\n\n", 21);
	memcpy(b + n + 37, "\n123456789abcdef", 16);
	n += 53;
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, mod, sizeof(mod)), 0);
	assert_string_equal(go.version, "go1.22.3x");
	assert_int_equal(go.major, 0);	/* "3x" is no patch number */
	assert_string_equal(mod, "path\tx\nbuild\tGOOS=l\n\n");
	b[32] = 8;
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, NULL, 0), 0);
	assert_string_equal(go.version, "go1.22.3");
	assert_int_equal(go.minor, 22);
	assert_int_equal(go.patch, 3);
	/* Cut modinfo: kept cut, no framing removed. */
	b[32] = 9;
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, mod, 8), 0);
	assert_string_equal(mod, "0123456");

	/* Malformed inline strings. */
	b[32] = 0;
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, NULL, 0), -EPROTO);
	b[32] = 0x80;	/* an unterminated varint up to the end */
	memset(b + 33, 0xff, n - 33);
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, NULL, 0), -EPROTO);
	b[32] = 0x7f;	/* longer than the blob */
	assert_int_equal(elfbin_go_parse_buildinfo(b, 40, NULL, NULL, &go, NULL, 0), -EPROTO);
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, NULL, NULL, &go, NULL, 0), -EPROTO);
	/* Not build information at all. */
	assert_int_equal(elfbin_go_parse_buildinfo(b, 31, NULL, NULL, &go, NULL, 0), -ENOENT);
	b[0] = 0;
	assert_int_equal(elfbin_go_parse_buildinfo(b, n, NULL, NULL, &go, NULL, 0), -ENOENT);
	assert_int_equal(elfbin_go_parse_buildinfo(NULL, 0, NULL, NULL, &go, NULL, 0), -ENOENT);
	n = blob_header(b, 3, 2);
	assert_int_equal(elfbin_go_parse_buildinfo(b, 64, NULL, NULL, &go, NULL, 0), -EPROTO);

	/* Before go1.18, 8-byte pointers: header -> string headers -> bytes. */
	n = blob_header(b, 8, 0);
	{
		uint64_t vers = 0x10000, mod_hdr = 0x10010, vers_hdr[2] = { 0x10020, 8 },
			 mod_words[2] = { 0x10028, 5 };

		memcpy(b + 16, &vers, 8);
		memcpy(b + 24, &mod_hdr, 8);
		memcpy(m.bytes, vers_hdr, 16);
		memcpy(m.bytes + 16, mod_words, 16);
		memcpy(m.bytes + 32, "go1.16.5", 8);
		memcpy(m.bytes + 40, "mod x", 5);
	}
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, mem_read, &m, &go, mod, sizeof(mod)), 0);
	assert_string_equal(go.version, "go1.16.5");
	assert_int_equal(go.minor, 16);
	assert_string_equal(mod, "mod x");
	/* A string header pointing outside the file. */
	m.bytes[3] = 0x7f;
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, mem_read, &m, &go, NULL, 0), -EPROTO);
	/* No reader, or big-endian pointers. */
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, NULL, NULL, &go, NULL, 0), -EPROTO);
	b[15] = 1;
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, mem_read, &m, &go, NULL, 0), -ENOTSUP);

	/* 4-byte pointers (386, arm). */
	n = blob_header(b, 4, 0);
	{
		uint32_t vers = 0x10000, hdr[2] = { 0x10010, 6 };

		memcpy(b + 16, &vers, 4);
		memset(m.bytes, 0, sizeof(m.bytes));
		memcpy(m.bytes, hdr, 8);
		memcpy(m.bytes + 16, "go1.15", 6);
	}
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, mem_read, &m, &go, NULL, 0), 0);
	assert_string_equal(go.version, "go1.15");
	assert_int_equal(go.ptr_size, 4);
	assert_int_equal(go.minor, 15);
	/* An empty version is no version. */
	m.bytes[4] = 0;
	assert_int_equal(elfbin_go_parse_buildinfo(b, 32, mem_read, &m, &go, NULL, 0), -EPROTO);
}

static void test_go_version_parse(void **state)
{
	static const struct {
		const char *s;
		int err, major, minor, patch;
	} cases[] = {
		{ "go1.19.8", 0, 1, 19, 8 },
		{ "go1.21rc2", 0, 1, 21, 0 },
		{ "go1.18beta1", 0, 1, 18, 0 },
		{ "go1.22.0 X:boringcrypto", 0, 1, 22, 0 },
		{ "devel go1.23-1a2b3c4 Tue Jan 2 10:00:00 2024 +0000", 0, 1, 23, 0 },
		{ "go1.17", 0, 1, 17, 0 },
		{ "go1", 0, 1, 0, 0 },
		{ "go2.0.1", 0, 2, 0, 1 },
		{ "", -EINVAL, 0, 0, 0 },
		{ "go", -EINVAL, 0, 0, 0 },
		{ "gox", -EINVAL, 0, 0, 0 },
		{ "go1.x", -EINVAL, 0, 0, 0 },
		{ "go1.19.8junk", -EINVAL, 0, 0, 0 },
		{ "devel +abcdef", -EINVAL, 0, 0, 0 },
		{ "go1.99999999999", -EINVAL, 0, 0, 0 },
		{ "1.19", -EINVAL, 0, 0, 0 },
	};
	int ma, mi, pa;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = elfbin_go_parse_version(cases[i].s, &ma, &mi, &pa);

		if (err != cases[i].err)
			fail_msg("\"%s\": %d, want %d", cases[i].s, err, cases[i].err);
		if (err == 0) {
			assert_int_equal(ma, cases[i].major);
			assert_int_equal(mi, cases[i].minor);
			assert_int_equal(pa, cases[i].patch);
		}
	}
	assert_int_equal(elfbin_go_parse_version(NULL, &ma, &mi, &pa), -EINVAL);
}

/* ---- C++ ------------------------------------------------------------------------- */

/* Every line the C++ program printed ("TYPE MEMBER VALUE") agrees with its DWARF. */
static void check_cxx_layout(const char *bin)
{
	char *lines = strdup(fx.cxx_layout), *save = NULL;
	struct elfbin_field_query q[64];
	long want[64];
	struct elfbin *eb;
	size_t n = 0;

	assert_non_null(lines);
	memset(q, 0, sizeof(q));
	for (char *l = strtok_r(lines, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(l, ' '), *sp2;

		if (strncmp(l, "init ", 5) == 0)
			continue;
		assert_non_null(sp);
		*sp = '\0';
		want[n] = strtol(sp + 1, NULL, 10);
		sp2 = strrchr(l, ' ');
		assert_non_null(sp2);
		*sp2 = '\0';
		q[n].type = l;
		q[n].member = strcmp(sp2 + 1, "-") == 0 ? NULL : sp2 + 1;
		n++;
	}
	assert_true(n >= 10);
	assert_int_equal(elfbin_open(bin, &eb), 0);
	assert_int_equal(elfbin_dwarf_fields(eb, q, n), (int)n);
	for (size_t i = 0; i < n; i++) {
		long got = q[i].member ? (long)q[i].offset : (long)q[i].size;

		if (got != want[i])
			fail_msg("%s: %s %s: DWARF says %ld, the compiler %ld", bin, q[i].type,
				 q[i].member ? q[i].member : "(size)", got, want[i]);
	}
	elfbin_close(eb);
	free(lines);
}

static void test_cxx_dwarf(void **state)
{
	struct elfbin_field_query q[] = {
		{ .type = "node::AsyncWrap", .member = "bits_" },	/* a bit-field */
		/* inherited: ask the base class */
		{ .type = "node::AsyncWrap", .member = "env_" },
		/* the scope is part of the name */
		{ .type = "AsyncWrap", .member = "async_id_" },
		{ .type = "node::crypto::AsyncWrap", .member = "async_id_" },
		{ .type = "node::AsyncWrap", .member = "nested_.nosuch" },
		{ .type = "node::AsyncWrap", .member = "async_id_.x" },	/* not a struct */
		{ .type = "node::BaseObject", .member = NULL },
	};
	struct elfbin *eb;

	REQUIRE(fx.have_cxx, "g++");
	check_cxx_layout(fx.cxx);
	check_cxx_layout(fx.cxx4);	/* DWARF 4 type units */
	assert_int_equal(elfbin_open(fx.cxx, &eb), 0);
	assert_int_equal(elfbin_dwarf_fields(eb, q, sizeof(q) / sizeof(q[0])), 1);
	assert_int_equal(q[0].err, -ENOTSUP);
	assert_int_equal(q[1].err, -ENOENT);
	assert_true(q[1].type_found);
	assert_int_equal(q[2].err, -ENOENT);
	assert_false(q[2].type_found);
	assert_false(q[3].type_found);
	assert_int_equal(q[4].err, -ENOENT);
	assert_int_equal(q[5].err, -ENOTSUP);
	assert_int_equal(q[6].err, 0);
	assert_int_equal(q[6].size, 24);	/* vtable pointer and two pointers */
	assert_int_equal(elfbin_dwarf_fields(eb, q, 0), 0);
	elfbin_close(eb);
}

/*
 * A DWARF that loops: both anonymous members of node::AsyncWrap retyped as
 * node::AsyncWrap itself.  Looking for a member that is not there must end
 * (at 2^32 visits it would not), with -EPROTO.
 */
static void test_dwarf_loop(void **state)
{
	struct elfbin_field_query q[2] = { { .type = "node::AsyncWrap", .member = "async_id_" },
					   { .type = "node::AsyncWrap", .member = "nosuch" } };
	long cu = 0, cls = -1, die = -1, attrs[8], sec = -1;
	char *out, *save = NULL, path[PATH_MAX], tag[64] = "";
	int depth = -1, cls_depth = -1, nattrs = 0;
	bool named = false;
	struct elfbin *eb;
	uint8_t *buf;
	double t;
	size_t n;

	REQUIRE(fx.have_cxx, "g++");
	REQUIRE(fx.have_readelf, "readelf (binutils)");
	/* The class DIE of node::AsyncWrap, and the DW_AT_type (ref4) of its unnamed members. */
	out = run(NULL, "readelf -wN --debug-dump=info --wide '%s'", fx.cxx);
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		bool child;
		long off;
		int d;

		if (sscanf(l, "  Compilation Unit @ offset %lx:", &off) == 1) {
			cu = off;
			continue;
		}
		if (sscanf(l, " <%d><%lx>: Abbrev Number: %*d (%63[^)])", &d, &off, tag) == 3) {
			depth = d;
			die = off;
			named = false;
			if (cls_depth >= 0 && d <= cls_depth)
				cls_depth = -2;	/* past the class: done */
			continue;
		}
		if (!strstr(l, "DW_AT_"))
			continue;
		child = cls_depth >= 0 && depth == cls_depth + 1 &&
			strcmp(tag, "DW_TAG_member") == 0;
		if (strstr(l, "DW_AT_name")) {
			size_t len = strlen(l);

			named = true;
			if (cls_depth == -1 && strcmp(tag, "DW_TAG_class_type") == 0 && len > 10 &&
			    strcmp(l + len - 10, " AsyncWrap") == 0)
				cls = die, cls_depth = depth;
		} else if (child && !named && strstr(l, "DW_AT_type") && strstr(l, "(ref4)") &&
			   nattrs < 8) {
			attrs[nattrs++] = strtol(strchr(l, '<') + 1, NULL, 16);
		}
	}
	free(out);
	assert_true(cls > 0);
	assert_int_equal(nattrs, 2);	/* the anonymous union and struct */
	/* "  [31] .debug_info  PROGBITS  0000000000000000 003147 000dca 00 ..." */
	out = run(NULL, "readelf -SW '%s'", fx.cxx);
	{
		const char *l = strstr(out, " .debug_info ");
		unsigned long addr, off;

		if (l && sscanf(l, " .debug_info PROGBITS %lx %lx", &addr, &off) == 2)
			sec = (long)off;
	}
	free(out);
	assert_true(sec > 0);

	buf = read_all(fx.cxx, &n);
	for (int i = 0; i < nattrs; i++) {
		uint32_t ref = (uint32_t)(cls - cu);

		memcpy(buf + sec + attrs[i], &ref, 4);
	}
	snprintf(path, sizeof(path), "%s/asyncwrap_loop", fx.dir);
	write_all(path, buf, n);
	free(buf);
	assert_int_equal(elfbin_open(path, &eb), 0);
	t = now_ms();
	assert_int_equal(elfbin_dwarf_fields(eb, q, 2), 1);
	t = now_ms() - t;
	assert_int_equal(q[0].err, 0);	/* declared before the loop */
	assert_int_equal(q[1].err, -EPROTO);
	assert_true(t < 5000);
	print_message("a DWARF that loops: given up in %.1f ms\n", t);
	elfbin_close(eb);
}

static void test_cxx_symbols(void **state)
{
	struct elfbin_sym_query q[] = {
		{ .name = "node::AsyncWrap::EmitAsyncInit", .flags = ELFBIN_SYM_CXX },
		{ .name = "_ZN4node9AsyncWrap13EmitAsyncInitEPvdd" },
		{ .name = "node::AsyncWrap::AsyncReset", .flags = ELFBIN_SYM_CXX },
		{ .name = "_ZN4node9AsyncWrap10AsyncResetEd" },
		{ .name = "node::AsyncWrap::~AsyncWrap", .flags = ELFBIN_SYM_CXX },
		{ .name = "node::crypto::TLSWrap::TLSWrap", .flags = ELFBIN_SYM_CXX },
		{ .name = "main", .flags = ELFBIN_SYM_CXX },
		{ .name = "node::AsyncWrap::EmitAsyncInit" },	/* not a mangled name */
		{ .name = "AsyncWrap::EmitAsyncInit", .flags = ELFBIN_SYM_CXX },
	};
	struct elfbin *eb;

	REQUIRE(fx.have_cxx, "g++");
	REQUIRE(fx.have_objdump, "objdump (binutils)");
	assert_int_equal(elfbin_open(fx.cxx, &eb), 0);
	elfbin_find_symbols(eb, q, sizeof(q) / sizeof(q[0]));
	assert_int_equal(q[0].err, 0);
	assert_int_equal(q[1].err, 0);
	assert_int_equal(q[0].sym.addr, q[1].sym.addr);
	check_against_objdump(fx.cxx, eb, &q[0].sym, q[0].name);
	/* Overloads: two functions, the caller must choose by mangled name. */
	assert_int_equal(q[2].err, -ENOTUNIQ);
	assert_int_equal(q[2].matches, 2);
	assert_int_equal(q[3].err, 0);
	/* D0 (deleting) and D1/D2 (aliases): two addresses. */
	assert_int_equal(q[4].err, -ENOTUNIQ);
	assert_true(q[5].err == 0 || q[5].err == -ENOTUNIQ);
	assert_true(q[5].matches >= 1);
	/* main is not mangled: no C++ match. */
	assert_int_equal(q[6].err, -ENOENT);
	assert_int_equal(q[7].err, -ENOENT);
	assert_int_equal(q[8].err, -ENOENT);
	elfbin_close(eb);
}

/* ---- OpenSSL and Node.js ---------------------------------------------------------- */

static const char *const ssl_funcs[] = {
	"SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "SSL_get_fd", "SSL_set_fd",
};
#define SSL_FUNCS (sizeof(ssl_funcs) / sizeof(ssl_funcs[0]))

static void test_libssl(void **state)
{
	struct elfbin_sym_query q[SSL_FUNCS + 1];
	const struct elfbin_info *info;
	struct elfbin_go go;
	struct elfbin *eb;

	REQUIRE(exists(LIBSSL), LIBSSL);
	REQUIRE(fx.have_objdump, "objdump (binutils)");
	assert_int_equal(elfbin_open(LIBSSL, &eb), 0);
	info = elfbin_info(eb);
	assert_int_equal(info->type, ET_DYN);
	assert_true(info->has_dynsym);
	assert_true(info->build_id_len == 20);
	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < SSL_FUNCS; i++)
		q[i].name = ssl_funcs[i];
	q[SSL_FUNCS].name = "ssl_internal_static_function";
	assert_int_equal(elfbin_find_symbols(eb, q, SSL_FUNCS + 1), SSL_FUNCS);
	for (size_t i = 0; i < SSL_FUNCS; i++) {
		assert_int_equal(q[i].err, 0);
		assert_int_equal(q[i].sym.type, STT_FUNC);
		assert_int_equal(q[i].sym.bind, STB_GLOBAL);
		assert_true(q[i].sym.dynamic || info->has_symtab);
		check_against_objdump(LIBSSL, eb, &q[i].sym, q[i].name);
	}
	/* Debian strips the library to its .dynsym: a missing name may have been stripped. */
	assert_int_equal(q[SSL_FUNCS].err, info->has_symtab ? -ENOENT : -ENODATA);
	assert_int_equal(elfbin_go_info(eb, &go), -ENOENT);
	elfbin_close(eb);
}

static void test_node(void **state)
{
	struct elfbin_sym_query q[SSL_FUNCS + 6];
	struct elfbin_field_query f[4] = {
		{ .type = "node::AsyncWrap", .member = "async_id_" },
		{ .type = "node::AsyncWrap", .member = "trigger_async_id_" },
		{ .type = "uv_loop_s", .member = "active_handles" },
		{ .type = "uv_loop_s", .member = "nosuch" },
	};
	struct want w[1] = { { "uv_loop_s", "active_handles", -1 } };
	struct elfbin_go go;
	struct elfbin *eb;
	size_t nq = 0;
	double t;
	int n;

	REQUIRE(exists(NODE), NODE);
	REQUIRE(fx.have_objdump, "objdump (binutils)");
	REQUIRE(fx.have_readelf, "readelf (binutils)");
	t = now_ms();
	assert_int_equal(elfbin_open(NODE, &eb), 0);
	print_message("%s: open: %.2f ms\n", NODE, now_ms() - t);
	assert_true(elfbin_info(eb)->has_symtab);
	memset(q, 0, sizeof(q));
	for (size_t i = 0; i < SSL_FUNCS; i++)
		q[nq++].name = ssl_funcs[i];
	q[nq++] = (struct elfbin_sym_query){ .name = "node::AsyncWrap::EmitAsyncInit",
					     .flags = ELFBIN_SYM_CXX };
	q[nq++] = (struct elfbin_sym_query){ .name = "node::AsyncWrap::EmitBefore",
					     .flags = ELFBIN_SYM_CXX };
	q[nq++] = (struct elfbin_sym_query){ .name = "node::AsyncWrap::EmitAfter",
					     .flags = ELFBIN_SYM_CXX };
	q[nq++] = (struct elfbin_sym_query){ .name = "node::AsyncWrap::AsyncReset",
					     .flags = ELFBIN_SYM_CXX };
	q[nq++] = (struct elfbin_sym_query){
		.name = "_ZN4node9AsyncWrap13EmitAsyncInitEPNS_11EnvironmentEN2v85Local"
			"INS3_6ObjectEEENS4_INS3_6StringEEEdd" };
	q[nq++] = (struct elfbin_sym_query){ .name = "no_such_symbol_in_node" };
	t = now_ms();
	n = elfbin_find_symbols(eb, q, nq);
	t = now_ms() - t;
	print_message("%s: %zu symbols (4 by C++ name) in one pass over .symtab and .dynsym: "
		      "%.1f ms\n", NODE, nq, t);
	assert_int_equal(n, SSL_FUNCS + 4);
	for (size_t i = 0; i < SSL_FUNCS + 3; i++) {
		assert_int_equal(q[i].err, 0);
		assert_int_equal(q[i].matches, 1);
		assert_int_equal(q[i].sym.type, STT_FUNC);
	}
	check_against_objdump(NODE, eb, &q[0].sym, q[0].name);
	check_against_objdump(NODE, eb, &q[SSL_FUNCS].sym, q[SSL_FUNCS].name);
	assert_int_equal(q[SSL_FUNCS + 3].err, -ENOTUNIQ);	/* two AsyncReset overloads */
	assert_int_equal(q[SSL_FUNCS + 3].matches, 2);
	assert_int_equal(q[SSL_FUNCS + 4].err, 0);
	assert_int_equal(q[SSL_FUNCS + 4].sym.addr, q[SSL_FUNCS].sym.addr);
	assert_int_equal(q[SSL_FUNCS + 5].err, -ENOENT);
	/* A second pass without C++ names: the hashing alone. */
	t = now_ms();
	assert_int_equal(elfbin_find_symbols(eb, q, SSL_FUNCS), SSL_FUNCS);
	print_message("%s: %zu plain symbols, tables already read: %.1f ms\n", NODE, SSL_FUNCS,
		      now_ms() - t);

	assert_int_equal(elfbin_go_info(eb, &go), -ENOENT);

	/* This node's DWARF covers libuv only (checked); a build with more would show AsyncWrap. */
	t = now_ms();
	n = elfbin_dwarf_fields(eb, f, 4);
	t = now_ms() - t;
	print_message("%s: 4 DWARF lookups, a full pass: %.1f ms\n", NODE, t);
	assert_true(n >= 1);
	if (f[0].type_found) {
		assert_int_equal(f[0].err, 0);
		assert_int_equal(f[1].offset, f[0].offset + 8);
		print_message("%s: node::AsyncWrap async_id_ at %" PRIu64 "\n", NODE, f[0].offset);
	} else {
		print_message("%s: no node::AsyncWrap in its DWARF\n", NODE);
	}
	readelf_fields(NODE, w, 1);
	assert_int_equal(f[2].err, 0);
	assert_int_equal(f[2].offset, w[0].value);
	assert_int_equal(f[3].err, -ENOENT);
	assert_true(f[3].type_found);
	elfbin_close(eb);
}

/* ---- hostile files ---------------------------------------------------------------- */

static bool allowed(int err)
{
	switch (-err) {
	case ENOEXEC:
	case ENOTSUP:
	case ENOENT:
	case ENODATA:
	case ENOTUNIQ:
	case EILSEQ:
	case EPROTO:
	case EFBIG:
	case EINVAL:
	case EIO:
	case ENOMEM:
		return true;
	default:
		return false;
	}
}

/* Outcomes of the hostile-file runs, by errno (0: success), for the summary. */
static unsigned long outcomes[2][256];	/* [0] opens, [1] everything after */

#define ALLOWED_AT(kind, expr)                                                          \
	do {                                                                            \
		int err_ = (expr);                                                      \
		if (err_ < 0 && !allowed(err_))                                         \
			fail_msg("%s gave %d (%s)", #expr, err_, strerror(-err_));      \
		outcomes[kind][err_ < 0 && -err_ < 256 ? -err_ : 0]++;                  \
	} while (0)
#define ALLOWED(expr) ALLOWED_AT(1, expr)

static void print_outcomes(const char *what)
{
	char line[1024];
	size_t len = 0;

	for (int kind = 0; kind < 2; kind++) {
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s",
					kind ? "; calls:" : " opens:");
		for (int e = 0; e < 256; e++)
			if (outcomes[kind][e])
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %lu",
							e ? strerrorname_np(e) : "ok",
							outcomes[kind][e]);
	}
	print_message("%s:%s\n", what, line);
	memset(outcomes, 0, sizeof(outcomes));
}

/* Everything the module does, on a file that may be anything. */
static void exercise(const char *path)
{
	struct elfbin_sym_query q[] = {
		{ .name = "main" },
		{ .name = "_start" },
		{ .name = "SSL_read" },
		{ .name = "runtime.newproc1" },
		{ .name = "crypto/tls.(*Conn).Read" },
		{ .name = "node::AsyncWrap::EmitAsyncInit", .flags = ELFBIN_SYM_CXX },
		{ .name = "node::AsyncWrap::AsyncReset", .flags = ELFBIN_SYM_CXX },
	};
	struct elfbin_field_query f[] = {
		{ .type = "node::AsyncWrap", .member = "async_id_" },
		{ .type = "node::AsyncWrap", .member = "nested_.b" },
		{ .type = "runtime.g", .member = "goid" },
		{ .type = "uv_like_t", .member = NULL },
	};
	struct elfbin_go go;
	struct elfbin *eb;
	int err = elfbin_open(path, &eb);

	ALLOWED_AT(0, err);
	if (err) {
		assert_null(eb);
		return;
	}
	ALLOWED(elfbin_find_symbols(eb, q, sizeof(q) / sizeof(q[0])));
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		uint64_t offs[16], bad;

		ALLOWED(q[i].err);
		if (q[i].err == 0 || q[i].err == -ENOTUNIQ)
			ALLOWED(elfbin_return_sites(eb, &q[i].sym, offs, 16, &bad));
		elfbin_addr_to_offset(eb, q[i].sym.addr + q[i].sym.size);
	}
	ALLOWED(elfbin_go_info(eb, &go));
	ALLOWED(elfbin_dwarf_fields(eb, f, sizeof(f) / sizeof(f[0])));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		ALLOWED(f[i].err);
	elfbin_close(eb);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Copies of src cut at many lengths (all: headers and sixteenths too; else extra, n/2, n - 1). */
static void truncations(const char *src, const size_t *extra, size_t nextra, bool all)
{
	char path[PATH_MAX];
	size_t n, cuts[64], ncuts = 0;
	uint8_t *buf = read_all(src, &n);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
	static const size_t fixed[] = { 0, 1, 4, 15, 16, 17, 52, 63, 64, 65, 100, 1000, 4096 };

	cuts[ncuts++] = n / 2;
	cuts[ncuts++] = n - 1;
	for (size_t i = 0; all && i < sizeof(fixed) / sizeof(fixed[0]); i++)
		cuts[ncuts++] = fixed[i];
	if (all) {
		cuts[ncuts++] = eh->e_phoff + eh->e_phnum * sizeof(Elf64_Phdr) - 1;
		cuts[ncuts++] = eh->e_shoff;
		cuts[ncuts++] = eh->e_shoff + 10;
		for (int k = 1; k < 16; k++)
			cuts[ncuts++] = n * (size_t)k / 16;
	}
	for (size_t i = 0; i < nextra && ncuts < 64; i++)
		cuts[ncuts++] = extra[i];
	snprintf(path, sizeof(path), "%s/truncated", fx.dir);
	for (size_t i = 0; i < ncuts; i++) {
		if (cuts[i] > n)
			continue;
		write_all(path, buf, cuts[i]);
		exercise(path);
	}
	free(buf);
}

static void test_truncated(void **state)
{
	memset(outcomes, 0, sizeof(outcomes));
	truncations("/proc/self/exe", NULL, 0, true);
	if (exists(LIBSSL))
		truncations(LIBSSL, NULL, 0, true);
	if (fx.have_cxx)
		truncations(fx.cxx4, NULL, 0, true);
	if (fx.have_go) {
		size_t n, at[3];
		uint8_t *buf = read_all(fx.go, &n);

		/* Through the build information: header, version string, module text. */
		at[0] = buildinfo_at(buf, n) + 20;
		at[1] = at[0] + 16;
		at[2] = at[0] + 60;
		free(buf);
		truncations(fx.go, at, 3, false);
	}
	print_outcomes("truncated copies");
}

/*
 * Corrupt b (n bytes) by strategy s of several; shoff and shnum are the
 * section header table's place in the original (b's own may be corrupt).
 */
static void corrupt(uint8_t *b, size_t n, size_t shoff, size_t shnum, int s)
{
	static const uint64_t extremes[] = { 0, 1, 0x7fffffff, 0xffffffff, 0xffffffffffffffffull,
					     1ull << 62, 0x8000000000000000ull };

	switch (s) {
	case 0:		/* random bytes anywhere */
		for (uint64_t k = rnd() % 16 + 1; k > 0; k--)
			b[rnd() % n] = (uint8_t)rnd();
		break;
	case 1:		/* in the ELF and program headers */
		for (uint64_t k = rnd() % 8 + 1; k > 0; k--)
			b[rnd() % 0x300] = (uint8_t)rnd();
		break;
	case 2:		/* in the section headers */
		for (uint64_t k = rnd() % 8 + 1; k > 0; k--)
			b[shoff + rnd() % (shnum * sizeof(Elf64_Shdr))] = (uint8_t)rnd();
		break;
	case 3: {	/* one field of one section header set to an extreme */
		Elf64_Shdr *sh = (Elf64_Shdr *)(b + shoff) + rnd() % shnum;
		uint64_t v = rnd() % 4 ? extremes[rnd() % 7] : n - rnd() % 64;

		switch (rnd() % 6) {
		case 0: sh->sh_offset = v; break;
		case 1: sh->sh_size = v; break;
		case 2: sh->sh_link = (uint32_t)v; break;
		case 3: sh->sh_entsize = v; break;
		case 4: sh->sh_name = (uint32_t)v; break;
		default: sh->sh_type = (uint32_t)v; break;
		}
		break;
	}
	case 4: {	/* bytes inside one section's contents (tables, strings, DWARF) */
		const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + shoff) + rnd() % shnum;

		if (sh->sh_type == SHT_NOBITS || sh->sh_size == 0 || sh->sh_offset >= n)
			break;
		for (uint64_t k = rnd() % 8 + 1; k > 0; k--) {
			uint64_t at = sh->sh_offset + rnd() % sh->sh_size;

			if (at < n)
				b[at] = (uint8_t)rnd();
		}
		break;
	}
	default: {	/* huge counts in the ELF header */
		Elf64_Ehdr *e = (Elf64_Ehdr *)b;

		switch (rnd() % 5) {
		case 0: e->e_phnum = 0xffff; break;
		case 1: e->e_shnum = 0xffff; break;
		case 2: e->e_shoff = n - 10; break;
		case 3: e->e_shstrndx = 0xffff; break;
		default: e->e_phoff = 0xffffffffffffff00ull; break;
		}
		break;
	}
	}
}

static void corruptions(const char *src, int rounds)
{
	char path[PATH_MAX];
	size_t n, shoff, shnum;
	uint8_t *orig = read_all(src, &n), *buf = malloc(n);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)orig;

	assert_non_null(buf);
	shoff = eh->e_shoff;
	shnum = eh->e_shnum;
	assert_true(n >= 0x300 && shnum > 0 && shoff <= n);
	assert_true(shnum * sizeof(Elf64_Shdr) <= n - shoff);
	snprintf(path, sizeof(path), "%s/corrupted", fx.dir);
	for (int i = 0; i < rounds; i++) {
		memcpy(buf, orig, n);
		corrupt(buf, n, shoff, shnum, i % 6);
		if (i % 7 == 6)
			corrupt(buf, n, shoff, shnum, (int)(rnd() % 6));
		write_all(path, buf, n);
		exercise(path);
	}
	free(orig);
	free(buf);
}

/*
 * ELFBIN_FUZZ_ROUNDS=N (default 300) and ELFBIN_FUZZ_SEED=S run longer or
 * other sequences by hand.
 */
static void test_corrupted(void **state)
{
	const char *r = getenv("ELFBIN_FUZZ_ROUNDS"), *s = getenv("ELFBIN_FUZZ_SEED");
	int rounds = r ? atoi(r) : 300;

	REQUIRE(fx.have_cxx, "g++");
	if (s && strtoull(s, NULL, 0))
		rng_state = strtoull(s, NULL, 0);
	memset(outcomes, 0, sizeof(outcomes));
	/* Small files with symbols and DWARF, the C++ names and members queried. */
	corruptions(fx.cxx, rounds);
	corruptions(fx.cxx4, rounds / 2);
	if (exists(LIBSSL))
		corruptions(LIBSSL, rounds / 5);
	print_outcomes("corrupted copies");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_go),
		cmocka_unit_test(test_go_stripped),
		cmocka_unit_test(test_go_arm64),
		cmocka_unit_test(test_go_pointer_buildinfo),
		cmocka_unit_test(test_go_no_sections),
		cmocka_unit_test(test_go_version_from_symbol),
		cmocka_unit_test(test_go_noregabi),
		cmocka_unit_test(test_buildinfo_parse),
		cmocka_unit_test(test_go_version_parse),
		cmocka_unit_test(test_cxx_dwarf),
		cmocka_unit_test(test_dwarf_loop),
		cmocka_unit_test(test_cxx_symbols),
		cmocka_unit_test(test_libssl),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
