// SPDX-License-Identifier: Apache-2.0
/*
 * uprobes.c - which binaries get uprobes, and attaching them (see uprobes.h).
 */
#include "uprobes.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfbin.h"
#include "log.h"
#include "procmaps.h"

#define QUEUE_MAX 4096		/* processes waiting to be looked at */
#define SEEN_MAX 4096		/* binaries remembered (by device and inode) */
#define INSPECT_TIMEOUT_MS 30000	/* longest a binary's inspection may take */

extern char **environ;

struct seen {
	uint64_t dev, ino;
};

struct uprobes {
	struct uprobes_opts o;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	uint32_t queue[QUEUE_MAX];
	size_t qhead, qlen;
	/* The attacher's own (its thread only). */
	struct seen seen[SEEN_MAX];
	size_t nseen;
	uint32_t go_slots;		/* sb_go_binary slots used */
	_Atomic uint64_t processes, queue_full, go_binaries, go_unprobed, attach_failures;
	_Atomic uint64_t tls_libraries, tls_unprobed, uv_binaries;
	uint32_t uv_slots;		/* uv_binaries slots used */
};

/* ---- Go: where to attach, and the layout the probes read ------------------------ */

enum {
	SYM_SERVE, SYM_NEWPROC1, SYM_GOEXIT1, SYM_ROUNDTRIP, SYM_TLS_WRITE, SYM_TLS_READ,
	SYM_ITAB_TCP, SYM_ITAB_TCP2, SYM_ITAB_TLS, SYM_ITAB_TLS2, SYM_ITAB_RESP, SYM_ITAB_RESP2,
	SYM_MAX,
};

static const char *const go_syms[SYM_MAX] = {
	[SYM_SERVE] = "net/http.serverHandler.ServeHTTP",
	[SYM_NEWPROC1] = "runtime.newproc1",
	[SYM_GOEXIT1] = "runtime.goexit1",
	[SYM_ROUNDTRIP] = "net/http.(*persistConn).roundTrip",
	[SYM_TLS_WRITE] = "crypto/tls.(*Conn).Write",
	[SYM_TLS_READ] = "crypto/tls.(*Conn).Read",
	/* Itab symbols: "go.itab." up to Go 1.19, "go:itab." from 1.20. */
	[SYM_ITAB_TCP] = "go.itab.*net.TCPConn,net.Conn",
	[SYM_ITAB_TCP2] = "go:itab.*net.TCPConn,net.Conn",
	[SYM_ITAB_TLS] = "go.itab.*crypto/tls.Conn,net.Conn",
	[SYM_ITAB_TLS2] = "go:itab.*crypto/tls.Conn,net.Conn",
	[SYM_ITAB_RESP] = "go.itab.*net/http.response,net/http.ResponseWriter",
	[SYM_ITAB_RESP2] = "go:itab.*net/http.response,net/http.ResponseWriter",
};

enum {
	FLD_GOID, FLD_RESP_CONN, FLD_CONN_RWC, FLD_PCONN_CONN, FLD_TLS_CONN, FLD_TCP_FD, FLD_SYSFD,
	FLD_MAX,
};

static const char *const go_fields[FLD_MAX][2] = {
	[FLD_GOID] = { "runtime.g", "goid" },
	[FLD_RESP_CONN] = { "net/http.response", "conn" },
	[FLD_CONN_RWC] = { "net/http.conn", "rwc" },
	[FLD_PCONN_CONN] = { "net/http.persistConn", "conn" },
	[FLD_TLS_CONN] = { "crypto/tls.Conn", "conn" },
	[FLD_TCP_FD] = { "net.TCPConn", "conn.fd" },
	[FLD_SYSFD] = { "net.netFD", "pfd.Sysfd" },
};

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len || why[0])
		return;	/* the first reason is the one that counts */
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The symbol of query i, or of its other spelling j (-1: none). */
static const struct elfbin_sym *sym_of(const struct elfbin_sym_query *q, int i, int j)
{
	if (q[i].err == 0)
		return &q[i].sym;
	if (j >= 0 && q[j].err == 0)
		return &q[j].sym;
	return NULL;
}

