package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ocisrc/ocisrc/internal/testenv"
)

// TestCloudRegistrySecrets: the kubernetes.io/dockerconfigjson Secrets
// External Secrets Operator's generators keep fresh for the clouds'
// registries, with the registry key the ExternalSecret's template adds
// (docs/components.md), pull from a registry that answers as each cloud's
// does: ECR, basic auth with user AWS; Artifact Registry, a token realm
// that takes user oauth2accesstoken and an access token; ACR, a token realm
// that exchanges the zero GUID user and a refresh token.
func TestCloudRegistrySecrets(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, user string
		realm      bool
	}{
		{name: "ecr", user: "AWS"},
		{name: "gar", user: "oauth2accesstoken", realm: true},
		{name: "acr", user: "00000000-0000-0000-0000-000000000000", realm: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			password := "expiring-" + c.name + "-token-4f1c9b2e"
			plantedSecrets = append(plantedSecrets, password)
			opts := testenv.RegistryOptions{Dir: dir, CA: stack.Secure.CA}
			var ts *testenv.TokenServer
			if c.realm {
				var err error
				if ts, err = testenv.NewTokenServer(dir, stack.Secure.CA, map[string]string{c.user: password}, nil); err != nil {
					t.Fatal(err)
				}
				opts.Token = ts
			} else {
				opts.Users = map[string]string{c.user: password}
			}
			reg, err := testenv.NewRegistry(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			chart, err := testenv.BuildChart("cloud-"+c.name, "1.0.0", 0)
			if err != nil {
				t.Fatal(err)
			}
			p, err := reg.PushChart(ctx, "charts/cloud-"+c.name, chart, c.user, password)
			if err != nil {
				t.Fatal(err)
			}
			// The Secret as the ExternalSecret's template writes it.
			secret := c.name + "-credentials"
			putTypedSecret(t, nsSys, secret, "kubernetes.io/dockerconfigjson", map[string]string{
				".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{reg.Host: {"username": c.user, "password": password}}),
				"registry":          reg.Host,
			})
			putComponent(t, nsA, "cloud-"+c.name, testenv.OCISource(p.Ref, secret, nsSys))
			h := newHome(t)
			reg.ResetLog()
			r := kubectl(t, "cloud-"+c.name, "-n", nsA, "--registry-ca-file", reg.CAFile, "-o", "json")
			wantCode(t, r, 0)
			var doc struct {
				Results []struct{ Digest, Credentials string } `json:"results"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Results) != 1 || doc.Results[0].Digest != p.Digest || doc.Results[0].Credentials != nsSys+"/"+secret {
				t.Fatalf("result: %v\n%s", err, r.stdout)
			}
			assertNoSecretsIn(t, h)
			// The token expires; the generator writes a new one the registry
			// does not know yet: the refusal names the Secret.
			putTypedSecret(t, nsSys, secret, "kubernetes.io/dockerconfigjson", map[string]string{
				".dockerconfigjson": dockerConfigJSON(map[string]map[string]string{reg.Host: {"username": c.user, "password": "expired-" + c.name}}),
				"registry":          reg.Host,
			})
			newHome(t)
			r = kubectl(t, "cloud-"+c.name, "-n", nsA, "--registry-ca-file", reg.CAFile)
			wantCode(t, r, 1)
			if !strings.Contains(r.stderr, `refused the credentials from secret "`+nsSys+"/"+secret+`"`) {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
}
