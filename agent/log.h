/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - one event a line on stderr: "2026-11-22T10:00:00.123Z level=info msg".
 * Arguments are not evaluated below the active level.
 */
#ifndef SPANBPF_LOG_H
#define SPANBPF_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

extern int log_level_active;

void log_set_level(int level);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int level);
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(level, ...)                                                                          \
	do {                                                                                        \
		if ((level) <= log_level_active)                                                    \
			log_write((level), __VA_ARGS__);                                            \
	} while (0)

#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* SPANBPF_LOG_H */
