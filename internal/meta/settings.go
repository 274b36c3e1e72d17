package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns a stored setting and whether it exists.
func (q q) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := q.queryRowW(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSettingIfAbsent stores value unless key exists and returns what is stored afterwards, so
// replicas racing to initialise a setting all end up with the same value.
func (q q) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	if _, err := q.exec(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", key, value); err != nil {
		return "", fmt.Errorf("store setting %s: %w", key, err)
	}
	v, ok, err := q.Setting(ctx, key)
	if err == nil && !ok {
		err = fmt.Errorf("store setting %s: vanished", key)
	}
	return v, err
}

// SetSetting stores or replaces a setting.
func (q q) SetSetting(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}
