# c-strip.awk: prints each line of a C file as FILE:LINE:TEXT with its
# comments blanked and, unless -v keep=strings, the contents of its string
# and character literals blanked too, so the checks in tests/ can match
# code alone.  Blanking keeps every column, and every line is printed.
BEGIN { state = "code" }
FNR == 1 { state = "code" }
{
    out = ""; n = length($0)
    for (i = 1; i <= n; i++) {
        c = substr($0, i, 1); c2 = substr($0, i, 2)
        if (state == "block") {
            if (c2 == "*/") { state = "code"; i++; out = out "  " }
            else out = out " "
        } else if (state == "str" || state == "chr") {
            if (c == "\\") {
                out = out (keep == "strings" ? c2 : "  "); i++
            } else if ((state == "str" && c == "\"") ||
                       (state == "chr" && c == "'")) {
                state = "code"; out = out c
            } else out = out (keep == "strings" ? c : " ")
        } else if (c2 == "/*") { state = "block"; i++; out = out "  " }
        else if (c2 == "//") { break }
        else {
            if (c == "\"") state = "str"
            else if (c == "'") state = "chr"
            out = out c
        }
    }
    # A literal never spans lines (a continued macro line aside).
    if (state == "str" || state == "chr") state = "code"
    print FILENAME ":" FNR ":" out
}
