package main

// takeDebug removes --debug from a command's arguments (anywhere before a
// "--"): every command takes it, and it changes only how errors print.
func takeDebug(args []string) ([]string, bool) {
	out := make([]string, 0, len(args))
	debug := false
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "--debug" || a == "--debug=true" {
			debug = true
			continue
		}
		if a == "--debug=false" {
			continue
		}
		out = append(out, a)
	}
	return out, debug
}
