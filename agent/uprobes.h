/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uprobes.h - which binaries of traced processes get uprobes, and attaching
 * them: Go executables (bpf/golang.h: goroutine-aware linking, crypto/tls
 * plaintext), OpenSSL (bpf/openssl.h: shared libssl.so.3, or linked into a
 * binary such as node), libuv's uv__read (bpf/libuv.h: Node.js's event loop,
 * which server request a call is made for).
 *
 * Processes are looked at on their own thread (reading a binary's symbols
 * and DWARF takes milliseconds, too long for the ring reader): at start-up
 * for every running process, and at each exec.  A binary is inspected once
 * (by device and inode) and its probes cover every process that maps it,
 * including later ones.  What cannot be read (stripped, an unknown layout,
 * an unsupported architecture or ABI) gets no probes and one log line
 * saying why: its calls then get no parent, never a wrong one.
 */
#ifndef SPANBPF_UPROBES_H
#define SPANBPF_UPROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/events.h"

struct elfbin;

/* Return sites kept per probed function (Go functions have a handful). */
#define UPROBES_RET_MAX 32

/* Where to attach in one Go binary: file offsets, per enum sb_go_fn. */
struct go_points {
	uint64_t entry[SB_GO_FN_MAX];		/* 0: not probed */
	uint64_t newproc1_rets[UPROBES_RET_MAX];
	size_t nnewproc1_rets;
	uint64_t tls_read_rets[UPROBES_RET_MAX];
	size_t ntls_read_rets;
	bool link;		/* the linking probes (serve, newproc1, goexit1, roundTrip) */
	bool tls;		/* the crypto/tls probes */
};

/*
 * The layout the Go probes need (out) and where they go (pts), read from
 * the binary: symbols, DWARF member offsets, return sites.  Go 1.17+ on
 * x86-64 (register ABI).  Returns 0 when at least one group (linking, TLS)
 * can be probed; else a negative errno and why[] says what is missing.
 * Pure (reads the file only), for tests.
 */
int uprobes_go_layout(struct elfbin *eb, struct sb_go_binary *out, struct go_points *pts,
		      char *why, size_t whylen);

/* Where to attach OpenSSL's probes in one file (0: absent). */
struct ssl_points {
	uint64_t read, read_ex, write, write_ex, set_fd, free;
};

/* What uprobes_inspect() looks for. */
#define UPROBES_WANT_GO		0x1	/* an executable: Go layout */
#define UPROBES_WANT_UV		0x2	/* an executable: libuv's uv__read */
#define UPROBES_WANT_SSL	0x4	/* OpenSSL functions */

#define UPROBES_FINDINGS_MAGIC 0x73627570u

/* Everything the attacher needs to know of one binary (passed between processes as bytes). */
struct uprobes_findings {
	uint32_t magic;
	int open;			/* elfbin_open()'s result */
	bool is_go;
	int go;				/* uprobes_go_layout()'s result (-ENOENT: not looked at) */
	char go_why[256];
	struct sb_go_binary go_layout;
	struct go_points go_pts;
	int ssl;			/* uprobes_ssl_points()'s */
	struct ssl_points ssl_pts;
	int uv;				/* uprobes_uv_points()'s */
	uint64_t uv_off;
	uint32_t uv_fd;
};

/* Read the file at path for what want asks (UPROBES_WANT_*).  Pure; for tests and the helper. */
void uprobes_inspect(const char *path, unsigned want, struct uprobes_findings *fi);

/* `spanbpf --inspect-binary PATH WANT`: uprobes_inspect(), its findings on stdout.  0 or 1. */
int uprobes_inspect_main(const char *path, const char *want);

struct uprobes_opts {
	/*
	 * The kernel side (probe.h's probe_attach_uprobe() and
	 * probe_go_binary_set(), ctx the probe): attach a program at a file
	 * offset with a cookie; write a Go binary's layout.  NULL: inspect only.
	 */
	int (*attach)(void *ctx, const char *prog, const char *path, uint64_t offset,
		      uint64_t cookie, bool retprobe);
	int (*go_binary_set)(void *ctx, uint32_t slot, const struct sb_go_binary *b);
	void (*ssl_enable)(void *ctx);		/* once OpenSSL probes are attached */
	int (*uv_binary_set)(void *ctx, uint32_t slot, uint32_t stream_fd_offset);
	void *ctx;
	const char *proc_root;		/* NULL = "/proc" */
	uint32_t self_tgid;		/* never looked at */
	/*
	 * The agent's executable, run as `--inspect-binary` to read each binary
	 * in a process of its own (memory, and safety against hostile files);
	 * NULL: read in this process (tests).
	 */
	const char *inspector;
	bool tls;			/* tls.enabled: OpenSSL and crypto/tls probes */
	bool go;			/* runtimes.go: the Go linking probes */
	bool node;			/* runtimes.node: the libuv probes */
};


/*
 * libuv's uv__read in a binary and the offset of uv_stream_s.io_watcher.fd
 * (DWARF).  0, -ENOENT (no libuv), -ENODATA (no DWARF for the stream).
 */
int uprobes_uv_points(struct elfbin *eb, uint64_t *read_offset, uint32_t *stream_fd);

/*
 * The OpenSSL functions of a library or binary (.dynsym or .symtab).
 * Returns 0 when the read and write pairs are all there, else -ENOENT
 * (not OpenSSL, or an incomplete one: nothing is attached).
 */
int uprobes_ssl_points(struct elfbin *eb, struct ssl_points *pts);

struct uprobes_stats {
	uint64_t processes;		/* processes looked at */
	uint64_t queue_full;		/* processes not looked at: the queue was full */
	uint64_t go_binaries;		/* Go binaries probed */
	uint64_t go_unprobed;		/* Go binaries that could not be (stripped, layout, ABI) */
	uint64_t uv_binaries;		/* libuv event loops probed (node) */
	uint64_t tls_libraries;		/* OpenSSL copies probed (a shared libssl, or a binary) */
	uint64_t tls_unprobed;		/* ... that could not be (symbols missing) */
	uint64_t attach_failures;	/* single probes the kernel refused */
};

struct uprobes;

/* Start the attacher's thread.  NULL on failure (logged). */
struct uprobes *uprobes_start(const struct uprobes_opts *o);

/* Look at process tgid soon (never blocks; a full queue is counted). */
void uprobes_look(struct uprobes *u, uint32_t tgid);

/* Look at every running process (start-up). */
void uprobes_look_all(struct uprobes *u);

/* Stop the thread (before probe_close()).  NULL is fine. */
void uprobes_stop(struct uprobes *u);

void uprobes_stats(struct uprobes *u, struct uprobes_stats *out);

#endif /* SPANBPF_UPROBES_H */
