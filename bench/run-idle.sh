#!/usr/bin/env bash
# One idle-sessions run: start the server, hold N idle sessions, measure,
# deliver, stop the server. Prints the one "idle:" line on stdout; the full
# report goes to stderr and is appended to $BENCH_DIR/idle.txt.
#
#   bench/run-idle.sh SERVER N TLS [USERS]
#   SERVER: myriad | dovecot | dovecot-hibernate; TLS: 0 | 1; USERS: mailboxes (200)
# Environment: BENCH_DIR (/tmp/myriad-bench), IMAPBENCH, IMAPD, SCHEME
# (PLAIN | BLF-CRYPT), RATE (offered setups/s), SETTLE, ROUNDS, EXTRA
# (more imapbench idle flags).
set -euo pipefail
server=${1:?SERVER}; n=${2:?N}; tlsmode=${3:-0}; users=${4:-200}
BENCH_DIR=${BENCH_DIR:-/tmp/myriad-bench}
IMAPBENCH=${IMAPBENCH:-bin/imapbench}
SCHEME=${SCHEME:-PLAIN}
RATE=${RATE:-1000}
ROUNDS=${ROUNDS:-5}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$BENCH_DIR"
"$IMAPBENCH" users -n 1000 -scheme "$SCHEME" > "$BENCH_DIR/users.$SCHEME"
settle=${SETTLE:-5s}
gap=1s
metrics=()
case "$server" in
myriad)
	dir=$BENCH_DIR/myriad
	"$here/myriad.sh" start "$dir" "$BENCH_DIR/users.$SCHEME" >/dev/null
	trap '"$here/myriad.sh" stop "$dir"' EXIT
	pidargs=(-pidfile "$dir/pid")
	addr=127.0.0.1:${IMAP_PORT:-21143}; [ "$tlsmode" = 1 ] && addr=127.0.0.1:${IMAPS_PORT:-21993}
	lmtp=127.0.0.1:${LMTP_PORT:-21024}
	metrics=(-metrics "http://127.0.0.1:${METRICS_PORT:-21090}/metrics")
	;;
dovecot|dovecot-hibernate)
	dir=$BENCH_DIR/$server
	mode=standard
	if [ "$server" = dovecot-hibernate ]; then
		mode=hibernate
		# Measure after every session has hibernated, and let each
		# woken session hibernate again before the next delivery.
		settle=${SETTLE:-20s}; gap=8s
	fi
	"$here/dovecot.sh" start "$dir" "$BENCH_DIR/users.$SCHEME" $mode >/dev/null
	trap '"$here/dovecot.sh" stop "$dir"' EXIT
	pidargs=(-pidfile "$dir/run/master.pid")
	addr=127.0.0.1:${IMAP_PORT:-22143}; [ "$tlsmode" = 1 ] && addr=127.0.0.1:${IMAPS_PORT:-22993}
	lmtp=127.0.0.1:${LMTP_PORT:-22024}
	;;
*) echo "run-idle.sh: SERVER is myriad, dovecot or dovecot-hibernate" >&2; exit 64 ;;
esac
tlsflag=-tls=false; [ "$tlsmode" = 1 ] && tlsflag=-tls=true
timeout 4200 "$IMAPBENCH" idle -server "$server" "${pidargs[@]}" -addr "$addr" $tlsflag -lmtp "$lmtp" \
	"${metrics[@]}" -n "$n" -users "$users" -rate "$RATE" -settle "$settle" -gap "$gap" -rounds "$ROUNDS" \
	-detail "$BENCH_DIR/idle.txt" ${EXTRA:-} 2>>"$BENCH_DIR/idle.log"
