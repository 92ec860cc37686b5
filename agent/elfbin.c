// SPDX-License-Identifier: Apache-2.0
/*
 * elfbin.c - symbols, file offsets, Go build information, DWARF member
 * offsets and return sites of an untrusted ELF binary (see elfbin.h).
 */
#include "elfbin.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capstone/capstone.h>
#include <dlfcn.h>
#include <pthread.h>
#include <dwarf.h>
#include <elfutils/libdw.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "elfbin reads little-endian ELF files in place: a big-endian host needs conversions"
#endif

/* Real binaries have about ten program headers and fifty sections. */
#define PHDR_MAX 4096
#define SHDR_MAX (1u << 16)
/* Largest symbol or string table read (node's .strtab is 7.5 MiB). */
#define TABLE_MAX (512u << 20)
/* Largest .go.buildinfo read: the header and two strings, the module list included. */
#define BUILDINFO_MAX (1u << 20)
/* Build settings kept to look for GOEXPERIMENT. */
#define MODINFO_MAX (64u << 10)
/* Bytes of the first data segment searched for Go build information without its section. */
#define BUILDINFO_SEARCH 65536
/* Member DIEs looked at for one query, anonymous members included (corrupt DWARF can loop). */
#define MEMBER_VISITS_MAX 100000
/* Largest note section looked through for the build id. */
#define NOTES_MAX (64u << 10)
/* Largest DWARF section accepted once decompressed, and the largest ratio (zlib tops at ~1032). */
#define DWARF_SECTION_MAX (2048ull << 20)
#define DWARF_RATIO_MAX 1100

static const char go_magic[14] = "\xff Go buildinf:";

struct load {
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t offset;
	uint32_t flags;		/* PF_R, PF_W, PF_X */
};

struct elfbin {
	int fd;
	Elf *elf;
	struct elfbin_info info;
	struct load *loads;
	size_t nloads;
	size_t symtab;		/* section indexes, 0 = absent */
	size_t dynsym;
	size_t buildinfo;
	bool go_section;	/* .go.buildinfo, .gopclntab or .note.go.buildid */
	int dwarf_err;		/* 0 when DWARF may be read; else why not */
};

const char *elfbin_strerror(int err)
{
	switch (-err) {
	case ENOEXEC:
		return "not a valid ELF executable or shared object";
	case ENOTSUP:
		return "unsupported ELF class, byte order, machine or construct";
	case ENOENT:
		return "not found";
	case ENODATA:
		return "no symbol table or no DWARF in the file (stripped)";
	case ENOTUNIQ:
		return "the name matches several symbols";
	case EILSEQ:
		return "bytes that do not decode as instructions";
	case EPROTO:
		return "malformed Go build information or DWARF";
	case EFBIG:
		return "function too large to decode";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

/* pread all of len bytes at off: 0, -EIO on a short read, or -errno. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EIO;
	while (len > 0) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Whether [off, off + size) lies inside a file of file_size bytes. */
static bool in_file(uint64_t off, uint64_t size, uint64_t file_size)
{
	return off <= file_size && size <= file_size - off;
}

static const struct load *load_of(const struct elfbin *eb, uint64_t addr)
{
	for (size_t i = 0; i < eb->nloads; i++) {
		const struct load *l = &eb->loads[i];

		if (addr >= l->vaddr && addr - l->vaddr < l->filesz)
			return l;
	}
	return NULL;
}

uint64_t elfbin_addr_to_offset(const struct elfbin *eb, uint64_t addr)
{
	const struct load *l = load_of(eb, addr);

	return l ? addr - l->vaddr + l->offset : ELFBIN_NO_OFFSET;
}

/* Read len bytes at virtual address addr, all inside one segment's file bytes. */
static int read_vaddr(const struct elfbin *eb, uint64_t addr, void *buf, size_t len)
{
	const struct load *l = load_of(eb, addr);

	if (!l || len > l->filesz - (addr - l->vaddr))
		return -EFAULT;
	return pread_full(eb->fd, buf, len, addr - l->vaddr + l->offset);
}

static int read_vaddr_cb(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return read_vaddr(ctx, addr, buf, len);
}

/*
 * A section's data, checked first: bytes in the file, at most max of them,
 * not NOBITS.  NULL when it cannot be had.
 */
static Elf_Data *section_data(const struct elfbin *eb, size_t idx, uint64_t max)
{
	Elf_Scn *scn = elf_getscn(eb->elf, idx);
	GElf_Shdr sh;
	Elf_Data *d;

	if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS || sh.sh_size > max ||
	    !in_file(sh.sh_offset, sh.sh_size, eb->info.file_size))
		return NULL;
	d = elf_getdata(scn, NULL);
	if (!d || (d->d_size > 0 && !d->d_buf))
		return NULL;
	return d;
}

/* A symbol table section usable as one: 64-bit entries, linked to a string table in the file. */
static bool symtab_ok(const struct elfbin *eb, const GElf_Shdr *sh, size_t shnum)
{
	Elf_Scn *str;
	GElf_Shdr ss;

	if (sh->sh_size < sizeof(Elf64_Sym) || sh->sh_entsize != sizeof(Elf64_Sym) ||
	    sh->sh_size > TABLE_MAX || !in_file(sh->sh_offset, sh->sh_size, eb->info.file_size))
		return false;
	if (sh->sh_link == 0 || sh->sh_link >= shnum)
		return false;
	str = elf_getscn(eb->elf, sh->sh_link);
	if (!str || !gelf_getshdr(str, &ss) || ss.sh_type != SHT_STRTAB || ss.sh_size == 0 ||
	    ss.sh_size > TABLE_MAX || !in_file(ss.sh_offset, ss.sh_size, eb->info.file_size))
		return false;
	return true;
}

static void read_build_id(struct elfbin *eb, size_t idx)
{
	Elf_Data *d = section_data(eb, idx, NOTES_MAX);
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	if (!d || eb->info.build_id_len)
		return;
	while (off < d->d_size && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp((const char *)d->d_buf + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= sizeof(eb->info.build_id)) {
			memcpy(eb->info.build_id, (const char *)d->d_buf + desc_off, nh.n_descsz);
			eb->info.build_id_len = (uint8_t)nh.n_descsz;
			return;
		}
	}
}

/*
 * Whether a DWARF section may be handed to libdw: its decompressed size is
 * bounded, absolutely and against its compressed size (no zip bombs).
 */
static int dwarf_section_ok(const struct elfbin *eb, const GElf_Shdr *sh, const char *name)
{
	uint64_t size = sh->sh_size;

	if (!in_file(sh->sh_offset, sh->sh_size, eb->info.file_size))
		return -EPROTO;
	if (sh->sh_flags & SHF_COMPRESSED) {
		Elf64_Chdr ch;

		if (sh->sh_size < sizeof(ch) ||
		    pread_full(eb->fd, &ch, sizeof(ch), sh->sh_offset) != 0)
			return -EPROTO;
		size = ch.ch_size;
	} else if (strncmp(name, ".zdebug", 7) == 0) {
		uint8_t hdr[12];

		if (sh->sh_size < sizeof(hdr) ||
		    pread_full(eb->fd, hdr, sizeof(hdr), sh->sh_offset) != 0 ||
		    memcmp(hdr, "ZLIB", 4) != 0)
			return -EPROTO;
		size = 0;
		for (int i = 4; i < 12; i++)
			size = size << 8 | hdr[i];
	} else {
		return 0;
	}
	if (size > DWARF_SECTION_MAX || size / DWARF_RATIO_MAX > sh->sh_size)
		return -EPROTO;
	return 0;
}

/* Headers: ELF identification, type, machine, segments, then the sections we use. */
static int scan_headers(struct elfbin *eb)
{
	size_t phnum, shnum, shstrndx;
	bool have_names;
	GElf_Ehdr eh;
	Elf_Scn *scn;

	if (elf_kind(eb->elf) != ELF_K_ELF || !gelf_getehdr(eb->elf, &eh))
		return -ENOEXEC;
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		return -ENOEXEC;
	if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_AARCH64)
		return -ENOTSUP;
	eb->info.machine = eh.e_machine;
	eb->info.type = eh.e_type;

	if (elf_getphdrnum(eb->elf, &phnum) != 0 || phnum == 0 || phnum > PHDR_MAX)
		return -ENOEXEC;
	eb->loads = calloc(phnum, sizeof(*eb->loads));
	if (!eb->loads)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(eb->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
			continue;
		if (!in_file(ph.p_offset, ph.p_filesz, eb->info.file_size) ||
		    ph.p_vaddr > UINT64_MAX - ph.p_filesz)
			return -ENOEXEC;
		eb->loads[eb->nloads++] =
			(struct load){ ph.p_vaddr, ph.p_filesz, ph.p_offset, ph.p_flags };
	}
	if (eb->nloads == 0)
		return -ENOEXEC;

	if (elf_getshdrnum(eb->elf, &shnum) != 0 || shnum > SHDR_MAX)
		return -ENOEXEC;
	have_names = elf_getshdrstrndx(eb->elf, &shstrndx) == 0 && shstrndx < shnum;
	eb->dwarf_err = -ENODATA;
	scn = NULL;
	while ((scn = elf_nextscn(eb->elf, scn)) != NULL) {
		size_t idx = elf_ndxscn(scn);
		const char *name = NULL;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (have_names)
			name = elf_strptr(eb->elf, shstrndx, sh.sh_name);
		if (!name)
			name = "";
		if (sh.sh_type == SHT_SYMTAB && !eb->symtab && symtab_ok(eb, &sh, shnum))
			eb->symtab = idx;
		else if (sh.sh_type == SHT_DYNSYM && !eb->dynsym && symtab_ok(eb, &sh, shnum))
			eb->dynsym = idx;
		else if (sh.sh_type == SHT_NOTE && strcmp(name, ".note.go.buildid") == 0)
			eb->go_section = true;
		else if (sh.sh_type == SHT_NOTE)
			read_build_id(eb, idx);
		else if (strcmp(name, ".go.buildinfo") == 0 && sh.sh_type != SHT_NOBITS)
			eb->buildinfo = idx, eb->go_section = true;
		else if (strcmp(name, ".gopclntab") == 0)
			eb->go_section = true;
		else if (strcmp(name, ".gnu_debugaltlink") == 0)
			/* libdw would open the file it names: not for an untrusted binary. */
			eb->dwarf_err = -ENOTSUP;

		if ((strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0) &&
		    sh.sh_type != SHT_NOBITS && sh.sh_size > 0)
			eb->info.has_dwarf = true;
		if (strncmp(name, ".debug_", 7) == 0 || strncmp(name, ".zdebug_", 8) == 0) {
			int err = sh.sh_type == SHT_NOBITS ? 0 : dwarf_section_ok(eb, &sh, name);

			if (err && eb->dwarf_err != -ENOTSUP)
				eb->dwarf_err = err;
		}
	}
	if (!eb->info.has_dwarf)
		eb->dwarf_err = -ENODATA;
	else if (eb->dwarf_err == -ENODATA)
		eb->dwarf_err = 0;
	eb->info.has_symtab = eb->symtab != 0;
	eb->info.has_dynsym = eb->dynsym != 0;
	return 0;
}

