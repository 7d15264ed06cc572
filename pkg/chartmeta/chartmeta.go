// Package chartmeta reads a Helm chart's metadata from its OCI config blob
// (Chart.yaml as JSON) and checks it with Helm's own rules (Helm 4's
// pkg/chart/v2 Metadata.Validate): the name as Helm loads it, the version as
// a SemVer version. Everything that stores, names a file after, or prints a
// chart's name and version — a pull, a cache read, a bundle — reads them
// through here, so a name that is a path, or holds a newline or an escape
// sequence, never goes further.
//
// It parses untrusted input, so it is a leaf (Helm's chart types and the
// standard library) with a fuzz target.
package chartmeta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// MaxConfigSize bounds the config blob.
const MaxConfigSize = 1 << 20

// Meta is a chart's validated name and version.
type Meta struct {
	Name    string
	Version string
}

// FileName is the archive's file name, as helm pull names it.
func (m Meta) FileName() string { return m.Name + "-" + m.Version + ".tgz" }

// Fields of Meta an Error can be about.
const (
	FieldName     = "name"
	FieldVersion  = "version"
	FieldMetadata = "metadata"
)

// Error is metadata Helm would not load. Value is the offending value
// (quote it with %+q to print it).
type Error struct {
	Field  string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	switch e.Field {
	case FieldName:
		return fmt.Sprintf("the chart's name %+q is not a valid chart name", e.Value)
	case FieldVersion:
		return fmt.Sprintf("the chart's version %+q is not a SemVer version", e.Value)
	}
	return "the chart's metadata is invalid: " + e.Reason
}

// FromConfig reads and validates the metadata of a chart's config blob.
func FromConfig(config []byte) (Meta, error) {
	if len(config) > MaxConfigSize {
		return Meta{}, &Error{Field: FieldMetadata, Reason: fmt.Sprintf("a config of %d bytes (at most %d)", len(config), MaxConfigSize)}
	}
	var md chart.Metadata
	dec := json.NewDecoder(bytes.NewReader(config))
	if err := dec.Decode(&md); err != nil {
		return Meta{}, &Error{Field: FieldMetadata, Reason: "the config is not a chart's metadata as JSON"}
	}
	return Validate(md)
}

// Validate checks metadata with Helm's rules. Helm's Validate strips
// unprintable characters from some fields as it goes; a name it had to
// change is refused too.
func Validate(md chart.Metadata) (Meta, error) {
	name, version := md.Name, md.Version
	if md.APIVersion == "" {
		md.APIVersion = chart.APIVersionV1 // as Helm's loader does
	}
	err := md.Validate()
	if err == nil && (md.Name != name || md.Version != version) {
		err = errors.New("chart.metadata.name holds unprintable characters")
	}
	if err == nil && strings.ContainsAny(name+version, `/\`) {
		err = errors.New("chart.metadata.name holds a path separator")
	}
	if err == nil {
		return Meta{Name: name, Version: version}, nil
	}
	msg := err.Error()
	switch {
	case version != "" && strings.Contains(msg, "chart.metadata.version"):
		return Meta{}, &Error{Field: FieldVersion, Value: version}
	case strings.Contains(msg, "chart.metadata.name"):
		return Meta{}, &Error{Field: FieldName, Value: name}
	}
	return Meta{}, &Error{Field: FieldMetadata, Reason: fmt.Sprintf("%+q", strings.TrimPrefix(msg, "validation: "))}
}
