package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/ocisrc/ocisrc/pkg/place"
)

// Proofs: a registry grants reading per repository, not per digest (a
// token's scope is repository:NAME:pull), so an identity that read one
// chart of a repository place may read every chart that place served. A
// proof is recorded when the place served bytes to the identity (the
// manifest hashed to its digest), or answered for a digest it had served,
// with that identity's credentials. It holds no credential: the place and
// the identities (a Secret's UID and resourceVersion, a certificate's
// fingerprint). One file per place, written once per run with what the run
// proved (see fetch.Fetcher.Flush).
//
//	<root>/proofs/<sha256 of place>.json   {"repository", "proofs": [{"identity", "proven"}]}

const proofsDir = "proofs"

// Proof is an identity proven to read a repository place, and when.
type Proof struct {
	Identity Identity  `json:"identity"`
	Proven   time.Time `json:"proven"`
}

// Proofs are the identities proven to read one repository place.
type Proofs struct {
	Repository place.Place `json:"repository"`
	Proofs     []Proof     `json:"proofs"`
}

func proofName(repository place.Place) string {
	sum := sha256.Sum256([]byte(repository.String()))
	return proofsDir + "/" + hex.EncodeToString(sum[:16]) + ".json"
}

// LoadProofs returns the identities recorded as able to read repository,
// none when there is no record or it cannot be read.
func (s *ChartStore) LoadProofs(repository place.Place) map[Identity]time.Time {
	if s.root == nil {
		return nil
	}
	raw, err := s.readRegular(proofName(repository), maxRecordSize)
	if err != nil {
		return nil
	}
	var p Proofs
	if json.Unmarshal(raw, &p) != nil || p.Repository != repository {
		return nil
	}
	out := make(map[Identity]time.Time, len(p.Proofs))
	for _, pr := range p.Proofs {
		out[pr.Identity] = pr.Proven
	}
	return out
}

// SaveProofs adds ids to the record of repository, in one write; nothing
// is written when they are all recorded already.
func (s *ChartStore) SaveProofs(repository place.Place, ids []Identity) error {
	if repository.IsZero() {
		return nil
	}
	merged := s.LoadProofs(repository)
	if merged == nil {
		merged = map[Identity]time.Time{}
	}
	now := time.Now().UTC()
	changed := false
	for _, id := range ids {
		if _, ok := merged[id]; !ok {
			merged[id] = now
			changed = true
		}
	}
	if !changed {
		return nil
	}
	p := Proofs{Repository: repository}
	for id, t := range merged {
		p.Proofs = append(p.Proofs, Proof{Identity: id, Proven: t})
	}
	slices.SortFunc(p.Proofs, func(a, b Proof) int { return strings.Compare(a.Identity.key(), b.Identity.key()) })
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.writeAtomic(proofsDir, proofName(repository), append(data, '\n'))
}