/* Takes fd: closed on failure. */
static int open_fd(int fd, struct elfbin **out)
{
	unsigned char ident[EI_NIDENT];
	struct elfbin *eb;
	struct stat st;
	int err;

	if (fstat(fd, &st) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr) ||
	    pread_full(fd, ident, sizeof(ident), 0) != 0 || memcmp(ident, ELFMAG, SELFMAG) != 0 ||
	    (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64) ||
	    (ident[EI_DATA] != ELFDATA2LSB && ident[EI_DATA] != ELFDATA2MSB)) {
		close(fd);
		return -ENOEXEC;
	}
	if (ident[EI_CLASS] != ELFCLASS64 || ident[EI_DATA] != ELFDATA2LSB) {
		close(fd);
		return -ENOTSUP;
	}

	eb = calloc(1, sizeof(*eb));
	if (!eb) {
		close(fd);
		return -ENOMEM;
	}
	eb->fd = fd;
	eb->info.file_size = (uint64_t)st.st_size;
	elf_version(EV_CURRENT);
	/* ELF_C_READ: sections are pread on demand, never mapped. */
	eb->elf = elf_begin(fd, ELF_C_READ, NULL);
	err = eb->elf ? scan_headers(eb) : -ENOEXEC;
	if (err) {
		elfbin_close(eb);
		return err;
	}
	*out = eb;
	return 0;
}

int elfbin_open(const char *path, struct elfbin **out)
{
	int fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!path)
		return -EINVAL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (fstat refuses it next). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	return open_fd(fd, out);
}

int elfbin_open_fd(int fd, struct elfbin **out)
{
	int dup;

	if (!out)
		return -EINVAL;
	*out = NULL;
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return -errno;
	return open_fd(dup, out);
}

void elfbin_close(struct elfbin *eb)
{
	if (!eb)
		return;
	if (eb->elf)
		elf_end(eb->elf);
	if (eb->fd >= 0)
		close(eb->fd);
	free(eb->loads);
	free(eb);
}

const struct elfbin_info *elfbin_info(const struct elfbin *eb)
{
	return &eb->info;
}

/* ---- symbols -------------------------------------------------------------- */

/* FNV-1a, 64 bits. */
#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = FNV_BASIS;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * FNV_PRIME;
	return h;
}

struct qstate {
	uint64_t addrs[ELFBIN_MATCHES_MAX];
	unsigned int naddr;
	int rank;		/* 0 = nothing yet */
};

