package meta

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ListQuery is a parsed listing request: Harbor's q= filters, sort keys and a page. The API
// parses it from the request; each listing maps the keys it accepts onto columns.
type ListQuery struct {
	Filters []Filter
	Sort    []SortKey
	Offset  int
	Limit   int
}

// FilterOp is how a filter matches.
type FilterOp int

const (
	OpExact FilterOp = iota // k=v
	OpFuzzy                 // k=~v
	OpRange                 // k=[min~max], either bound may be empty
	OpAny                   // k={a b}: any of the values
	OpAll                   // k=(a b): all of the values (for multi-valued keys)
)

type Filter struct {
	Key      string
	Op       FilterOp
	Values   []string // OpExact, OpFuzzy: one; OpAny, OpAll: several
	Min, Max string   // OpRange
}

type SortKey struct {
	Key  string
	Desc bool
}

// Take removes and returns the filter for key, for keys a listing handles itself.
func (lq *ListQuery) Take(key string) (Filter, bool) {
	for i, f := range lq.Filters {
		if f.Key == key {
			lq.Filters = append(lq.Filters[:i:i], lq.Filters[i+1:]...)
			return f, true
		}
	}
	return Filter{}, false
}

// ColumnType says how filter values convert for a column.
type ColumnType int

const (
	ColText ColumnType = iota
	ColInt
	ColTime // stored as microseconds; values "2006-01-02 15:04:05" (UTC) or RFC 3339
	ColBool
)

// Column is a filterable, sortable column of a listing.
type Column struct {
	Expr string
	Type ColumnType
}

// ErrBadQuery wraps every problem with a query: unknown keys, unconvertible values.
var ErrBadQuery = errors.New("invalid query")

// Where accumulates SQL conditions and their arguments, numbering placeholders from a start.
type Where struct {
	conds []string
	args  []any
	next  int
}

// NewWhere starts a condition list whose first placeholder is $start.
func NewWhere(start int, args ...any) *Where {
	return &Where{next: start + len(args), args: args}
}

// Add appends a condition; "?" in cond stands for the next placeholder, once per value.
func (w *Where) Add(cond string, values ...any) {
	for _, v := range values {
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(w.next), 1)
		w.next++
		w.args = append(w.args, v)
	}
	w.conds = append(w.conds, cond)
}

// Arg reserves a placeholder for v and returns it ("$n"), for queries built by hand.
func (w *Where) Arg(v any) string {
	p := "$" + strconv.Itoa(w.next)
	w.next++
	w.args = append(w.args, v)
	return p
}

// SQL returns " WHERE ..." (or "") and the arguments.
func (w *Where) SQL() (string, []any) {
	if len(w.conds) == 0 {
		return "", w.args
	}
	return " WHERE " + strings.Join(w.conds, " AND "), w.args
}

// Apply turns the query's filters into conditions on the given columns. Unknown keys and
// unconvertible values are ErrBadQuery.
func (w *Where) Apply(lq ListQuery, cols map[string]Column) error {
	for _, f := range lq.Filters {
		c, ok := cols[f.Key]
		if !ok {
			return fmt.Errorf("%w: cannot filter by %q", ErrBadQuery, f.Key)
		}
		switch f.Op {
		case OpExact:
			v, err := convert(c.Type, f.Values[0])
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrBadQuery, f.Key, err)
			}
			w.Add(c.Expr+" = ?", v)
		case OpFuzzy:
			if c.Type != ColText {
				return fmt.Errorf("%w: %s does not support fuzzy matching", ErrBadQuery, f.Key)
			}
			w.Add("LOWER("+c.Expr+") LIKE ? ESCAPE '\\'", "%"+likeEscape(strings.ToLower(f.Values[0]))+"%")
		case OpRange:
			if f.Min != "" {
				v, err := convert(c.Type, f.Min)
				if err != nil {
					return fmt.Errorf("%w: %s: %v", ErrBadQuery, f.Key, err)
				}
				w.Add(c.Expr+" >= ?", v)
			}
			if f.Max != "" {
				v, err := convert(c.Type, f.Max)
				if err != nil {
					return fmt.Errorf("%w: %s: %v", ErrBadQuery, f.Key, err)
				}
				w.Add(c.Expr+" <= ?", v)
			}
		case OpAny, OpAll:
			if f.Op == OpAll && len(f.Values) > 1 {
				return fmt.Errorf("%w: %s takes one value, not all of several", ErrBadQuery, f.Key)
			}
			vals := make([]any, 0, len(f.Values))
			for _, s := range f.Values {
				v, err := convert(c.Type, s)
				if err != nil {
					return fmt.Errorf("%w: %s: %v", ErrBadQuery, f.Key, err)
				}
				vals = append(vals, v)
			}
			if len(vals) == 0 {
				w.Add("1 = 0")
				continue
			}
			w.Add(c.Expr+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")", vals...)
		}
	}
	return nil
}

// OrderBy builds " ORDER BY ..." from the sort keys, falling back to def (an SQL fragment)
// and always ending with tiebreak so pages are stable.
func OrderBy(sort []SortKey, cols map[string]Column, def, tiebreak string) (string, error) {
	var parts []string
	for _, s := range sort {
		c, ok := cols[s.Key]
		if !ok {
			return "", fmt.Errorf("%w: cannot sort by %q", ErrBadQuery, s.Key)
		}
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		parts = append(parts, c.Expr+dir)
	}
	if len(parts) == 0 && def != "" {
		parts = append(parts, def)
	}
	if tiebreak != "" {
		parts = append(parts, tiebreak)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return " ORDER BY " + strings.Join(parts, ", "), nil
}

func convert(t ColumnType, s string) (any, error) {
	switch t {
	case ColInt:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return v, nil
	case ColBool:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return v, nil
	case ColTime:
		for _, layout := range []string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02"} {
			if tm, err := time.Parse(layout, s); err == nil {
				return tm.UnixMicro(), nil
			}
		}
		return nil, fmt.Errorf("%q is not a time (2006-01-02 15:04:05)", s)
	}
	return s, nil
}

// likeEscape escapes LIKE wildcards so a user string matches literally.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Page appends LIMIT/OFFSET placeholders for the query's page.
func (w *Where) Page(lq ListQuery) string {
	limit := lq.Limit
	if limit <= 0 {
		limit = 10
	}
	return " LIMIT " + w.Arg(limit) + " OFFSET " + w.Arg(lq.Offset)
}
