#!/bin/bash
# Server memory and push bandwidth against the number of workers (issue
# 10's table), in one run; not part of make check, and no figure is
# judged: it prints the table.
#
#   tests/bench/mem-scale.sh [PATH-TO-psctl]
#
# Pinned as tests/bench/run.sh is: the server on core 0, the clients on
# core 1 (taskset).  Each row is a fresh server with default flags (plus
# what the row says); its peak RSS is VmHWM from /proc when the run ends.
#
#   push 1/16/64    N workers pushing the whole model for BENCH_SECONDS:
#                   aggregate push MiB/s, peak RSS against 2x model + 64 MiB.
#                   ROUNDS rounds, each running every row once, in an
#                   order that turns by one row each round; a row shows
#                   its median MiB/s (and each round's), the highest peak
#                   RSS of its rounds, and its median against the first
#                   row's; and, for each round, the per cent of the two
#                   pinned CPUs' time the hypervisor gave to other guests
#                   (steal, /proc/stat), which tells a round the host
#                   slowed from one the code did.  One 5 s figure on
#                   this shared machine moves by 20 % from run to run,
#                   and host load drifts over a script's minutes: rounds
#                   spread that drift over every row instead of handing
#                   it to the last, and with five of them two slow
#                   rounds of a row do not move its median.
#   pull 64 + ckpt  PULLERS workers pulling while --checkpoint-every 2 writes
#   push 400        MANY workers pushing the whole model for 3 x
#                   BENCH_SECONDS, once: peak RSS, aggregate push MiB/s, the
#                   pushes that failed (libpsctl times out after 30 s), the
#                   kernel's peak TCP memory (/proc/net/sockstat, the
#                   whole host's) against its pressure threshold
#                   (tcp_mem), and the segments it dropped for want of it
#                   (/proc/net/netstat), and the steal (many_row)
#   idle            IDLE connections (HELLO, then nothing): KiB each, how
#                   many were held, and p50/p99 of 50 pulls and of 50
#                   /livez meanwhile and before they came (idle_row)
#
# Environment: PSCTL (else $1, else ./src/psctl), PARAMS (10000000),
# BENCH_SECONDS (5), WORKERS ("1 16 64"; "" skips those rows), ROUNDS
# (5), PULLERS (64; 0 skips the row), MANY (400; 0 skips the row), IDLE
# (10000; 0 skips the row),
# SERVER_CPU (0), CLIENT_CPU (1).  Small sizes check that the script runs:
#   PARAMS=100000 BENCH_SECONDS=1 WORKERS="1 4" PULLERS=4 MANY=20 IDLE=200 \
#       tests/bench/mem-scale.sh
# The idle row alone: WORKERS= PULLERS=0 tests/bench/mem-scale.sh

set -u

params=${PARAMS:-10000000}
secs=${BENCH_SECONDS:-5}
rounds=${ROUNDS:-5}
workers=${WORKERS-1 16 64}
idle=${IDLE:-10000}
pullers=${PULLERS:-64}
many=${MANY:-400}
scpu=${SERVER_CPU:-0}
ccpu=${CLIENT_CPU:-1}
py=/usr/bin/python3
psctl=${1:-${PSCTL:-}}
if [ -z "$psctl" ]; then
	if [ -x ./src/psctl ]; then
		psctl=./src/psctl
	else
		psctl=$(command -v psctl) || { echo "mem-scale.sh: no psctl" >&2; exit 2; }
	fi
fi
psctl=$(readlink -f "$psctl")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/median.sh"

for t in taskset "$py"; do
	command -v "$t" >/dev/null || { echo "mem-scale.sh: $t is needed" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psctl-memscale.XXXXXX") || exit 2
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Starts a pinned server with ARGS; sets spid, slog, surl and shttp.
serve() {
	local log=$tmp/serve.$RANDOM.log i port=
	taskset -c "$scpu" "$psctl" serve --listen 127.0.0.1:0 -q "$@" \
	    >"$log" 2>&1 &
	spid=$!
	slog=$log
	pids+=("$spid")
	for i in $(seq 100); do
		port=$(grep -o '127\.0\.0\.1:[0-9][0-9]*' "$log" |
		    grep -v ':0$' | head -n 1 | sed 's/.*://')
		[ -n "$port" ] && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "mem-scale.sh: psctl serve did not start:" >&2
		cat "$log" >&2
		exit 2
	fi
	surl=ws://127.0.0.1:$port
	shttp=http://127.0.0.1:$port
}

# Peak RSS of the server, MB; then stops it.
stop() {
	local hwm p keep=()
	hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1000 }' "/proc/$spid/status")
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	for p in "${pids[@]}"; do
		[ "$p" != "$spid" ] && keep+=("$p")
	done
	pids=("${keep[@]}")
	echo "$hwm"
}

