#!/usr/bin/env bash
# mermaid-check.sh - every ```mermaid diagram in the docs must parse.
#
# Usage: scripts/mermaid-check.sh [FILE...]      (part of make docs-check)
#
# FILE defaults to README.md, docs/*.md and docs/extensions/*.md.  Each
# diagram goes through mermaid's own parser, the npm package, with `jsdom` for
# the browser its sanitizer expects (docs/README.md, "Keeping the docs true").
# Without node and npm it is skipped, unless MERMAID_CHECK=require (.ci/run).
#
# Exit status: 0 if every diagram parses (or the check was skipped), 1 if
# not (each failure named by file, line and the parser's message), 2 on bad
# usage or a failed install.
set -euo pipefail

DIE_STATUS=2
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

MERMAID_VERSION=11.17.2
JSDOM_VERSION=29.1.1
CACHE=$repo/.cache/mermaid

help_if_asked "$@"
files=("$@")
shopt -s nullglob # there may be no docs/extensions/*.md
((${#files[@]})) || files=(README.md docs/*.md docs/extensions/*.md)
for f in "${files[@]}"; do
	[[ -f $f ]] || die "no such file: $f"
done

if ! have node || ! have npm; then
	[[ ${MERMAID_CHECK:-} != require ]] ||
		die "node and npm are needed to parse the diagrams (apt-get install nodejs npm)"
	echo "mermaid-check: skipped: no node/npm here (apt-get install nodejs npm to check the diagrams)"
	exit 0
fi

want="mermaid@$MERMAID_VERSION jsdom@$JSDOM_VERSION"
if [[ $(cat "$CACHE/installed" 2>/dev/null) != "$want" ]]; then
	echo "mermaid-check: installing $want into .cache/mermaid (once)"
	mkdir -p "$CACHE"
	# shellcheck disable=SC2086 # two package specs
	npm install --silent --no-audit --no-fund --no-save --prefix "$CACHE" $want >&2 ||
		die "npm install $want failed"
	echo "$want" >"$CACHE/installed"
fi

# Each ```mermaid fence is parsed on its own; one inside a longer fence (an
# example of Markdown) is not a diagram.
# shellcheck disable=SC2016 # JavaScript, not shell
js='
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { JSDOM } from "jsdom";
const { window } = new JSDOM("<!DOCTYPE html><body></body>");
Object.assign(globalThis, { window, document: window.document });
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let n = 0, bad = 0;
for (const file of process.argv.slice(1)) {
	const lines = readFileSync(resolve(process.env.REPO, file), "utf8").split("\n");
	let fence = 0, body = null, start = 0;
	for (const [i, line] of lines.entries()) {
		const m = /^ {0,3}(`{3,})(.*)$/.exec(line);
		if (!fence && m) {
			fence = m[1].length;
			if (m[2].trim() === "mermaid") { body = []; start = i + 1; }
		} else if (fence && m && m[1].length >= fence && m[2].trim() === "") {
			if (body) {
				n++;
				await mermaid.parse(body.join("\n")).catch((e) => {
					bad++;
					console.error(`mermaid-check: ${file}:${start}: ${String(e.message || e).split("\n").join(" | ")}`);
				});
			}
			fence = 0; body = null;
		} else if (body) body.push(line);
	}
}
console.log(`mermaid-check: ${bad ? "FAILED, " + bad + " of " : ""}${n} diagrams${bad ? " do not parse" : " parse"}`);
process.exit(bad ? 1 : 0);
'
cd "$CACHE"
REPO=$repo exec node --input-type=module -e "$js" -- "${files[@]}"
