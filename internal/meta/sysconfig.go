package meta

import (
	"context"
	"encoding/json"
	"fmt"
)

// SystemConfig holds the settings Harbor exposes through /api/v2.0/configurations that Berth
// uses. It is stored as one JSON document in the settings table, so every replica reads the same
// values and adding a field needs no migration.
type SystemConfig struct {
	AuthMode                   string `json:"auth_mode"`                    // db_auth (ldap_auth, oidc_auth later)
	ProjectCreationRestriction string `json:"project_creation_restriction"` // everyone | adminonly
	SelfRegistration           bool   `json:"self_registration"`
	RobotTokenDuration         int    `json:"robot_token_duration"` // days, default for robots created without a duration
	RobotNamePrefix            string `json:"robot_name_prefix"`
	TokenExpiration            int    `json:"token_expiration"`    // minutes
	StoragePerProject          int64  `json:"storage_per_project"` // default quota in bytes, -1 = unlimited
	QuotaPerProjectEnable      bool   `json:"quota_per_project_enable"`
	ReadOnly                   bool   `json:"read_only"`
	SessionTimeout             int    `json:"session_timeout"` // minutes a portal session lives unused
	BannerMessage              string `json:"banner_message"`  // the portal's banner, a JSON document as a string
}

// DefaultSystemConfig is Harbor's defaults (HARBOR-NOTES §l).
func DefaultSystemConfig() SystemConfig {
	return SystemConfig{
		AuthMode:                   "db_auth",
		ProjectCreationRestriction: "everyone",
		RobotTokenDuration:         30,
		RobotNamePrefix:            "robot$",
		TokenExpiration:            30,
		StoragePerProject:          -1,
		QuotaPerProjectEnable:      true,
		SessionTimeout:             60,
	}
}

const systemConfigKey = "system_config"

// SystemConfig returns the stored configuration over the defaults.
func (q q) SystemConfig(ctx context.Context) (SystemConfig, error) {
	c := DefaultSystemConfig()
	v, ok, err := q.Setting(ctx, systemConfigKey)
	if err != nil || !ok {
		return c, err
	}
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return c, fmt.Errorf("stored system configuration: %w", err)
	}
	return c, nil
}

// SetSystemConfig replaces the stored configuration.
func (q q) SetSystemConfig(ctx context.Context, c SystemConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return q.SetSetting(ctx, systemConfigKey, string(b))
}

// SetSystemConfig replaces the stored configuration, and announces the change
// (Changes.SystemConfig) to what this process remembers.
func (db *DB) SetSystemConfig(ctx context.Context, c SystemConfig) error {
	defer db.changed(Changes{SystemConfig: true})
	return db.q.SetSystemConfig(ctx, c)
}

// UpdateSystemConfig applies fn to the stored configuration and stores the result, atomically:
// the settings row is locked first, so concurrent updates of different keys apply one after the
// other instead of one losing the other's change. fn's error aborts the update.
func (db *DB) UpdateSystemConfig(ctx context.Context, fn func(*SystemConfig) error) (SystemConfig, error) {
	defer db.changed(Changes{SystemConfig: true})
	var c SystemConfig
	err := db.Tx(ctx, func(tx *Tx) error {
		def, err := json.Marshal(DefaultSystemConfig())
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", systemConfigKey, string(def)); err != nil {
			return fmt.Errorf("update system configuration: %w", err)
		}
		// A no-op UPDATE takes the row lock on PostgreSQL (SQLite's single writer already
		// serialises); the read below then sees the latest committed value.
		if _, err := tx.exec(ctx, "UPDATE settings SET value = value WHERE key = $1", systemConfigKey); err != nil {
			return fmt.Errorf("update system configuration: %w", err)
		}
		if c, err = tx.SystemConfig(ctx); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		return tx.SetSystemConfig(ctx, c)
	})
	return c, err
}
