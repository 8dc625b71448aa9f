package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Rate
		wantErr string
	}{
		{in: "100/minute", want: Rate{100, time.Minute}},
		{in: "1/second", want: Rate{1, time.Second}},
		{in: " 5 / hour ", want: Rate{5, time.Hour}},
		{in: "10000/day", want: Rate{10000, 24 * time.Hour}},
		{in: "1000000000/day", want: Rate{1_000_000_000, 24 * time.Hour}},
		{in: "1000/fortnight", wantErr: `"1000/fortnight" is not a rate (want N/second|minute|hour|day)`},
		{in: "100 per minute", wantErr: "is not a rate"},
		{in: "/minute", wantErr: "is not a rate"},
		{in: "1.5/minute", wantErr: "is not a rate"},
		{in: "100/Minute", wantErr: "is not a rate"},
		{in: "0/minute", wantErr: "between 1 and"},
		{in: "-1/minute", wantErr: "between 1 and"},
		{in: "1000000001/day", wantErr: "between 1 and"},
		{in: "99999999999999999999/day", wantErr: "is not a rate"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// String writes what ParseRate reads.
			if back, err := ParseRate(got.String()); err != nil || back != got {
				t.Errorf("round trip of %q through %q = %+v, %v", tt.in, got.String(), back, err)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "512KiB", want: 512 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "10MB", want: 10_000_000},
		{in: "3KB", want: 3000},
		{in: "7GB", want: 7_000_000_000},
		{in: "100B", want: 100},
		{in: "1 MiB", want: 1 << 20},
		{in: "1.5MiB", wantErr: "is not a byte size"},
		{in: "-1", wantErr: "is not a byte size"},
		{in: "+1", wantErr: "is not a byte size"},
		{in: "1mib", wantErr: "is not a byte size"},
		{in: "MiB", wantErr: "is not a byte size"},
		{in: "", wantErr: "is not a byte size"},
		{in: "10 megabytes", wantErr: "is not a byte size"},
		{in: "9999999TiB", wantErr: "too large"},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "9223372036854775808", wantErr: "is not a byte size"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseByteSize(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseByteSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if back, err := ParseByteSize(got.String()); err != nil || back != got {
				t.Errorf("round trip of %q through %q = %d, %v", tt.in, got.String(), back, err)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "10m", want: 10 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0s", want: 0},
		{in: "30", wantErr: true},
		{in: "1d", wantErr: true},
		{in: "ten minutes", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "is not a duration (want Go syntax") {
					t.Fatalf("UnmarshalText(%q) error = %v", tt.in, err)
				}
				return
			}
			if err != nil || d.Duration != tt.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
			}
			text, _ := d.MarshalText()
			if diff := cmp.Diff(tt.want.String(), string(text)); diff != "" {
				t.Errorf("MarshalText (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuoteShortBoundsOutput(t *testing.T) {
	t.Parallel()
	got := quoteShort(strings.Repeat("a", 10_000))
	if len(got) > 80 {
		t.Errorf("quoteShort of 10,000 bytes returned %d bytes", len(got))
	}
}
