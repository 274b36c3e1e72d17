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
