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
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/bench/results
mkdir -p "$out"
bin=$(mktemp -d)/switchboard
go build -o "$bin" ./cmd/switchboard

run() { # name, then bench flags
	local name=$1
	shift
	for n in 1 2 3; do
		"$bin" bench --json --timeline "$out/$name.$n.jsonl" "$@" | tail -n 1 >"$out/$name.$n.json"
		echo "$name.$n: $(cat "$out/$name.$n.json")"
	done
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
plots)
	go run ./cmd/benchplot -o docs/bench/sustained-100k.png -title "100,000 signed dVersum webhooks, fan-out 1, as fast as possible" \
		run1="$out/sustained-100k.1.jsonl" run2="$out/sustained-100k.2.jsonl" run3="$out/sustained-100k.3.jsonl"
	go run ./cmd/benchplot -o docs/bench/soak-300.png -title "30 minutes at 300 inbound events/s, fan-out 1" \
		soak="$out/soak-300.jsonl"
	go run ./cmd/benchplot -o docs/bench/latency-100.png -title "100 events/s, fan-out 1" \
		publish="$out/latency-100.1.jsonl" inbound="$out/latency-100-inbound.1.jsonl"
	;;
*)
	echo "usage: $0 [matrix|sustained|soak|plots]" >&2
	exit 2
	;;
esac
