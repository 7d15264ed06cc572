package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Token auth settings shared by the token server and the registry.
const (
	tokenService = "ocisrc-test-registry"
	tokenIssuer  = "ocisrc-test-issuer"
)

// TokenRequest is one request the token server answered. It never holds a value.
type TokenRequest struct {
	Method string
	// Grant is "basic" (GET with basic auth), "refresh_token" or "password".
	Grant string
	// Issued is whether a token was issued.
	Issued bool
	Scope  string
}

// TokenServer is the token realm of a registry with distribution's "token"
// auth: it issues ES256 JWTs over HTTPS, for basic credentials (GET) and for
// OAuth2 refresh tokens (POST grant_type=refresh_token), as Docker's token
// spec describes.
type TokenServer struct {
	URL string
	// RootCertBundle is the PEM file the registry trusts token signatures with.
	RootCertBundle string

	users         map[string]string // user -> password
	refreshTokens map[string]string // refresh token -> user
	key           *ecdsa.PrivateKey
	kid           string
	server        *httptest.Server

	accessLog[TokenRequest]
}

// NewTokenServer starts a token server whose TLS certificate ca signs.
// users are accepted with basic auth; refreshTokens (identity tokens) map to
// the user they act for.
func NewTokenServer(dir string, ca *CA, users, refreshTokens map[string]string) (*TokenServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: tokenIssuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(dir, "token-signing.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	ts := &TokenServer{
		RootCertBundle: bundle,
		users:          users,
		refreshTokens:  refreshTokens,
		key:            key,
		kid:            token.GetJWKThumbprint(&key.PublicKey),
	}
	cert, err := ca.ServerCertificate()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ts.serve))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	ts.server = srv
	ts.URL = srv.URL + "/token"
	return ts, nil
}

// Close stops the server.
func (ts *TokenServer) Close() { ts.server.Close() }

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	var subject, grant string
	var scopes []string
	switch r.Method {
	case http.MethodGet:
		grant = "basic"
		scopes = r.URL.Query()["scope"]
		if user, pass, ok := r.BasicAuth(); ok && ts.users[user] == pass && pass != "" {
			subject = user
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		grant = r.PostForm.Get("grant_type")
		scopes = r.PostForm["scope"]
		switch grant {
		case "refresh_token":
			subject = ts.refreshTokens[r.PostForm.Get("refresh_token")]
		case "password":
			if user, pass := r.PostForm.Get("username"), r.PostForm.Get("password"); ts.users[user] == pass && pass != "" {
				subject = user
			}
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	entry := TokenRequest{Method: r.Method, Grant: grant, Scope: strings.Join(scopes, " ")}
	if subject == "" {
		ts.add(entry)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	tok, err := ts.Mint(subject, scopes...)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	entry.Issued = true
	ts.add(entry)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// Mint issues a token for subject with the scopes ("repository:charts/app:pull").
func (ts *TokenServer) Mint(subject string, scopes ...string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ts.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", ts.kid))
	if err != nil {
		return "", err
	}
	var access []*token.ResourceActions
	for _, s := range scopes {
		for _, one := range strings.Fields(s) {
			parts := strings.Split(one, ":")
			if len(parts) < 3 {
				continue
			}
			access = append(access, &token.ResourceActions{
				Type:    parts[0],
				Name:    strings.Join(parts[1:len(parts)-1], ":"),
				Actions: strings.Split(parts[len(parts)-1], ","),
			})
		}
	}
	jti := make([]byte, 8)
	_, _ = rand.Read(jti)
	now := time.Now()
	claims := token.ClaimSet{
		Issuer: tokenIssuer, Subject: subject, Audience: token.AudienceList{tokenService},
		Expiration: now.Add(10 * time.Minute).Unix(), NotBefore: now.Add(-time.Minute).Unix(), IssuedAt: now.Unix(),
		JWTID: hex.EncodeToString(jti), Access: access,
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// authConfig is the registry's auth section for this token server.
func (ts *TokenServer) authConfig() map[string]any {
	return map[string]any{
		"realm":          ts.URL,
		"service":        tokenService,
		"issuer":         tokenIssuer,
		"rootcertbundle": ts.RootCertBundle,
	}
}

// Scope is the pull scope of repo.
func Scope(repo string) string { return fmt.Sprintf("repository:%s:pull", repo) }
