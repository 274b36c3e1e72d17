package fsck

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Category is a kind of inconsistency.
type Category string

const (
	// MissingObject: a blob row whose stored object does not exist.
	MissingObject Category = "missing_object"
	// SizeMismatch: a stored object whose size differs from its blob row.
	SizeMismatch Category = "size_mismatch"
	// DigestMismatch: a stored object whose content does not hash to its digest.
	DigestMismatch Category = "digest_mismatch"
	// UnreadableObject: a stored object that exists but cannot be read.
	UnreadableObject Category = "unreadable_object"
	// MissingBlobRow: a digest a manifest references that has no blob row.
	MissingBlobRow Category = "missing_blob_row"
	// UnknownObject: a stored object older than MinAge with no blob row.
	UnknownObject Category = "unknown_object"
	// StrayPath: an entry in blob storage that is not a well-formed blob path.
	StrayPath Category = "stray_path"
	// OrphanUpload: upload data older than MinAge with no upload session row.
	OrphanUpload Category = "orphan_upload"
	// MissingUploadData: an upload session, idle for MinAge, that recorded data the store lacks.
	MissingUploadData Category = "missing_upload_data"
)

// Categories lists every category in the order reports show them.
var Categories = []Category{MissingObject, SizeMismatch, DigestMismatch, UnreadableObject, MissingBlobRow,
	UnknownObject, StrayPath, OrphanUpload, MissingUploadData}

var descriptions = map[Category]string{
	MissingObject:     "blobs whose stored object is missing",
	SizeMismatch:      "blobs whose stored object has the wrong size",
	DigestMismatch:    "blobs whose content does not match the digest",
	UnreadableObject:  "blobs whose stored object cannot be read",
	MissingBlobRow:    "digests referenced by manifests without a blob row",
	UnknownObject:     "stored objects without a blob row",
	StrayPath:         "stray paths in blob storage",
	OrphanUpload:      "upload data without an upload session",
	MissingUploadData: "upload sessions whose data is missing",
}

// Describe names the category for people.
func (c Category) Describe() string { return descriptions[c] }

// Problem is one inconsistency found.
type Problem struct {
	Category Category `json:"category"`
	Digest   string   `json:"digest,omitempty"`
	Upload   string   `json:"upload,omitempty"` // upload session id
	Path     string   `json:"path,omitempty"`   // stray paths only
	// Size is the bytes concerned: the stored object or upload data, or for a missing object
	// the size its row records.
	Size   int64  `json:"size"`
	Detail string `json:"detail,omitempty"`
	// References counts the manifests that reference the blob; a referenced blob's problem
	// cannot be repaired by removing it. Manifests names the first few (repository@digest) and
	// Repositories the first few repositories linking the blob.
	References   int64    `json:"references"`
	Manifests    []string `json:"manifests,omitempty"`
	Repositories []string `json:"repositories,omitempty"`
	// Repairable tells whether Repair removes what the problem is about.
	Repairable bool `json:"repairable"`
	Repaired   bool `json:"repaired"`
	// RepairError says why a repair that was tried did not succeed.
	RepairError string `json:"repair_error,omitempty"`
}

// Count sums the problems of one category.
type Count struct {
	Found      int64 `json:"found"`
	Referenced int64 `json:"referenced"` // of Found, those concerning a referenced blob
	Repaired   int64 `json:"repaired"`
	Bytes      int64 `json:"bytes"`       // Size summed over Found
	FreedBytes int64 `json:"freed_bytes"` // storage the repairs released
}

// Report is the outcome of a run.
type Report struct {
	Quick  bool          `json:"quick"`
	Repair bool          `json:"repair"`
	MinAge time.Duration `json:"min_age_ns"`

	BlobRows    int64 `json:"blob_rows"`    // blob rows checked
	BlobBytes   int64 `json:"blob_bytes"`   // their recorded sizes, summed
	HashedBytes int64 `json:"hashed_bytes"` // content read and hashed (0 with Quick)
	Objects     int64 `json:"objects"`      // stored objects walked
	ObjectBytes int64 `json:"object_bytes"`
	Uploads     int64 `json:"uploads"`     // upload data areas in the store
	UploadRows  int64 `json:"upload_rows"` // upload session rows

	// Young counts stored objects and upload data without a row that are younger than MinAge
	// (or whose age the store cannot tell): probably being committed, so left alone.
	Young int64 `json:"skipped_young"`
	// BeingCollected counts stored objects without a row that a garbage collector is deleting.
	BeingCollected int64 `json:"skipped_being_collected"`

	Counts map[Category]*Count `json:"categories"`
	// List holds the first problems found (Options.MaxProblems); Unlisted counts the rest.
	List     []Problem     `json:"problems"`
	Unlisted int64         `json:"problems_unlisted"`
	Duration time.Duration `json:"duration_ns"`
}

