package openapi

import (
	"math"
	"net/netip"
	"unsafe"
)

// format is a value of the format keyword that Tiaki checks. Other formats are annotations
// (JSON Schema 2020-12 §7.2: format is an annotation unless a validator opts in).
type format uint8

const (
	formatNone format = iota
	formatDateTime
	formatDate
	formatUUID
	formatEmail
	formatIPv4
	formatIPv6
	formatByte
	formatInt32
	formatInt64
)

var formatNames = map[string]format{
	"date-time": formatDateTime, "date": formatDate, "uuid": formatUUID, "email": formatEmail,
	"ipv4": formatIPv4, "ipv6": formatIPv6, "byte": formatByte, "int32": formatInt32, "int64": formatInt64,
}

func formatOf(s string) format { return formatNames[s] }

// message says what a value of the format looks like, for a 400 answer.
func (f format) message() string {
	switch f {
	case formatDateTime:
		return "must be a date-time (RFC 3339, such as 2025-01-31T09:30:00Z)"
	case formatDate:
		return "must be a date (RFC 3339 full-date, such as 2025-01-31)"
	case formatUUID:
		return "must be a UUID"
	case formatEmail:
		return "must be an email address"
	case formatIPv4:
		return "must be an IPv4 address"
	case formatIPv6:
		return "must be an IPv6 address"
	case formatByte:
		return "must be base64"
	case formatInt32:
		return "must fit in a 32-bit signed integer"
	case formatInt64:
		return "must fit in a 64-bit signed integer"
	}
	return "has the wrong format"
}

// checkString reports whether s is a valid string of the format.
func (f format) checkString(s []byte) bool {
	switch f {
	case formatDateTime:
		return dateTime(s)
	case formatDate:
		return len(s) == 10 && date(s)
	case formatUUID:
		return uuid(s)
	case formatEmail:
		return email(s)
	case formatIPv4, formatIPv6:
		a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(s), len(s)))
		return err == nil && a.Zone() == "" && (f == formatIPv4) == a.Is4()
	case formatByte:
		return base64(s)
	}
	return true
}

// checkNumber reports whether v is in range for an integer format.
func (f format) checkNumber(v float64) bool {
	switch f {
	case formatInt32:
		return v >= math.MinInt32 && v <= math.MaxInt32
	case formatInt64:
		return v >= math.MinInt64 && v < math.MaxInt64
	}
	return true
}

func digits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func num(s []byte) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// date checks an RFC 3339 §5.6 full-date, YYYY-MM-DD, including the days in the month.
func date(s []byte) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:10]) {
		return false
	}
	y, m, d := num(s[:4]), num(s[5:7]), num(s[8:10])
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// dateTime checks an RFC 3339 §5.6 date-time: full-date "T" HH:MM:SS[.frac] (Z / ±HH:MM). The
// "T" and "Z" may be lower case (§5.6, note). A leap second (:60) is allowed.
func dateTime(s []byte) bool {
	if len(s) < 20 || !date(s[:10]) || s[10] != 'T' && s[10] != 't' {
		return false
	}
	t := s[11:]
	if len(t) < 9 || t[2] != ':' || t[5] != ':' || !digits(t[:2]) || !digits(t[3:5]) || !digits(t[6:8]) ||
		num(t[:2]) > 23 || num(t[3:5]) > 59 || num(t[6:8]) > 60 {
		return false
	}
	t = t[8:]
	if t[0] == '.' {
		i := 1
		for i < len(t) && '0' <= t[i] && t[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		t = t[i:]
	}
	switch {
	case len(t) == 1:
		return t[0] == 'Z' || t[0] == 'z'
	case len(t) == 6:
		return (t[0] == '+' || t[0] == '-') && t[3] == ':' && digits(t[1:3]) && digits(t[4:6]) &&
			num(t[1:3]) <= 23 && num(t[4:6]) <= 59
	}
	return false
}

// uuid checks the RFC 9562 §4 string form: 8-4-4-4-12 hexadecimal digits.
func uuid(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// email is a plausibility check, as kin-openapi's: one "@" with something on each side, no
// space, nothing that would break out of an address field. Whether the mailbox exists is for
// the API to find out.
func email(s []byte) bool {
	at := -1
	if len(s) > 254 {
		return false
	}
	for i, c := range s {
		switch c {
		case '@':
			if at >= 0 {
				return false
			}
			at = i
		case ' ', '\t', '\r', '\n', '<', '>', '"', ',':
			return false
		}
	}
	return at > 0 && at < len(s)-1
}

func base64(s []byte) bool {
	i := 0
	for i < len(s) && s[i] != '=' {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_') {
			return false
		}
		i++
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
