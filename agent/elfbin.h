/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elfbin.h - what a uprobe needs to know about an ELF binary, read from the
 * binary itself at attach time: symbol addresses and file offsets, Go build
 * information, struct member offsets from DWARF, and the return instructions
 * of a function.  No per-version offset tables.
 *
 * Files are untrusted: a truncated, corrupted or hostile file gives a
 * negative errno, never a crash, a hang or an unbounded allocation.  Sections
 * are read on demand with pread() (no mmap: a file truncated under us cannot
 * raise SIGBUS) and held until elfbin_close(); keep a binary open only while
 * attaching.  Nothing is cached between handles or between calls, except the
 * section data libelf keeps for the handle.  A handle is used by one thread
 * at a time.
 *
 * Accepted: 64-bit little-endian ET_EXEC or ET_DYN files for x86-64 or
 * AArch64 (whatever the host is).
 *
 * Errors, as negative errno values (elfbin_strerror() words them for this
 * module, for a log line):
 *   -ENOEXEC   not a regular file, not ELF, corrupt, or not an executable or
 *              shared object
 *   -ENOTSUP   ELF, but a class, byte order or machine this module does not
 *              read (32-bit, big-endian, other architectures); or a construct
 *              it does not decode (bit-field member, unusual location)
 *   -ENOENT    the name is not there (symbol, type, member), or not a Go binary
 *   -ENODATA   the table needed is absent: no .symtab (stripped binary) for a
 *              symbol .dynsym does not have, no DWARF
 *   -ENOTUNIQ  several symbols of that name at different addresses
 *   -EILSEQ    bytes that do not decode as instructions
 *   -EPROTO    malformed Go build information or unreadable DWARF
 *   -EFBIG     a function too large to decode (ELFBIN_DECODE_MAX)
 *   -ENOMEM, -EINVAL (bad arguments), and open()/pread() errors.
 */
#ifndef SPANBPF_ELFBIN_H
#define SPANBPF_ELFBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* elfbin_sym.offset when the address has no bytes in the file (.bss, corrupt tables). */
#define ELFBIN_NO_OFFSET UINT64_MAX
/* Largest function elfbin_return_sites() decodes, in bytes. */
#define ELFBIN_DECODE_MAX (16u << 20)
/* Distinct addresses counted per symbol query (elfbin_sym_query.matches saturates here). */
#define ELFBIN_MATCHES_MAX 16
/* Longest Go version string kept ("go1.22.3 X:boringcrypto" ...), with its NUL. */
#define ELFBIN_GO_VERSION_MAX 64
/* Most nested namespaces/classes followed in DWARF; deeper definitions are not seen. */
#define ELFBIN_DWARF_DEPTH_MAX 32

struct elfbin;

struct elfbin_info {
	uint16_t machine;	/* EM_X86_64 or EM_AARCH64 */
	uint16_t type;		/* ET_EXEC or ET_DYN */
	uint64_t file_size;
	bool has_symtab;	/* a .symtab with entries (else: stripped) */
	bool has_dynsym;	/* a .dynsym with entries */
	bool has_dwarf;		/* .debug_info (or .zdebug_info) with bytes in this file */
	uint8_t build_id_len;	/* 0 when the file has no NT_GNU_BUILD_ID note */
	uint8_t build_id[32];
};

/*
 * Open the file at path for inspection (O_RDONLY, never blocking on a FIFO).
 * The ELF header, program headers and section headers are checked here;
 * every PT_LOAD segment must lie inside the file.  Returns 0 and *out, or a
 * negative errno (see above); *out is NULL on failure.
 */
int elfbin_open(const char *path, struct elfbin **out);

/* The same on an open file descriptor, which stays the caller's (it is duplicated). */
int elfbin_open_fd(int fd, struct elfbin **out);

/* Release everything; NULL is fine. */
void elfbin_close(struct elfbin *eb);

/* What elfbin_open() found; valid until elfbin_close(). */
const struct elfbin_info *elfbin_info(const struct elfbin *eb);

/* This module's wording of an error it returns (strerror() for the others). */
const char *elfbin_strerror(int err);

/*
 * The file offset of virtual address addr: through the PT_LOAD program
 * header that holds it with file bytes (p_vaddr <= addr < p_vaddr +
 * p_filesz).  ELFBIN_NO_OFFSET when none does.
 */
uint64_t elfbin_addr_to_offset(const struct elfbin *eb, uint64_t addr);

/* ---- symbols -------------------------------------------------------------- */

