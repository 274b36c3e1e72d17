// Package logctx carries log attributes in a context: the server puts a request's id into the
// request's context once, and every line logged with that context (slog's ...Context calls)
// carries it, whichever package logs it.
package logctx

import (
	"context"
	"log/slog"
	"slices"
)

type key struct{}

// With returns a context that carries attrs besides those ctx carries.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	return context.WithValue(ctx, key{}, append(slices.Clip(prev), attrs...))
}

// NewHandler wraps h so that each record gets the attributes its context carries. They join
// the record's own attributes, so inside a group they belong to the group. A handler wrapped
// already is returned as it is, so that no attribute is written twice.
func NewHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, _ := ctx.Value(key{}).([]slog.Attr); len(attrs) > 0 {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }
