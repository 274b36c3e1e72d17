package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
)

// Store is what the registry reads and writes in the metadata store (*meta.DB).
type Store interface {
	Tx(ctx context.Context, fn func(*meta.Tx) error) error
	EmitEvents(ctx context.Context, evs ...meta.Event) error
	// WatchChanges and ChangesHeard say when remembered answers are still true (see
	// pullcache.go).
	WatchChanges(fn func(meta.Changes))
	ChangesHeard() bool

	LookupProject(ctx context.Context, name string) (meta.Project, error)
	EnabledImmutableRules(ctx context.Context, projectID int64) ([]meta.ImmutableRule, error)

	// Repositories, manifests and tags.
	RepositoryByName(ctx context.Context, name string) (meta.Repository, error)
	Catalog(ctx context.Context, f meta.CatalogFilter) ([]string, error)
	ListTags(ctx context.Context, repo, last string, n int) ([]string, error)
	ManifestByDigest(ctx context.Context, repo, digest string) (meta.Manifest, error)
	ManifestByTag(ctx context.Context, repo, tag string) (meta.Manifest, error)
	ManifestsByDigests(ctx context.Context, repoID int64, digests []string) (map[string]meta.Manifest, error)
	ManifestsWithoutArtMediaType(ctx context.Context, repoID, projectID int64, n int) ([]meta.Manifest, error)
	SetArtMediaType(ctx context.Context, manifestID int64, mediaType string) error
	TagsOfManifests(ctx context.Context, ids []int64) (map[int64][]meta.Tag, error)
	ParentDigests(ctx context.Context, manifestID int64) ([]string, error)
	Accessories(ctx context.Context, repoID int64, digest string) ([]meta.Manifest, error)
	Referrers(ctx context.Context, repo, digest, artifactType string) ([]meta.Referrer, error)
	RecordPulls(ctx context.Context, pulls []meta.PullRecord, evs ...meta.Event) error

	// Blobs and their links.
	LinkBlob(ctx context.Context, projectID int64, repo, digest string, size int64, present func() error) error
	LinkUploadedBlob(ctx context.Context, projectID int64, repo, digest string, size int64, uploadID string, present func() error) error
	UnlinkBlob(ctx context.Context, repo, digest string) error
	LinkedBlobSize(ctx context.Context, repo, digest string) (int64, error)
	LinkedManifestBlobs(ctx context.Context, m meta.Manifest) (map[string]int64, error)
	RepositoriesLinking(ctx context.Context, digest string, limit int) ([]string, error)
	CheckBlobQuota(ctx context.Context, projectID int64, digest string, size int64) (limited bool, err error)

	// Upload sessions.
	CreateUpload(ctx context.Context, u meta.Upload) error
	Upload(ctx context.Context, id string) (meta.Upload, error)
	AdvanceUpload(ctx context.Context, u meta.Upload, from int64) error
	DeleteUpload(ctx context.Context, id string) error
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// Service implements the registry's rules over the metadata store and the blob store.
type Service struct {
	DB              Store
	Blobs           blob.Store
	MaxManifestSize int64
	Log             *slog.Logger
	// Config reads the system configuration on the write path (read-only mode, quotas): the
	// configuration service's cache.
	Config ConfigReader

	pulls      pullCounter
	pullCaches pullCaches
	// watch subscribes the memories below and pullCaches to the store's changes, once.
	watch          sync.Once
	projects       memory[string, meta.Project]
	immutableRules memory[int64, []meta.ImmutableRule]
	unlimited      memory[int64, bool] // projects without a storage limit

	uploadLocksMu sync.Mutex
	uploadLocks   map[string]*uploadLock
}

// ConfigReader reads the system configuration; *settings.Service satisfies it.
type ConfigReader interface {
	CachedSystemConfig(ctx context.Context) (meta.SystemConfig, error)
}

// Project resolves the project of a repository name, validating the name on the way.
// A missing project is NAME_UNKNOWN: a repository can only be pushed into an existing project.
func (s *Service) Project(ctx context.Context, repo string) (meta.Project, error) {
	name, err := ValidateRepository(repo)
	if err != nil {
		return meta.Project{}, err
	}
	p, err := s.lookupProject(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Project{}, errorf(CodeNameUnknown, "project %s not found", name)
	}
	if err != nil {
		return meta.Project{}, fmt.Errorf("look up project %s: %w", name, err)
	}
	return p, nil
}

// StatBlob returns the size of a blob linked in the repository.
func (s *Service) StatBlob(ctx context.Context, repo string, d string) (int64, error) {
	dg, err := ParseDigest(d)
	if err != nil {
		return 0, err
	}
	size, err := s.linkedBlobSize(ctx, repo, dg.String())
	if errors.Is(err, meta.ErrNotFound) {
		return 0, errorf(CodeBlobUnknown, "blob %s unknown to repository %s", d, repo)
	}
	return size, err
}

// OpenBlob opens a blob linked in the repository.
func (s *Service) OpenBlob(ctx context.Context, repo string, d string) (blob.Reader, int64, error) {
	size, err := s.StatBlob(ctx, repo, d)
	if err != nil {
		return nil, 0, err
	}
	r, err := s.Blobs.Open(ctx, digest.Digest(d))
	if errors.Is(err, blob.ErrNotFound) {
		// The metadata says it exists but the bytes are gone: a storage fault, not a client error.
		s.Log.ErrorContext(ctx, "blob missing from storage", "digest", d, "repository", repo)
		return nil, 0, errorf(CodeBlobUnknown, "blob %s unknown to repository %s", d, repo)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	return r, size, nil
}

// BlobRedirect returns a URL where the client may fetch a blob linked in the repository instead
// of from the registry, when the blob store can give one (blob.Redirector); "" when it cannot,
// and the registry serves the blob itself.
func (s *Service) BlobRedirect(ctx context.Context, repo string, d string) (string, error) {
	r, ok := s.Blobs.(blob.Redirector)
	if !ok {
		return "", nil
	}
	if _, err := s.StatBlob(ctx, repo, d); err != nil {
		return "", err
	}
	u, err := r.RedirectURL(ctx, digest.Digest(d))
	if errors.Is(err, blob.ErrNotFound) {
		s.Log.ErrorContext(ctx, "blob missing from storage", "digest", d, "repository", repo)
		return "", errorf(CodeBlobUnknown, "blob %s unknown to repository %s", d, repo)
	}
	if err != nil {
		return "", fmt.Errorf("redirect to blob %s: %w", d, err)
	}
	return u, nil
}

// DeleteBlob unlinks a blob from the repository; the bytes go when garbage collection finds
// nothing else using them.
func (s *Service) DeleteBlob(ctx context.Context, repo, d string) error {
	dg, err := ParseDigest(d)
	if err != nil {
		return err
	}
	err = s.DB.UnlinkBlob(ctx, repo, dg.String())
	if errors.Is(err, meta.ErrNotFound) {
		return errorf(CodeBlobUnknown, "blob %s unknown to repository %s", d, repo)
	}
	return err
}

// RepositoriesLinking returns up to limit repositories that link the blob, for a mount that
// names no source.
func (s *Service) RepositoriesLinking(ctx context.Context, d string, limit int) ([]string, error) {
	if _, err := ParseDigest(d); err != nil {
		return nil, err
	}
	return s.DB.RepositoriesLinking(ctx, d, limit)
}

// Catalog lists repositories visible to the caller.
func (s *Service) Catalog(ctx context.Context, f meta.CatalogFilter) ([]string, error) {
	return s.DB.Catalog(ctx, f)
}

// Tags lists the tags of an existing repository.
func (s *Service) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	if _, err := s.DB.RepositoryByName(ctx, repo); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, errorf(CodeNameUnknown, "repository %s not found", repo)
		}
		return nil, err
	}
	return s.DB.ListTags(ctx, repo, last, n)
}

