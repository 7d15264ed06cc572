package component

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// MaxLocate bounds the bytes Line reads a file for.
const MaxLocate = 8 << 20

// Line is the line, counted in the file (from 1), of a Component's field
// (a dotted path such as spec.source.chart) in data, a YAML or JSON stream
// of objects and Lists: the line of the deepest part of the path the
// Component has, else of the Component itself. It is 0 when data holds no
// Component of that name (and namespace, when it names one).
func Line(data []byte, name, namespace, field string) int {
	if len(data) > MaxLocate {
		return 0
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) || err != nil {
			return 0
		}
		if len(doc.Content) == 0 {
			continue
		}
		if n := locate(doc.Content[0], name, namespace, field); n > 0 {
			return n
		}
	}
}

// locate finds the Component in obj (an object, or a List of them).
func locate(obj *yaml.Node, name, namespace, field string) int {
	if obj.Kind != yaml.MappingNode {
		return 0
	}
	if items := child(obj, "items"); items != nil && items.Kind == yaml.SequenceNode {
		for _, it := range items.Content {
			if n := locate(it, name, namespace, field); n > 0 {
				return n
			}
		}
		return 0
	}
	kind := child(obj, "kind")
	meta := child(obj, "metadata")
	if kind == nil || kind.Value != Kind || meta == nil {
		return 0
	}
	if n := child(meta, "name"); n == nil || n.Value != name {
		return 0
	}
	if ns := child(meta, "namespace"); ns != nil && namespace != "" && ns.Value != namespace {
		return 0
	}
	line, at := obj.Line, obj
	for _, part := range strings.Split(field, ".") {
		key, value := entry(at, part)
		if key == nil {
			break
		}
		line, at = key.Line, value
	}
	return line
}

// child is the value of key in a mapping node.
func child(m *yaml.Node, key string) *yaml.Node {
	_, v := entry(m, key)
	return v
}

func entry(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// LineOf is the line of field in the file c was read from (see Line); 0
// when c did not come from a local file, or the file cannot be read.
func (c Component) LineOf(field string) int {
	if c.File == "" || c.File == "STDIN" || strings.Contains(c.File, "://") {
		return 0
	}
	info, err := os.Stat(c.File)
	if err != nil || !info.Mode().IsRegular() || info.Size() > MaxLocate {
		return 0
	}
	data, err := os.ReadFile(c.File)
	if err != nil {
		return 0
	}
	return Line(data, c.Name, c.Namespace, field)
}

// At is where c was read from, for messages: FILE:LINE of field (FILE
// alone when the line is unknown), or "" for a Component of the cluster.
func (c Component) At(field string) string {
	if c.File == "" {
		return ""
	}
	if n := c.LineOf(field); n > 0 {
		return c.File + ":" + strconv.Itoa(n)
	}
	return c.File
}