int uprobes_go_layout(struct elfbin *eb, struct sb_go_binary *out, struct go_points *pts,
		      char *why, size_t whylen)
{
	struct elfbin_sym_query q[SYM_MAX];
	struct elfbin_field_query f[FLD_MAX];
	const struct elfbin_sym *serve, *newproc, *goexit, *rt, *tw, *tr, *itcp, *itls, *iresp;
	const struct elfbin_info *info = elfbin_info(eb);
	struct elfbin_go go;
	int err, n;

	if (why && whylen)
		why[0] = '\0';
	memset(out, 0, sizeof(*out));
	memset(pts, 0, sizeof(*pts));
	err = elfbin_go_info(eb, &go);
	if (err) {
		say(why, whylen, "not a Go binary");
		return err;
	}
	if (info->machine != EM_X86_64) {
		say(why, whylen, "%s on this architecture is not supported yet (x86-64 only)",
		    go.version[0] ? go.version : "Go");
		return -ENOTSUP;
	}
	if (go.abi != ELFBIN_GO_ABI_REGISTER) {
		say(why, whylen, "%s passes arguments on the stack (Go 1.17+ register ABI needed)",
		    go.version[0] ? go.version : "an unknown Go version");
		return -ENOTSUP;
	}
	if (!info->has_symtab) {
		say(why, whylen, "%s binary is stripped (no symbol table)", go.version);
		return -ENODATA;
	}
	memset(q, 0, sizeof(q));
	for (int i = 0; i < SYM_MAX; i++)
		q[i].name = go_syms[i];
	elfbin_find_symbols(eb, q, SYM_MAX);
	memset(f, 0, sizeof(f));
	for (int i = 0; i < FLD_MAX; i++) {
		f[i].type = go_fields[i][0];
		f[i].member = go_fields[i][1];
	}
	n = elfbin_dwarf_fields(eb, f, FLD_MAX);
	if (n < 0) {
		say(why, whylen, "%s binary has no readable DWARF (%s): struct layouts unknown",
		    go.version, elfbin_strerror(n));
		return n;
	}
	serve = sym_of(q, SYM_SERVE, -1);
	newproc = sym_of(q, SYM_NEWPROC1, -1);
	goexit = sym_of(q, SYM_GOEXIT1, -1);
	rt = sym_of(q, SYM_ROUNDTRIP, -1);
	tw = sym_of(q, SYM_TLS_WRITE, -1);
	tr = sym_of(q, SYM_TLS_READ, -1);
	itcp = sym_of(q, SYM_ITAB_TCP, SYM_ITAB_TCP2);
	itls = sym_of(q, SYM_ITAB_TLS, SYM_ITAB_TLS2);
	iresp = sym_of(q, SYM_ITAB_RESP, SYM_ITAB_RESP2);

	if (!itcp || f[FLD_TCP_FD].err || f[FLD_SYSFD].err || f[FLD_GOID].err) {
		say(why, whylen, "%s: no net.TCPConn layout (itab, conn.fd, pfd.Sysfd or g.goid)",
		    go.version);
		return -ENOENT;
	}
	out->itab_tcpconn = itcp->addr;
	out->itab_tlsconn = itls ? itls->addr : 0;
	out->itab_response = iresp ? iresp->addr : 0;
	out->g_goid = (uint32_t)f[FLD_GOID].offset;
	out->response_conn = (uint32_t)f[FLD_RESP_CONN].offset;
	out->conn_rwc = (uint32_t)f[FLD_CONN_RWC].offset;
	out->pconn_conn = (uint32_t)f[FLD_PCONN_CONN].offset;
	out->tls_conn = (uint32_t)f[FLD_TLS_CONN].offset;
	out->tcpconn_fd = (uint32_t)f[FLD_TCP_FD].offset;
	out->netfd_sysfd = (uint32_t)f[FLD_SYSFD].offset;

	/* Linking: the server side, the client side, and goroutine ancestry. */
	if (serve && rt && iresp && !f[FLD_RESP_CONN].err && !f[FLD_CONN_RWC].err &&
	    !f[FLD_PCONN_CONN].err && serve->offset != ELFBIN_NO_OFFSET &&
	    rt->offset != ELFBIN_NO_OFFSET) {
		pts->link = true;
		pts->entry[SB_GO_FN_SERVE] = serve->offset;
		out->fn_addr[SB_GO_FN_SERVE] = serve->addr;
		pts->entry[SB_GO_FN_ROUNDTRIP] = rt->offset;
		out->fn_addr[SB_GO_FN_ROUNDTRIP] = rt->addr;
		if (goexit && goexit->offset != ELFBIN_NO_OFFSET) {
			pts->entry[SB_GO_FN_GOEXIT1] = goexit->offset;
			out->fn_addr[SB_GO_FN_GOEXIT1] = goexit->addr;
		}
		if (newproc && newproc->offset != ELFBIN_NO_OFFSET) {
			int r = elfbin_return_sites(eb, newproc, pts->newproc1_rets, UPROBES_RET_MAX,
						    NULL);

			if (r > 0 && r <= UPROBES_RET_MAX) {
				pts->nnewproc1_rets = (size_t)r;
				pts->entry[SB_GO_FN_NEWPROC1] = newproc->offset;
				out->fn_addr[SB_GO_FN_NEWPROC1] = newproc->addr;
			}
		}
	} else if (!serve && !rt) {
		say(why, whylen, "%s: no net/http server or client in the binary", go.version);
	} else {
		say(why, whylen, "%s: net/http layout not found (ServeHTTP %s, roundTrip %s)",
		    go.version, serve ? "found" : "missing", rt ? "found" : "missing");
	}

	/* crypto/tls plaintext. */
	if (tw && tr && !f[FLD_TLS_CONN].err && tw->offset != ELFBIN_NO_OFFSET &&
	    tr->offset != ELFBIN_NO_OFFSET) {
		int r = elfbin_return_sites(eb, tr, pts->tls_read_rets, UPROBES_RET_MAX, NULL);

		if (r > 0 && r <= UPROBES_RET_MAX) {
			pts->tls = true;
			pts->ntls_read_rets = (size_t)r;
			pts->entry[SB_GO_FN_TLS_WRITE] = tw->offset;
			out->fn_addr[SB_GO_FN_TLS_WRITE] = tw->addr;
			pts->entry[SB_GO_FN_TLS_READ] = tr->offset;
			out->fn_addr[SB_GO_FN_TLS_READ] = tr->addr;
		}
	}
	if (!pts->link && !pts->tls) {
		say(why, whylen, "%s: nothing to probe", go.version);
		return -ENOENT;
	}
	return 0;
}

