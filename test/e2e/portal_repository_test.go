//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortalRepository walks a repository's and an artifact's pages in Chromium: the
// description written in markdown, a tag and a label added from the repository page's
// actions, the artifact's layers and referrers, then a tag removed, the artifact and the
// repository deleted, each after its confirmation page.
func TestPortalRepository(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	srv := startServer(t, serverOptions{})
	dir := t.ArtifactDir()
	t.Logf("screenshots in %s (kept with go test -artifacts)", dir)
	w := &walk{t: t, ctx: ctx, base: srv.URL, dir: dir}

	createProject(t, srv, "shop", false)
	img := randomImage(t, 32<<10)
	keep := randomImage(t, 16<<10)
	for tag, im := range map[string]testImage{"v1": img, "v2": keep} {
		if err := srv.admin().pushImage(context.Background(), "shop/app", tag, im); err != nil {
			t.Fatalf("push %s: %v", tag, err)
		}
	}
	body, _ := json.Marshal(map[string]any{"name": "release", "color": "#C92100", "scope": "g"})
	if res := srv.admin().do(t, http.MethodPost, "/api/v2.0/labels", body, "Content-Type", "application/json"); res.Status != http.StatusCreated {
		t.Fatalf("create a label: %s", res)
	}
	repo := "/projects/shop/repositories/app"
	art := repo + "/artifacts/" + img.Digest

	w.step("login", chromedp.Navigate(srv.URL+"/login"), login(srv.User, srv.Password),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)))
	w.step("repository page", chromedp.Navigate(srv.URL+repo),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Artifacts"]`)))

	w.step("description saved",
		chromedp.Click(chromedp.CSS(`details.edit-description summary`)),
		chromedp.WaitVisible(chromedp.ID("description")),
		chromedp.SendKeys(chromedp.ID("description"), "# The shop\n\nBuilt **nightly**. <script>alert(1)</script>"),
		chromedp.Click(chromedp.CSS(`form[action="`+repo+`/-/description"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	w.at(repo + "?done=described")
	if h := w.text(".markdown h1"); h != "The shop" {
		t.Errorf("the description's heading: %q", h)
	}
	if w.present(".markdown script") {
		t.Error("the description's script came through")
	}

	// The actions of v1's row: a tag, then a label.
	row := `//tr[.//span[@class="tag" and text()="v1"]]`
	w.step("artifact actions",
		chromedp.Click(chromedp.Search(row+`//summary`)),
		chromedp.WaitVisible(chromedp.Search(row+`//code[starts-with(text(), "docker pull `+srv.Host+`/shop/app@`+img.Digest+`")]`)))
	w.step("tag added",
		chromedp.SendKeys(chromedp.Search(row+`//input[@name="tag"]`), "stable"),
		chromedp.Click(chromedp.Search(row+`//button[text()="Add tag"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and text()="The tag was added."]`)),
		chromedp.WaitVisible(chromedp.Search(`//span[@class="tag" and text()="stable"]`)))
	w.step("label added",
		chromedp.Click(chromedp.Search(row+`//summary`)),
		chromedp.Click(chromedp.Search(row+`//button[text()="Add label"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and text()="The label was added."]`)),
		chromedp.WaitVisible(chromedp.Search(row+`//span[@class="label-chip" and contains(., "release")]`)))

	w.step("artifact page", chromedp.Click(chromedp.CSS(`a[href="`+art+`"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Layers"]`)))
	if layers := w.text("#layers + .scroll table"); !strings.Contains(layers, "application/vnd.oci.image.layer.v1.tar+gzip") || !strings.Contains(layers, "(config)") {
		t.Errorf("the layers table: %q", layers)
	}
	if refs := w.text("#referrers + p"); !strings.Contains(refs, "No signature") {
		t.Errorf("the referrers: %q", refs)
	}

	// The SBOM, generated from the page, then shown with its packages.
	w.step("SBOM requested", chromedp.Click(chromedp.Search(`//button[text()="Generate SBOM"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and starts-with(text(), "The SBOM was requested")]`)))
	deadline := time.Now().Add(2 * time.Minute)
	for !w.present(`a[href="` + art + `/sbom"]`) {
		if time.Now().After(deadline) {
			t.Fatalf("no SBOM after 2 minutes: %s", w.text("#sbom + *"))
		}
		time.Sleep(500 * time.Millisecond)
		w.step("SBOM reload", chromedp.Navigate(srv.URL+art), chromedp.WaitVisible(chromedp.ID("sbom")))
	}
	w.step("SBOM shown", chromedp.ScrollIntoView(chromedp.ID("sbom")))
	if pkgs := w.text("#sbom ~ .scroll table"); !strings.Contains(pkgs, "shop/app") {
		t.Errorf("the SBOM's packages: %q", pkgs)
	}

	w.step("remove tag confirmation", chromedp.Click(chromedp.CSS(`a[href="`+art+`/tags/stable/delete"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Remove tag stable"]`)))
	w.step("tag removed", chromedp.Click(chromedp.CSS(`form[action="`+art+`/tags/stable/delete"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and text()="The tag was removed."]`)))
	if w.present(`a[href="` + art + `/tags/stable/delete"]`) {
		t.Error("the removed tag is still shown")
	}

	w.step("delete artifact confirmation", chromedp.Click(chromedp.CSS(`a[href="`+art+`/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="`+art+`/delete"] button`)))
	w.step("artifact deleted", chromedp.Click(chromedp.CSS(`form[action="`+art+`/delete"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and text()="The artifact was deleted."]`)))
	w.at(repo + "?done=deleted")
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0"+art, nil); res.Status != http.StatusNotFound {
		t.Errorf("the deleted artifact through the API: %s", res)
	}

	w.step("delete repository confirmation", chromedp.Click(chromedp.CSS(`a[href="`+repo+`/-/delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="`+repo+`/-/delete"] button`)))
	w.step("repository deleted", chromedp.Click(chromedp.CSS(`form[action="`+repo+`/-/delete"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@class="notice" and contains(text(), "shop/app was deleted")]`)))
	if res := srv.admin().do(t, http.MethodGet, "/api/v2.0/projects/shop/repositories/app", nil); res.Status != http.StatusNotFound {
		t.Errorf("the deleted repository through the API: %s", res)
	}
}
