package tiaki

import "errors"

// Error kinds shared by stores and services. Wrap them with fmt.Errorf("...: %w", ErrX) and
// match them with errors.Is; never compare error strings.
var (
	// ErrNotFound: nothing matches the lookup.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record already exists, or a compare-and-set lost a race.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the caller supplied a value the operation cannot accept.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: a store or service cannot be reached now; the same call may work later
	// (answer 503 with Retry-After, not 500).
	ErrUnavailable = errors.New("unavailable")
	// ErrStoreForeign: the database exists but was not made by Tiaki, or is corrupt; Tiaki
	// refuses to touch it rather than overwrite someone else's data.
	ErrStoreForeign = errors.New("not a Tiaki store")
)
