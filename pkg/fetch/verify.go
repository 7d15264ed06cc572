package fetch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/ocisrc/ocisrc/pkg/cache"
	"github.com/ocisrc/ocisrc/pkg/chartref"
	"github.com/ocisrc/ocisrc/pkg/clierror"
	"github.com/ocisrc/ocisrc/pkg/trust"
)

// KeyData is key material and where it came from (a flag's file).
type KeyData struct {
	Data []byte
	From string
}

// requirement is what a Component's chart must be signed with: one valid
// signature for the exact digest, by any of these keys, suffices.
type requirement struct {
	cosign []trust.Key
	helm   *trust.Keyring
	// trusted are the fingerprints of every key: a cached chart verified by
	// one of them is served without checking again.
	trusted map[string]bool
	// why says which documents or flags ask for it.
	why []string
}

// secretKeys caches the keys read from Secrets of the system namespace.
type secretKeys struct {
	mu   sync.Mutex
	done map[string]secretKeysResult
}

type secretKeysResult struct {
	cosign []trust.Key
	ring   []KeyData
	err    error
}

// requirementFor is the signature requirement of r: the registry policy's
// verify (a union of the local file's and the cluster's) and the run's
// --verify-key and --keyring. nil when no signature is required.
func (f *Fetcher) requirementFor(ctx context.Context, r *Resolution) (*requirement, error) {
	st := r.Settings.Verify
	if !st.Required && len(f.CosignKeys) == 0 && len(f.Keyrings) == 0 {
		return nil, nil
	}
	req := &requirement{helm: &trust.Keyring{}, trusted: map[string]bool{}, why: append([]string(nil), st.RequiredBy...)}
	req.cosign = append(req.cosign, f.CosignKeys...)
	for _, k := range f.Keyrings {
		if err := req.helm.Add(k.Data, k.From); err != nil {
			return nil, clierror.Invalid(err)
		}
	}
	if len(f.CosignKeys) > 0 {
		req.why = append(req.why, "--verify-key")
	}
	if len(f.Keyrings) > 0 {
		req.why = append(req.why, "--keyring")
	}
	for _, k := range st.CosignKeys {
		key, err := trust.ParsePublicKey(k.Data, "a cosign key of the "+k.From)
		if err != nil {
			return nil, clierror.Invalid(err)
		}
		req.cosign = append(req.cosign, key)
	}
	for _, k := range st.HelmKeyrings {
		if err := req.helm.Add(k.Data, "the keyring of the "+k.From); err != nil {
			return nil, clierror.Invalid(err)
		}
	}
	for _, s := range st.CosignSecrets {
		got := f.keysFromSecret(ctx, s.Secret, s.From)
		if got.err != nil {
			return nil, got.err
		}
		if len(got.cosign) == 0 {
			return nil, clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.cosign, has no *.pub key", f.SystemNamespace+"/"+s.Secret, s.From))
		}
		req.cosign = append(req.cosign, got.cosign...)
	}
	for _, s := range st.HelmSecrets {
		got := f.keysFromSecret(ctx, s.Secret, s.From)
		if got.err != nil {
			return nil, got.err
		}
		if len(got.ring) == 0 {
			return nil, clierror.Invalid(fmt.Errorf("secret %q, which the %s names for verify.helm, has no pubring.gpg or *.asc key", f.SystemNamespace+"/"+s.Secret, s.From))
		}
		for _, k := range got.ring {
			if err := req.helm.Add(k.Data, k.From); err != nil {
				return nil, clierror.Invalid(err)
			}
		}
	}
	for _, k := range req.cosign {
		req.trusted[k.Fingerprint] = true
	}
	for _, fp := range req.helm.Fingerprints() {
		req.trusted[fp] = true
	}
	if len(req.trusted) == 0 {
		return nil, clierror.Invalid(fmt.Errorf("a signature is required (%s), but no key is configured", strings.Join(req.why, ", ")))
	}
	return req, nil
}

