package clierror

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodesAndHints(t *testing.T) {
	base := errors.New("boom")
	for name, tc := range map[string]struct {
		err  error
		code int
		hint string
	}{
		"nil":                     {nil, 0, ""},
		"plain":                   {base, 1, ""},
		"invalid":                 {Invalid(base), 2, ""},
		"hint keeps runtime code": {WithHint(base, "try again"), 1, "try again"},
		"hint keeps invalid code": {WithHint(Invalid(base), "fix it"), 2, "fix it"},
		"invalid with hint":       {InvalidWithHint(base, "fix it"), 2, "fix it"},
		"wrapped":                 {fmt.Errorf("doing x: %w", InvalidWithHint(base, "fix it")), 2, "fix it"},
		"outer hint wins":         {WithHint(InvalidWithHint(base, "inner"), "outer"), 2, "outer"},
		"inner hint found":        {Invalid(WithHint(base, "inner")), 2, "inner"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.code {
				t.Errorf("ExitCode = %d, want %d", got, tc.code)
			}
			if got := Hint(tc.err); got != tc.hint {
				t.Errorf("Hint = %q, want %q", got, tc.hint)
			}
			if tc.err != nil && tc.err.Error() != "boom" && !errors.Is(tc.err, base) {
				t.Errorf("the error does not wrap the original")
			}
		})
	}
	if Invalid(nil) != nil || WithHint(nil, "x") != nil || InvalidWithHint(nil, "x") != nil {
		t.Error("nil in, non-nil out")
	}
}
