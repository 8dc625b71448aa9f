// Package tiaki holds the nouns every part of Tiaki shares — clients, API keys, users,
// signing keys, secrets — and the store interfaces that persist them.
//
// It imports the standard library only. The front ends (authserver, gateway, portal, adminapi,
// probe) and the store implementations under internal/store all depend on this package and on
// nothing of each other. Start with store.go for the persistence contract and client.go for the
// main nouns.
package tiaki
