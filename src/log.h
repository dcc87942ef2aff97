/*
 * Logging for the server and the commands.  Lines go to stderr (or the
 * --log-file), each prefixed with a timestamp and level; into the journal
 * (stderr is $JOURNAL_STREAM), with the level's syslog priority ("<4>")
 * instead of the timestamp.  The macros test the
 * level before formatting anything.  Thread-safe: one write(2) per line.
 */
#ifndef PS_LOG_H
#define PS_LOG_H

enum ps_log_level {
	PS_LOG_ERROR = 0,
	PS_LOG_WARN,
	PS_LOG_INFO,
	PS_LOG_DEBUG
};

extern int	ps_log_level;

void	ps_log_set_level(int);
/* Sends lines to path (append) instead of stderr; NULL for stderr. */
int	ps_log_open(const char *path);
/* Reopens the log file (SIGHUP); a no-op when logging to stderr. */
int	ps_log_reopen(void);
/* Stops writing anywhere (the console owns the terminal). */
void	ps_log_quiet(void);
void	ps_log_write(int, const char *, ...)
	    __attribute__((__format__(__printf__, 2, 3)));
/* libwebsockets' log sink, for lws_set_log_level(mask, ps_log_lws_emit). */
void	ps_log_lws_emit(int, const char *);
/* Logs and exits 1; fatal() appends strerror(errno), fatalx() does not. */
void	fatal(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __noreturn__));
void	fatalx(const char *, ...)
	    __attribute__((__format__(__printf__, 1, 2), __noreturn__));

#define ps_log_at(lvl, ...) do {					\
	if (ps_log_level >= (lvl))					\
		ps_log_write((lvl), __VA_ARGS__);			\
} while (0)
#define ps_log_error(...)	ps_log_at(PS_LOG_ERROR, __VA_ARGS__)
#define ps_log_warn(...)	ps_log_at(PS_LOG_WARN, __VA_ARGS__)
#define ps_log_info(...)	ps_log_at(PS_LOG_INFO, __VA_ARGS__)
#define ps_log_debug(...)	ps_log_at(PS_LOG_DEBUG, __VA_ARGS__)

#endif