struct elfbin_sym {
	uint64_t addr;		/* st_value: the virtual address (unrelocated) */
	uint64_t size;		/* st_size */
	/*
	 * Where addr's bytes are in the file: what a uprobe takes
	 * (bpf_program__attach_uprobe()'s func_offset), or ELFBIN_NO_OFFSET
	 * (.bss, TLS and absolute symbols, addresses outside every segment).
	 */
	uint64_t offset;
	/* STT_FUNC, STT_OBJECT, STT_GNU_IFUNC (the resolver, not the function it picks) ... */
	uint8_t type;
	uint8_t bind;		/* STB_GLOBAL, STB_WEAK, STB_LOCAL, STB_GNU_UNIQUE */
	bool dynamic;		/* found in .dynsym (else .symtab) */
};

/* elfbin_sym_query.flags */
enum {
	/*
	 * name is a qualified C++ function or variable name,
	 * "node::AsyncWrap::EmitAsyncInit": it is mangled the Itanium way up
	 * to its parameters and matches every symbol that starts so, whatever
	 * its parameters, const or ABI tags (_ZN[K]4node9AsyncWrap13Emit
	 * AsyncInitE...; "std::" is St; constructors and destructors are
	 * "C::C" and "C::~C"; a single name "f" is _Z1f...).  Names with
	 * templates or operators are not handled: give the mangled name.
	 * Overloads are several matches (-ENOTUNIQ).
	 */
	ELFBIN_SYM_CXX = 1u << 0,
};

struct elfbin_sym_query {
	/* in: the exact name ("@VERSION" suffixes in the tables are ignored) */
	const char *name;
	unsigned int flags;	/* in: ELFBIN_SYM_* */
	int err;		/* out: 0, -ENOENT, -ENODATA, -ENOTUNIQ */
	/* out: distinct addresses matched (counted up to ELFBIN_MATCHES_MAX) */
	unsigned int matches;
	/* out: with err 0, the symbol; with -ENOTUNIQ, the match at the lowest address */
	struct elfbin_sym sym;
};

/*
 * Resolve n queries in one pass over .symtab and then .dynsym.  Undefined
 * symbols, sections and files are skipped.  When a name has several
 * definitions, global ones win over weak ones and weak over local; entries at
 * the same address are one match (a symbol in both tables, aliases), several
 * addresses at the best binding are -ENOTUNIQ.  A name found nowhere is
 * -ENODATA when the file has no .symtab (stripped: the name may have been
 * there), else -ENOENT.  Returns the number of queries with err 0, or a
 * negative errno when neither table can be read (-ENODATA: no symbols at all;
 * -ENOEXEC: corrupt table); then every err is set to it.
 */
int elfbin_find_symbols(struct elfbin *eb, struct elfbin_sym_query *q, size_t n);

/* One exact name: 0 and *sym, or the query's err. */
int elfbin_find_symbol(struct elfbin *eb, const char *name, struct elfbin_sym *sym);

/* ---- Go ------------------------------------------------------------------- */

enum elfbin_go_abi {
	ELFBIN_GO_ABI_UNKNOWN = 0,	/* version unknown: assume nothing */
	ELFBIN_GO_ABI_STACK,		/* ABI0: arguments and results on the stack */
	ELFBIN_GO_ABI_REGISTER,		/* ABIInternal: amd64 from go1.17, arm64 from 1.18 */
};

struct elfbin_go {
	/* runtime.Version(), "go1.19.8"; "" when unknown; cut to ELFBIN_GO_VERSION_MAX - 1 */
	char version[ELFBIN_GO_VERSION_MAX];
	int major, minor, patch;		/* 1, 19, 8; 0 when not a release version */
	uint8_t ptr_size;			/* from .go.buildinfo; 0 when absent */
	enum elfbin_go_abi abi;
	/*
	 * 0 when the version was read; else why not (-ENODATA: no build
	 * information nor runtime.buildVersion; -EPROTO: malformed).
	 */
	int version_err;
};

/*
 * Whether the binary is Go and which Go built it.  A binary is Go when it has
 * a .go.buildinfo, .gopclntab or .note.go.buildid section, Go build
 * information in its first data segment (section headers stripped), or a
 * runtime.main symbol.  The version comes from the build information (inline
 * strings from go1.18, pointers to string headers before), else from the
 * runtime.buildVersion variable.  The register ABI is inferred from the
 * version and the machine, and refused when the build settings name
 * GOEXPERIMENT=noregabi.  Returns 0 (Go: *go filled, maybe with an unknown
 * version), -ENOENT (not Go), or another negative errno.
 */