// ExpireUploads removes upload sessions idle for longer than ttl and their data. It returns how
// many it removed.
func (s *Service) ExpireUploads(ctx context.Context, ttl time.Duration) (int, error) {
	ids, err := s.DB.StaleUploads(ctx, time.Now().Add(-ttl), 1000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := s.DB.DeleteUpload(ctx, id); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return n, err
		}
		if err := s.Blobs.DeleteUpload(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	// Data left by sessions whose row is gone (a crash between the two deletes above).
	cutoff := time.Now().Add(-ttl)
	err = s.Blobs.Uploads(ctx, func(id string, modified time.Time) error {
		if modified.After(cutoff) {
			return nil
		}
		if _, err := s.DB.Upload(ctx, id); errors.Is(err, meta.ErrNotFound) {
			return s.Blobs.DeleteUpload(ctx, id)
		}
		return nil
	})
	return n, err
}

// ReadOnlyMessage is Harbor's answer to a change while the registry is in read-only mode.
const ReadOnlyMessage = "The system is in read only mode. Any modification is prohibited."

// CheckWritable refuses changes while an administrator has put the registry in read-only mode
// (the read_only configuration): pushes, deletions and every other write, on /v2/ and the API.
func (s *Service) CheckWritable(ctx context.Context) error {
	c, err := s.Config.CachedSystemConfig(ctx)
	if err != nil {
		return err
	}
	if c.ReadOnly {
		return &Error{Code: CodeDenied, Message: ReadOnlyMessage}
	}
	return nil
}