/* Symbol name lengths looked for through a bitmap; longer queries are always looked for. */
#define LEN_BITS 4096

struct symtab_pass {
	struct elfbin_sym_query *q;
	struct qstate *st;
	/* Exact names: open addressing, query index + 1 (0 = empty), and the name's hash. */
	uint32_t *exact;
	uint64_t *exact_h;
	size_t mask, nexact;
	/* The lengths of the exact names (bit per length), the shortest, any very long one. */
	uint64_t lens[LEN_BITS / 64];
	size_t min_len;
	bool long_names;
	/* C++ names, mangled, and their query indexes. */
	struct cxxq *cxx;
	uint32_t *cxx_qi;
	size_t ncxx;
};

static void table_put(uint32_t *slots, uint64_t *hashes, size_t mask, uint64_t h, uint32_t qi)
{
	size_t i = (size_t)h & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = qi + 1;
	hashes[i] = h;
}

static int bind_rank(int bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

static void candidate(struct symtab_pass *p, uint32_t qi, const Elf64_Sym *s, bool dynamic,
		      const struct elfbin *eb)
{
	struct elfbin_sym_query *q = &p->q[qi];
	struct qstate *st = &p->st[qi];
	int rank = bind_rank(ELF64_ST_BIND(s->st_info));
	uint64_t addr = s->st_value;
	bool take;

	if (rank == 0 || rank < st->rank)
		return;
	if (rank > st->rank) {
		st->rank = rank;
		st->naddr = 0;
		take = true;
	} else {
		for (unsigned int i = 0; i < st->naddr && i < ELFBIN_MATCHES_MAX; i++)
			if (st->addrs[i] == addr)
				return;
		take = addr < q->sym.addr;
	}
	if (st->naddr < ELFBIN_MATCHES_MAX)
		st->addrs[st->naddr++] = addr;
	if (!take)
		return;
	q->sym.addr = addr;
	q->sym.size = s->st_size;
	q->sym.type = ELF64_ST_TYPE(s->st_info);
	q->sym.bind = ELF64_ST_BIND(s->st_info);
	q->sym.dynamic = dynamic;
	/* A TLS symbol's value is an offset in the TLS block, an absolute one a number. */
	q->sym.offset = q->sym.type == STT_TLS || s->st_shndx == SHN_ABS
				? ELFBIN_NO_OFFSET
				: elfbin_addr_to_offset(eb, addr);
}

static void probe(struct symtab_pass *p, uint64_t h, const char *name, size_t len,
		  const Elf64_Sym *s, bool dynamic, const struct elfbin *eb)
{
	for (size_t i = (size_t)h & p->mask; p->exact[i]; i = (i + 1) & p->mask) {
		uint32_t qi = p->exact[i] - 1;
		const char *qn = p->q[qi].name;

		if (p->exact_h[i] == h && strncmp(qn, name, len) == 0 && qn[len] == '\0')
			candidate(p, qi, s, dynamic, eb);
	}
}

/* Longest C++ query name mangled (ELFBIN_SYM_CXX). */
#define CXX_BODY_MAX 1024

/* A qualified C++ name, mangled the Itanium way up to its parameters. */
struct cxxq {
	char body[CXX_BODY_MAX];	/* "4node9AsyncWrap13EmitAsyncInit" */
	size_t len;
	char tail;			/* 'C' constructor, 'D' destructor, else 0 */
	bool nested;			/* _ZN ... E */
	bool ok;			/* the name could be mangled */
};

/*
 * Mangle "a::b::c" into q: each component as <length><identifier>, "std"
 * first as St, "C::C" and "C::~C" as constructor and destructor.  Names
 * with templates, operators or anything but identifiers are not handled.
 */
static void cxx_mangle(const char *name, struct cxxq *q)
{
	const char *comp[64], *prev = NULL;
	size_t clen[64], n = 0, prev_len = 0, first = 0;

	memset(q, 0, sizeof(*q));
	for (const char *s = name;;) {
		const char *e = strstr(s, "::");
		size_t len = e ? (size_t)(e - s) : strlen(s);

		if (len == 0 || n == 64)
			return;
		for (size_t i = 0; i < len; i++)
			if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
			      (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
			      (s[i] == '~' && i == 0)))
				return;
		comp[n] = s;
		clen[n++] = len;
		if (!e)
			break;
		s = e + 2;
	}
	if (n > 1 && clen[0] == 3 && memcmp(comp[0], "std", 3) == 0) {
		memcpy(q->body, "St", 2);
		q->len = 2;
		first = 1;
	}
	for (size_t i = first; i < n; i++) {
		int w;

		if (i == n - 1 && prev) {
			if (clen[i] == prev_len && memcmp(comp[i], prev, prev_len) == 0) {
				q->tail = 'C';
				break;
			}
			if (comp[i][0] == '~' && clen[i] == prev_len + 1 &&
			    memcmp(comp[i] + 1, prev, prev_len) == 0) {
				q->tail = 'D';
				break;
			}
		}
		if (comp[i][0] == '~')
			return;
		w = snprintf(q->body + q->len, sizeof(q->body) - q->len, "%zu%.*s", clen[i],
			     (int)clen[i], comp[i]);
		if (w < 0 || (size_t)w >= sizeof(q->body) - q->len)
			return;
		q->len += (size_t)w;
		prev = comp[i];
		prev_len = clen[i];
	}
	q->nested = n - first > 1;
	q->ok = true;
}

/* Skip ABI tags ("B5cxx11") in a NUL-terminated mangled name. */
static const char *abi_tags(const char *p)
{
	while (*p == 'B') {
		size_t len = 0;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			len = len * 10 + (size_t)(*p - '0');
			if (len > CXX_BODY_MAX)
				return p;
		}
		if (len == 0 || strnlen(p, len) < len)
			return p;
		p += len;
	}
	return p;
}

/* Whether the mangled name m (starting "_Z") has q's name, whatever its parameters. */
static bool cxx_matches(const char *m, const struct cxxq *q)
{
	const char *p = m + 2;

	if (q->nested) {
		if (*p++ != 'N')
			return false;
		while (*p == 'r' || *p == 'V' || *p == 'K')
			p++;
		if (*p == 'R' || *p == 'O')
			p++;
	} else if (*p == 'L') {
		p++;
	}
	if (strncmp(p, q->body, q->len) != 0)
		return false;
	p += q->len;
	/* C1-C3 (complete, base, allocating) constructors; D0-D2 destructors. */
	if (q->tail == 'C' && (p[0] != 'C' || p[1] < '1' || p[1] > '3'))
		return false;
	if (q->tail == 'D' && (p[0] != 'D' || p[1] < '0' || p[1] > '2'))
		return false;
	if (q->tail)
		p += 2;
	/* The last length was exact: an unscoped name ends there; a nested one at 'E'. */
	return !q->nested || *abi_tags(p) == 'E';
}

