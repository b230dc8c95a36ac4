// Package logbuf batches log output: the request log is one line per
// request, and writing each line with a system call of its own was a tenth
// of the CPU of a cheap request (discovery, JWKS) under load. A Writer
// collects lines and writes them every interval, at once when its buffer
// fills, and on Close. A crash loses at most the last interval's lines.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer is a buffered, periodically flushed io.Writer, safe for
// concurrent use. Each Write is kept whole (a log line is never split
// between two system calls unless it is larger than the buffer).
type Writer struct {
	mu     sync.Mutex
	buf    *bufio.Writer // nil: write through
	out    io.Writer
	done   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

// New writes to w in batches: every interval, and as soon as size bytes are
// pending. An interval of zero or less writes each Write through at once.
func New(w io.Writer, interval time.Duration, size int) *Writer {
	l := &Writer{out: w, done: make(chan struct{})}
	if interval <= 0 {
		return l
	}
	l.buf = bufio.NewWriterSize(w, size)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-t.C:
				_ = l.Flush()
			}
		}
	}()
	return l
}

// Write queues p (or writes it, when not buffering or after Close).
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil || l.closed {
		return l.out.Write(p)
	}
	if len(p) > l.buf.Available() && l.buf.Buffered() > 0 {
		if err := l.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return l.buf.Write(p)
}

// Flush writes what is pending.
func (l *Writer) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		return nil
	}
	return l.buf.Flush()
}

// Close stops the periodic flush and writes what is pending; later writes
// go straight through.
func (l *Writer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		return nil
	}
	return l.buf.Flush()
}
