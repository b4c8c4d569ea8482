// The in-box script that checks a box's repository out into /workspace:
// a clone at the box's first start, or, for a box made from a prebuild (its
// /workspace already holds the prebuild's checkout, marked by
// .git/boxyard-prebuild), a fetch of only what changed since the prebuild's
// commit and a move of the checkout to the ref. Either happens once: after
// it, the checkout is the user's and is only reported.

/** Written by a prebuild into its checkout; removed by the first start of a box made from it. */
export const PREBUILD_MARKER = ".git/boxyard-prebuild";

/**
 * As the box user inside the box, so it goes out through the box's own
 * network and egress policy. $1 url, $2 ref (may be empty), $3 the secret's
 * file (may be empty). The credential is read from the secret's file by a
 * helper given on the command line: it never reaches .git/config, argv or
 * the environment. Only http(s) transports are allowed (no ext::, file:// or
 * submodule tricks), and nothing is asked on a terminal. Prints the commit
 * checked out on its last line.
 */
export const CHECKOUT = `set -e
url=$1; ref=$2; cred=$3
cd /workspace
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
if [ -d .git ]; then
  if [ -f ${PREBUILD_MARKER} ]; then
    # From a prebuild: only what changed since its commit is fetched.
    if printf '%s' "$ref" | grep -Eq '^[0-9a-f]{40}$' && git cat-file -e "$ref^{commit}" 2>/dev/null; then
      want=$ref
    else
      g fetch -q origin "\${ref:-HEAD}"
      want=$(git rev-parse FETCH_HEAD)
    fi
    if [ "$(git rev-parse HEAD)" != "$want" ]; then
      git merge -q --ff-only "$want" 2>/dev/null || git reset -q --keep "$want"
    fi
    rm -f ${PREBUILD_MARKER}
  fi
  git rev-parse HEAD
  exit 0
fi
if [ -n "$(ls -A)" ]; then echo "/workspace is not empty; not cloning into it" >&2; exit 3; fi
if [ -z "$ref" ]; then
  g clone -q -- "$url" .
elif printf '%s' "$ref" | grep -Eq '^[0-9a-f]{40}$'; then
  g clone -q --no-checkout -- "$url" .
  git checkout -q "$ref"
else
  g clone -q --branch "$ref" -- "$url" .
fi
git rev-parse HEAD`;