static bool len_wanted(const struct symtab_pass *p, size_t len)
{
	return len >= LEN_BITS ? p->long_names : (p->lens[len / 64] >> (len % 64)) & 1;
}

static void scan_table(struct symtab_pass *p, const struct elfbin *eb, const Elf64_Sym *syms,
		       size_t nsyms, const char *str, size_t strsize, bool dynamic)
{
	for (size_t i = 1; i < nsyms; i++) {
		const Elf64_Sym *s = &syms[i];
		int type = ELF64_ST_TYPE(s->st_info);
		const char *name, *at;
		size_t len;

		if (s->st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE ||
		    s->st_name == 0 || s->st_name >= strsize)
			continue;
		name = str + s->st_name;
		if (p->nexact) {
			/* Only names of a length some query has are hashed. */
			len = strlen(name);
			if (len_wanted(p, len))
				probe(p, fnv(name, len), name, len, s, dynamic, eb);
			/* "SSL_read@@OPENSSL_3.0.0" is SSL_read. */
			if (len > p->min_len && (at = memchr(name, '@', len)) != NULL &&
			    len_wanted(p, (size_t)(at - name))) {
				len = (size_t)(at - name);
				probe(p, fnv(name, len), name, len, s, dynamic, eb);
			}
		}
		if (p->ncxx && name[0] == '_' && name[1] == 'Z')
			for (size_t k = 0; k < p->ncxx; k++)
				if (cxx_matches(name, &p->cxx[k]))
					candidate(p, p->cxx_qi[k], s, dynamic, eb);
	}
}

/* A symbol table's entries and strings; false when unreadable. */
static bool table_data(const struct elfbin *eb, size_t idx, const Elf64_Sym **syms, size_t *n,
		       const char **str, size_t *strsize)
{
	Elf_Scn *scn = elf_getscn(eb->elf, idx);
	Elf_Data *d, *sd;
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh))
		return false;
	d = section_data(eb, idx, TABLE_MAX);
	sd = section_data(eb, sh.sh_link, TABLE_MAX);
	/* A string table must end in a NUL, so every name in it is terminated. */
	if (!d || !sd || d->d_type != ELF_T_SYM || sd->d_size == 0 ||
	    ((const char *)sd->d_buf)[sd->d_size - 1] != '\0')
		return false;
	*syms = d->d_buf;
	*n = d->d_size / sizeof(Elf64_Sym);
	*str = sd->d_buf;
	*strsize = sd->d_size;
	return true;
}

int elfbin_find_symbols(struct elfbin *eb, struct elfbin_sym_query *q, size_t n)
{
	struct symtab_pass p = { .q = q };
	size_t cap = 16, nsyms, strsize;
	const Elf64_Sym *syms;
	const char *str;
	bool read_symtab = false, read_dynsym = false;
	int found = 0, err = 0;

	if (!eb || (n && !q) || n > UINT32_MAX / 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!q[i].name)
			return -EINVAL;
		q[i].err = -ENOENT;
		q[i].matches = 0;
		memset(&q[i].sym, 0, sizeof(q[i].sym));
		if (q[i].flags & ELFBIN_SYM_CXX)
			p.ncxx++;
	}
	if (n == 0)
		return 0;
	if (!eb->symtab && !eb->dynsym) {
		err = -ENODATA;
		goto fail;
	}
	while (cap < 2 * n)
		cap *= 2;
	p.mask = cap - 1;
	p.st = calloc(n, sizeof(*p.st));
	p.exact = calloc(cap, sizeof(*p.exact));
	p.exact_h = calloc(cap, sizeof(*p.exact_h));
	p.cxx = calloc(p.ncxx ? p.ncxx : 1, sizeof(*p.cxx));
	p.cxx_qi = calloc(p.ncxx ? p.ncxx : 1, sizeof(*p.cxx_qi));
	if (!p.st || !p.exact || !p.exact_h || !p.cxx || !p.cxx_qi) {
		err = -ENOMEM;
		goto out;
	}
	p.ncxx = 0;
	p.min_len = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(q[i].name);

		if (q[i].flags & ELFBIN_SYM_CXX) {
			cxx_mangle(q[i].name, &p.cxx[p.ncxx]);
			if (p.cxx[p.ncxx].ok)
				p.cxx_qi[p.ncxx++] = (uint32_t)i;
			continue;
		}
		table_put(p.exact, p.exact_h, p.mask, fnv(q[i].name, len), (uint32_t)i);
		p.nexact++;
		if (len < p.min_len)
			p.min_len = len;
		if (len >= LEN_BITS)
			p.long_names = true;
		else
			p.lens[len / 64] |= 1ull << (len % 64);
	}
	if (eb->symtab && table_data(eb, eb->symtab, &syms, &nsyms, &str, &strsize)) {
		scan_table(&p, eb, syms, nsyms, str, strsize, false);
		read_symtab = true;
	}
	if (eb->dynsym && table_data(eb, eb->dynsym, &syms, &nsyms, &str, &strsize)) {
		scan_table(&p, eb, syms, nsyms, str, strsize, true);
		read_dynsym = true;
	}
	if (!read_symtab && !read_dynsym) {
		err = -ENOEXEC;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		q[i].matches = p.st[i].naddr;
		if (p.st[i].naddr == 0)
			q[i].err = read_symtab ? -ENOENT : -ENODATA;
		else if (p.st[i].naddr > 1)
			q[i].err = -ENOTUNIQ;
		else
			q[i].err = 0, found++;
	}
out:
	free(p.st);
	free(p.exact);
	free(p.exact_h);
	free(p.cxx);
	free(p.cxx_qi);
	if (!err)
		return found;
fail:
	for (size_t i = 0; i < n; i++)
		q[i].err = err;
	return err;
}

int elfbin_find_symbol(struct elfbin *eb, const char *name, struct elfbin_sym *sym)
{
	struct elfbin_sym_query q = { .name = name };
	int err = elfbin_find_symbols(eb, &q, 1);

	if (err < 0)
		return err;
	if (q.err == 0 && sym)
		*sym = q.sym;
	return q.err;
}

/* ---- Go ------------------------------------------------------------------- */

/* A non-negative decimal number at *p, advancing it; -1 when there is none. */
static int decimal(const char **p)
{
	long v = 0;

	if (**p < '0' || **p > '9')
		return -1;
	while (**p >= '0' && **p <= '9') {
		v = v * 10 + (**p - '0');
		if (v > 1000000)
			return -1;
		(*p)++;
	}
	return (int)v;
}

