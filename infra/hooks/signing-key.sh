#!/bin/sh
# The work-item signing key of this azd environment: generated once, kept in the environment
# (.azure/<env>/.env, which git and .funcignore leave out), rotated only on request.
# azure.yaml runs it as the preup and the preprovision hook: `azd up` asks for every template
# parameter without a value before its provision step, so preprovision alone would come too
# late; preup runs first, and preprovision covers `azd provision` on its own.
# signing-key.ps1 is the same for Windows.
#
# azd hands a hook the environment's values as environment variables (and its own process
# environment: a pipeline secret arrives the same way), so the key is read from
# $WORK_ITEM_SIGNING_KEY. Never from `azd env get-value`: for a missing key it prints its error
# on standard output and a command substitution would take that text for the key.
# The key is never printed.
set -eu

fail() {
  echo "signing-key hook: $*" >&2
  exit 1
}

# 32 random bytes as 64 hex digits: an HMAC-SHA256 key, and nothing that azd env set could
# mistake for a flag or that the .env file would need to quote.
new_key() {
  od -An -v -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# 32 characters or more and no blank: what the app accepts, and not an error message.
check_key() {
  case "$2" in
    *[[:space:]]*) fail "$1 holds text with blanks, not a key (an error message stored by mistake?): set it again, or clear it" ;;
  esac
  if [ "${#2}" -lt 32 ]; then
    fail "$1 holds ${#2} characters; the app needs 32 or more: set it again, or clear it"
  fi
}

[ -n "${AZURE_ENV_NAME:-}" ] || fail "run it through azd (azd up, azd provision, or azd hooks run preprovision): it needs the azd environment's values"

key="${WORK_ITEM_SIGNING_KEY:-}"
previous="${WORK_ITEM_SIGNING_KEY_PREVIOUS:-}"
# true or false in any case, as PowerShell compares them in signing-key.ps1.
rotate="$(printf '%s' "${WORK_ITEM_SIGNING_KEY_ROTATE:-false}" | tr '[:upper:]' '[:lower:]')"
case "$rotate" in
  true | false) ;;
  *) fail "WORK_ITEM_SIGNING_KEY_ROTATE must be true or false" ;;
esac

[ -z "$key" ] || check_key WORK_ITEM_SIGNING_KEY "$key"
[ -z "$previous" ] || check_key WORK_ITEM_SIGNING_KEY_PREVIOUS "$previous"

if [ -n "$key" ] && [ "$rotate" != "true" ]; then
  exit 0 # the environment's key, deployed again unchanged
fi

# A CI runner's azd environment goes away with the run: a key made here would replace the
# deployed one (stranding the resets queued under it) and then be lost.
if [ "${CI:-}" = "true" ] || [ -n "${TF_BUILD:-}" ]; then
  fail "no key to generate or rotate in a CI run: set the pipeline secret WORK_ITEM_SIGNING_KEY from the azd environment that holds it (azd pipeline config does), and rotate there"
fi

fresh="$(new_key)"
[ "${#fresh}" -eq 64 ] || fail "could not generate 32 random bytes"

if [ -z "$key" ]; then
  azd env set "WORK_ITEM_SIGNING_KEY=$fresh" "WORK_ITEM_SIGNING_KEY_ROTATE=false" ||
    fail "azd env set failed ($?)"
  echo "signing-key hook: generated WORK_ITEM_SIGNING_KEY for environment $AZURE_ENV_NAME (kept in .azure/$AZURE_ENV_NAME/.env)"
  exit 0
fi

# Rotation: the current key becomes the previous one (resets queued under it still run), a new
# key signs from now on. One azd env set, so the three values are saved together.
[ -z "$previous" ] || echo "signing-key hook: WORK_ITEM_SIGNING_KEY_PREVIOUS is replaced; resets still queued under the key before it will be refused" >&2
azd env set "WORK_ITEM_SIGNING_KEY_PREVIOUS=$key" "WORK_ITEM_SIGNING_KEY=$fresh" "WORK_ITEM_SIGNING_KEY_ROTATE=false" ||
  fail "azd env set failed ($?)"
echo "signing-key hook: rotated WORK_ITEM_SIGNING_KEY for environment $AZURE_ENV_NAME; restart the app after this deployment, and clear WORK_ITEM_SIGNING_KEY_PREVIOUS after a week"
