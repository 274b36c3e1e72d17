package gc

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseParams(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Params
		ok   bool
	}{
		{`{}`, Params{DeleteUntagged: true, Workers: 1}, true},
		{`{"delete_untagged":false,"dry_run":true,"workers":10}`, Params{DeleteUntagged: false, DryRun: true, Workers: 10}, true},
		{`{"delete_untagged":null,"workers":null}`, Params{DeleteUntagged: true, Workers: 1}, true},
		// Harbor sends more keys than these; they are ignored.
		{`{"time_window":2,"redis_url_reg":"x"}`, Params{DeleteUntagged: true, Workers: 1}, true},
		{`{"workers":0}`, Params{}, false},
		{`{"workers":11}`, Params{}, false},
		{`{"workers":1.5}`, Params{}, false},
		{`{"workers":"2"}`, Params{}, false},
		{`{"dry_run":"true"}`, Params{}, false},
		{`{"delete_untagged":1}`, Params{}, false},
	} {
		var raw map[string]any
		if err := json.Unmarshal([]byte(c.in), &raw); err != nil {
			t.Fatal(err)
		}
		got, err := ParseParams(raw)
		if (err == nil) != c.ok {
			t.Errorf("ParseParams(%s): error %v, want ok=%t", c.in, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidParams) {
			t.Errorf("ParseParams(%s): %v does not wrap ErrInvalidParams", c.in, err)
		}
		if c.ok && got != c.want {
			t.Errorf("ParseParams(%s) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
