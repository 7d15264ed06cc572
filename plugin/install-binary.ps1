# Puts ocisrc.exe into $env:HELM_PLUGIN_DIR\bin when Helm installs the plugin
# on Windows (the install and update hook). See install-binary.sh.
param([switch]$Force)
$ErrorActionPreference = "Stop"

$dir = $env:HELM_PLUGIN_DIR
if (-not $dir) { throw "HELM_PLUGIN_DIR is not set: run this through helm plugin install" }
if ($env:SKIP_BIN_INSTALL -eq "1") { Write-Output "ocisrc: SKIP_BIN_INSTALL=1, not installing the binary"; exit 0 }
$bin = Join-Path $dir "bin\ocisrc.exe"
if ((Test-Path $bin) -and -not $Force) { exit 0 }

$version = (Select-String -Path (Join-Path $dir "plugin.yaml") -Pattern '^version:\s*"?([^"]+)"?' | Select-Object -First 1).Matches[0].Groups[1].Value
$arch = if ($env:PROCESSOR_ARCHITECTURE -eq "ARM64") { "arm64" } else { "amd64" }
$base = if ($env:OCISRC_RELEASE_URL) { $env:OCISRC_RELEASE_URL } else { "https://github.com/ocisrc/ocisrc/releases/download" }
$base = "$base/v$version"
$archive = "ocisrc_${version}_windows_${arch}.zip"

$tmp = Join-Path ([System.IO.Path]::GetTempPath()) ([System.Guid]::NewGuid())
New-Item -ItemType Directory -Path $tmp | Out-Null
try {
    Invoke-WebRequest -UseBasicParsing -Uri "$base/$archive" -OutFile (Join-Path $tmp $archive)
    Invoke-WebRequest -UseBasicParsing -Uri "$base/checksums.txt" -OutFile (Join-Path $tmp "checksums.txt")
    $want = (Get-Content (Join-Path $tmp "checksums.txt") | Where-Object { $_ -match "\s$([regex]::Escape($archive))$" } | ForEach-Object { ($_ -split "\s+")[0] })
    $got = (Get-FileHash -Algorithm SHA256 (Join-Path $tmp $archive)).Hash.ToLower()
    if (-not $want -or $want -ne $got) { throw "ocisrc: checksum mismatch for $archive (expected $want, got $got): not installing" }
    Expand-Archive -Path (Join-Path $tmp $archive) -DestinationPath (Join-Path $tmp "x")
    New-Item -ItemType Directory -Force -Path (Join-Path $dir "bin") | Out-Null
    Move-Item -Force (Join-Path $tmp "x\ocisrc.exe") $bin
    Write-Output "ocisrc: installed $version (windows/$arch) into $dir\bin"
} finally {
    Remove-Item -Recurse -Force $tmp
}
