// Package component reads Components from a cluster and turns their
// spec.source into a validated OCISource.
package component

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/ocisrc/ocisrc/pkg/chartref"
)

// SourceType is the only spec.source.type ocisrc handles.
const SourceType = "oci"

// AuthMethodRegistry is the only spec.source.authentication.method.
const AuthMethodRegistry = "registry"

// OCISource is a Component's spec.source for type oci (the design note's schema).
type OCISource struct {
	Type           string             `json:"type" validate:"eq=oci"`
	Chart          string             `json:"chart" validate:"required,oci_reference"`
	Authentication *OCIAuthentication `json:"authentication,omitempty"`
}

// OCIAuthentication says where the registry credentials are.
type OCIAuthentication struct {
	Method    string    `json:"method" validate:"eq=registry"`
	SecretRef SecretRef `json:"secretRef" validate:"required"`
}

// SecretRef names the Secret that holds the registry credentials.
type SecretRef struct {
	Name      string `json:"name" validate:"required,k8s_name"`
	Namespace string `json:"namespace" validate:"required,k8s_namespace"`
}

// String is namespace/name.
func (r SecretRef) String() string { return r.Namespace + "/" + r.Name }

// sourceField is how users see the source: the path in the Component.
const sourceField = "spec.source"

// SourceError is a spec.source that cannot be used; it names the fields at fault.
type SourceError struct {
	// Problems are "<field> <what was expected>" sentences, in field order.
	Problems []string
	// Fields are the field of each problem (spec.source.chart).
	Fields []string
}

// one is a SourceError with one problem about field.
func one(field, problem string) *SourceError {
	return &SourceError{Problems: []string{problem}, Fields: []string{field}}
}

func (e *SourceError) Error() string { return strings.Join(e.Problems, "; ") }

// Validator checks OCISource values. It is safe for concurrent use.
type Validator struct {
	v *validator.Validate
}

// NewValidator returns a Validator with the oci_reference tag registered and
// field names reported by their JSON names.
func NewValidator() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	// Registering a fixed, valid tag name cannot fail.
	_ = v.RegisterValidation("oci_reference", func(fl validator.FieldLevel) bool {
		_, err := chartref.Parse(fl.Field().String())
		return err == nil
	})
	// Names of cluster objects are checked as Kubernetes checks them, where
	// they enter: a name holding "; curl … | sh" or a newline never
	// reaches a request, a message or a hint.
	_ = v.RegisterValidation("k8s_name", func(fl validator.FieldLevel) bool { return ValidName(fl.Field().String()) })
	_ = v.RegisterValidation("k8s_namespace", func(fl validator.FieldLevel) bool { return ValidNamespace(fl.Field().String()) })
	return &Validator{v: v}
}

// DecodeSource decodes and validates spec.source, given as the unstructured
// value read from the cluster. A missing source, a source of another type, a
// value of the wrong JSON type and every validation failure is a *SourceError.
func (val *Validator) DecodeSource(raw any, found bool) (*OCISource, chartref.Reference, error) {
	var ref chartref.Reference
	if !found || raw == nil {
		return nil, ref, one(sourceField, sourceField+" is missing: expected an oci source with type and chart")
	}
	var data []byte
	switch v := raw.(type) {
	case json.RawMessage:
		// As listed: decoded straight into the schema, unknown fields
		// skipped as they are read.
		var head struct {
			Type any `json:"type"`
		}
		if json.Unmarshal(v, &head) != nil {
			var value any
			if json.Unmarshal(v, &value) == nil {
				return nil, ref, one(sourceField, fmt.Sprintf("%s must be an object, got %s", sourceField, jsonKind(value)))
			}
			return nil, ref, one(sourceField, sourceField+" cannot be read as JSON")
		}
		if err := checkType(head.Type); err != nil {
			return nil, ref, err
		}
		data = v
	case map[string]any:
		if err := checkType(v["type"]); err != nil {
			return nil, ref, err
		}
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, ref, one(sourceField, sourceField+" cannot be read as JSON")
		}
	default:
		return nil, ref, one(sourceField, fmt.Sprintf("%s must be an object, got %s", sourceField, jsonKind(raw)))
	}
	var src OCISource
	if err := json.Unmarshal(data, &src); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, ref, one(fieldPath(te.Field), fmt.Sprintf("%s must be %s, got %s", fieldPath(te.Field), goKindWord(te.Type), jsonValueWord(te.Value)))
		}
		return nil, ref, one(sourceField, sourceField+" cannot be decoded: expected the oci source schema")
	}
	if err := val.Validate(&src); err != nil {
		return nil, ref, err
	}
	ref, err := chartref.Parse(src.Chart)
	if err != nil { // unreachable after Validate; kept so ref is never used unparsed
		return nil, ref, one(sourceField+".chart", sourceField+".chart "+err.Error())
	}
	return &src, ref, nil
}

// checkType reports another spec.source.type than oci alone: the type
// decides everything else.
func checkType(t any) error {
	s, ok := t.(string)
	if !ok || s == SourceType {
		return nil
	}
	if s == "" {
		return one(sourceField+".type", sourceField+".type must be oci, got an empty string")
	}
	return one(sourceField+".type", fmt.Sprintf("%s.type %q is not supported by ocisrc: only oci", sourceField, s))
}

// Validate checks src and reports every problem with the field named as the
// user wrote it (spec.source.authentication.secretRef.namespace).
func (val *Validator) Validate(src *OCISource) error {
	err := val.v.Struct(src)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return one(sourceField, sourceField+" cannot be validated")
	}
	se := &SourceError{}
	for _, fe := range verrs {
		// Namespace is "OCISource.authentication.secretRef.name": drop the struct name.
		_, rest, _ := strings.Cut(fe.Namespace(), ".")
		se.Problems = append(se.Problems, problem(fieldPath(rest), fe))
		se.Fields = append(se.Fields, fieldPath(rest))
	}
	return se
}

func problem(field string, fe validator.FieldError) string {
	got := func() string {
		s, _ := fe.Value().(string)
		if s == "" {
			return "nothing"
		}
		return fmt.Sprintf("%q", s)
	}
	switch fe.Tag() {
	case "eq":
		return fmt.Sprintf("%s must be %s, got %s", field, fe.Param(), got())
	case "required":
		if fe.Kind() == reflect.Struct {
			return fmt.Sprintf("%s is required: expected name and namespace", field)
		}
		return fmt.Sprintf("%s is required: expected a non-empty string", field)
	case "k8s_name":
		return (&NameError{Field: field, Value: fmt.Sprint(fe.Value())}).Error()
	case "k8s_namespace":
		return (&NameError{Field: field, Value: fmt.Sprint(fe.Value()), Namespace: true}).Error()
	case "oci_reference":
		s, _ := fe.Value().(string)
		_, err := chartref.Parse(s)
		if err == nil {
			return fmt.Sprintf("%s must be an oci:// chart reference", field)
		}
		return fmt.Sprintf("%s %s", field, err.Error())
	default:
		return fmt.Sprintf("%s is invalid", field)
	}
}

func fieldPath(rel string) string {
	if rel == "" {
		return sourceField
	}
	return sourceField + "." + rel
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64, int, json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return "an unexpected value"
	}
}

func goKindWord(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	default:
		return "a " + t.Kind().String()
	}
}

// jsonValueWord turns json.UnmarshalTypeError.Value ("number", "array", …) into words.
func jsonValueWord(v string) string {
	switch v {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "":
		return "an unexpected value"
	default:
		return "a " + v
	}
}
