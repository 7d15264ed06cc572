package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// The tag index: one small file per reference, so processes never contend
// for one file. It holds no secret.
//
//	<root>/index/<sha256 of host/repository:tag>.json   {"ref", "digest", "resolved"}

const indexDir = "index"

// IndexEntry is what a tag resolved to, and when.
type IndexEntry struct {
	Ref      string    `json:"ref"`
	Digest   string    `json:"digest"`
	Resolved time.Time `json:"resolved"`
}

func indexName(tagRef string) string {
	sum := sha256.Sum256([]byte(tagRef))
	return indexDir + "/" + hex.EncodeToString(sum[:16]) + ".json"
}

// Lookup returns what tagRef (host/repository:tag) last resolved to, or nil.
func (s *ChartStore) Lookup(tagRef string) *IndexEntry {
	if s.root == nil {
		return nil
	}
	raw, err := s.readRegular(indexName(tagRef), maxRecordSize)
	if err != nil {
		return nil
	}
	var e IndexEntry
	if json.Unmarshal(raw, &e) != nil || e.Ref != tagRef || !digestPattern.MatchString(e.Digest) {
		return nil
	}
	return &e
}

// Record notes that tagRef resolved to digest. Nothing is written when the
// index already says so: a warm run writes nothing.
func (s *ChartStore) Record(tagRef, digest string) error {
	if have := s.Lookup(tagRef); have != nil && have.Digest == digest {
		return nil
	}
	data, err := json.Marshal(IndexEntry{Ref: tagRef, Digest: digest, Resolved: time.Now().UTC()})
	if err != nil {
		return err
	}
	return s.writeAtomic(indexDir, indexName(tagRef), append(data, '\n'))
}
