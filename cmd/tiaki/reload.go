package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/tiaki-nz/tiaki/internal/config"
)

// reloadPoll is how often serve looks at the configuration file for a change.
const reloadPoll = 2 * time.Second

// maxConfigFile matches the configuration loader's own bound; a bigger file is not read here.
const maxConfigFile = 1 << 20

// reloader applies a changed configuration file to a running node: on SIGHUP, and when the
// file's content changes. The new file goes through the same loading and validation as at
// start, and every route with its policies is built before the gateway swaps to them, so a
// reload either applies whole or not at all; requests in flight finish on the routes they
// started with, and no listener or connection is touched.
//
// Only the apis section applies without a restart. Other settings (listeners, TLS, store,
// issuer, keys, tokens, clients, users, gateway-wide settings) keep their running values, and
// a reload that changes them says so in the log.
type reloader struct {
	n     *node
	flags *serveFlags
	// path is the configuration file; empty when serve runs on the embedded default.
	path string

	// What the file looked like when last read: a changed modification time or size makes
	// the poll read it again, and only a changed hash reloads.
	mod  time.Time
	size int64
	sum  [sha256.Size]byte
}

func newReloader(n *node, f *serveFlags) *reloader {
	rl := &reloader{n: n, flags: f}
	if !n.embedded {
		rl.path = n.cfg.Path
		rl.changed() // note the file as it is now
	}
	return rl
}

// run reloads on every signal from hup and on every change of the file, until ctx ends.
func (rl *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if rl.path == "" {
				rl.n.logger.Info("SIGHUP: running on the embedded default, no configuration file to reload")
				continue
			}
			rl.changed() // so the poll does not reload the same content again
			rl.reload("SIGHUP")
		case <-t.C:
			if rl.path != "" && rl.changed() {
				rl.reload("file changed")
			}
		}
	}
}

// changed reports whether the file's content differs from when it was last read. A file that
// cannot be read is "unchanged": the reload it would cause could only fail.
func (rl *reloader) changed() bool {
	fi, err := os.Stat(rl.path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if fi.ModTime().Equal(rl.mod) && fi.Size() == rl.size {
		return false
	}
	data, err := readBounded(rl.path, maxConfigFile)
	if err != nil {
		return false
	}
	rl.mod, rl.size = fi.ModTime(), fi.Size()
	sum := sha256.Sum256(data)
	if sum == rl.sum {
		return false
	}
	rl.sum = sum
	return true
}

// reload loads, validates and builds the file's configuration and swaps the gateway to it, or
// logs why not and leaves the running configuration serving.
func (rl *reloader) reload(why string) {
	// Whatever goes wrong while building (a bug here or in a library, on some odd file), the
	// running configuration keeps serving and the reloader lives on for the next change.
	defer func() {
		if r := recover(); r != nil {
			rl.reject(why, fmt.Errorf("internal error while building the new configuration: %v", r))
		}
	}()
	n := rl.n
	cfg, err := config.Load(rl.path)
	if err != nil {
		rl.reject(why, err)
		return
	}
	applyOverrides(cfg, rl.flags)
	restart := keepRunning(cfg, n.cfg)
	rs, err := buildRoutes(n, cfg)
	if err != nil {
		rl.reject(why, err)
		return
	}
	if err := n.gateway.Swap(rs.routes); err != nil {
		rs.close()
		rl.reject(why, err)
		return
	}
	if old := n.routes.Swap(rs); old != nil {
		old.close()
	}
	n.redisFailsClosed.Store(redisFailsClosed(cfg))
	names := make([]string, len(cfg.APIs))
	for i, a := range cfg.APIs {
		names[i] = a.Name
	}
	n.logger.Info("configuration reloaded", "file", rl.path, "trigger", why, "apis", names)
	if len(restart) > 0 {
		n.logger.Warn("configuration changes that need a restart to apply; the running values stay in force",
			"file", rl.path, "settings", restart)
	}
}

// reject logs a configuration that cannot be applied, one line per problem so that each reads
// file:line: key: message.
func (rl *reloader) reject(why string, err error) {
	const msg = "configuration reload rejected; the running configuration keeps serving"
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			rl.n.logger.Error(msg, "trigger", why, "error", e.Error())
		}
		return
	}
	rl.n.logger.Error(msg, "trigger", why, "error", err.Error())
}

// keepRunning gives next the running values of every setting that a reload cannot apply: every
// top-level key but apis. It returns the keys whose values differ, which need a restart.
func keepRunning(next, running *config.Config) []string {
	var restart []string
	nv, rv := reflect.ValueOf(next).Elem(), reflect.ValueOf(running).Elem()
	t := nv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if !f.IsExported() || tag == "" || tag == "-" || tag == "apis" {
			continue
		}
		if !reflect.DeepEqual(nv.Field(i).Interface(), rv.Field(i).Interface()) {
			restart = append(restart, tag)
			nv.Field(i).Set(rv.Field(i))
		}
	}
	return restart
}
