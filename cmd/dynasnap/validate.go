package main

import (
	"fmt"
	"regexp"
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