int elfbin_go_parse_version(const char *s, int *major, int *minor, int *patch)
{
	int ma, mi = 0, pa = 0;

	*major = *minor = *patch = 0;
	if (!s)
		return -EINVAL;
	/* "devel go1.22-abcdef Tue ..." names the release it leads to. */
	if (strncmp(s, "devel ", 6) == 0)
		s += 6;
	if (strncmp(s, "go", 2) != 0)
		return -EINVAL;
	s += 2;
	if ((ma = decimal(&s)) < 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		if ((mi = decimal(&s)) < 0)
			return -EINVAL;
		if (*s == '.') {
			s++;
			if ((pa = decimal(&s)) < 0)
				return -EINVAL;
		}
	}
	if (strncmp(s, "rc", 2) == 0 || strncmp(s, "beta", 4) == 0) {
		s += s[0] == 'r' ? 2 : 4;
		if (decimal(&s) < 0)
			return -EINVAL;
	}
	if (*s != '\0' && *s != ' ' && *s != '-')
		return -EINVAL;
	*major = ma;
	*minor = mi;
	*patch = pa;
	return 0;
}

/* An unsigned LEB128 varint at blob[*pos], below n; false when malformed. */
static bool uvarint(const uint8_t *blob, size_t n, size_t *pos, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned int shift = 0; shift < 64 && *pos < n; shift += 7) {
		uint8_t b = blob[(*pos)++];

		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

/* Copy len bytes into out (cap bytes), cut and NUL-terminated. */
static void copy_cut(char *out, size_t cap, const void *s, size_t len)
{
	if (!out || cap == 0)
		return;
	if (len >= cap)
		len = cap - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/* The Go string whose header is at vaddr hdr: into out (cut to cap - 1 bytes). */
static int go_string(int (*read)(void *, uint64_t, void *, size_t), void *ctx, unsigned int ptr,
		     uint64_t hdr, char *out, size_t cap, size_t *len_out)
{
	uint64_t words[2] = { 0, 0 };
	uint8_t raw[16];
	size_t len;

	if (read(ctx, hdr, raw, 2 * ptr) != 0)
		return -EPROTO;
	for (unsigned int i = 0; i < 2; i++) {
		if (ptr == 8)
			memcpy(&words[i], raw + 8 * i, 8);
		else {
			uint32_t w;

			memcpy(&w, raw + 4 * i, 4);
			words[i] = w;
		}
	}
	len = words[1] < cap ? (size_t)words[1] : cap - 1;
	if (len && read(ctx, words[0], out, len) != 0)
		return -EPROTO;
	out[len] = '\0';
	if (len_out)
		*len_out = (size_t)words[1];
	return 0;
}

int elfbin_go_parse_buildinfo(const uint8_t *blob, size_t n,
			      int (*read)(void *ctx, uint64_t vaddr, void *buf, size_t len),
			      void *ctx, struct elfbin_go *go, char *modinfo, size_t modinfo_len)
{
	unsigned int ptr, flags;
	size_t mod_len = 0;
	bool mod_whole = false;

	memset(go, 0, sizeof(*go));
	if (modinfo && modinfo_len)
		modinfo[0] = '\0';
	if (!blob || n < 32 || memcmp(blob, go_magic, sizeof(go_magic)) != 0)
		return -ENOENT;
	ptr = blob[14];
	flags = blob[15];
	if (ptr != 4 && ptr != 8)
		return -EPROTO;
	go->ptr_size = (uint8_t)ptr;
	if (flags & 2) {
		/* go1.18 and later: varint-prefixed strings after the 32-byte header. */
		size_t pos = 32;
		uint64_t len;

		if (!uvarint(blob, n, &pos, &len) || len == 0 || len > n - pos)
			return -EPROTO;
		copy_cut(go->version, sizeof(go->version), blob + pos, (size_t)len);
		pos += (size_t)len;
		if (uvarint(blob, n, &pos, &len) && len <= n - pos) {
			copy_cut(modinfo, modinfo_len, blob + pos, (size_t)len);
			mod_len = (size_t)len;
			mod_whole = modinfo && len < modinfo_len;
		}
	} else {
		/* Before go1.18: the addresses of runtime.buildVersion and runtime.modinfo. */
		uint64_t vers = 0, mod = 0;
		int err;

		if (flags & 1)
			return -ENOTSUP;
		if (!read)
			return -EPROTO;
		memcpy(&vers, blob + 16, ptr);
		memcpy(&mod, blob + 16 + ptr, ptr);
		err = go_string(read, ctx, ptr, vers, go->version, sizeof(go->version), NULL);
		if (err)
			return err;
		if (modinfo && modinfo_len &&
		    go_string(read, ctx, ptr, mod, modinfo, modinfo_len, &mod_len) == 0)
			mod_whole = mod_len < modinfo_len;
	}
	if (memchr(go->version, '\0', sizeof(go->version)) == go->version)
		return -EPROTO;
	/* The module text is framed by two 16-byte sentinels (cmd/go's infoStart, infoEnd). */
	if (mod_whole && mod_len >= 33 && modinfo[mod_len - 17] == '\n') {
		memmove(modinfo, modinfo + 16, mod_len - 32);
		modinfo[mod_len - 32] = '\0';
	}
	elfbin_go_parse_version(go->version, &go->major, &go->minor, &go->patch);
	return 0;
}

/* Whether a GOEXPERIMENT build setting turns the register ABI off. */
static bool noregabi(const char *modinfo)
{
	const char *s = modinfo;

	while ((s = strstr(s, "GOEXPERIMENT=")) != NULL) {
		const char *end = strchr(s, '\n');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *hit = memmem(s, len, "noregabi", 8);

		if (hit)
			return true;
		s += len;
	}
	return false;
}

/*
 * Without a .go.buildinfo section (section headers stripped), the blob is
 * near the start of the first writable, non-executable segment, 16-byte
 * aligned, as Go's debug/buildinfo looks for it.  Returns 0 with go filled,
 * or -ENOENT.
 */
static int search_buildinfo(struct elfbin *eb, struct elfbin_go *go, char *modinfo)
{
	const struct load *l = NULL;
	uint8_t *buf;
	size_t n;
	int err = -ENOENT;

	for (size_t i = 0; i < eb->nloads && !l; i++)
		if ((eb->loads[i].flags & (PF_W | PF_X)) == PF_W)
			l = &eb->loads[i];
	if (!l)
		return -ENOENT;
	n = l->filesz < BUILDINFO_SEARCH ? (size_t)l->filesz : BUILDINFO_SEARCH;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	if (pread_full(eb->fd, buf, n, l->offset) == 0)
		for (size_t at = 0; at + 32 <= n; at += 16)
			if (memcmp(buf + at, go_magic, sizeof(go_magic)) == 0) {
				err = elfbin_go_parse_buildinfo(buf + at, n - at, read_vaddr_cb, eb,
								go, modinfo, MODINFO_MAX);
				break;
			}
	free(buf);
	return err;
}

int elfbin_go_info(struct elfbin *eb, struct elfbin_go *go)
{
	char *modinfo = NULL;
	bool is_go;
	int err;

	if (!eb || !go)
		return -EINVAL;
	memset(go, 0, sizeof(*go));
	is_go = eb->go_section;
	modinfo = malloc(MODINFO_MAX);
	if (!modinfo)
		return -ENOMEM;
	modinfo[0] = '\0';
	go->version_err = -ENODATA;
	if (eb->buildinfo) {
		Elf_Data *d = section_data(eb, eb->buildinfo, BUILDINFO_MAX);

		if (d)
			go->version_err = elfbin_go_parse_buildinfo(d->d_buf, d->d_size,
								    read_vaddr_cb, eb, go,
								    modinfo, MODINFO_MAX);
		if (go->version_err == -ENOENT || !d)
			go->version_err = -EPROTO;
	} else {
		err = search_buildinfo(eb, go, modinfo);
		if (err == -ENOMEM) {
			free(modinfo);
			return err;
		}
		if (err != -ENOENT) {
			is_go = true;
			go->version_err = err;
		} else {
			go->version_err = -ENODATA;
		}
	}
	if (go->version_err) {
		/* No usable build information: the symbols tell (Go before 1.13, odd linkers). */
		struct elfbin_sym_query q[2] = { { .name = "runtime.main" },
						 { .name = "runtime.buildVersion" } };

		/* The build settings are the blob's: unknown without it. */
		modinfo[0] = '\0';
		elfbin_find_symbols(eb, q, 2);
		if (q[0].err == 0 || q[1].err == 0)
			is_go = true;
		if (q[1].err == 0 && q[1].sym.offset != ELFBIN_NO_OFFSET) {
			/* A string header: pointer and length, 8 bytes each on both machines. */
			err = go_string(read_vaddr_cb, eb, 8, q[1].sym.addr, go->version,
					sizeof(go->version), NULL);
			if (err == 0 && go->version[0])
				go->version_err = 0;
			else if (go->version_err == -ENODATA)
				go->version_err = -EPROTO;
			if (go->version_err == 0)
				elfbin_go_parse_version(go->version, &go->major, &go->minor,
							&go->patch);
		}
	}
	if (!is_go) {
		free(modinfo);
		memset(go, 0, sizeof(*go));
		return -ENOENT;
	}
	if (go->version_err) {
		go->version[0] = '\0';
		go->major = go->minor = go->patch = 0;
	}
	if (go->major == 1 && go->version_err == 0) {
		int regabi_minor = eb->info.machine == EM_X86_64 ? 17 : 18;

		go->abi = go->minor >= regabi_minor ? ELFBIN_GO_ABI_REGISTER : ELFBIN_GO_ABI_STACK;
		if (noregabi(modinfo))
			go->abi = ELFBIN_GO_ABI_STACK;
	}
	free(modinfo);
	return 0;
}

/* ---- DWARF ---------------------------------------------------------------- */

/* Declarations remembered per unit and query, for definitions that name them. */
#define DECLS_MAX 8

struct fq {
	uint64_t hash;		/* of the last component of the type's name */
	const char *last;	/* that component */
	size_t prefix_len;	/* bytes before it ("node::" is 6) */
	bool done;
	/* Declarations of this type in the current unit, in the right scope. */
	Dwarf_Off decls[DECLS_MAX];
	unsigned int ndecl;
};

struct dwalk {
	struct elfbin_field_query *q;
	struct fq *fq;
	size_t n, pending;
	const char *names[ELFBIN_DWARF_DEPTH_MAX];
	bool cxx;		/* this unit's language nests types */
};

/* Where the last "::" component of a C++ name starts ("::" inside <...> does not count). */
static size_t last_component(const char *s)
{
	size_t start = 0;
	int angle = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '<')
			angle++;
		else if (s[i] == '>' && angle > 0)
			angle--;
		else if (angle == 0 && s[i] == ':' && s[i + 1] == ':')
			start = i + 2, i++;
	}
	return start;
}

