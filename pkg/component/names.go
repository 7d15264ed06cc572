package component

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// NameError is a name from the cluster, a file or the command line that is
// not one Kubernetes would accept: refused where it enters, before it is
// used in a request, a path, a message or a hint.
type NameError struct {
	// Field names the name in the user's words (metadata.name,
	// spec.source.authentication.secretRef.namespace, NAME).
	Field string
	Value string
	// Namespace is true for a namespace (a DNS-1123 label).
	Namespace bool
}

// Reason is the failure's reason for programs.
func (e *NameError) Reason() string { return "InvalidName" }

func (e *NameError) Error() string {
	if e.Namespace {
		return fmt.Sprintf("%s %+q is not a valid namespace: expected a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", e.Field, e.Value)
	}
	return fmt.Sprintf("%s %+q is not a valid name: expected a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)", e.Field, e.Value)
}

// ValidName reports whether s is an object name as Kubernetes checks it
// (a DNS-1123 subdomain).
func ValidName(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }

// ValidNamespace reports whether s is a namespace name (a DNS-1123 label).
func ValidNamespace(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

// CheckName refuses a name that is not a DNS-1123 subdomain.
func CheckName(field, s string) error {
	if ValidName(s) {
		return nil
	}
	return &NameError{Field: field, Value: s}
}

// CheckNamespace refuses a namespace that is not a DNS-1123 label.
func CheckNamespace(field, s string) error {
	if ValidNamespace(s) {
		return nil
	}
	return &NameError{Field: field, Value: s, Namespace: true}
}

// checkObject checks the name and namespace of a Component as read.
func checkObject(c Component) error {
	what := "metadata"
	if c.File != "" {
		what = fmt.Sprintf("%s: a %s's metadata", strings.TrimSpace(c.File), Kind)
	}
	if err := CheckName(what+".name", c.Name); err != nil {
		return err
	}
	return CheckNamespace(what+".namespace", c.Namespace)
}
