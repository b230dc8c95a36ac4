// Package loadgen drives a running Gatehouse over HTTP and measures it: each
// scenario (discovery, JWKS, client_credentials, refresh rotation, userinfo,
// introspection, an /api/v1 ACL, a paged list) runs for a duration, either
// closed loop (each of C workers sends its next request when the previous
// one is answered: throughput) or open loop (requests are due at a fixed
// rate whatever the answers do, and latency counts from when a request was
// due, so a stalled server shows in the percentiles instead of slowing the
// load down: latency at a given rate). cmd/gatehouse-load is its command.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenario is one kind of request.
type Scenario interface {
	// Name is the scenario's name on the command line and in results.
	Name() string
	// Setup prepares what the requests need (tokens, data) for workers
	// workers; it is not measured.
	Setup(ctx context.Context, workers int) error
	// Do sends one request as worker w (0 ≤ w < workers) and returns an
	// error unless it got the expected answer.
	Do(ctx context.Context, w int) error
}

// Options of one run.
type Options struct {
	Duration time.Duration
	// Workers is the number of concurrent requests (closed loop), or the
	// most in flight at once (open loop).
	Workers int
	// Rate, when positive, makes the run open loop: Rate requests per
	// second in all.
	Rate float64
	// ServerPID, when set, is the process whose memory (VmRSS) is sampled
	// during the run.
	ServerPID int
}

// Result is what one scenario measured.
type Result struct {
	Scenario string        `json:"scenario"`
	Mode     string        `json:"mode"` // "closed" or "open at N/s"
	Workers  int           `json:"workers"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsedNs"`
	PerSec   float64       `json:"perSecond"`
	P50      time.Duration `json:"p50Ns"`
	P99      time.Duration `json:"p99Ns"`
	Max      time.Duration `json:"maxNs"`
	// FirstError is the first failure seen, to tell why errors happened.
	FirstError string `json:"firstError,omitempty"`
	// PeakRSS is the highest VmRSS of the server seen during the run, in
	// bytes (0 without a ServerPID).
	PeakRSS int64 `json:"peakRSSBytes,omitempty"`
	// ServerCPU and ClientCPU are the CPU time the server process (with a
	// ServerPID) and this process spent per request: on a shared machine a
	// steadier measure of cost than throughput, and what bounds it (two
	// cores serve at most 2 s / (ServerCPU + ClientCPU) requests a second
	// with the load generator beside the server).
	ServerCPU time.Duration `json:"serverCPUPerRequestNs,omitempty"`
	ClientCPU time.Duration `json:"clientCPUPerRequestNs,omitempty"`
}

// Run measures s with o; Setup must have been called.
func Run(ctx context.Context, s Scenario, o Options) Result {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	res := Result{Scenario: s.Name(), Workers: o.Workers, Mode: "closed"}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	var peak atomic.Int64
	stopSampling := sampleRSS(o.ServerPID, &peak)
	defer stopSampling()

	lat := make([][]time.Duration, o.Workers)
	errs := make([]int, o.Workers)
	var firstErr atomic.Value
	fail := func(w int, err error) {
		errs[w]++
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var wg sync.WaitGroup
	serverCPU0, _ := ProcessCPU(o.ServerPID)
	clientCPU0 := selfCPU()
	start := time.Now()
	if o.Rate > 0 {
		res.Mode = fmt.Sprintf("open at %g/s", o.Rate)
		due := schedule(ctx, start, o.Rate, o.Duration)
		for w := range o.Workers {
			wg.Go(func() {
				for t := range due {
					if d := time.Until(t); d > 0 {
						time.Sleep(d)
					}
					err := s.Do(context.WithoutCancel(ctx), w)
					lat[w] = append(lat[w], time.Since(t)) // from when it was due
					if err != nil {
						fail(w, err)
					}
				}
			})
		}
	} else {
		// A request is never cut off at the end of the run: the server
		// might have acted on it (a refresh token rotated) without the
		// worker learning of it, which would break the next run.
		for w := range o.Workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					t := time.Now()
					err := s.Do(context.WithoutCancel(ctx), w)
					lat[w] = append(lat[w], time.Since(t))
					if err != nil {
						fail(w, err)
					}
				}
			})
		}
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	clientCPU := selfCPU() - clientCPU0
	serverCPU, serverErr := ProcessCPU(o.ServerPID)
	var all []time.Duration
	for w := range lat {
		all = append(all, lat[w]...)
		res.Errors += errs[w]
	}
	res.Requests = len(all)
	res.PerSec = float64(res.Requests) / res.Elapsed.Seconds()
	slices.Sort(all)
	res.P50, res.P99 = Percentile(all, 50), Percentile(all, 99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	if res.Requests > 0 {
		res.ClientCPU = clientCPU / time.Duration(res.Requests)
		if o.ServerPID > 0 && serverErr == nil {
			res.ServerCPU = (serverCPU - serverCPU0) / time.Duration(res.Requests)
		}
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	stopSampling()
	res.PeakRSS = peak.Load()
	return res
}

// schedule sends the due times of an open-loop run, rate per second from
// start until the duration is over: never more than rate × duration + 1.
// The channel is buffered so that the ticking never waits for workers; a
// backlog (the server slower than the rate) shows as latency.
func schedule(ctx context.Context, start time.Time, rate float64, d time.Duration) <-chan time.Time {
	n := int(rate*d.Seconds()) + 1
	every := time.Duration(float64(time.Second) / rate)
	due := make(chan time.Time, n)
	go func() {
		defer close(due)
		for i := range n {
			t := start.Add(time.Duration(i) * every)
			if t.Sub(start) >= d {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(t)):
			}
			due <- t
		}
	}()
	return due
}

// Percentile is the p-th percentile (nearest rank) of sorted; 0 when empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// sampleRSS records the highest VmRSS of pid into peak every 50 ms until
// the returned function is called (idempotent). Without a pid it does
// nothing.
func sampleRSS(pid int, peak *atomic.Int64) func() {
	if pid <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := RSS(pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { once.Do(func() { close(done); <-stopped }) }
}

// RSS reads the resident set size (VmRSS) of process pid, in bytes (Linux).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS of process %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// ProcessCPU is the user and system CPU time process pid has used (Linux,
// /proc/PID/stat, in clock ticks of 10 ms).
func ProcessCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no process")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: count from the ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("CPU time of process %d: short stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("CPU time of process %d: bad stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
