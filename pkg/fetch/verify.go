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
// against the keyring. The first valid one wins. A registry that fails is a
// runtime error; no valid signature is an *UnsignedError (refused, exit 2).
func (f *Fetcher) verifyAt(ctx context.Context, req *requirement, p site, digest, name, version, archiveDigest string, prov []byte) ([]cache.Verification, error) {
	var reasons []string
	if len(req.cosign) > 0 {
		why, found := "", false
		sigs, err := f.Puller.CosignSignatures(ctx, p.ref, digest, p.auth)
		if err != nil {
			return nil, err
		}
		for _, s := range sigs {
			found = true
			key, err := trust.VerifySimpleSigning(s, req.cosign, digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, nil
			}
			why = err.Error()
		}
		bundles, err := f.Puller.SigstoreBundles(ctx, p.ref, digest, p.auth)
		if err != nil {
			return nil, err
		}
		for _, b := range bundles {
			found = true
			key, err := trust.VerifyBundle(b, req.cosign, digest)
			if err == nil {
				return []cache.Verification{{Provider: trust.ProviderCosign, Key: key.Fingerprint}}, nil
			}
			why = err.Error()
		}
		if !found {
			why = trust.ErrNoSignature.Error()
		}
		reasons = append(reasons, "cosign: "+why)
	}
	if req.helm.Len() > 0 {
		pv, err := trust.VerifyProvenance(prov, req.helm, name, version, archiveDigest)
		if err == nil {
			return []cache.Verification{{Provider: trust.ProviderHelm, Key: pv.Key}}, nil
		}
		why := err.Error()
		if errors.Is(err, trust.ErrNoSignature) {
			why = "no provenance (.prov) layer in the chart's manifest"
		}
		reasons = append(reasons, "helm: "+why)
	}
	return nil, unsigned(p.ref, digest, req, reasons)
}

// trusted serves a cached chart under a signature requirement only when it
// was verified by a key trusted now, or verifies again: with its cached
// .prov (no request), else at the first place that answers. With --offline,
// an entry not verified by a trusted key is refused.
func (f *Fetcher) trusted(ctx context.Context, r *Resolution, pinned chartref.Reference, got *obtained) (*obtained, error) {
	req := r.trust
	if req == nil {
		return got, nil
	}
	if vs := got.entry.VerifiedBy(req.trusted); len(vs) > 0 {
		got.verified = vs
		return got, nil
	}
	digest := got.entry.ManifestDigest
	prov := f.Store.Prov(got.entry)
	record := func(vs []cache.Verification) (*obtained, error) {
		if err := f.Store.AddVerified(digest, vs); err != nil {
			f.warn(fmt.Sprintf("could not record the verification of %s in the cache: %v", digest, err))
		}
		got.verified = vs
		return got, nil
	}
	if req.helm.Len() > 0 && prov != nil {
		if pv, err := trust.VerifyProvenance(prov, req.helm, got.entry.Chart, got.entry.Version, got.entry.ChartDigest); err == nil {
			return record([]cache.Verification{{Provider: trust.ProviderHelm, Key: pv.Key}})
		}
	}
	if f.Offline {
		return nil, clierror.InvalidWithHint(
			fmt.Errorf("refused by the registry policy: --offline: the cached chart %s (%s) was not verified by a key trusted now (%s), and its signatures cannot be checked offline",
				r.Ref.String(), digest, strings.Join(req.why, ", ")),
			"run once without --offline to verify it at the registry")
	}
	var refusal error
	for _, p := range f.places(ctx, r, pinned) {
		if p.err != nil {
			continue
		}
		vs, err := f.verifyAt(ctx, req, p, digest, got.entry.Chart, got.entry.Version, got.entry.ChartDigest, prov)
		if err == nil {
			return record(vs)
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
