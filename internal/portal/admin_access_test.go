package portal_test

import (
	"net/http"
	"net/url"
	"testing"
)

// formOf is a form with the token and the fields kv (name, value, …; a name may repeat).
func formOf(tok string, kv ...string) url.Values {
	v := url.Values{"csrf": {tok}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestAccessAdminPagesRender: the administration links user groups, system robots and
// interrogation services for an administrator, and each page renders; a user who is no
// administrator gets 403 on each.
func TestAccessAdminPagesRender(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("render")
	mustContain(t, b.get("/admin"), http.StatusOK, `href="/admin/groups"`, `href="/admin/robots"`, `href="/admin/scanners"`)
	for _, c := range []struct{ path, text string }{
		{"/admin/groups", "There are no user groups yet."},
		{"/admin/groups?filter=x&page=2", "No user group matches"},
		{"/admin/robots", "There are no system robot accounts."},
		{"/admin/robots?sort=-name&filter=x", "No system robot account matches"},
		{"/admin/robots/new", "System permissions"},
		{"/admin/scanners", "Vulnerability database"},
		{"/admin/scanners?sort=-name", "Scan all now"},
		{"/admin/scanners/new", "Skip certificate verification"},
	} {
		mustContain(t, b.get(c.path), http.StatusOK, c.text)
		if a := g.get(c.path); a.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", c.path, a.status)
		}
	}
	mustContain(t, b.get("/admin/groups?sort=name"), http.StatusBadRequest, "cannot be sorted")
	mustContain(t, b.get("/admin/robots?sort=bogus"), http.StatusBadRequest, "cannot be sorted")
}
