package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/status"
	"github.com/dynasnap/dynasnap/internal/termstatus"
)

const fleetExamples = `  # the hourly snapshot of every table, each into its own folder of the fleet's snapshots
  dynasnap fleet --backups s3://backups/dynasnap -- snapshot --source {source} --out {snapshots}/{time}

  # compaction of every journal (per-item tables are skipped), two tables at a time
  dynasnap fleet --backups s3://backups/dynasnap --concurrency 2 -- compact --source {source}

  # the weekly drill of every table, each report kept where dynasnap status reads it
  dynasnap fleet --backups s3://backups/dynasnap -- drill --snapshots {snapshots} --report-out {results}/drill.json --max-rpo 2h --json

  # retention of every table's snapshots
  dynasnap fleet --backups s3://backups/dynasnap -- forget --snapshots {snapshots} --keep-hourly 48 --keep-daily 30

  # the largest tables sharded: shard 2 of 4 of each (an array job's child), then one commit per table
  dynasnap fleet --backups s3://backups/dynasnap --table orders,events --run-time 2026-12-04T10:00:00Z -- \
      snapshot --source {source} --at {at} --out {snapshots}/{time} --shard 2/4
  dynasnap fleet --backups s3://backups/dynasnap --table orders,events --run-time 2026-12-04T10:00:00Z -- \
      snapshot commit --out {snapshots}/{time}

Placeholders in the command, per table:
  {table}      the table's name
  {source}     its backup folder, s3://BUCKET/PREFIX/TABLE
  {snapshots}  its snapshots folder, --snapshots/TABLE (default s3://BUCKET/PREFIX.dynasnap-snapshots/TABLE)
  {results}    its results folder, --results/TABLE (default s3://BUCKET/PREFIX.dynasnap-results/TABLE)
  {time}       --run-time as 20060102T150405Z (one value for every table: the folder name status sorts by)
  {at}         --run-time as RFC 3339

Each table runs the command as 'dynasnap COMMAND ...' would, in this process; one failing never stops
the others. Its output is printed when it ends, each line prefixed with the table; then the summary.
Exit status: 0 when every table's command succeeded, else the highest exit status among them.`

// fleetRun is one table's run (docs/JSON.md, fleet).
type fleetRun struct {
	Table    string          `json:"table"`
	ExitCode int             `json:"exitCode"`
	Skipped  string          `json:"skipped,omitempty"` // why the table was not run
	Seconds  float64         `json:"seconds"`
	Error    string          `json:"error,omitempty"` // the command's last error line
	Result   json.RawMessage `json:"result,omitempty"`
	stdout   string
	stderr   string
}

// fleetReport is fleet --json.
type fleetReport struct {
	Backups string     `json:"backups"`
	Command []string   `json:"command"`
	RunTime time.Time  `json:"runTime"`
	Tables  []fleetRun `json:"tables"`
	Failed  int        `json:"failed"`
	Skipped int        `json:"skipped"`
}

