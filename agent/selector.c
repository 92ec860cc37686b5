// SPDX-License-Identifier: Apache-2.0
#include "selector.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool glob_any(const char (*pats)[CONFIG_GLOB_MAX], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(pats[i], name, 0) == 0)
			return true;
	return false;
}

bool selector_active(const struct config *cfg)
{
	return cfg->nports > 0 || cfg->nprocesses > 0;
}

struct selection selector_decide(const struct config *cfg, const char *exe, bool listens)
{
	struct selection s = { 0 };

	if (!exe)
		exe = "";
	s.excluded = glob_any(cfg->exclude_processes, cfg->nexclude_processes, exe);
	s.proc_ok = !s.excluded && (cfg->nprocesses == 0 ||
				    glob_any(cfg->processes, cfg->nprocesses, exe));
	s.traced = s.proc_ok && (cfg->nports == 0 || listens);
	return s;
}

int selector_exe_name(const char *proc_root, uint32_t tgid, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base, *del = " (deleted)";
	ssize_t n;
	FILE *f;

	if (!len)
		return -1;
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, tgid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		size_t dl = strlen(del);

		target[n] = '\0';
		if ((size_t)n > dl && strcmp(target + n - dl, del) == 0)
			target[n - dl] = '\0';
		base = strrchr(target, '/');
		snprintf(buf, len, "%s", base ? base + 1 : target);
		return 0;
	}
	/* Kernel threads and processes we may not read: the task name. */
	snprintf(path, sizeof(path), "%s/%u/comm", proc_root, tgid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
