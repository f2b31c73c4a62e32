package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. Linux fixes it
// at 100 for user space on every architecture Go supports.
const clockTicks = 100

// configureProcess puts the hub in its own process group, so a Ctrl-C at
// the terminal reaches only the bench (which then reports and stops the hub
// itself), and has the kernel stop the hub if the bench dies first.
func configureProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// processTreeUsage sums CPU time (utime+stime, plus reaped children's
// cutime+cstime) and peak and current RSS (VmHWM, VmRSS) over pid and its descendants: the hub
// and the connector plugins it runs.
func processTreeUsage(pid int) (Usage, error) {
	root, err := readStat(pid)
	if err != nil {
		return Usage{}, err
	}
	pids := append([]int{pid}, descendants(pid)...)
	var u Usage
	for i, p := range pids {
		st := root
		if i > 0 {
			if st, err = readStat(p); err != nil {
				continue // exited between the scan and now
			}
		}
		u.CPUSeconds += float64(st.ticks) / clockTicks
		peak, cur := rss(p)
		u.RSSBytes += peak
		u.CurrentRSSBytes += cur
	}
	return u, nil
}

type procStat struct {
	ppid  int
	ticks int64 // utime + stime + cutime + cstime
}

func readStat(pid int) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, fmt.Errorf("reading /proc/%d/stat: %w", pid, err)
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// the fields start after the last ')'. Field 3 (state) is f[0].
	f := bytes.Fields(raw[bytes.LastIndexByte(raw, ')')+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat has %d fields", pid, len(f))
	}
	var st procStat
	st.ppid, _ = strconv.Atoi(string(f[1]))
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseInt(string(f[i]), 10, 64)
		st.ticks += n
	}
	return st, nil
}

// descendants lists pid's children, grandchildren, … by scanning /proc
// (/proc/<pid>/task/*/children needs CONFIG_PROC_CHILDREN, often missing).
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == pid {
			continue
		}
		if st, err := readStat(p); err == nil {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

// rss returns VmHWM (peak) and VmRSS (now) from /proc/<pid>/status in
// bytes, 0 where unreadable.
func rss(pid int) (peak, now int64) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	return statusKB(raw, "VmHWM"), statusKB(raw, "VmRSS")
}

// statusKB reads a "Name:   12345 kB" line of /proc/<pid>/status in bytes.
func statusKB(status []byte, name string) int64 {
	_, rest, ok := bytes.Cut(status, []byte("\n"+name+":"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return kb << 10
}

// selfCPU is the CPU time this process (the senders and the receiver) has
// used, so a report shows when the load generator competes with the hub.
func selfCPU() (float64, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), true
}
