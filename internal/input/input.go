// Package input holds the rules every request's text follows before a handler reads it, the
// same for /v2/, /api/v2.0, the token service and the portal's login: text is valid UTF-8
// without NUL characters (PostgreSQL stores neither a NUL nor invalid UTF-8 in a text column
// and refuses the query; SQLite would store them), and a query string and each of its values
// are bounded (SQLite refuses LIKE patterns above 50,000 bytes, and no real client sends more
// than a few hundred bytes).
//
// The checks only say what is wrong; each protocol answers in its own error body.
package input

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

const (
	// MaxQuery bounds a request's whole query string (as sent, escaped): Harbor behind its
	// nginx answers longer request lines with 414, and 8 KiB holds a q= listing hundreds of
	// ids.
	MaxQuery = 8 << 10
	// MaxQueryValue bounds one query parameter's value (decoded).
	MaxQueryValue = 2 << 10
)

// Problem is text a request may not carry, and where it was.
type Problem struct {
	// Param is the query parameter or form field it was in; "" for the path, "?" for the
	// query string as a whole.
	Param string
	// Reason says what is wrong ("contains a NUL character").
	Reason string
}

func (p *Problem) Error() string {
	switch p.Param {
	case "":
		return "invalid path: " + p.Reason
	case "?":
		return "invalid query string: " + p.Reason
	}
	return fmt.Sprintf("invalid parameter %q: %s", p.Param, p.Reason)
}

// Text returns why s cannot be taken as text, or "" when it can: valid UTF-8, no NUL.
func Text(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return ""
}

// URL checks a request's path and query: the path, every query key and every query value is
// text, the query string is at most MaxQuery bytes and each value at most MaxQueryValue. A
// handler that decodes a part once more checks what that gives too.
func URL(u *url.URL) *Problem {
	if why := Text(u.Path); why != "" {
		return &Problem{Reason: why}
	}
	if len(u.RawQuery) > MaxQuery {
		return &Problem{Param: "?", Reason: fmt.Sprintf("%d bytes, at most %d are accepted", len(u.RawQuery), MaxQuery)}
	}
	// Query drops pairs that do not decode; no handler sees those either.
	q := u.Query()
	for k, vs := range q {
		for _, s := range vs {
			if len(s) > MaxQueryValue {
				return &Problem{Param: k, Reason: fmt.Sprintf("%d bytes, at most %d are accepted", len(s), MaxQueryValue)}
			}
		}
	}
	return Values(q)
}

// Values checks query parameters or form fields: each key and value is text. (A form's length
// is bounded by its body's.)
func Values(v url.Values) *Problem {
	for k, vs := range v {
		if why := Text(k); why != "" {
			return &Problem{Param: k, Reason: "its name " + why}
		}
		for _, s := range vs {
			if why := Text(s); why != "" {
				return &Problem{Param: k, Reason: why}
			}
		}
	}
	return nil
}

// JSON returns why a JSON document's text cannot be taken, or "": the document must be valid
// UTF-8 (encoding/json would silently replace invalid bytes) and no string in it may hold a
// NUL character (written \u0000; a raw control character is invalid JSON already). The
// document's syntax is the decoder's to check.
func JSON(b []byte) string {
	if !utf8.Valid(b) {
		return "is not valid UTF-8"
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
				return "holds a NUL character (\\u0000)"
			}
			i++ // the escaped character: \" does not end the string
		}
	}
	return ""
}
