package content

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tiaki-nz/tiaki/internal/policy"
)

// errDTD marks a document type declaration or other markup declaration: the way in for
// external entities (XXE) and entity expansion ("billion laughs").
var errDTD = errors.New("xml: document type and entity declarations are not accepted")

// CheckXML reports whether data is one well-formed XML document, UTF-8, nested at most
// maxDepth elements deep, with no DOCTYPE or other markup declaration (catalogue THREAT-09).
//
// encoding/xml never fetches anything: it has no notion of external entities, and without a
// DTD only the five predefined entities exist, so a document cannot make the gateway open a
// file or a URL, nor expand an entity. Refusing every directive makes that explicit and keeps
// behaviour the same if the parser ever changes. Only UTF-8 (and its ASCII subset) is read; a
// declaration naming another encoding is refused.
func CheckXML(data []byte, maxDepth int) *policy.Denial {
	if err := checkXML(data, maxDepth); err != nil {
		if errors.Is(err, errDTD) {
			return &policy.Denial{Status: http.StatusBadRequest, Type: "xml-dtd-refused", Title: "XML declarations refused",
				Detail: "The XML body must not contain a DOCTYPE or entity declarations.", Reason: "XML markup declaration refused (XXE guard)"}
		}
		if errors.Is(err, errTooDeep) {
			return &policy.Denial{Status: http.StatusBadRequest, Type: "too-deep", Title: "Body nested too deeply",
				Detail: "The XML body is nested more than " + strconv.Itoa(maxDepth) + " elements deep.", Reason: "XML nesting over the limit"}
		}
		return &policy.Denial{Status: http.StatusBadRequest, Type: "malformed-xml", Title: "Malformed XML",
			Detail: "The request body is not well-formed XML.", Reason: "malformed XML: " + xmlReason(err)}
	}
	return nil
}

var errTooDeep = errors.New("xml: nested too deeply")

func checkXML(data []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil        // only the predefined entities
	dec.CharsetReader = nil // a declared encoding other than UTF-8 is an error
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errDTD
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			if depth++; depth > maxDepth {
				return errTooDeep
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root element")
			}
		}
	}
	if roots != 1 {
		return errors.New("not exactly one root element")
	}
	return nil
}

// xmlReason keeps an encoding/xml error's message but not the input it may quote.
func xmlReason(err error) string {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return "syntax error on line " + strconv.Itoa(se.Line)
	}
	msg := err.Error()
	if i := strings.IndexAny(msg, `"'`); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
