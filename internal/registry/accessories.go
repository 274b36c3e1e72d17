package registry

// Accessories of an artifact (Harbor's "accessory" resource): the signatures, SBOMs and other
// referrers whose subject it is, and cosign's legacy signature found by its tag.

import (
	"context"
	"sort"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Accessory is an accessory as the API shows it.
type Accessory struct {
	Manifest meta.Manifest // the accessory itself
	Type     string        // AccessoryCosign, AccessoryNotation, AccessorySBOM or AccessoryGeneric
	Size     int64         // with everything it references
	// SubjectID and Subject are the artifact it belongs to.
	SubjectID int64
	Subject   ArtifactRef
}

// Accessories returns one page of the accessories of an artifact (ref: a tag or a digest) of
// repository name of a project, and their total. q filters on type and digest (exactly,
// fuzzily or by any of several values); they sort by creation_time, newest first by default.
func (s *Artifacts) Accessories(ctx context.Context, projectName, name, ref string, lq meta.ListQuery) ([]Accessory, int64, error) {
	_, repo, m, err := s.find().artifact(ctx, projectName, name, ref, rbac.ResAccessory, rbac.ActList)
	if err != nil {
		return nil, 0, err
	}
	all, err := s.accessories(ctx, repo.Name, m)
	if err != nil {
		return nil, 0, err
	}
	// An artifact has a handful of accessories: filter, sort and page them here.
	matched, err := filterAccessories(all, lq)
	if err != nil {
		return nil, 0, err
	}
	lo := min(lq.Offset, len(matched))
	hi := min(lo+lq.Limit, len(matched))
	return matched[lo:hi], int64(len(matched)), nil
}

// accessories lists the accessories of artifact m of the repository, oldest first.
func (s *Artifacts) accessories(ctx context.Context, repo string, m meta.Manifest) ([]Accessory, error) {
	ms, err := s.Store.Accessories(ctx, m.RepositoryID, m.Digest)
	if err != nil {
		return nil, err
	}
	return s.describeAccessories(ctx, repo, m, ms)
}

// describeAccessories describes the accessories ms of artifact m of the repository.
func (s *Artifacts) describeAccessories(ctx context.Context, repo string, m meta.Manifest, ms []meta.Manifest) ([]Accessory, error) {
	out := make([]Accessory, 0, len(ms))
	for _, a := range ms {
		info, err := s.Registry.DescribeArtifact(ctx, a, false)
		if err != nil {
			return nil, err
		}
		out = append(out, Accessory{Manifest: a, Type: AccessoryType(a, m.Digest), Size: info.Size,
			SubjectID: m.ID, Subject: ArtifactRef{Repository: repo, Digest: m.Digest}})
	}
	return out, nil
}

// filterAccessories applies q and sort.
func filterAccessories(in []Accessory, lq meta.ListQuery) ([]Accessory, error) {
	out := make([]Accessory, 0, len(in))
	for _, a := range in {
		keep := true
		for _, f := range lq.Filters {
			var v string
			switch f.Key {
			case "type":
				v = a.Type
			case "digest":
				v = a.Manifest.Digest
			default:
				return nil, fault.Invalidf("cannot filter accessories by %q", f.Key)
			}
			switch f.Op {
			case meta.OpExact:
				keep = keep && v == f.Values[0]
			case meta.OpFuzzy:
				keep = keep && strings.Contains(strings.ToLower(v), strings.ToLower(f.Values[0]))
			case meta.OpAny:
				found := false
				for _, x := range f.Values {
					found = found || v == x
				}
				keep = keep && found
			default:
				return nil, fault.Invalidf("%s can be matched exactly, fuzzily or by any of several values", f.Key)
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	desc := true
	for _, s := range lq.Sort {
		if s.Key != "creation_time" {
			return nil, fault.Invalidf("cannot sort accessories by %q", s.Key)
		}
		desc = s.Desc
	}
	sort.SliceStable(out, func(i, j int) bool {
		if desc {
			return out[i].Manifest.ID > out[j].Manifest.ID
		}
		return out[i].Manifest.ID < out[j].Manifest.ID
	})
	return out, nil
}
