#!/usr/bin/env bash
# The checked mixed workload against Myriad and then Dovecot (same machine,
# same run, fsync=always on both) from 10, 100 and 1,000 clients, REPEAT
# times with the servers alternating. Prints one line per client count with
# both servers' median commands/s and the ratio of the medians; every run's
# line and per-command breakdown go to $BENCH_DIR/throughput.txt.
# Environment: BENCH_DIR, IMAPD, IMAPBENCH, CLIENTS ("10 100 1000"),
# DURATION (20s), REPEAT (1), SERVERS ("myriad dovecot").
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/tmp/myriad-bench}
IMAPBENCH=${IMAPBENCH:-bin/imapbench}
CLIENTS=${CLIENTS:-10 100 1000}
DURATION=${DURATION:-20s}
REPEAT=${REPEAT:-1}
SERVERS=${SERVERS:-myriad dovecot}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$BENCH_DIR"
"$IMAPBENCH" users -n 2000 > "$BENCH_DIR/users.PLAIN"
out=$BENCH_DIR/throughput.txt
echo "---- throughput $(date -u +%FT%TZ) clients=[$CLIENTS] duration=$DURATION repeat=$REPEAT load=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"
res=$(mktemp)
stopall() {
	"$here/myriad.sh" stop "$BENCH_DIR/myriad-tp" || true
	"$here/dovecot.sh" stop "$BENCH_DIR/dovecot-tp" || true
	rm -f "$res"
}
trap stopall EXIT
for rep in $(seq 1 "$REPEAT"); do
	for s in $SERVERS; do
		case $s in
		myriad)
			"$here/myriad.sh" start "$BENCH_DIR/myriad-tp" "$BENCH_DIR/users.PLAIN" >/dev/null
			addr=127.0.0.1:${IMAP_PORT:-21143} ;;
		dovecot)
			"$here/dovecot.sh" start "$BENCH_DIR/dovecot-tp" "$BENCH_DIR/users.PLAIN" >/dev/null
			addr=127.0.0.1:${DOVECOT_IMAP_PORT:-22143} ;;
		*) echo "run-throughput.sh: unknown server $s" >&2; exit 64 ;;
		esac
		for c in $CLIENTS; do
			line=$(timeout 900 "$IMAPBENCH" throughput -server "$s" -addr "$addr" -clients "$c" -duration "$DURATION" -seed "$rep" 2>"$res.err") || true
			{ echo "$line load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"; cat "$res.err"; } >> "$out"
			echo "$s $c $line" >> "$res"
		done
		case $s in
		myriad) "$here/myriad.sh" stop "$BENCH_DIR/myriad-tp" ;;
		dovecot) "$here/dovecot.sh" stop "$BENCH_DIR/dovecot-tp" ;;
		esac
	done
done
rm -f "$res.err"
# median of field F over the runs of server S with C clients
med() {
	awk -v s="$1" -v c="$2" -v f="$3" '$1 == s && $2 == c {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] + 0 } }' "$res" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sum() {
	awk -v s="$1" -v c="$2" -v f="$3" '$1 == s && $2 == c {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) t += kv[2] } } END { print t + 0 }' "$res"
}
for c in $CLIENTS; do
	mc=$(med myriad "$c" cmds_per_s); dc=$(med dovecot "$c" cmds_per_s)
	ratio=$(awk -v a="$mc" -v b="$dc" 'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f", a / b; else print "n/a" }')
	echo "throughput: clients=$c myriad_cmds_per_s=$mc dovecot_cmds_per_s=$dc ratio=$ratio" \
		"myriad_p50_ms=$(med myriad "$c" p50_ms) myriad_p99_ms=$(med myriad "$c" p99_ms)" \
		"dovecot_p50_ms=$(med dovecot "$c" p50_ms) dovecot_p99_ms=$(med dovecot "$c" p99_ms)" \
		"errors=$(sum myriad "$c" errors)/$(sum dovecot "$c" errors)" \
		"setup_failed=$(sum myriad "$c" setup_failed)/$(sum dovecot "$c" setup_failed) runs=$REPEAT" | tee -a "$out"
done
