#!/usr/bin/env bash
# Runs the benchmark matrix of BENCHMARKS.md: every configuration three times
# on the embedded store, each against a fresh hub that `switchboard bench`
# starts itself. Results go to docs/bench/results/<name>.<n>.json (the --json
# line) and .jsonl (the --timeline). Run it on an otherwise idle machine:
#
#   bash docs/bench/run.sh            # the matrix (~15 min on 2 cores)
#   bash docs/bench/run.sh sustained  # 3 x 100k inbound events (~3 min)
#   bash docs/bench/run.sh soak       # 30 min at 300 events/s (~31 min)
#   bash docs/bench/run.sh plots      # the PNGs from the timelines
#   bash docs/bench/run.sh postgres   # the PostgreSQL matrix, one node (~6 min)
#   bash docs/bench/run.sh two-nodes  # two hubs on one database, 3 runs (~3 min)
#
# The PostgreSQL modes use a fresh database for every run: BENCH_DATABASE_URL
# (default sbbench on the local server), created and dropped through
# PGADMIN (default the local server's postgres database).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/bench/results
mkdir -p "$out"
bin=$(mktemp -d)/switchboard
go build -o "$bin" ./cmd/switchboard

pgadmin=${PGADMIN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
dburl=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sbbench?sslmode=disable}
dbname=$(basename "${dburl%%\?*}")
fresh_db() { # a new, empty database for each run
	PGOPTIONS=--client-min-messages=warning psql "$pgadmin" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" -c "CREATE DATABASE $dbname" >/dev/null
}

run() { # name, then bench flags
	local name=$1
	shift
	for n in 1 2 3; do
		"$bin" bench --json --timeline "$out/$name.$n.jsonl" "$@" | tail -n 1 >"$out/$name.$n.json"
		echo "$name.$n: $(cat "$out/$name.$n.json")"
	done
}

run_pg() { # like run, each run on a fresh database
	local name=$1
	shift
	for n in 1 2 3; do
		fresh_db
		"$bin" bench --json --timeline "$out/$name.$n.jsonl" --database-url "$dburl" "$@" | tail -n 1 >"$out/$name.$n.json"
		echo "$name.$n: $(cat "$out/$name.$n.json")"
	done
	psql "$pgadmin" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null
}

# two_nodes starts two hubs on one fresh database and loads both at once, a
# bench per node (each with its own consumer, subscription and receiver):
# their delivered/s add up to the pair's.
two_nodes() {
	local n=$1 dir pids=() port
	dir=$(mktemp -d)
	fresh_db
	export SWITCHBOARD_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	export SWITCHBOARD_API_KEY=bench-two-nodes-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for port in 18181 18182; do
		"$bin" serve --addr 127.0.0.1:$port --data-dir "$dir/$port" --database-url "$dburl" \
			--allow-private-destinations --log-level warn >"$dir/$port.log" 2>&1 &
		pids+=($!)
	done
	for port in 18181 18182; do
		until curl -sf http://127.0.0.1:$port/readyz >/dev/null; do sleep 0.2; done
	done
	"$bin" bench --json --target http://127.0.0.1:18181 --api-key "$SWITCHBOARD_API_KEY" "${@:2}" | tail -n 1 >"$out/two-nodes.$n.a.json" &
	local a=$!
	"$bin" bench --json --target http://127.0.0.1:18182 --api-key "$SWITCHBOARD_API_KEY" "${@:2}" | tail -n 1 >"$out/two-nodes.$n.b.json"
	wait $a
	kill "${pids[@]}"
	wait "${pids[@]}" || true
	echo "two-nodes.$n: $(cat "$out/two-nodes.$n.a.json") $(cat "$out/two-nodes.$n.b.json")"
}

case "${1:-matrix}" in
matrix)
	run inbound-f1 --mode inbound --events 20000
	run publish-f1 --mode publish --events 20000
	run publish-f10 --mode publish --fanout 10 --events 5000
	run inbound-f10 --mode inbound --fanout 10 --events 5000
	run ingest-only --mode inbound --ingest-only --events 20000
	run latency-100 --mode publish --rate 100 --events 3000
	run latency-100-inbound --mode inbound --rate 100 --events 3000
	;;
sustained)
	run sustained-100k --mode inbound --events 100000
	;;
soak)
	"$bin" bench --json --timeline "$out/soak-300.jsonl" --mode inbound --rate 300 --events 540000 |
		tail -n 1 >"$out/soak-300.json"
	cat "$out/soak-300.json"
	;;
postgres)
	run_pg pg-publish-f1 --mode publish --events 20000
	run_pg pg-inbound-f1 --mode inbound --events 20000
	run_pg pg-publish-f10 --mode publish --fanout 10 --events 5000
	run_pg pg-latency-100 --mode publish --rate 100 --events 3000
	run_pg pg-sustained-100k --mode publish --events 100000
	;;
two-nodes)
	for n in 1 2 3; do
		two_nodes $n --mode publish --events 20000
	done
	psql "$pgadmin" -qc "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null
	;;
plots)
	go run ./cmd/benchplot -o docs/bench/sustained-100k.png -title "100,000 signed dVersum webhooks, fan-out 1, as fast as possible" \
		run1="$out/sustained-100k.1.jsonl" run2="$out/sustained-100k.2.jsonl" run3="$out/sustained-100k.3.jsonl"
	go run ./cmd/benchplot -o docs/bench/soak-300.png -title "30 minutes at 300 inbound events/s, fan-out 1" \
		soak="$out/soak-300.jsonl"
	go run ./cmd/benchplot -o docs/bench/latency-100.png -title "100 events/s, fan-out 1" \
		publish="$out/latency-100.1.jsonl" inbound="$out/latency-100-inbound.1.jsonl"
	go run ./cmd/benchplot -o docs/bench/pg-sustained-100k.png -title "PostgreSQL: 100,000 published events, fan-out 1, as fast as possible" \
		run1="$out/pg-sustained-100k.1.jsonl" run2="$out/pg-sustained-100k.2.jsonl" run3="$out/pg-sustained-100k.3.jsonl"
	;;
*)
	echo "usage: $0 [matrix|sustained|soak|plots|postgres|two-nodes]" >&2
	exit 2
	;;
esac
