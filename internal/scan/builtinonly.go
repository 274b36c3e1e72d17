package scan

import (
	"context"
	"fmt"
)

// BuiltinOnly resolves every project to the built-in scanner: the registrations when no
// external scanner is registered.
type BuiltinOnly struct{ Engine *Builtin }

func (b BuiltinOnly) ForProject(context.Context, int64) (Scanner, error) {
	return Scanner{UUID: BuiltinUUID, Builtin: true, Engine: b.Engine}, nil
}

func (b BuiltinOnly) ByUUID(_ context.Context, uuid string) (Scanner, error) {
	if uuid != BuiltinUUID {
		return Scanner{}, fmt.Errorf("no scanner registration %s", uuid)
	}
	return Scanner{UUID: BuiltinUUID, Builtin: true, Engine: b.Engine}, nil
}