int elfbin_go_info(struct elfbin *eb, struct elfbin_go *go);

/*
 * The Go build information blob (the .go.buildinfo contents, n bytes from
 * its start), decoded: version into go (version, major/minor/patch,
 * ptr_size) and, when modinfo is not NULL, the module and build settings
 * text into it (cut to modinfo_len - 1 bytes, NUL-terminated).  The pointer
 * format (before go1.18) reads string headers through read(ctx, vaddr, buf,
 * len), which returns 0 when all len bytes were read.  Returns 0, -ENOENT
 * (no magic), -EPROTO (malformed) or -ENOTSUP (pointer format, big-endian).
 * A pure function, for tests and for other readers.
 */
int elfbin_go_parse_buildinfo(const uint8_t *blob, size_t n,
			      int (*read)(void *ctx, uint64_t vaddr, void *buf, size_t len),
			      void *ctx, struct elfbin_go *go, char *modinfo, size_t modinfo_len);

/*
 * Parse "go1.19.8", "go1.21rc2", "go1.22.0 X:boringcrypto" into major,
 * minor, patch (rc and beta versions count as patch 0).  Returns 0, or
 * -EINVAL for anything else ("devel +abc...", "").
 */
int elfbin_go_parse_version(const char *s, int *major, int *minor, int *patch);

/* ---- DWARF ---------------------------------------------------------------- */

struct elfbin_field_query {
	/*
	 * in: the type's name as DWARF spells it, qualified by its enclosing
	 * namespaces and classes with "::" for C++ ("node::AsyncWrap"); Go
	 * names carry their package path ("net/http.Request"); C struct tags
	 * and typedef names alike ("uv_loop_s", "uv_loop_t").
	 */
	const char *type;
	/*
	 * in: a member name, or a path of members through nested structs
	 * ("pfd.Sysfd" in net.netFD: the offset of Sysfd within netFD); NULL
	 * for the type itself (offset 0, size = its byte size).  Members of
	 * anonymous structs and unions are found as if declared in the type.
	 * Inherited members are not: name the base class that declares them.
	 */
	const char *member;
	/* out: 0, -ENOENT (see type_found), -ENOTSUP, -EPROTO (DWARF that loops) */
	int err;
	bool type_found;	/* out: a complete definition of type was seen */
	uint64_t offset;	/* out: byte offset of member within type */
	uint64_t size;		/* out: byte size of the member (or the type); 0 if unknown */
};

/*
 * Resolve n queries in one pass over the DWARF (.debug_info, compressed or
 * not, type units included), stopping once every query is answered.  The
 * first complete definition of a type wins (declarations are skipped).
 * Nothing is kept after the call.  Returns the number of queries with err 0,
 * or -ENODATA (no DWARF: stripped), -EPROTO (DWARF unreadable), -ENOMEM.
 */
int elfbin_dwarf_fields(struct elfbin *eb, struct elfbin_field_query *q, size_t n);

/* ---- instructions --------------------------------------------------------- */

/*
 * The file offsets of every return instruction in sym's bytes [sym->offset,
 * sym->offset + sym->size): for uprobes at returns where uretprobes are
 * unsafe (Go moves goroutine stacks, and a uretprobe rewrites the return
 * address on the stack).  A function that leaves by a tail jump has no
 * return instruction for it.
 *
 * x86-64: decoded linearly from the first byte with capstone; near RET in
 * any form (imm16, rep, bnd).  Bytes that do not decode stop the decoding
 * with -EILSEQ (nothing is guessed; *bad, when not NULL, gets their file
 * offset).
 * AArch64: instructions are aligned 32-bit words, so each word is looked at
 * (RET Xn, RETAA, RETAB); words unknown to a decoder (newer extensions) are
 * no obstacle.  A literal-pool constant equal to a RET encoding would be
 * reported too (none is known in Go or GCC output).
 *
 * Up to max offsets go into offsets[] in address order.  Returns the number
 * of return instructions found (possibly more than max), or a negative
 * errno: -EINVAL (not a function with bytes in one segment of the file, or
 * size 0), -EFBIG, -ENOTSUP (machine), -EILSEQ, -EIO (short read).
 */
int elfbin_return_sites(struct elfbin *eb, const struct elfbin_sym *sym, uint64_t *offsets,
			size_t max, uint64_t *bad);

#endif /* SPANBPF_ELFBIN_H */
