package vulndb

import "testing"

func TestCPEMajor(t *testing.T) {
	for suffix, want := range map[string]string{
		"enterprise_linux:9::appstream": "9",
		"enterprise_linux:8::baseos":    "8",
		"rhel_eus:9.2::baseos":          "9",
		"enterprise_linux":              "",
		"":                              "",
	} {
		if got := cpeMajor(suffix); got != want {
			t.Errorf("cpeMajor(%q) = %q, want %q", suffix, got, want)
		}
	}
}
