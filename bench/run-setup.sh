#!/usr/bin/env bash
# Session setup rate (connect, LOGIN, SELECT INBOX, IDLE) at a bounded
# offered rate, for PLAIN and bcrypt (BLF-CRYPT) users, with the servers'
# credential caches cold (no login before) and warm (every user logged in
# once before). N sessions over N users, so no login is cached by another
# session of the same run. Prints one "setup:" line per case.
# Environment: BENCH_DIR, IMAPD, IMAPBENCH, N (1000), SERVERS, SCHEMES,
# RATE_PLAIN (500), RATE_BCRYPT (100).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/tmp/myriad-bench}
N=${N:-1000}
SERVERS=${SERVERS:-myriad dovecot}
SCHEMES=${SCHEMES:-PLAIN BLF-CRYPT}
here=$(cd "$(dirname "$0")" && pwd)
for s in $SERVERS; do
	for scheme in $SCHEMES; do
		rate=${RATE_PLAIN:-500}; [ "$scheme" = BLF-CRYPT ] && rate=${RATE_BCRYPT:-100}
		for cache in cold warm; do
			warm=false; [ $cache = warm ] && warm=true
			SCHEME=$scheme RATE=$rate ROUNDS=0 SETTLE=1s EXTRA="-warm=$warm" \
				"$here/run-idle.sh" "$s" "$N" 0 "$N" >/dev/null
			line=$(grep '^setup:' "$BENCH_DIR/idle.txt" | tail -1)
			echo "setup: server=$s scheme=$scheme cache=$cache n=$N ${line#setup: }" | tee -a "$BENCH_DIR/setup.txt"
		done
	done
done