/* Whether the enclosing scopes names[0..depth) spell q's prefix ("a::b::"). */
static bool prefix_matches(const struct dwalk *w, const struct fq *f, const char *type, int depth)
{
	size_t pos = 0;

	for (int i = 0; i < depth; i++) {
		size_t len = strlen(w->names[i]);

		if (pos + len + 2 > f->prefix_len || strncmp(type + pos, w->names[i], len) != 0 ||
		    type[pos + len] != ':' || type[pos + len + 1] != ':')
			return false;
		pos += len + 2;
	}
	return pos == f->prefix_len;
}

static bool is_declaration(Dwarf_Die *die)
{
	bool flag = false;
	Dwarf_Attribute a;

	return dwarf_attr(die, DW_AT_declaration, &a) && dwarf_formflag(&a, &flag) == 0 && flag;
}

/* Byte size of a type DIE (typedefs and qualifiers peeled); 0 when unknown. */
static uint64_t type_size(Dwarf_Die *type)
{
	Dwarf_Word size;
	Dwarf_Die peeled;
	int tag;

	if (dwarf_aggregate_size(type, &size) == 0)
		return size;
	if (dwarf_peel_type(type, &peeled) != 0)
		return 0;
	tag = dwarf_tag(&peeled);
	if (tag == DW_TAG_pointer_type || tag == DW_TAG_reference_type ||
	    tag == DW_TAG_rvalue_reference_type) {
		uint8_t addr_size = 0;
		Dwarf_Attribute a;
		Dwarf_Die cu;
		Dwarf_Word v;

		if (dwarf_attr(&peeled, DW_AT_byte_size, &a) && dwarf_formudata(&a, &v) == 0)
			return v;
		if (dwarf_diecu(&peeled, &cu, &addr_size, NULL))
			return addr_size;
	}
	return 0;
}

/*
 * The type of a member or typedef, peeled to what it names and completed: a
 * declaration that names its definition in a type unit (DW_AT_signature,
 * as nested types in DWARF 4 type units do) is replaced by the definition.
 */
static bool member_type(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute a;
	Dwarf_Die t;

	if (!dwarf_attr(die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t))
		return false;
	for (int hops = 0; hops < 4; hops++) {
		if (dwarf_peel_type(&t, out) != 0)
			return false;
		if (!is_declaration(out) || !dwarf_attr(out, DW_AT_signature, &a) ||
		    !dwarf_formref_die(&a, &t))
			return true;
	}
	return false;
}

static bool is_aggregate(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_class_type ||
	       tag == DW_TAG_union_type;
}

