package bench

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, ascending durations: the smallest value that at least p % of the
// values are less than or equal to. Nearest rank never invents a latency
// that was not measured, which matters for p99 of a few hundred samples.
// An empty slice has no percentile and yields 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// p*n/100 is exact for whole percents; the epsilon keeps 99.9 % of 1000
	// (99900.00000000001/100 in floating point) at rank 999.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	return sorted[min(max(rank, 1), n)-1]
}

// ms converts a duration to fractional milliseconds, the unit of the report.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// acceptance is one event the hub answered 202 for and when that answer
// arrived (time since the run's base).
type acceptance struct {
	id string
	at time.Duration
}

// sample is one reading of the hub's resource use (time since the run's base).
type sample struct {
	at  time.Duration
	cpu float64 // cumulative CPU seconds of the hub and its connectors
	rss int64   // sum of their VmHWM in bytes
	cur int64   // sum of their VmRSS in bytes
}

// analysis is everything a finished run measured; analyze turns it into the
// report. It is kept free of I/O so the arithmetic is tested on its own.
type analysis struct {
	firstSend time.Duration // when the first event was sent
	end       time.Duration // when waiting for deliveries stopped
	fanout    int
	accepted  []acceptance
	arrivals  []map[string]time.Duration // per subscription: webhook-id -> first arrival
	samples   []sample                   // resource readings, in time order; nil when unknown
}

// analyze fills r's delivery, latency, rate, resource and timeline fields.
// Latency is arrival at the receiver minus the 202 that accepted the event,
// clamped at 0: a delivery can beat the 202 to the client.
func (a *analysis) analyze(r *Result) {
	acceptedAt := make(map[string]time.Duration, len(a.accepted))
	lastAccept := a.firstSend
	for _, acc := range a.accepted {
		acceptedAt[acc.id] = acc.at
		lastAccept = max(lastAccept, acc.at)
	}
	r.Accepted = int64(len(a.accepted))
	r.Expected = r.Accepted * int64(a.fanout)

	var lat []time.Duration
	lastArrival := time.Duration(-1)
	type bucket struct {
		accepted, delivered int64
		lat                 []time.Duration
	}
	secondOf := func(d time.Duration) int { return max(int((d-a.firstSend)/time.Second), 0) }
	buckets := make([]bucket, secondOf(a.end)+1)
	grow := func(s int) {
		if s >= len(buckets) {
			buckets = append(buckets, make([]bucket, s+1-len(buckets))...)
		}
	}
	for _, acc := range a.accepted {
		s := secondOf(acc.at)
		grow(s)
		buckets[s].accepted++
	}
	for _, arrived := range a.arrivals {
		for id, at := range arrived {
			acc, ok := acceptedAt[id]
			if !ok {
				r.Unmatched++
				continue
			}
			r.Delivered++
			l := max(at-acc, 0)
			lat = append(lat, l)
			lastArrival = max(lastArrival, at)
			s := secondOf(at)
			grow(s)
			buckets[s].delivered++
			buckets[s].lat = append(buckets[s].lat, l)
		}
	}
	r.Lost = r.Expected - r.Delivered

	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50MS = ms(Percentile(lat, 50))
		r.P90MS = ms(Percentile(lat, 90))
		r.P99MS = ms(Percentile(lat, 99))
		r.MaxMS = ms(lat[len(lat)-1])
		var sum time.Duration
		for _, l := range lat {
			sum += l
		}
		r.MeanMS = ms(sum / time.Duration(len(lat)))
	}

	end := lastArrival
	if end < 0 || r.Lost > 0 {
		// Nothing (or not everything) arrived: the run lasted until the wait gave up.
		end = max(end, a.end)
	}
	r.DurationS = round3((end - a.firstSend).Seconds())
	if d := (lastAccept - a.firstSend).Seconds(); d > 0 {
		r.AcceptedPerSec = round1(float64(r.Accepted) / d)
	}
	if lastArrival >= 0 {
		if d := (lastArrival - a.firstSend).Seconds(); d > 0 {
			r.DeliveredPerSec = round1(float64(r.Delivered) / d)
		}
	}

	// Resources: CPU used between the first send and the end of the wait;
	// the peak is the highest sum of high-water marks seen at any reading.
	usageAt := func(t time.Duration) (sample, bool) {
		i := sort.Search(len(a.samples), func(i int) bool { return a.samples[i].at > t })
		if i == 0 {
			return sample{}, false
		}
		return a.samples[i-1], true
	}
	if len(a.samples) > 0 {
		first, last := a.samples[0], a.samples[len(a.samples)-1]
		if s, ok := usageAt(a.firstSend); ok {
			first = s
		}
		cpu := round3(last.cpu - first.cpu)
		var peak int64
		for _, s := range a.samples {
			peak = max(peak, s.rss)
		}
		rss := round1(float64(peak) / (1 << 20))
		r.CPUSeconds, r.PeakRSSMB = &cpu, &rss
	}

	r.Timeline = make([]Second, len(buckets))
	for i, b := range buckets {
		sec := Second{T: i, AcceptedPerSec: b.accepted, DeliveredPerSec: b.delivered}
		if len(b.lat) > 0 {
			slices.Sort(b.lat)
			p := ms(Percentile(b.lat, 99))
			sec.P99MS = &p
		}
		from, to := a.firstSend+time.Duration(i)*time.Second, a.firstSend+time.Duration(i+1)*time.Second
		if s1, ok := usageAt(to); ok {
			s0, ok := usageAt(from)
			if !ok {
				s0 = a.samples[0]
			}
			cores := round3(s1.cpu - s0.cpu)
			rss := round1(float64(s1.cur) / (1 << 20))
			sec.CPUCores, sec.RSSMB = &cores, &rss
		}
		r.Timeline[i] = sec
	}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