/* ---- attaching ------------------------------------------------------------------ */

static const char *const go_progs[SB_GO_FN_MAX] = {
	[SB_GO_FN_SERVE] = "go_serve",		[SB_GO_FN_NEWPROC1] = "go_newproc1",
	[SB_GO_FN_NEWPROC1_RET] = "go_newproc1_ret", [SB_GO_FN_GOEXIT1] = "go_goexit1",
	[SB_GO_FN_ROUNDTRIP] = "go_roundtrip",	[SB_GO_FN_TLS_WRITE] = "go_tls_write",
	[SB_GO_FN_TLS_READ] = "go_tls_read",	[SB_GO_FN_TLS_READ_RET] = "go_tls_read_ret",
};

/* One probe; a refusal is counted and logged (the others still help). */
static int attach_one(struct uprobes *u, int fn, const char *path, uint64_t offset, uint32_t slot)
{
	int err = u->o.attach(u->o.ctx, go_progs[fn], path, offset,
			      ((uint64_t)slot << 8) | (uint64_t)fn, false);

	if (err) {
		atomic_fetch_add(&u->attach_failures, 1);
		log_warn("uprobes: %s at %s+0x%" PRIx64 " refused: %s", go_progs[fn], path, offset,
			 strerror(-err));
	}
	return err;
}

/*
 * Attach a group of probes; when one of a group that must come whole is
 * refused, the group's entry probes are useless, and dangerous halfway (a
 * goroutine's request would never be cleared), so none of it is kept:
 * the kernel side ignores a slot whose layout is not written.
 */
