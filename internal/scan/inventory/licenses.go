package inventory

import (
	_ "embed"
	"strings"
	"sync"
)

// Packages declare licenses in whatever form their ecosystem uses: SPDX expressions (Alpine,
// npm, most of PyPI), free text ("GPLv2+", "BSD"). SBOM formats accept only listed SPDX
// identifiers in license expressions, so each declared license is checked against the list
// and either written as an expression or kept as text (a LicenseRef in SPDX, a license name
// in CycloneDX).

//go:embed spdx-license-ids.txt
var spdxIDsText string

type licenseList struct {
	licenses, exceptions map[string]string // lower case → canonical identifier
}

var spdxIDs = sync.OnceValue(func() licenseList {
	l := licenseList{licenses: map[string]string{}, exceptions: map[string]string{}}
	for _, line := range strings.Split(spdxIDsText, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "exception "):
			id := strings.TrimPrefix(line, "exception ")
			l.exceptions[strings.ToLower(id)] = id
		default:
			l.licenses[strings.ToLower(line)] = line
		}
	}
	return l
})

// spdxLicenseID returns the canonical identifier if s is one listed license identifier.
func spdxLicenseID(s string) (string, bool) {
	id, ok := spdxIDs().licenses[strings.ToLower(strings.TrimSpace(s))]
	return id, ok
}

// spdxExpression returns s as a valid SPDX license expression over listed identifiers
// (SPDX 2.3 Annex D: identifiers, "+", WITH, AND, OR, parentheses), with canonical case
// and spacing, or false if s is not one.
func spdxExpression(s string) (string, bool) {
	p := exprParser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return "", false
	}
	out, ok := p.or()
	if !ok || p.i != len(p.toks) {
		return "", false
	}
	return out, true
}

func tokenize(s string) []string {
	var toks []string
	for _, f := range strings.Fields(s) {
		for f != "" {
			switch i := strings.IndexAny(f, "()"); {
			case i < 0:
				toks, f = append(toks, f), ""
			case i > 0:
				toks, f = append(toks, f[:i]), f[i:]
			default:
				toks, f = append(toks, f[:1]), f[1:]
			}
		}
	}
	return toks
}

type exprParser struct {
	toks []string
	i    int
}

func (p *exprParser) peekOp(op string) bool {
	return p.i < len(p.toks) && strings.EqualFold(p.toks[p.i], op)
}

func (p *exprParser) or() (string, bool) {
	return p.binary("OR", p.and)
}

func (p *exprParser) and() (string, bool) {
	return p.binary("AND", p.term)
}

func (p *exprParser) binary(op string, operand func() (string, bool)) (string, bool) {
	out, ok := operand()
	for ok && p.peekOp(op) {
		p.i++
		var next string
		next, ok = operand()
		out += " " + op + " " + next
	}
	return out, ok
}

func (p *exprParser) term() (string, bool) {
	if p.i >= len(p.toks) {
		return "", false
	}
	tok := p.toks[p.i]
	p.i++
	if tok == "(" {
		inner, ok := p.or()
		if !ok || p.i >= len(p.toks) || p.toks[p.i] != ")" {
			return "", false
		}
		p.i++
		return "(" + inner + ")", true
	}
	plus := strings.HasSuffix(tok, "+")
	id, ok := spdxIDs().licenses[strings.ToLower(strings.TrimSuffix(tok, "+"))]
	if !ok {
		return "", false
	}
	if plus {
		id += "+"
	}
	if p.peekOp("WITH") {
		p.i++
		if p.i >= len(p.toks) {
			return "", false
		}
		exc, ok := spdxIDs().exceptions[strings.ToLower(p.toks[p.i])]
		if !ok {
			return "", false
		}
		p.i++
		id += " WITH " + exc
	}
	return id, true
}
