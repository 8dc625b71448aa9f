package tiaki

import "time"

// User is a local account for Tiaki's own login page. Real deployments federate; local users
// serve development, operators and the demo.
type User struct {
	Username string
	// PasswordHash is an argon2id hash in PHC string form; the password is never stored.
	PasswordHash string
	// Claims are the OpenID Connect claims released for this user (name, email, ...).
	Claims    map[string]any
	Disabled  bool
	Source    Source
	CreatedAt time.Time
	UpdatedAt time.Time
}
