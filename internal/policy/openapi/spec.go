package openapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tiaki-nz/tiaki"
	"github.com/tiaki-nz/tiaki/internal/yamldoc"
)

// MaxSpecSize bounds each file of an API description.
const MaxSpecSize = 16 << 20

// specLimits bounds each file of a description as yamldoc reads it. Every file is read by
// yamldoc, the YAML reader of the configuration and the probe, and handed to kin-openapi as
// JSON, so a description means the same to the gateway, the probe and config check.
var specLimits = yamldoc.Limits{MaxBytes: MaxSpecSize, MaxFlowDepth: 256, MaxAliasNodes: 100_000}

// Spec is a loaded and validated OpenAPI 3.0 or 3.1 description.
type Spec struct {
	doc  *openapi3.T
	name string
}

// Load reads the OpenAPI description at path. $refs may name other files in the same
// directory tree, never a URL: loading a description must not make the gateway fetch anything
// from the network, nor read files outside the description's own directory.
func Load(path string) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	root := filepath.Dir(abs)
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		if u.Scheme != "" && u.Scheme != "file" || u.Host != "" {
			return nil, fmt.Errorf("$ref to %s: only files beside the description may be referenced: %w", u.Redacted(), tiaki.ErrInvalid)
		}
		p := filepath.Clean(filepath.FromSlash(u.Path))
		if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("$ref to %s: outside the description's directory: %w", u.Path, tiaki.ErrInvalid)
		}
		return readSpecFile(p)
	}
	data, err := readSpecFile(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "no such file or directory": the path is named once, below
		}
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	doc, err := loader.LoadFromDataWithPath(data, &url.URL{Path: filepath.ToSlash(abs)})
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	return newSpec(doc, path)
}

// Parse reads an OpenAPI description from memory; name is used in errors. References to
// other files are refused.
func Parse(data []byte, name string) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, fmt.Errorf("openapi: %s: larger than %d bytes: %w", name, MaxSpecSize, tiaki.ErrInvalid)
	}
	data, err := yamldoc.JSON(data, specLimits)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w: %w", name, err, tiaki.ErrInvalid)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", name, err)
	}
	return newSpec(doc, name)
}

func newSpec(doc *openapi3.T, name string) (*Spec, error) {
	if !strings.HasPrefix(doc.OpenAPI, "3.0") && !strings.HasPrefix(doc.OpenAPI, "3.1") {
		return nil, fmt.Errorf("openapi: %s: version %q: only OpenAPI 3.0 and 3.1 are supported: %w", name, doc.OpenAPI, tiaki.ErrInvalid)
	}
	// Examples do not affect validation, and a wrong example should not stop a gateway.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", name, err)
	}
	return &Spec{doc: doc, name: name}, nil
}

// readSpecFile reads one file of a description, YAML or JSON, and returns it as JSON.
func readSpecFile(path string) ([]byte, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	out, err := yamldoc.JSON(data, specLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", filepath.Base(path), err, tiaki.ErrInvalid)
	}
	return out, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpecSize {
		return nil, errors.New(path + ": larger than the limit for an API description")
	}
	return data, nil
}

// Name is the file (or name) the description was loaded from.
func (s *Spec) Name() string { return s.name }

// Version is the description's openapi field, such as 3.0.3 or 3.1.0.
func (s *Spec) Version() string { return s.doc.OpenAPI }

// ServerPath is the path of the description's first server URL (variables at their defaults),
// "" if it has none or it is "/". The request paths the description lists are relative to it.
func (s *Spec) ServerPath() string {
	if len(s.doc.Servers) == 0 {
		return ""
	}
	p, err := s.doc.Servers[0].BasePath()
	if err != nil || p == "/" {
		return ""
	}
	return strings.TrimSuffix(p, "/")
}