func cmdFleet(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "fleet", "fleet --backups s3://BUCKET/PREFIX [flags] -- COMMAND [ARGS with placeholders]", fleetExamples)
	backups := fs.String("backups", "", "the backup prefix s3://BUCKET/PREFIX: each folder under it is a table (required)")
	tables := fs.StringSlice("table", nil, "only these tables (repeat, or comma-separated; default: every folder)")
	var locs status.Locations
	locs.AddFlags(fs)
	concurrency := fs.Int("concurrency", 1, "tables run at once (1 to 16)")
	enrolled := fs.Bool("enrolled", false, "only the tables the tag enroller (deploy/fleet.json) holds enrolled, by their enrolment.json: not those released (untagged or deleted), nor folders it never enrolled")
	runTime := fs.String("run-time", "", "the run's time for {time} and {at}, RFC 3339 (default: now, to the second); give the same value to every shard of a sharded run")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	command := fs.Args()
	switch {
	case *backups == "":
		return usageError{"--backups is required"}
	case len(command) == 0:
		return usageError{"give the command to run for every table after --, e.g. -- snapshot --source {source} --out {snapshots}/{time}"}
	case *concurrency < 1 || *concurrency > 16:
		return usageError{"--concurrency must be 1 to 16"}
	}
	if _, ok := a.commands[command[0]]; !ok || slices.Contains([]string{"fleet", "status", "version"}, command[0]) {
		return usageError{fmt.Sprintf("%q is not a command fleet runs per table", command[0])}
	}
	bk, err := layout.ParseS3URL(*backups)
	if err != nil {
		return usageError{fmt.Sprintf("--backups: %v", err)}
	}
	snapRoot, resRoot, err := locs.Resolve(bk)
	if err != nil {
		return usageError{err.Error()}
	}
	at := time.Now().UTC().Truncate(time.Second)
	if *runTime != "" {
		if at, err = time.Parse(time.RFC3339, *runTime); err != nil {
			return usageError{fmt.Sprintf("--run-time %q is not RFC 3339 (2026-12-04T10:00:00Z)", *runTime)}
		}
		at = at.UTC()
	}
	clients, err := loadAWS(ctx, &awsOpts, 64)
	if err != nil {
		return err
	}
	s3c, err := clients.S3For(ctx, bk.Bucket)
	if err != nil {
		return err
	}
	names := *tables
	if len(names) == 0 {
		if names, err = status.ListTables(ctx, s3c, bk); err != nil {
			return err
		}
	}
	if *enrolled {
		rc, err := clients.S3For(ctx, resRoot.Bucket)
		if err != nil {
			return err
		}
		if names, err = enrolledOnly(ctx, rc, resRoot, names); err != nil {
			return err
		}
	}
	rep := &fleetReport{Backups: bk.String(), Command: command, RunTime: at, Tables: make([]fleetRun, len(names))}
	vars := func(table string) map[string]string {
		return map[string]string{"{table}": table, "{source}": bk.Child(table).String(), "{snapshots}": snapRoot.Child(table).String(),
			"{results}": resRoot.Child(table).String(), "{time}": at.Format("20060102T150405Z"), "{at}": at.Format(time.RFC3339)}
	}
	// The AWS flags given to fleet go to every run, unless the command
	// sets its own.
	var inherited []string
	aws := awsFlagNames()
	fs.Visit(func(f *pflag.Flag) {
		if aws[f.Name] && !slices.ContainsFunc(command, func(s string) bool { return strings.HasPrefix(s, "--"+f.Name) }) {
			inherited = append(inherited, "--"+f.Name+"="+f.Value.String())
		}
	})
	jb := &journal.S3Bucket{Client: s3c, Bucket: bk.Bucket}
	var mu sync.Mutex
	sem := make(chan struct{}, *concurrency)
	var wg sync.WaitGroup
	for i, table := range names {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			run := fleetRun{Table: table}
			start := time.Now()
			if command[0] == "compact" {
				// compact is for journals: a per-item table has nothing to do.
				if _, err := journal.ReadDescriptor(ctx, jb, bk.Child(table).Dir()); errors.Is(err, journal.ErrNoJournal) {
					run.Skipped = "not a journal"
				}
			}
			if run.Skipped == "" {
				run = runForTable(ctx, a, table, expand(command, vars(table)), inherited)
			}
			run.Seconds = time.Since(start).Seconds()
			mu.Lock()
			rep.Tables[i] = run
			if !a.opts.Quiet {
				printRun(a.stderr, run)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	code := 0
	for _, r := range rep.Tables {
		switch {
		case r.Skipped != "":
			rep.Skipped++
		case r.ExitCode != 0:
			rep.Failed++
			code = max(code, r.ExitCode)
		}
	}
	writeFleetSummary(a.stderr, rep)
	if a.opts.JSON {
		enc := a.out.JSONEncoder()
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	if code != 0 {
		return exitError{code, fmt.Errorf("%d of %d tables failed", rep.Failed, len(rep.Tables))}
	}
	return nil
}

// enrolledOnly keeps the tables whose enrolment record says enrolled (one
// GET each).
func enrolledOnly(ctx context.Context, s3c *s3.Client, results layout.Location, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		r, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(results.Bucket), Key: aws.String(status.ResultKey(results, n, enroll.RecordName))})
		if awserr.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("enrolment of %s: %w", n, err)
		}
		var rec enroll.Record
		err = json.NewDecoder(r.Body).Decode(&rec)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("enrolment of %s: %w", n, err)
		}
		if rec.State == enroll.StateEnrolled {
			out = append(out, n)
		}
	}
	return out, nil
}

// awsFlagNames are the names of the AWS flags every command takes.
func awsFlagNames() map[string]bool {
	fs := pflag.NewFlagSet("aws", pflag.ContinueOnError)
	var o awsconf.Options
	o.AddFlags(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
	return names
}

// expand replaces the placeholders in each argument.
func expand(args []string, vars map[string]string) []string {
	out := make([]string, len(args))
	for i, s := range args {
		for k, v := range vars {
			s = strings.ReplaceAll(s, k, v)
		}
		out[i] = s
	}
	return out
}

// runForTable runs one command in this process with its own output and
// flags: a fresh app, as a new process would have.
func runForTable(ctx context.Context, a *app, table string, command, inherited []string) fleetRun {
	var o, e bytes.Buffer
	sub := &app{stdout: &o, stderr: &e, commands: a.commands, term: termstatus.New(&e, false, 0)}
	args := append(append(slices.Clone(command[:1]), inherited...), command[1:]...)
	if len(command) > 1 && !strings.HasPrefix(command[1], "-") {
		// A subcommand (snapshot commit): the AWS flags after it.
		args = append(append(slices.Clone(command[:2]), inherited...), command[2:]...)
	}
	code := sub.main(ctx, args)
	run := fleetRun{Table: table, ExitCode: code, stdout: o.String(), stderr: e.String()}
	if out := bytes.TrimSpace(o.Bytes()); json.Valid(out) {
		run.Result = json.RawMessage(out)
	}
	if code != 0 {
		lines := strings.Split(strings.TrimSpace(e.String()), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.HasPrefix(lines[i], "dynasnap ") {
				run.Error = lines[i]
				break
			}
		}
	}
	return run
}

// printRun prints a table's output, each line prefixed with the table.
func printRun(w io.Writer, r fleetRun) {
	if r.Skipped != "" {
		fmt.Fprintf(w, "[%s] skipped: %s\n", r.Table, r.Skipped)
		return
	}
	for _, s := range []string{r.stderr, r.stdout} {
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(w, "[%s] %s\n", r.Table, l)
			}
		}
	}
}

func writeFleetSummary(w io.Writer, r *fleetReport) {
	fmt.Fprintf(w, "fleet %s: %s for %d tables: %d ok, %d failed, %d skipped\n", r.Backups, r.Command[0],
		len(r.Tables), len(r.Tables)-r.Failed-r.Skipped, r.Failed, r.Skipped)
	for _, t := range r.Tables {
		state := "ok"
		switch {
		case t.Skipped != "":
			state = "skipped (" + t.Skipped + ")"
		case t.ExitCode != 0:
			state = fmt.Sprintf("FAILED (exit %d): %s", t.ExitCode, t.Error)
		}
		fmt.Fprintf(w, "  %-30s %6.1fs  %s\n", t.Table, t.Seconds, state)
	}
}
