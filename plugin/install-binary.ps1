# Puts ocisrc.exe into $env:HELM_PLUGIN_DIR\bin when Helm installs the plugin
# on Windows (the install hook; the update hook passes -Force). See
# install-binary.sh: the same rules, and a failed install removes what the
# install added so that helm plugin install can be run again.
param([switch]$Force)
$ErrorActionPreference = "Stop"

$dir = $env:HELM_PLUGIN_DIR
if (-not $dir) { throw "HELM_PLUGIN_DIR is not set: run this through helm plugin install" }
if ($env:SKIP_BIN_INSTALL -eq "1") { Write-Output "ocisrc: SKIP_BIN_INSTALL=1, not installing the binary"; exit 0 }

function Get-PluginField([string]$field) {
    $m = Select-String -Path (Join-Path $dir "plugin.yaml") -Pattern "^${field}:\s*`"?([^`"]+)`"?" | Select-Object -First 1
    if ($m) { return $m.Matches[0].Groups[1].Value.Trim() }
    return ""
}
$name = Get-PluginField "name"
$version = Get-PluginField "version"
$item = Get-Item -LiteralPath $dir -Force
$isLink = [bool]$item.LinkType
$where = if ($isLink) { $item.Target | Select-Object -First 1 } else { $dir }
$bin = Join-Path $dir "bin\ocisrc.exe"

function Remove-HalfInstalled {
    if ($Force -or ($name -ne "ocisrc" -and $name -ne "ocisrc-getter")) { return }
    if ($isLink) {
        [System.IO.Directory]::Delete($dir) # the link only, never its target
        [Console]::Error.WriteLine("ocisrc: removed the plugin's link $dir ($where is untouched): helm plugin install can be run again")
    } elseif (Test-Path -LiteralPath $dir) {
        Remove-Item -LiteralPath $dir -Recurse -Force
        [Console]::Error.WriteLine("ocisrc: removed the half-installed plugin ${dir}: helm plugin install can be run again")
    }
}

$tmp = $null
try {
    if (-not $version) { throw "ocisrc: no version in $dir\plugin.yaml" }
    if ((Test-Path -LiteralPath $bin) -and -not $Force) {
        $have = ""
        try { $have = ((& $bin version 2>$null) -split "\s+")[1] } catch { $have = "" }
        if ($have -eq "v$version") {
            Write-Output "ocisrc: $where\bin\ocisrc.exe is already v${version}: not downloading it (helm plugin update $name downloads it again and checks its sha256)"
            exit 0
        }
        $shown = if ($have) { $have } else { "of an unknown version" }
        Write-Output "ocisrc: $where\bin\ocisrc.exe is $shown, not v${version}: downloading v$version"
    }

    $arch = if ($env:PROCESSOR_ARCHITECTURE -eq "ARM64") { "arm64" } else { "amd64" }
    $base = if ($env:OCISRC_RELEASE_URL) { $env:OCISRC_RELEASE_URL } else { "https://github.com/ocisrc/ocisrc/releases/download" }
    $base = "$base/v$version"
    $archive = "ocisrc_${version}_windows_${arch}.zip"

    $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ([System.Guid]::NewGuid())
    New-Item -ItemType Directory -Path $tmp | Out-Null
    Invoke-WebRequest -UseBasicParsing -Uri "$base/$archive" -OutFile (Join-Path $tmp $archive)
    Invoke-WebRequest -UseBasicParsing -Uri "$base/checksums.txt" -OutFile (Join-Path $tmp "checksums.txt")
    $want = (Get-Content (Join-Path $tmp "checksums.txt") | Where-Object { $_ -match "\s$([regex]::Escape($archive))$" } | ForEach-Object { ($_ -split "\s+")[0] })
    $got = (Get-FileHash -Algorithm SHA256 (Join-Path $tmp $archive)).Hash.ToLower()
    if (-not $want -or $want -ne $got) { throw "ocisrc: checksum mismatch for $archive (expected $want, got $got): not installing" }
    Expand-Archive -Path (Join-Path $tmp $archive) -DestinationPath (Join-Path $tmp "x")
    New-Item -ItemType Directory -Force -Path (Join-Path $dir "bin") | Out-Null
    Move-Item -Force (Join-Path $tmp "x\ocisrc.exe") $bin
    Write-Output "ocisrc: installed $version (windows/$arch) into $where\bin"
} catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    Remove-HalfInstalled
    exit 1
} finally {
    if ($tmp) { Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue }
}
