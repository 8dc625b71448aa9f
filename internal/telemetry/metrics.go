package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tiaki-nz/tiaki/internal/web"
)

// Metrics is Tiaki's Prometheus registry and the collectors shared across listeners. A private
// registry (not the global default) keeps tests independent and the output deliberate.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the process, Go runtime and HTTP collectors.
func NewMetrics(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tiaki_http_requests_total",
			Help: "HTTP requests served, by listener and status code.",
		}, []string{"listener", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tiaki_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by listener.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"listener"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "tiaki_build_info",
		Help:        "Tiaki's version; always 1.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		m.requests, m.duration, build,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Instrument counts and times every request that passes through next, labelled with the
// listener's name. It reads the status from web's response recorder, so it must wrap a handler
// chain that includes web.AccessLog or web.Recorder.
func (m *Metrics) Instrument(listener string, next http.Handler) http.Handler {
	// Pre-resolve the per-listener histogram so the hot path does no label lookup for it.
	hist := m.duration.WithLabelValues(listener)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := web.Record(w)
		next.ServeHTTP(rec, r)
		hist.Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(listener, strconv.Itoa(rec.Status())).Inc()
	})
}