static void attach_go(struct uprobes *u, const char *path, uint32_t pid,
		      const struct uprobes_findings *fi)
{
	const struct sb_go_binary layout = fi->go_layout;
	const struct go_points pts = fi->go_pts;
	const char *why = fi->go_why;
	uint32_t slot;
	int err = fi->go, fails = 0;

	if (err) {
		atomic_fetch_add(&u->go_unprobed, 1);
		log_info("uprobes: %s (pid %u): no Go probes: %s; its calls get no parent", path, pid,
			 why);
		return;
	}
	if (u->go_slots >= SB_GO_MAX_BINARIES) {
		atomic_fetch_add(&u->go_unprobed, 1);
		log_warn("uprobes: %s (pid %u): no Go probes: already %d Go binaries probed", path,
			 pid, SB_GO_MAX_BINARIES);
		return;
	}
	slot = u->go_slots++;
	/* The layout first: a probe that fires before it is written finds an empty slot. */
	err = u->o.go_binary_set(u->o.ctx, slot, &layout);
	if (err) {
		log_warn("uprobes: %s: writing its layout failed: %s", path, strerror(-err));
		return;
	}
	if (pts.link && u->o.go) {
		/* Cleanup and ancestry before the probes that set a goroutine's request. */
		if (pts.entry[SB_GO_FN_GOEXIT1])
			fails += attach_one(u, SB_GO_FN_GOEXIT1, path, pts.entry[SB_GO_FN_GOEXIT1],
					    slot) != 0;
		for (size_t i = 0; pts.entry[SB_GO_FN_NEWPROC1] && i < pts.nnewproc1_rets; i++)
			fails += attach_one(u, SB_GO_FN_NEWPROC1_RET, path, pts.newproc1_rets[i],
					    slot) != 0;
		if (pts.entry[SB_GO_FN_NEWPROC1])
			fails += attach_one(u, SB_GO_FN_NEWPROC1, path, pts.entry[SB_GO_FN_NEWPROC1],
					    slot) != 0;
		fails += attach_one(u, SB_GO_FN_ROUNDTRIP, path, pts.entry[SB_GO_FN_ROUNDTRIP],
				    slot) != 0;
		fails += attach_one(u, SB_GO_FN_SERVE, path, pts.entry[SB_GO_FN_SERVE], slot) != 0;
	}
	if (pts.tls && u->o.tls) {
		for (size_t i = 0; i < pts.ntls_read_rets; i++)
			fails += attach_one(u, SB_GO_FN_TLS_READ_RET, path, pts.tls_read_rets[i],
					    slot) != 0;
		fails += attach_one(u, SB_GO_FN_TLS_READ, path, pts.entry[SB_GO_FN_TLS_READ],
				    slot) != 0;
		fails += attach_one(u, SB_GO_FN_TLS_WRITE, path, pts.entry[SB_GO_FN_TLS_WRITE],
				    slot) != 0;
	}
	atomic_fetch_add(&u->go_binaries, 1);
	if (!(pts.link && u->o.go) && !(pts.tls && u->o.tls))
		return;		/* both turned off by the config */
	log_info("uprobes: %s (pid %u): Go probes attached:%s%s%s", path, pid,
		 pts.link && u->o.go ? " net/http server and client, goroutines" : "",
		 pts.tls && u->o.tls ? (pts.link && u->o.go ? ", crypto/tls" : " crypto/tls") : "",
		 fails ? " (some refused: see above)" : "");
	if (!pts.link && why[0] && u->o.go)
		log_info("uprobes: %s: no linking probes: %s", path, why);
}

/* ---- OpenSSL ------------------------------------------------------------------ */

int uprobes_ssl_points(struct elfbin *eb, struct ssl_points *pts)
{
	static const char *const names[] = { "SSL_read", "SSL_read_ex", "SSL_write",
					     "SSL_write_ex", "SSL_set_fd", "SSL_free" };
	struct elfbin_sym_query q[6];
	uint64_t *out[6] = { &pts->read, &pts->read_ex, &pts->write, &pts->write_ex,
			     &pts->set_fd, &pts->free };

	memset(pts, 0, sizeof(*pts));
	memset(q, 0, sizeof(q));
	for (int i = 0; i < 6; i++)
		q[i].name = names[i];
	if (elfbin_find_symbols(eb, q, 6) < 0)
		return -ENOENT;
	for (int i = 0; i < 6; i++)
		if (q[i].err == 0 && q[i].sym.offset != ELFBIN_NO_OFFSET &&
		    (q[i].sym.type == STT_FUNC || q[i].sym.type == STT_GNU_IFUNC))
			*out[i] = q[i].sym.offset;
	/* Both directions, in both forms, and the end of an SSL: else nothing. */
	if (!pts->read || !pts->write || !pts->free)
		return -ENOENT;
	return 0;
}

