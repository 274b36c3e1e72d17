package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/meta"
)

// listQuery reads Harbor's listing parameters: page, page_size, q and sort.
//
// q is a comma-separated list of key=value terms: "k=v" exact, "k=~v" fuzzy, "k=[min~max]"
// range (either bound may be empty), "k={a b}" any of, "k=(a b)" all of. Values may be quoted
// with double quotes (times contain spaces), or with single quotes where they hold no comma; a
// backslash before an exact value keeps it exact (`k=\~v` is the value "~v"). sort is "a,-b"
// (a minus sorts descending).
//
// q may be escaped twice (see decodeQ).
func listQuery(r *http.Request) (meta.ListQuery, int, error) {
	params := r.URL.Query()
	page, size, err := pagination(params)
	if err != nil {
		return meta.ListQuery{}, 0, err
	}
	lq := meta.ListQuery{Offset: (page - 1) * size, Limit: size}
	if q := params.Get("q"); q != "" {
		q = decodeQ(q)
		if why := input.Text(q); why != "" {
			return lq, 0, badRequest("invalid q: " + why + " once decoded")
		}
		if lq.Filters, err = parseQ(q); err != nil {
			return lq, 0, badRequest(err.Error())
		}
	}
	if s := params.Get("sort"); s != "" {
		for _, k := range strings.Split(s, ",") {
			k = strings.TrimSpace(k)
			desc := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			if k == "" {
				return lq, 0, badRequest(fmt.Sprintf("invalid sort %q", s))
			}
			lq.Sort = append(lq.Sort, meta.SortKey{Key: k, Desc: desc})
		}
	}
	return lq, page, nil
}

// decodeQ URL-decodes q once more than the rest of the query, as Harbor's q parser does:
// clients that escape q themselves before their HTTP library escapes it again send
// q=Level%253Dproject%252CProjectID%253D2, and both that and the single escaping
// (q=Level%3Dproject%2CProjectID%3D2) mean Level=project,ProjectID=2.
//
// Only a q that still holds a percent sign after the query's own decoding was escaped twice
// (escaping turns every "=" into %3D): that one is decoded again, "+" then meaning a space as
// in Harbor. A q without one is taken as it is, so that a "+" escaped once stays a "+"
// (media_type=application/vnd.oci.image.config.v1+json, robot names such as library+ci), where
// Harbor would read a space. A q that does not decode (a literal "%" in q=name=~50%25) is
// taken as it is, as Harbor takes it.
func decodeQ(q string) string {
	if !strings.Contains(q, "%") {
		return q
	}
	if u, err := url.QueryUnescape(q); err == nil {
		return u
	}
	return q
}

// parseQ splits on commas outside brackets and quotes, then parses each term.
func parseQ(q string) ([]meta.Filter, error) {
	var terms []string
	depth, quoted, start := 0, false, 0
	for i, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '[' || r == '{' || r == '(':
			depth++
		case r == ']' || r == '}' || r == ')':
			depth--
		case r == ',' && depth == 0:
			terms = append(terms, q[start:i])
			start = i + 1
		}
	}
	if quoted || depth != 0 {
		return nil, fmt.Errorf("invalid q %q: unbalanced quotes or brackets", q)
	}
	terms = append(terms, q[start:])
	var out []meta.Filter
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid q term %q: want key=value", t)
		}
		f, err := parseTerm(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseTerm(k, v string) (meta.Filter, error) {
	f := meta.Filter{Key: k}
	switch {
	case strings.HasPrefix(v, "~"):
		f.Op, f.Values = meta.OpFuzzy, []string{unquote(v[1:])}
	case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
		lo, hi, ok := strings.Cut(v[1:len(v)-1], "~")
		if !ok {
			return f, fmt.Errorf("invalid range %q for %s: want [min~max]", v, k)
		}
		f.Op, f.Min, f.Max = meta.OpRange, unquote(strings.TrimSpace(lo)), unquote(strings.TrimSpace(hi))
	case strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}"):
		f.Op, f.Values = meta.OpAny, splitValues(v[1:len(v)-1])
	case strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")"):
		f.Op, f.Values = meta.OpAll, splitValues(v[1:len(v)-1])
	default:
		// A leading backslash makes the value exact whatever it starts with (q=name=\~x is
		// the name "~x"), as in Harbor.
		f.Op, f.Values = meta.OpExact, []string{unquote(strings.TrimPrefix(v, `\`))}
	}
	return f, nil
}

// splitValues splits on spaces outside double quotes, which it drops; single quotes around a
// value are dropped too.
func splitValues(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, unquote(cur.String()))
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// unquote strips the double or single quotes around a value: Harbor's swagger lets range and
// list values be "enclosed by \" or '".
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
