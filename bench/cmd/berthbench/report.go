package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// target is the goal for a scenario: Berth's ratio against the baseline, where a
// ratio > 1 always means "Berth is better" (more throughput, or less time).
type goal struct {
	ratio float64
	p99ms float64 // 0: no latency goal
	text  string
}

var goals = map[string]goal{
	"large-push":   {1.3, 0, "≥ 1.3×"},
	"large-pull":   {1.0, 0, "≥ 1.0×"},
	"small-push":   {2, 0, "≥ 2×"},
	"small-pull":   {2, 0, "≥ 2×"},
	"manifest-get": {3, 10, "≥ 3×, p99 < 10 ms"},
	"tags-catalog": {10, 0, "≥ 10×"},
	"mixed":        {2, 0, "≥ 2×"},
}

// pgGoal: PostgreSQL mode within 1.5× of SQLite mode, i.e. a PG/SQLite ratio of at least 1/1.5.
const pgGoal = 1 / 1.5

type logData struct {
	bench map[string]map[string]map[string]string // scenario → registry → key → value
	idle  map[string]string                       // registry → idle RSS MB
	order []string                                // scenarios in first-seen order
}

func parseLog(r io.Reader) (*logData, error) {
	d := &logData{bench: map[string]map[string]map[string]string{}, idle: map[string]string{}}
	runs := map[string]map[string][]map[string]string{} // scenario → registry → every run
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		if kind != "BENCH" && kind != "IDLE" {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		if kind == "IDLE" {
			d.idle[kv["registry"]] = kv["rss_mb"]
			continue
		}
		s := kv["scenario"]
		if runs[s] == nil {
			runs[s] = map[string][]map[string]string{}
			d.order = append(d.order, s)
		}
		runs[s][kv["registry"]] = append(runs[s][kv["registry"]], kv)
	}
	for s, byReg := range runs {
		d.bench[s] = map[string]map[string]string{}
		for r, lines := range byReg {
			d.bench[s][r] = medianRun(lines)
		}
	}
	return d, sc.Err()
}

// medianRun picks, of several runs of one scenario against one registry (compare.sh repeats the
// short single-stream ones), the run with the median headline value; of an even number, the
// worse of the middle two.
func medianRun(lines []map[string]string) map[string]string {
	if len(lines) == 1 {
		return lines[0]
	}
	primary, better := lines[0]["primary"], lines[0]["better"]
	sorted := slices.Clone(lines)
	slices.SortStableFunc(sorted, func(a, b map[string]string) int { // worst first
		x, _ := strconv.ParseFloat(a[primary], 64)
		y, _ := strconv.ParseFloat(b[primary], 64)
		if better == "lower" {
			return cmp.Compare(y, x)
		}
		return cmp.Compare(x, y)
	})
	return sorted[(len(sorted)-1)/2]
}

