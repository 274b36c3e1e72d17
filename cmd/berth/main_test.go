package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, 2, "Usage:"},
		{"unknown", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "berth "},
		{"help", []string{"help"}, 0, "berth serve"},
		{"serve help", []string{"serve", "--help"}, 0, "BERTH_DATABASE_URL"},
		{"invalid config", []string{"serve", "--addr", "nonsense"}, 2, "BERTH_ADDR (addr)"},
		{"passwd without user", []string{"admin", "passwd"}, 2, "usage: berth admin passwd USER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String()+errOut.String(), tt.contains) {
				t.Fatalf("output lacks %q: %q %q", tt.contains, out.String(), errOut.String())
			}
		})
	}
}

func TestAdminPasswd(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := meta.Open(ctx, "", dir+"/berth.db", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword("Old12345678")
	if _, err := db.CreateUser(ctx, meta.User{Username: "admin", PasswordHash: hash, SysAdmin: true}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cases := []struct {
		name, user, input string
		code              int
		contains          string
	}{
		{"weak password", "admin", "short\n", 1, "8 to 128"},
		{"no digit", "admin", "NoDigitsHere\n", 1, "digit"},
		{"unknown user", "nobody", "Valid12345\n", 1, `no local user "nobody"`},
		{"empty input", "admin", "", 1, "no password"},
		{"success", "admin", "New12345678\n", 0, "password of admin changed"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run([]string{"admin", "passwd", c.user, "--data-dir", dir}, strings.NewReader(c.input), &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.contains) {
			t.Fatalf("%s: exit %d (%q %q), want %d containing %q", c.name, code, out.String(), errOut.String(), c.code, c.contains)
		}
	}
	db, err = meta.Open(ctx, "", dir+"/berth.db", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(u.PasswordHash, "New12345678"); !ok {
		t.Fatal("new password not stored")
	}
}
