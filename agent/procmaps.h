/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procmaps.h - the executable file mappings of a process, from
 * /proc/PID/maps: where its binary and libraries are, for uprobes.
 *
 * A maps line is
 *
 *   START-END PERMS OFFSET MAJOR:MINOR INODE            PATH
 *   7f1c2a400000-7f1c2a5b2000 r-xp 00022000 fd:01 1837  /usr/lib/x86_64-linux-gnu/libc.so.6
 *
 * hex addresses, offset and device numbers, a decimal inode, then padding
 * spaces and the path to the end of the line (spaces included).  Paths are
 * as the process sees them: a process in a container names files inside its
 * own root, so the agent reaches them through /proc/PID/root/PATH
 * (procmaps_path()).  An unlinked file ends in " (deleted)": it is then
 * reached through /proc/PID/map_files/START-END.  Device and inode are the
 * file's real ones (on overlayfs, the underlying file's: the inode uprobes
 * attach to), so (dev, inode) names one attachment target across processes.
 *
 * Kept: mappings that are executable and backed by a file (a path starting
 * with '/'); anonymous memory, [vdso], [heap] and data segments are skipped.
 * Malformed lines are skipped and counted.  The kernel escapes a newline in
 * a path as "\012"; paths are kept as the kernel wrote them.
 */
#ifndef SPANBPF_PROCMAPS_H
#define SPANBPF_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest maps file read (a process with 65530 mappings writes about 7 MiB). */
#define PROCMAPS_FILE_MAX (64u << 20)

#define PROCMAPS_PROT_READ 1u
#define PROCMAPS_PROT_WRITE 2u
#define PROCMAPS_PROT_EXEC 4u

struct procmaps_entry {
	uint64_t start, end;	/* virtual addresses [start, end) */
	uint64_t offset;	/* file offset mapped at start */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t prot;		/* PROCMAPS_PROT_* */
	bool shared;		/* 's' rather than 'p' */
	bool deleted;		/* the path ended in " (deleted)" (removed from path) */
	bool exe;		/* maps the process's main executable */
	bool first;		/* the first entry of this (dev, inode) in this process */
	const char *path;	/* NUL-terminated, owned by the procmaps */
	size_t path_len;
};

struct procmaps;

/*
 * Parse n bytes of a maps file (need not be NUL-terminated; a last line
 * without its newline counts).  exe_path, when not NULL, is the process's
 * executable (readlink of /proc/PID/exe, " (deleted)" or not): entries with
 * that path are marked exe.  Without it, the path of the first file-backed
 * line (executable or not) is taken, which is the executable for processes
 * the kernel started (it maps the program first).  Returns 0 and *out, or
 * -ENOMEM, -EINVAL.
 */
int procmaps_parse(const char *buf, size_t n, const char *exe_path, struct procmaps **out);

/*
 * Read and parse proc_root/PID/maps (proc_root NULL = "/proc"), marking the
 * executable through proc_root/PID/exe when it can be read.  Returns 0 and
 * *out, -ENOENT or -ESRCH (no such process), -EACCES, -EFBIG (more than
 * PROCMAPS_FILE_MAX), -ENOMEM.
 */
int procmaps_read(const char *proc_root, uint32_t pid, struct procmaps **out);

void procmaps_free(struct procmaps *pm);

size_t procmaps_count(const struct procmaps *pm);

/* Entry i (< procmaps_count()), in the file's order (ascending addresses). */
const struct procmaps_entry *procmaps_entry(const struct procmaps *pm, size_t i);

/* Lines that were not understood (neither kept nor skipped as not executable). */
size_t procmaps_malformed(const struct procmaps *pm);

/* The first entry of the main executable, or NULL. */
const struct procmaps_entry *procmaps_exe(const struct procmaps *pm);

/*
 * The first entry after `after` (NULL: from the start) of a library, one
 * per file (entries marked first): one whose file name is soname or starts
 * with soname followed by '.' ("libssl.so.3" finds libssl.so.3 and
 * libssl.so.3.0.2; "libssl.so" finds any libssl.so.N; "libssl3.so" is not
 * "libssl").  A process may map two (an old, deleted copy and a new one; a
 * private copy in a bundle): look again after the first.  NULL when none.
 */
const struct procmaps_entry *procmaps_find_lib(const struct procmaps *pm, const char *soname,
					       const struct procmaps_entry *after);

/*
 * A path that opens e's file from the agent's mount namespace, into buf:
 * proc_root/PID/root/PATH, or proc_root/PID/map_files/START-END for a
 * deleted file (opening that needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE,
 * and the mapping must still exist).  proc_root NULL = "/proc".  Returns the
 * length, or -ENAMETOOLONG when it does not fit in len bytes.
 */
int procmaps_path(const char *proc_root, uint32_t pid, const struct procmaps_entry *e, char *buf,
		  size_t len);

#endif /* SPANBPF_PROCMAPS_H */