/* A member's constant byte offset: 0, -ENOTSUP (bit-field, static, computed location). */
static int member_offset(Dwarf_Die *m, bool in_union, uint64_t *off)
{
	Dwarf_Attribute a;
	Dwarf_Word v;

	if (dwarf_hasattr(m, DW_AT_bit_size) || dwarf_hasattr(m, DW_AT_data_bit_offset))
		return -ENOTSUP;
	if (!dwarf_attr(m, DW_AT_data_member_location, &a)) {
		if (in_union && !is_declaration(m) && !dwarf_hasattr(m, DW_AT_external)) {
			*off = 0;
			return 0;
		}
		return -ENOTSUP;
	}
	switch (dwarf_whatform(&a)) {
	case DW_FORM_data1:
	case DW_FORM_data2:
	case DW_FORM_data4:
	case DW_FORM_data8:
	case DW_FORM_udata:
	case DW_FORM_sdata:
	case DW_FORM_implicit_const:
		if (dwarf_formudata(&a, &v) != 0)
			return -ENOTSUP;
		*off = v;
		return 0;
	default: {
		/* DWARF 2 style: a location expression, DW_OP_plus_uconst N. */
		Dwarf_Op *ops;
		size_t nops;

		if (dwarf_getlocation(&a, &ops, &nops) != 0 || nops != 1 ||
		    (ops[0].atom != DW_OP_plus_uconst && ops[0].atom != DW_OP_constu))
			return -ENOTSUP;
		*off = ops[0].number;
		return 0;
	}
	}
}

/*
 * Find member name (n bytes) in aggregate agg, looking into anonymous
 * members; its offset from agg's start into *off, its DIE into *out.
 */
