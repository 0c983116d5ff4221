# The work-item signing key of this azd environment, on Windows: signing-key.sh says what it does
# and why; the two make the same decisions in the same order.
# Written for Windows PowerShell 5.1 as well as PowerShell 7: azd runs a pwsh hook with
# powershell.exe when pwsh is not installed (azd 1.18.2 and later). So no PowerShell 7 syntax
# (no ?? ?. && || or ternary) and no .NET Core only API: the static
# RandomNumberGenerator::GetBytes(int) does not exist on .NET Framework, an instance's
# GetBytes(byte[]) does.
# The key is read from $env:WORK_ITEM_SIGNING_KEY (azd hands a hook the environment's values as
# environment variables), never from `azd env get-value`, which prints its "not found" error on
# standard output. The key is never printed.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

function Stop-Hook([string] $Message) {
    [Console]::Error.WriteLine("signing-key hook: $Message")
    exit 1
}

# 32 random bytes as 64 hex digits.
function New-SigningKey {
    $bytes = New-Object 'System.Byte[]' 32
    $random = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    try {
        $random.GetBytes($bytes)
    }
    finally {
        $random.Dispose()
    }
    return (($bytes | ForEach-Object { $_.ToString('x2') }) -join '')
}

# 32 characters or more and no blank: what the app accepts, and not an error message.
function Test-SigningKey([string] $Name, [string] $Value) {
    if ($Value -match '\s') {
        Stop-Hook "$Name holds text with blanks, not a key (an error message stored by mistake?): set it again, or clear it"
    }
    if ($Value.Length -lt 32) {
        Stop-Hook "$Name holds $($Value.Length) characters; the app needs 32 or more: set it again, or clear it"
    }
}

function Set-AzdValues([string[]] $Pairs) {
    & azd env set @Pairs
    if ($LASTEXITCODE -ne 0) {
        Stop-Hook "azd env set failed ($LASTEXITCODE)"
    }
}

if (-not $env:AZURE_ENV_NAME) {
    Stop-Hook "run it through azd (azd up, azd provision, or azd hooks run preprovision): it needs the azd environment's values"
}

$key = [string] $env:WORK_ITEM_SIGNING_KEY
$previous = [string] $env:WORK_ITEM_SIGNING_KEY_PREVIOUS
$rotate = [string] $env:WORK_ITEM_SIGNING_KEY_ROTATE
if (-not $rotate) { $rotate = 'false' }
# -eq and -ne compare strings without regard to case, as signing-key.sh does.
if ($rotate -ne 'true' -and $rotate -ne 'false') {
    Stop-Hook 'WORK_ITEM_SIGNING_KEY_ROTATE must be true or false'
}

if ($key) { Test-SigningKey 'WORK_ITEM_SIGNING_KEY' $key }
if ($previous) { Test-SigningKey 'WORK_ITEM_SIGNING_KEY_PREVIOUS' $previous }

if ($key -and $rotate -ne 'true') {
    exit 0 # the environment's key, deployed again unchanged
}

# A CI runner's azd environment goes away with the run: a key made here would replace the
# deployed one (stranding the resets queued under it) and then be lost.
if ($env:CI -eq 'true' -or $env:TF_BUILD) {
    Stop-Hook 'no key to generate or rotate in a CI run: set the pipeline secret WORK_ITEM_SIGNING_KEY from the azd environment that holds it (azd pipeline config does), and rotate there'
}

$fresh = New-SigningKey
if ($fresh.Length -ne 64) {
    Stop-Hook 'could not generate 32 random bytes'
}

if (-not $key) {
    Set-AzdValues @("WORK_ITEM_SIGNING_KEY=$fresh", 'WORK_ITEM_SIGNING_KEY_ROTATE=false')
    Write-Output "signing-key hook: generated WORK_ITEM_SIGNING_KEY for environment $($env:AZURE_ENV_NAME) (kept in .azure/$($env:AZURE_ENV_NAME)/.env)"
    exit 0
}

if ($previous) {
    [Console]::Error.WriteLine('signing-key hook: WORK_ITEM_SIGNING_KEY_PREVIOUS is replaced; resets still queued under the key before it will be refused')
}
Set-AzdValues @("WORK_ITEM_SIGNING_KEY_PREVIOUS=$key", "WORK_ITEM_SIGNING_KEY=$fresh", 'WORK_ITEM_SIGNING_KEY_ROTATE=false')
Write-Output "signing-key hook: rotated WORK_ITEM_SIGNING_KEY for environment $($env:AZURE_ENV_NAME); restart the app after this deployment, and clear WORK_ITEM_SIGNING_KEY_PREVIOUS after a week"
