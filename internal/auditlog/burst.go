package auditlog

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Burst detection defaults: the catalogue's LOG-04 test, 20 × 401 from one client or IP
// within a minute.
const (
	DefaultBurstThreshold = 20
	DefaultBurstWindow    = time.Minute
	// DefaultBurstKeys bounds how many client IPs and consumers are watched at once.
	DefaultBurstKeys = 4096

	burstShards = 16
	// evictSample is how many entries a full shard compares to choose one to forget: the
	// least recently seen of a small sample (as Redis approximates LRU), so a flood of new
	// addresses costs constant work per event and rarely evicts an address that is active.
	evictSample  = 8
	maxThreshold = 1000
)

// BurstOptions configure a BurstDetector; zero fields take the defaults.
type BurstOptions struct {
	// Threshold is how many 401 responses make a burst.
	Threshold int
	// Window is the time within which Threshold failures must fall.
	Window time.Duration
	// MaxKeys bounds the client IPs and consumers tracked at once; the least recently seen
	// is forgotten first.
	MaxKeys int
}

// BurstDetector is a Sink that passes every event on to the next sink and watches the 401s
// among them: when Threshold of them come from one client IP, or for one consumer, within
// Window, it emits one TypeAuthFailuresBurst event (catalogue LOG-04), and at most one per
// Window for the same source while the burst lasts.
//
// Memory is bounded by MaxKeys and allocated once per shard; counting an event allocates
// nothing, except the first time a source is seen (its key is copied).
type BurstDetector struct {
	next      Sink
	threshold int
	window    int64 // nanoseconds
	perShard  int
	seed      maphash.Seed
	shards    [burstShards]burstShard
	reason    [2]string // by burstKind
}

type burstKind uint8

const (
	byClientIP burstKind = iota
	byConsumer
)

type burstKey struct {
	kind burstKind
	id   string
}

type burstShard struct {
	mu      sync.Mutex
	index   map[burstKey]int32
	entries []burstEntry
	// times holds Threshold timestamps per entry, a ring each: entry i owns
	// times[i*Threshold:(i+1)*Threshold].
	times []int64
	hand  int
}

type burstEntry struct {
	key        burstKey
	head, n    int32
	last       int64
	quietUntil int64
}

// NewBurstDetector returns a detector passing events on to next.
func NewBurstDetector(next Sink, opts BurstOptions) (*BurstDetector, error) {
	if opts.Threshold == 0 {
		opts.Threshold = DefaultBurstThreshold
	}
	if opts.Window == 0 {
		opts.Window = DefaultBurstWindow
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = DefaultBurstKeys
	}
	switch {
	case next == nil:
		return nil, fmt.Errorf("auditlog: burst detector needs a sink to pass events to")
	case opts.Threshold < 2 || opts.Threshold > maxThreshold:
		return nil, fmt.Errorf("auditlog: burst threshold %d: want 2 to %d", opts.Threshold, maxThreshold)
	case opts.Window < time.Second:
		return nil, fmt.Errorf("auditlog: burst window %v: want at least 1s", opts.Window)
	case opts.MaxKeys < 1:
		return nil, fmt.Errorf("auditlog: burst max keys %d: want at least 1", opts.MaxKeys)
	}
	d := &BurstDetector{
		next:      next,
		threshold: opts.Threshold,
		window:    int64(opts.Window),
		perShard:  max(opts.MaxKeys/burstShards, 1),
		seed:      maphash.MakeSeed(),
	}
	what := fmt.Sprintf("%d authentication failures within %v", opts.Threshold, opts.Window)
	d.reason[byClientIP] = what + " from one client IP"
	d.reason[byConsumer] = what + " for one consumer"
	return d, nil
}

// Emit implements Sink.
func (d *BurstDetector) Emit(e *Event) {
	d.next.Emit(e)
	if e.Status != http.StatusUnauthorized || e.Type == TypeAuthFailuresBurst {
		return
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	now := t.UnixNano()
	if e.ClientIP != "" && d.observe(byClientIP, e.ClientIP, now) {
		d.fire(byClientIP, e, t)
	}
	if e.Consumer != "" && d.observe(byConsumer, e.Consumer, now) {
		d.fire(byConsumer, e, t)
	}
}

func (d *BurstDetector) fire(kind burstKind, e *Event, t time.Time) {
	b := &Event{Type: TypeAuthFailuresBurst, Time: t, RequestID: e.RequestID, Route: e.Route,
		Status: http.StatusUnauthorized, Count: d.threshold, Window: time.Duration(d.window), Reason: d.reason[kind]}
	if kind == byClientIP {
		b.ClientIP = e.ClientIP
	} else {
		b.Consumer = e.Consumer
	}
	d.next.Emit(b)
}

// observe records a failure of source id at now and reports whether it completes a burst
// that has not been reported yet.
func (d *BurstDetector) observe(kind burstKind, id string, now int64) bool {
	s := &d.shards[maphash.String(d.seed, id)%burstShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	k := burstKey{kind, id}
	i, ok := s.index[k]
	if !ok {
		i = d.slot(s)
		// The key outlives the event: copy it so it pins no request's memory.
		k.id = strings.Clone(id)
		s.entries[i] = burstEntry{key: k}
		s.index[k] = i
	}
	en := &s.entries[i]
	ring := s.times[int(i)*d.threshold : int(i+1)*d.threshold]
	ring[en.head] = now
	en.head = (en.head + 1) % int32(d.threshold)
	if en.n < int32(d.threshold) {
		en.n++
	}
	en.last = now
	// With the ring full, the slot head now points at is the oldest of the last Threshold.
	if en.n < int32(d.threshold) || now-ring[en.head] > d.window || now < en.quietUntil {
		return false
	}
	en.quietUntil = now + d.window
	return true
}

// slot returns a free entry index in s, forgetting the least recently seen of a sample when
// the shard is full. The caller holds s.mu.
func (d *BurstDetector) slot(s *burstShard) int32 {
	if s.index == nil {
		s.index = make(map[burstKey]int32, d.perShard)
		s.entries = make([]burstEntry, 0, d.perShard)
		s.times = make([]int64, d.perShard*d.threshold)
	}
	if n := len(s.entries); n < cap(s.entries) {
		s.entries = s.entries[:n+1]
		return int32(n)
	}
	best := -1
	for j := range min(evictSample, len(s.entries)) {
		k := (s.hand + j) % len(s.entries)
		if best < 0 || s.entries[k].last < s.entries[best].last {
			best = k
		}
	}
	s.hand = (s.hand + evictSample) % len(s.entries)
	delete(s.index, s.entries[best].key)
	return int32(best)
}

// Tracked returns how many sources the detector currently remembers.
func (d *BurstDetector) Tracked() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}
