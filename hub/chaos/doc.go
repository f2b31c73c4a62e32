// Package chaos is the hub's fault suite: it runs the real switchboard binary
// as subprocesses against real HTTP receivers on 127.0.0.1 and breaks things
// on purpose, to check that the delivery promises hold under faults and not
// only in the happy path: every event answered 202 is delivered with a valid
// signature, every try is logged, and a fault is answered 503, never a 500
// or a hang.
//
//	a  the hub SIGKILLed three times under a publishing load, fan-out 2
//	b  receivers that fail at random, time out, throttle (429) and redirect
//	c  the dVersum connector process SIGKILLed again and again under inbound load
//	d  the SQLite file write-locked by another process past the busy timeout
//	e  the disk full (a tmpfs the test mounts; needs root, else SKIP)
//	f  one of two hubs on one PostgreSQL database SIGKILLed under load: the
//	   other's sweep queues the first tries the dead one left untried
//	g  the hub SIGKILLed and started with another SWITCHBOARD_MASTER_KEY: the
//	   start is refused before listening; with the right key nothing is lost
//	h  a receiver answering every try 200 behind ~10 MB of response headers:
//	   the hub's resident size (VmRSS) stays within 150 MB of its start, and
//	   every try is logged failed with the header limit as its error
//	i  virtual webhooks: a vPlan that forgets every webhook, polls back to
//	   back held at vPlan, the hub SIGKILLed mid-poll: every change stored as
//	   exactly one event and delivered, never two polls of it at once
//
// The tests sit behind the build tag chaos because they take minutes and
// kill processes; this file only carries the documentation, so the package
// exists in a normal build.
//
//	go test -tags chaos -count=1 -v ./hub/chaos/                                  # short, as CI runs it
//	CHAOS_SCALE=full go test -tags chaos -count=1 -v -timeout 30m ./hub/chaos/    # the numbers
//
// CHAOS_SCALE=short (the default) uses small counts so each scenario takes
// well under a minute; full uses 10,000 events for the crash scenario and
// 2,000 for the response headers one.
// CHAOS_SEED replays a run's random fault schedule (each run prints its
// seed), and CHAOS_RACE=1 builds the binary with the race detector. Each
// scenario logs one bench-style line (events sent and accepted, delivered,
// lost, duplicates, tries logged and received, elapsed, and a note such as
// scenario h's resident sizes at start, peak and end) and the suite prints
// them as a table at the end; go test shows both with -v or on failure. A
// skipped scenario is reported as SKIP, never as a pass.
package chaos