static int attach_ssl_one(struct uprobes *u, const char *prog, const char *path, uint64_t offset,
			  bool ret)
{
	int err;

	if (!offset)
		return 0;
	err = u->o.attach(u->o.ctx, prog, path, offset, 0, ret);
	if (err) {
		atomic_fetch_add(&u->attach_failures, 1);
		log_warn("uprobes: %s at %s+0x%" PRIx64 " refused: %s", prog, path, offset,
			 strerror(-err));
	}
	return err;
}

/*
 * OpenSSL in a shared library or a binary.  Returns before the entry probes
 * and SSL_free are placed come the returns, so that no call is parked
 * without its end being seen.
 */
static void attach_ssl(struct uprobes *u, const char *path, uint32_t pid,
		       const struct uprobes_findings *fi, bool quiet)
{
	const struct ssl_points pts = fi->ssl_pts;
	int fails = 0;

	if (fi->ssl != 0) {
		if (!quiet) {
			atomic_fetch_add(&u->tls_unprobed, 1);
			log_info("uprobes: %s (pid %u): OpenSSL functions not found: its HTTPS is "
				 "not seen", path, pid);
		}
		return;
	}
	fails += attach_ssl_one(u, "ssl_free", path, pts.free, false) != 0;
	fails += attach_ssl_one(u, "ssl_set_fd", path, pts.set_fd, false) != 0;
	fails += attach_ssl_one(u, "ssl_rw_return", path, pts.read, true) != 0;
	fails += attach_ssl_one(u, "ssl_rw_return", path, pts.read_ex, true) != 0;
	fails += attach_ssl_one(u, "ssl_rw_return", path, pts.write, true) != 0;
	fails += attach_ssl_one(u, "ssl_rw_return", path, pts.write_ex, true) != 0;
	fails += attach_ssl_one(u, "ssl_read_enter", path, pts.read, false) != 0;
	fails += attach_ssl_one(u, "ssl_read_ex_enter", path, pts.read_ex, false) != 0;
	fails += attach_ssl_one(u, "ssl_write_enter", path, pts.write, false) != 0;
	fails += attach_ssl_one(u, "ssl_write_ex_enter", path, pts.write_ex, false) != 0;
	if (u->o.ssl_enable)
		u->o.ssl_enable(u->o.ctx);
	atomic_fetch_add(&u->tls_libraries, 1);
	log_info("uprobes: %s (pid %u): OpenSSL probes attached (SSL_read/_ex, SSL_write/_ex%s)%s",
		 path, pid, pts.set_fd ? ", SSL_set_fd" : "",
		 fails ? " (some refused: see above)" : "");
}

/* ---- libuv --------------------------------------------------------------------- */

#define UV_MAX_BINARIES 16	/* bpf/libuv.h */

int uprobes_uv_points(struct elfbin *eb, uint64_t *read_offset, uint32_t *stream_fd)
{
	struct elfbin_field_query f = { .type = "uv_stream_s", .member = "io_watcher.fd" };
	struct elfbin_sym sym;

	if (elfbin_find_symbol(eb, "uv__read", &sym) != 0 || sym.offset == ELFBIN_NO_OFFSET)
		return -ENOENT;
	if (elfbin_dwarf_fields(eb, &f, 1) != 1 || f.err)
		return -ENODATA;
	*read_offset = sym.offset;
	*stream_fd = (uint32_t)f.offset;
	return 0;
}

static void attach_uv(struct uprobes *u, const char *path, uint32_t pid,
		      const struct uprobes_findings *fi)
{
	uint64_t off = fi->uv_off;
	uint32_t fdoff = fi->uv_fd, slot;
	int err = fi->uv;

	if (err == -ENOENT)
		return;		/* no libuv: nothing to say */
	if (err) {
		log_info("uprobes: %s (pid %u): libuv without DWARF for uv_stream_s: its event "
			 "loop's calls get no parent", path, pid);
		return;
	}
	if (u->uv_slots >= UV_MAX_BINARIES || !u->o.uv_binary_set) {
		log_warn("uprobes: %s (pid %u): no libuv probes: already %d libuv binaries probed",
			 path, pid, UV_MAX_BINARIES);
		return;
	}
	slot = u->uv_slots++;
	if (u->o.uv_binary_set(u->o.ctx, slot, fdoff) != 0)
		return;
	/* The return first: an entry never stays without its end. */
	if (u->o.attach(u->o.ctx, "uv_read_return", path, off, slot, true) != 0 ||
	    u->o.attach(u->o.ctx, "uv_read_enter", path, off, slot, false) != 0) {
		atomic_fetch_add(&u->attach_failures, 1);
		log_warn("uprobes: %s (pid %u): the libuv probes were refused", path, pid);
		return;
	}
	atomic_fetch_add(&u->uv_binaries, 1);
	log_info("uprobes: %s (pid %u): libuv probes attached (uv__read: the server request an "
		 "event loop's call is made for)", path, pid);
}

