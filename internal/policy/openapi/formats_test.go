package openapi

import "testing"

func TestFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    format
		in   string
		want bool
	}{
		{formatDateTime, "2025-01-31T09:30:00Z", true},
		{formatDateTime, "2025-01-31t09:30:00.123456z", true},
		{formatDateTime, "2024-02-29T23:59:60+13:00", true},
		{formatDateTime, "2025-02-29T00:00:00Z", false},
		{formatDateTime, "2025-01-31 09:30:00Z", false},
		{formatDateTime, "2025-01-31T24:00:00Z", false},
		{formatDateTime, "2025-01-31T09:30:00", false},
		{formatDateTime, "2025-01-31T09:30:00.Z", false},
		{formatDateTime, "2025-01-31T09:30:00+1300", false},
		{formatDate, "2000-02-29", true},
		{formatDate, "1900-02-29", false},
		{formatDate, "2025-13-01", false},
		{formatDate, "2025-1-01", false},
		{formatUUID, "7c4a8d09-ca37-4c2b-9f44-2d6f1a0e6b1e", true},
		{formatUUID, "7C4A8D09-CA37-4C2B-9F44-2D6F1A0E6B1E", true},
		{formatUUID, "7c4a8d09ca374c2b9f442d6f1a0e6b1e", false},
		{formatUUID, "7c4a8d09-ca37-4c2b-9f44-2d6f1a0e6b1g", false},
		{formatEmail, "aroha@example.co.nz", true},
		{formatEmail, "aroha", false},
		{formatEmail, "a@b@c", false},
		{formatEmail, "a b@c", false},
		{formatEmail, "@c", false},
		{formatIPv4, "192.0.2.1", true},
		{formatIPv4, "2001:db8::1", false},
		{formatIPv6, "2001:db8::1", true},
		{formatIPv6, "fe80::1%eth0", false},
		{formatIPv6, "192.0.2.1", false},
		{formatByte, "U3dhZ2dlciByb2Nrcw==", true},
		{formatByte, "not base64!", false},
		{formatNone, "anything", true},
	}
	for _, tt := range tests {
		if got := tt.f.checkString([]byte(tt.in)); got != tt.want {
			t.Errorf("format %d: %q = %v, want %v", tt.f, tt.in, got, tt.want)
		}
	}
	if !formatInt32.checkNumber(2147483647) || formatInt32.checkNumber(2147483648) || !formatInt64.checkNumber(-9007199254740993) {
		t.Error("integer format ranges")
	}
}

func TestMultipleOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f, m float64
		want bool
	}{
		{19.99, 0.01, true},
		{0.3, 0.1, true},
		{1e6, 0.01, true},
		{1.005, 0.01, false},
		{7, 2, false},
		{-4, 2, true},
		{0, 0.5, true},
	}
	for _, tt := range tests {
		if got := multipleOf(tt.f, tt.m); got != tt.want {
			t.Errorf("multipleOf(%v, %v) = %v, want %v", tt.f, tt.m, got, tt.want)
		}
	}
}
