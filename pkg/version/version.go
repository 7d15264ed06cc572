// Package version is the build's version, stamped by the linker:
//
//	-ldflags "-X github.com/ocisrc/ocisrc/pkg/version.version=v0.1.0"
package version

import (
	"runtime"
	"runtime/debug"
)

// version is set at build time; "dev" for a plain go build.
var version = "dev"

// Version returns the build's version: the stamped one, else the module
// version go install recorded, else "dev".
func Version() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// UserAgent is the User-Agent ocisrc sends to registries.
func UserAgent() string {
	return "ocisrc/" + Version() + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
