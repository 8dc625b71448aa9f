package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

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
func NewLogger(w io.Writer, opts LogOptions) (*slog.Logger, error) {
	var level slog.Level
	if opts.Level != "" {
		if err := level.UnmarshalText([]byte(opts.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", opts.Level)
		}
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
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
	return slog.New(requestIDHandler{newThrottle(h, RepeatInterval)}), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secretWords are substrings of attribute keys whose values are never logged.
var secretWords = []string{"password", "secret", "token", "authorization", "api_key", "apikey", "cookie", "private"}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

// requestIDHandler adds the request ID carried by the context to every record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := web.RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
