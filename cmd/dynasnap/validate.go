package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/spf13/pflag"
)

// tableName is DynamoDB's rule for table names: 3 to 255 of a-z, A-Z,
// 0-9, '_', '-' and '.'.
var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// athenaName is what Athena takes as a table name.
var athenaName = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// checkTableName refuses a name DynamoDB would refuse, before any request,
// with DynamoDB's rule in the message rather than its ValidationException.
func checkTableName(flag, name string) error {
	if tableName.MatchString(name) {
		return nil
	}
	shown := name
	if len(shown) > 40 {
		shown = shown[:40] + "..."
	}
	return usageError{fmt.Sprintf("%s %q is not a DynamoDB table name: 3 to 255 characters, letters, digits, '_', '-' and '.' only (it has %d)", flag, shown, len(name))}
}

// maxInFlight bounds the flags that set how many requests run at once:
// each is a goroutine with its buffers, so a typo such as 100000000 would
// exhaust memory before the first request.
const maxInFlight = 10000

// inFlight are those flags, by name, in every command.
var inFlight = map[string]bool{"concurrency": true, "list-concurrency": true, "workers": true, "readers": true}

// checkFlagValues refuses values no flag means, for every command at once:
// a float that is NaN or infinite (strconv reads "NaN" and "Inf", and NaN
// passes every "must not be negative" check), and a count of requests in
// flight beyond maxInFlight.
func checkFlagValues(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch f.Value.Type() {
		case "float64", "float32":
			if v, perr := strconv.ParseFloat(f.Value.String(), 64); perr == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = usageError{fmt.Sprintf("--%s %s: want a finite number", f.Name, f.Value.String())}
			}
		case "int", "int32", "int64":
			if v, perr := strconv.ParseInt(f.Value.String(), 10, 64); perr == nil && inFlight[f.Name] && v > maxInFlight {
				err = usageError{fmt.Sprintf("--%s %d: at most %d (each is a request in flight with its own buffers)", f.Name, v, maxInFlight)}
			}
		}
	})
	return err
}
