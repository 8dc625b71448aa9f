// Package standard is the requirement catalogue of the NZ Government API guidelines (Part B: API
// security, with the security-relevant parts of Parts A and C) as data: every row of
// nz-api-security.md with its ID, DocRef anchor, strength and one-line summary.
//
// The IDs (TLS-01, KEY-08, …) are the vocabulary of issues, tests and probe findings, and
// DocRef turns a row into the link a finding cites. Start with Requirement in standard.go.
//
// docs/nz-api-security.md (a copy of the project catalogue) is the source; catalogue_gen.go is generated from it by
// the generator under gen (run go generate after editing the markdown). A test parses the
// markdown again and fails when the two disagree.
package standard

//go:generate go run ./gen -in ../../docs/nz-api-security.md -out catalogue_gen.go
