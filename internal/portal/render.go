package portal

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/berthreg/berth/internal/health"
	"github.com/berthreg/berth/internal/meta"
)

//go:embed all:templates
var templateFS embed.FS

// The pages are every templates/<name>.html but the layout, each parsed with the layout and
// the shared partials (templates/_<name>.html).
type pages struct{ byName map[string]*template.Template }

func parsePages() *pages {
	p := &pages{byName: map[string]*template.Template{}}
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	shared := []string{"templates/layout.html"}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "_") {
			shared = append(shared, "templates/"+e.Name())
		}
	}
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".html")
		if !ok || n == "layout" || strings.HasPrefix(n, "_") {
			continue
		}
		p.byName[n] = template.Must(template.New(n).Funcs(funcs).ParseFS(templateFS, append(shared, "templates/"+e.Name())...))
	}
	return p
}

// view is what the layout shows around a page.
type view struct {
	User     viewUser
	CSRF     string
	Version  string
	Database string // the database's health: healthy or unhealthy
	// Status is the rest of the status strip.
	Status statusStrip
	Style  string // the stylesheet's URL, with its content hash
	Path   string
	// Query is the search box's text.
	Query string
	Page  any
}

type viewUser struct {
	Name     string
	SysAdmin bool
	SignedIn bool
	// Admin is whether the caller may open an administration page.
	Admin bool
}

// render writes page name with data and status code. Pages are rendered into a buffer first, so
// a template error is a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, c *call, code int, name string, data any) {
	v := view{
		User:    viewUser{Name: c.p.Name, SysAdmin: c.p.SysAdmin, SignedIn: !c.p.IsAnonymous()},
		CSRF:    maskToken(c.csrf),
		Version: h.Version,
		Style:   h.assets.url("portal.css"),
		Path:    c.r.URL.Path,
		Page:    data,
	}
	v.Status = h.statusStrip(c)
	v.Database = v.Status.Database
	if c.r.URL.Path == "/search" {
		v.Query = c.r.URL.Query().Get("q")
	}
	if v.User.SignedIn {
		links, err := h.adminLinks(c)
		v.User.Admin = err == nil && len(links) > 0
	}
	var buf bytes.Buffer
	if err := h.pages.byName[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.Log.ErrorContext(c.r.Context(), "portal: render page", "page", name, "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show one user's data: never kept by a shared cache, nor shown again from history
	// after logout.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Vary", "Accept-Encoding")
	body := buf.Bytes()
	if len(body) > gzipAbove && acceptsGzip(c.r) {
		// A list page's rows repeat their markup: compressed, a page of 100 artifacts is a
		// tenth of its size. Fast compression: the page is made for this request only.
		zbuf := &bytes.Buffer{}
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(zbuf)
		zw.Write(body)
		zw.Close()
		gzipWriters.Put(zw)
		hdr.Set("Content-Encoding", "gzip")
		body = zbuf.Bytes()
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body)
}

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// databaseHealth is the database's state for the status strip.
func (h *Handler) databaseHealth(c *call) string {
	if h.Health == nil {
		return ""
	}
	for _, cmp := range h.Health.Check(c.r.Context()).Components {
		if cmp.Name == "database" {
			return cmp.Status
		}
	}
	return health.Healthy
}

var funcs = template.FuncMap{
	"bytes":        humanBytes,
	"time":         func(t time.Time) string { return formatTime(t) },
	"role":         roleName,
	"short":        shortDigest,
	"pathseg":      url.PathEscape,
	"repopath":     repoPath,
	"join":         strings.Join,
	"robotExpiry":  robotExpiry,
	"artifactPath": artifactPath,
	"scanState":    scanState,
	"scanBrief":    scanBrief,
	"waiting":      waiting,
	"index0": func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	},
	"sortArgs": func(l listing, key, label string) sortArgs { return sortArgs{l, key, label} },
	"filterArgs": func(label string, l listing, path string) filterArgs {
		return filterArgs{Label: label, List: l, Path: path}
	},
}

// sortArgs and filterArgs are what the layout's "sorthead" and "filter" templates show.
type sortArgs struct {
	List       listing
	Key, Label string
}

type filterArgs struct {
	Label string
	List  listing
	Path  string
}

func formatTime(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// humanBytes is a size in binary units, as Harbor's portal shows sizes.
func humanBytes(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// roleName names a project role as Harbor's portal does; "" for none.
func roleName(role int) string {
	switch role {
	case meta.RoleProjectAdmin:
		return "Project admin"
	case meta.RoleMaintainer:
		return "Maintainer"
	case meta.RoleDeveloper:
		return "Developer"
	case meta.RoleGuest:
		return "Guest"
	case meta.RoleLimitedGuest:
		return "Limited guest"
	}
	return ""
}

// shortDigest is sha256:0123456789ab — enough to tell artifacts apart on a page.
func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// repoPath escapes each segment of a repository name for a URL path, keeping its slashes.
func repoPath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// sentence turns a service's message into a sentence for a person: Harbor's terse refusals in
// words, the rest capitalised and ended with a full stop.
func sentence(msg string) string {
	switch msg {
	case "forbidden":
		return "You do not have permission to do this."
	case "unauthorized":
		return "Please log in to do this."
	case "":
		return "The request was refused."
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") && !strings.HasSuffix(msg, "!") {
		msg += "."
	}
	return msg
}

func itoa(n int) string { return strconv.Itoa(n) }