# A pinned psctl bench against the server; its JSON on stdout.
bench() {
	taskset -c "$ccpu" "$psctl" bench --connect "$surl" --params "$params" \
	    --seconds "$secs" --json "$@" 2>"$tmp/bench.err" ||
	    { echo "mem-scale.sh: psctl bench $* failed:" >&2;
	      cat "$tmp/bench.err" >&2; exit 2; }
}

jget() {
	"$py" -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print(0 if v is None else v)' "$1" "$2"
}

model_mb=$(awk -v p="$params" 'BEGIN { printf "%.1f", p * 4 / 1e6 }')
target=$(awk -v p="$params" 'BEGIN { printf "%.0f", (2 * p * 4 + 64 * 1048576) / 1e6 }')
echo "# $("$psctl" --version), $(nproc) cpus, server on cpu $scpu," \
    "clients on cpu $ccpu, $params parameters ($model_mb MB), runs of" \
    "$secs s, push rows in $rounds rounds"
echo "# peak RSS target: 2 x model + 64 MiB = $target MB"
printf '%-28s %14s %16s\n' "scenario" "peak RSS (MB)" "push (MiB/s)"

# Ticks of the two pinned CPUs from /proc/stat, summed: "steal total".
# The hypervisor's steal is time our vCPUs wanted and another guest got:
# on a shared host it is what moves a figure most.
cpu_ticks() {
	awk -v a="cpu$scpu" -v b="cpu$ccpu" '$1 == a || $1 == b {
	    for (i = 2; i <= 9; i++) t += $i; s += $9 }
	    END { print s + 0, t + 0 }' /proc/stat
}

# The per cent of the pinned CPUs' time stolen since cpu_ticks said
# "$1 $2".
stolen() {
	local s t
	read -r s t < <(cpu_ticks)
	awk -v s=$((s - $1)) -v t=$((t - $2)) \
	    'BEGIN { printf "%.0f", (t > 0 ? 100 * s / t : 0) }'
}

# Segments the kernel dropped for want of memory, summed over the host
# since it booted: TcpExt RcvPruned, TCPRcvQDrop, TCPOFODrop, OFOPruned.
drops() {
	awk '/^TcpExt:/ { if (!n) { for (i = 2; i <= NF; i++) k[i] = $i;
	    n = 1; next }
	    for (i = 2; i <= NF; i++)
		if (k[i] ~ /^(RcvPruned|TCPRcvQDrop|TCPOFODrop|OFOPruned)$/)
			s += $i }
	    END { print s + 0 }' /proc/net/netstat
}

