// SPDX-License-Identifier: Apache-2.0
/*
 * replay.c - the agent's own cost per span, without the kernel, the network
 * or the machine's noise: kernel records saved by `spanbpf --record FILE`
 * are run through the pipeline (tracker, correlator, builder), and every
 * span is encoded and gzip'ed in batches of 512 as the exporter does.
 *
 *   replay FILE [--repeat N] [--limit RECORDS]
 *
 * Prints records, spans, and time per span for each stage (one thread, so
 * wall time is its CPU time on an idle core).  Under
 * `valgrind --tool=callgrind` the instruction counts are repeatable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "otlp.h"
#include "pipeline.h"
#include "span.h"

#define BATCH 512

struct sink {
	struct otlp_span *batch[BATCH];
	size_t n;
	uint64_t spans;
	uint64_t batches;
	uint64_t encode_ns;
	uint64_t frame_ns;
	uint64_t gzip_ns;
	uint64_t raw_bytes;
	uint64_t gz_bytes;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: cheap enough to time each span */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void flush(struct sink *k)
{
	uint8_t *pb = NULL, *gz = NULL;
	size_t len = 0, gzlen = 0;
	uint64_t t0 = cpu_ns(), t1;

	if (!k->n)
		return;
	if (otlp_frame(k->batch, k->n, &pb, &len) == 0) {
		t1 = cpu_ns();
		k->frame_ns += t1 - t0;
		if (otlp_gzip(pb, len, &gz, &gzlen) == 0) {
			k->raw_bytes += len;
			k->gz_bytes += gzlen;
		}
		k->gzip_ns += cpu_ns() - t1;
	}
	free(pb);
	free(gz);
	for (size_t i = 0; i < k->n; i++)
		otlp_span_free(k->batch[i]);
	k->n = 0;
	k->batches++;
}

/* The exporter's share on the reader thread (encode at submit), then batches. */
static bool submit(void *ctx, struct span *s)
{
	struct sink *k = ctx;
	struct otlp_span *os = NULL;
	uint64_t t0 = cpu_ns();
	int err = otlp_span_encode(s, &os);

	k->encode_ns += cpu_ns() - t0;
	span_free(s);
	if (err)
		return false;
	k->spans++;
	k->batch[k->n++] = os;
	if (k->n == BATCH)
		flush(k);
	return true;
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct pipeline_opts o = { 0 };
	struct sink *k = calloc(1, sizeof(*k));
	uint64_t records = 0, t0, pipe_ns;
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap), *all = NULL;
	uint64_t limit = UINT64_MAX;
	int repeat = 1;
	FILE *f;

	if (argc < 2 || !k || !buf) {
		fprintf(stderr, "usage: replay FILE [--repeat N] [--limit RECORDS]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--repeat") == 0)
			repeat = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
		else if (strcmp(argv[i], "--limit") == 0)
			limit = strtoull(argv[i + 1], NULL, 10);
	}
	f = fopen(argv[1], "re");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* The whole recording in memory, so that reading it is not what we measure. */
	for (;;) {
		size_t n;

		if (len + (1 << 16) > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				return 1;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	fclose(f);
	all = buf;

	config_defaults(&cfg);
	o.cfg = &cfg;
	o.host_name = "replay";
	o.proc_root = "/nonexistent";	/* the recorded processes are gone: resources from comm */
	o.submit = submit;
	o.submit_ctx = k;
	t0 = cpu_ns();
	for (int r = 0; r < repeat; r++) {
		struct pipeline *p = pipeline_new(&o);
		size_t off = 0;
		uint64_t done = 0;

		if (!p)
			return 1;
		while (off + 4 <= len && done++ < limit) {
			uint32_t n;

			memcpy(&n, all + off, 4);
			off += 4;
			if (n > len - off)
				break;
			/* Records are 8-byte aligned in the ring: keep them so here. */
			uint8_t *rec = aligned_alloc(8, (n + 7) & ~7u);

			memcpy(rec, all + off, n);
			pipeline_record(p, rec, n);
			free(rec);
			off += n;
			records++;
		}
		pipeline_free(p);
	}
	flush(k);
	pipe_ns = cpu_ns() - t0 - k->encode_ns - k->frame_ns - k->gzip_ns;
	if (!k->spans) {
		printf("replay: %llu records, no spans\n", (unsigned long long)records);
		return 1;
	}
	printf("replay: %llu records, %llu spans (%.2f records a span), %llu batches\n",
	       (unsigned long long)records, (unsigned long long)k->spans,
	       (double)records / (double)k->spans, (unsigned long long)k->batches);
	printf("  pipeline (records -> spans): %.3f us a span\n", pipe_ns / 1e3 / k->spans);
	printf("  encode (at submit):          %.3f us a span\n", k->encode_ns / 1e3 / k->spans);
	printf("  frame:                       %.3f us a span\n", k->frame_ns / 1e3 / k->spans);
	printf("  gzip:                        %.3f us a span (%.1f %% of %.0f bytes a span)\n",
	       k->gzip_ns / 1e3 / k->spans, 100.0 * k->gz_bytes / (k->raw_bytes ? k->raw_bytes : 1),
	       (double)k->raw_bytes / k->spans);
	printf("  total:                       %.3f us a span\n",
	       (pipe_ns + k->encode_ns + k->frame_ns + k->gzip_ns) / 1e3 / k->spans);
	free(all);
	free(k);
	return 0;
}
