// The in-box script that checks a box's repository out into /workspace.

/**
 * The clone, as the box user inside the box, so it goes out through the
 * box's own network and egress policy. $1 url, $2 ref (may be empty), $3 the
 * secret's file (may be empty). The credential is read from the secret's
 * file by a helper given on the command line: it never reaches .git/config,
 * argv or the environment. Only http(s) transports are allowed (no ext::,
 * file:// or submodule tricks), and nothing is asked on a terminal.
 */
export const CHECKOUT = `set -e
url=$1; ref=$2; cred=$3
cd /workspace
if [ -d .git ]; then git rev-parse HEAD; exit 0; fi
if [ -n "$(ls -A)" ]; then echo "/workspace is not empty; not cloning into it" >&2; exit 3; fi
export GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false
g() {
  if [ -n "$cred" ]; then
    git -c protocol.allow=never -c protocol.http.allow=always -c protocol.https.allow=always \\
      -c credential.helper= \\
      -c "credential.helper=!f() { test \\"\\$1\\" = get || exit 0; echo username=x-access-token; printf 'password=%s\\\\n' \\"\\$(cat $cred)\\"; }; f" "$@"
  else
    git -c protocol.allow=never -c protocol.http.allow=always -c protocol.https.allow=always "$@"
  fi
}
if [ -z "$ref" ]; then
  g clone -q -- "$url" .
elif printf '%s' "$ref" | grep -Eq '^[0-9a-f]{40}$'; then
  g clone -q --no-checkout -- "$url" .
  git checkout -q "$ref"
else
  g clone -q --branch "$ref" -- "$url" .
fi
git rev-parse HEAD`;
