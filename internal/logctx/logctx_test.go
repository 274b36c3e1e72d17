package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestContextAttrsInEveryLine(t *testing.T) {
	t.Parallel()
	one := With(context.Background(), slog.String("request_id", "r1"))
	two := With(one, slog.String("user", "dev"))
	tests := []struct {
		name string
		ctx  context.Context
		log  func(*slog.Logger, context.Context)
		want map[string]any
	}{
		{"no attributes", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "k", 1) },
			map[string]any{"msg": "m", "k": 1.0}},
		{"one attribute", one, func(l *slog.Logger, ctx context.Context) { l.WarnContext(ctx, "m") },
			map[string]any{"msg": "m", "request_id": "r1"}},
		{"added to", two, func(l *slog.Logger, ctx context.Context) { l.ErrorContext(ctx, "m") },
			map[string]any{"msg": "m", "request_id": "r1", "user": "dev"}},
		{"logger with attributes", one, func(l *slog.Logger, ctx context.Context) { l.With("k", "v").InfoContext(ctx, "m") },
			map[string]any{"msg": "m", "k": "v", "request_id": "r1"}},
		{"logger with a group", one, func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m", "k", "v") },
			map[string]any{"msg": "m", "g": map[string]any{"k": "v", "request_id": "r1"}}},
		{"LogAttrs", one, func(l *slog.Logger, ctx context.Context) { l.LogAttrs(ctx, slog.LevelInfo, "m") },
			map[string]any{"msg": "m", "request_id": "r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			}}
			tt.log(slog.New(NewHandler(slog.NewJSONHandler(&buf, opts))), tt.ctx)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%q: %v", buf.String(), err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

// Wrapping a wrapped handler again (the binary wraps its logger, the server wraps what it is
// given) writes each attribute once.
func TestNewHandlerTwice(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(NewHandler(slog.NewJSONHandler(&buf, nil))))
	log.InfoContext(With(context.Background(), slog.String("request_id", "r1")), "m")
	if n := strings.Count(buf.String(), `"request_id"`); n != 1 {
		t.Errorf("request_id %d times in %s", n, buf.String())
	}
}

// A context passed on keeps what it carried: attributes added for one line's context do not
// show up in a sibling's.
func TestWithDoesNotShareAttrs(t *testing.T) {
	t.Parallel()
	base := With(context.Background(), slog.String("request_id", "r1"))
	a := With(base, slog.String("a", "1"))
	b := With(base, slog.String("b", "2"))
	for ctx, want := range map[context.Context][]string{base: {"request_id"}, a: {"request_id", "a"}, b: {"request_id", "b"}} {
		var keys []string
		for _, at := range ctx.Value(key{}).([]slog.Attr) {
			keys = append(keys, at.Key)
		}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("attributes %v, want %v", keys, want)
		}
	}
}
