package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Listing parameters as Harbor's clients send them: page=0&page_size=0 for "everything" (the
// swagger sets no minimum, and Harbor applies no limit then), and q escaped once or twice.

// TestListPageSizeZeroListsEverything: a page_size of 0 or less lists every item in one
// answer, a page below 1 is the first, and lookups by name with page=0&page_size=0 find their
// one item, on every kind of list that clients use so.
func TestListPageSizeZeroListsEverything(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		const n = 12 // more than the default page of 10
		project, projectID := ts.mrProject(t, "every", false)
		var users, labels, robots []string
		for i := range n {
			name := fmt.Sprintf("every-%02d-%s", i, uniqueSuffix())
			acctCreate(t, ts, name)
			users = append(users, name)
			labels = append(labels, "label-"+name)
			expectStatus(t, ts.mrJSON(t, http.MethodPost, apiBase+"/labels", nil,
				map[string]any{"name": labels[i], "scope": "p", "project_id": projectID}), http.StatusCreated)
			r := ts.mrRobot(t, nil, projectRobot(name, project, -1, "repository:pull"))
			robots = append(robots, r.Name)
			ts.pushImage(t, fmt.Sprintf("%s/repo-%02d", project, i), "v1", mtOCIManifest)
		}

		type page []struct {
			Name     string `json:"name"`
			Username string `json:"username"`
		}
		list := func(t *testing.T, path string) (page, *http.Response) {
			t.Helper()
			resp := ts.do(t, http.MethodGet, path, nil, nil)
			expectStatus(t, resp, http.StatusOK)
			return decodeJSON[page](t, resp), resp
		}

		everything := []struct {
			name, path string
			total      int
		}{
			{"users", "/users", n},
			{"labels", "/labels?scope=p&project_id=" + strconv.FormatInt(projectID, 10), n},
			{"robots", "/robots?q=" + url.QueryEscape("Level=project,ProjectID="+strconv.FormatInt(projectID, 10)), n},
			{"repositories", "/projects/" + project + "/repositories", n},
			{"audit logs", "/projects/" + project + "/logs", -1}, // one entry or more per push
		}
		for _, e := range everything {
			for _, pq := range []string{"page=0&page_size=0", "page_size=0", "page=-1&page_size=-1", "page=1&page_size=0"} {
				t.Run(e.name+"?"+pq, func(t *testing.T) {
					sep := "?"
					if strings.Contains(e.path, "?") {
						sep = "&"
					}
					items, resp := list(t, apiBase+e.path+sep+pq)
					total, err := strconv.Atoi(resp.Header.Get("X-Total-Count"))
					// Audit entries are written from the event stream moments after each push:
					// one may land between the count and the page.
					for try := 0; e.total < 0 && err == nil && len(items) != total && try < 50; try++ {
						time.Sleep(100 * time.Millisecond)
						items, resp = list(t, apiBase+e.path+sep+pq)
						total, err = strconv.Atoi(resp.Header.Get("X-Total-Count"))
					}
					if err != nil || len(items) != total || (e.total >= 0 && total != e.total) || total <= listDefaultPageSize {
						t.Errorf("%d items, X-Total-Count %q, want all %d", len(items), resp.Header.Get("X-Total-Count"), e.total)
					}
					if l := resp.Header.Get("Link"); l != "" {
						t.Errorf("Link %q for a page holding everything", l)
					}
				})
			}
		}

		// The default page is still 10, with a Link to the rest.
		items, resp := list(t, apiBase+"/users")
		if len(items) != listDefaultPageSize || resp.Header.Get("Link") == "" {
			t.Errorf("default page: %d users, Link %q", len(items), resp.Header.Get("Link"))
		}

		lookups := []struct {
			name, path, want string
		}{
			{"user by q", "/users?q=username%3D" + users[3], users[3]},
			{"user by username", "/users?username=" + users[4], users[4]},
			{"project by name", "/projects?name=" + project, project},
			{"label by name", "/labels?scope=p&project_id=" + strconv.FormatInt(projectID, 10) + "&name=" + labels[5], labels[5]},
			{"robot by q", "/robots?q=" + url.QueryEscape("name="+project+"+"+users[6]), robots[6]},
			{"repository by q", "/projects/" + project + "/repositories?q=" + url.QueryEscape("name="+project+"/repo-07"), project + "/repo-07"},
			{"all repositories by q", "/repositories?q=" + url.QueryEscape("name="+project+"/repo-08"), project + "/repo-08"},
		}
		for _, l := range lookups {
			t.Run(l.name, func(t *testing.T) {
				sep := "?"
				if strings.Contains(l.path, "?") {
					sep = "&"
				}
				items, resp := list(t, apiBase+l.path+sep+"page=0&page_size=0")
				if len(items) != 1 || (items[0].Name != l.want && items[0].Username != l.want) || resp.Header.Get("X-Total-Count") != "1" {
					t.Errorf("found %+v (X-Total-Count %q), want %s", items, resp.Header.Get("X-Total-Count"), l.want)
				}
			})
		}

		// Quotas are looked up by their project.
		quotas := decodeJSON[[]struct {
			Ref struct {
				ID int64 `json:"id"`
			} `json:"ref"`
		}](t, ts.do(t, http.MethodGet, fmt.Sprintf("%s/quotas?reference=project&reference_id=%d&page=0&page_size=0", apiBase, projectID), nil, nil))
		if len(quotas) != 1 || quotas[0].Ref.ID != projectID {
			t.Errorf("quota of project %d: %+v", projectID, quotas)
		}

		// page_size above the swagger's maximum is still refused.
		assertOCIError(t, ts.do(t, http.MethodGet, apiBase+"/users?page_size=101", nil, nil), http.StatusBadRequest, "BAD_REQUEST")
	})
}

