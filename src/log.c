#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"

int			 ps_log_level = PS_LOG_INFO;
static int		 log_fd = STDERR_FILENO;
static char		*log_path;
static pthread_mutex_t	 log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Whether stderr is the journal's stream: -1 not known yet. */
static int		 log_journal = -1;

static const char *const log_names[] = { "error", "warn", "info", "debug" };
/* The syslog priorities of the levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const char *const log_prio[] = { "<3>", "<4>", "<6>", "<7>" };

/*
 * 1 when stderr is the stream systemd connected to the journal:
 * $JOURNAL_STREAM is "DEVICE:INODE" and names stderr's (sd-daemon(3),
 * systemd.exec(5)).  A child whose stderr was redirected elsewhere
 * inherits the variable but not the stream, hence the fstat().
 */
static int
log_is_journal(void)
{
	const char	*v = getenv("JOURNAL_STREAM");
	struct stat	 sb;
	uintmax_t	 dev, ino;
	char		*end;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	dev = strtoumax(v, &end, 10);
	if (errno != 0 || end == v || *end != ':')
		return 0;
	v = end + 1;
	ino = strtoumax(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &sb) == -1)
		return 0;
	return (uintmax_t)sb.st_dev == dev && (uintmax_t)sb.st_ino == ino;
}

void
ps_log_set_level(int level)
{
	ps_log_level = level;
}

int
ps_log_open(const char *path)
{
	int	fd;

	if (path == NULL) {
		pthread_mutex_lock(&log_lock);
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		log_journal = -1;
		free(log_path);
		log_path = NULL;
		pthread_mutex_unlock(&log_lock);
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int
ps_log_reopen(void)
{
	char	*path;
	int	 r;

	if (log_path == NULL)
		return 0;
	path = strdup(log_path);
	r = path != NULL ? ps_log_open(path) : -1;
	free(path);
	return r;
}

void
ps_log_quiet(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = -1;
	pthread_mutex_unlock(&log_lock);
}

static void	log_vwrite(int, const char *, va_list, const char *)
		    __attribute__((__format__(__printf__, 2, 0)));

/*
 * Writes one line.  The message is escaped (ps_utf8_escape()): it quotes
 * what peers sent (tensor and worker names, reasons, lws's lines), and a
 * control character in it must neither reach a terminal nor start a
 * forged line.  Into the journal, the line starts with the level's
 * syslog priority ("<4>") and has no timestamp: the journal keeps both.
 */
static void
log_vwrite(int level, const char *fmt, va_list ap, const char *suffix)
{
	char		line[2048], msg[2048], stamp[32];
	struct timespec	ts;
	struct tm	tm;
	size_t		n, m;
	int		k, journal;

	if (level < 0)
		level = 0;
	if (level > PS_LOG_DEBUG)
		level = PS_LOG_DEBUG;
	pthread_mutex_lock(&log_lock);
	if (log_fd == STDERR_FILENO && log_journal == -1)
		log_journal = log_is_journal();
	journal = log_fd == STDERR_FILENO && log_journal == 1;
	pthread_mutex_unlock(&log_lock);
	if (journal)
		k = snprintf(line, sizeof line, "%s%s: ", log_prio[level],
		    log_names[level]);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		k = snprintf(line, sizeof line, "%s.%03ldZ psctl %s: ", stamp,
		    ts.tv_nsec / 1000000, log_names[level]);
	}
	n = k > 0 ? (size_t)k : 0;
	k = vsnprintf(msg, sizeof msg, fmt, ap);
	m = k > 0 ? (size_t)k : 0;
	if (m > sizeof msg - 1)
		m = sizeof msg - 1;
	if (suffix != NULL) {
		k = snprintf(msg + m, sizeof msg - m, ": %s", suffix);
		if (k > 0)
			m += (size_t)k;
		if (m > sizeof msg - 1)
			m = sizeof msg - 1;
	}
	while (m > 0 && msg[m - 1] == '\n')
		m--;
	msg[m] = '\0';
	n += ps_utf8_escape(msg, line + n, sizeof line - n);
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	pthread_mutex_lock(&log_lock);
	if (log_fd != -1 && write(log_fd, line, n) == -1) {
		/* Nowhere left to report it. */
	}
	pthread_mutex_unlock(&log_lock);
}

void
ps_log_write(int level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap, NULL);
	va_end(ap);
}

void
ps_log_lws_emit(int level, const char *line)
{
	/* lws levels: 1 err, 2 warn, 4 notice, 8 info, ... */
	ps_log_write(level == 1 ? PS_LOG_ERROR : level == 2 ? PS_LOG_WARN :
	    PS_LOG_DEBUG, "lws: %s", line);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(PS_LOG_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(PS_LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