// keysFromSecret reads the keys of a Secret in the system namespace, once
// per run: cosign's *.pub keys, and Helm's pubring.gpg and *.asc.
func (f *Fetcher) keysFromSecret(ctx context.Context, name, from string) secretKeysResult {
	f.keys.mu.Lock()
	defer f.keys.mu.Unlock()
	if f.keys.done == nil {
		f.keys.done = map[string]secretKeysResult{}
	}
	if got, ok := f.keys.done[name]; ok {
		return got
	}
	ref := f.SystemNamespace + "/" + name
	var res secretKeysResult
	s, err := f.Secrets.GetSecret(ctx, f.SystemNamespace, name)
	switch {
	case apierrors.IsNotFound(err):
		res.err = clierror.WithHint(fmt.Errorf("secret %q, which the %s names for signature keys, not found", ref, from), "create it, or fix verify.*.secretRef in the registry policy")
	case apierrors.IsForbidden(err):
		res.err = clierror.WithHint(fmt.Errorf("reading secret %q, which the %s names for signature keys: forbidden: your identity cannot get secrets in namespace %q", ref, from, f.SystemNamespace),
			fmt.Sprintf("ask your cluster admin for \"get\" on secret %s in namespace %q: the chart's signature cannot be checked without its keys", name, f.SystemNamespace))
	case err != nil:
		res.err = fmt.Errorf("reading secret %q (signature keys): %w", ref, err)
	case s.Type != "" && s.Type != "Opaque":
		res.err = clierror.Invalid(fmt.Errorf("secret %q, which holds signature keys, is of type %+q: expected Opaque", ref, string(s.Type)))
	default:
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	keys:
		for _, k := range keys {
			from := fmt.Sprintf("secret %s key %s", ref, k)
			switch {
			case strings.HasSuffix(k, ".pub"):
				key, err := trust.ParsePublicKey(s.Data[k], from)
				if err != nil {
					res.err = clierror.Invalid(err)
					break keys
				}
				res.cosign = append(res.cosign, key)
			case k == "pubring.gpg" || strings.HasSuffix(k, ".asc"):
				res.ring = append(res.ring, KeyData{Data: s.Data[k], From: from})
			}
		}
	}
	f.keys.done[name] = res
	return res
}

// UnsignedError is a chart that has no valid signature where one is
// required: refused by policy (exit 2), with each provider tried and why.
type UnsignedError struct {
	Ref, Digest string
	// Reasons are "provider: why", one per provider tried.
	Reasons []string
	Why     []string
}

func (e *UnsignedError) Error() string {
	return fmt.Sprintf("refused by the registry policy: %s (%s) has no valid signature: %s", e.Ref, e.Digest, strings.Join(e.Reasons, "; "))
}

func unsigned(ref chartref.Reference, digest string, req *requirement, reasons []string) error {
	return clierror.InvalidWithHint(&UnsignedError{Ref: ref.String(), Digest: digest, Reasons: reasons, Why: req.why},
		fmt.Sprintf("a signature by a trusted key is required (%s): sign the chart (cosign sign --key, or helm package --sign), or check the keys with: ocisrc policy explain %s", strings.Join(req.why, ", "), ref.String()))
}

// verifyAt checks the chart's signatures for digest: the cosign signatures
// at place p (legacy .sig first, then Sigstore bundles), then the .prov
// against the keyring. The first valid one wins; it is returned with the
// material it was read from, which the cache keeps. A registry that fails
// is a runtime error; no valid signature is an *UnsignedError (refused,
// exit 2).
func (f *Fetcher) verifyAt(ctx context.Context, req *requirement, p *site, digest, name, version, archiveDigest string, prov []byte) ([]cache.Verification, trust.Material, error) {
	var m trust.Material
	if len(req.cosign) > 0 {
		sigs, err := f.Puller.CosignSignatures(ctx, p.ref, digest, p.auth)
		if err != nil {
			return nil, m, err
		}
		m.Cosign = sigs
		if vs, used, _ := verifyMaterial(req, trust.Material{Cosign: sigs}, nil, digest, name, version, archiveDigest); len(vs) > 0 {
			return vs, used, nil
		}
		bundles, err := f.Puller.SigstoreBundles(ctx, p.ref, digest, p.auth)
		if err != nil {
			return nil, m, err
		}
		m.Bundles = bundles
	}
	vs, used, reasons := verifyMaterial(req, m, prov, digest, name, version, archiveDigest)
	if len(vs) > 0 {
		return vs, used, nil
	}
	return nil, trust.Material{}, unsigned(p.ref, digest, req, reasons)
}

