package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// PushHostileReferrers pushes n referrers of subject whose manifests each
// list the same blob copies times, as a registry hostile to a bundler would
// serve them: what a naive reader fetches n*copies times.
func (r *Registry) PushHostileReferrers(ctx context.Context, repo string, subject ocispec.Descriptor, blob []byte, n, copies int, cred auth.Credential) error {
	dst, err := r.RepositoryAs(repo, cred)
	if err != nil {
		return err
	}
	dst.SkipReferrersGC = true
	layer := ocispec.Descriptor{MediaType: bundleMediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	if err := dst.Push(ctx, layer, bytes.NewReader(blob)); err != nil {
		return err
	}
	layers := make([]ocispec.Descriptor, copies)
	for i := range layers {
		layers[i] = layer
	}
	for i := 0; i < n; i++ {
		_, err = oras.PackManifest(ctx, dst, oras.PackManifestVersion1_1, bundleMediaType, oras.PackManifestOptions{
			Subject: &subject,
			Layers:  layers,
			ManifestAnnotations: map[string]string{
				"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
				ocispec.AnnotationCreated:           fmt.Sprintf("2026-01-01T00:00:%02dZ", i%60),
				"n":                                 fmt.Sprint(i),
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteSparseTar writes a tar of one PAX 1.0 sparse entry at name: a few
// bytes in the file that a tar reader expands to size bytes of holes. Go's
// tar writer drops sparse records, so the headers are written by hand.
func WriteSparseTar(path, name string, size int64) error {
	header := func(name string, typeflag byte, n int) []byte {
		h := make([]byte, 512)
		copy(h[0:], name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", n))
		copy(h[136:], "00000000000\x00")
		h[156] = typeflag
		copy(h[257:], "ustar\x00")
		copy(h[263:], "00")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	record := func(k, v string) string {
		line := " " + k + "=" + v + "\n"
		n := len(line) + 1
		for len(fmt.Sprint(n))+len(line) != n {
			n = len(fmt.Sprint(n)) + len(line)
		}
		return fmt.Sprint(n) + line
	}
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") + record("GNU.sparse.name", name) + record("GNU.sparse.realsize", fmt.Sprint(size))
	sparseMap := pad([]byte(fmt.Sprintf("1\n%d\n2\n", size-2)))
	var b []byte
	b = append(b, header("PaxHeaders/x", 'x', len(pax))...)
	b = append(b, pad([]byte(pax))...)
	b = append(b, header("GNUSparseFile.0/"+strings.TrimPrefix(name, "blobs/"), '0', len(sparseMap)+2)...)
	b = append(b, pad(append(sparseMap, 'a', 'b'))...)
	b = append(b, make([]byte, 1024)...)
	return os.WriteFile(path, b, 0o644)
}
