package gateway

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxConsumerLabels bounds the consumer label of tiaki_gateway_requests_total: the first
// consumers seen get a label of their own, every later one is counted as OtherConsumers, so a
// deployment with many applications cannot blow up the metrics' cardinality.
const MaxConsumerLabels = 100

// OtherConsumers is the consumer label of consumers past MaxConsumerLabels.
const OtherConsumers = "(other)"

// metrics are the gateway's Prometheus collectors. Label lookups are cached, so counting a
// request costs two map reads under a read lock and no allocation.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// unmatched observes requests that matched no route.
	unmatched prometheus.Observer

	mu        sync.RWMutex
	counters  map[counterKey]prometheus.Counter
	consumers map[string]struct{}
}

type counterKey struct {
	route    string
	code     int
	consumer string
}

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tiaki_gateway_requests_total",
			Help: "API requests answered by the gateway, by route, status code and consumer " +
				"(consumers past the first " + strconv.Itoa(MaxConsumerLabels) + ` are counted as "` + OtherConsumers + `").`,
		}, []string{"route", "code", "consumer"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tiaki_gateway_request_duration_seconds",
			Help:    "Time from a request's arrival at the gateway to the end of its response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		counters:  map[counterKey]prometheus.Counter{},
		consumers: map[string]struct{}{},
	}
	m.unmatched = m.duration.WithLabelValues(noLabel)
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if err := reg.Register(m.requests); err != nil {
		return err
	}
	if err := reg.Register(m.duration); err != nil {
		reg.Unregister(m.requests)
		return err
	}
	return nil
}

// observe counts one answered request.
func (m *metrics) observe(rt *route, status int, consumer string, latency time.Duration) {
	route := noLabel
	obs := m.unmatched
	if rt != nil {
		route = rt.Name
		if rt.latency != nil {
			obs = rt.latency
		}
	}
	obs.Observe(latency.Seconds())
	m.counter(route, status, consumer).Inc()
}

func (m *metrics) counter(route string, status int, consumer string) prometheus.Counter {
	m.mu.RLock()
	if consumer != noLabel {
		if _, ok := m.consumers[consumer]; !ok && len(m.consumers) >= MaxConsumerLabels {
			consumer = OtherConsumers
		}
	}
	c, ok := m.counters[counterKey{route, status, consumer}]
	m.mu.RUnlock()
	if ok {
		return c
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if consumer != noLabel && consumer != OtherConsumers {
		if _, ok := m.consumers[consumer]; !ok {
			if len(m.consumers) >= MaxConsumerLabels {
				consumer = OtherConsumers
			} else {
				consumer = strings.Clone(consumer)
				m.consumers[consumer] = struct{}{}
			}
		}
	}
	route = strings.Clone(route)
	k := counterKey{route, status, consumer}
	if c, ok := m.counters[k]; ok {
		return c
	}
	code := abortedLabel
	if status != 0 {
		code = strconv.Itoa(status)
	}
	c = m.requests.WithLabelValues(route, code, consumer)
	m.counters[k] = c
	return c
}
