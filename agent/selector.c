// SPDX-License-Identifier: Apache-2.0
#include "selector.h"

bool selector_active(const struct config *cfg)
{
	return cfg->nports > 0 || cfg->nprocesses > 0;
}

struct selection selector_decide(const struct config *cfg, const char *exe, bool listens)
{
	struct selection s;

	s.excluded = config_process_excluded(cfg, exe);
	s.proc_ok = config_process_selected(cfg, exe);
	s.traced = s.proc_ok && (cfg->nports == 0 || listens);
	return s;
}
