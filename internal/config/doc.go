// Package config turns Tiaki's YAML configuration file into a typed, validated Config.
//
// Start reading at Load (load.go): it bounds and reads the file, parses it with internal/yamldoc
// (the one YAML reader, shared with the OpenAPI documents and the probe), substitutes ${VAR} from the
// environment, reads "file:PATH" secrets, decodes strictly (decode.go), applies defaults
// (defaults.go), resolves relative paths against the file's directory and validates
// (validate*.go). Every problem found becomes an *Error naming file, line and key path, and all of
// them are reported together as Errors, sorted by line. The types in config.go mirror the file
// key for key; docs/configuration.md is the reference for users.
//
// Default returns the embedded configuration (default.yaml) that Tiaki runs when no file exists:
// a demo API, client and user. Only cmd/tiaki imports this package.
package config
