package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tiaki-nz/tiaki/internal/yamldoc"
)

// Bounds on the input (see yamldoc.Limits); real configurations stay far below every one.
const (
	maxFileSize   = 1 << 20 // 1 MiB
	maxLines      = 20_000
	maxFlowDepth  = 64 // nested [ and {
	maxIndicators = 16 // "- - - x": block entries opened on one line
	maxSecretSize = 64 << 10
)

// Load reads, decodes, defaults and validates the configuration file at path. Relative paths in
// the file (tls files, the SQLite database, OpenAPI documents, "file:" secrets) are resolved
// against the file's directory. On failure the error is an Errors listing every problem; if the
// file does not exist, errors.Is(err, fs.ErrNotExist) is true.
func Load(path string) (*Config, error) {
	fail := func(msg string, err error) error {
		return Errors{{File: path, Msg: msg, err: err}}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(describeFSError(err), err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fail("not a regular file", nil)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fail(describeFSError(err), err)
	}
	if len(data) > maxFileSize {
		return nil, fail(fmt.Sprintf("file is larger than %d bytes", maxFileSize), nil)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fail(describeFSError(err), err)
	}
	return parse(path, dir, data, os.LookupEnv)
}

// Parse is Load for data already in memory: name is used in error messages and its directory
// resolves relative paths. Parse never panics, whatever data holds.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, filepath.Dir(name), data, os.LookupEnv)
}

func parse(name, dir string, data []byte, env func(string) (string, bool)) (*Config, error) {
	c, errs := decodeFile(name, dir, data, env)
	if c != nil {
		c.applyDefaults()
		c.resolvePaths(dir)
		c.validate(errs)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeFile parses and decodes data. It returns a nil Config when the YAML itself is broken.
func decodeFile(name, dir string, data []byte, env func(string) (string, bool)) (*Config, *errorList) {
	errs := &errorList{file: name}
	if len(data) > maxFileSize {
		errs.add(0, "", "file is larger than %d bytes", maxFileSize)
		return nil, errs
	}
	body, err := yamldoc.Parse(data, yamlLimits)
	if err != nil {
		var ye *yamldoc.Error
		switch {
		case !errors.As(err, &ye):
			errs.add(0, "", "%s", err.Error())
		case ye.Syntax && ye.Column > 0:
			errs.add(ye.Line, "", "YAML syntax error: %s (column %d)", ye.Msg, ye.Column)
		case ye.Syntax:
			errs.add(ye.Line, "", "YAML syntax error: %s", ye.Msg)
		default:
			errs.add(ye.Line, "", "%s", ye.Msg)
		}
		return nil, errs
	}
	c := &Config{Path: name, pos: map[string]int{}, set: map[string]bool{}}
	d := &decoder{
		errs:    errs,
		pos:     c.pos,
		set:     c.set,
		env:     env,
		secrets: secretReader{dir: dir},
	}
	if !d.decodeBody(body, c) {
		return nil, errs
	}
	return c, errs
}

// errDecoderPanic is the message of a decoder bug caught at run time; FuzzLoadBytes fails on it.
const errDecoderPanic = "internal error while decoding this file"

// decodeBody decodes body into c. The syntax tree comes from untrusted input through a
// third-party parser; should some odd shape of it still reach a bug here, the result is an
// error, never a crash.
func (d *decoder) decodeBody(body *yaml.Node, c *Config) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.errs.add(0, "", errDecoderPanic)
			ok = false
		}
	}()
	d.collectAnchors(body)
	if body != nil {
		d.decode(body, reflect.ValueOf(c).Elem(), "")
	}
	return true
}

var yamlLimits = yamldoc.Limits{
	MaxBytes:      maxFileSize,
	MaxLines:      maxLines,
	MaxFlowDepth:  maxFlowDepth,
	MaxIndicators: maxIndicators,
}

// collectAnchors refuses an anchor name defined twice: YAML lets the later definition win from
// there on, so which one an alias means depends on its position, an easy mistake to miss.
func (d *decoder) collectAnchors(n *yaml.Node) {
	seen := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || n.Kind == yaml.AliasNode {
			return
		}
		if n.Anchor != "" {
			if seen[n.Anchor] {
				d.errs.addDecode(n.Line, "", "anchor &%s is defined twice", n.Anchor)
			}
			seen[n.Anchor] = true
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

// expandEnv replaces ${VAR} with the variable's value; "$${" is a literal "${". Every unset
// variable is an error: an empty password because of a typo in a variable name must not pass.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${" escapes
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New(`unterminated "${" (write "$${" for a literal "${")`)
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("%s is not a valid environment variable reference (want ${NAME} with NAME of letters, digits and _)", quoteShort("${"+name+"}"))
		}
		val, ok := env(name)
		if !ok {
			missing = append(missing, name)
		}
		b.WriteString(val)
		s = s[i+end+1:]
	}
	switch len(missing) {
	case 0:
		return b.String(), nil
	case 1:
		return "", fmt.Errorf("environment variable %s is not set", missing[0])
	}
	return "", fmt.Errorf("environment variables %s are not set", strings.Join(missing, ", "))
}

func validEnvName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// secretReader reads "file:PATH" secrets, PATH relative to the configuration file's directory.
type secretReader struct{ dir string }

// secret returns the value of a tiaki.Secret field: s itself, or for "file:PATH" the contents of
// PATH without its trailing newline. Error messages name the path, never the contents.
func (d *decoder) secret(s string, line int, key string) (string, bool) {
	path, ok := strings.CutPrefix(s, "file:")
	if !ok {
		return s, true
	}
	if path == "" {
		d.errs.addDecode(line, key, `"file:" needs a path`)
		return "", false
	}
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(d.secrets.dir, full)
	}
	val, err := readSecretFile(full)
	if err != nil {
		d.errs.addDecode(line, key, "secret file %s: %s", strconv.Quote(path), err.Error())
		return "", false
	}
	return val, true
}

func readSecretFile(path string) (string, error) {
	// Stat first: opening a FIFO or a device could block for ever or never end.
	fi, err := os.Stat(path)
	if err != nil {
		return "", errors.New(describeFSError(err))
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", errors.New(describeFSError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", errors.New(describeFSError(err))
	}
	if len(data) > maxSecretSize {
		return "", fmt.Errorf("larger than %d bytes", maxSecretSize)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// describeFSError says what went wrong without repeating the path (the caller names it) and in
// the same words on every operating system.
func describeFSError(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
