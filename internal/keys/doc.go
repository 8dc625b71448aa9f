// Package keys holds Tiaki's cryptographic keys: the master key that encrypts every other key at
// rest, the keyed hash that stores client secrets and API keys, and the authorization server's
// token-signing keys with their rotation and JWKS.
//
// Start with manager.go: a Manager keeps one signing key per configured algorithm, publishes the
// next key before it signs (so verifiers can fetch it first) and keeps a retired key published
// until every token it signed has expired. masterkey.go and seal.go are the key-encryption key
// (KEK) and its AES-256-GCM sealing; hasher.go is the keyed hash for secrets; jwk.go generates,
// seals and opens the JSON Web Keys themselves.
//
// The package depends on the root package tiaki for its nouns (tiaki.SigningKey,
// tiaki.SigningKeyStore) and on no store implementation: callers hand it a store.
package keys
