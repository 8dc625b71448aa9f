package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in Go syntax ("90s", "10m", "24h"). It embeds
// time.Duration, so d.Duration is the standard value and its methods (String, Seconds) apply.
type Duration struct{ time.Duration }

// MarshalText writes d in Go syntax, so JSON and YAML output reads like the input.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses Go duration syntax. A bare number is refused: "30" could mean seconds or
// minutes, and guessing wrong silently is worse than asking.
func (d *Duration) UnmarshalText(text []byte) error {
	s := string(text)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%s is not a duration (want Go syntax like 90s, 10m, 24h)", quoteShort(s))
	}
	d.Duration = v
	return nil
}

// Rate is a number of events per period, written "N/second", "N/minute", "N/hour" or "N/day".
// The zero Rate means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// maxRateCount bounds N so that arithmetic on it in the rate limiters cannot overflow.
const maxRateCount = 1_000_000_000

var rateUnits = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// ParseRate parses "N/second|minute|hour|day" with 1 <= N <= 1e9.
func ParseRate(s string) (Rate, error) {
	bad := fmt.Errorf("%s is not a rate (want N/second|minute|hour|day)", quoteShort(s))
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, bad
	}
	per, ok := rateUnits[strings.TrimSpace(unit)]
	if !ok {
		return Rate{}, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return Rate{}, bad
	}
	if n < 1 || n > maxRateCount {
		return Rate{}, fmt.Errorf("%s: the count must be between 1 and %d (omit the key for no limit)", quoteShort(s), maxRateCount)
	}
	return Rate{N: n, Per: per}, nil
}

// IsZero reports whether r sets no limit.
func (r Rate) IsZero() bool { return r.N == 0 }

// String formats r as it is written in the file; "" for the zero Rate.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	for name, per := range rateUnits {
		if per == r.Per {
			return strconv.Itoa(r.N) + "/" + name
		}
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// MarshalText writes r as it is written in the file.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses r with ParseRate.
func (r *Rate) UnmarshalText(text []byte) error {
	v, err := ParseRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ByteSize is a number of bytes, written as a plain integer or with a unit: B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first, so "MiB" is not read as "B" after "Mi".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses a plain non-negative integer or an integer with a unit ("512KiB").
func ParseByteSize(s string) (ByteSize, error) {
	bad := fmt.Errorf("%s is not a byte size (want an integer with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)", quoteShort(s))
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || strings.HasPrefix(t, "+") {
		return 0, bad
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s is too large", quoteShort(s))
	}
	return ByteSize(n * mult), nil
}

// String formats b with the largest binary unit that divides it exactly.
func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- {
		u := byteUnits[i]
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText writes b as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses b with ParseByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// quoteShort quotes s for an error message, cut short so a huge value cannot flood the output.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "…"
	}
	return strconv.Quote(s)
}
