package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file, located by file, line and key path
// ("apis[0].rate_limit.per_ip"). Line is 0 when the problem has no line (a missing file, or a
// key absent from the file whose default is wrong for the rest of it).
type Error struct {
	File string
	Line int
	Key  string
	Msg  string

	err error // the cause, for errors.Is (fs.ErrNotExist when the file is missing)
}

// Error formats e as "file:line: key: msg", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem found in one configuration file, sorted by line.
type Errors []*Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds the report: past this, more errors help nobody and cost memory.
const maxErrors = 100

// errorList collects errors for one file.
type errorList struct {
	file string
	errs Errors
	// decoded holds the keys that failed to decode, so validation does not pile a second,
	// derived complaint ("secret is required") on a value that was already reported.
	decoded []string
}

func (l *errorList) add(line int, key, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// addDecode records an error found while decoding key.
func (l *errorList) addDecode(line int, key, format string, args ...any) {
	l.add(line, key, format, args...)
	l.decoded = append(l.decoded, key)
}

// related reports whether key equals, contains or lies inside a key that failed to decode.
func (l *errorList) related(key string) bool {
	for _, d := range l.decoded {
		if keyWithin(key, d) || keyWithin(d, key) {
			return true
		}
	}
	return false
}

// keyWithin reports whether key is parent or lies beneath it.
func keyWithin(key, parent string) bool {
	if parent == "" || key == parent {
		return true
	}
	if !strings.HasPrefix(key, parent) {
		return false
	}
	next := key[len(parent)]
	return next == '.' || next == '['
}

// err returns the collected errors sorted by line, or nil.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	es := slices.Clone(l.errs)
	slices.SortStableFunc(es, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	es = slices.CompactFunc(es, func(a, b *Error) bool {
		return a.Line == b.Line && a.Key == b.Key && a.Msg == b.Msg
	})
	if len(es) > maxErrors {
		more := len(es) - maxErrors
		es = append(es[:maxErrors], &Error{File: l.file, Msg: fmt.Sprintf("%d more errors not shown", more)})
	}
	return es
}
