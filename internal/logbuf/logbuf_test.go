package logbuf_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/logbuf"
)

// recorder counts the writes it gets.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) state() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.writes
}

// TestBatches: lines are written together, whole and in order, on the
// interval, when the buffer fills, and on Close; nothing is lost.
func TestBatches(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	w := logbuf.New(r, time.Hour, 100) // only size and Close flush
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i) // 7 bytes each: 70 bytes, fits
	}
	if got, n := r.state(); got != "" || n != 0 {
		t.Fatalf("written before the buffer filled: %q (%d writes)", got, n)
	}
	long := strings.Repeat("x", 49) + "\n" // 50 bytes: does not fit after 70
	fmt.Fprint(w, long)
	if got, n := r.state(); n != 1 || !strings.HasSuffix(got, "line 9\n") {
		t.Fatalf("a full buffer was not flushed whole before the next line: %q (%d writes)", got, n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, n := r.state()
	var want strings.Builder
	for i := range 10 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	want.WriteString(long)
	if got != want.String() || n != 2 {
		t.Fatalf("after Close: %q in %d writes, want everything in 2", got, n)
	}
	fmt.Fprint(w, "after close\n")
	if got, _ := r.state(); !strings.HasSuffix(got, "after close\n") {
		t.Error("a write after Close was not written through")
	}
}

// TestInterval: pending lines reach the output within the interval.
func TestInterval(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	w := logbuf.New(r, 10*time.Millisecond, 1<<16)
	defer w.Close()
	fmt.Fprint(w, "tick\n")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got, _ := r.state(); got == "tick\n" {
			return
		}
	}
	t.Fatal("a pending line was never flushed")
}

// TestWriteThrough: with no interval every write goes out at once.
func TestWriteThrough(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	w := logbuf.New(r, 0, 1<<16)
	fmt.Fprint(w, "a\n")
	fmt.Fprint(w, "b\n")
	if got, n := r.state(); got != "a\nb\n" || n != 2 {
		t.Errorf("write-through: %q in %d writes", got, n)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
}

// TestConcurrent: lines from many goroutines stay whole (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	w := logbuf.New(r, time.Millisecond, 256)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(w, "g%d-%03d %s\n", g, i, strings.Repeat("z", 20))
			}
		})
	}
	wg.Wait()
	w.Close()
	got, _ := r.state()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if len(l) != len("g0-000 ")+20 {
			t.Fatalf("torn line %q", l)
		}
	}
}
