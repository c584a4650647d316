#!/bin/sh
# check-functions: lists the C functions longer than LIMIT lines, the
# measure of "a function a reader can hold".  A function is a block whose
# "{" stands alone in column 1 (the project's style) and ends at the "}"
# that brings the brace depth back to 0; its length counts the lines from
# that "{" to that "}", both included.  Comments and literals are blanked
# first (tests/c-strip.awk).  Tables and initializers do not open with a
# lone "{" and are not counted.  Prints "LINES FILE:LINE NAME", longest
# first, and a count; exits 0 (it measures, make check does not run it).
#
# Usage: tests/check-functions.sh LIMIT FILE...

set -u
strip=$(cd "$(dirname "$0")" && pwd)/c-strip.awk
limit=${1:?usage: check-functions.sh LIMIT FILE...}
shift

for f in "$@"; do
    awk -f "$strip" "$f"
done | awk -v limit="$limit" '
{
    # FILE:LINE:TEXT (the text may itself hold colons)
    p = index($0, ":"); file = substr($0, 1, p - 1); rest = substr($0, p + 1)
    p = index(rest, ":"); line = substr(rest, 1, p - 1); text = substr(rest, p + 1)
    if (file != cur) { cur = file; depth = 0; infn = 0; name = "" }
    if (depth == 0 && !infn) {
        # The name of the function is the identifier before the "(" of its
        # declarator, which precedes its "{".
        if (match(text, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
            cand = substr(text, RSTART, RLENGTH)
            sub(/[ \t]*\($/, "", cand)
            if (text !~ /^[ \t]/ || name == "") name = cand
        }
        if (text ~ /^\{[ \t]*$/) { infn = 1; start = line; fname = name }
    }
    o = gsub(/\{/, "{", text); c = gsub(/\}/, "}", text)
    depth += o - c
    if (infn && depth == 0) {
        len = line - start + 1
        if (len > limit) printf "%d %s:%d %s\n", len, file, start, fname
        infn = 0; name = ""
    }
    if (depth == 0 && text ~ /;[ \t]*$/) name = ""
}' | sort -rn | awk -v limit="$limit" '
{ print; n++ }
END { printf "%d function(s) over %d lines\n", n, limit }'