static int find_member(Dwarf_Die *agg, const char *name, size_t n, int depth, uint64_t *off,
		       Dwarf_Die *out, unsigned long *budget)
{
	bool in_union = dwarf_tag(agg) == DW_TAG_union_type;
	Dwarf_Die m;
	int res = -ENOENT;

	if (depth >= ELFBIN_DWARF_DEPTH_MAX || dwarf_child(agg, &m) != 0)
		return -ENOENT;
	do {
		const char *mn;
		uint64_t moff;
		int err;

		if (*budget == 0)
			return -EPROTO;
		(*budget)--;
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		mn = dwarf_diename(&m);
		if (mn && strncmp(mn, name, n) == 0 && mn[n] == '\0') {
			err = member_offset(&m, in_union, &moff);
			if (err)
				return err;
			*off = moff;
			*out = m;
			return 0;
		}
		if (!mn) {
			Dwarf_Die t;
			uint64_t inner;

			if (!member_type(&m, &t) || !is_aggregate(dwarf_tag(&t)) ||
			    member_offset(&m, in_union, &moff) != 0)
				continue;
			err = find_member(&t, name, n, depth + 1, &inner, out, budget);
			if (err == 0) {
				*off = moff + inner;
				return 0;
			}
			if (err != -ENOENT)
				res = err;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return res;
}

/* Answer q from the definition die (a complete type of the right name). */
static void resolve(struct elfbin_field_query *q, Dwarf_Die *die)
{
	unsigned long budget = MEMBER_VISITS_MAX;
	const char *path = q->member;
	Dwarf_Die cur, t;
	uint64_t off = 0;

	q->type_found = true;
	if (dwarf_tag(die) == DW_TAG_typedef) {
		if (!member_type(die, &cur)) {
			q->err = -ENOENT;
			return;
		}
	} else {
		cur = *die;
	}
	if (!path) {
		q->offset = 0;
		q->size = type_size(&cur);
		q->err = 0;
		return;
	}
	for (;;) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		uint64_t moff;
		Dwarf_Die m;
		int err;

		if (!is_aggregate(dwarf_tag(&cur))) {
			q->err = -ENOTSUP;
			return;
		}
		err = find_member(&cur, path, len, 0, &moff, &m, &budget);
		if (err) {
			q->err = err;
			return;
		}
		off += moff;
		if (!member_type(&m, &t)) {
			q->err = dot ? -ENOTSUP : 0;
			q->offset = off;
			q->size = 0;
			return;
		}
		if (!dot) {
			q->offset = off;
			q->size = type_size(&t);
			q->err = 0;
			return;
		}
		cur = t;
		path = dot + 1;
	}
}

/* Whether die completes (DW_AT_specification) one of f's declarations. */
static bool specifies(Dwarf_Die *die, const struct fq *f)
{
	Dwarf_Attribute a;
	Dwarf_Die spec;
	Dwarf_Off off;

	if (f->ndecl == 0 || !dwarf_attr(die, DW_AT_specification, &a) ||
	    !dwarf_formref_die(&a, &spec))
		return false;
	off = dwarf_dieoffset(&spec);
	for (unsigned int i = 0; i < f->ndecl; i++)
		if (f->decls[i] == off)
			return true;
	return false;
}

/*
 * A type DIE named name, nested depth scopes deep.  A definition may sit
 * outside its scope and name its declaration there (DW_AT_specification):
 * DWARF 4 type units put "class AsyncWrap" at the unit's top level and a
 * declaration inside "namespace node".
 */
static void match(struct dwalk *w, Dwarf_Die *die, const char *name, int depth)
{
	size_t len = strlen(name);
	uint64_t h = fnv(name, len);

	for (size_t i = 0; i < w->n; i++) {
		struct fq *f = &w->fq[i];
		bool scoped;

		if (f->done || f->hash != h || strcmp(f->last, name) != 0)
			continue;
		scoped = prefix_matches(w, f, w->q[i].type, depth);
		if (!scoped && !specifies(die, f))
			continue;
		/* A declaration, or a typedef of one, is not the definition. */
		if (is_declaration(die)) {
			if (scoped && f->ndecl < DECLS_MAX)
				f->decls[f->ndecl++] = dwarf_dieoffset(die);
			continue;
		}
		if (dwarf_tag(die) == DW_TAG_typedef) {
			Dwarf_Die t;

			if (!member_type(die, &t) || is_declaration(&t))
				continue;
		}
		resolve(&w->q[i], die);
		f->done = true;
		w->pending--;
	}
}

static void walk(struct dwalk *w, Dwarf_Die *parent, int depth)
{
	Dwarf_Die child;

	if (dwarf_child(parent, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		const char *name;
		bool nest;

		if (w->pending == 0)
			return;
		switch (tag) {
		case DW_TAG_namespace:
		case DW_TAG_structure_type:
		case DW_TAG_class_type:
		case DW_TAG_union_type:
		case DW_TAG_typedef:
		case DW_TAG_base_type:
		case DW_TAG_enumeration_type:
			break;
		default:
			continue;
		}
		name = dwarf_diename(&child);
		if (name && tag != DW_TAG_namespace)
			match(w, &child, name, depth);
		nest = tag == DW_TAG_namespace || (w->cxx && is_aggregate(tag) && name &&
						    dwarf_haschildren(&child));
		if (nest && depth + 1 < ELFBIN_DWARF_DEPTH_MAX) {
			w->names[depth] = name ? name : "(anonymous namespace)";
			walk(w, &child, depth + 1);
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static bool lang_nests_types(Dwarf_Die *cu)
{
	switch (dwarf_srclang(cu)) {
	case DW_LANG_C_plus_plus:
	case DW_LANG_C_plus_plus_03:
	case DW_LANG_C_plus_plus_11:
	case DW_LANG_C_plus_plus_14:
	case 0x2a:	/* DW_LANG_C_plus_plus_17 (DWARF 6 draft, used by some compilers) */
	case 0x2b:	/* DW_LANG_C_plus_plus_20 */
		return true;
	default:
		return false;
	}
}

int elfbin_dwarf_fields(struct elfbin *eb, struct elfbin_field_query *q, size_t n)
{
	struct dwalk w = { .q = q, .n = n };
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	uint8_t unit_type;
	Dwarf *dw;
	int found = 0;

	if (!eb || (n && !q))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!q[i].type || !q[i].type[0])
			return -EINVAL;
		q[i].err = -ENOENT;
		q[i].type_found = false;
		q[i].offset = q[i].size = 0;
	}
	if (eb->dwarf_err)
		goto fail_all;
	if (n == 0)
		return 0;
	w.fq = calloc(n, sizeof(*w.fq));
	if (!w.fq)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t start = last_component(q[i].type);

		w.fq[i].last = q[i].type + start;
		w.fq[i].prefix_len = start;
		w.fq[i].hash = fnv(w.fq[i].last, strlen(w.fq[i].last));
	}
	w.pending = n;
	dw = dwarf_begin_elf(eb->elf, DWARF_C_READ, NULL);
	if (!dw) {
		free(w.fq);
		eb->dwarf_err = -EPROTO;
		goto fail_all;
	}
	/* Every unit, type units too; split (.dwo) units are not looked for. */
	while (w.pending > 0 &&
	       dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0) {
		w.cxx = lang_nests_types(&cudie);
		for (size_t i = 0; i < n; i++)
			w.fq[i].ndecl = 0;
		walk(&w, &cudie, 0);
	}
	dwarf_end(dw);
	free(w.fq);
	for (size_t i = 0; i < n; i++)
		if (q[i].err == 0)
			found++;
	return found;

fail_all:
	for (size_t i = 0; i < n; i++)
		q[i].err = eb->dwarf_err;
	return eb->dwarf_err;
}

/* ---- instructions --------------------------------------------------------- */

/*
 * A64: every instruction is one aligned 32-bit word, so the words need no
 * decoder to be told apart (capstone 4 does not know the ARMv8.1 atomics Go
 * uses).  RET Xn is 0xd65f0000 | n << 5; RETAA and RETAB are 0xd65f0bff and
 * 0xd65f0fff.
 */
static long arm64_returns(const uint8_t *code, size_t size, uint64_t base, uint64_t *offsets,
			  size_t max)
{
	long count = 0;

	for (size_t i = 0; i + 4 <= size; i += 4) {
		uint32_t w;

		memcpy(&w, code + i, 4);
		if ((w & 0xfffffc1f) == 0xd65f0000 || w == 0xd65f0bff || w == 0xd65f0fff) {
			if ((size_t)count < max)
				offsets[count] = base + i;
			count++;
		}
	}
	return count;
}

/*
 * capstone, loaded when first needed: only the process that reads binaries
 * (the agent's inspecting helper) maps it; its relocated tables cost the
 * agent 3 MiB of memory otherwise.
 */
static struct {
	cs_err (*open)(cs_arch, cs_mode, csh *);
	cs_insn *(*malloc)(csh);
	bool (*disasm_iter)(csh, const uint8_t **, size_t *, uint64_t *, cs_insn *);
	void (*free)(cs_insn *, size_t);
	cs_err (*close)(csh *);
	bool ok;
} cs_lib;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;

static void cs_load(void)
{
	void *h = dlopen("libcapstone.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		h = dlopen("libcapstone.so", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	cs_lib.open = (cs_err(*)(cs_arch, cs_mode, csh *))dlsym(h, "cs_open");
	cs_lib.malloc = (cs_insn * (*)(csh)) dlsym(h, "cs_malloc");
	cs_lib.disasm_iter = (bool (*)(csh, const uint8_t **, size_t *, uint64_t *,
				       cs_insn *))dlsym(h, "cs_disasm_iter");
	cs_lib.free = (void (*)(cs_insn *, size_t))dlsym(h, "cs_free");
	cs_lib.close = (cs_err(*)(csh *))dlsym(h, "cs_close");
	cs_lib.ok = cs_lib.open && cs_lib.malloc && cs_lib.disasm_iter && cs_lib.free &&
		    cs_lib.close;
}

int elfbin_return_sites(struct elfbin *eb, const struct elfbin_sym *sym, uint64_t *offsets,
			size_t max, uint64_t *bad)
{
	const struct load *l;
	const uint8_t *code;
	uint8_t *buf = NULL;
	cs_insn *insn = NULL;
	size_t left;
	uint64_t addr;
	csh cs;
	long count = 0;
	int err;

	if (!eb || !sym || (max && !offsets))
		return -EINVAL;
	if (sym->size == 0 || sym->offset == ELFBIN_NO_OFFSET || sym->type == STT_TLS)
		return -EINVAL;
	if (sym->size > ELFBIN_DECODE_MAX)
		return -EFBIG;
	/* The whole function must be file bytes of the segment that holds its start. */
	l = load_of(eb, sym->addr);
	if (!l || sym->addr - l->vaddr + l->offset != sym->offset ||
	    sym->size > l->filesz - (sym->addr - l->vaddr))
		return -EINVAL;
	if (eb->info.machine == EM_AARCH64 && (sym->addr % 4 != 0 || sym->size % 4 != 0))
		return -EILSEQ;
	if (eb->info.machine != EM_X86_64 && eb->info.machine != EM_AARCH64)
		return -ENOTSUP;

	buf = malloc(sym->size);
	if (!buf)
		return -ENOMEM;
	err = pread_full(eb->fd, buf, sym->size, sym->offset);
	if (err) {
		free(buf);
		return err;
	}
	if (eb->info.machine == EM_AARCH64) {
		count = arm64_returns(buf, sym->size, sym->offset, offsets, max);
		free(buf);
		return (int)count;
	}
	pthread_once(&cs_once, cs_load);
	if (!cs_lib.ok || cs_lib.open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		free(buf);
		return -ENOTSUP;
	}
	insn = cs_lib.malloc(cs);
	if (!insn) {
		err = -ENOMEM;
		goto out;
	}
	code = buf;
	left = sym->size;
	addr = sym->addr;
	while (left > 0) {
		if (!cs_lib.disasm_iter(cs, &code, &left, &addr, insn)) {
			if (bad)
				*bad = sym->offset + (uint64_t)(code - buf);
			err = -EILSEQ;
			goto out;
		}
		/* ret, ret imm16, rep ret, bnd ret: near returns (a function has no far ones). */
		if (insn->id == X86_INS_RET) {
			if ((size_t)count < max)
				offsets[count] = sym->offset + (insn->address - sym->addr);
			count++;
		}
	}
out:
	if (insn)
		cs_lib.free(insn, 1);
	cs_lib.close(&cs);
	free(buf);
	return err ? err : (int)count;
}
