package auditlog

import (
	"slices"
	"sync"
)

// DefaultMemoryEvents bounds a Memory sink made with NewMemory(0).
const DefaultMemoryEvents = 10000

// Memory is a Sink that keeps the most recent events in memory, for tests and diagnostics.
type Memory struct {
	mu     sync.Mutex
	events []Event
	max    int
}

// NewMemory returns a sink keeping at most max events (DefaultMemoryEvents if max <= 0); the
// oldest go first.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryEvents
	}
	return &Memory{max: max}
}

// Emit implements Sink. It copies e.
func (m *Memory) Emit(e *Event) {
	c := *e
	c.Credentials = slices.Clone(e.Credentials)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) >= m.max {
		m.events = slices.Delete(m.events, 0, len(m.events)-m.max+1)
	}
	m.events = append(m.events, c)
}

// Events returns a copy of the events kept, oldest first.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// OfType returns the events of type typ, oldest first.
func (m *Memory) OfType(typ string) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, e := range m.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
