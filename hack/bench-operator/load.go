package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuSample is the machine's CPU time and the CPU time of this benchmark's own processes (this
// program and its children: kube-apiserver, etcd, the manager), in clock ticks.
type cpuSample struct{ busy, total, own int64 }

// sampleCPU reads /proc/stat and /proc/<pid>/stat, as hack/bench-proxy.sh does, so that a run
// can say how much of the machine other work used while it measured.
func sampleCPU() cpuSample {
	var s cpuSample
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line := strings.SplitN(string(data), "\n", 2)[0]
		f := strings.Fields(line)
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			s.total += v
			if i != 4 && i != 5 { // idle and iowait
				s.busy += v
			}
		}
	}
	self := os.Getpid()
	for _, pid := range append(childPIDs(self), self) {
		s.own += processTicks(pid)
	}
	return s
}

// otherLoad is the share of the machine's CPU (0-100 %) that processes outside the benchmark
// used between a and b.
func otherLoad(a, b cpuSample) float64 {
	total := b.total - a.total
	if total <= 0 {
		return 0
	}
	other := (b.busy - a.busy) - (b.own - a.own)
	if other < 0 {
		other = 0
	}
	return 100 * float64(other) / float64(total)
}

// childPIDs are the direct children of pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(child); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// statFields are the fields of /proc/<pid>/stat after the command name: state is f[0],
// ppid f[1], utime f[11], stime f[12].
func statFields(pid int) []string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Fields(s)
}

func processTicks(pid int) int64 {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}