static bool seen_before(struct uprobes *u, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < u->nseen; i++)
		if (u->seen[i].dev == dev && u->seen[i].ino == ino)
			return true;
	if (u->nseen < SEEN_MAX) {
		u->seen[u->nseen].dev = dev;
		u->seen[u->nseen].ino = ino;
		u->nseen++;
	}
	return false;
}

/* Look at one binary a process maps (once per file). */
void uprobes_inspect(const char *path, unsigned want, struct uprobes_findings *fi)
{
	struct elfbin *eb;
	struct elfbin_go go;

	memset(fi, 0, sizeof(*fi));
	fi->magic = UPROBES_FINDINGS_MAGIC;
	fi->go = fi->ssl = fi->uv = -ENOENT;
	fi->open = elfbin_open(path, &eb);
	if (fi->open)
		return;
	if ((want & UPROBES_WANT_GO) && elfbin_go_info(eb, &go) == 0) {
		fi->is_go = true;
		fi->go = uprobes_go_layout(eb, &fi->go_layout, &fi->go_pts, fi->go_why,
					   sizeof(fi->go_why));
	} else {
		if (want & UPROBES_WANT_UV)
			fi->uv = uprobes_uv_points(eb, &fi->uv_off, &fi->uv_fd);
		if (want & UPROBES_WANT_SSL)
			fi->ssl = uprobes_ssl_points(eb, &fi->ssl_pts);
	}
	elfbin_close(eb);
}

/*
 * Read a binary in a process of its own (the agent's executable run with
 * --inspect-binary): DWARF and symbol tables of big binaries take tens of
 * MiB while read, and a hostile file must not take the agent down.  false
 * when it could not be run, crashed or took too long (the binary is then
 * left alone).
 */
static bool inspect_apart(struct uprobes *u, const char *path, unsigned want,
			  struct uprobes_findings *fi)
{
	char wantbuf[16];
	char *argv[] = { (char *)u->o.inspector, "--inspect-binary", (char *)path, wantbuf, NULL };
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	size_t got = 0;
	int pipefd[2], status;
	pid_t child;
	bool ok = false;

