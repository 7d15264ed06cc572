// Package clierror classifies errors for the command line: the exit code they
// map to and an optional hint printed after the message.
//
// Exit codes follow kubectl and Helm: 0 success, 1 a runtime failure (cluster,
// network, registry), 2 invalid input or a request refused by policy.
package clierror

import (
	"errors"
)

// Exit codes.
const (
	CodeOK      = 0
	CodeRuntime = 1
	CodeInvalid = 2
)

// coded carries an exit code and a hint along with the error it wraps.
type coded struct {
	err  error
	code int
	hint string
}

func (e *coded) Error() string { return e.err.Error() }
func (e *coded) Unwrap() error { return e.err }

// Hint is the hint given with WithHint, or "".
func (e *coded) Hint() string { return e.hint }

// Hinter is an error that carries a hint. Errors of other packages may
// implement it; the outermost non-empty hint in a chain is the one shown.
type Hinter interface {
	error
	Hint() string
}

// Invalid marks err as invalid input or a refusal by policy (exit code 2).
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: CodeInvalid}
}

// WithHint attaches a hint ("what to do next") to err, keeping its exit code.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: ExitCode(err), hint: hint}
}

// InvalidWithHint is Invalid(WithHint(err, hint)).
func InvalidWithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: CodeInvalid, hint: hint}
}

// ExitCode returns the exit code for err: 0 for nil, the outermost code set by
// this package, else 1.
func ExitCode(err error) int {
	if err == nil {
		return CodeOK
	}
	var c *coded
	if errors.As(err, &c) {
		return c.code
	}
	return CodeRuntime
}

// Hint returns the outermost hint attached to err, or "".
func Hint(err error) string {
	for err != nil {
		var h Hinter
		if !errors.As(err, &h) {
			return ""
		}
		if hint := h.Hint(); hint != "" {
			return hint
		}
		err = errors.Unwrap(h)
	}
	return ""
}
