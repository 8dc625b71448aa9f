package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/tiaki-nz/tiaki/internal/auditlog"
	"github.com/tiaki-nz/tiaki/internal/web"
)

// LogOptions chooses the log level and format.
type LogOptions struct {
	Level  string // debug | info | warn | error; default info
	Format string // auto | text | json; auto means text on a terminal, JSON otherwise
}

// NewLogger returns a logger writing to w. Every record logged with a context that carries a
// request ID gets a request_id attribute, and attributes whose names suggest a secret are
// redacted, as a second line of defence behind tiaki.Secret. A warning or error that keeps
// recurring is written once per RepeatInterval with a count.
//
// One name and unit per concept, in every line (the audit stream's too, see auditlog): times
// are RFC 3339 in UTC with milliseconds; every duration is a float number of milliseconds in a
// field whose name ends in _ms ("grace" logged as a duration appears as "grace_ms":30000); and
// no key appears twice in a line: the first value given wins (a request_id passed by the caller
// is not added again from the context).
func NewLogger(w io.Writer, opts LogOptions) (*slog.Logger, error) {
	var level slog.Level
	if opts.Level != "" {
		if err := level.UnmarshalText([]byte(opts.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", opts.Level)
		}
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	var h slog.Handler
	switch opts.Format {
	case "text":
		h = slog.NewTextHandler(w, ho)
	case "json":
		h = slog.NewJSONHandler(w, ho)
	case "", "auto":
		if isTerminal(w) {
			h = slog.NewTextHandler(w, ho)
		} else {
			h = slog.NewJSONHandler(w, ho)
		}
	default:
		return nil, fmt.Errorf("log format %q: want auto, text or json", opts.Format)
	}
	return slog.New(&uniqueHandler{h: newThrottle(h, RepeatInterval)}), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secretWords are substrings of attribute keys whose values are never logged.
var secretWords = []string{"password", "secret", "token", "authorization", "api_key", "apikey", "cookie", "private"}

// replaceAttr redacts secrets and writes times and durations in the one form of every log line.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.Float64(outKey(a), auditlog.Milliseconds(a.Value.Duration()))
	case slog.KindTime:
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.String(a.Key, a.Value.Time().UTC().Format(auditlog.TimeFormat))
		}
	}
	return a
}

// outKey is the key a written as the line will carry it: durations gain an _ms suffix.
func outKey(a slog.Attr) string {
	if a.Value.Kind() == slog.KindDuration && !strings.HasSuffix(a.Key, "_ms") {
		return a.Key + "_ms"
	}
	return a.Key
}

// builtinKeys are the keys every line starts with.
var builtinKeys = []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey}

// uniqueHandler keeps each key once per line and adds the request ID carried by the context.
// keys are the top-level keys logger.With has added; once a group is open, attributes land in
// it and only the request ID is added, as before.
type uniqueHandler struct {
	h       slog.Handler
	keys    []string
	grouped bool
}

func (u *uniqueHandler) Enabled(ctx context.Context, l slog.Level) bool { return u.h.Enabled(ctx, l) }

func (u *uniqueHandler) Handle(ctx context.Context, r slog.Record) error {
	id := web.RequestIDFrom(ctx)
	if u.grouped {
		if id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
		return u.h.Handle(ctx, r)
	}
	var buf [16]string
	seen := append(append(buf[:0], builtinKeys...), u.keys...)
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		k := outKey(a)
		if slices.Contains(seen, k) {
			dup = true
			return false
		}
		seen = append(seen, k)
		return true
	})
	if dup {
		// Rare: rebuild the record without the repeated keys.
		nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		seen = append(append(seen[:0], builtinKeys...), u.keys...)
		r.Attrs(func(a slog.Attr) bool {
			if k := outKey(a); !slices.Contains(seen, k) {
				seen = append(seen, k)
				nr.AddAttrs(a)
			}
			return true
		})
		r = nr
	}
	if id != "" && !slices.Contains(seen, "request_id") {
		r.AddAttrs(slog.String("request_id", id))
	}
	return u.h.Handle(ctx, r)
}

func (u *uniqueHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if u.grouped {
		return &uniqueHandler{h: u.h.WithAttrs(as), grouped: true}
	}
	keys := slices.Clone(u.keys)
	kept := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if k := outKey(a); !slices.Contains(builtinKeys, k) && !slices.Contains(keys, k) {
			keys = append(keys, k)
			kept = append(kept, a)
		}
	}
	return &uniqueHandler{h: u.h.WithAttrs(kept), keys: keys}
}

func (u *uniqueHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return u
	}
	return &uniqueHandler{h: u.h.WithGroup(name), grouped: true}
}
