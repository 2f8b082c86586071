package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The machine may be shared (other builds and tests). To show how much a
// run was disturbed, the harness compares the CPU time the whole machine
// spent busy during the run with the CPU time of the harness itself and of
// the server's process group (children reaped by the server included).

// clockTicks is USER_HZ, 100 on every Linux the harness runs on.
const clockTicks = 100

type cpuSnapshot struct {
	at      time.Time
	busy    float64 // seconds, whole machine, from /proc/stat
	self    float64 // seconds, the harness
	server  float64 // seconds, the server's process group
	present bool
}

func takeCPUSnapshot(pgid int) cpuSnapshot {
	s := cpuSnapshot{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	// user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already in user
			break
		}
		n, _ := strconv.ParseFloat(v, 64)
		s.busy += n / clockTicks
	}
	s.self = procCPU("self")
	if pgid > 0 {
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid := filepath.Base(d)
			if g, ok := procPgrp(pid); ok && g == pgid {
				s.server += procCPU(pid)
			}
		}
	}
	s.present = true
	return s
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func procPgrp(pid string) (int, bool) {
	f := statFields(pid)
	if len(f) < 3 {
		return 0, false
	}
	g, err := strconv.Atoi(f[2]) // field 5: pgrp
	return g, err == nil
}

// procCPU is utime+stime+cutime+cstime (fields 14-17) in seconds.
func procCPU(pid string) float64 {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	var t float64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseFloat(v, 64)
		t += n
	}
	return t / clockTicks
}

// foreignCPU is the share of the machine's CPU capacity (0..1) used between
// a and b by processes other than the harness and the server.
func foreignCPU(a, b cpuSnapshot, nproc int) float64 {
	if !a.present || !b.present || nproc < 1 {
		return -1
	}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return -1
	}
	other := (b.busy - a.busy) - (b.self - a.self) - (b.server - a.server)
	if other < 0 {
		other = 0
	}
	return other / (wall * float64(nproc))
}
