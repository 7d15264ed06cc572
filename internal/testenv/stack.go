package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Known credentials the stack plants. Tests grep every output and file for
// them; they must never show up.
const (
	RegistryUser     = "ci-robot"
	RegistryPassword = "pw-Zq7!x9-never-print-me"
	WrongPassword    = "pw-wrong-Kd82-never-print-me"
)

// Stack is a control plane plus two registries: Secure (TLS, htpasswd with
// RegistryUser/RegistryPassword) and Open (TLS, anonymous).
type Stack struct {
	Dir     string
	Cluster *Cluster
	Secure  *Registry
	Open    *Registry
}

// StartStack starts everything under dir. Stop it when done.
func StartStack(dir string) (*Stack, error) {
	s := &Stack{Dir: dir}
	for _, sub := range []string{"secure", "open", "cluster"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	s.Secure, err = NewRegistry(RegistryOptions{Dir: filepath.Join(dir, "secure"), CA: ca, Users: map[string]string{RegistryUser: RegistryPassword}})
	if err != nil {
		return nil, err
	}
	s.Open, err = NewRegistry(RegistryOptions{Dir: filepath.Join(dir, "open"), CA: ca})
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.Cluster, err = StartCluster(filepath.Join(dir, "cluster"))
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop stops everything that was started.
func (s *Stack) Stop() error {
	var errs []error
	if s.Cluster != nil {
		errs = append(errs, s.Cluster.Stop())
	}
	if s.Secure != nil {
		s.Secure.Close()
	}
	if s.Open != nil {
		s.Open.Close()
	}
	return errors.Join(errs...)
}

// PushChart builds chart name:version and pushes it to reg under charts/name.
func (s *Stack) PushChart(ctx context.Context, reg *Registry, name, version string) (*Pushed, error) {
	c, err := BuildChart(name, version, 0)
	if err != nil {
		return nil, err
	}
	user, pass := "", ""
	if reg == s.Secure {
		user, pass = RegistryUser, RegistryPassword
	}
	p, err := reg.PushChart(ctx, "charts/"+name, c, user, pass)
	if err != nil {
		return nil, fmt.Errorf("pushing %s:%s: %w", name, version, err)
	}
	return p, nil
}