	snprintf(wantbuf, sizeof(wantbuf), "%u", want);
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return false;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	if (posix_spawn(&child, u->o.inspector, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pipefd[0]);
		close(pipefd[1]);
		return false;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	while (got < sizeof(*fi) && poll(&pfd, 1, INSPECT_TIMEOUT_MS) == 1) {
		ssize_t n = read(pipefd[0], (char *)fi + got, sizeof(*fi) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(pipefd[0]);
	if (got != sizeof(*fi))
		kill(child, SIGKILL);
	if (waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    got == sizeof(*fi) && fi->magic == UPROBES_FINDINGS_MAGIC)
		ok = true;
	if (!ok)
		log_warn("uprobes: reading %s failed (the inspecting process %s): left alone", path,
			 got != sizeof(*fi) ? "gave no answer in time" : "failed");
	fi->go_why[sizeof(fi->go_why) - 1] = '\0';
	return ok;
}

int uprobes_inspect_main(const char *path, const char *want)
{
	struct uprobes_findings fi;
	const char *p = (const char *)&fi;
	size_t off = 0;

	uprobes_inspect(path, (unsigned)strtoul(want, NULL, 10), &fi);
	while (off < sizeof(fi)) {
		ssize_t n = write(STDOUT_FILENO, p + off, sizeof(fi) - off);

		if (n <= 0)
			return 1;
		off += (size_t)n;
	}
	return 0;
}

static void look_binary(struct uprobes *u, uint32_t pid, const struct procmaps_entry *e)
{
	const char *root = u->o.proc_root ? u->o.proc_root : "/proc";
	struct uprobes_findings fi;
	unsigned want = 0;
	char path[4096];
	struct stat st;

	if (!u->o.attach || !u->o.go_binary_set)
		return;
	if (procmaps_path(root, pid, e, path, sizeof(path)) < 0 || stat(path, &st) != 0)
		return;
	if (seen_before(u, (uint64_t)st.st_dev, (uint64_t)st.st_ino))
		return;
	if (e->exe)
		want |= UPROBES_WANT_GO | (u->o.node ? UPROBES_WANT_UV : 0);
	if (u->o.tls)
		want |= UPROBES_WANT_SSL;
	if (!want)
		return;
	if (u->o.inspector) {
		if (!inspect_apart(u, path, want, &fi))
			return;
	} else {
		uprobes_inspect(path, want, &fi);
	}
	if (fi.open)
		return;
	if (fi.is_go) {
		attach_go(u, path, pid, &fi);
		return;
	}
	if (want & UPROBES_WANT_UV)
		attach_uv(u, path, pid, &fi);
	if (want & UPROBES_WANT_SSL)
		/* libssl, or OpenSSL linked in (node): quiet when absent from an executable. */
		attach_ssl(u, path, pid, &fi, e->exe);
}

static void look_process(struct uprobes *u, uint32_t pid)
{
	struct procmaps *pm;
	const struct procmaps_entry *exe;

	atomic_fetch_add(&u->processes, 1);
	if (procmaps_read(u->o.proc_root, pid, &pm) != 0)
		return;
	exe = procmaps_exe(pm);
	if (exe)
		look_binary(u, pid, exe);
	if (u->o.tls)
		for (const struct procmaps_entry *e = procmaps_find_lib(pm, "libssl.so", NULL); e;
		     e = procmaps_find_lib(pm, "libssl.so", e))
			look_binary(u, pid, e);
	procmaps_free(pm);
}

static void *attacher_main(void *arg)
{
	struct uprobes *u = arg;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		uint32_t pid;

		while (!u->qlen && !u->stopping)
			pthread_cond_wait(&u->cond, &u->lock);
		if (u->stopping)
			break;
		pid = u->queue[u->qhead];
		u->qhead = (u->qhead + 1) % QUEUE_MAX;
		u->qlen--;
		pthread_mutex_unlock(&u->lock);
		look_process(u, pid);
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

void uprobes_look(struct uprobes *u, uint32_t tgid)
{
	if (!u || tgid == u->o.self_tgid)
		return;
	pthread_mutex_lock(&u->lock);
	if (u->qlen < QUEUE_MAX) {
		u->queue[(u->qhead + u->qlen) % QUEUE_MAX] = tgid;
		u->qlen++;
		pthread_cond_signal(&u->cond);
	} else {
		atomic_fetch_add(&u->queue_full, 1);
	}
	pthread_mutex_unlock(&u->lock);
}

void uprobes_look_all(struct uprobes *u)
{
	DIR *d = opendir(u->o.proc_root ? u->o.proc_root : "/proc");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (!*end && pid > 0 && pid <= UINT32_MAX)
			uprobes_look(u, (uint32_t)pid);
	}
	if (d)
		closedir(d);
}

struct uprobes *uprobes_start(const struct uprobes_opts *o)
{
	struct uprobes *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->o = *o;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	if (pthread_create(&u->thread, NULL, attacher_main, u) != 0) {
		log_error("uprobes: starting the attacher thread failed");
		pthread_mutex_destroy(&u->lock);
		pthread_cond_destroy(&u->cond);
		free(u);
		return NULL;
	}
	return u;
}

void uprobes_stop(struct uprobes *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stopping = true;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->thread, NULL);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
}

void uprobes_stats(struct uprobes *u, struct uprobes_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	out->processes = atomic_load(&u->processes);
	out->queue_full = atomic_load(&u->queue_full);
	out->go_binaries = atomic_load(&u->go_binaries);
	out->go_unprobed = atomic_load(&u->go_unprobed);
	out->attach_failures = atomic_load(&u->attach_failures);
	out->tls_libraries = atomic_load(&u->tls_libraries);
	out->tls_unprobed = atomic_load(&u->tls_unprobed);
	out->uv_binaries = atomic_load(&u->uv_binaries);
}
