// Package monitor exposes Prometheus metrics on METRICS_ADDR (never on the
// public port). Every method is safe on a nil *Metrics, so code paths and
// tests without metrics need no special case.
package monitor

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the service's series.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	accepted    prometheus.Counter
	dropped     *prometheus.CounterVec
	batchEvents prometheus.Histogram
	commit      *prometheus.HistogramVec
	leads       prometheus.Counter
	jobRuns     *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	deliveryLat *prometheus.HistogramVec
	outbox      *prometheus.GaugeVec
}

// New registers every series; queueDepth reports the write queue.
func New(queueDepth func() float64) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketing_http_requests_total",
		Help: "HTTP requests by route pattern and status."}, []string{"route", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marketing_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "marketing_events_accepted_total",
		Help: "Events stored and acknowledged (duplicates excluded)."})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketing_events_dropped_total",
		Help: "Requests dropped or refused, by endpoint and reason (bot, honeypot, rate_limited, invalid, origin)."}, []string{"endpoint", "reason"})
	m.batchEvents = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "marketing_ingest_batch_events",
		Help: "Events per write transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)})
	m.commit = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marketing_ingest_commit_seconds",
		Help: "Write transaction latency, from a batch handed to the store to its commit (on PostgreSQL, including the wait behind the batch ahead of it in the pipeline), by outcome.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"outcome"})
	m.leads = prometheus.NewCounter(prometheus.CounterOpts{Name: "marketing_leads_captured_total", Help: "Lead captures stored."})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketing_job_runs_total",
		Help: "Job runs by job and outcome."}, []string{"job", "status"})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marketing_job_duration_seconds",
		Help: "Job run duration.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"job"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketing_login_attempts_total",
		Help: "Login attempts by result (ok, invalid, rate_limited_ip, rate_limited_account)."}, []string{"result"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "marketing_deliveries_total",
		Help: "Delivery attempts of outbox messages by channel (webhook, email) and outcome (delivered, retry, dead)."}, []string{"channel", "outcome"})
	m.deliveryLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "marketing_delivery_attempt_seconds",
		Help: "Delivery attempt latency by channel.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"channel"})
	m.outbox = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "marketing_outbox",
		Help: "The outbox: pending and dead (dead letters) messages, and the age in seconds of the oldest pending one (queue_age_seconds)."}, []string{"measure"})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.accepted, m.dropped, m.batchEvents, m.commit, m.leads, m.jobRuns, m.jobDuration,
		m.logins, m.deliveries, m.deliveryLat, m.outbox} {
		f(c)
	}
	if queueDepth != nil {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "marketing_ingest_queue_depth",
			Help: "Requests waiting for a write batch."}, queueDepth))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Request records one HTTP request.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Dropped records a dropped or refused request.
func (m *Metrics) Dropped(endpoint, reason string) {
	if m != nil {
		m.dropped.WithLabelValues(endpoint, reason).Inc()
	}
}

// Accepted records stored events.
func (m *Metrics) Accepted(n int) {
	if m != nil {
		m.accepted.Add(float64(n))
	}
}

// Batch records one write transaction.
func (m *Metrics) Batch(events int, d time.Duration, failed bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.batchEvents.Observe(float64(events))
	m.commit.WithLabelValues(outcome).Observe(d.Seconds())
}

// LeadCaptured records a stored capture.
func (m *Metrics) LeadCaptured() {
	if m != nil {
		m.leads.Inc()
	}
}

// JobRun records a finished job run.
func (m *Metrics) JobRun(job, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.jobRuns.WithLabelValues(job, status).Inc()
	m.jobDuration.WithLabelValues(job).Observe(d.Seconds())
}

// Login records a login attempt's result.
func (m *Metrics) Login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

// Delivery records one delivery attempt; status is the message's status
// after it (delivered, pending: a retry follows, dead).
func (m *Metrics) Delivery(channel, status string, d time.Duration) {
	if m == nil {
		return
	}
	if status == "pending" {
		status = "retry"
	}
	m.deliveries.WithLabelValues(channel, status).Inc()
	m.deliveryLat.WithLabelValues(channel).Observe(d.Seconds())
}

// Outbox sets the outbox gauges.
func (m *Metrics) Outbox(pending, dead int64, oldest time.Time, now time.Time) {
	if m == nil {
		return
	}
	m.outbox.WithLabelValues("pending").Set(float64(pending))
	m.outbox.WithLabelValues("dead").Set(float64(dead))
	age := 0.0
	if !oldest.IsZero() {
		age = now.Sub(oldest).Seconds()
	}
	m.outbox.WithLabelValues("queue_age_seconds").Set(age)
}
