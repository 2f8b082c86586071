package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memSample is the memory of a server's processes at one time: the server's
// process group plus every descendant of its main process (Dovecot's
// per-connection imap processes included).
type memSample struct {
	at        time.Time
	pss       int64 // bytes, sum of Pss (shared pages split between their users)
	rss       int64 // bytes, sum of Rss (shared pages counted in every process)
	procs     int
	imapProcs int // processes named "imap" or "imapd" (Dovecot's and Cyrus's per-connection processes)
}

// serverPids returns pid's process group and the descendants of pid.
func serverPids(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	parent := map[int]int{}
	group := map[int]bool{}
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		f := statFields(filepath.Base(d))
		if len(f) < 3 {
			continue
		}
		pp, _ := strconv.Atoi(f[1]) // field 4: ppid
		pg, _ := strconv.Atoi(f[2]) // field 5: pgrp
		parent[p] = pp
		if pg == pid {
			group[p] = true
		}
	}
	// Descendants of pid, in case a helper started its own group.
	for p := range parent {
		for q, n := p, 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if q == pid {
				group[p] = true
				break
			}
		}
	}
	pids := make([]int, 0, len(group))
	for p := range group {
		pids = append(pids, p)
	}
	return pids
}

// serverMemory sums /proc/PID/smaps_rollup over the processes of the server
// whose main process is pid (it leads its own process group).
func serverMemory(pid int) (memSample, error) {
	s := memSample{at: time.Now()}
	if pid <= 0 {
		return s, fmt.Errorf("server not running")
	}
	for _, p := range serverPids(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue // exited meanwhile
		}
		pss, rss := parseSmapsRollup(b)
		s.pss += pss
		s.rss += rss
		s.procs++
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil && (strings.TrimSpace(string(comm)) == "imap" || strings.TrimSpace(string(comm)) == "imapd") {
			s.imapProcs++
		}
	}
	if s.procs == 0 {
		return s, fmt.Errorf("process %d not found", pid)
	}
	return s, nil
}

// serverTaskCPU is the CPU time in seconds, with nanosecond resolution
// (/proc/PID/task/TID/schedstat), of the live threads of the server's
// processes. Threads and processes that exited are not counted: it is for
// short steps during which the server keeps its threads and processes
// (/proc/PID/stat has a 10 ms resolution).
func serverTaskCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	var ns int64
	for _, p := range serverPids(pid) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/[0-9]*", p))
		for _, t := range tasks {
			b, err := os.ReadFile(t + "/schedstat")
			if err != nil {
				continue
			}
			ns += parseSchedstat(b)
		}
	}
	return float64(ns) / 1e9
}

// parseSchedstat returns the first field of a schedstat file: the time
// spent on a CPU, in nanoseconds.
func parseSchedstat(b []byte) int64 {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n
}

// parseSmapsRollup returns the Pss and Rss lines of /proc/PID/smaps_rollup
// in bytes.
func parseSmapsRollup(b []byte) (pss, rss int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		mult := int64(1)
		if len(f) >= 3 && strings.EqualFold(f[2], "kB") {
			mult = 1024
		}
		switch f[0] {
		case "Pss:":
			pss = n * mult
		case "Rss:":
			rss = n * mult
		}
	}
	return pss, rss
}

// raiseNoFile raises the soft RLIMIT_NOFILE to at least need (raising the
// hard limit too when allowed), so that the harness can hold the idle
// connections. Servers started afterwards inherit it. It returns the soft
// limit in force.
func raiseNoFile(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= need {
		// Still set it, so that children inherit this value rather than
		// the one Go restores for them.
		return lim.Cur, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	want := lim
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed to raise the hard limit: take what there is.
		want = lim
		want.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return lim.Cur, err
		}
		return want.Cur, fmt.Errorf("RLIMIT_NOFILE hard limit is %d, below the %d needed", lim.Max, need)
	}
	return want.Cur, nil
}

// goMetrics reads a few Go runtime figures from a Prometheus /metrics page
// (Petrel's HTTP listener); missing names are left out.
func goMetrics(url string) map[string]float64 {
	out := map[string]float64{}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		name, val, ok := parseMetricLine(sc.Text())
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes", "go_memstats_heap_sys_bytes", "go_memstats_heap_idle_bytes",
			"go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines", "go_memstats_sys_bytes":
			out[name] = val
		}
	}
	return out
}

// parseMetricLine parses an unlabelled Prometheus sample "name value".
func parseMetricLine(line string) (string, float64, bool) {
	if strings.HasPrefix(line, "#") {
		return "", 0, false
	}
	f := strings.Fields(line)
	if len(f) != 2 || strings.ContainsAny(f[0], "{}") {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return "", 0, false
	}
	return f[0], v, true
}