// listDefaultPageSize is the page size of a list without page_size.
const listDefaultPageSize = 10

// TestListQEscapedTwice: q escaped by the client and again by its HTTP library means what it
// means escaped once, as in Harbor, on the lists that clients filter with q.
func TestListQEscapedTwice(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, ts *testServer) {
		project, projectID := ts.mrProject(t, "twice", false)
		robot := ts.mrRobot(t, nil, projectRobot("ci", project, -1, "repository:pull"))
		ts.pushImage(t, project+"/app", "v1", mtOCIManifest)
		ts.pushImage(t, project+"/other", "v1", mtOCIManifest)
		user := "twice-" + uniqueSuffix()
		acctCreate(t, ts, user)

		cases := []struct {
			name, path, q, want string
		}{
			{"robots of a project", "/robots", fmt.Sprintf("Level=project,ProjectID=%d", projectID), robot.Name},
			{"repository", "/projects/" + project + "/repositories", "name=" + project + "/app", project + "/app"},
			{"user", "/users", "username=" + user, user},
			{"fuzzy user", "/users", "username=~" + user[:len(user)-2], user},
			{"artifact media type", "/projects/" + project + "/repositories/other/artifacts", "media_type=" + mtOCIConfig, ""},
		}
		for _, c := range cases {
			for _, esc := range []struct {
				name string
				q    string
			}{
				{"once", url.QueryEscape(c.q)},
				{"twice", url.QueryEscape(url.QueryEscape(c.q))},
			} {
				t.Run(c.name+" escaped "+esc.name, func(t *testing.T) {
					resp := ts.do(t, http.MethodGet, apiBase+c.path+"?q="+esc.q, nil, nil)
					expectStatus(t, resp, http.StatusOK)
					items := decodeJSON[[]struct {
						Name     string `json:"name"`
						Username string `json:"username"`
						Digest   string `json:"digest"`
					}](t, resp)
					if len(items) != 1 || (c.want != "" && items[0].Name != c.want && items[0].Username != c.want) {
						t.Errorf("q=%s: %+v, want only %s", esc.q, items, c.want)
					}
				})
			}
		}
	})
}