// Problems is the number of problems that remain: found and not repaired.
func (r Report) Problems() int {
	n := int64(0)
	for _, c := range r.Counts {
		n += c.Found - c.Repaired
	}
	return int(n)
}

func (r *Report) add(p Problem, freed int64, limit int) {
	c := r.Counts[p.Category]
	if c == nil {
		c = &Count{}
		r.Counts[p.Category] = c
	}
	c.Found++
	c.Bytes += p.Size
	if p.References > 0 {
		c.Referenced++
	}
	if p.Repaired {
		c.Repaired++
		c.FreedBytes += freed
	}
	if len(r.List) < limit {
		r.List = append(r.List, p)
	} else {
		r.Unlisted++
	}
}

// WriteText writes the report for people: what was checked, the counts per category, then the
// listed problems.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	hashed := "hashed " + meta.FormatStorage(r.HashedBytes)
	if r.Quick {
		hashed = "sizes only (--quick)"
	}
	fmt.Fprintf(&b, "checked %d blobs (%s, %s), %d stored objects, %d uploads, %d upload sessions in %s\n",
		r.BlobRows, meta.FormatStorage(r.BlobBytes), hashed, r.Objects, r.Uploads, r.UploadRows, r.Duration.Round(time.Millisecond))
	if r.Young > 0 || r.BeingCollected > 0 {
		fmt.Fprintf(&b, "left alone: %d younger than %s, %d being garbage collected\n", r.Young, r.MinAge, r.BeingCollected)
	}
	repairable := int64(0)
	for _, cat := range Categories {
		c := r.Counts[cat]
		if c == nil || c.Found == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %-52s %d", cat.Describe()+":", c.Found)
		if cat != StrayPath {
			fmt.Fprintf(&b, " (%s)", meta.FormatStorage(c.Bytes))
		}
		if c.Referenced > 0 {
			fmt.Fprintf(&b, ", %d referenced by manifests", c.Referenced)
		}
		if r.Repair && c.Repaired > 0 {
			fmt.Fprintf(&b, ", %d repaired (%s freed)", c.Repaired, meta.FormatStorage(c.FreedBytes))
		}
		b.WriteByte('\n')
	}
	for _, p := range r.List {
		fmt.Fprintf(&b, "%s %s", p.Category, p.subject())
		if p.Category != StrayPath {
			fmt.Fprintf(&b, " (%s)", meta.FormatStorage(p.Size))
		}
		if p.Detail != "" {
			fmt.Fprintf(&b, ": %s", p.Detail)
		}
		switch {
		case p.Repaired:
			b.WriteString(" — repaired")
		case p.RepairError != "":
			fmt.Fprintf(&b, " — repair failed: %s", p.RepairError)
		case p.References > 0:
			fmt.Fprintf(&b, " — cannot be repaired: referenced by %d manifest(s)", p.References)
		case p.Repairable && !r.Repair:
			repairable++
		}
		b.WriteByte('\n')
		if len(p.Manifests) > 0 {
			fmt.Fprintf(&b, "    manifests: %s%s\n", strings.Join(p.Manifests, ", "), more(p.References, len(p.Manifests)))
		}
		if len(p.Repositories) > 0 {
			fmt.Fprintf(&b, "    linked in: %s\n", strings.Join(p.Repositories, ", "))
		}
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(&b, "... and %d more problems not listed\n", r.Unlisted)
	}
	switch n := r.Problems(); {
	case n == 0:
		b.WriteString("no problems found\n")
	case repairable > 0:
		fmt.Fprintf(&b, "%d problems remain; --repair would remove %d of those listed\n", n, repairable)
	default:
		fmt.Fprintf(&b, "%d problems remain\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p Problem) subject() string {
	switch {
	case p.Path != "":
		return p.Path
	case p.Upload != "":
		return "upload " + p.Upload
	}
	return p.Digest
}

func more(total int64, shown int) string {
	if total > int64(shown) {
		return fmt.Sprintf(" and %d more", total-int64(shown))
	}
	return ""
}
