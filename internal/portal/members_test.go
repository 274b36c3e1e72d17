package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestMembers: add a user with a role, change the role, remove the member, through the
// project service; its refusals on the page; a guest is offered none of it and a forged post
// from one changes nothing.
func TestMembers(t *testing.T) {
	t.Parallel()
	b := newServer(t).signedIn()
	g := b.withGuest("team")
	b.api(http.MethodPost, "/users", map[string]any{"username": "dev", "email": "dev@example.com", "realname": "Dev", "password": "Dev12345x"}, http.StatusCreated)
	a := b.get("/projects/team/members")
	mustContain(t, a, http.StatusOK, "admin", "guest", `action="/projects/team/members"`, `<option value="4">Maintainer</option>`, `<option value="5">Limited guest</option>`)
	tok := b.token("/projects/team/members")

	// The service's refusals, on the page.
	for _, c := range []struct {
		form   url.Values
		status int
		msg    string
	}{
		{url.Values{"username": {"nobody"}, "role": {"2"}}, http.StatusNotFound, "nobody"},
		{url.Values{"username": {"guest"}, "role": {"2"}}, http.StatusConflict, "The member guest already exists in project team."},
		{url.Values{"username": {"dev"}, "role": {"9"}}, http.StatusBadRequest, "Invalid role id 9"},
		{url.Values{"username": {""}, "role": {"2"}}, http.StatusBadRequest, "Enter the name of the user to add."},
	} {
		c.form.Set("csrf", tok)
		mustContain(t, b.do(http.MethodPost, "/projects/team/members", c.form), c.status, c.msg)
	}

	if a := b.do(http.MethodPost, "/projects/team/members", url.Values{"csrf": {tok}, "username": {"dev"}, "role": {"2"}}); a.status != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", a.status, a.body)
	}
	// A group: an HTTP group named for the first time is created, as the API's member_group does.
	if a := b.do(http.MethodPost, "/projects/team/members", url.Values{"csrf": {tok}, "kind": {"http"}, "username": {"ops"}, "role": {"4"}}); a.status != http.StatusSeeOther {
		t.Fatalf("add a group: %d\n%s", a.status, a.body)
	}
	if got := b.api(http.MethodGet, "/projects/team/members?entityname=ops", nil, http.StatusOK); !strings.Contains(got, `"entity_type":"g"`) || !strings.Contains(got, `"role_id":4`) {
		t.Errorf("the group member through the API: %s", got)
	}
	mustContain(t, b.do(http.MethodPost, "/projects/team/members", url.Values{"csrf": {tok}, "kind": {"ldap"}, "username": {"x"}, "role": {"2"}}),
		http.StatusBadRequest, "A member is a user, an HTTP group or an OIDC group")
	a = b.get("/projects/team/members?done=added")
	mustContain(t, a, http.StatusOK, "The member was added.", "dev")
	m := regexp.MustCompile(`<td>dev</td>\s*<td>User</td>\s*<td>\s*<form method="post" action="/projects/team/members/(\d+)/role"`).FindStringSubmatch(a.body)
	if m == nil {
		t.Fatalf("no role form for dev:\n%s", a.body)
	}
	base := "/projects/team/members/" + m[1]

	// The guest: no forms, and forged posts with their own token are refused.
	a = g.get("/projects/team/members")
	mustContain(t, a, http.StatusOK, "dev", "Developer")
	if strings.Contains(a.body, `method="post" action="/projects/team/members`) || strings.Contains(a.body, "/delete") {
		t.Errorf("the guest is offered member forms:\n%s", a.body)
	}
	gtok := g.token("/projects/team/members")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/projects/team/members", url.Values{"username": {"dev"}, "role": {"1"}}},
		{base + "/role", url.Values{"role": {"1"}}},
		{base + "/delete", url.Values{}},
	} {
		c.form.Set("csrf", gtok)
		mustContain(t, g.do(http.MethodPost, c.path, c.form), http.StatusForbidden)
	}
	if a := g.get(base + "/delete"); a.status != http.StatusForbidden {
		t.Errorf("the guest's removal form: %d", a.status)
	}
	if md := b.api(http.MethodGet, "/projects/team/members?entityname=dev", nil, http.StatusOK); !strings.Contains(md, `"role_id":2`) {
		t.Errorf("the guest's posts changed dev's membership: %s", md)
	}

	// Change the role, then remove.
	if a := b.do(http.MethodPost, base+"/role", url.Values{"csrf": {tok}, "role": {"4"}}); a.status != http.StatusSeeOther {
		t.Fatalf("change role: %d\n%s", a.status, a.body)
	}
	if md := b.api(http.MethodGet, "/projects/team/members?entityname=dev", nil, http.StatusOK); !strings.Contains(md, `"role_id":4`) {
		t.Errorf("after the change: %s", md)
	}
	mustContain(t, b.get(base+"/delete"), http.StatusOK, "Remove dev from team")
	if a := b.do(http.MethodPost, base+"/delete", url.Values{"csrf": {"forged"}}); a.status != http.StatusForbidden {
		t.Errorf("remove with a wrong token: %d", a.status)
	}
	if a := b.do(http.MethodPost, base+"/delete", url.Values{"csrf": {tok}}); a.status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", a.status, a.body)
	}
	a = b.get("/projects/team/members?done=removed")
	mustContain(t, a, http.StatusOK, "The member was removed.")
	if strings.Contains(a.body, "<td>dev</td>") {
		t.Errorf("dev is still listed:\n%s", a.body)
	}
	if a := b.get(base + "/delete"); a.status != http.StatusNotFound {
		t.Errorf("a removed member's page: %d", a.status)
	}
}
