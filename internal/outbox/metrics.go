package outbox

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	gmail "github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Metrics are the outbox's metrics: sent and failed messages of this
// replica by kind (counters), and what every replica shares, the queued
// messages and the age of the oldest (gauges, as of the worker's last
// round).
type Metrics struct {
	sentTotal, failedTotal *prometheus.CounterVec

	mu    sync.Mutex
	stats store.OutboxStats
	asOf  time.Time
}

// NewMetrics registers the outbox's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_mail_sent_total",
			Help: "Messages this replica delivered to the SMTP server, by kind."}, []string{"kind"}),
		failedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_mail_failed_total",
			Help: "Messages this replica gave up on (a permanent SMTP refusal, too many attempts, an expired link), by kind."}, []string{"kind"}),
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_mail_queued",
		Help: "Messages in the outbox waiting for delivery (all replicas)."}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return float64(m.stats.Queued)
	})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_mail_oldest_queued_age_seconds",
		Help: "Age of the oldest message waiting for delivery (0 when none waits)."}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.stats.OldestQueued.IsZero() {
			return 0
		}
		return m.asOf.Sub(m.stats.OldestQueued).Seconds()
	})
	for _, c := range []prometheus.Collector{m.sentTotal, m.failedTotal, queued, oldest} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every kind shows from the start, at 0.
	for _, k := range gmail.Kinds {
		m.sentTotal.WithLabelValues(k)
		m.failedTotal.WithLabelValues(k)
	}
	return m, nil
}

func (m *Metrics) sent(kind string) {
	if m != nil {
		m.sentTotal.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) failed(kind string) {
	if m != nil {
		m.failedTotal.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) setStats(st store.OutboxStats, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats, m.asOf = st, now
}

// SentCounter is the counter of sent messages of kind (for tests).
func (m *Metrics) SentCounter(kind string) prometheus.Counter {
	return m.sentTotal.WithLabelValues(kind)
}

// FailedCounter is the counter of given-up messages of kind (for tests).
func (m *Metrics) FailedCounter(kind string) prometheus.Counter {
	return m.failedTotal.WithLabelValues(kind)
}
