// Command tiaki is the whole of Tiaki in one binary: `tiaki serve` runs the authorization
// server, the gateway and the ops endpoints; the other subcommands manage the same store from the
// command line. All wiring lives in this package (see Main in app.go, then serve.go).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGTERM and SIGINT cancel the context; serve then shuts down gracefully, finishing
	// requests in flight.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