func writeReport(w io.Writer, path string, registries []string, baseline string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := parseLog(f)
	if err != nil {
		return err
	}
	if len(d.order) == 0 {
		return fmt.Errorf("%s: no BENCH lines", path)
	}
	var berths []string // the registries compared against the baseline
	for _, r := range registries {
		if r != baseline {
			berths = append(berths, r)
		}
	}

	// Table 1: headline numbers and ratios.
	fmt.Fprintf(w, "| scenario | headline |")
	for _, r := range registries {
		fmt.Fprintf(w, " %s |", r)
	}
	for _, r := range berths {
		fmt.Fprintf(w, " %s / %s |", r, baseline)
	}
	if len(berths) == 2 {
		fmt.Fprintf(w, " %s / %s |", berths[1], berths[0])
	}
	fmt.Fprintf(w, " target |\n|---|---|%s\n", strings.Repeat("---:|", len(registries)+len(berths)+pairCols(berths))+"---|")
	for _, s := range d.order {
		rows := d.bench[s]
		primary, better := "", ""
		for _, kv := range rows {
			primary, better = kv["primary"], kv["better"]
			break
		}
		unit := primary
		if better == "lower" {
			unit += " (lower is better)"
		}
		fmt.Fprintf(w, "| %s | %s |", s, unit)
		for _, r := range registries {
			fmt.Fprintf(w, " %s |", cell(rows[r], primary))
		}
		var verdicts []string
		g, hasGoal := goals[s]
		for _, r := range berths {
			x, ok := ratio(rows[r], rows[baseline], primary, better)
			fmt.Fprintf(w, " %s |", fmtRatio(x, ok))
			if hasGoal && ok {
				met := x >= g.ratio
				if g.p99ms > 0 {
					p99, err := strconv.ParseFloat(rows[r]["p99_ms"], 64)
					met = met && err == nil && p99 < g.p99ms
				}
				verdicts = append(verdicts, r+" "+metText(met))
			}
		}
		if len(berths) == 2 {
			x, ok := ratio(rows[berths[1]], rows[berths[0]], primary, better)
			fmt.Fprintf(w, " %s |", fmtRatio(x, ok))
			if ok {
				verdicts = append(verdicts, "pg/sqlite "+metText(x >= pgGoal))
			}
		}
		fmt.Fprintf(w, " %s: %s |\n", g.text, strings.Join(verdicts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ratios are oriented so that > 1 means the first registry is better (more throughput, or less time for tags-catalog).")
	fmt.Fprintln(w)

	// Table 2: latencies, memory and errors side by side.
	fmt.Fprintf(w, "| scenario | p50 ms | p99 ms | peak RSS MB | errors |\n|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| (columns: %s) | | | | |\n", strings.Join(registries, " / "))
	for _, s := range d.order {
		rows := d.bench[s]
		p50k, p99k := "p50_ms", "p99_ms"
		if s == "tags-catalog" {
			p50k, p99k = "tags_page_p50_ms", "catalog_page_p50_ms"
		}
		name := s
		if s == "tags-catalog" {
			name += " (p50 per page: tags / catalog)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, across(rows, registries, p50k), across(rows, registries, p99k),
			across(rows, registries, "peak_rss_mb"), across(rows, registries, "errors"))
	}
	if len(d.idle) > 0 {
		var idle []string
		for _, r := range registries {
			idle = append(idle, dash(d.idle[r]))
		}
		fmt.Fprintf(w, "| idle RSS after start (MB) | | | %s | |\n", strings.Join(idle, " / "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Memory targets for Berth: idle RSS < 60 MB, peak RSS in small-push < 300 MB (Berth's process only; PostgreSQL's own memory is not counted).")
	return nil
}

func pairCols(berths []string) int {
	if len(berths) == 2 {
		return 1
	}
	return 0
}

func cell(kv map[string]string, k string) string {
	if kv == nil {
		return "-"
	}
	v := dash(kv[k])
	if kv["errors"] != "" && kv["errors"] != "0" {
		v += " (" + kv["errors"] + " errors)"
	}
	return v
}

func across(rows map[string]map[string]string, registries []string, k string) string {
	var out []string
	for _, r := range registries {
		if rows[r] == nil {
			out = append(out, "-")
			continue
		}
		out = append(out, dash(rows[r][k]))
	}
	return strings.Join(out, " / ")
}

// ratio is a's advantage over b on the headline metric: a/b for throughput, b/a for time.
// A side with errors has no valid number.
func ratio(a, b map[string]string, primary, better string) (float64, bool) {
	if a == nil || b == nil || a["errors"] != "0" || b["errors"] != "0" {
		return 0, false
	}
	x, err1 := strconv.ParseFloat(a[primary], 64)
	y, err2 := strconv.ParseFloat(b[primary], 64)
	if err1 != nil || err2 != nil || x <= 0 || y <= 0 {
		return 0, false
	}
	if better == "lower" {
		return y / x, true
	}
	return x / y, true
}

func fmtRatio(x float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

func metText(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
