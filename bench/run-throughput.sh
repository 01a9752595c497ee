#!/usr/bin/env bash
# The checked mixed workload against Myriad and then Dovecot (same machine,
# same run, fsync=always on both) from 10, 100 and 1,000 clients. Prints
# one line per client count with both servers' commands/s and the ratio;
# each run's line and per-command breakdown go to $BENCH_DIR/throughput.txt.
# Environment: BENCH_DIR, IMAPD, IMAPBENCH, CLIENTS ("10 100 1000"),
# DURATION (20s), SERVERS ("myriad dovecot").
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/tmp/myriad-bench}
IMAPBENCH=${IMAPBENCH:-bin/imapbench}
CLIENTS=${CLIENTS:-10 100 1000}
DURATION=${DURATION:-20s}
SERVERS=${SERVERS:-myriad dovecot}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$BENCH_DIR"
"$IMAPBENCH" users -n 2000 > "$BENCH_DIR/users.PLAIN"
out=$BENCH_DIR/throughput.txt
echo "---- throughput $(date -u +%FT%TZ) clients=[$CLIENTS] duration=$DURATION load=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"
declare -A res
for s in $SERVERS; do
	case $s in
	myriad)
		dir=$BENCH_DIR/myriad-tp
		"$here/myriad.sh" start "$dir" "$BENCH_DIR/users.PLAIN" >/dev/null
		trap '"$here/myriad.sh" stop "$dir"' EXIT
		addr=127.0.0.1:${IMAP_PORT:-21143} ;;
	dovecot)
		dir=$BENCH_DIR/dovecot-tp
		"$here/dovecot.sh" start "$dir" "$BENCH_DIR/users.PLAIN" >/dev/null
		trap '"$here/dovecot.sh" stop "$dir"' EXIT
		addr=127.0.0.1:${IMAP_PORT:-22143} ;;
	esac
	for c in $CLIENTS; do
		line=$(timeout 900 "$IMAPBENCH" throughput -server "$s" -addr "$addr" -clients "$c" -duration "$DURATION" 2>>"$out.tmp")
		echo "$line" >> "$out"
		cat "$out.tmp" >> "$out"; rm -f "$out.tmp"
		res[$s,$c]=$line
	done
	case $s in
	myriad) "$here/myriad.sh" stop "$dir" ;;
	dovecot) "$here/dovecot.sh" stop "$dir" ;;
	esac
	trap - EXIT
done
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
for c in $CLIENTS; do
	m=${res[myriad,$c]:-}; d=${res[dovecot,$c]:-}
	mc=$(field cmds_per_s "$m"); dc=$(field cmds_per_s "$d")
	ratio=$(awk -v a="${mc:-0}" -v b="${dc:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
	echo "throughput: clients=$c myriad_cmds_per_s=${mc:-n/a} dovecot_cmds_per_s=${dc:-n/a} ratio=$ratio" \
		"myriad_p50_ms=$(field p50_ms "$m") myriad_p99_ms=$(field p99_ms "$m") dovecot_p50_ms=$(field p50_ms "$d") dovecot_p99_ms=$(field p99_ms "$d")" \
		"errors=$(field errors "$m")/$(field errors "$d")" | tee -a "$out"
done