// verifyMaterial checks signature material — as a registry served it, or
// as the cache kept it — against the keys trusted now: cosign signatures
// and bundles for digest, then the .prov for the archive. It returns what
// verified and the material that did (nothing else is kept), or why
// nothing did, one reason per provider.
func verifyMaterial(req *requirement, m trust.Material, prov []byte, digest, name, version, archiveDigest string) ([]cache.Verification, trust.Material, []string) {
	var reasons []string
	if len(req.cosign) > 0 {
		why := trust.ErrNoSignature.Error()
		for _, s := range m.Cosign {
			key, err := trust.VerifySimpleSigning(s, req.cosign, digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, trust.Material{Cosign: []trust.SimpleSigning{s}}, nil
			}
			why = err.Error()
		}
		for _, b := range m.Bundles {
			key, err := trust.VerifyBundle(b, req.cosign, digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, trust.Material{Bundles: [][]byte{b}}, nil
			}
			why = err.Error()
		}
		reasons = append(reasons, "cosign: "+why)
	}
	if req.helm.Len() > 0 {
		pv, err := trust.VerifyProvenance(prov, req.helm, name, version, archiveDigest)
		if err == nil {
			return []cache.Verification{{Provider: trust.ProviderHelm, Key: pv.Key}}, trust.Material{}, nil
		}
		why := err.Error()
		if errors.Is(err, trust.ErrNoSignature) {
			why = "no provenance (.prov) layer in the chart's manifest"
		}
		reasons = append(reasons, "helm: "+why)
	}
	return nil, trust.Material{}, reasons
}

// trusted serves a cached chart under a signature requirement only when its
// stored signature material (or its .prov) verifies again, now, against
// the keys trusted now — never because a record says it was verified — or
// when it verifies at the first place that answers (the material is then
// kept). With --offline, a chart whose stored material does not verify is
// refused.
func (f *Fetcher) trusted(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	req := r.trust
	if req == nil {
		return got, nil
	}
	e := got.entry
	digest := e.ManifestDigest
	prov := f.Store.Prov(e)
	if vs, _, _ := verifyMaterial(req, f.Store.Material(e), prov, digest, e.Chart, e.Version, e.ChartDigest); len(vs) > 0 {
		got.verified = vs
		return got, nil
	}
	if f.Offline {
		return nil, clierror.InvalidWithHint(
			fmt.Errorf("refused by the registry policy: --offline: the cached chart %s (%s) has no stored signature that verifies with a key trusted now (%s), and its signatures cannot be fetched offline",
				r.Ref.String(), digest, strings.Join(req.why, ", ")),
			"run once without --offline to verify it at the registry")
	}
	var refusal error
	for _, p := range f.sites(r, pinned) {
		if err := f.ready(ctx, r, p); err != nil {
			continue
		}
		vs, m, err := f.verifyAt(ctx, req, p, digest, e.Chart, e.Version, e.ChartDigest, prov)
		if err == nil {
			if updated, err := f.Store.Update(e, nil, m, vs); err != nil {
				f.warn(fmt.Sprintf("could not record the signatures of %s in the cache: %v", digest, err))
			} else {
				got.entry = updated
				f.remember(updated, got.path)
			}
			got.verified = vs
			return got, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		refusal = err
	}
	if refusal == nil {
		refusal = unsigned(pinned, digest, req, []string{"no place could be asked for signatures"})
	}
	return nil, refusal
}