# The push rows: every row once per round, the order turned by one row
# each round; each row's figures are kept in $tmp/row.N (MiB/s, the per
# cent of the pinned CPUs' time stolen meanwhile and peak RSS, a line per
# round).
push_rows() {
	local rows=($workers) r i k n j s0 t0
	k=${#rows[@]}
	for ((r = 0; r < rounds; r++)); do
		for ((i = 0; i < k; i++)); do
			n=${rows[$(((i + r) % k))]}
			serve
			read -r s0 t0 < <(cpu_ticks)
			j=$(bench --workers "$n" --op push) || exit 2
			echo "$(jget "$j" push_mib_per_s) $(stolen "$s0" "$t0")" \
			    "$(stop)" >>"$tmp/row.$n"
		done
	done
}

if [ -n "$workers" ] && [ "$rounds" -gt 0 ]; then
	push_rows
	first=
	for n in $workers; do
		med=$(median $(cut -d' ' -f1 "$tmp/row.$n"))
		hwm=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$tmp/row.$n")
		each=$(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $1 }' \
		    "$tmp/row.$n")
		steal=$(awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }' \
		    "$tmp/row.$n")
		[ -z "$first" ] && first=$med
		printf '%-28s %14s %16s   %5.2fx the first row (rounds: %s; %% stolen: %s)\n' \
		    "push, $n workers" "$hwm" "$med" \
		    "$(awk -v a="$med" -v b="$first" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
		    "$each" "$steal"
	done
fi

if [ "$pullers" -gt 0 ]; then
	ck=$tmp/ckpt
	mkdir -p "$ck"
	serve --checkpoint-dir "$ck" --checkpoint-every 2
	j=$(bench --workers "$pullers" --op pull) || exit 2
	printf '%-28s %14s %16s\n' "pull, $pullers workers + ckpt" "$(stop)" \
	    "(pull $(jget "$j" pull_mib_per_s | cut -d. -f1) MiB/s)"
fi

# The many row: MANY workers pushing at once.  Each waits for the receive
# budget with what it has sent queued in the kernel, which is what the
# row measures: the host's TCP memory at its peak and the segments the
# kernel dropped meanwhile (drops).  The pushes that time out are
# counted, not fatal: psctl bench exits non-zero for them.  The peak RSS
# has no target here; it shows the receive budget holding.
many_row() {
	local j peak=0 m d0 d1 bp hwm s0 t0 steal pg
	serve
	d0=$(drops)
	read -r s0 t0 < <(cpu_ticks)
	taskset -c "$ccpu" "$psctl" bench --connect "$surl" --params "$params" \
	    --seconds $((3 * secs)) --json --workers "$many" --op push \
	    >"$tmp/many.json" 2>"$tmp/bench.err" &
	bp=$!
	while kill -0 "$bp" 2>/dev/null; do
		m=$(awk '/^TCP:/ { print $NF }' /proc/net/sockstat)
		[ "${m:-0}" -gt "$peak" ] && peak=$m
		sleep 0.5
	done
	wait "$bp"
	steal=$(stolen "$s0" "$t0")
	d1=$(drops)
	hwm=$(stop)
	j=$(cat "$tmp/many.json")
	if [ -z "$j" ]; then
		echo "mem-scale.sh: psctl bench --workers $many failed:" >&2
		cat "$tmp/bench.err" >&2
		exit 2
	fi
	# Both figures are in pages: sockstat's peak, tcp_mem's threshold.
	pg=$(getconf PAGESIZE)
	printf '%-28s %14s %16s   (%s pushes failed; kernel TCP memory peak %s MB, pressure at %s MB; %s segments dropped; %% stolen: %s)\n' \
	    "push, $many workers" "$hwm" "$(jget "$j" push_mib_per_s | cut -d. -f1)" \
	    "$(jget "$j" errors)" "$((peak * pg / 1000000))" \
	    "$(($(awk '{ print $2 }' /proc/sys/net/ipv4/tcp_mem) * pg / 1000000))" \
	    "$((d1 - d0))" "$steal"
}

if [ "$many" -gt 0 ]; then
	many_row
fi

# The idle row: IDLE worker connections (HELLO, then nothing) held by one
# client process while another connection of it pulls the whole model and
# /livez is asked, 50 times each, before and while they are held.  A pull
# is timed in the client, from the request sent to the reply's last byte
# (and to its first), not as a psctl process.  Server and client get
# ulimit -n IDLE + 1024 (the hard limit must allow it), and the server
# --worker-timeout 0: opening ten thousand connections can take longer
# than the default 60 s, after which the first would be closed as silent.
idle_row() {
	local r hwm
	ulimit -n $((idle + 1024)) 2>/dev/null ||
	    echo "# ulimit -n $((idle + 1024)) refused: the idle row may fail" >&2
	serve --worker-timeout 0
	# The model first, so that idle workers hold what a real one would.
	taskset -c "$ccpu" "$psctl" bench --connect "$surl" --params "$params" \
	    --seconds 1 --op push >/dev/null 2>&1
	r=$(taskset -c "$ccpu" "$py" - "$surl" "$spid" "$idle" "$here/../" <<'EOF'
import http.client, os, socket, struct, sys, time
url, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
import psproto as P

host, port = url[5:].split(":")
port = int(port)


def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def frame(b):
    """A masked binary frame (all-zero key) carrying b."""
    if len(b) < 126:
        h = bytes([0x82, 0x80 | len(b)])
    else:
        h = struct.pack("!BBH", 0x82, 0x80 | 126, len(b))
    return h + b"\0\0\0\0" + b


def connect():
    """A raw psctl.worker.v1 connection whose HELLO is sent."""
    s = socket.create_connection((host, port))
    s.sendall(("GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: "
               "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n" % (host, port,
                                                        P.PROTOCOL)
               ).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    s.sendall(frame(P.encode(P.HELLO, id=1, text="idle")))
    return s


def recv_exact(s, n, buf):
    view = memoryview(buf)
    while n > 0:
        k = s.recv_into(view[:min(n, len(buf))])
        if k == 0:
            raise EOFError("the server closed")
        n -= k


def read_message(s, buf):
    """Reads one whole message, its frames skipped over; returns the
    time its first byte came."""
    first = None
    while True:
        recv_exact(s, 2, buf)
        if first is None:
            first = time.monotonic()
        fin, ln = buf[0] & 0x80, buf[1] & 0x7f
        if ln == 126:
            recv_exact(s, 2, buf)
            ln = struct.unpack("!H", bytes(buf[:2]))[0]
        elif ln == 127:
            recv_exact(s, 8, buf)
            ln = struct.unpack("!Q", bytes(buf[:8]))[0]
        recv_exact(s, ln, buf)
        if fin:
            return first


buf = bytearray(1 << 20)
puller = connect()
read_message(puller, buf)       # the HELLO's reply
SAMPLES = 50


def pct(xs, p):
    """The p-th percentile of xs (nearest rank), in ms."""
    xs = sorted(xs)
    return xs[max(0, -(-len(xs) * p // 100) - 1)] * 1000


def timings():
    """p50 and p99 of SAMPLES pulls (whole, first byte) and /livez, ms."""
    pull, first, livez = [], [], []
    for i in range(SAMPLES):
        t = time.monotonic()
        puller.sendall(frame(P.encode(P.PULL, id=2 + i)))
        f = read_message(puller, buf)
        pull.append(time.monotonic() - t)
        first.append(f - t)
        t = time.monotonic()
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", "/livez")
        c.getresponse().read()
        c.close()
        livez.append(time.monotonic() - t)
    return "%.1f/%.1f %.1f/%.1f %.1f/%.1f" % (
        pct(pull, 50), pct(pull, 99), pct(first, 50), pct(first, 99),
        pct(livez, 50), pct(livez, 99))


base = timings()
before = rss()
t0 = time.monotonic()
socks = [connect() for i in range(n)]
opened = time.monotonic() - t0
held = 0
for s in socks:         # each HELLO answered, and the connection open
    if s.recv(65536):
        held += 1
per = (rss() - before) / n
fds = len(os.listdir("/proc/%d/fd" % pid))
try:
    during = timings()
except OSError as e:    # say what was measured, and why not the rest
    print("idle row: the pull connection: %r" % e, file=sys.stderr)
    during = "? ? ?"
print("%.1f %d %d %.0f %s %s" % (per, held, fds, opened, during, base))
EOF
)
	# -q: the log holds only warnings and errors.
	if grep -v 'listening on' "$slog" | grep -q .; then
		echo "# the server's log, last lines:" >&2
		grep -v 'listening on' "$slog" | tail -n 5 | sed 's/^/#   /' >&2
	fi
	hwm=$(stop)
	set -- $r
	printf '%-28s %14s %16s\n' "idle, $idle connections" "$hwm" \
	    "${1:-?} KiB each"
	echo "# ${2:-?} of $idle answered and open after ${4:-?} s of" \
	    "opening; the server held ${3:-?} descriptors"
	echo "# p50/p99 of 50 each, in ms, while they were held:" \
	    "whole-model pull ${5:-?}, its first byte ${6:-?}, /livez ${7:-?}"
	echo "#   before they came: pull ${8:-?}, first byte ${9:-?}," \
	    "/livez ${10:-?}"
}

if [ "$idle" -gt 0 ]; then
	idle_row
fi
